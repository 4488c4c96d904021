"""Central policy through jitsu-hub end to end, on SQLite and on PostgreSQL:
an admin pushes versions with `jitsuctl policy`, tags an endpoint into a
group, and a real enrolled jitsud fetches, caches and enforces them.

Synchronisation: jitsud fetches on SIGHUP; each test then polls the audit
trail for the policy_reload record that names the version it waits for (or
jitsud's log for the failed fetch), never a fixed sleep.
"""
import hashlib
import json
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import time

import pytest

from conftest import JITSUD, PRIVSEP_USER, SLOW, jitsu, policy_text
from test_badinput import wait_no_sessions
from hubflow_hub import audit_records, enroll
from hubflow_hub import ctl, hub, pg_cluster  # noqa: F401 (fixtures)

LOCAL = """
permit {alice} cmd /usr/bin/true
"""
V_ID = """# ops: id only
permit {alice} cmd /usr/bin/id
"""
V_TRUE = """# ops: true only
permit {alice} cmd /usr/bin/true
deny {alice} cmd /usr/bin/id
"""


class Endpoint:
    """An enrolled, running jitsud with the LOCAL file."""

    def __init__(self, hub, ctl, daemon, users, out, workdir):
        self.hub, self.ctl, self.daemon, self.users = hub, ctl, daemon, users
        self.workdir = workdir
        self.id = re.search(r"enrolled: endpoint ([0-9a-f]{16})", out).group(1)

    def push(self, text, *extra):
        path = os.path.join(self.workdir, "push.conf")
        with open(path, "w") as f:
            f.write(policy_text(text))
        return self.ctl.run("policy", "push", "--group", "ops", *extra, path)

    def run(self, *args):
        return jitsu(self.users["alice"], list(args), self.daemon)

    def reloads(self):
        return [r for r in audit_records(self.daemon.state) if r["event"] == "policy_reload"]

    def fetch(self, version, timeout=20 * SLOW):
        """SIGHUP (a fetch), then waits for the policy_reload naming version."""
        seen = len([r for r in self.reloads() if r.get("policy_version") == version])
        self.daemon.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while True:
            got = [r for r in self.reloads() if r.get("policy_version") == version]
            if len(got) > seen:
                return got[-1]
            assert time.monotonic() < deadline, "no reload to %s; log:\n%s" % (
                version, self.daemon.read_log()[-3000:])
            self.drain_notify()
            time.sleep(0.05)

    def drain_notify(self):
        """Reads the sd_notify datagrams every reload sends (RELOADING=1,
        READY=1), as systemd would: a full queue would block jitsud."""
        self.daemon.notify.setblocking(False)
        try:
            while True:
                self.daemon.notify.recv(4096)
        except BlockingIOError:
            pass

    def decisions(self):
        return [r for r in audit_records(self.daemon.state) if r["event"] == "decision"]

    def wait_log(self, text, timeout=20 * SLOW):
        deadline = time.monotonic() + timeout
        while text not in self.daemon.read_log():
            assert time.monotonic() < deadline, "no %r in the log:\n%s" % (
                text, self.daemon.read_log()[-3000:])
            self.drain_notify()
            time.sleep(0.05)


@pytest.fixture
def ep(hub, ctl, users, daemon_factory, workdir):
    d = daemon_factory(LOCAL, start=False)
    r = enroll(hub, d.state, ctl.enrollment_token())
    assert r.returncode == 0, r.stderr
    d.start()
    return Endpoint(hub, ctl, d, users, r.stdout, workdir)


def assert_permits(ep, cmd, version):
    r = ep.run(cmd)
    assert r.returncode == 0, (cmd, r.stderr)
    d = ep.decisions()[-1]
    assert d["decision"] == "permit" and d["policy_version"] == version, d
    # Every record of that session names the same version.
    wait_no_sessions(ep.daemon)  # the exit record comes after the client's exit
    session = [x for x in audit_records(ep.daemon.state) if x.get("client_pid") == d["client_pid"]]
    assert {x["event"] for x in session} >= {"request", "decision", "start", "exit"}, session
    assert {x.get("policy_version") for x in session} == {version}, session
    return d


