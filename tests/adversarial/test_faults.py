"""Faults an attacker can cause or wait for: the client killed at each step
of a request, and the audit file system full.

The safe outcome is always the same: nothing runs that the trail does not
show, no process is left behind, the daemon serves the next request, and
`jitsuctl audit verify` accepts the trail.

Covered elsewhere and not repeated: a client vanishing while it sends the
request (test_badinput.test_client_vanishes_mid_request), a client killed
on a terminal (test_tty.test_client_killed_daemon_restores_mode_and_hangs_up),
Ctrl-C while waiting for approval (test_hub_flow.test_ctrl_c_cancels_the_request).
The client killed while waiting for approval is in test_hostile_hub.py.
"""
import errno
import os
import re
import select
import signal
import subprocess
import time

import pytest

from conftest import (JITSU, assert_safe_after, assert_verify_ok, audit_records, jitsu,
                      one_line_error, poll_until, user_ids)
from test_badinput import wait_no_sessions


def spawn(user, args, daemon):
    """jitsu as user, without a terminal, with pipes for its stdio."""
    uid, gid, extra = user_ids(user)
    return subprocess.Popen([JITSU, *args], user=uid, group=gid, extra_groups=extra,
                            env={"JITSU_SOCKET": daemon.socket, "LANG": "C.UTF-8",
                                 "PATH": "/usr/bin:/bin"},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def read_until(f, needle, timeout=15):
    """Reads the pipe f (raw) until needle (bytes, or a compiled bytes
    regex) appears; returns what was read."""
    deadline = time.monotonic() + timeout
    got = b""
    found = needle.search if hasattr(needle, "search") else lambda g: needle in g
    while not found(got):
        left = deadline - time.monotonic()
        assert left > 0, "no %r within %ss: %r" % (needle, timeout, got)
        r, _, _ = select.select([f], [], [], left)
        if r:
            chunk = os.read(f.fileno(), 4096)
            assert chunk, "EOF before %r: %r" % (needle, got)
            got += chunk
    return got


def kill_client(p):
    """SIGKILL, reaped; its pipes closed (the command may still hold them)."""
    p.kill()
    p.wait(10)
    for f in (p.stdin, p.stdout, p.stderr):
        f.close()


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


# ---- the client killed at the MFA prompt ------------------------------------

def test_client_killed_at_the_mfa_prompt(users, daemon_factory):
    """A user (or an attacker holding the session) kills the client while
    jitsud waits for the MFA code, hoping the daemon runs the command
    anyway, or hangs, or leaves a half-written trail (the class of
    authentication steps that can be skipped, e.g. CVE-2018-10933, where
    libssh took a client's word that authentication had succeeded).
    Nothing may run; the trail must say refused;
    the user is not locked out by it; the daemon serves on."""
    from test_mfa import enroll, fresh_step, totp
    d = daemon_factory("permit mfa {alice} cmd /usr/bin/id\npermit {alice} cmd /usr/bin/true\n")
    secret, _, _ = enroll(users["alice"], d)
    for _ in range(3):  # more than the three tries one connection allows
        p = spawn(users["alice"], ["id", "-u"], d)
        read_until(p.stderr, b"MFA code for")
        kill_client(p)
    poll_until(lambda: len([x for x in audit_records(d) if x["event"] == "refused"]) == 3,
               15, "three refused records")
    recs = audit_records(d)
    assert not [x for x in recs if x["event"] == "start"], recs
    assert not [x for x in recs if x["event"] in ("mfa_fail", "mfa_lockout")], recs
    wait_no_sessions(d)
    # A right code still works: killing the prompt cost no tries. (The
    # next step's code: enrollment used this step's, and replays are refused.)
    p = spawn(users["alice"], ["id", "-u"], d)
    out, err = p.communicate(totp(secret, fresh_step() + 30).encode() + b"\n", timeout=30)
    assert (p.returncode, out) == (0, b"0\n"), err
    assert_safe_after(users, d)


def test_client_killed_mid_enrollment(users, daemon_factory):
    """The client is killed after jitsud showed a new TOTP secret and before
    the user confirmed it (a shoulder-surfer saw the QR code, or the
    session was hijacked). The half-done enrollment must not become a
    factor: MFA rules still say "not enrolled", the shown secret's codes
    open nothing, and a new enrollment gets a different secret; the daemon
    serves on."""
    from test_mfa import enroll, fresh_step, totp
    d = daemon_factory("permit mfa {alice} cmd /usr/bin/id\npermit {alice} cmd /usr/bin/true\n")
    p = spawn(users["alice"], ["--enroll-mfa"], d)
    rx = re.compile(rb"by hand: ([A-Z2-7]+)\n")
    leaked = rx.search(read_until(p.stdout, rx)).group(1).decode()
    kill_client(p)
    wait_no_sessions(d)
    p = spawn(users["alice"], ["id", "-u"], d)
    out, err = p.communicate(totp(leaked, fresh_step()).encode() + b"\n", timeout=30)
    assert (p.returncode, out) == (1, b""), (out, err)
    assert b"has not enrolled" in err and b"MFA code for" not in err, err
    secret, _, _ = enroll(users["alice"], d)
    assert secret != leaked
    p = spawn(users["alice"], ["id", "-u"], d)
    out, err = p.communicate(totp(leaked, fresh_step() + 30).encode() + b"\n", timeout=30)
    assert (p.returncode, out) == (1, b""), (out, err)
    assert not [x for x in audit_records(d) if x["event"] == "start"
                and x["binary"] == "/usr/bin/id"]
    assert_safe_after(users, d)


# ---- the client killed while the command runs -------------------------------

RELAY = ("trap %s HUP; echo ready; while [ ! -e %s ]; do sleep 0.05; done; exit 3")


@pytest.mark.parametrize("hup", ["default", "ignored"])
def test_client_killed_mid_relay(users, daemon_factory, workdir, hup):
    """The client is SIGKILLed while the elevated command runs (a user
    closing the session to leave a root process behind unrecorded; the
    session-teardown class of su's CVE-2017-2616, where su's handling of
    its dying child could be raced).
    The command gets SIGHUP: by default it dies of it, and the trail records
    that exit; if it ignores SIGHUP it may finish, and its exit is still
    recorded with its status. Either way no process of the session is left
    once the command has ended, and the daemon serves on."""
    d = daemon_factory("permit {alice} as root\n")
    release = os.path.join(workdir, "release")
    trap = "''" if hup == "ignored" else "-"
    p = spawn(users["alice"], ["sh", "-c", RELAY % (trap, release)], d)
    read_until(p.stdout, b"ready\n")
    (start,) = [x for x in audit_records(d) if x["event"] == "start"]
    pid = start["pid"]
    assert alive(pid)
    kill_client(p)
    if hup == "ignored":
        # Still running, and still the session's: nothing is recorded yet.
        assert alive(pid)
        assert not [x for x in audit_records(d) if x["event"] == "exit"]
        with open(release, "w"):
            pass
    exits = poll_until(lambda: [x for x in audit_records(d) if x["event"] == "exit"], 15,
                       "the exit record")
    assert [x["pid"] for x in exits] == [pid]
    if hup == "ignored":
        assert exits[0].get("status") == 3, exits
    else:
        assert exits[0].get("signal") == signal.SIGHUP, exits
    poll_until(lambda: not alive(pid), 10, "the command to be gone")
    wait_no_sessions(d)
    assert_safe_after(users, d)


# ---- the audit file system full ---------------------------------------------

@pytest.fixture
def small_state(daemon_factory):
    """A daemon whose state directory is a 256 KiB tmpfs; yields (daemon,
    filler path). Unmounted after the daemon stopped."""
    d = daemon_factory("permit {alice} as root\n", start=False)
    os.mkdir(d.state, 0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "jitsu-adv", d.state],
                   check=True)
    try:
        d.start()
        yield d, os.path.join(d.state, "filler")
    finally:
        d.stop()
        subprocess.run(["umount", "-l", d.state], check=False)


