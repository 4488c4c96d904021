"""Hostile and broken clients: malformed frames, wrong descriptors, floods,
clients that vanish, and argument lists at and past every limit.

The raw clients (rawproto.py) connect as a test user, so the daemon sees an
ordinary unprivileged caller. Every read has a socket timeout, every process
a deadline; after each abuse the daemon must still serve a normal request.
"""
import ctypes
import errno
import os
import select
import socket
import subprocess
import time

import pytest

import rawproto as rp
from conftest import JITSU, jitsu, user_ids

POLICY = "permit {alice} as root\n"
EXIT_USAGE = 64
EXIT_PROTOCOL = 76
ANSWER_TIMEOUT = 5.0  # well under jitsud's 10 s request timeout


@pytest.fixture
def daemon(daemon_factory):
    return daemon_factory(POLICY)


def connect(users, daemon, who="alice"):
    uid, gid, extra = user_ids(users[who])
    return rp.connect_as(daemon.socket, uid, gid, extra, timeout=ANSWER_TIMEOUT)


class StdFds:
    """stdin (/dev/null), stdout and stderr (pipes), cwd (O_PATH of /)."""

    def __init__(self):
        self.stdin = os.open("/dev/null", os.O_RDONLY)
        self.out_r, self.out_w = os.pipe()
        self.err_r, self.err_w = os.pipe()
        self.cwd = os.open("/", os.O_PATH | os.O_DIRECTORY)
        self.all = [self.stdin, self.out_w, self.err_w, self.cwd]

    def close_write_ends(self):
        for fd in (self.stdin, self.out_w, self.err_w, self.cwd):
            try:
                os.close(fd)
            except OSError:
                pass

    def close(self):
        self.close_write_ends()
        for fd in (self.out_r, self.err_r):
            try:
                os.close(fd)
            except OSError:
                pass


