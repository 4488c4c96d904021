"""Denial of service from an unprivileged user on the 0666 socket: connection
floods, slowloris, a daemon short of descriptors, and a request dribbled
past its deadline.

Already covered elsewhere and not repeated: 50 idle connections and 300
concurrent clients (test_badinput), truncated frames and vanishing clients
(test_badinput).
"""
import os
import resource
import select
import socket
import subprocess
import sys
import time

import pytest

from conftest import (JITSU, assert_safe_after, audit_records, connect, jitsu, poll_until, rp,
                      run_as, user_ids)
from test_badinput import _listen_inode, busy_children, daemon_children, wait_no_sessions

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
    trickling one byte of a request every 100 ms for ~8 s. Other clients
    must be served meanwhile, each well before the attack ends (a starved
    client waits for the attack's connections to go: 8 s here, the 10 s
    request deadline at worst), and the daemon must survive and release
    the connections. The 3 s bound leaves room for a loaded sanitizer run."""
    uid, gid, extra = user_ids(users["bob"])
    p = subprocess.Popen([sys.executable, "-c", SLOWLORIS, daemon.socket, "200", "80"],
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
        assert times and max(times) < 3.0, times
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
    protocol error ("request timed out") and closed. A bare EOF is not an
    answer: the client must be told why. No request was ever decoded, so the
    trail holds none (it must still verify); the refusal is in the log."""
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
        took = time.monotonic() - t0
        s.settimeout(5)
        msgs = rp.recv_all(s) if answered else []
    finally:
        s.close()
    assert daemon.proc.poll() is None
    assert answered, "the connection was still open after %.1f s" % took
    assert [m.type for m in msgs] == [rp.ERROR], msgs
    code, text = msgs[0].error()
    assert (code, text) == (rp.E_PROTOCOL, "protocol error: request timed out"), (code, text)
    assert "protocol error: request timed out" in daemon.read_log()
    assert not [r for r in audit_records(daemon) if r["event"] == "request"]
    assert_safe_after(users, daemon)


def spares(daemon):
    """The daemon's children waiting to accept: those holding the listening
    socket."""
    want = "socket:[%s]" % _listen_inode(daemon)
    found = set()
    for pid in daemon_children(daemon):
        try:
            if any(os.readlink("/proc/%s/fd/%s" % (pid, fd)) == want
                   for fd in os.listdir("/proc/%s/fd" % pid)):
                found.add(int(pid))
        except (FileNotFoundError, ProcessLookupError):
            pass
    return found


def in_poll(pid):
    try:
        with open("/proc/%d/wchan" % pid) as f:
            return "poll" in f.read()
    except FileNotFoundError:
        return False


def cpu_seconds(pid):
    """utime + stime of pid, from /proc/<pid>/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lowest_free_fd(pid):
    used = {int(fd) for fd in os.listdir("/proc/%d/fd" % pid)}
    return min(set(range(len(used) + 1)) - used)


def test_accepting_process_out_of_descriptors(users, daemon_factory):
    """Descriptor exhaustion where it hurts (accept() EMFILE busy loops, the
    systemd-journald/dbus-daemon class of bugs): the processes that accept
    run out of descriptors while a client waits in the backlog. accept()
    fails with EMFILE and leaves the client queued, so a process that simply
    polls again spins at full CPU. jitsud's spares must say so once and rest;
    once descriptors return, the waiting client is served, later ones too,
    and the trail verifies with the request recorded."""
    d = daemon_factory(POLICY)
    # Both spares done setting up (their unprivileged child forked, the
    # audit file attached) and blocked in their poll() for a client.
    waiting = poll_until(lambda: len(spares(d)) == 2 and all(map(in_poll, spares(d)))
                         and spares(d), 10, "the two spares waiting for clients")
    # Each spare's soft limit at its lowest free descriptor: the next
    # descriptor it would get, the accepted connection, is out of reach.
    saved = {}
    for pid in waiting:
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        saved[pid] = (soft, hard)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free_fd(pid), hard))
    cpu0 = {pid: cpu_seconds(pid) for pid in waiting}
    uid, gid, extra = user_ids(users["alice"])
    client = subprocess.Popen(
        [JITSU, "echo", "served"], user=uid, group=gid, extra_groups=extra, cwd="/",
        env={"PATH": "/usr/bin:/bin", "JITSU_SOCKET": d.socket},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        poll_until(lambda: "cannot accept a connection: Too many open files" in d.read_log(),
                   10, "a spare to hit EMFILE: %s" % d.read_log())
        t0 = time.monotonic()
        poll_until(lambda: time.monotonic() - t0 >= 2.0, 3, "two seconds out of descriptors")
        assert client.poll() is None, client.communicate()
        for pid in waiting:
            used = cpu_seconds(pid) - cpu0[pid]
            assert used < 0.3, "spare %d used %.2f s of CPU in 2 s: it spins" % (pid, used)
        assert d.read_log().count("cannot accept a connection") <= len(waiting), d.read_log()
        # Descriptors come back: the queued client is served.
        for pid, lim in saved.items():
            resource.prlimit(pid, resource.RLIMIT_NOFILE, lim)
        out, err = client.communicate(timeout=20)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert client.returncode == 0 and out == b"served\n", (client.returncode, out, err)
    assert d.proc.poll() is None, d.read_log()[-2000:]
    wait_no_sessions(d, timeout=20)
    recs = audit_records(d)
    assert any(r["event"] == "request" and r.get("argv") == ["echo", "served"] for r in recs), recs
    assert any(r["event"] == "exit" for r in recs), recs
    assert_safe_after(users, d)
