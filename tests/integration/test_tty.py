"""Terminal sessions: the client runs on a real pseudo-terminal, as a user.

Each test gives jitsu a fresh pty (the "user's terminal") as its controlling
terminal and stdin/stdout/stderr, then drives it from the master side like a
person at a keyboard. Every wait is on output, a process state or a polled
condition with a deadline; nothing sleeps a fixed time.
"""
import os
import re
import signal
import time

import pytest

from conftest import JITSU, poll_until
from ptyhelp import TtyClient, set_winsize

POLICY = "permit {alice} as root\npermit {alice} as {bob}\n"


@pytest.fixture
def daemon(daemon_factory):
    return daemon_factory(POLICY)


@pytest.fixture
def tty(users, daemon):
    """Starts clients on ptys as alice; kills and closes what is left."""
    made = []

    def start(args, **kw):
        c = TtyClient(users["alice"], args, daemon, **kw)
        made.append(c)
        return c

    yield start
    for c in made:
        c.close()


def lines(out):
    return [l.strip() for l in out.replace(b"\r", b"").split(b"\n")]


# ---------------------------------------------------------------------------

def test_command_gets_its_own_root_owned_pty(tty):
    c = tty(["sh", "-c", "tty; stat -L -c 'owner=%u' /proc/self/fd/0; "
             "echo ctty=$(ps -o tty= -p $$); echo done"])
    m = c.expect(rb"(/dev/pts/\d+)\r?\nowner=(\d+)\r?\nctty=(\S+)\r?\ndone", timeout=15)
    assert c.wait() == 0, c.out
    cmd_tty = m.group(1).decode()
    assert cmd_tty != c.ttyname, "the command ran on the user's own terminal"
    # The user's terminal belongs to the user; the command's to root, and
    # it is also the command's controlling terminal.
    assert os.stat(c.ttyname).st_uid == c.uid != 0
    assert m.group(2) == b"0", c.out
    assert "/dev/" + m.group(3).decode() == cmd_tty


def test_command_holds_no_descriptor_of_the_users(tty):
    # Every descriptor of the command: its own pty on 0..2, nothing else;
    # never the user's terminal, jitsud's socket or anything jitsud held.
    c = tty(["sh", "-c", "ls -l /proc/$$/fd; echo done"])
    c.expect(rb"done\r?\n")
    assert c.wait() == 0
    fds = dict(re.findall(rb" (\d+) -> (\S+)\r?\n", c.out))
    assert set(fds) == {b"0", b"1", b"2"}, fds
    assert len(set(fds.values())) == 1 and fds[b"0"].startswith(b"/dev/pts/"), fds
    assert fds[b"0"].decode() != c.ttyname


def test_interactive_input(tty):
    c = tty(["sh", "-c", "echo ready; read x; echo got:$x"])
    c.expect(rb"ready")
    assert c.is_raw(), "the user's terminal is not raw while the command runs"
    c.send(b"hello\r")
    c.expect(rb"got:hello\r?\n")
    assert c.wait() == 0


def test_eof_from_the_keyboard(tty):
    c = tty(["sh", "-c", "echo ready; cat; echo cat-done"])
    c.expect(rb"ready")
    c.send(b"one\r")
    c.expect(rb"one\r\n.*one\r\n", timeout=10)   # the echo, then cat's copy
    c.send(b"\x04")
    c.expect(rb"cat-done")
    assert c.wait() == 0


def test_exit_status_and_mode_restored(tty):
    c = tty(["sh", "-c", "echo ready; read x; exit 3"])
    c.expect(rb"ready")
    assert c.mode() != c.orig_mode and c.is_raw()
    c.send(b"\r")
    assert c.wait() == 3
    assert c.mode() == c.orig_mode


def test_output_burst_before_exit_arrives_whole(tty):
    c = tty(["sh", "-c", "seq 1 30000; exit 7"])
    assert c.wait(timeout=60) == 7
    got = [l for l in lines(c.out) if l]
    assert got[:3] == [b"1", b"2", b"3"]
    assert got[-1] == b"30000", got[-3:]
    assert len(got) == 30000


