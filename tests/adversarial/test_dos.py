"""Denial of service from an unprivileged user on the 0666 socket: connection
floods, slowloris, a daemon short of descriptors, and a request dribbled
past its deadline.

Already covered elsewhere and not repeated: 50 idle connections and 300
concurrent clients (test_badinput), truncated frames and vanishing clients
(test_badinput).
"""
import os
import select
import socket
import subprocess
import sys
import time

import pytest

from conftest import (assert_safe_after, connect, jitsu, poll_until, rp, run_as, user_ids)
from test_badinput import busy_children, wait_no_sessions

POLICY = "permit {alice} as root\n"


@pytest.fixture
def daemon(daemon_factory):
    return daemon_factory(POLICY)


FLOOD = r"""
import socket, sys
path, n = sys.argv[1], int(sys.argv[2])
ok = 0
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(path)
        ok += 1
    except OSError:
        pass
    s.close()
print(ok)
"""


def test_connect_close_flood(users, daemon):
    """SYN-flood-like churn on a local socket (the class behind many daemon
    fork-bomb/exhaustion bugs, e.g. CVE-2019-3462-era apt and polkit D-Bus
    connection floods): 2,000 connections opened and closed as fast as a
    user can. jitsud must neither die nor leak connection processes, and
    serve normally afterwards."""
    t0 = time.monotonic()
    r = run_as(users["bob"], [sys.executable, "-c", FLOOD, daemon.socket, "2000"], timeout=50)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == 2000, r.stdout
    assert time.monotonic() - t0 < 50
    assert daemon.proc.poll() is None, daemon.read_log()[-2000:]
    # Until the backlog of the flood is served, not a gap between two of
    # its connections.
    wait_no_sessions(daemon, timeout=30, quiet=0.3)
    t0 = time.monotonic()
    assert_safe_after(users, daemon)
    assert time.monotonic() - t0 < 5


SLOWLORIS = r"""
import socket, struct, sys, time
path, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# A well-formed header announcing a 1000-byte exec request, then its payload,
# one byte per connection every 100 ms.
data = b"JTSU" + bytes([1, 1, 0, 0]) + struct.pack(">I", 1000) + b"\0" * 1000
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    socks.append(s)
print("connected", flush=True)
sent = 0
for i in range(rounds):
    t = time.monotonic()
    for s in socks:
        try:
            s.send(data[i:i + 1])
            sent += 1
        except OSError:
            pass
    time.sleep(max(0, 0.1 - (time.monotonic() - t)))
print("sent", sent, flush=True)
"""


def test_slowloris_does_not_starve_others(users, daemon):
    """Slowloris (CVE-2007-6750 in Apache httpd): 200 connections each
    trickling one byte of a request every 100 ms for ~3 s. Other clients
    must be served promptly (< 1 s each) meanwhile, and the daemon must
    survive and release the connections."""
    uid, gid, extra = user_ids(users["bob"])
    p = subprocess.Popen([sys.executable, "-c", SLOWLORIS, daemon.socket, "200", "30"],
                         user=uid, group=gid, extra_groups=extra, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        r, _, _ = select.select([p.stdout], [], [], 20)
        assert r and p.stdout.readline() == b"connected\n", p.stderr.read() if not r else b""
        times = []
        while p.poll() is None and len(times) < 20:
            t0 = time.monotonic()
            r = jitsu(users["alice"], ["true"], daemon, timeout=10)
            times.append(time.monotonic() - t0)
            assert r.returncode == 0, r.stderr
        assert times and max(times) < 1.0, times
        out, err = p.communicate(timeout=20)
        assert p.returncode == 0, err
        assert out.startswith(b"sent "), out
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    wait_no_sessions(daemon, timeout=15)
    assert_safe_after(users, daemon)


def test_request_dribbled_past_the_deadline_is_cut(users, daemon):
    """Slowloris against the request deadline: one byte of a valid request
    every 0.9 s. The threat model promises a 10 s receive deadline in
    session_serve, so by 11.5 s the daemon must have answered with a
    protocol error ("request timed out") and closed."""
    s = connect(users, daemon, timeout=1.0)
    data = rp.header(rp.REQ_EXEC, 1000) + b"\0" * 1000
    t0 = time.monotonic()
    answered = False
    try:
        i = 0
        while time.monotonic() - t0 < 11.5:
            try:
                s.send(data[i:i + 1])
            except OSError:
                answered = True
                break
            i += 1
            r, _, _ = select.select([s], [], [], 0.9)
            if r:
                answered = True
                break
    finally:
        s.close()
    assert daemon.proc.poll() is None
    assert answered, "the connection was still open after %.1f s" % (time.monotonic() - t0)


def test_daemon_with_few_descriptors(users, daemon_factory):
    """Descriptor exhaustion (accept() EMFILE busy loops, e.g. in
    systemd-journald/dbus-daemon class bugs): jitsud runs with
    RLIMIT_NOFILE 64 and a user holds 100 idle connections. New clients are
    served or get a clear one-line error, the daemon survives, and once the
    idle connections close everything is served again."""
    d = daemon_factory(POLICY)
    subprocess.run(["prlimit", "--pid", str(d.proc.pid), "--nofile=64:64"], check=True)
    # New connection processes inherit the limit; retire the spares forked
    # before it by reloading (a new generation of spares is forked).
    d.reload()
    idle = []
    try:
        for _ in range(100):
            idle.append(connect(users, d))
        poll_until(lambda: len(busy_children(d)) >= 100, 15, "100 connection processes")
        for _ in range(3):
            t0 = time.monotonic()
            r = jitsu(users["alice"], ["true"], d, timeout=20)
            if r.returncode != 0:
                lines = r.stderr.decode(errors="replace").strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("jitsu:"), r.stderr
            assert time.monotonic() - t0 < 5
        assert d.proc.poll() is None, d.read_log()[-2000:]
    finally:
        for s in idle:
            s.close()
    wait_no_sessions(d, timeout=20)
    with open("/proc/%d/limits" % d.proc.pid) as f:
        assert any(l.startswith("Max open files") and " 64 " in l for l in f), "limit not applied"
    assert_safe_after(users, d)
