"""Privilege separation: every client message is read and decoded by an
unprivileged, seccomp-filtered child of the connection process, and a
failing child costs only its own connection.

(a) the parsing process of a connection held open mid-request runs as the
    privsep user, without groups or capabilities, with NoNewPrivs=1 and
    Seccomp=2 (filter mode), holding nothing but the channel and the client;
(b) a child killed with SIGKILL (mid-request and mid-run) ends only that
    connection: the client gets one error line, the trail records it, the
    other connections and the daemon go on;
(c) a real seccomp violation: as root, the test makes the child execute a
    forbidden system call (a compromised child would), through ptrace at
    the instruction of its blocked poll(); the call never runs, the daemon
    logs the call by name, kills only that connection and keeps serving.
"""
import ctypes
import os
import platform
import pwd
import signal
import socket
import subprocess
import time

import pytest

from conftest import (assert_safe_after, audit_records, connect, jitsu, poll_until, rp, unmet)
from test_badinput import (StdFds, _exec, _listen_inode, busy_children, daemon_children,
                           read_line, wait_no_sessions)

import jitsu_it_conftest as it

POLICY = "permit {alice} as root\npermit {bob} as root\n"


@pytest.fixture
def daemon(daemon_factory):
    return daemon_factory(POLICY)


@pytest.fixture
def fds():
    f = StdFds()
    yield f
    f.close()


def status(pid):
    """/proc/<pid>/status as {field: value}."""
    with open("/proc/%s/status" % pid) as f:
        return dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)


def children(pid):
    kids = set()
    for tid in os.listdir("/proc/%s/task" % pid):
        with open("/proc/%s/task/%s/children" % (pid, tid)) as f:
            kids.update(f.read().split())
    return kids


def privsep_child_of(session_pid):
    """The connection process's one child running as the privsep user."""
    uid = pwd.getpwnam(it.PRIVSEP_USER).pw_uid
    found = []
    for k in children(session_pid):
        try:
            if int(status(k)["Uid"].split()[0]) == uid:
                found.append(k)
        except FileNotFoundError:
            pass
    return found[0] if len(found) == 1 else None


def held_mid_request(users, daemon, fds, who="alice", before=()):
    """A connection whose request is only half sent; returns it with the
    pid of its connection process and of that process's privsep child."""
    s = connect(users, daemon, who)
    msg = _exec(["sh", "-c", "echo RAN"])
    rp.send(s, msg[:40], fds.all)
    session = poll_until(lambda: busy_children(daemon) - set(before), 10,
                         "a connection process for the held connection")
    assert len(session) == 1, session
    session = session.pop()
    child = poll_until(lambda: privsep_child_of(session), 10, "its unprivileged child")
    # The child takes the client's socket (beside the channel) only from
    # its loop, under its filter: from then on it is the process reading.
    poll_until(lambda: sockets_of(child) == 2, 10, "the child to hold the client's socket")
    return s, msg, session, child


def sockets_of(pid):
    n = 0
    for fd in os.listdir("/proc/%s/fd" % pid):
        try:
            n += os.readlink("/proc/%s/fd/%s" % (pid, fd)).startswith("socket:")
        except FileNotFoundError:
            pass
    return n


def test_parsing_child_is_unprivileged_and_filtered(users, daemon, fds):
    pw = pwd.getpwnam(it.PRIVSEP_USER)
    s, _, session, child = held_mid_request(users, daemon, fds)
    with s:
        st = status(child)
        assert st["Uid"].split() == [str(pw.pw_uid)] * 4, st["Uid"]
        assert st["Gid"].split() == [str(pw.pw_gid)] * 4, st["Gid"]
        assert st["Groups"].strip() == ""
        assert st["NoNewPrivs"] == "1"
        assert st["Seccomp"] == "2"
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(st[cap], 16) == 0, (cap, st[cap])
        # Nothing of the daemon's: /dev/null as 0-2, then only sockets and
        # what the client itself sent with its request (here its stdio
        # and cwd); no audit file, no state, no listening socket.
        fds = {fd: os.readlink("/proc/%s/fd/%s" % (child, fd))
               for fd in os.listdir("/proc/%s/fd" % child)}
        assert [fds[f] for f in ("0", "1", "2")] == ["/dev/null"] * 3, fds
        listen = "socket:[%s]" % _listen_inode(daemon)
        for fd, target in fds.items():
            assert target != listen and not target.startswith(daemon.dir), (fd, target)
        assert status(session)["Uid"].split()[0] == "0"
        # The spares waiting for the next clients have their child already
        # (the spare pair): no fork on the request's path.
        spares = daemon_children(daemon) - busy_children(daemon)
        assert spares
        for sp in spares:
            poll_until(lambda: privsep_child_of(sp), 10, "the spare's unprivileged child")
    wait_no_sessions(daemon)
    assert_safe_after(users, daemon)


