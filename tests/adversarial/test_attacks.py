"""Attacks on what jitsud runs and how: argument parsing, the binary swapped
under the check, terminal injection, hostile environments, policy tampering.

Already covered elsewhere and not repeated here: argc == 0 (CVE-2021-4034,
test_badinput.test_client_with_argc_zero), arguments at and over the kernel
and protocol caps (test_badinput), TIOCSTI (test_tty), PATH hijack, unsafe
and world-writable binaries, world-writable/unsafe policy at *start*
(test_core), a mount namespace renaming a binary (test_core), odd argv bytes
in the audit log (test_audit.test_argv_round_trip).

More in this directory: test_inputs.py (argc 0 with a pkexec-style
environment, -u#-1 and other target spellings, a crafted command name
against the terminal's name (CVE-2017-1000367), every cap at once, hostile
environment variables on the socket, PATH hijacks, lying descriptors),
test_faults.py (the client killed at each step, a full audit file
system), test_hostile_hub.py (a slow or truncating hub, the client killed
mid-approval), test_clock.py (the wall clock stepping during a session),
test_dos.py.
"""
import errno
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import sys
import threading

import pytest

from conftest import (EXIT_DENIED, EXIT_NOEXEC, JITSU, assert_safe_after, audit_records,
                      jitsu, one_line_error, run_as)

# ---- 1. backslashes (CVE-2021-3156, sudo "Baron Samedit") ------------------

BS_POLICY = r"""
permit {alice} as root
permit {bob} cmd /usr/bin/echo args "a\\" "\\" "\\\\\\\\" \\ x\\\\
"""
BS_ARGS = ["a\\", "\\", "\\\\\\\\", "\\", "x\\\\"]


def test_backslash_args_match_exactly(users, daemon_factory):
    """CVE-2021-3156: sudo unescaped a trailing backslash and copied past the
    string's NUL (heap overflow). jitsu must compare `args` byte for byte:
    arguments ending in or made only of backslashes match exactly the words
    the policy spells, near misses are denied with one line, and nothing
    crashes."""
    d = daemon_factory(BS_POLICY)
    r = jitsu(users["bob"], ["echo", *BS_ARGS], d)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (" ".join(BS_ARGS) + "\n").encode()
    near = [
        ["a", *BS_ARGS[1:]],                      # trailing backslash dropped
        ["a\\\\", *BS_ARGS[1:]],                  # doubled
        [*BS_ARGS, "\\"],                         # one more lone backslash
        [*BS_ARGS[:-1]],                          # one fewer
        [BS_ARGS[0], "", *BS_ARGS[2:]],           # backslash replaced by empty
        [BS_ARGS[0], "\\\\", *BS_ARGS[2:]],       # "\" read as an escape pair
        [BS_ARGS[0] + BS_ARGS[1], *BS_ARGS[2:]],  # two words joined
    ]
    for args in near:
        r = jitsu(users["bob"], ["echo", *args], d)
        assert r.returncode == EXIT_DENIED, (args, r.stdout, r.stderr)
        assert r.stdout == b""
        one_line_error(r.stderr)
    assert_safe_after(users, d)


def test_backslash_only_args_sent_and_logged_exactly(users, daemon_factory):
    """CVE-2021-3156 input shapes (`sudoedit -s '\\'`, arguments that are
    only backslashes, one at the kernel's 128 KiB limit) reach the command
    unchanged and are recorded unchanged in the audit trail."""
    d = daemon_factory(BS_POLICY)
    big = "\\" * (128 * 1024 - 1)
    args = ["\\", "\\\\", "a\\", "-s", "\\", big]
    script = 'for a in "$@"; do printf "%s" "$a" | sha256sum; done'
    r = jitsu(users["alice"], ["sh", "-c", script, "sh", *args], d)
    assert r.returncode == 0, r.stderr[:500]
    got = [l.split()[0] for l in r.stdout.decode().splitlines()]
    assert got == [hashlib.sha256(a.encode()).hexdigest() for a in args]
    reqs = [x for x in audit_records(d) if x["event"] == "request"]
    assert reqs[-1]["argv"] == ["sh", "-c", script, "sh", *args]
    assert_safe_after(users, d)


# ---- 2. the command swapped between check and exec (TOCTOU) ----------------

