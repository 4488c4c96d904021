"""Approval through jitsu-hub end to end: a real hub (SQLite, and again on
PostgreSQL), real jitsud enrolled with `jitsud --enroll`, real users, and
people acting through `jitsuctl hub ...`.

Every test that takes `hub` runs on both backends (PostgreSQL is skipped
only when its server binaries are missing, and even then fails with
JITSU_REQUIRE_PG=1, as `make check` sets it). A hostile hub
(hubflow_fakehub.py, pinned like a real one) checks that jitsud and
jitsuctl fail closed on bad answers. Synchronisation is on readiness
only: the hub's "listening:" line, jitsud's sd_notify READY=1, the
client's "waiting for approval" status line, and deadline polls of the
hub's view of a request or of the audit trail.

"""
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import JITSUCTL, PRIVSEP_USER, assert_safe_after, jitsu
from hubflow_fakehub import FakeHub
from hubflow_hub import Client, Ctl, audit_records, enroll, tls_pair
from hubflow_hub import ctl, hub, pg_cluster  # noqa: F401 (fixtures)

POLICY = """
permit approval {alice} cmd /usr/bin/id
permit approvals 2 {alice} cmd /usr/bin/whoami
permit {alice} cmd /usr/bin/true
"""
HOST = socket.gethostname()
ESC_ARG = "\x1b]0;owned\x07\x1b[2J"


# ---- fixtures ----

@pytest.fixture(scope="module")
def tls_pairs():
    """Two key/certificate pairs for hostile hubs: [(cert, key, fingerprint)]."""
    d = tempfile.mkdtemp(prefix="jitsu-hubflow-tls-")
    try:
        yield [tls_pair(os.path.join(d, "a")), tls_pair(os.path.join(d, "b"))]
    finally:
        shutil.rmtree(d, ignore_errors=True)


class Flow:
    """An enrolled, running jitsud; bob an approver at the hub."""

    def __init__(self, hub, ctl, daemon, users, out):
        self.hub, self.ctl, self.daemon, self.users = hub, ctl, daemon, users
        self.endpoint_id = re.search(r"enrolled: endpoint ([0-9a-f]{16})", out).group(1)
        self.bob = ctl.add_user(users["bob"], "approver")
        self.clients = []

    def client(self, *args):
        c = Client(self.users["alice"], list(args), self.daemon)
        self.clients.append(c)
        return c


@pytest.fixture
def flow(hub, ctl, users, daemon_factory):
    d = daemon_factory(POLICY, start=False)
    r = enroll(hub, d.state, ctl.enrollment_token())
    assert r.returncode == 0, r.stderr
    d.start()
    f = Flow(hub, ctl, d, users, r.stdout)
    try:
        yield f
    finally:
        for c in f.clients:
            c.kill()


def one_line(err):
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


# ---- enrollment ----

def test_enrollment(hub, ctl, workdir):
    state = os.path.join(workdir, "state")
    r = enroll(hub, state, ctl.enrollment_token("--expires", "15m"))
    assert r.returncode == 0, r.stderr
    eid = re.search(r"enrolled: endpoint ([0-9a-f]{16})", r.stdout).group(1)
    st = os.stat(os.path.join(state, "hub.conf"))
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600)
    eps = ctl.json("endpoints")["endpoints"]
    assert [(e["id"], e["hostname"], e["revoked_at"]) for e in eps] == [(eid, HOST, None)]
    table = ctl.ok("endpoints").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "HOSTNAME", "OS"]
    assert table[1].split()[:2] == [eid, HOST] and len(table) == 2


def test_enrollment_token_reuse_refused(hub, ctl, workdir):
    token = ctl.enrollment_token()
    assert enroll(hub, os.path.join(workdir, "s1"), token).returncode == 0
    r = enroll(hub, os.path.join(workdir, "s2"), token)
    assert r.returncode != 0 and "enrollment_token_used" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(workdir, "s2", "hub.conf"))
    assert len(ctl.json("endpoints")["endpoints"]) == 1


