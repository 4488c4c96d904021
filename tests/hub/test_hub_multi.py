"""Several jitsu-hub processes on one database (docs/hub.md, "Several
hubs"): on PostgreSQL they share the work, and a decision taken on one
reaches long-polls waiting on another (LISTEN/NOTIFY) within a second;
hubs starting together migrate once. A SQLite file refuses a second hub."""
import os
import subprocess
import time

import pytest

from conftest import Hub, pgcluster, start_waiter


def psql(db, sql):
    out = subprocess.run([os.path.join(pgcluster.PGBIN, "psql"), "-X", "-A", "-t", "-q",
                          "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                         check=True, capture_output=True, text=True, timeout=30)
    return out.stdout.split()


@pytest.fixture
def two_hubs(pg_cluster, workdir):
    """Hubs A and B, both serving one fresh PostgreSQL database."""
    a = Hub(workdir, pg_cluster.create_db())
    b = Hub.copy_of(a, workdir, "hub-b")
    try:
        yield a.start(), b.start()
    finally:
        for h in (a, b):
            h.stop()


def decided_within(waiter, t0, state, limit=1.0):
    waiter.join(5)
    assert not waiter.is_alive(), "the long-poll on the other hub was not woken"
    assert waiter.reply.status == 200 and waiter.reply.json["state"] == state, waiter.reply
    assert waiter.done_at - t0 < limit, waiter.done_at - t0


def test_decision_on_one_hub_wakes_long_poll_on_another(two_hubs):
    a, b = two_hubs
    bob = a.user("bob", "approver")
    eid, ep = a.enroll()  # enrolled through A, used through B
    req = b.submit(ep)
    w = start_waiter(b, ep, req["id"])
    r = a.call("POST", "/api/v1/requests/%s/approve" % req["id"], {"note": "ok"}, auth=bob)
    t0 = time.monotonic()
    assert r.status == 200 and r.json["state"] == "approved", r
    decided_within(w, t0, "approved")
    assert w.reply.json["decisions"][0]["approver"] == "bob"

    # the other way round, with a cancel and a deny
    req = a.submit(ep)
    w = start_waiter(a, ep, req["id"])
    r = b.call("POST", "/api/v1/endpoint/requests/%s/cancel" % req["id"], auth=ep)
    t0 = time.monotonic()
    assert r.json["state"] == "cancelled"
    decided_within(w, t0, "cancelled")
    req = a.submit(ep)
    w = start_waiter(a, ep, req["id"])
    r = b.call("POST", "/api/v1/requests/%s/deny" % req["id"], {"reason": "no"}, auth=bob)
    t0 = time.monotonic()
    decided_within(w, t0, "denied")

    # revoking the endpoint on A refuses its long-poll waiting on B at once
    req = a.submit(ep)
    w = start_waiter(b, ep, req["id"])
    r = a.call("POST", "/api/v1/endpoints/%s/revoke" % eid, auth=a.admin())
    t0 = time.monotonic()
    assert r.status == 200
    w.join(5)
    assert (w.reply.status, w.reply.code) == (401, "endpoint_revoked")
    assert w.done_at - t0 < 1.0


def test_restart_keeps_pending_and_listens_again(two_hubs):
    a, b = two_hubs
    bob = a.user("bob", "approver")
    _, ep = a.enroll()
    req = a.submit(ep)
    b.restart()
    r = b.call("GET", "/api/v1/endpoint/requests/" + req["id"], auth=ep)
    assert r.status == 200 and r.json == req
    w = start_waiter(b, ep, req["id"])
    r = a.call("POST", "/api/v1/requests/%s/approve" % req["id"], {}, auth=bob)
    t0 = time.monotonic()
    decided_within(w, t0, "approved")

    # B's listening connection is cut: B reconnects, and hears A again
    req = a.submit(ep)
    w = start_waiter(b, ep, req["id"])
    killed = psql(a.db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE query LIKE 'LISTEN%'")
    assert killed == ["t", "t"]  # A's listener and B's
    assert b.proc.poll() is None
    deadline = time.monotonic() + 10
    while "notify: listening again" not in b.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "notify: listening again" in b.log_text()
    assert w.is_alive()  # woken to re-read, and waiting again
    r = a.call("POST", "/api/v1/requests/%s/approve" % req["id"], {}, auth=bob)
    t0 = time.monotonic()
    decided_within(w, t0, "approved")


def test_hubs_starting_together_migrate_once(pg_cluster, workdir):
    seed = Hub(workdir, pg_cluster.create_db())  # a directory to copy
    fresh = pg_cluster.create_db()
    hubs = [Hub.copy_of(seed, workdir, "hub-%d" % i) for i in range(4)]
    try:
        for h in hubs:
            h.launch("--db", fresh)
        for h in hubs:
            h.wait_listening()
            assert h.call("GET", "/api/v1/health").status == 200
    finally:
        for h in hubs:
            h.stop()
    assert psql(fresh, "SELECT version FROM schema_version ORDER BY version") == ["1", "2", "3", "4", "5", "6"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_second_hub_on_one_sqlite_file_is_refused(hub, workdir):
    other = Hub.copy_of(hub, workdir, "hub-b")
    with pytest.raises(RuntimeError, match="in use by another jitsu-hub"):
        other.start()
    hub.stop()
    other.start()  # once the first is gone, the file is free
    assert other.call("GET", "/api/v1/health").status == 200
    other.stop()