def fill(path):
    """Writes to path until the file system is full; returns the bytes written."""
    n = 0
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                n += f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        try:
            while True:
                n += f.write(b"\0")
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    return n


def test_audit_file_system_full(users, small_state, workdir):
    """Filling the audit file system to run commands unrecorded (the log
    exhaustion class, CWE-778: a logger that, once the disk is full,
    carries on without logging). jitsud must refuse with one
    line once a record cannot be written, and run nothing it has not
    recorded; after space is freed it serves again and the trail verifies.
    The last page of the log may still hold a record or two, so requests
    are repeated until one is refused."""
    d, filler = small_state
    assert fill(filler) > 0
    refused = None
    for i in range(30):
        marker = os.path.join(workdir, "ran-%d" % i)
        r = jitsu(users["alice"], ["touch", marker], d, timeout=20)
        if r.returncode != 0:
            refused = (i, r)
            break
        assert os.path.exists(marker)
    assert refused, "30 requests were all recorded on a full file system"
    i, r = refused
    assert r.returncode in (1, 71), (r.returncode, r.stderr)
    line = one_line_error(r.stderr)
    assert "audit" in line, line
    print("refused after %d runs: %s" % (i, line))
    assert not os.path.exists(os.path.join(workdir, "ran-%d" % i)), "ran unrecorded"
    # Still refusing while full; alive meanwhile.
    r = jitsu(users["alice"], ["touch", os.path.join(workdir, "again")], d, timeout=20)
    assert r.returncode != 0 and not os.path.exists(os.path.join(workdir, "again"))
    assert d.proc.poll() is None, d.read_log()[-2000:]
    os.unlink(filler)
    assert_safe_after(users, d)
    starts = [x for x in audit_records(d) if x["event"] == "start"]
    assert len(starts) == i + 1, (i, starts)  # each run before, and the one after
    assert_verify_ok(d)


def test_client_killed_while_suspended(users, daemon_factory, workdir):
    """Ctrl-Z, then the terminal's owner is killed (a closed window with a
    stopped root job, the classic "stopped jobs outlive the session"
    orphan). The stopped command must not linger stopped and unrecorded:
    jitsud hangs it up and continues it (SIGHUP, SIGCONT), its exit is
    recorded, and nothing of the session is left."""
    from ptyhelp import TtyClient
    d = daemon_factory("permit {alice} as root\n")
    c = TtyClient(users["alice"], ["sh", "-c", "echo ready; read x; echo got:$x"], d)
    try:
        c.expect(rb"ready")
        c.send(b"\x1a")
        c.wait_stopped(timeout=5)
        (start,) = [x for x in audit_records(d) if x["event"] == "start"]
        os.kill(c.pid, signal.SIGKILL)
        os.waitpid(c.pid, 0)
        c.status = -1
        exits = poll_until(lambda: [x for x in audit_records(d) if x["event"] == "exit"], 15,
                           "the exit record")
        assert [x["pid"] for x in exits] == [start["pid"]]
        assert exits[0].get("signal") == signal.SIGHUP, exits
        poll_until(lambda: not alive(start["pid"]), 10, "the command to be gone")
        poll_until(lambda: c.mode() == c.orig_mode, 10, "the terminal mode restored")
    finally:
        c.close()
    wait_no_sessions(d)
    assert_safe_after(users, d)