def test_enrollment_token_expired(hub, ctl, workdir):
    made = ctl.json("token", "create", "--expires", "1s")
    deadline = time.monotonic() + 5
    while time.time() < made["expires_at"] + 1:  # the hub counts whole seconds
        assert time.monotonic() < deadline, "the clock did not pass expires_at"
        time.sleep(0.05)
    r = enroll(hub, os.path.join(workdir, "s"), made["token"])
    assert r.returncode != 0 and "enrollment_token_expired" in r.stderr, r.stderr
    assert ctl.json("endpoints")["endpoints"] == []


def test_enrollment_refuses_an_unverified_hub(hub, ctl, workdir):
    token = ctl.enrollment_token()
    wrong = ":".join(["AB"] * 32)
    r = enroll(hub, os.path.join(workdir, "s1"), token, fingerprint=wrong)
    assert r.returncode != 0 and "does not match" in r.stderr, r.stderr
    # No pin and no terminal to confirm one on: refused, not trusted.
    r = enroll(hub, os.path.join(workdir, "s2"), token, pin=False)
    assert r.returncode != 0 and "no terminal to confirm" in r.stderr, r.stderr
    assert ctl.json("endpoints")["endpoints"] == []
    # The token was never spent: the right pin (as openssl prints it) works.
    fp = "sha256 Fingerprint=" + hub.fingerprint.lower()
    assert enroll(hub, os.path.join(workdir, "s3"), token, fingerprint=fp).returncode == 0


def _pretty_name():
    with open("/etc/os-release") as f:
        for line in f:
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    return "Linux"


def test_enrollment_reports_the_os(hub, ctl, workdir):
    assert enroll(hub, os.path.join(workdir, "s"), ctl.enrollment_token()).returncode == 0
    (ep,) = ctl.json("endpoints")["endpoints"]
    assert ep["os"] == _pretty_name()


def test_enrollment_url_with_trailing_slash(hub, ctl, workdir):
    class Slashed:
        url = hub.url + "/"
    r = enroll(Slashed, os.path.join(workdir, "s"), ctl.enrollment_token(),
               fingerprint=hub.fingerprint)
    assert r.returncode == 0, r.stderr


def test_replaced_hub_certificate_fails_closed(flow):
    hub, ctl = flow.hub, flow.ctl
    assert hub.stop() == 0
    new_fp = hub.replace_cert()
    assert new_fp != hub.fingerprint
    hub.start()
    r = jitsu(flow.users["alice"], ["id", "-u"], flow.daemon)
    assert r.returncode == 1 and r.stdout == b""
    line = one_line(r.stderr)
    assert "does not match the pinned fingerprint" in line and new_fp in line, line
    # jitsuctl with the old pin refuses too; the hub never saw a request.
    r = ctl.run("requests")
    assert r.returncode == 1 and "does not match" in r.stderr, r.stderr
    assert ctl.json("requests", fingerprint=new_fp)["requests"] == []
    assert_safe_after(flow.users, flow.daemon, refused=["id", "-u"])


# ---- approval ----

def test_approve_runs_the_command_at_once(flow):
    c = flow.client("id", "-u")
    rid = c.request_id()
    rows = [line.split() for line in flow.ctl.ok("requests", "--pending").stdout.splitlines()]
    assert rows[0] == ["ID", "USER", "HOST", "COMMAND", "STATE", "APPROVALS", "EXPIRES", "IN"]
    # argv as the user typed it (the rule pins the binary; its hash goes along)
    assert rows[1][:7] == [rid, flow.users["alice"], HOST, "id", "-u", "pending", "0/1"]
    assert c.still_waiting(0.2)
    r = flow.ctl.ok("approve", rid, "--note", "go ahead", token=flow.bob)
    approved_at = time.monotonic()
    assert r.stdout == "request %s: approved (1/1 approvals)\n" % rid
    status, out, err = c.finish()
    took = time.monotonic() - approved_at
    assert (status, out) == (0, b"0\n"), err
    assert took < 1.0, "the decision took %.2fs to reach the client" % took