@pytest.fixture
def rootdir():
    d = "/usr/local/lib/jitsu-adv-%d" % os.getpid()
    os.makedirs(d, mode=0o755)
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _script(path, text, uid=0):
    with open(path, "w") as f:
        f.write(text)
    os.chown(path, uid, 0)
    os.chmod(path, 0o755)


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_rename_and_symlink_race_runs_only_what_was_checked(users, daemon_factory, rootdir):
    """Symlink/rename TOCTOU (the class of CVE-2021-3156's sibling
    CVE-2021-23240 sudoedit symlink race, and doas/sudo path-then-exec
    races): while elevations run, a thread keeps renaming one root-owned
    script over another at the permitted path, and swapping in symlinks to
    /usr/bin/id and to an unpermitted sibling. Every run must print the
    output of exactly one of the two root-owned scripts or be denied; the
    audit's binary_sha256 must be the hash of the script that ran."""
    a, b, prog = (os.path.join(rootdir, n) for n in ("a", "b", "prog"))
    _script(a, "#!/bin/sh\necho AAA\n")
    _script(b, "#!/bin/sh\necho BBB\n")
    os.link(a, prog)
    sha = {b"AAA\n": _sha(a), b"BBB\n": _sha(b)}
    d = daemon_factory("permit {alice} as root cmd /usr/bin/true\n"
                       "permit {alice} as root cmd %s\n" % prog)
    stop = threading.Event()
    swaps = [0]

    def swapper():
        tmp = os.path.join(rootdir, ".tmp")
        i = 0
        while not stop.is_set():
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            k = i % 4
            if k == 0:
                os.link(a, tmp)
            elif k == 1:
                os.symlink("/usr/bin/id", tmp)
            elif k == 2:
                os.link(b, tmp)
            else:
                os.symlink(b, tmp)
            os.rename(tmp, prog)
            i += 1
            swaps[0] = i

    t = threading.Thread(target=swapper, daemon=True)
    t.start()
    outcomes = []
    refusals = set()
    try:
        for _ in range(60):
            r = jitsu(users["alice"], [prog], d, timeout=20)
            assert b"uid=" not in r.stdout, r.stdout
            if r.returncode == 0:
                assert r.stdout in sha, r.stdout
                outcomes.append(r.stdout)
            else:
                # denied (a symlink resolves to an unpermitted path), or the
                # opened entry was renamed over mid-check: refused, fail closed
                assert r.returncode in (EXIT_DENIED, EXIT_NOEXEC, 127), (r.returncode, r.stderr)
                assert r.stdout == b""
                one_line_error(r.stderr)
                refusals.add(r.returncode)
    finally:
        stop.set()
        t.join(timeout=10)
    assert swaps[0] > 60, swaps
    assert outcomes, "no run was permitted at all"
    print("race: %d swaps, outcomes %s, refusals %s"
          % (swaps[0], {o: outcomes.count(o) for o in set(outcomes)}, refusals))
    permits = [x for x in audit_records(d)
               if x["event"] == "decision" and x["decision"] == "permit"]
    assert [x["binary"] for x in permits] == [prog] * len(outcomes)
    assert [x["binary_sha256"] for x in permits] == [sha[o] for o in outcomes]
    assert_safe_after(users, d)


def test_user_owned_directory_in_path_refused(users, daemon_factory, rootdir):
    """The race above needs write access to the directory; a directory the
    user owns (mode 0755, so not 'writable by others') still lets its owner
    rename entries: a root-owned script below it must be refused even if the
    policy names it."""
    ud = os.path.join(rootdir, "mine")
    os.mkdir(ud, 0o755)
    os.chown(ud, pwd.getpwnam(users["alice"]).pw_uid, 0)
    prog = os.path.join(ud, "prog")
    _script(prog, "#!/bin/sh\necho ran\n")
    d = daemon_factory("permit {alice} as root cmd /usr/bin/true\n"
                       "permit {alice} as root cmd %s\n" % prog)
    r = jitsu(users["alice"], [prog], d)
    assert r.returncode == EXIT_NOEXEC and r.stdout == b"", (r.returncode, r.stderr)
    assert "unsafe directory" in one_line_error(r.stderr)
    assert_safe_after(users, d)


# ---- 3. TIOCLINUX from the elevated command --------------------------------

TIOCLINUX_SCRIPT = r"""
import errno, fcntl, os, sys
TIOCLINUX = 0x541C
# Stopped until the test has looked at what this process holds.
print("pid:%d" % os.getpid(), flush=True)
sys.stdin.readline()
res = []
fds = [0, 1, 2]
try:
    fds.append(os.open("/dev/tty", os.O_RDWR))
except OSError:
    pass
if len(sys.argv) > 1:
    try:
        fds.append(os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY))
        print("by-name:opened", flush=True)
    except PermissionError:
        print("by-name:denied", flush=True)
for fd in fds:
    # 2 = TIOCL_SETSEL (select text), 3 = TIOCL_PASTESEL (push it as input),
    # 6 = TIOCL_GETSHIFTSTATE, 11 = TIOCL_GETKMSGREDIRECT
    for sub in (bytes([2]) + bytes(10), bytes([3]), bytes([6]), bytes([11])):
        try:
            fcntl.ioctl(fd, TIOCLINUX, sub)
            res.append("ok")
        except OSError as e:
            res.append(errno.errorcode.get(e.errno, str(e.errno)))
print("results:" + ",".join(res), flush=True)
"""