def assert_denies(ep, cmd, version):
    r = ep.run(cmd)
    assert r.returncode == 1 and b"may not run" in r.stderr, r.stderr
    d = ep.decisions()[-1]
    assert d["decision"] == "deny" and d["policy_version"] == version, d
    return d


# ---- 1. push, fetch, enforce ----

def test_push_fetch_enforce(ep):
    # Before any group the local file is enforced, and says so.
    assert_permits(ep, "true", "local")
    assert_denies(ep, "id", "local")
    r = ep.push(V_ID, "--message", "id only")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"group ops: version 1 pushed \(sha256 [0-9a-f]{12}\)\n", r.stdout)
    r = ep.ctl.run("endpoint", "tag", ep.id, "ops")
    assert r.returncode == 0 and r.stdout == "endpoint %s: policy group ops\n" % ep.id, r
    rl = ep.fetch("hub:ops:1")
    assert rl["result"] == "ok" and rl["policy"] == "hub:ops:1"
    d = assert_permits(ep, "id", "hub:ops:1")
    assert d["rule"] == "hub:ops:1:2", d
    # The local file permits true; it is ignored now.
    assert_denies(ep, "true", "hub:ops:1")
    listed = ep.run("-l")
    assert listed.returncode == 0
    assert listed.stdout.decode().splitlines() == [
        "hub:ops:1:2: permit %s cmd /usr/bin/id" % ep.users["alice"]], listed.stdout
    # The cache: root-only, atomic (no temporary file left).
    st = os.stat(os.path.join(ep.daemon.state, "policy.cache"))
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600)
    assert not os.path.exists(os.path.join(ep.daemon.state, "policy.cache.new"))
    assert "enforcing the hub's policy hub:ops:1" in ep.daemon.read_log()
    # jitsud -t reports what is enforced.
    r = subprocess.run([JITSUD, "-t", "-c", ep.daemon.policy, "-d", ep.daemon.state],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "hub:ops:1: OK, 1 rules (cached from the hub" in r.stdout, r


def test_enroll_into_a_group(hub, ctl, users, daemon_factory, workdir):
    """jitsud --enroll ... --group G: enforced from the first fetch on."""
    e = Endpoint(hub, ctl, None, users, "enrolled: endpoint 0000000000000000", workdir)
    assert e.push(V_ID).returncode == 0
    d = daemon_factory(LOCAL, start=False)
    cmd = [JITSUD, "-d", d.state, "--privsep-user", PRIVSEP_USER, "--enroll", hub.url,
           ctl.enrollment_token(), "--fingerprint", hub.fingerprint, "--group", "ops"]
    r = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       start_new_session=True)
    assert r.returncode == 0 and "policy group: ops" in r.stdout, r
    e.daemon = d
    d.start()
    e.fetch("hub:ops:1")
    assert_permits(e, "id", "hub:ops:1")
    assert_denies(e, "true", "hub:ops:1")
    r = subprocess.run([JITSUD, "-d", d.state, "--enroll", hub.url, ctl.enrollment_token(),
                        "--group", "-bad"], capture_output=True, text=True)
    assert r.returncode == 1 and "bad --group" in r.stderr