def test_deny_with_reason(flow):
    c = flow.client("id", "-u")
    rid = c.request_id()
    r = flow.ctl.ok("deny", rid, "--why", "not during the freeze", token=flow.bob)
    assert "denied" in r.stdout
    status, out, err = c.finish()
    assert (status, out) == (1, b"")
    assert ("denied by %s: not during the freeze" % flow.users["bob"]).encode() in err, err
    states = [a["state"] for a in audit_records(flow.daemon.state)
              if a["event"] == "approval" and a.get("request_id") == rid]
    assert states == ["submitted", "denied"]


def test_self_approval_refused(flow):
    alice = flow.users["alice"]
    alice_token = flow.ctl.add_user(alice, "approver")
    c = flow.client("id", "-u")
    rid = c.request_id()
    r = flow.ctl.run("approve", rid, token=alice_token)
    assert r.returncode == 1
    assert r.stderr.startswith("jitsuctl: hub refused (self_approval): "), r.stderr
    assert flow.ctl.request(rid)["state"] == "pending" and c.still_waiting(0.2)
    flow.ctl.ok("approve", rid, token=flow.bob)
    assert c.finish()[:2] == (0, b"0\n")


def test_two_approvals_need_two_people(flow):
    carol = flow.ctl.add_user(flow.users["carol"], "approver")
    c = flow.client("whoami")
    rid = c.request_id()
    r = flow.ctl.ok("approve", rid, token=flow.bob)
    assert r.stdout == "request %s: pending (1/2 approvals)\n" % rid
    assert c.still_waiting()
    r = flow.ctl.run("approve", rid, token=flow.bob)
    assert r.returncode == 1 and "already_decided" in r.stderr, r.stderr
    assert flow.ctl.request(rid)["state"] == "pending" and c.still_waiting(0.2)
    flow.ctl.ok("approve", rid, token=carol)
    assert c.finish()[:2] == (0, b"root\n")
    q = flow.ctl.request(rid)
    assert [d["approver"] for d in q["decisions"]] == [flow.users["bob"], flow.users["carol"]]


def test_auditor_cannot_approve_and_the_trail_records_it(flow):
    auditor = flow.ctl.add_user("auditor1", "auditor")
    c = flow.client("id", "-u")
    rid = c.request_id()
    r = flow.ctl.run("approve", rid, token=auditor)
    assert r.returncode == 1 and "hub refused (forbidden)" in r.stderr, r.stderr
    assert flow.ctl.json("requests", token=auditor)["requests"][0]["state"] == "pending"
    flow.ctl.ok("approve", rid, "--note", "change 7781", token=flow.bob)
    assert c.finish()[:2] == (0, b"0\n")
    recs = [a for a in audit_records(flow.daemon.state) if a["event"] == "approval"]
    assert [(a["request_id"], a["state"], a["user"]) for a in recs] == [
        (rid, "submitted", flow.users["alice"]), (rid, "approved", flow.users["alice"])]
    (d,) = recs[1]["decisions"]
    assert (d["approver"], d["verdict"], d["note"]) == (flow.users["bob"], "approve",
                                                        "change 7781")


# ---- failures close ----

def test_hub_unreachable_fails_closed(flow):
    assert flow.hub.stop() == 0
    started = time.monotonic()
    r = jitsu(flow.users["alice"], ["id", "-u"], flow.daemon)
    assert time.monotonic() - started < 10
    assert r.returncode == 1 and r.stdout == b""
    assert "cannot reach the hub" in one_line(r.stderr), r.stderr
    # A rule without approval does not need the hub.
    r = jitsu(flow.users["alice"], ["true"], flow.daemon)
    assert r.returncode == 0, r.stderr


