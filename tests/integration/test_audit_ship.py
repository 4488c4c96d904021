"""Audit shipping end to end: a real jitsud enrolled in a real jitsu-hub
(SQLite, and again on PostgreSQL), real users elevating, the hub stopped,
restarted, and jitsud killed in the middle of shipping.

What the hub holds is counted in its database directly (one row per seq,
no flags, the very bytes of the local trail); what people see goes through `jitsuctl alerts`, `audit lag`
and `audit search`. Synchronisation: the hub's "listening:" line, jitsud's
READY=1, and deadline polls of `jitsuctl audit lag` and `jitsuctl alerts`.
"""
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time

import pytest

from conftest import JITSUCTL, jitsu, run_as, uname
from hubflow_hub import audit_records, enroll, pgcluster
from hubflow_hub import ctl, hub, pg_cluster  # noqa: F401 (fixtures)
from test_badinput import wait_no_sessions

POLICY = """
permit {alice} cmd /usr/bin/true
permit {alice} cmd /usr/bin/id
"""
HOST = socket.gethostname()
HEARTBEAT = ("--hub-heartbeat", "1")
SHIP_TIMEOUT = 180
PSQL = os.path.join(pgcluster.PGBIN, "psql")


class Ship:
    """An enrolled jitsud that heartbeats every second."""

    def __init__(self, hub, ctl, daemon, users, out):
        self.hub, self.ctl, self.daemon, self.users = hub, ctl, daemon, users
        self.eid = re.search(r"enrolled: endpoint ([0-9a-f]{16})", out).group(1)

    def local_last_seq(self):
        """The seq of the last line of audit.log (read raw: a tampered line
        elsewhere does not matter here)."""
        with open(os.path.join(self.daemon.state, "audit", "audit.log"), "rb") as f:
            lines = f.read().splitlines()
        return json.loads(lines[-1])["seq"]

    def lag(self):
        (e,) = [e for e in self.ctl.json("audit", "lag")["endpoints"] if e["endpoint_id"] == self.eid]
        return e

    def wait_shipped(self, timeout=SHIP_TIMEOUT):
        """Until the hub's head is the local trail's last record, once every
        session has ended (a session writes its exit record after the
        client saw the exit status)."""
        wait_no_sessions(self.daemon)
        deadline = time.monotonic() + timeout
        while True:
            want = self.local_last_seq()
            e = self.lag()
            if e["shipped_seq"] == want:
                return e
            assert time.monotonic() < deadline, (
                "not shipped: hub at %s, local at %s\n%s" % (e, want, self.daemon.read_log()[-3000:]))
            time.sleep(0.1)

    def elevate(self, n):
        """n elevations of `jitsu true` as alice, in one quick shell loop."""
        script = 'i=0; while [ $i -lt %d ]; do "$0" true || exit 1; i=$((i+1)); done' % n
        r = run_as(self.users["alice"], ["/bin/sh", "-c", script, jitsu_path()],
                   daemon=self.daemon, timeout=600)
        assert r.returncode == 0, r.stderr

    def alerts(self, kind=None):
        args = ["alerts"] + (["--kind", kind] if kind else [])
        return self.ctl.json(*args)["alerts"]


def jitsu_path():
    from conftest import JITSU
    return JITSU


@pytest.fixture
def ship(hub, ctl, users, daemon_factory):
    d = daemon_factory(POLICY, start=False)
    r = enroll(hub, d.state, ctl.enrollment_token())
    assert r.returncode == 0, r.stderr
    d.start(HEARTBEAT)
    return Ship(hub, ctl, d, users, r.stdout)


def hub_rows(hub, eid):
    """(seq, event, flag) of every row the hub stored for eid."""
    sql = ("SELECT seq, event, COALESCE(flag, '') FROM audit_records"
           " WHERE endpoint_id = '%s' ORDER BY seq" % eid)
    if hub.db is None:
        con = sqlite3.connect(os.path.join(hub.dir, "hub.db"))
        try:
            return [tuple(r) for r in con.execute(sql)]
        finally:
            con.close()
    out = subprocess.run([PSQL, "-X", "-At", "-F", "|", "-d", hub.db, "-c", sql], check=True,
                         capture_output=True, text=True).stdout
    return [(int(s), e, f) for s, e, f in (line.split("|") for line in out.splitlines())]