def test_killed_child_mid_request_ends_only_that_connection(users, daemon, fds):
    daemon.expect_child_faults = True  # killed on purpose, below
    other_fds = StdFds()
    try:
        s1, _, session1, child1 = held_mid_request(users, daemon, fds)
        s2, msg2, session2, _ = held_mid_request(users, daemon, other_fds, who="bob",
                                                   before={session1})
        with s1, s2:
            os.kill(int(child1), signal.SIGKILL)
            msgs = rp.recv_all(s1)
            assert [m.type for m in msgs] == [rp.ERROR], msgs
            code, text = msgs[0].error()
            assert code == rp.E_INTERNAL, text
            assert "unprivileged process failed" in text and "\n" not in text
            poll_until(lambda: session1 not in busy_children(daemon), 10,
                       "the connection process to end")
            # The other connection, held mid-request all along, completes.
            rp.send(s2, msg2[40:])
            other_fds.close_write_ends()
            m = rp.recv(s2)
            assert m.type == rp.STARTED, m
            m = rp.recv(s2)
            assert (m.type, m.u32x2()) == (rp.EXIT, (0, 0)), m
            rp.send(s2, rp.frame(rp.BYE))
        assert read_line(other_fds.out_r) == b"RAN\n"
    finally:
        other_fds.close()
    log = daemon.read_log()
    assert "unprivileged child %s died of signal 9" % child1 in log, log[-3000:]
    recs = [r for r in audit_records(daemon) if r.get("event") == "privsep"]
    assert len(recs) == 1, recs
    assert recs[0]["child_pid"] == int(child1) and recs[0]["why"] == "died of signal 9"
    assert recs[0]["user"] == users["alice"]
    wait_no_sessions(daemon)
    assert_safe_after(users, daemon)


RUNNING = "trap 'echo hup > %s; exit 0' HUP; echo ready; while :; do sleep 0.05; done"


def test_killed_child_mid_run_hangs_up_on_the_command(users, daemon, fds, workdir):
    daemon.expect_child_faults = True  # killed on purpose, below
    marker = os.path.join(workdir, "hup")
    with connect(users, daemon) as s:
        rp.send(s, _exec(["sh", "-c", RUNNING % marker]), fds.all)
        fds.close_write_ends()
        m = rp.recv(s)
        assert m.type == rp.STARTED, m
        assert read_line(fds.out_r) == b"ready\n"
        session = poll_until(lambda: busy_children(daemon), 10, "the connection process")
        child = poll_until(lambda: privsep_child_of(session.pop()), 10, "its child")
        os.kill(int(child), signal.SIGKILL)
        # As if the client had vanished: the command is hung up on.
        poll_until(lambda: os.path.exists(marker), 10, "the command's SIGHUP")
        assert rp.recv_all(s) == []
    wait_no_sessions(daemon)
    recs = audit_records(daemon)
    assert [r["why"] for r in recs if r.get("event") == "privsep"] == ["died of signal 9"]
    assert [r["event"] for r in recs if r.get("event") in ("start", "exit")] == ["start", "exit"]
    assert_safe_after(users, daemon)


# ---- (c) a real seccomp violation, injected with ptrace ----------------------

PTRACE_PEEKTEXT, PTRACE_GETREGS, PTRACE_SETREGS = 1, 12, 13
PTRACE_ATTACH, PTRACE_DETACH = 16, 17
SYS_SOCKET = 41  # x86_64


class Regs(ctypes.Structure):  # struct user_regs_struct, x86_64
    _fields_ = [(n, ctypes.c_ulonglong) for n in (
        "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx",
        "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base",
        "gs_base", "ds", "es", "fs", "gs")]


