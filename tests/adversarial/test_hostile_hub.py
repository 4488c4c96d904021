"""A rule with `approval` against a hub that misbehaves, and a client that
goes away while it waits.

Every case must fail closed: the command does not run, the user gets one
clear line, no jitsu-hubcall helper or connection process is left behind,
the daemon serves the next request, and its trail verifies.

Covered in tests/integration/test_hub_flow.py and not repeated: garbage,
wrong-id, wrong-status and huge answers (test_hostile_hub_answers_fail_closed),
a replaced certificate (test_replaced_hub_certificate_fails_closed), an
unpinned hub at enrollment (test_unpinned_hub_gets_no_request), a hub that
is down or stops while the client waits, a revoked endpoint, Ctrl-C.
"""
import os
import platform
import pwd
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import assert_safe_after, audit_records, jitsu, poll_until
from hubflow_fakehub import FakeHub
from hubflow_hub import Client, enroll
from test_badinput import HELPERS, wait_no_sessions
from test_privsep import force_syscall

import jitsu_it_conftest as it
# Fixtures shared with the hub flow tests: a real hub on SQLite and on
# PostgreSQL, jitsud enrolled into it, and key pairs for fake hubs.
from test_hub_flow import (POLICY, RID, SUBMIT, WAIT, _pending, ctl, flow, hub,  # noqa: F401
                           pg_cluster, tls_pairs)

TOKEN = "jhe_%s_%s" % ("0" * 16, "0" * 64)
SUBMIT_TIMEOUT = 15  # jitsud/approval.c: the submit call's limit


def descendants(pid):
    """Every live process below pid: {pid: name of its executable}, but
    for the daemon's own hub helpers (the audit shipper, the policy fetch)
    and what they run: they call the hub on their own schedule."""
    parent, comm = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        head, rest = st.rsplit(") ", 1)
        comm[int(d)] = head.split(" (", 1)[1]
        parent[int(d)] = int(rest.split()[1])
    out = {}
    for p in parent:
        q = p
        while q > 1 and q in parent and comm[q] not in HELPERS:
            q = parent[q]
            if q == pid:
                out[p] = _exe_name(p, comm[p])
                break
    return out


def _exe_name(pid, comm):
    # The helper is exec'd by fd (execveat), so its comm is a number; its
    # executable's name says what it is.
    try:
        return os.path.basename(os.readlink("/proc/%d/exe" % pid))
    except OSError:
        return comm


