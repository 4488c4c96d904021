"""A jitsu client on a real pseudo-terminal, driven from the master side
like a person at a keyboard (test_tty.py, and the terminal attacks in
tests/adversarial). Every wait has a deadline; nothing sleeps a fixed time.
"""
import errno
import fcntl
import grp
import os
import re
import select
import signal
import struct
import termios
import time

from conftest import JITSU, user_ids

ENV_PATH = "/usr/local/bin:/usr/bin:/bin"


def winsize(fd):
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    return rows, cols


def set_winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class TtyClient:
    """build/jitsu/jitsu on a fresh pty, as a session leader owning it.

    self.slave is the user's terminal as the test sees it (kept open, so the
    test can look at its mode and pending input); self.master is the
    keyboard and the screen."""

    def __init__(self, user, args, daemon, rows=24, cols=80, env=None, argv=None):
        self.master, self.slave = os.openpty()
        self.ttyname = os.ttyname(self.slave)
        self.user = user
        uid, gid, extra = user_ids(user)
        self.uid = uid
        # As login(1) would: the terminal belongs to the user.
        os.fchown(self.slave, uid, grp.getgrnam("tty").gr_gid)
        os.fchmod(self.slave, 0o620)
        set_winsize(self.slave, rows, cols)
        self.orig_mode = termios.tcgetattr(self.slave)
        self.out = b""
        self.status = None
        e = {"PATH": ENV_PATH, "LANG": "C.UTF-8", "TERM": "xterm",
             "JITSU_SOCKET": daemon.socket}
        if env:
            e.update(env)
        # "{tty}" in args stands for the user's terminal's name.
        argv = argv or [JITSU, *(self.ttyname if a == "{tty}" else a for a in args)]
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                os.setsid()
                fcntl.ioctl(self.slave, termios.TIOCSCTTY, 0)
                for fd in (0, 1, 2):
                    os.dup2(self.slave, fd)
                os.closerange(3, 65536)
                os.setgroups(extra)
                os.setgid(gid)
                os.setuid(uid)
                os.chdir("/")
                os.execve(argv[0], argv, e)
            finally:
                os._exit(120)
        self.pid = pid

    # -- the screen ---------------------------------------------------------

    def _read_some(self, timeout):
        if self.master < 0:
            time.sleep(timeout)  # the screen is gone; just let time pass
            return False
        r, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if not r:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError as e:
            if e.errno == errno.EIO:
                return False
            raise
        self.out += data
        return bool(data)

    def expect(self, pattern, timeout=10):
        """Reads the screen until pattern (a bytes regex) matches; returns the match."""
        rx = re.compile(pattern, re.DOTALL)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.out)
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting for %r; screen so far: %r"
                                     % (pattern, self.out[-2000:]))
            self._read_some(min(left, 0.2))

    def send(self, data):
        os.write(self.master, data)

    def hang_up(self):
        """Closes the terminal window: the master goes away."""
        os.close(self.master)
        self.master = -1

    # -- the process --------------------------------------------------------

    def poll(self, flags=0):
        """waitpid(WNOHANG|flags); returns the raw status once it changed, else None."""
        if self.status is not None:
            return self.status
        pid, st = os.waitpid(self.pid, os.WNOHANG | flags)
        if pid == 0:
            return None
        if not os.WIFSTOPPED(st):
            self.status = st
        return st

    def wait(self, timeout=15):
        """Waits for the client to exit, reading the screen meanwhile (so the
        client never blocks on a full terminal). Returns the exit code;
        a death by signal fails the test."""
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() >= deadline:
                raise AssertionError("jitsu did not exit within %ss; screen: %r"
                                     % (timeout, self.out[-2000:]))
            self._read_some(0.05)
        while self._read_some(0):
            pass
        assert os.WIFEXITED(self.status), "jitsu died by signal %d" % os.WTERMSIG(self.status)
        return os.WEXITSTATUS(self.status)

    def wait_stopped(self, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            st = self.poll(os.WUNTRACED)
            if st is not None and os.WIFSTOPPED(st):
                return os.WSTOPSIG(st)
            if st is not None:
                raise AssertionError("jitsu exited instead of stopping: %r" % st)
            if time.monotonic() >= deadline:
                raise AssertionError("jitsu did not stop within %ss; screen: %r"
                                     % (timeout, self.out[-2000:]))
            self._read_some(0.05)

    # -- the terminal -------------------------------------------------------

    def mode(self):
        return termios.tcgetattr(self.slave)

    def is_raw(self):
        return not (self.mode()[3] & termios.ICANON)

    def pending_input(self):
        """What is queued for a reader of the user's terminal (what the
        user's shell would read next), without blocking and without
        changing the mode for good."""
        saved = termios.tcgetattr(self.slave)
        raw = list(saved)
        raw[3] &= ~(termios.ICANON | termios.ECHO)
        raw[6] = list(raw[6])
        raw[6][termios.VMIN] = 0
        raw[6][termios.VTIME] = 0
        termios.tcsetattr(self.slave, termios.TCSANOW, raw)
        try:
            got = b""
            while True:
                r, _, _ = select.select([self.slave], [], [], 0)
                if not r:
                    break
                data = os.read(self.slave, 4096)
                if not data:
                    break
                got += data
            return got
        finally:
            termios.tcsetattr(self.slave, termios.TCSANOW, saved)

    def close(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
            self.status = -1
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1