def controlling_tty(pid):
    """The device number of pid's controlling terminal (0: none), from
    tty_nr in /proc/<pid>/stat, in the st_rdev encoding."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    nr = int(fields[4])  # the 7th field; the 3rd after the command name
    if nr == 0:
        return 0
    return os.makedev((nr >> 8) & 0xFFF, (nr & 0xFF) | ((nr >> 12) & 0xFFF00))


@pytest.fixture
def tty_client(users):
    from ptyhelp import TtyClient
    made = []

    def start(daemon, args):
        c = TtyClient(users["alice"], args, daemon)
        made.append(c)
        return c

    yield start
    for c in made:
        c.close()


@pytest.mark.parametrize("target", ["root", "bob"])
def test_tioclinux_cannot_reach_the_users_terminal(users, daemon_factory, tty_client, target):
    """TIOCLINUX selection paste (TIOCL_SETSEL + TIOCL_PASTESEL), the
    virtual-console twin of TIOCSTI (CVE-2023-1523 in snap-confine, and the
    reason Linux 6.7 restricted it), and TIOCSTI itself, need a descriptor of
    the user's terminal or that terminal as the controlling one. The defence
    is structural: the elevated command runs on a fresh pty that jitsud
    relays, so its fds 0-2 and its controlling terminal are that pty, never
    the user's. That is asserted on the running command (/proc), which would
    fail if jitsud handed the user's terminal through; the kernel answers
    ENOTTY for TIOCLINUX on any pty, so the attempts themselves prove little.
    As a non-root target it also tries the user's tty by name, and nothing
    may end up queued on the user's terminal."""
    d = daemon_factory("permit {alice} as root\npermit {alice} as {bob}\n")
    if target == "root":
        c = tty_client(d, ["python3", "-c", TIOCLINUX_SCRIPT])
    else:
        c = tty_client(d, ["-u", users["bob"], "python3", "-c", TIOCLINUX_SCRIPT, "{tty}"])
    pid = int(c.expect(rb"pid:(\d+)").group(1))
    users_tty = os.fstat(c.slave).st_rdev
    ctty = controlling_tty(pid)
    assert ctty != 0, "the elevated command has no controlling terminal"
    assert ctty != users_tty, "the elevated command's controlling terminal is the user's"
    for fd in (0, 1, 2):
        st = os.stat("/proc/%d/fd/%d" % (pid, fd))
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev != users_tty, (fd, st)
        assert st.st_rdev == ctty, (fd, "not the command's own pty")
    c.send(b"go\n")
    if target == "bob":
        c.expect(rb"by-name:denied")
    m = c.expect(rb"results:([A-Z0-9,a-z]*)\r?\n")
    res = m.group(1).decode().split(",")
    assert res and all(x in ("ENOTTY", "EINVAL", "EPERM") for x in res), res
    assert c.wait() == 0, c.out
    assert c.pending_input() == b""
    assert_safe_after(users, d)


# ---- 4. environment at and beyond the kernel's limits -----------------------

ENV_WRAPPER = r"""
import ctypes, os, sys
entries = [e.encode() for e in sys.stdin.read().split("\0") if e]
libc = ctypes.CDLL(None, use_errno=True)
argv = (ctypes.c_char_p * (len(sys.argv)))(*[a.encode() for a in sys.argv[1:]], None)
envp = (ctypes.c_char_p * (len(entries) + 1))(*entries, None)
libc.execve(argv[0], argv, envp)
print("execve: %s" % os.strerror(ctypes.get_errno()), file=sys.stderr)
sys.exit(99)
"""
FIXED = {"HOME", "USER", "LOGNAME", "SHELL", "PATH", "JITSU_USER", "JITSU_UID"}
ALLOWED = {"TERM", "COLORTERM", "LANG", "LANGUAGE", "TZ", "NO_COLOR"}


