"""Integration harness for jitsu: real users, a real jitsud, real commands.

Every test runs as root. The harness creates throw-away users and groups,
starts jitsud on a socket in a temporary directory, waits for its sd_notify
READY=1 (never a sleep), runs the client as those users, and removes all of
it afterwards.

JITSU_BUILD names the build directory whose binaries are tested (default
build/ at the top of the checkout), so the same suite runs on the normal and
the sanitizer builds.
"""
import grp
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("JITSU_BUILD", os.path.join(TOP, "build")))
JITSU = os.path.join(BUILD, "jitsu", "jitsu")
JITSUD = os.path.join(BUILD, "jitsud", "jitsud")
JITSUCTL = os.path.join(BUILD, "jitsuctl", "jitsuctl")
# Opt-in: a command prepended to jitsud's command line (scripts/valgrind.sh
# sets it to valgrind); waits are stretched when it is set.
WRAP = shlex.split(os.environ.get("JITSU_WRAP", ""))
SLOW = 10 if WRAP else 1

def pytest_sessionstart(session):
    """The tests run the client as other users: every directory above the
    build must let them through, or every test fails the same way.

    A suite started in the background (nohup, or `&` without job control)
    inherits SIGINT, SIGQUIT and SIGHUP ignored, and every client and daemon
    it starts would inherit that too (a Ctrl-C test would hang): the
    defaults are put back first."""
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_IGN:
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT
                          else signal.SIG_DFL)
    d = os.path.dirname(JITSU)
    while True:
        if not os.stat(d).st_mode & stat.S_IXOTH:
            pytest.exit("%s is not searchable by other users, so the test users cannot run "
                        "%s: build in a directory they can reach (chmod o+x %s)"
                        % (d, JITSU, d), returncode=2)
        if d == "/":
            return
        d = os.path.dirname(d)


PREFIX = "jt%d" % (os.getpid() % 100000)
USERS = {
    "alice": ["ops"],
    "bob": [],
    "carol": ["ops", "dev"],
}


# jitsud's privsep user for this run (--privsep-user): a system user like
# the _jitsu that `make install` creates, removed with the other users.
PRIVSEP_USER = "%sps" % PREFIX


def uname(short):
    return "%s%s" % (PREFIX, short)


def gname(short):
    return "%s%s" % (PREFIX, short)


def _run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def users():
    """Creates the test users and groups; yields {short: name}."""
    groups = sorted({g for gs in USERS.values() for g in gs})
    _run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
          PRIVSEP_USER])
    for g in groups:
        _run(["groupadd", gname(g)])
    for u, gs in USERS.items():
        cmd = ["useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh"]
        if gs:
            cmd += ["-G", ",".join(gname(g) for g in gs)]
        _run(cmd + [uname(u)])
    try:
        yield {u: uname(u) for u in USERS}
    finally:
        for u in USERS:
            subprocess.run(["userdel", uname(u)], stderr=subprocess.DEVNULL)
        for g in groups:
            subprocess.run(["groupdel", gname(g)], stderr=subprocess.DEVNULL)
        subprocess.run(["userdel", PRIVSEP_USER], stderr=subprocess.DEVNULL)


def policy_text(text):
    """Expands {alice}, {ops} etc. to the generated names."""
    names = {u: uname(u) for u in USERS}
    names.update({"g_" + g: gname(g) for gs in USERS.values() for g in gs})
    return text.format(**names)


# What jitsud logs when something broke that no test may cause by accident:
# an unprivileged child that died, was killed, broke its message table or its
# seccomp filter (jitsud/session.c child_failed(), jitsud/main.c spare_main(),
# "cannot start the unprivileged child"), and a sanitizer report from jitsud
# itself. The child's own stderr is /dev/null, so its sanitizer findings show
# here only as its death (the sanitizer runs set halt_on_error/abort_on_error).
CHILD_FAULT = re.compile(r"unprivileged child|the fetching process died")
SANITIZER_REPORT = re.compile(r"AddressSanitizer|LeakSanitizer|runtime error:")


def log_faults(text, expect_child_faults=False):
    """The lines of a jitsud log that must fail the test that produced them."""
    bad = []
    for line in text.splitlines():
        if SANITIZER_REPORT.search(line):
            bad.append(line)
        elif not expect_child_faults and CHILD_FAULT.search(line):
            bad.append(line)
    return bad