def read_to_eof(fd, timeout=10):
    """Everything from a pipe until EOF, under a deadline."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        left = deadline - time.monotonic()
        r, _, _ = select.select([fd], [], [], max(0.0, left))
        assert r, "no EOF within %ss; a writer is still alive (got %r)" % (timeout, data)
        chunk = os.read(fd, 65536)
        if not chunk:
            return data
        data += chunk


@pytest.fixture
def fds():
    f = StdFds()
    yield f
    f.close()


def daemon_children(daemon):
    pid = daemon.proc.pid
    kids = set()
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
            kids.update(f.read().split())
    return kids


def _listen_inode(daemon):
    with open("/proc/net/unix") as f:
        for line in f.read().splitlines()[1:]:
            parts = line.split()
            # Num RefCount Protocol Flags Type St Inode Path; 00010000: listening
            if len(parts) >= 8 and parts[7] == daemon.socket and parts[3] == "00010000":
                return parts[6]
    raise AssertionError("no listening socket at %s" % daemon.socket)


# The daemon's own helpers on an enrolled machine (jitsud(8)): not sessions.
HELPERS = ("jitsud-ship", "jitsud-policy")


def busy_children(daemon):
    """The daemon's children that serve a connection: those that do not
    hold the listening socket (an idle pre-forked spare holds it; a process
    serving a client has let it go), other than its hub helpers."""
    want = "socket:[%s]" % _listen_inode(daemon)
    busy = set()
    for pid in daemon_children(daemon):
        try:
            with open("/proc/%s/comm" % pid) as f:
                if f.read().strip() in HELPERS:
                    continue
            links = [os.readlink("/proc/%s/fd/%s" % (pid, fd))
                     for fd in os.listdir("/proc/%s/fd" % pid)]
        except (FileNotFoundError, ProcessLookupError):
            continue  # gone meanwhile
        if want not in links:
            busy.add(pid)
    return busy


def wait_no_sessions(daemon, timeout=10, quiet=0.0):
    """Every connection the daemon was serving has ended. With quiet, none
    has been served for that many seconds either: connections still queued
    in the listen backlog (a flood) leave only short gaps between sessions."""
    deadline = time.monotonic() + timeout
    idle_since = None
    while True:
        busy = busy_children(daemon)
        now = time.monotonic()
        if busy:
            idle_since = None
        elif idle_since is None:
            idle_since = now
        if idle_since is not None and now - idle_since >= quiet:
            return
        if now >= deadline:
            raise AssertionError("jitsud still serves connections in %s; log:\n%s"
                                 % (busy, daemon.read_log()[-3000:]))
        time.sleep(0.02)


def assert_still_serves(users, daemon):
    assert daemon.proc.poll() is None, daemon.read_log()
    r = jitsu(users["alice"], ["true"], daemon, timeout=20)
    assert r.returncode == 0, (r.stderr, daemon.read_log()[-3000:])


def expect_refusal(sock, code=rp.E_PROTOCOL):
    """The daemon answers with exactly one PROTO_ERROR of class code, then
    closes. Returns the message."""
    t0 = time.monotonic()
    msgs = rp.recv_all(sock, maxfds=1)
    took = time.monotonic() - t0
    for m in msgs:
        m.close_fds()
    assert [m.type for m in msgs] == [rp.ERROR], msgs
    got, text = msgs[0].error()
    assert got == code, text
    assert text and "\n" not in text
    assert took < ANSWER_TIMEOUT
    return text


# ---- malformed frames -------------------------------------------------------

BAD_HEADERS = {
    "bad-magic": rp.frame(rp.REQ_LIST, magic=b"JTSV"),
    "zero-magic": rp.frame(rp.REQ_LIST, magic=b"\0\0\0\0"),
    "version-0": rp.frame(rp.REQ_LIST, version=0),
    "version-2": rp.frame(rp.REQ_LIST, version=2),
    "reserved-6": rp.frame(rp.REQ_LIST, reserved=b"\x01\0"),
    "reserved-7": rp.frame(rp.REQ_LIST, reserved=b"\0\x80"),
    # Over the cap: refused from the header alone, without waiting for a
    # payload that never comes.
    "length-cap+1": rp.header(rp.REQ_EXEC, rp.MAX_PAYLOAD + 1),
    "length-4G": rp.header(rp.REQ_EXEC, 0xFFFFFFFF),
}


@pytest.mark.parametrize("name", sorted(BAD_HEADERS))
def test_bad_header(users, daemon, fds, name):
    with connect(users, daemon) as s:
        rp.send(s, BAD_HEADERS[name], fds.all if name.startswith("length") else ())
        assert "protocol error" in expect_refusal(s)
    wait_no_sessions(daemon)
    assert_still_serves(users, daemon)


def _exec(argv=("sh", "-c", "echo RAN"), **kw):
    return rp.frame(rp.REQ_EXEC, rp.exec_payload(list(argv), **kw))


BAD_EXEC = {
    "garbage": rp.frame(rp.REQ_EXEC, bytes(range(256)) * 4),
    "empty": rp.frame(rp.REQ_EXEC, b""),
    "argc-0": _exec(()),
    "argc-huge": _exec(argc=0xFFFFFFFF),
    "argc-over-cap": _exec(["true"] * (rp.MAX_ARGS + 1)),
    "argc-lies": rp.frame(rp.REQ_EXEC, rp.u32(0) + rp.string("") + rp.string("") +
                          rp.u32(rp.MAX_ARGS) + rp.string("true") + rp.u32(0) +
                          rp.u16(0) + rp.u16(0)),
    "argv0-empty": _exec([""]),
    "argv-nul": _exec(["tr\0ue"]),
    "arg-nul": _exec(["echo", "a\0b"]),
    "target-nul": _exec(target="ro\0ot"),
    "reason-nul": _exec(reason="why\0not"),
    "env-nul": _exec(env=["TERM=xt\0erm"]),
    "target-too-long": _exec(target="r" * (rp.MAX_SHORT + 1)),
    "reason-too-long": _exec(reason="r" * (rp.MAX_SHORT + 1)),
    "env-count-over-cap": _exec(env=["LANG=C"] * (rp.MAX_ENV + 1)),
    "env-string-too-long": _exec(env=["TERM=" + "x" * rp.MAX_ENV_LEN]),
    "arg-over-cap-200k": _exec(["echo", "x" * (200 * 1024)]),
    "arg-cap+1": _exec(["echo", "x" * (rp.MAX_ARG_LEN + 1)]),
    "string-past-end": rp.frame(rp.REQ_EXEC, rp.u32(0) + rp.u32(0x7FFFFFFF) + b"abc"),
    "no-winsize": rp.frame(rp.REQ_EXEC, rp.exec_payload(["true"])[:-4]),
    "trailing-byte": _exec(trailer=b"\0"),
    "unknown-flag": _exec(flags=0x100),
    "reserved-list-flag": _exec(flags=1),
    "whole-mib-of-garbage": rp.frame(rp.REQ_EXEC, b"\xff" * rp.MAX_PAYLOAD),
}


@pytest.mark.parametrize("name", sorted(BAD_EXEC))
def test_malformed_exec(users, daemon, fds, name):
    with connect(users, daemon) as s:
        rp.send(s, BAD_EXEC[name], fds.all)
        fds.close_write_ends()
        assert "protocol error" in expect_refusal(s)
    # Nothing ran: a command would have written to, or at least held, the
    # stdout pipe; all its write ends are closed now.
    assert read_to_eof(fds.out_r) == b""
    wait_no_sessions(daemon)
    assert_still_serves(users, daemon)


def _regular_file():
    return os.open("/etc/hostname", os.O_RDONLY)


@pytest.mark.parametrize("case", ["0-fds", "2-fds", "3-fds", "5-fds", "fd3-file", "fd3-pipe",
                                  "fd3-devnull", "fd3-socket"])
def test_wrong_descriptors(users, daemon, fds, case):
    extra = []
    if case.endswith("-fds"):
        n = int(case[0])
        if n == 5:
            extra = [os.dup(fds.stdin)]
        send_fds = (fds.all + extra)[:n]
    else:
        kind = case.split("-")[1]
        if kind == "file":
            extra = [_regular_file()]
        elif kind == "pipe":
            extra = list(os.pipe())
        elif kind == "devnull":
            extra = [os.open("/dev/null", os.O_RDONLY)]
        else:
            a, b = socket.socketpair()
            extra = [a.detach(), b.detach()]
        send_fds = fds.all[:3] + extra[:1]
    try:
        with connect(users, daemon) as s:
            rp.send(s, _exec(), send_fds)
            fds.close_write_ends()
            text = expect_refusal(s)
            assert "protocol error" in text
    finally:
        for fd in extra:
            os.close(fd)
    assert read_to_eof(fds.out_r) == b""
    wait_no_sessions(daemon)
    assert_still_serves(users, daemon)


@pytest.mark.parametrize("mtype", [0, rp.SIGNAL, rp.RESUME, rp.BYE, rp.ANSWER, rp.CANCEL, 60,
                                   63, rp.ERROR, rp.EXIT, 127, 128, 255])
def test_unexpected_first_message(users, daemon, mtype):
    with connect(users, daemon) as s:
        rp.send(s, rp.frame(mtype, rp.u32(2)))
        assert "protocol error" in expect_refusal(s)
    assert_still_serves(users, daemon)


@pytest.mark.parametrize("case", ["payload", "fd"])
def test_list_with_payload_or_fd(users, daemon, fds, case):
    with connect(users, daemon) as s:
        if case == "payload":
            rp.send(s, rp.frame(rp.REQ_LIST, b"x"))
        else:
            rp.send(s, rp.frame(rp.REQ_LIST), [fds.stdin])
        assert "protocol error" in expect_refusal(s)
    assert_still_serves(users, daemon)


def test_truncated_message_then_half_close(users, daemon, fds):
    with connect(users, daemon) as s:
        rp.send(s, rp.header(rp.REQ_EXEC, 100) + b"\0" * 10, fds.all)
        s.shutdown(socket.SHUT_WR)
        assert "malformed message" in expect_refusal(s)
    wait_no_sessions(daemon)
    assert_still_serves(users, daemon)


@pytest.mark.parametrize("cut", [1, 6, 11, 12, 30])
def test_client_vanishes_mid_request(users, daemon, fds, cut):
    msg = _exec(["sh", "-c", "echo should-not-run"])
    s = connect(users, daemon)
    rp.send(s, msg[:cut], fds.all if cut >= 12 else ())
    s.close()
    fds.close_write_ends()
    wait_no_sessions(daemon)
    assert read_to_eof(fds.out_r) == b""
    assert_still_serves(users, daemon)


# ---- the raw client when it behaves, and misbehaves during a run --------------

def test_raw_client_well_formed_exec(users, daemon, fds):
    """The positive control for rawproto: a correct request runs."""
    with connect(users, daemon) as s:
        rp.send(s, _exec(["sh", "-c", "echo raw-ok; exit 5"]), fds.all)
        fds.close_write_ends()
        m = rp.recv(s)
        assert m.type == rp.STARTED and m.fds == [], m
        assert m.u32() > 1
        m = rp.recv(s)
        assert (m.type, m.u32x2()) == (rp.EXIT, (0, 5))
        rp.send(s, rp.frame(rp.BYE))
        assert rp.recv(s) is None
    assert read_to_eof(fds.out_r) == b"raw-ok\n"


RUNNING = ("trap 'echo usr1' USR1; trap 'echo hup > %s; exit 0' HUP; echo ready; "
           "while :; do sleep 0.05; done")


def read_line(fd, timeout=10):
    """One line from a pipe, byte by byte, under a deadline."""
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        r, _, _ = select.select([fd], [], [], max(0.0, left))
        assert r, "no line within %ss (got %r)" % (timeout, line)
        c = os.read(fd, 1)
        if not c:
            break
        line += c
    return line


def _start_running(users, daemon, fds, marker):
    s = connect(users, daemon)
    rp.send(s, _exec(["sh", "-c", RUNNING % marker]), fds.all)
    fds.close_write_ends()
    m = rp.recv(s)
    assert m.type == rp.STARTED, m
    assert read_line(fds.out_r) == b"ready\n"
    return s


def _wait_file(path, timeout=10):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, "no %s" % path
        time.sleep(0.02)


def test_forwarded_signal_reaches_command(users, daemon, fds, workdir):
    marker = os.path.join(workdir, "hup")
    with _start_running(users, daemon, fds, marker) as s:
        rp.send(s, rp.frame(rp.SIGNAL, rp.u32(10)))  # SIGUSR1
        assert read_line(fds.out_r) == b"usr1\n"
        rp.send(s, rp.frame(rp.SIGNAL, rp.u32(1)))   # SIGHUP: the trap exits 0
        m = rp.recv(s)
        assert (m.type, m.u32x2()) == (rp.EXIT, (0, 0))
        rp.send(s, rp.frame(rp.BYE))
    _wait_file(marker)


@pytest.mark.parametrize("bad", ["sigkill", "sigstop", "signal-0", "signal-999", "short-signal",
                                 "bad-header", "second-exec"])
def test_misbehaving_client_during_run_is_dropped(users, daemon, fds, workdir, bad):
    """Anything but a forwardable signal or RESUME drops the client, which
    hangs up on the command; an unforwardable signal is never sent."""
    marker = os.path.join(workdir, "hup")
    s = _start_running(users, daemon, fds, marker)
    data = {
        "sigkill": rp.frame(rp.SIGNAL, rp.u32(9)),
        "sigstop": rp.frame(rp.SIGNAL, rp.u32(19)),
        "signal-0": rp.frame(rp.SIGNAL, rp.u32(0)),
        "signal-999": rp.frame(rp.SIGNAL, rp.u32(999)),
        "short-signal": rp.frame(rp.SIGNAL, b"\0\0\x09"),
        "bad-header": rp.frame(rp.SIGNAL, rp.u32(9), magic=b"XXXX"),
        "second-exec": _exec(["true"]),
    }[bad]
    with s:
        rp.send(s, data)
        # The command got SIGHUP (its trap wrote the marker), not SIGKILL or
        # SIGSTOP; it exits 0 and the daemon still reports that.
        _wait_file(marker)
        m = rp.recv(s)
        assert (m.type, m.u32x2()) == (rp.EXIT, (0, 0)), m
    wait_no_sessions(daemon)
    assert_still_serves(users, daemon)


# ---- many clients -----------------------------------------------------------

def test_idle_connections_do_not_block_others(users, daemon):
    idle = []
    try:
        for _ in range(50):
            idle.append(connect(users, daemon))
        # Each has its own process in jitsud, waiting for a request.
        deadline = time.monotonic() + 10
        while len(busy_children(daemon)) < 50:
            assert time.monotonic() < deadline, len(busy_children(daemon))
            time.sleep(0.02)
        for _ in range(5):
            t0 = time.monotonic()
            r = jitsu(users["alice"], ["true"], daemon, timeout=20)
            assert r.returncode == 0, r.stderr
            assert time.monotonic() - t0 < 5
        r = jitsu(users["alice"], ["-l"], daemon, timeout=20)
        assert r.returncode == 0 and b"permit" in r.stdout
        # The idle ones were still connected, unanswered, all along.
        for s in idle:
            s.setblocking(False)
            with pytest.raises(BlockingIOError):
                s.recv(1)
    finally:
        for s in idle:
            s.close()
    wait_no_sessions(daemon)
    assert_still_serves(users, daemon)


def test_300_concurrent_clients(users, daemon, workdir):
    """300 clients released at once through a FIFO barrier."""
    n = 300
    fifo = os.path.join(workdir, "go")
    os.mkfifo(fifo, 0o644)
    errlog = os.path.join(workdir, "clients.err")
    # Held open for reading and writing, so a reader's open never blocks and
    # every `read` waits for its own byte.
    hold = os.open(fifo, os.O_RDWR)
    uid, gid, extra = user_ids(users["alice"])
    env = {"PATH": "/usr/bin:/bin", "JITSU_SOCKET": daemon.socket}
    procs = []
    try:
        with open(errlog, "ab") as err:
            for _ in range(n):
                procs.append(subprocess.Popen(
                    ["sh", "-c", 'read x < "$1" && exec "$2" true', "sh", fifo, JITSU],
                    user=uid, group=gid, extra_groups=extra, env=env,
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err))
        os.write(hold, b"\n" * n)
        deadline = time.monotonic() + 180
        codes = []
        for p in procs:
            codes.append(p.wait(timeout=max(1, deadline - time.monotonic())))
        with open(errlog, "rb") as f:
            errors = f.read()
        assert codes == [0] * n, (sorted(set(codes)), errors[:2000])
        assert errors == b""
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        os.close(hold)
    assert daemon.proc.poll() is None
    wait_no_sessions(daemon, timeout=30)
    assert_still_serves(users, daemon)


# ---- argument lists at and past the limits ----------------------------------

def test_argument_at_kernel_limit_passes(users, daemon):
    # MAX_ARG_STRLEN counts the NUL: 131071 bytes is the longest argument
    # any process can be given, and it must reach the command whole.
    arg = "a" * (128 * 1024 - 1)
    r = jitsu(users["alice"], ["sh", "-c", 'printf "%s" "$1" | wc -c', "sh", arg], daemon)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == b"131071"


def test_argument_over_cap_cannot_reach_the_daemon(users, daemon):
    # 200 KiB in one argument: the kernel refuses to exec jitsu at all
    # (E2BIG), so only a raw client can send it (see arg-over-cap-200k).
    with pytest.raises(OSError) as e:
        jitsu(users["alice"], ["echo", "x" * (200 * 1024)], daemon)
    assert e.value.errno == errno.E2BIG
    assert_still_serves(users, daemon)


def test_argument_of_exactly_the_cap_via_raw_client(users, daemon, fds):
    # 131072 bytes passes the decoder's cap but not execve (the kernel
    # wants room for the NUL): a clear refusal, not a hang.
    with connect(users, daemon) as s:
        rp.send(s, _exec(["echo", "x" * rp.MAX_ARG_LEN]), fds.all)
        fds.close_write_ends()
        msgs = rp.recv_all(s)
    assert [m.type for m in msgs] == [rp.ERROR], msgs
    code, text = msgs[0].error()
    assert code == rp.E_NOEXEC and "Argument list too long" in text, text
    wait_no_sessions(daemon)
    assert_still_serves(users, daemon)


def test_too_many_arguments_is_a_clear_usage_error(users, daemon):
    args = ["x"] * 5000
    r = jitsu(users["alice"], ["echo", *args], daemon)
    assert r.returncode == EXIT_USAGE, (r.returncode, r.stderr)
    assert r.stderr.count(b"\n") == 1
    assert b"argument" in r.stderr and b"protocol error" not in r.stderr, r.stderr


def test_too_many_arguments_fails_without_hang(users, daemon):
    # A prompt failure, nothing run, and the daemon unharmed.
    r = jitsu(users["alice"], ["echo", *(["x"] * 5000)], daemon, timeout=20)
    assert r.returncode != 0 and r.stdout == b""
    assert r.stderr.startswith(b"jitsu: ") and r.stderr.count(b"\n") == 1
    assert_still_serves(users, daemon)


def _sized_args(total_payload):
    """4000 arguments of equal size making a request of about total bytes."""
    n = 4000
    each = (total_payload - 1000) // n - 4
    return ["%0*d" % (each, i) for i in range(n)]


def test_request_just_under_one_mib_works(users, daemon):
    args = _sized_args(rp.MAX_PAYLOAD - 2000)
    assert sum(len(a) + 4 for a in args) < rp.MAX_PAYLOAD - 1000
    r = jitsu(users["alice"], ["sh", "-c", 'echo "$#" "$1" "${4000}"', "sh", *args], daemon,
              timeout=60)
    assert r.returncode == 0, r.stderr[:500]
    assert r.stdout == ("4000 %s %s\n" % (args[0], args[-1])).encode()


def test_request_over_one_mib_refused_by_the_client(users, daemon):
    args = _sized_args(rp.MAX_PAYLOAD + 20000)
    r = jitsu(users["alice"], ["echo", *args], daemon, timeout=60)
    assert r.returncode == EXIT_USAGE
    assert r.stderr == b"jitsu: argument list too long\n"
    assert r.stdout == b""
    assert_still_serves(users, daemon)


def test_client_with_argc_zero(users, daemon, workdir):
    """execve(jitsu, {NULL}, ...): the kernel makes argv {""}; jitsu must
    print its usage and exit 64, not crash."""
    uid, gid, extra = user_ids(users["alice"])
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.dup2(err_w, 2)
            os.closerange(3, 65536)
            os.setgroups(extra)
            os.setgid(gid)
            os.setuid(uid)
            libc = ctypes.CDLL(None, use_errno=True)
            argv = (ctypes.c_char_p * 1)(None)
            envp = (ctypes.c_char_p * 2)(("JITSU_SOCKET=" + daemon.socket).encode(), None)
            libc.execve(JITSU.encode(), argv, envp)
        finally:
            os._exit(120)
    os.close(err_w)
    with os.fdopen(err_r, "rb") as f:
        deadline = time.monotonic() + 15
        while True:
            wpid, st = os.waitpid(pid, os.WNOHANG)
            if wpid:
                break
            if time.monotonic() >= deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise AssertionError("jitsu with argc 0 did not exit")
            time.sleep(0.02)
        err = f.read()
    assert os.WIFEXITED(st), st
    assert os.WEXITSTATUS(st) == EXIT_USAGE, err
    assert err.startswith(b"usage: jitsu"), err