def seccomp_mode(pid):
    """The Seccomp: field of /proc/PID/status (0 none, 2 filter)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Seccomp:"):
                    return line.split()[1]
    except OSError:
        pass
    return None


def assert_no_helpers(daemon):
    left = {p: c for p, c in descendants(daemon.proc.pid).items() if c != "jitsud"}
    assert left == {}, left


def enrolled(fake, fp, daemon_factory):
    d = daemon_factory(POLICY, start=False)
    r = enroll(fake, d.state, TOKEN, fingerprint=fp)
    assert r.returncode == 0, r.stderr
    return d.start()


def assert_failed_closed(users, d, r, argv=("id", "-u")):
    assert r.returncode == 1 and r.stdout == b"", (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.decode().splitlines()
    # a "waiting for approval" status line may come first; then one refusal
    assert lines and all(x.startswith("jitsu: ") for x in lines), lines
    assert all(x.startswith("jitsu: waiting for approval") for x in lines[:-1]), lines
    line = lines[-1]
    assert "refusing" in line, line
    assert not [a for a in audit_records(d) if a["event"] == "start"]
    wait_no_sessions(d)
    assert_no_helpers(d)
    assert_safe_after(users, d, refused=argv)
    return line


# ---- a hub too slow to answer -----------------------------------------------

def test_hub_slower_than_the_timeout(tls_pairs, users, daemon_factory):
    """A hub (or a network attacker holding the TCP connection open) that
    accepts the request and never answers in time, hoping the endpoint
    waits forever or takes silence for consent (the slow-read/tarpit class,
    CVE-2007-6750 turned against a client). The submit must time out at its
    limit and refuse."""
    cert, key, fp = tls_pairs[0]
    gate = threading.Event()

    def stall(h):
        gate.wait(SUBMIT_TIMEOUT + 20)

    with FakeHub(cert, key, {SUBMIT: (stall, None)}) as fake:
        d = enrolled(fake, fp, daemon_factory)
        t0 = time.monotonic()
        r = jitsu(users["alice"], ["id", "-u"], d, timeout=SUBMIT_TIMEOUT + 30)
        took = time.monotonic() - t0
        gate.set()
        assert SUBMIT in fake.seen
    assert SUBMIT_TIMEOUT - 1 < took < SUBMIT_TIMEOUT + 10, took
    line = assert_failed_closed(users, d, r)
    assert "timeout" in line.lower() or "timed out" in line, line


def test_helper_that_never_answers_is_killed(tls_pairs, users, daemon_factory):
    """A helper that neither answers nor ends (here stopped with SIGSTOP
    while the hub stalls; a helper taken over could simply hang): jitsud
    must not wait on it past the call's timeout plus 5 s. It kills the
    helper, logs it, and refuses."""
    cert, key, fp = tls_pairs[0]
    gate = threading.Event()

    def stall(h):
        gate.wait(SUBMIT_TIMEOUT + 30)

    with FakeHub(cert, key, {SUBMIT: (stall, None)}) as fake:
        d = enrolled(fake, fp, daemon_factory)
        c = Client(users["alice"], ["id", "-u"], d)
        helpers = poll_until(lambda: SUBMIT in fake.seen and [
            p for p, n in descendants(d.proc.pid).items() if n == "jitsu-hubcall"], 10,
            "the submit's jitsu-hubcall")
        os.kill(helpers[0], signal.SIGSTOP)
        t0 = time.monotonic()
        status, out, err = c.finish(timeout=SUBMIT_TIMEOUT + 30)
        took = time.monotonic() - t0
        gate.set()
    assert SUBMIT_TIMEOUT < took < SUBMIT_TIMEOUT + 5 + 5, took
    assert (status, out) == (1, b""), (status, out, err)
    line = err.decode().splitlines()[-1]
    assert line.endswith("jitsu-hubcall gave no answer within %d s" % (SUBMIT_TIMEOUT + 5)), line
    want = "jitsu-hubcall: no answer within %d ms: killed" % ((SUBMIT_TIMEOUT + 5) * 1000)
    assert want in d.read_log(), d.read_log()[-3000:]
    assert not os.path.exists("/proc/%d" % helpers[0])
    assert not [a for a in audit_records(d) if a["event"] == "start"]
    wait_no_sessions(d)
    assert_no_helpers(d)
    assert_safe_after(users, d)


# ---- a TLS stream cut short -------------------------------------------------

def _cut_answer(h):
    """Headers promising 4 KiB, 40 bytes of an approval, then the TCP
    connection closed without a TLS close_notify."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", "4096")
    h.end_headers()
    h.wfile.write(b'{"id":"%s","state":"approved","decisi' % RID.encode())
    h.wfile.flush()
    h.close_connection = True
    h.connection.shutdown(socket.SHUT_RDWR)


@pytest.mark.parametrize("where", ["submit", "wait"])
def test_truncated_tls_answer(tls_pairs, users, daemon_factory, where):
    """TLS truncation (Smyth and Pironti's truncation attacks, 2013, and
    the "cookie cutter" attack, 2014: a client that takes a stream cut
    without close_notify for a complete answer): the answer is
    cut inside its body and the connection dropped without close_notify.
    What arrived spells "approved"; it must not count."""
    cert, key, fp = tls_pairs[0]
    routes = {SUBMIT: (201, _pending())}
    routes[SUBMIT if where == "submit" else WAIT] = (_cut_answer, None)
    with FakeHub(cert, key, routes) as fake:
        d = enrolled(fake, fp, daemon_factory)
        r = jitsu(users["alice"], ["id", "-u"], d, timeout=60)
        assert (WAIT in fake.seen) == (where == "wait"), fake.seen
    assert_failed_closed(users, d, r)