class Daemon:
    """One jitsud in the foreground, on a socket in its own directory.

    stop() fails the test when the log holds an unexpected fault (log_faults);
    a test that kills or provokes the unprivileged child on purpose sets
    expect_child_faults = True first. Sanitizer reports always fail."""

    def __init__(self, workdir, policy):
        self.dir = workdir
        self.policy = os.path.join(workdir, "policy.conf")
        self.socket = os.path.join(workdir, "jitsud.sock")
        self.state = os.path.join(workdir, "state")
        self.log = os.path.join(workdir, "jitsud.log")
        self.notify_path = os.path.join(workdir, "notify.sock")
        self.proc = None
        self.expect_child_faults = False
        self._log_checked = 0  # log bytes already scanned by check_log()
        self.write_policy(policy)

    def write_policy(self, text, mode=0o644):
        tmp = self.policy + ".new"
        with open(tmp, "w") as f:
            f.write(policy_text(text))
        os.chmod(tmp, mode)
        os.rename(tmp, self.policy)

    def _wait_notify(self, want, timeout=15):
        """Waits for an sd_notify datagram containing want."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("jitsud did not send %s; log:\n%s" % (want, self.read_log()))
            self.notify.settimeout(left)
            try:
                msg = self.notify.recv(4096).decode()
            except socket.timeout:
                continue
            if want in msg.split("\n"):
                return
            if self.proc.poll() is not None:
                raise AssertionError("jitsud exited %s; log:\n%s" % (self.proc.returncode, self.read_log()))

    def start(self, extra=(), env=None):
        """Starts jitsud; env adds to its environment (for a test that
        preloads something into it, e.g. libfaketime)."""
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if os.path.exists(self.notify_path):
            os.unlink(self.notify_path)
        self.notify.bind(self.notify_path)
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path, **(env or {}))
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [*WRAP, JITSUD, "-f", "-c", self.policy, "-S", self.socket, "-d", self.state,
             "--privsep-user", PRIVSEP_USER, *extra],
            stdout=self.logf, stderr=self.logf, env=env, stdin=subprocess.DEVNULL)
        self._wait_notify("READY=1")
        return self

    def reload(self):
        """Sends SIGHUP and waits for the daemon to say it is ready again."""
        self.proc.send_signal(signal.SIGHUP)
        self._wait_notify("RELOADING=1")
        self._wait_notify("READY=1")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
            self.notify.close()
            self.check_log()

    def check_log(self):
        """Fails on faults logged since the last check (see log_faults)."""
        try:
            with open(self.log, "rb") as f:
                f.seek(self._log_checked)
                new = f.read()
        except OSError:
            return
        self._log_checked += len(new)
        bad = log_faults(new.decode(errors="replace"), self.expect_child_faults)
        assert not bad, "jitsud logged an unexpected fault:\n" + "\n".join(bad[:20])

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="jitsu-it-")
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def daemon_factory(users, workdir):
    started = []

    def make(policy, start=True, extra=(), env=None):
        d = Daemon(workdir, policy)
        started.append(d)
        return d.start(extra, env) if start else d

    yield make
    for d in started:
        d.stop()


def poll_until(cond, timeout, what, step=0.02):
    """Polls cond() until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(step)


def user_ids(name):
    pw = pwd.getpwnam(name)
    extra = [g.gr_gid for g in grp.getgrall() if name in g.gr_mem]
    return pw.pw_uid, pw.pw_gid, extra


def run_as(user, argv, daemon=None, input=None, env=None, timeout=30, cwd="/", **kw):
    """Runs argv as user (uid, gid and supplementary groups set)."""
    uid, gid, extra = user_ids(user)
    e = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    if daemon is not None:
        e["JITSU_SOCKET"] = daemon.socket
    if env:
        e.update(env)
    if input is None and "stdin" not in kw:
        kw["stdin"] = subprocess.DEVNULL
    return subprocess.run(argv, user=uid, group=gid, extra_groups=extra, env=e, input=input,
                          capture_output=True, timeout=timeout, cwd=cwd, **kw)


def jitsu(user, args, daemon, **kw):
    return run_as(user, [JITSU, *args], daemon=daemon, **kw)


def audit_trail(daemon):
    """Every record of the daemon's trail, through the product (show --json)."""
    r = subprocess.run([JITSUCTL, "-d", daemon.state, "audit", "show", "--json"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def assert_verify_ok(daemon):
    r = subprocess.run([JITSUCTL, "-d", daemon.state, "audit", "verify"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith(b"OK "), (r.stdout, r.stderr)


ENDED_UNAPPROVED = ("denied", "expired", "cancelled", "failed")


def assert_refusal_recorded(records, user, argv, target=None):
    """The refused request of user for argv is in the trail: its `request`
    record, then from the same client what ended it: a `decision` of deny or
    refused, a `refused` record, or (the client gone while it waited) an
    `approval` that ended other than approved; and no `start` for it.
    With target, only the requests for that target (as received) count.
    Returns those (request, end) pairs."""
    reqs = [r for r in records if r["event"] == "request" and r.get("user") == user
            and r.get("argv") == list(argv) and (target is None or r.get("target") == target)]
    assert reqs, "no request record of %s for %r (target %r)" % (user, argv, target)
    out = []
    for req in reqs:
        later = [r for r in records if r["seq"] > req["seq"]
                 and r.get("client_pid") == req["client_pid"] and r.get("user") == user]
        end = [r for r in later
               if (r["event"] == "decision" and r["decision"] in ("deny", "refused"))
               or r["event"] == "refused"
               or (r["event"] == "approval" and r["state"] in ENDED_UNAPPROVED)]
        assert end, "request %r of %s has no refusal record: %r" % (argv, user, later)
        assert not [r for r in later[:later.index(end[0]) + 1] if r["event"] == "start"]
        out.append((req, end[0]))
    return out


def assert_safe_after(users, daemon, refused=None, who="alice"):
    """After an attack: the daemon is alive and still serves a permitted
    local request (alice may run /usr/bin/true in every policy that uses
    this), its trail verifies, and when refused (an argv) names the request
    that was turned away, that request and its refusal are recorded."""
    assert daemon.proc.poll() is None, daemon.read_log()[-3000:]
    r = jitsu(users["alice"], ["true"], daemon, timeout=20)
    assert r.returncode == 0, (r.stderr, daemon.read_log()[-3000:])
    assert_verify_ok(daemon)
    if refused is not None:
        assert_refusal_recorded(audit_trail(daemon), users[who], refused)