def test_huge_hostile_environment(users, daemon_factory):
    """Environment abuse (CVE-2021-4034 turned env into code; sudo/su
    LD_PRELOAD, TERM/TZ path tricks; oversized env to hit fixed buffers):
    the client is exec'd with 1,000+ entries, strings at the kernel's
    128 KiB MAX_ARG_STRLEN, duplicates, entries without '=', empty names and
    300 distinct LC_* names (over the protocol's 128-entry cap). Only
    allow-listed, shape-checked names reach the command; nothing crashes."""
    d = daemon_factory("permit {alice} as root\n")
    kmax = 128 * 1024 - 1                             # bytes, without the NUL
    env = ["PATH=/usr/bin:/bin", "JITSU_SOCKET=" + d.socket]
    env += ["JUNK%04d=%s" % (i, "v" * 40) for i in range(700)]
    env += ["LC_%s=C" % "".join(chr(65 + (i // 26 ** k) % 26) for k in range(3)) for i in range(300)]
    env += ["TERM=" + "a" * (kmax - 5),             # at the kernel limit, too long for TERM
            "BIG=" + "x" * (kmax - 4),
            "TERM=xterm", "TERM=../../tmp/evil",    # duplicates: first shaped, then hostile
            "LANG=C.UTF-8", "LANG=$(id)",
            "TZ=../../../etc/shadow", "TZ=:/etc/shadow",
            "LD_PRELOAD=/tmp/evil.so", "BASH_ENV=/tmp/x", "NOEQUALS", "=novalue", "="]
    r = run_as(users["alice"], [sys.executable, "-c", ENV_WRAPPER, JITSU, "env"],
               input="\0".join(env).encode(), env={}, timeout=30)
    assert r.returncode == 0, r.stderr[:2000]
    got = {}
    for line in r.stdout.decode().splitlines():
        k, _, v = line.partition("=")
        assert k not in got or got[k] == v, ("duplicate", k)
        got[k] = v
    for k, v in got.items():
        assert k in FIXED or k in ALLOWED or (k.startswith("LC_") and k[3:].isupper()), k
        assert len(v) <= 256, (k, len(v))
    assert got.get("TERM") in (None, "xterm")
    assert got.get("LANG") in (None, "C.UTF-8")
    assert "TZ" not in got
    assert got["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert got["USER"] == "root" and got["JITSU_USER"] == users["alice"]
    # One byte past MAX_ARG_STRLEN: the kernel refuses the exec; jitsu never runs.
    r = run_as(users["alice"], [sys.executable, "-c", ENV_WRAPPER, JITSU, "env"],
               input=("BIG=" + "x" * (kmax - 3)).encode(), env={}, timeout=30)
    assert r.returncode == 99 and b"Argument list too long" in r.stderr, r.stderr
    assert_safe_after(users, d)


# ---- 5. policy made world-writable after start -----------------------------

@pytest.mark.parametrize("how", ["world-writable", "group-writable", "user-owned", "symlink"])
def test_tampered_policy_refused_on_reload(users, daemon_factory, workdir, how):
    """The policy file becomes writable by others (or owned by a user, or a
    symlink) after jitsud started: a SIGHUP reload must refuse it, log why,
    and keep the old policy (sudoers/doas.conf permission checks; an
    attacker who can write the policy grants themselves root)."""
    d = daemon_factory("permit {alice} as root\n")
    assert jitsu(users["bob"], ["true"], d).returncode == EXIT_DENIED
    if how == "symlink":
        good = os.path.join(workdir, "other.conf")
        with open(good, "w") as f:
            f.write("permit %s as root\n" % users["bob"])
        os.chmod(good, 0o644)
        os.unlink(d.policy)
        os.symlink(good, d.policy)
    else:
        d.write_policy("permit {bob} as root\n",
                       mode=0o666 if how == "world-writable" else
                       0o664 if how == "group-writable" else 0o644)
        if how == "group-writable":
            os.chown(d.policy, 0, pwd.getpwnam(users["bob"]).pw_gid)
        if how == "user-owned":
            os.chown(d.policy, pwd.getpwnam(users["bob"]).pw_uid, 0)
    d.reload()
    assert "policy reload failed" in d.read_log()
    # The failed reload is in the trail, naming the policy still in force.
    recs = audit_records(d)
    (start,) = [x for x in recs if x["event"] == "daemon_start"]
    reloads = [x for x in recs if x["event"] == "policy_reload"]
    assert [x["result"] for x in reloads] == ["failed"], reloads
    assert reloads[0]["policy_sha256"] == start["policy_sha256"], (reloads, start)
    r = jitsu(users["bob"], ["id", "-u"], d)
    assert r.returncode == EXIT_DENIED and r.stdout == b"", (r.stdout, r.stderr)
    one_line_error(r.stderr)
    assert_safe_after(users, d, refused=["id", "-u"], who="bob")