class HalfHandshake:
    """A TCP server on port that reads the ClientHello and answers with the
    first bytes of a ServerHello record, then closes."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.accepted += 1
            with c:
                c.settimeout(5)
                try:
                    c.recv(4096)
                    # handshake record, TLS 1.2, 122 bytes announced; 9 sent
                    c.sendall(b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76")
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def test_truncated_tls_handshake(tls_pairs, users, daemon_factory):
    """The hub's address answers with half a TLS handshake and hangs up (a
    network attacker resetting the link, or a port taken over): the
    helper must report a failed connection, and jitsud refuse."""
    cert, key, fp = tls_pairs[0]
    with FakeHub(cert, key, {}) as fake:
        d = enrolled(fake, fp, daemon_factory)
        port = fake.server.server_address[1]
    half = HalfHandshake(port)
    try:
        r = jitsu(users["alice"], ["id", "-u"], d, timeout=60)
        assert half.accepted >= 1
    finally:
        half.close()
    line = assert_failed_closed(users, d, r)
    assert "hub" in line, line


# ---- the client killed while it waits for approval ---------------------------

def test_client_killed_while_waiting_for_approval(flow):
    """SIGKILL to the client mid-approval (it cannot cancel in its own
    signal handler, unlike Ctrl-C): the request left pending at the hub
    could be approved later and run with nobody watching, the classic
    "abandoned session" hole. jitsud must see the socket close, cancel the
    request at the hub, record it, end the session and its helper, and
    serve on; a late approval must be refused by the hub."""
    c = flow.client("id", "-u")
    rid = c.request_id()
    # the long-poll's helper starts right after the status line
    helpers = poll_until(lambda: [p for p, n in descendants(flow.daemon.proc.pid).items()
                                  if n == "jitsu-hubcall"], 10, "the long-poll's jitsu-hubcall")
    # ... and waits for the hub under its seccomp filter (hubcall_sandbox.h)
    assert poll_until(lambda: seccomp_mode(helpers[0]) == "2", 10, "the helper's filter")
    os.killpg(c.p.pid, signal.SIGKILL)
    c.p.wait(10)
    q = flow.ctl.wait_state(rid, "cancelled")
    assert q["decisions"] == []
    r = flow.ctl.run("approve", rid, token=flow.bob)
    assert r.returncode == 1 and "request_not_pending" in r.stderr, r.stderr
    deadline = time.monotonic() + 10
    while True:
        states = [a["state"] for a in audit_records(flow.daemon)
                  if a["event"] == "approval" and a.get("request_id") == rid]
        if states != ["submitted"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert states == ["submitted", "cancelled"], states
    assert not [a for a in audit_records(flow.daemon) if a["event"] == "start"]
    wait_no_sessions(flow.daemon)
    assert_no_helpers(flow.daemon)
    assert_safe_after(flow.users, flow.daemon, refused=["id", "-u"])


def _refused_after_helper_died(flow, c, rid):
    """The client's one refusal line, the trail's "failed", and nothing run
    even if the request is approved at the hub afterwards."""
    status, out, err = c.finish(timeout=15)
    assert (status, out) == (1, b""), (status, out, err)
    lines = err.decode().splitlines()
    assert lines[-1].startswith("jitsu: approval failed, refusing: "), lines
    assert all(x.startswith("jitsu: waiting for approval") for x in lines[:-1]), lines
    states = [a["state"] for a in audit_records(flow.daemon)
              if a["event"] == "approval" and a.get("request_id") == rid]
    assert states == ["submitted", "failed"], states
    if flow.ctl.request(rid)["state"] == "pending":
        flow.ctl.ok("approve", rid, token=flow.bob)
    assert not [a for a in audit_records(flow.daemon) if a["event"] == "start"]
    wait_no_sessions(flow.daemon)
    assert_no_helpers(flow.daemon)
    assert_safe_after(flow.users, flow.daemon, refused=["id", "-u"])
    return lines[-1]


def test_helper_killed_mid_wait_fails_closed(flow):
    """The hub helper dies of SIGSYS while it waits, sent by another
    process (another process of the privsep user could: a known gap in the
    threat model). jitsud must log how it died, refuse with one line,
    record the failure, and serve on; nothing runs, even if the request is
    approved at the hub afterwards. A SIGSYS its filter did not raise
    names no system call."""
    c = flow.client("id", "-u")
    rid = c.request_id()
    helpers = poll_until(lambda: [p for p, n in descendants(flow.daemon.proc.pid).items()
                                  if n == "jitsu-hubcall"], 10, "the long-poll's jitsu-hubcall")
    os.kill(helpers[0], signal.SIGSYS)
    line = _refused_after_helper_died(flow, c, rid)
    want = "jitsu-hubcall killed by SIGSYS, its seccomp filter's signal (no system call reported)"
    assert line.endswith(want), line
    assert want in flow.daemon.read_log(), flow.daemon.read_log()[-3000:]


@pytest.mark.skipif(platform.machine() != "x86_64", reason="register layout is x86_64's")
def test_helper_seccomp_violation_is_logged_by_name(flow):
    """A real violation: as root, the test makes the waiting helper execute
    kill(1, 0) (what code a hostile hub got to run there might try), at the
    `syscall` instruction of its blocked poll. The call never runs; the
    helper dies of SIGSYS after reporting it; jitsud logs the call by name,
    the user's refusal says so, and the daemon serves on."""
    c = flow.client("id", "-u")
    rid = c.request_id()
    helpers = poll_until(lambda: [p for p, n in descendants(flow.daemon.proc.pid).items()
                                  if n == "jitsu-hubcall"], 10, "the long-poll's jitsu-hubcall")
    assert poll_until(lambda: seccomp_mode(helpers[0]) == "2", 10, "the helper's filter")
    SYS_KILL = 62  # x86_64
    if not poll_until(lambda: force_syscall(helpers[0], SYS_KILL, (1, 0, 0)), 10,
                      "the helper blocked at a syscall instruction"):
        pytest.skip("the helper is not blocked at a syscall instruction")
    line = _refused_after_helper_died(flow, c, rid)
    want = "jitsu-hubcall killed by its seccomp filter (SIGSYS): system call kill"
    assert line.endswith(want), line
    assert want in flow.daemon.read_log(), flow.daemon.read_log()[-3000:]


