"""Audit shipping at jitsu-hub (docs/hub-api.md, "Audit shipping"): the
endpoint route, the chain checks and their alerts, GET /api/v1/alerts,
/audit/lag and /audit/search, and silent endpoints. Every test taking
`hub` or `hub_factory` runs on SQLite and on PostgreSQL. Audit lines are
built here from the specification (docs/audit-format.md), not by jitsu's
own code."""
import hashlib
import json
import time

from conftest import Hub  # noqa: F401 (the fixtures come from conftest)
from test_hub_webhooks import receivers  # noqa: F401 (a fixture)

ZERO = "0" * 64


class Trail:
    """An endpoint's audit trail, built per docs/audit-format.md."""

    def __init__(self, host="db1.example.org"):
        self.host = host
        self.prev = ZERO
        self.seq = 0
        self.lines = []

    def add(self, event, t=1795000000, **members):
        self.seq += 1
        rec = dict(members, v=1, seq=self.seq, event=event, host=self.host, machine_id="",
                   time=time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(t)),
                   prev=self.prev)
        canon = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        digest = hashlib.sha256(bytes.fromhex(self.prev) + canon.encode()).hexdigest()
        self.prev = digest
        line = canon[:-1] + ',"hash":"%s"}' % digest
        self.lines.append(line)
        return line


def ship(hub, auth, after, lines):
    return hub.call("POST", "/api/v1/endpoint/audit", {"after": after, "records": lines},
                    auth=auth)


def alerts(hub, query=""):
    r = hub.call("GET", "/api/v1/alerts" + query, auth=hub.admin())
    assert r.status == 200, r
    return r.json["alerts"]


def test_ship_is_idempotent_and_searchable(hub):
    eid, ep = hub.enroll()
    tr = Trail()
    for i in range(6):
        tr.add("request", t=1795000000 + i, user="alice" if i % 2 else "bob", argv=["id"])
    r = ship(hub, ep, 0, tr.lines[:4])
    assert r.status == 200 and r.json == {"acked_seq": 4}
    # The acknowledgement was lost: the endpoint sends again, overlapping.
    r = ship(hub, ep, 2, tr.lines[2:])
    assert r.status == 200 and r.json == {"acked_seq": 6}
    assert alerts(hub) == []
    r = hub.call("GET", "/api/v1/audit/search?limit=500", auth=hub.admin())
    assert [x["seq"] for x in r.json["records"]] == [1, 2, 3, 4, 5, 6]
    assert r.json["records"][0]["record"] == tr.lines[0]
    r = hub.call("GET", "/api/v1/audit/search?user=alice&since=1795000002&until=1795000004",
                 auth=hub.admin())
    assert [(x["seq"], x["user"], x["host"], x["flag"], x["endpoint_id"])
            for x in r.json["records"]] == [(4, "alice", "db1.example.org", None, eid)]
    r = hub.call("GET", "/api/v1/audit/search?event=request&limit=2", auth=hub.admin())
    assert [x["seq"] for x in r.json["records"]] == [5, 6]  # the newest two, oldest first
    r = hub.call("GET", "/api/v1/audit/search?host=db2.example.org", auth=hub.admin())
    assert r.json["records"] == []
    # lag: the head, and what the heartbeat says is there
    r = hub.call("POST", "/api/v1/endpoint/heartbeat", {"audit_seq": 9}, auth=ep)
    assert r.status == 200
    r = hub.call("GET", "/api/v1/audit/lag", auth=hub.admin())
    (e,) = r.json["endpoints"]
    assert (e["endpoint_id"], e["shipped_seq"], e["known_seq"], e["lag"]) == (eid, 6, 9, 3)


def test_chain_alerts(hub_factory, receivers):
    rx = receivers()
    hub = hub_factory("--webhook", rx.url())
    eid, ep = hub.enroll()
    tr = Trail()
    for _ in range(4):
        tr.add("exit", user="alice", status=0)
    bad = tr.lines[2].replace('"status":0', '"status":1')
    assert ship(hub, ep, 0, tr.lines[:2] + [bad, tr.lines[3]]).json == {"acked_seq": 4}
    (a,) = alerts(hub)
    assert (a["kind"], a["endpoint_id"], a["seq"], a["hostname"]) == (
        "audit_hash", eid, 3, "db1.example.org")
    # A gap: seq 6 after 4.
    tr.add("exit", user="alice")
    gap = tr.add("breakglass", user="alice")
    assert ship(hub, ep, 4, [gap]).json == {"acked_seq": 6}
    kinds = sorted(a["kind"] for a in alerts(hub))
    assert kinds == ["audit_gap", "audit_hash", "breakglass_used"]
    assert [a["seq"] for a in alerts(hub, "?kind=audit_gap")] == [6]
    # Seq 2 again with other bytes: a fork.
    fork = tr.lines[1].replace('"user":"alice"', '"user":"mallo"')
    assert ship(hub, ep, 1, [fork]).status == 200
    assert [a["seq"] for a in alerts(hub, "?kind=audit_fork")] == [2]
    # Unreadable: stored at the place after the line before it.
    assert ship(hub, ep, 8, ["not json"]).json == {"acked_seq": 9}
    assert [a["seq"] for a in alerts(hub, "?kind=audit_tamper")] == [9]
    assert alerts(hub, "?limit=2") == alerts(hub)[:2]
    assert alerts(hub, "?since=4102444800") == []
    # Each alert went to the webhook as event "alert".
    posts = rx.wait_posts(5)
    bodies = [json.loads(p[3]) for p in posts]
    assert sorted(b["alert"]["kind"] for b in bodies) == sorted(a["kind"] for a in alerts(hub))
    assert all(b["event"] == "alert" and b["alert"]["endpoint_id"] == eid for b in bodies)
    assert "audit_hash" in hub.log_text(20000)