@pytest.mark.parametrize("hub", ["sqlite"], indirect=True)
def test_timer_fetches_without_sighup(hub, ctl, users, daemon_factory, workdir):
    d = daemon_factory(LOCAL, start=False)
    r = enroll(hub, d.state, ctl.enrollment_token())
    assert r.returncode == 0, r.stderr
    d.start(extra=("--policy-interval", "1"))
    e = Endpoint(hub, ctl, d, users, r.stdout, workdir)
    assert e.push(V_ID).returncode == 0
    assert ctl.run("endpoint", "tag", e.id, "ops").returncode == 0
    deadline = time.monotonic() + 20
    while not [x for x in e.reloads() if x.get("policy_version") == "hub:ops:1"]:
        assert time.monotonic() < deadline, d.read_log()[-2000:]
        e.drain_notify()
        time.sleep(0.1)
    assert_permits(e, "id", "hub:ops:1")
    r = subprocess.run([JITSUD, "--policy-interval", "0", "-t"], capture_output=True, text=True)
    assert r.returncode == 1 and "bad --policy-interval" in r.stderr


# ---- 2. rollback, untag ----

def test_rollback_and_untag(ep):
    assert ep.push(V_ID).returncode == 0
    assert ep.ctl.run("endpoint", "tag", ep.id, "ops").returncode == 0
    ep.fetch("hub:ops:1")
    # A fetch of an unchanged version (the hub leaves the text out); the
    # next one, queued behind it, brings version 2.
    ep.daemon.proc.send_signal(signal.SIGHUP)
    assert ep.push(V_TRUE).returncode == 0
    ep.fetch("hub:ops:2")
    log = ep.daemon.read_log()
    assert "unusable" not in log and "unchanged about" not in log, log[-2000:]
    assert_permits(ep, "true", "hub:ops:2")
    d = assert_denies(ep, "id", "hub:ops:2")
    assert d["rule"] == "hub:ops:2:3"
    r = ep.ctl.run("policy", "rollback", "--group", "ops", "1", "--message", "back")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("group ops: version 3 created with the text of version 1 ")
    ep.fetch("hub:ops:3")
    assert_permits(ep, "id", "hub:ops:3")
    assert_denies(ep, "true", "hub:ops:3")
    # Out of the group: the local file again.
    r = ep.ctl.run("endpoint", "untag", ep.id)
    assert r.returncode == 0 and r.stdout == "endpoint %s: no policy group\n" % ep.id
    ep.fetch("local")
    assert_permits(ep, "true", "local")
    assert_denies(ep, "id", "local")


def test_tag_and_untag_by_hostname(ep, workdir):
    """HOST as `endpoint revoke` takes it: an id, or the hostname of exactly
    one endpoint not revoked."""
    host = socket.gethostname()
    assert ep.push(V_ID).returncode == 0
    r = ep.ctl.run("endpoint", "tag", host, "ops")
    assert r.returncode == 0 and r.stdout == "endpoint %s: policy group ops\n" % ep.id, r
    ep.fetch("hub:ops:1")
    assert_permits(ep, "id", "hub:ops:1")
    # A second endpoint of that name makes it ambiguous: nothing changes.
    r = enroll(ep.hub, os.path.join(workdir, "state2"), ep.ctl.enrollment_token())
    other = re.search(r"enrolled: endpoint ([0-9a-f]{16})", r.stdout).group(1)
    r = ep.ctl.run("endpoint", "untag", host)
    assert r.returncode == 1 and "2 endpoints are named %s: give the id" % host in r.stderr, r
    r = ep.ctl.run("endpoint", "tag", other, "ops")
    assert r.returncode == 0 and r.stdout == "endpoint %s: policy group ops\n" % other, r
    # Revoked, the other no longer counts.
    assert ep.ctl.run("endpoint", "revoke", other).returncode == 0
    r = ep.ctl.run("--json", "endpoint", "untag", host)
    assert r.returncode == 0 and json.loads(r.stdout) == {"endpoint_id": ep.id, "group": None}, r
    ep.fetch("local")
    assert_permits(ep, "true", "local")
    r = ep.ctl.run("endpoint", "tag", "no-such-host.example", "ops")
    assert r.returncode == 1 and "no-such-host.example: no such endpoint" in r.stderr, r
    r = ep.ctl.run("endpoint", "tag", "bad/host", "ops")
    assert r.returncode == 2 and "HOST: a hostname or an endpoint id" in r.stderr, r