# ---- enrollment: the network step is not root's ------------------------------

def _client_of(port):
    """(uid, Seccomp mode) of the process holding the TCP connection from
    127.0.0.1:port, as /proc/net/tcp and /proc/*/fd show it."""
    want = "0100007F:%04X" % port
    inode = uid = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            col = line.split()
            if col[1] == want:
                uid, inode = int(col[7]), col[9]
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            for fd in os.listdir("/proc/%s/fd" % p):
                if os.readlink("/proc/%s/fd/%s" % (p, fd)) == "socket:[%s]" % inode:
                    return uid, seccomp_mode(int(p))
        except OSError:
            continue
    return uid, None


def test_enrollment_runs_as_the_privsep_user_under_the_filter(tls_pairs, users,
                                                             daemon_factory):
    """jitsud --enroll runs as root, but the TLS exchange with the hub (a
    parser of hostile input) must not: the hub sees a client that is the
    privsep user, under its seccomp filter; root only writes hub.conf."""
    cert, key, fp = tls_pairs[0]
    seen = []

    def answer(h):
        seen.append(_client_of(h.client_address[1]))
        body = b'{"endpoint_id": "0123456789abcdef", "credential": "%s"}' % (b"ab" * 32)
        h.send_response(201)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    with FakeHub(cert, key, {("POST", "/api/v1/enroll"): (answer, None)}) as fake:
        d = daemon_factory(POLICY, start=False)
        r = enroll(fake, d.state, TOKEN, fingerprint=fp)
        assert r.returncode == 0, r.stderr
    assert seen == [(pwd.getpwnam(it.PRIVSEP_USER).pw_uid, "2")], seen
    st = os.stat(os.path.join(d.state, "hub.conf"))
    assert (st.st_uid, st.st_mode & 0o777) == (0, 0o600)


def test_enrollment_refuses_a_forged_identity(tls_pairs, users, daemon_factory):
    """An enrollment answer whose endpoint id or credential is not the
    hub's hex (a header injection into every later call) is refused by
    root, and nothing is written."""
    cert, key, fp = tls_pairs[0]
    forged = {"endpoint_id": "0123456789abcdef", "credential": "ab\r\nX-Evil: 1"}
    with FakeHub(cert, key, {("POST", "/api/v1/enroll"): (201, forged)}) as fake:
        d = daemon_factory(POLICY, start=False)
        r = enroll(fake, d.state, TOKEN, fingerprint=fp)
    assert r.returncode == 1, r
    assert r.stderr.splitlines() == [
        "jitsud: enrollment failed: hub sent a malformed enrollment answer"], r.stderr
    assert not os.path.exists(os.path.join(d.state, "hub.conf"))


def test_enrollment_without_the_privsep_user_refuses(tls_pairs, users, daemon_factory):
    """No privsep user, no enrollment: one line, no fallback to root, and
    the hub never sees a connection."""
    cert, key, fp = tls_pairs[0]
    with FakeHub(cert, key, {}) as fake:
        d = daemon_factory(POLICY, start=False)
        name = it.PRIVSEP_USER + "x"
        cmd = [it.JITSUD, "-d", d.state, "--privsep-user", name, "--enroll", fake.url, TOKEN,
               "--fingerprint", fp]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL, start_new_session=True)
        assert fake.seen == []
    assert r.returncode == 1, r
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "privsep user '%s' does not exist" % name in lines[0], lines
    assert not os.path.exists(os.path.join(d.state, "hub.conf"))