def hub_raw_lines(hub, eid):
    """The raw lines the hub stored for eid, in seq order, as bytes."""
    sql = "SELECT raw FROM audit_records WHERE endpoint_id = '%s' ORDER BY seq" % eid
    if hub.db is None:
        con = sqlite3.connect(os.path.join(hub.dir, "hub.db"))
        try:
            return [r[0].encode() for r in con.execute(sql)]
        finally:
            con.close()
    # A record is one line of printable ASCII, so one per output line.
    return subprocess.run([PSQL, "-X", "-At", "-d", hub.db, "-c", sql], check=True,
                          capture_output=True).stdout.splitlines()


def check_exactly_once(s, upto):
    rows = hub_rows(s.hub, s.eid)
    seqs = [r[0] for r in rows]
    assert seqs == list(range(1, upto + 1)), "missing or repeated seqs at the hub"
    assert [r for r in rows if r[2]] == [], "flagged rows"
    return rows


def shipper_pid(daemon):
    """The shipper: jitsud's child named jitsud-ship."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if comm == "jitsud-ship" and ppid == daemon.proc.pid:
            return int(pid)
    return None


# ---- store and forward ----

def test_500_elevations_while_the_hub_is_down(ship):
    # Small files, so that the backlog spans rotated files.
    ship.daemon.stop()
    ship.daemon.start(HEARTBEAT + ("--audit-rotate", "64k"))
    ship.wait_shipped()
    assert ship.hub.stop() == 0
    ship.elevate(500)
    wait_no_sessions(ship.daemon)  # the last exit record is written
    last = ship.local_last_seq()
    rotated = [f for f in os.listdir(os.path.join(ship.daemon.state, "audit"))
               if re.fullmatch(r"audit-\d{20}\.log", f)]
    assert len(rotated) >= 5, rotated
    ship.hub.start()
    ship.wait_shipped()
    rows = check_exactly_once(ship, last)
    for event in ("request", "decision", "start", "exit"):
        assert sum(1 for r in rows if r[1] == event) == 500, event
    assert sum(1 for r in rows if r[1] == "rotate") == len(rotated)
    assert ship.alerts() == []
    e = ship.lag()
    assert e["known_seq"] is not None and e["known_seq"] <= last
    # The chain verifies locally too, and the hub's copy is the same bytes.
    r = subprocess.run([JITSUCTL, "-d", ship.daemon.state, "audit", "verify"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("OK %d records, " % last), r.stdout
    local = local_lines(ship.daemon)
    assert len(local) == last
    assert hub_raw_lines(ship.hub, ship.eid) == local


def rotated_files(daemon):
    return sorted(f for f in os.listdir(os.path.join(daemon.state, "audit"))
                  if re.fullmatch(r"audit-\d{20}\.log", f))


def test_retention_waits_for_the_hub(ship):
    # --audit-keep 1 would delete all but one rotated file; while the hub
    # is down none of them has been shipped, so all of them stay.
    ship.daemon.stop()
    ship.daemon.start(HEARTBEAT + ("--audit-rotate", "64k", "--audit-keep", "1"))
    ship.wait_shipped()
    assert ship.hub.stop() == 0
    ship.elevate(300)
    held = rotated_files(ship.daemon)
    assert len(held) >= 3, held
    ship.hub.start()
    ship.wait_shipped()
    check_exactly_once(ship, ship.local_last_seq())
    assert ship.alerts() == []
    # Shipped: the next rotation prunes back to what retention keeps.
    while rotated_files(ship.daemon)[-1] == held[-1]:
        ship.elevate(20)
    ship.wait_shipped()
    assert len(rotated_files(ship.daemon)) <= 2, rotated_files(ship.daemon)
    check_exactly_once(ship, ship.local_last_seq())


CURSOR = "audit-ship.cursor"  # jitsud/ship.h: SHIP_CURSOR_FILE
BATCH = 200  # jitsud/ship.h: SHIP_BATCH_RECORDS (at most; SHIP_BATCH_BYTES cuts sooner)


def read_cursor(daemon):
    with open(os.path.join(daemon.state, CURSOR)) as f:
        return f.read()


def write_cursor(daemon, seq, hash_):
    """The cursor as jitsud/ship.c cursor_save writes it: root's, 0600,
    replaced by a rename."""
    path = os.path.join(daemon.state, CURSOR)
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("jitsu-audit-ship-v1 %d %s\n" % (seq, hash_))
    os.rename(path + ".tmp", path)


def local_lines(daemon):
    """Every raw line of the local trail in order: the rotated files by
    name (their first seq, zero-padded), then audit.log."""
    adir = os.path.join(daemon.state, "audit")
    lines = []
    for name in rotated_files(daemon) + ["audit.log"]:
        with open(os.path.join(adir, name), "rb") as f:
            lines += f.read().splitlines()
    return lines


def kill_9(daemon, shipper):
    os.kill(daemon.proc.pid, signal.SIGKILL)
    os.kill(shipper, signal.SIGKILL)
    daemon.proc.wait()


def test_kill_9_during_shipping(ship):
    ship.wait_shipped()
    assert ship.hub.stop() == 0
    ship.elevate(600)  # 2400 records: a backlog of at least 12 batches
    shipper = shipper_pid(ship.daemon)
    assert shipper, "no shipper process"
    before = read_cursor(ship.daemon)  # settled: nothing moves it while the hub is down
    ship.hub.start()
    # The cursor moves once the hub acknowledged a batch: kill right then.
    deadline = time.monotonic() + SHIP_TIMEOUT
    while read_cursor(ship.daemon) == before:
        assert time.monotonic() < deadline, ship.daemon.read_log()[-2000:]
        time.sleep(0.002)
    kill_9(ship.daemon, shipper)
    shipped = ship.lag()["shipped_seq"]
    assert int(before.split()[1]) < shipped, "no batch of the backlog reached the hub"
    assert shipped < ship.local_last_seq(), "the kill came after the backlog drained"
    ship.daemon.stop()
    ship.daemon.start(HEARTBEAT)
    ship.elevate(5)
    ship.wait_shipped()
    check_exactly_once(ship, ship.local_last_seq())
    assert ship.alerts() == []


def test_kill_9_after_the_hub_stored_before_the_cursor_moved(ship):
    # The hub stored batches whose acknowledgement never reached the
    # cursor: the restarted shipper sends them again, and the hub takes
    # each repeat silently.
    ship.elevate(100)
    ship.wait_shipped()
    shipped = ship.local_last_seq()
    shipper = shipper_pid(ship.daemon)
    assert shipper, "no shipper process"
    kill_9(ship.daemon, shipper)
    ship.daemon.stop()
    back = shipped - BATCH - BATCH // 2  # more than a batch back, from inside one
    (line,) = [l for l in local_lines(ship.daemon) if json.loads(l)["seq"] == back]
    write_cursor(ship.daemon, back, json.loads(line)["hash"])
    ship.daemon.start(HEARTBEAT)
    ship.elevate(5)
    ship.wait_shipped()
    last = ship.local_last_seq()
    check_exactly_once(ship, last)
    assert ship.alerts() == []
    log = ship.daemon.read_log()  # the cursor was taken as written
    assert "is not the one shipped" not in log and "is unusable" not in log
    (line,) = [l for l in local_lines(ship.daemon) if json.loads(l)["seq"] == last]
    want = "jitsu-audit-ship-v1 %d %s\n" % (last, json.loads(line)["hash"])
    deadline = time.monotonic() + SHIP_TIMEOUT  # the cursor is saved after the hub's answer
    while read_cursor(ship.daemon) != want:
        assert time.monotonic() < deadline, read_cursor(ship.daemon)
        time.sleep(0.05)


def test_shipper_restarted_and_stopped(ship):
    ship.wait_shipped()
    first = shipper_pid(ship.daemon)
    assert first
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while shipper_pid(ship.daemon) in (None, first):
        assert time.monotonic() < deadline, ship.daemon.read_log()[-2000:]
        time.sleep(0.05)
    ship.elevate(2)
    ship.wait_shipped()  # the new one ships
    assert "the shipper ended; restarting" in ship.daemon.read_log()
    second = shipper_pid(ship.daemon)
    ship.daemon.stop()
    assert ship.daemon.proc.returncode == 0
    assert not os.path.exists("/proc/%d" % second), "the shipper outlived jitsud"


def test_tampered_record_raises_an_alert(ship):
    ship.wait_shipped()
    assert ship.hub.stop() == 0
    ship.elevate(3)
    recs = audit_records(ship.daemon.state)
    target = [r for r in recs if r["event"] == "exit"][-2]  # more records follow it
    path = os.path.join(ship.daemon.state, "audit", "audit.log")
    with open(path, "rb") as f:
        data = f.read()
    key = b'"seq":%d,' % target["seq"]
    at = data.index(key)
    start = data.rindex(b"\n", 0, at) + 1
    end = data.index(b"\n", at)
    line = data[start:end]
    bad = line.replace(b'"status":0', b'"status":1', 1)
    assert bad != line and len(bad) == len(line)
    with open(path, "r+b") as f:  # as root, in place
        f.seek(start)
        f.write(bad)
    ship.hub.start()
    deadline = time.monotonic() + SHIP_TIMEOUT
    while not ship.alerts("audit_hash"):
        assert time.monotonic() < deadline, ship.daemon.read_log()[-2000:]
        time.sleep(0.1)
    ship.elevate(1)
    ship.wait_shipped()  # one bad record does not stop shipping
    (a,) = ship.alerts()
    assert (a["kind"], a["endpoint_id"], a["seq"], a["hostname"]) == (
        "audit_hash", ship.eid, target["seq"], HOST)
    rows = hub_rows(ship.hub, ship.eid)
    assert [r[0] for r in rows if r[2]] == [target["seq"]]
    assert [r[0] for r in rows] == list(range(1, ship.local_last_seq() + 1))
    table = ship.ctl.ok("alerts").stdout.splitlines()
    assert table[0].split() == ["TIME", "KIND", "HOST", "SEQ", "DETAIL"]
    assert "audit_hash" in table[1] and HOST in table[1] and str(target["seq"]) in table[1]
    # The hub's log says it too.
    assert re.search(r"alert [0-9a-f]{16}: audit_hash endpoint %s .* seq %d" % (
        ship.eid, target["seq"]), ship.hub.log_text())


def test_wiped_trail_raises_a_rewind_alert(ship):
    # Whoever owns the machine deletes the local trail but leaves the
    # shipper's place: the new trail's first records are below it and are
    # never sent, but the heartbeat says where the trail ends.
    ship.elevate(5)
    e = ship.wait_shipped()
    held = e["shipped_seq"]
    assert held > 10
    ship.daemon.stop()
    audit = os.path.join(ship.daemon.state, "audit")
    for name in os.listdir(audit):
        if name.endswith(".log"):
            os.unlink(os.path.join(audit, name))
    ship.daemon.start(HEARTBEAT)
    deadline = time.monotonic() + SHIP_TIMEOUT
    while not ship.alerts("audit_rewind"):
        assert time.monotonic() < deadline, ship.daemon.read_log()[-2000:]
        time.sleep(0.1)
    alerts = ship.alerts()
    (a,) = [x for x in alerts if x["kind"] == "audit_rewind"]
    assert (a["endpoint_id"], a["hostname"]) == (ship.eid, HOST)
    assert "up to seq %d" % held in a["detail"], a
    # If jitsud stopped after the hub stored the last batch but before the
    # cursor moved, the new trail's first records past the cursor go out
    # and collide with what the hub holds: forks, rightly.
    assert {x["kind"] for x in alerts} <= {"audit_rewind", "audit_fork"}, alerts
    assert ship.local_last_seq() < held


# ---- silent endpoints ----

def test_silent_endpoint_alert_once_per_silence(hub, ctl, users, daemon_factory):
    assert hub.stop() == 0
    hub.start("--silent-after", "2")
    d = daemon_factory(POLICY, start=False)
    r = enroll(hub, d.state, ctl.enrollment_token())
    assert r.returncode == 0, r.stderr
    eid = re.search(r"enrolled: endpoint ([0-9a-f]{16})", r.stdout).group(1)

    def silent():
        return [a for a in ctl.json("alerts", "--kind", "endpoint_silent")["alerts"]
                if a["endpoint_id"] == eid]

    deadline = time.monotonic() + 30
    while not silent():
        assert time.monotonic() < deadline, hub.log_text()
        time.sleep(0.1)
    first = silent()[0]
    assert first["hostname"] == HOST and first["seq"] is None
    # Back (heartbeats every second), then silent again: a second episode.
    d.start(HEARTBEAT)
    deadline = time.monotonic() + 30
    while not [e for e in ctl.json("endpoints")["endpoints"]
               if e["id"] == eid and e["last_seen"] > first["created_at"]]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    d.stop()
    stopped = time.time()
    deadline = time.monotonic() + 30
    while len(silent()) < 2:
        assert time.monotonic() < deadline, hub.log_text()
        time.sleep(0.1)
    alerts = silent()
    assert len(alerts) == 2 and alerts[0]["created_at"] >= int(stopped)
    assert alerts[1]["created_at"] == first["created_at"]


# ---- what people see ----

def test_search_and_lag_output(ship):
    ship.elevate(3)
    run = jitsu(ship.users["alice"], ["id", "-un"], ship.daemon)
    assert run.returncode == 0
    e = ship.wait_shipped()
    last = ship.local_last_seq()
    ctl = ship.ctl

    # lag: plain and JSON, through the top-level `jitsuctl audit lag` too
    assert (e["shipped_seq"], e["hostname"], e["revoked_at"]) == (last, HOST, None)
    table = subprocess.run([JITSUCTL, "audit", "lag", "--config", ctl.conf], env=ctl.env(),
                           capture_output=True, text=True, timeout=30)
    assert table.returncode == 0, table.stderr
    head, row = table.stdout.splitlines()
    assert head.split() == ["ID", "HOSTNAME", "SHIPPED", "LOCAL", "BEHIND", "LAST", "SEEN"]
    assert row.split()[:3] == [ship.eid, HOST, str(last)]

    alice = uname("alice")
    r = ctl.ok("audit", "search", "--user", alice, "--since", "1h", "--json")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 4 * 4  # request, decision, start, exit of 4 elevations
    assert all(x["user"] == alice and x["host"] == HOST and x["endpoint_id"] == ship.eid
               for x in rows)
    assert [x["seq"] for x in rows] == sorted(x["seq"] for x in rows)
    for x in rows:
        assert json.loads(x["record"])["seq"] == x["seq"] and x["flag"] is None
    # Readable lines: host, then the record as `jitsuctl audit show` prints it.
    plain = ctl.ok("audit", "search", "--user", alice, "--event", "start",
                   "--since", "2020-01-01").stdout.splitlines()
    assert len(plain) == 4
    assert all(line.startswith(HOST + " ") and " start " in line and "#" in line
               for line in plain)
    assert "/usr/bin/id" in plain[-1]
    two = ctl.ok("audit", "search", "--event", "exit", "--limit", "2").stdout.splitlines()
    assert len(two) == 2
    assert ctl.ok("audit", "search", "--host", "no-such-host").stdout == ""
    assert ctl.ok("audit", "search", "--until", "1000000000").stdout == ""
    r = ctl.run("audit", "search", "--since", "yesterday")
    assert r.returncode == 2 and "--since" in r.stderr
    r = ctl.run("audit", "search", "--user", "bad name")
    assert r.returncode == 2

    # An auditor may read; an approver may not.
    auditor = ctl.add_user(uname("bob"), "auditor")
    assert ctl.json("audit", "lag", token=auditor)["endpoints"]
    approver = ctl.add_user("appr" + uname("bob")[-4:], "approver")
    r = ctl.run("alerts", token=approver)
    assert r.returncode == 1 and "forbidden" in r.stderr
