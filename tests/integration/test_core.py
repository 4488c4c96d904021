"""Core elevation: policy decisions, execution, environment, exit codes."""
import os
import pwd
import signal
import stat
import subprocess
import time

import pytest

from conftest import JITSU, JITSUD, jitsu, run_as

BASE = """
permit {alice} as root
permit :{g_ops} as {bob} cmd /usr/bin/id
permit {bob} cmd /usr/bin/echo args exact words
permit reason {carol} cmd /usr/bin/true
deny {alice} cmd /usr/bin/passwd
"""

EXIT_DENIED = 1
EXIT_UNREACHABLE = 69
EXIT_NOEXEC = 126
EXIT_NOTFOUND = 127


@pytest.fixture
def daemon(daemon_factory):
    return daemon_factory(BASE)


def test_permit_runs_as_root(users, daemon):
    r = jitsu(users["alice"], ["id", "-u"], daemon)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"0\n"


def test_deny_rule_refuses(users, daemon):
    r = jitsu(users["alice"], ["passwd", "-S", "root"], daemon)
    assert r.returncode == EXIT_DENIED
    assert b"may not run /usr/bin/passwd" in r.stderr
    assert r.stderr.count(b"\n") == 1


def test_no_rule_means_deny(users, daemon):
    r = jitsu(users["bob"], ["id"], daemon)
    assert r.returncode == EXIT_DENIED
    assert r.stdout == b""


def test_group_rule_and_as_target(users, daemon):
    r = jitsu(users["carol"], ["-u", users["bob"], "id", "-un"], daemon)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == users["bob"]
    # The group rule names bob as the only target.
    r = jitsu(users["carol"], ["id", "-un"], daemon)
    assert r.returncode == EXIT_DENIED


def test_unknown_target_user(users, daemon):
    for target in ["#-1", "4294967295", "nosuchuser-jitsu"]:
        r = jitsu(users["alice"], ["-u", target, "id"], daemon)
        assert r.returncode != 0
        assert b"unknown target user" in r.stderr


def test_exact_args(users, daemon):
    r = jitsu(users["bob"], ["echo", "exact", "words"], daemon)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"exact words\n"
    for args in (["echo", "exact"], ["echo", "exact", "words", "more"], ["echo"]):
        assert jitsu(users["bob"], args, daemon).returncode == EXIT_DENIED


def test_large_request_arrives_whole(users, daemon):
    # About 800 KiB of argv, under the 1 MiB message limit: the connection's
    # unprivileged child must grow its heap to decode it (under make
    # valgrind, that is where valgrind's own calls meet the child's filter).
    args = ["%04d" % i + "x" * 3996 for i in range(200)]
    for _ in range(2):
        r = jitsu(users["alice"], ["echo"] + args, daemon)
        assert r.returncode == 0, r.stderr
        assert r.stdout == (" ".join(args) + "\n").encode()


def test_exit_status_passthrough(users, daemon):
    r = jitsu(users["alice"], ["sh", "-c", "exit 42"], daemon)
    assert r.returncode == 42


def test_signal_passthrough(users, daemon):
    r = jitsu(users["alice"], ["sh", "-c", "kill -TERM $$"], daemon)
    assert r.returncode == 128 + signal.SIGTERM