def test_heartbeat_behind_the_head_is_a_rewind(hub):
    # The hub holds seqs 1..5; the endpoint then says its trail ends at 2
    # while its cursor says 5 was shipped: records the hub has are gone
    # locally (wiped, the shipper's place left as it was). One alert, not
    # one per beat.
    eid, ep = hub.enroll()
    tr = Trail()
    for _ in range(5):
        tr.add("exit", user="alice", status=0)
    assert ship(hub, ep, 0, tr.lines).json == {"acked_seq": 5}

    def beat(seq, shipped=5):
        assert hub.call("POST", "/api/v1/endpoint/heartbeat",
                        {"audit_seq": seq, "shipped_seq": shipped}, auth=ep).status == 200

    beat(5)
    beat(7)
    # Behind the head but at its own cursor: a late beat from a shipper
    # that has since been replaced. Not a rewind.
    beat(1, shipped=1)
    beat(5)
    assert alerts(hub) == []
    beat(2)
    beat(2)
    (a,) = alerts(hub)
    assert (a["kind"], a["endpoint_id"], a["seq"]) == ("audit_rewind", eid, 3)
    assert "ends at seq 2" in a["detail"] and "up to seq 5" in a["detail"]
    assert "audit_rewind" in hub.log_text(20000)
    # Caught up again, then rewound again: a second alert.
    beat(6)
    beat(1)
    assert [x["kind"] for x in alerts(hub)] == ["audit_rewind", "audit_rewind"]


def test_audit_route_bounds_and_roles(hub):
    eid, ep = hub.enroll()
    tr = Trail()
    line = tr.add("request", user="alice", argv=["x" * 100000])  # over 64 KiB alone
    r = ship(hub, ep, 0, [line])
    assert r.status == 200 and r.json == {"acked_seq": 1}
    r = hub.call("POST", "/api/v1/endpoint/heartbeat", {"kernel": "x" * 70000}, auth=ep)
    assert r.status == 413  # other routes keep 64 KiB
    for body in ({"after": 0, "records": []}, {"after": 0, "records": [1]},
                 {"after": -1, "records": ["x"]}, {"records": ["x"]},
                 {"after": 0, "records": ["x"] * 501}, {"after": 0, "records": [""]},
                 {"after": 0, "records": ["x"], "extra": 1}):
        r = hub.call("POST", "/api/v1/endpoint/audit", body, auth=ep)
        assert r.status == 400 and r.code == "schema_violation", (body, r)
    # Only a live endpoint may send more than 64 KiB: the hub does not hold
    # a megabyte for anyone else before it checks the credential.
    assert ship(hub, hub.admin(), 0, [line]).status == 413
    assert ship(hub, "Endpoint %s:%s" % (eid, "0" * 64), 0, [line]).status == 413
    assert ship(hub, None, 0, [line]).status == 413
    assert ship(hub, hub.admin(), 0, ["x"]).status == 403
    auditor = hub.user("audra", "auditor")
    approver = hub.user("bob", "approver")
    for path in ("/api/v1/alerts", "/api/v1/audit/lag", "/api/v1/audit/search"):
        assert hub.call("GET", path, auth=auditor).status == 200
        assert hub.call("GET", path, auth=approver).status == 403
        assert hub.call("GET", path, auth=ep).status == 403
        assert hub.call("GET", path).status == 401
    for q in ("/api/v1/alerts?kind=Bad-Kind", "/api/v1/alerts?limit=0",
              "/api/v1/audit/search?user=a%20b", "/api/v1/audit/search?since=-1",
              "/api/v1/audit/search?endpoint=abc", "/api/v1/audit/search?limit=501"):
        r = hub.call("GET", q, auth=hub.admin())
        assert r.status == 400 and r.code == "schema_violation", (q, r)


def test_silent_endpoints(hub_factory):
    hub = hub_factory(start=False)
    hub.add_conf("silent_after = 1\n")
    hub.start()
    eid, ep = hub.enroll()
    gone, gone_auth = hub.enroll(hostname="db2.example.org")
    r = hub.call("POST", "/api/v1/endpoints/%s/revoke" % gone, auth=hub.admin())
    assert r.status == 200
    deadline = time.monotonic() + 20
    while not alerts(hub, "?kind=endpoint_silent"):
        assert time.monotonic() < deadline, hub.log_text()
        time.sleep(0.1)
    (a,) = alerts(hub, "?kind=endpoint_silent")
    assert (a["endpoint_id"], a["hostname"], a["seq"]) == (eid, "db1.example.org", None)
    # Seen again: the next silence raises a second alert.
    assert hub.call("POST", "/api/v1/endpoint/heartbeat", {}, auth=ep).status == 200
    deadline = time.monotonic() + 20
    while len(alerts(hub, "?kind=endpoint_silent")) < 2:
        assert time.monotonic() < deadline, hub.log_text()
        time.sleep(0.1)
    assert {a["endpoint_id"] for a in alerts(hub)} == {eid}  # never the revoked one