def test_ctrl_c_cancels_the_request(flow):
    c = flow.client("id", "-u")
    rid = c.request_id()
    c.p.send_signal(2)  # SIGINT, as Ctrl-C on the user's terminal
    assert c.finish()[0] != 0
    q = flow.ctl.wait_state(rid, "cancelled")
    assert q["decisions"] == []
    r = flow.ctl.run("approve", rid, token=flow.bob)
    assert r.returncode == 1 and "request_not_pending" in r.stderr, r.stderr
    deadline = time.monotonic() + 10
    while True:  # jitsud records it right after telling the hub
        states = [a["state"] for a in audit_records(flow.daemon.state)
                  if a["event"] == "approval" and a.get("request_id") == rid]
        if states != ["submitted"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert states == ["submitted", "cancelled"]


def test_revoked_endpoint_fails_closed(flow, workdir):
    # A second endpoint with the same hostname makes HOST ambiguous.
    r = enroll(flow.hub, os.path.join(workdir, "state2"), flow.ctl.enrollment_token())
    other = re.search(r"endpoint ([0-9a-f]{16})", r.stdout).group(1)
    r = flow.ctl.run("endpoint", "revoke", HOST)
    assert r.returncode == 1 and "give the id" in r.stderr, r.stderr
    assert flow.ctl.ok("endpoint", "revoke", other).stdout == \
        "endpoint %s (%s) revoked\n" % (other, HOST)
    # Now HOST names one live endpoint: jitsud's own.
    assert flow.ctl.ok("endpoint", "revoke", HOST).stdout == \
        "endpoint %s (%s) revoked\n" % (flow.endpoint_id, HOST)
    eps = {e["id"]: e for e in flow.ctl.json("endpoints")["endpoints"]}
    assert eps[flow.endpoint_id]["revoked_at"] is not None
    r = flow.ctl.run("endpoint", "revoke", HOST)
    assert r.returncode == 1 and "revoked already" in r.stderr, r.stderr
    r = jitsu(flow.users["alice"], ["id", "-u"], flow.daemon)
    assert r.returncode == 1 and r.stdout == b""
    assert "endpoint_revoked" in one_line(r.stderr), r.stderr


def test_hub_stopping_while_waiting_fails_closed(flow):
    c = flow.client("id", "-u")
    c.request_id()
    assert flow.hub.stop() == 0
    status, out, err = c.finish(timeout=10)
    assert (status, out) == (1, b"")
    # 503 shutting_down to the waiting long-poll, or, if the hub went away
    # between two polls, no connection: either way refused, and said so.
    assert re.search(rb"jitsu: approval failed, refusing: (hub refused \(shutting_down\)|"
                     rb"cannot reach the hub)", err), err


def test_revoked_while_waiting_fails_closed(flow):
    c = flow.client("id", "-u")
    rid = c.request_id()
    flow.ctl.ok("endpoint", "revoke", flow.endpoint_id)
    status, out, err = c.finish(timeout=10)
    assert (status, out) == (1, b"")
    assert b"endpoint_revoked" in err, err
    assert flow.ctl.request(rid)["state"] == "cancelled"


def test_request_expires_without_a_decision(flow):
    assert flow.hub.stop() == 0
    flow.hub.start("--request-ttl", "1")
    c = flow.client("id", "-u")
    rid = c.request_id()
    status, out, err = c.finish(timeout=10)
    assert (status, out) == (1, b"")
    assert ("request %s expired" % rid).encode() in err, err
    states = [a["state"] for a in audit_records(flow.daemon.state)
              if a["event"] == "approval" and a.get("request_id") == rid]
    assert states == ["submitted", "expired"]


def test_unsendable_requests_fail_closed(flow):
    # Not UTF-8: the hub's JSON cannot carry it, so nothing is submitted.
    r = jitsu(flow.users["alice"], ["id", b"\xff"], flow.daemon)
    assert r.returncode == 1 and r.stdout == b""
    assert "UTF-8" in one_line(r.stderr)
    assert flow.ctl.json("requests")["requests"] == []


# ---- a hostile hub ----

RID, OTHER = "1111111111111111", "2222222222222222"
SUBMIT = ("POST", "/api/v1/endpoint/requests")
WAIT = ("GET", "/api/v1/endpoint/requests/" + RID)


def _pending():
    return {"id": RID, "state": "pending", "expires_at": int(time.time()) + 900,
            "decisions": []}


HOSTILE = {
    "approval of another request": {WAIT: (200, {"id": OTHER, "state": "approved"})},
    "not JSON": {WAIT: (200, b"approved")},
    "a JSON array": {WAIT: (200, [{"id": RID, "state": "approved"}])},
    "no state": {WAIT: (200, {"id": RID})},
    "approved with an error status": {WAIT: (500, {"id": RID, "state": "approved"})},
    "approved on submit, wrong status": {SUBMIT: (200, {"id": RID, "state": "approved"})},
    "a huge answer": {WAIT: (200, b'{"id":"%s","state":"approved","x":"%s"}'
                             % (RID.encode(), b"x" * (2 << 20)))},
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_hub_answers_fail_closed(case, tls_pairs, users, daemon_factory):
    cert, key, fp = tls_pairs[0]
    routes = {SUBMIT: (201, _pending())}
    routes.update(HOSTILE[case])
    with FakeHub(cert, key, routes) as fake:
        d = daemon_factory(POLICY, start=False)
        r = enroll(fake, d.state, "jhe_%s_%s" % ("0" * 16, "0" * 64), fingerprint=fp)
        assert r.returncode == 0, r.stderr
        d.start()
        r = jitsu(users["alice"], ["id", "-u"], d)
        assert r.returncode == 1 and r.stdout == b"", (r.stdout, r.stderr)
        assert b"refusing" in r.stderr, r.stderr
        assert SUBMIT in fake.seen
    assert not [a for a in audit_records(d.state) if a["event"] == "start"]
    assert_safe_after(users, d, refused=["id", "-u"])


@pytest.mark.parametrize("state,says", [("expired", "expired without a decision"),
                                        ("cancelled", "was cancelled at the hub")])
def test_outcome_message_is_whole(state, says, tls_pairs, users, daemon_factory):
    cert, key, fp = tls_pairs[0]
    routes = {SUBMIT: (201, _pending()), WAIT: (200, {"id": RID, "state": state})}
    with FakeHub(cert, key, routes) as fake:
        d = daemon_factory(POLICY, start=False)
        assert enroll(fake, d.state, "jhe_%s_%s" % ("0" * 16, "0" * 64),
                      fingerprint=fp).returncode == 0
        d.start()
        r = jitsu(users["alice"], ["id", "-u"], d)
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.decode().splitlines()[-1] == "jitsu: request %s %s" % (RID, says)


def test_hostile_request_id_never_reaches_the_terminal(tls_pairs, users, daemon_factory):
    cert, key, fp = tls_pairs[0]
    evil = "\x1b]0;pwn\x07\x1b[2J1234"
    assert len(evil) == 16
    routes = {SUBMIT: (201, dict(_pending(), id=evil)),
              ("GET", "/api/v1/endpoint/requests/" + evil): (200, {"id": evil,
                                                                  "state": "denied"})}
    with FakeHub(cert, key, routes) as fake:
        d = daemon_factory(POLICY, start=False)
        assert enroll(fake, d.state, "jhe_%s_%s" % ("0" * 16, "0" * 64),
                      fingerprint=fp).returncode == 0
        d.start()
        r = jitsu(users["alice"], ["id", "-u"], d)
    assert r.returncode == 1 and r.stdout == b""
    assert not any(b < 0x20 and b != 0x0a for b in r.stderr), r.stderr


def test_unpinned_hub_gets_no_request(tls_pairs, users, daemon_factory):
    (cert, key, _), (_, _, other_fp) = tls_pairs
    with FakeHub(cert, key, {}) as fake:
        d = daemon_factory(POLICY, start=False)
        r = enroll(fake, d.state, "jhe_%s_%s" % ("0" * 16, "0" * 64), fingerprint=other_fp)
        assert r.returncode != 0 and "does not match" in r.stderr, r.stderr
        assert fake.seen == []  # refused in the handshake: not a byte of HTTP


# ---- jitsuctl hub itself ----

def test_jitsuctl_never_talks_to_an_unverified_hub(hub, ctl):
    env = ctl.env()
    del env["JITSU_HUB_FINGERPRINT"]
    r = ctl.run("endpoints", env=env)
    assert r.returncode == 2 and r.stdout == ""
    assert "unverified hub" in one_line(r.stderr.encode())
    r = ctl.run("endpoints", fingerprint=":".join(["0F"] * 32))
    assert r.returncode == 1 and "does not match the pinned fingerprint" in r.stderr
    # openssl's form, lower case, and a CA file instead of a pin.
    ctl.ok("endpoints", fingerprint="SHA256 Fingerprint=" + hub.fingerprint.lower())
    ctl.ok("--cacert", hub.cert, "endpoints", env=env)
    r = ctl.run("endpoints", token="jhu_" + "0" * 16 + "_" + "0" * 64)
    assert r.returncode == 1
    assert r.stderr.startswith("jitsuctl: hub refused (unauthorized): "), r.stderr


def test_jitsuctl_config_file(hub, ctl, workdir):
    conf = os.path.join(workdir, "jitsuctl.conf")
    with open(conf, "w") as f:
        f.write("# jitsuctl hub settings\nhub = %s\n token=%s\nfingerprint = %s\n\n"
                % (hub.url, hub.admin_token, hub.fingerprint))
    env = {"PATH": "/usr/bin:/bin"}
    for mode in (0o640, 0o604):
        os.chmod(conf, mode)
        r = subprocess.run([JITSUCTL, "hub", "--config", conf, "endpoints"], env=env,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "refused" in r.stderr, (oct(mode), r.stderr)
    os.chmod(conf, 0o600)
    r = subprocess.run([JITSUCTL, "hub", "--config", conf, "--json", "endpoints"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout) == (0, '{"endpoints":[]}\n'), r.stderr
    link = os.path.join(workdir, "link.conf")
    os.symlink(conf, link)
    r = subprocess.run([JITSUCTL, "hub", "--config", link, "endpoints"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "symbolic link" in r.stderr, r.stderr
    with open(conf, "a") as f:
        f.write("#" * 9000 + "\n")
    r = subprocess.run([JITSUCTL, "hub", "--config", conf, "endpoints"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "over 8192 bytes" in r.stderr, r.stderr
    with open(conf, "w") as f:
        f.write("hub = %s\n\n\n\n\ncolour = blue\n" % hub.url)
    r = subprocess.run([JITSUCTL, "hub", "--config", conf, "endpoints"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "%s:6: unknown key" % conf in r.stderr, r.stderr


def test_jitsuctl_escapes_what_the_hub_says(flow):
    c = flow.client("id", ESC_ARG)
    rid = c.request_id()
    table = flow.ctl.ok("requests", text=False).stdout
    assert b"\x1b" not in table and b"\x07" not in table
    assert rb" id \x1b]0;owned\x07\x1b[2J " in table, table
    raw = flow.ctl.ok("--json", "requests", text=False).stdout
    assert all(0x20 <= b < 0x7f for b in raw.rstrip(b"\n")), raw
    assert json.loads(raw)["requests"][0]["argv"] == ["id", ESC_ARG]  # lossless
    flow.ctl.ok("deny", rid, "--why", "no", token=flow.bob)
    assert c.finish()[0] == 1


def test_jitsuctl_escapes_a_hostile_hub(tls_pairs, workdir):
    cert, key, fp = tls_pairs[0]
    evil = "\x1b]0;owned\x07\u009b31m\u202e\x1b[2J"
    routes = {
        ("GET", "/api/v1/endpoints"): (200, {"endpoints": [{
            "id": evil, "hostname": evil, "os": evil, "agent_version": evil,
            "enrolled_at": "soon", "last_seen": None, "revoked_at": evil}]}),
        ("GET", "/api/v1/requests"): (200, {"requests": [{
            "id": evil, "user": evil, "host": evil, "argv": [evil, 7, None],
            "state": evil, "approvals_needed": evil, "decisions": [evil],
            "expires_at": evil}]}),
        ("POST", "/api/v1/requests/%s/approve" % RID): (403, {"error": {
            "code": evil, "message": evil}}),
        ("POST", "/api/v1/enrollment-tokens"): (201, {"token": "jhe_" + evil}),
        ("POST", "/api/v1/users"): (201, {"nothing": "here"}),
    }
    with FakeHub(cert, key, routes) as fake:
        class Target:
            url = fake.url
            admin_token = "jhu_%s_%s" % ("0" * 16, "0" * 64)
        ctl = Ctl(Target, workdir)
        outs = []
        for args in (["endpoints"], ["requests"], ["--json", "endpoints"],
                     ["approve", RID], ["token", "create"],
                     ["admins", "add", "x", "--role", "auditor"]):
            r = ctl.run(*args, fingerprint=fp, text=False)
            outs.append((args, r))
            assert all(0x20 <= b < 0x7f or b == 0x0a for b in r.stdout + r.stderr), (args, r)
    codes = [r.returncode for _, r in outs]
    assert codes == [0, 0, 0, 1, 1, 1], outs
    assert rb"\x1b]0;owned\x07\xc2\x9b31m\xe2\x80..." in outs[0][1].stdout  # cut at 40
    assert b"malformed" in outs[4][1].stderr and outs[4][1].stdout == b""


@pytest.mark.parametrize("args", [
    ["approve", "not-an-id"],
    ["approve", "0123456789ABCDEF"],
    ["deny", "0123456789abcdef"],
    ["token", "create", "--expires", "8d"],
    ["token", "create", "--expires", "1x"],
    ["admins", "add", "bob"],
    ["admins", "add", "bob", "--role", "root"],
    ["endpoint", "revoke", "../x"],
    ["requests", "--note", "x"],
    ["frobnicate"],
    [],
])
def test_jitsuctl_usage_errors(args):
    r = subprocess.run([JITSUCTL, "hub"] + args, capture_output=True, text=True, timeout=10,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and r.stdout == "", (args, r.stderr)


def test_top_level_hub_commands(hub, ctl):
    # jitsuctl --hub URL --fingerprint FP --json requests: the form the
    # top level takes, the same as jitsuctl hub ...
    e = {"PATH": "/usr/bin:/bin", "JITSU_HUB_TOKEN": hub.admin_token}
    r = subprocess.run([JITSUCTL, "--hub", hub.url, "--fingerprint", hub.fingerprint, "--json",
                        "requests", "--config", ctl.conf], env=e, capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"requests": []}
    r = subprocess.run([JITSUCTL, "--hub", hub.url, "audit", "verify"], env=e,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "go with hub commands" in r.stderr
    tok = subprocess.run([JITSUCTL, "--hub", hub.url, "--fingerprint", hub.fingerprint,
                          "token", "create", "--expires", "10m", "--config", ctl.conf], env=e,
                         capture_output=True, text=True, timeout=30)
    assert tok.returncode == 0 and re.fullmatch(r"jhe_[0-9a-f]{16}_[0-9a-f]{64}\n", tok.stdout)


def test_enrollment_token_from_stdin(hub, ctl, workdir):
    # jitsud --enroll URL - reads the token from stdin, out of ps.
    state = os.path.join(workdir, "s")
    os.makedirs(state, mode=0o700)
    token = ctl.enrollment_token()
    r = subprocess.run([os.path.join(os.path.dirname(JITSUCTL), "..", "jitsud", "jitsud"), "-d",
                        state, "--privsep-user", PRIVSEP_USER, "--enroll", hub.url, "-",
                        "--fingerprint", hub.fingerprint],
                       input=token + "\n", capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert os.stat(os.path.join(state, "hub.conf")).st_mode & 0o777 == 0o600