def test_stdin_pipe(users, daemon, workdir):
    target = os.path.join(workdir, "written-by-root")
    r = jitsu(users["alice"], ["tee", target], daemon, input=b"piped line\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"piped line\n"
    st = os.stat(target)
    assert st.st_uid == 0
    with open(target, "rb") as f:
        assert f.read() == b"piped line\n"


def test_cwd_is_kept(users, daemon, workdir):
    r = jitsu(users["alice"], ["pwd"], daemon, cwd=workdir)
    assert r.stdout.decode().strip() == workdir


def test_environment_is_rebuilt(users, daemon):
    env = {
        "LD_PRELOAD": "/tmp/evil.so", "LD_LIBRARY_PATH": "/tmp", "BASH_ENV": "/tmp/x",
        "IFS": "x", "FOO": "bar", "TERM": "xterm-256color", "LC_ALL": "C.UTF-8",
        "PATH": "/tmp/evil:/usr/bin", "PYTHONPATH": "/tmp", "TZ": "../../../etc/shadow",
    }
    r = jitsu(users["alice"], ["env"], daemon, env=env)
    assert r.returncode == 0, r.stderr
    got = dict(line.split("=", 1) for line in r.stdout.decode().splitlines())
    for bad in ("LD_PRELOAD", "LD_LIBRARY_PATH", "BASH_ENV", "IFS", "FOO", "PYTHONPATH", "TZ"):
        assert bad not in got
    assert got["TERM"] == "xterm-256color"
    assert got["LC_ALL"] == "C.UTF-8"
    assert got["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert got["HOME"] == "/root" and got["USER"] == "root" and got["LOGNAME"] == "root"
    assert got["JITSU_USER"] == users["alice"]


def test_hostile_term_dropped(users, daemon):
    r = jitsu(users["alice"], ["env"], daemon, env={"TERM": "../../../tmp/evil"})
    assert b"TERM=" not in r.stdout


def test_path_hijack_ignored(users, daemon, workdir):
    evil = os.path.join(workdir, "evil")
    os.mkdir(evil)
    with open(os.path.join(evil, "id"), "w") as f:
        f.write("#!/bin/sh\necho hijacked\n")
    os.chmod(os.path.join(evil, "id"), 0o755)
    r = jitsu(users["alice"], ["id", "-u"], daemon, env={"PATH": evil + ":/usr/bin"})
    assert r.stdout == b"0\n"


@pytest.fixture
def unsafe_dir():
    d = "/usr/local/lib/jitsu-test-%d" % os.getpid()
    os.makedirs(d)
    try:
        yield d
    finally:
        subprocess.run(["rm", "-rf", d])


def _script(path, mode, uid=0):
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho ran\n")
    os.chown(path, uid, 0)
    os.chmod(path, mode)


def test_unsafe_binaries_refused(users, daemon, unsafe_dir):
    ww = os.path.join(unsafe_dir, "world-writable")
    _script(ww, 0o777)
    owned = os.path.join(unsafe_dir, "user-owned")
    _script(owned, 0o755, uid=pwd.getpwnam(users["alice"]).pw_uid)
    ok = os.path.join(unsafe_dir, "safe")
    _script(ok, 0o755)
    r = jitsu(users["alice"], [ok], daemon)
    assert r.returncode == 0 and r.stdout == b"ran\n", r.stderr
    for path, why in ((ww, b"writable by group or others"), (owned, b"not owned by root")):
        r = jitsu(users["alice"], [path], daemon)
        assert r.returncode == EXIT_NOEXEC, r.stderr
        assert why in r.stderr and b"ran" not in r.stdout


def test_binary_in_user_writable_dir_refused(users, daemon, unsafe_dir):
    os.chmod(unsafe_dir, 0o777)
    path = os.path.join(unsafe_dir, "prog")
    _script(path, 0o755)
    r = jitsu(users["alice"], [path], daemon)
    assert r.returncode == EXIT_NOEXEC
    assert b"unsafe directory" in r.stderr


def test_binary_under_sticky_root_dir_allowed(users, daemon, unsafe_dir):
    # A sticky directory that root owns (as /tmp) cannot have root's
    # entries renamed by others: a root-owned tree below it is safe.
    os.chmod(unsafe_dir, 0o1777)
    sub = os.path.join(unsafe_dir, "rootonly")
    os.mkdir(sub, 0o755)
    path = os.path.join(sub, "prog")
    _script(path, 0o755)
    r = jitsu(users["alice"], [path], daemon)
    assert r.returncode == 0 and r.stdout == b"ran\n", r.stderr
    # The same directory owned by a user is not safe.
    os.chown(unsafe_dir, pwd.getpwnam(users["bob"]).pw_uid, 0)
    r = jitsu(users["alice"], [path], daemon)
    assert r.returncode == EXIT_NOEXEC and b"unsafe directory" in r.stderr


def test_not_found_and_not_executable(users, daemon, unsafe_dir):
    r = jitsu(users["alice"], ["no-such-command-jitsu"], daemon)
    assert r.returncode == EXIT_NOTFOUND
    assert b"command not found" in r.stderr
    plain = os.path.join(unsafe_dir, "plain")
    with open(plain, "w") as f:
        f.write("data\n")
    os.chmod(plain, 0o644)
    r = jitsu(users["alice"], [plain], daemon)
    assert r.returncode == EXIT_NOEXEC


def test_reason_required(users, daemon):
    r = jitsu(users["carol"], ["true"], daemon)
    assert r.returncode == EXIT_DENIED
    assert b"reason is required" in r.stderr
    r = jitsu(users["carol"], ["-r", "ticket 42", "true"], daemon)
    assert r.returncode == 0, r.stderr


def test_daemon_not_running(users, workdir):
    r = run_as(users["alice"], [JITSU, "true"], env={"JITSU_SOCKET": workdir + "/none.sock"})
    assert r.returncode == EXIT_UNREACHABLE
    assert b"cannot reach jitsud" in r.stderr


def test_list(users, daemon):
    r = jitsu(users["alice"], ["-l"], daemon)
    assert r.returncode == 0
    out = r.stdout.decode()
    assert "permit %s as root" % users["alice"] in out
    assert "deny %s cmd /usr/bin/passwd" % users["alice"] in out
    assert "permit %s cmd" % users["bob"] not in out


def test_reload_keeps_old_policy_on_error(users, daemon):
    daemon.write_policy("permit {alice} as root\nthis is not a rule\n")
    daemon.reload()
    assert "policy reload failed" in daemon.read_log()
    assert jitsu(users["bob"], ["echo", "exact", "words"], daemon).returncode == 0
    daemon.write_policy("permit {bob} as root\n")
    daemon.reload()
    assert jitsu(users["bob"], ["id"], daemon).returncode == 0
    assert jitsu(users["alice"], ["id"], daemon).returncode == EXIT_DENIED


def test_world_writable_policy_refused(users, daemon_factory):
    d = daemon_factory("permit {alice} as root\n", start=False)
    os.chmod(d.policy, 0o666)
    r = subprocess.run([JITSUD, "-t", "-c", d.policy], capture_output=True)
    assert r.returncode != 0
    assert b"writable by group or others" in r.stderr


def test_policy_in_writable_directory_refused(users, workdir):
    # Its owner could swap the file: a policy must sit in directories
    # only root can change (root's sticky ones, like /tmp, included).
    d = os.path.join(workdir, "pol")
    os.mkdir(d)
    path = os.path.join(d, "policy.conf")
    with open(path, "w") as f:
        f.write("permit root\n")
    os.chmod(path, 0o644)
    assert subprocess.run([JITSUD, "-t", "-c", path], capture_output=True).returncode == 0
    os.chmod(d, 0o777)
    r = subprocess.run([JITSUD, "-t", "-c", path], capture_output=True)
    assert r.returncode != 0 and b"unsafe directory" in r.stderr, r.stderr
    os.chmod(d, 0o755)
    os.chown(d, pwd.getpwnam(users["bob"]).pw_uid, 0)
    r = subprocess.run([JITSUD, "-t", "-c", path], capture_output=True)
    assert r.returncode != 0 and b"unsafe directory" in r.stderr, r.stderr


def test_check_mode(users, workdir):
    pol = os.path.join(workdir, "check.conf")
    with open(pol, "w") as f:
        f.write("permit mfa approval reason {alice} cmd /usr/bin/id\npermit {alice} cmd /usr/bin/true\n"
                .format(alice=users["alice"]))
    r = run_as(users["alice"], [JITSU, "-C", pol, "id"])
    assert (r.returncode, r.stdout) == (0, b"permit mfa approval reason\n")
    r = run_as(users["alice"], [JITSU, "-C", pol, "true"])
    assert (r.returncode, r.stdout) == (0, b"permit\n")
    r = run_as(users["alice"], [JITSU, "-C", pol, "ls"])
    assert (r.returncode, r.stdout) == (1, b"deny\n")
    r = run_as(users["bob"], [JITSU, "-C", pol, "true"])
    assert (r.returncode, r.stdout) == (1, b"deny\n")


def test_hours_window(users, daemon_factory):
    now = time.localtime()
    minute = now.tm_hour * 60 + now.tm_min
    # A two-hour window that excludes now, and one that includes it.
    start = (minute + 60) % 1440
    end = (minute + 180) % 1440
    outside = "%02d:%02d-%02d:%02d" % (start // 60, start % 60, end // 60, end % 60)
    s2, e2 = (minute - 60) % 1440, (minute + 60) % 1440
    inside = "%02d:%02d-%02d:%02d" % (s2 // 60, s2 % 60, e2 // 60, e2 % 60)
    d = daemon_factory("permit hours %s {alice} cmd /usr/bin/true\n"
                       "permit hours %s {bob} cmd /usr/bin/true\n" % (outside, inside))
    assert jitsu(users["alice"], ["true"], d).returncode == EXIT_DENIED
    assert jitsu(users["bob"], ["true"], d).returncode == 0


def test_client_disconnect_sends_sighup(users, daemon, workdir):
    marker = os.path.join(workdir, "hup-marker")
    script = "trap 'echo hup > %s; exit 0' HUP; echo ready; while :; do sleep 0.05; done" % marker
    p = subprocess.Popen([JITSU, "sh", "-c", script], stdout=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env={"JITSU_SOCKET": daemon.socket},
                         user=pwd.getpwnam(users["alice"]).pw_uid)
    assert p.stdout.readline() == b"ready\n"
    p.kill()
    p.wait()
    deadline = time.monotonic() + 10
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.path.exists(marker), daemon.read_log()


def test_sigterm_lets_running_commands_finish(users, daemon):
    p = subprocess.Popen([JITSU, "sh", "-c", "echo started; read x; echo got $x"],
                         stdout=subprocess.PIPE, stdin=subprocess.PIPE,
                         env={"JITSU_SOCKET": daemon.socket},
                         user=pwd.getpwnam(users["alice"]).pw_uid)
    assert p.stdout.readline() == b"started\n"
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=10) == 0
    r = jitsu(users["alice"], ["true"], daemon)
    assert r.returncode == EXIT_UNREACHABLE
    out, _ = p.communicate(b"line\n", timeout=10)
    assert out == b"got line\n"
    assert p.returncode == 0


def test_mount_namespace_cannot_rename_a_binary(users, daemon_factory, workdir):
    # A caller in a mount namespace of its own binds /usr/bin/id over
    # /usr/bin/true and asks for ./true from /usr/bin: the file jitsud
    # opens through the caller's cwd reads back as /usr/bin/true, but it is
    # not that file for jitsud, so the rule for true must not run it.
    d = daemon_factory("permit {alice} as root cmd /usr/bin/true\n")
    script = ("mount --bind /usr/bin/id /usr/bin/true && cd /usr/bin && "
              "JITSU_SOCKET=%s %s ./true -u" % (d.socket, JITSU))
    probe = run_as(users["alice"], ["unshare", "-Urm", "true"])
    if probe.returncode != 0:
        pytest.skip("no unprivileged user namespaces here")
    r = run_as(users["alice"], ["unshare", "-Urm", "sh", "-c", script])
    assert r.stdout == b"", r.stdout
    assert r.returncode == EXIT_NOEXEC, r.stderr
    assert b"not that file for jitsud" in r.stderr
    # Outside the namespace the rule still works.
    assert jitsu(users["alice"], ["/usr/bin/true"], d).returncode == 0