@pytest.mark.parametrize("key,sig", [(b"\x03", signal.SIGINT), (b"\x1c", signal.SIGQUIT)])
def test_ctrl_c_interrupts_the_command(tty, key, sig):
    # Not a shell: dash catches SIGINT and defers it while it forks, which
    # would race with "ready". perl leaves both signals at their defaults.
    c = tty(["perl", "-e", '$| = 1; print "ready\\n"; sleep 30; exit 9'])
    c.expect(rb"ready")
    c.send(key)
    # 128 + N as an exit code of jitsu itself: the command got the signal
    # from its own terminal; jitsu was not killed by it. (sleep 30 would
    # outlast the deadline.)
    assert c.wait(timeout=10) == 128 + sig
    assert c.mode() == c.orig_mode


def test_typing_is_not_echoed_locally(tty):
    # A password-style read: with the command's echo off, the keystrokes
    # must not appear on the user's screen (jitsu's terminal is raw).
    c = tty(["sh", "-c", "stty -echo; echo prompt; read x; stty echo; echo len:${#x}"])
    c.expect(rb"prompt")
    c.send(b"s3cr3t-word\r")
    c.expect(rb"len:11")
    assert c.wait() == 0
    assert b"s3cr3t" not in c.out, c.out


def test_file_stdin_with_terminal_output(tty, workdir):
    # Only stdout/stderr are the terminal: the command reads the file
    # directly, writes through a fresh pty, and the user's mode is untouched.
    src = os.path.join(workdir, "input")
    with open(src, "w") as f:
        f.write("from-a-file\n")
    os.chmod(src, 0o644)
    c = tty(None, argv=["/bin/sh", "-c", 'exec "$0" cat < "$1"', JITSU, src])
    c.expect(rb"from-a-file")
    assert c.wait() == 0
    assert c.mode() == c.orig_mode


def test_terminal_hangup_reaches_the_command(tty, workdir):
    marker = os.path.join(workdir, "hup-marker")
    script = ("trap 'echo hup > %s; exit 0' HUP; echo ready; "
              "while :; do sleep 0.05; done" % marker)
    c = tty(["sh", "-c", script])
    c.expect(rb"ready")
    c.hang_up()
    poll_until(lambda: os.path.exists(marker), 10, "the command to get SIGHUP")
    # jitsu itself gets SIGHUP as the terminal's controlling process; it
    # forwards it and then returns the command's status, or dies of it.
    deadline = time.monotonic() + 10
    while c.poll() is None:
        assert time.monotonic() < deadline, "jitsu lingers after the hangup"
        time.sleep(0.02)


def test_initial_window_size(tty):
    c = tty(["stty", "size"], rows=50, cols=132)
    c.expect(rb"50 132")
    assert c.wait() == 0


def test_window_size_change_is_followed(tty):
    c = tty(["sh", "-c", "stty size; echo ready; read x; stty size"], rows=50, cols=132)
    c.expect(rb"50 132\r?\n.*ready")
    # The kernel signals SIGWINCH to jitsu, the foreground of this terminal,
    # before the ioctl returns; jitsu handles signals before input.
    set_winsize(c.slave, 40, 100)
    c.send(b"\r")
    c.expect(rb"ready.*40 100", timeout=10)
    assert c.wait() == 0


def test_client_killed_daemon_restores_mode_and_hangs_up(tty, workdir):
    marker = os.path.join(workdir, "hup-marker")
    script = ("trap 'echo hup > %s; exit 0' HUP; echo ready; "
              "while :; do sleep 0.05; done" % marker)
    c = tty(["sh", "-c", script])
    c.expect(rb"ready")
    assert c.is_raw()
    os.kill(c.pid, signal.SIGKILL)
    os.waitpid(c.pid, 0)
    c.status = -1
    poll_until(lambda: c.mode() == c.orig_mode, 10, "jitsud to restore the terminal mode")
    poll_until(lambda: os.path.exists(marker), 10, "the command to get SIGHUP")
    with open(marker) as f:
        assert f.read() == "hup\n"