# ---- 3. the hub down ----

def test_hub_down_keeps_the_cached_policy(ep):
    assert ep.push(V_ID).returncode == 0
    assert ep.ctl.run("endpoint", "tag", ep.id, "ops").returncode == 0
    ep.fetch("hub:ops:1")
    assert ep.hub.stop() == 0
    ep.daemon.proc.send_signal(signal.SIGHUP)
    ep.wait_log("policy fetch from the hub failed")
    assert_permits(ep, "id", "hub:ops:1")
    assert_denies(ep, "true", "hub:ops:1")
    # A restart with the hub still down enforces the cache from the start,
    # without even reading the local file.
    ep.daemon.stop()
    os.rename(ep.daemon.policy, ep.daemon.policy + ".away")
    ep.daemon.start()
    start = [r for r in audit_records(ep.daemon.state) if r["event"] == "daemon_start"][-1]
    assert start["policy_version"] == "hub:ops:1" and start["policy"] == "hub:ops:1", start
    assert_permits(ep, "id", "hub:ops:1")
    assert_denies(ep, "true", "hub:ops:1")
    # An altered cache is not trusted, nor is the more permissive local
    # file used instead: nothing is permitted until the hub answers.
    ep.daemon.stop()
    cache = os.path.join(ep.daemon.state, "policy.cache")
    with open(cache) as f:
        doc = f.read()
    with open(cache, "w") as f:
        f.write(doc.replace("/usr/bin/id", "/usr/bin/ls"))
    os.rename(ep.daemon.policy + ".away", ep.daemon.policy)
    r = subprocess.run([JITSUD, "-t", "-c", ep.daemon.policy, "-d", ep.daemon.state],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "policy.cache" in r.stderr, r
    ep.daemon.start()
    assert "denying every request" in ep.daemon.read_log()
    assert_denies(ep, "true", "none")
    assert_denies(ep, "id", "none")
    # The hub back: the next fetch restores the group's policy.
    ep.hub.start()
    ep.fetch("hub:ops:1")
    assert_permits(ep, "id", "hub:ops:1")


def _store_unparsable(hub, version):
    """Puts a version the parser refuses straight into the hub's SQLite
    database, as a newer hub with a richer language could serve it."""
    text = "permit {alice} cmd /usr/bin/id\npermit frobnicate\n"
    with sqlite3.connect(os.path.join(hub.dir, "hub.db")) as db:
        db.execute("INSERT INTO policy_versions (group_name, version, text, sha256, pushed_by,"
                   " pushed_at, message) VALUES ('ops', ?, ?, ?, 'x', 1, '')",
                   (version, text, hashlib.sha256(text.encode()).hexdigest()))


@pytest.mark.parametrize("hub", ["sqlite"], indirect=True)
def test_version_that_does_not_parse_here(ep):
    assert ep.push(V_ID).returncode == 0
    assert ep.ctl.run("endpoint", "tag", ep.id, "ops").returncode == 0
    ep.fetch("hub:ops:1")
    _store_unparsable(ep.hub, 2)
    ep.daemon.proc.send_signal(signal.SIGHUP)
    ep.wait_log("policy fetch: keeping ops:1 in force")
    assert "hub:ops:2 does not parse here" in ep.daemon.read_log()
    assert_permits(ep, "id", "hub:ops:1")


@pytest.mark.parametrize("hub", ["sqlite"], indirect=True)
def test_first_version_that_does_not_parse_fails_closed(ep):
    assert ep.push(V_ID).returncode == 0
    _store_unparsable(ep.hub, 2)
    assert ep.ctl.run("endpoint", "tag", ep.id, "ops").returncode == 0
    ep.fetch("none")
    assert "no usable version of group ops: denying every request" in ep.daemon.read_log()
    assert_denies(ep, "true", "none")


# ---- 4. an invalid push ----

def test_invalid_push_refused_with_lines(ep):
    assert ep.push(V_ID).returncode == 0
    r = ep.push("permit {alice} cmd /usr/bin/id\npermit {alice} bogus\n\ndeny\n")
    assert r.returncode == 1, r
    path = os.path.join(ep.workdir, "push.conf")
    lines = r.stderr.splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith(path + ":2: ") and lines[1].startswith(path + ":4: "), lines
    assert lines[2] == ("jitsuctl: the hub refused the policy (2 errors); "
                        "the current version is unchanged")
    r = ep.ctl.run("--json", "policy", "push", "--group", "ops", path)
    assert r.returncode == 1
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "policy_invalid" and [e["line"] for e in err["errors"]] == [2, 4]
    hist = ep.ctl.json("policy", "history", "--group", "ops")["versions"]
    assert [v["version"] for v in hist] == [1]
    shown = ep.ctl.run("policy", "show", "--group", "ops")
    assert shown.returncode == 0 and shown.stdout == policy_text(V_ID)


# ---- 5. history, show, diff ----

def test_history_show_diff(ep, workdir):
    assert ep.push(V_ID, "--message", "first one").returncode == 0
    assert ep.push(V_TRUE).returncode == 0
    r = ep.ctl.run("policy", "history", "--group", "ops")
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert rows[0].split() == ["VERSION", "PUSHED", "BY", "SHA256", "ROLLBACK", "OF", "MESSAGE"]
    assert [row.split()[0] for row in rows[1:]] == ["2", "1"]
    assert rows[2].rstrip().endswith("first one") and " admin " in rows[2]
    assert ep.ctl.run("policy", "show", "--group", "ops", "1").stdout == policy_text(V_ID)
    assert ep.ctl.run("policy", "show", "--group", "ops").stdout == policy_text(V_TRUE)
    # The diff is diff -u's, labels aside.
    a, b = os.path.join(workdir, "a"), os.path.join(workdir, "b")
    for path, text in ((a, V_ID), (b, V_TRUE)):
        with open(path, "w") as f:
            f.write(policy_text(text))
    want = subprocess.run(["diff", "-u", "--label", "ops:1", "--label", "ops:2", a, b],
                          capture_output=True, text=True).stdout
    r = ep.ctl.run("policy", "diff", "--group", "ops", "1", "2")
    assert r.returncode == 0 and r.stdout == want and want.startswith("--- ops:1\n"), r
    assert ep.ctl.run("policy", "diff", "--group", "ops", "2", "2").stdout == ""
    # Roles: an auditor reads but neither pushes nor rolls back nor tags.
    aud = ep.ctl.add_user("audra", "auditor")
    r = ep.ctl.run("policy", "history", "--group", "ops", token=aud)
    assert r.returncode == 0 and r.stdout == ep.ctl.run("policy", "history", "--group",
                                                        "ops").stdout
    for args in (("policy", "rollback", "--group", "ops", "1"),
                 ("endpoint", "tag", ep.id, "ops")):
        r = ep.ctl.run(*args, token=aud)
        assert r.returncode == 1 and "forbidden" in r.stderr, (args, r.stderr)
    path = os.path.join(ep.workdir, "push.conf")
    r = ep.ctl.run("policy", "push", "--group", "ops", path, token=aud)
    assert r.returncode == 1 and "forbidden" in r.stderr
    assert len(ep.ctl.json("policy", "history", "--group", "ops")["versions"]) == 2
    # Refusals: no such version, no group, a bad version word.
    r = ep.ctl.run("policy", "show", "--group", "ops", "7")
    assert r.returncode == 1 and "not_found" in r.stderr
    r = ep.ctl.run("policy", "history")
    assert r.returncode == 2 and "--group G is required" in r.stderr
    r = ep.ctl.run("policy", "diff", "--group", "ops", "1", "x")
    assert r.returncode == 2