def force_syscall(pid, nr, args):
    """Makes the stopped-in-poll process pid execute syscall nr(args) next,
    at the `syscall` instruction it is blocked behind. Returns False if the
    process is not where that can be done."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) < 0:
        unmet("ptrace: %s" % os.strerror(ctypes.get_errno()))
    try:
        _, st = os.waitpid(pid, 0x40000000)  # __WALL
        assert os.WIFSTOPPED(st), st
        regs = Regs()
        assert libc.ptrace(PTRACE_GETREGS, pid, None, ctypes.byref(regs)) == 0
        if regs.orig_rax not in (7, 271):  # blocked in poll or ppoll
            return False
        ctypes.set_errno(0)
        word = libc.ptrace(PTRACE_PEEKTEXT, pid, ctypes.c_void_p(regs.rip - 2), None)
        if (word & 0xFFFF) != 0x050F:  # `syscall`
            return False
        regs.rip -= 2
        regs.rax = nr
        regs.orig_rax = 0xFFFFFFFFFFFFFFFF  # no restart of the interrupted poll
        regs.rdi, regs.rsi, regs.rdx = args
        assert libc.ptrace(PTRACE_SETREGS, pid, None, ctypes.byref(regs)) == 0
        return True
    finally:
        libc.ptrace(PTRACE_DETACH, pid, None, None)


@pytest.mark.skipif(platform.machine() != "x86_64", reason="register layout is x86_64's")
def test_seccomp_violation_kills_only_that_connection(users, daemon, fds):
    daemon.expect_child_faults = True  # made to break its filter, below
    s, _, session, child = held_mid_request(users, daemon, fds)
    with s:
        if not force_syscall(int(child), SYS_SOCKET, (socket.AF_INET, socket.SOCK_STREAM, 0)):
            unmet("the child is not blocked at a syscall instruction")
        msgs = rp.recv_all(s)
        assert [m.type for m in msgs] == [rp.ERROR], msgs
        code, text = msgs[0].error()
        assert code == rp.E_INTERNAL and "unprivileged process failed" in text
    poll_until(lambda: not os.path.exists("/proc/%s" % child), 10, "the child to be gone")
    log = daemon.read_log()
    want = "unprivileged child %s broke its seccomp filter: system call socket" % child
    assert want in log, log[-3000:]
    recs = [r for r in audit_records(daemon) if r.get("event") == "privsep"]
    assert [r["why"] for r in recs] == ["broke its seccomp filter: system call socket"]
    wait_no_sessions(daemon)
    assert_safe_after(users, daemon)


def test_no_new_connection_processes_leak(users, daemon, fds):
    """After many short connections, only the spare pairs remain: every
    connection's child was reaped with it."""
    for _ in range(20):
        assert jitsu(users["alice"], ["true"], daemon).returncode == 0
    wait_no_sessions(daemon)
    uid = pwd.getpwnam(it.PRIVSEP_USER).pw_uid

    def privsep_processes():
        n = 0
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    if int(status(p)["Uid"].split()[0]) == uid and status(p)["State"][0] != "Z":
                        n += 1
                except (FileNotFoundError, ProcessLookupError, KeyError):
                    pass
        return n

    # Two spares, one child each.
    poll_until(lambda: privsep_processes() == 2, 10, "only the spare pairs' children")


def test_missing_privsep_user_refuses_to_start(users, workdir):
    """No privsep user, no daemon: one line that says how to create it."""
    d = it.Daemon(workdir, POLICY)
    name = it.PRIVSEP_USER + "x"
    r = subprocess.run([it.JITSUD, "-f", "-c", d.policy, "-S", d.socket, "-d", d.state,
                        "--privsep-user", name], capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert "privsep user '%s' does not exist" % name in lines[0]
    assert "useradd --system" in lines[0]
    assert not os.path.exists(d.socket)
    # Root as the privsep user is refused the same way.
    r = subprocess.run([it.JITSUD, "-f", "-c", d.policy, "-S", d.socket, "-d", d.state,
                        "--privsep-user", "root"], capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and b"must not have uid or gid 0" in r.stderr, r