TIOCSTI_SCRIPT = r"""
import fcntl, os, sys, termios
def inject(fd, data):
    for b in data:
        fcntl.ioctl(fd, termios.TIOCSTI, bytes([b]))
# Onto stdin, and read it back: proves the injection works, on its own pty.
inject(0, b"selftest\n")
print("own:" + sys.stdin.readline().strip(), flush=True)
# Then at everything that could be a terminal: stdin, stdout, stderr, /dev/tty.
t = os.open("/dev/tty", os.O_RDWR)
for fd in (0, 1, 2, t):
    inject(fd, b"echo INJECTED-%d\n" % fd)
# And, unless root (who may open anything), the user's terminal by name.
if len(sys.argv) > 1:
    try:
        inject(os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY), b"echo BY-NAME\n")
        print("by-name:opened", flush=True)
    except PermissionError:
        print("by-name:denied", flush=True)
print("injected", flush=True)
"""


@pytest.mark.parametrize("target", ["root", "bob"])
def test_tiocsti_cannot_reach_the_users_terminal(tty, users, target):
    """The classic su/sudo -u attack: what the command pushes into its
    terminal must land in its own pty, never in the caller's."""
    with open("/proc/sys/dev/tty/legacy_tiocsti") as f:
        if f.read().strip() != "1":
            pytest.skip("TIOCSTI is disabled on this kernel")
    if target == "root":
        c = tty(["python3", "-c", TIOCSTI_SCRIPT])
    else:
        c = tty(["-u", users["bob"], "python3", "-c", TIOCSTI_SCRIPT, "{tty}"])
    c.expect(rb"own:selftest\r?\n")
    if target == "bob":
        c.expect(rb"by-name:denied")
    c.expect(rb"injected")
    assert c.wait() == 0, c.out
    # Nothing is queued as input on the user's terminal for the shell that
    # would read next.
    assert c.pending_input() == b""


def test_command_stopping_suspends_the_client(tty):
    c = tty(["sh", "-c", "echo ready; kill -STOP $$; echo resumed"])
    c.expect(rb"ready")
    assert c.wait_stopped() == signal.SIGSTOP
    # While jitsu is stopped the user's shell has the terminal, in its mode.
    assert c.mode() == c.orig_mode
    os.kill(c.pid, signal.SIGCONT)
    c.expect(rb"resumed")
    assert c.wait() == 0
    assert c.mode() == c.orig_mode


def test_ctrl_z_suspends_and_fg_resumes(tty):
    c = tty(["sh", "-c", "echo ready; read x; echo got:$x"])
    c.expect(rb"ready")
    c.send(b"\x1a")
    c.wait_stopped(timeout=5)
    assert c.mode() == c.orig_mode
    os.kill(c.pid, signal.SIGCONT)
    poll_until(c.is_raw, 10, "jitsu to put the terminal back in raw mode")
    c.send(b"back\r")
    c.expect(rb"got:back")
    assert c.wait() == 0


def test_sigtstp_to_client_suspends(tty):
    c = tty(["sh", "-c", "echo ready; read x; echo got:$x"])
    c.expect(rb"ready")
    os.kill(c.pid, signal.SIGTSTP)
    c.wait_stopped(timeout=5)
    os.kill(c.pid, signal.SIGCONT)
    poll_until(c.is_raw, 10, "jitsu to put the terminal back in raw mode")
    c.send(b"back\r")
    c.expect(rb"got:back")
    assert c.wait() == 0


def test_monitor_holds_no_descriptor_of_jitsud(tty, daemon):
    # The command's parent is the monitor (see jitsud/spawn.c): it keeps
    # nothing of the connection process, neither the socket nor the audit
    # trail; at most its own /dev/tty.
    c = tty(["sh", "-c", "echo parent:$(cat /proc/$PPID/comm); "
             "for f in /proc/$PPID/fd/*; do echo fd:$(readlink $f); done; echo done"])
    c.expect(rb"done")
    assert c.wait() == 0
    out = c.out.decode(errors="replace")
    fds = [l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("fd:")]
    assert fds, out
    assert fds == ["/dev/tty"], fds
