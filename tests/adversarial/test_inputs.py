"""Attacks through what the client hands over: its own argv, the target
user, argument and environment sizes, hostile environment variables, the
search path, and descriptors that are not what they claim to be.

Each test names the real bug or bug class it replays and asserts the safe
outcome: nothing is granted that the policy does not grant, the user gets
one clear line, the daemon still serves a following normal request, and
its audit trail verifies.

Covered elsewhere and not repeated: argc == 0 printing the usage
(test_badinput.test_client_with_argc_zero), one argument at the kernel's
MAX_ARG_STRLEN and past it (test_badinput, test_attacks), counts and
lengths over the protocol's caps on the raw socket (test_badinput.BAD_EXEC),
LD_PRELOAD/LD_LIBRARY_PATH/BASH_ENV/IFS/PYTHONPATH/TERM dropped for root
(test_core), wrong descriptor counts and a file, pipe or socket as the cwd
(test_badinput.test_wrong_descriptors), TIOCSTI against the user's terminal
(test_tty.test_tiocsti_cannot_reach_the_users_terminal).
"""
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from conftest import (EXIT_DENIED, EXIT_NOEXEC, JITSU, assert_refusal_recorded,
                      assert_safe_after, audit_records, connect, jitsu, one_line_error, rp,
                      run_as)
from test_badinput import StdFds, read_to_eof, wait_no_sessions

EXIT_USAGE = 64


def run_raw(users, d, payload, fds_list):
    """One exec request on the raw socket; the messages up to EXIT or ERROR
    (a BYE answers the EXIT, as the real client does)."""
    msgs = []
    with connect(users, d) as s:
        rp.send(s, rp.frame(rp.REQ_EXEC, payload), fds_list)
        while True:
            m = rp.recv(s)
            if m is None:
                return msgs
            m.close_fds()
            msgs.append(m)
            if m.type == rp.EXIT:
                rp.send(s, rp.frame(rp.BYE))
            if m.type in (rp.EXIT, rp.ERROR):
                return msgs

# ---- the client exec'd with argc == 0 (CVE-2021-4034, pkexec) ---------------

EXECNULL_C = r"""
#include <stdio.h>
#include <unistd.h>
/* execnull PROG [ENV...]: execs PROG with argv = {NULL} and the given
 * environment, as pkexec was in CVE-2021-4034. */
int main(int argc, char **argv)
{
	char *none[] = {NULL};
	if (argc < 2)
		return 2;
	execve(argv[1], none, argv + 2);
	perror("execve");
	return 99;
}
"""


@pytest.fixture(scope="module")
def execnull():
    d = tempfile.mkdtemp(prefix="jitsu-adv-cc-")
    os.chmod(d, 0o755)
    src, exe = os.path.join(d, "execnull.c"), os.path.join(d, "execnull")
    with open(src, "w") as f:
        f.write(EXECNULL_C)
    subprocess.run(["cc", "-O1", "-o", exe, src], check=True, capture_output=True)
    os.chmod(exe, 0o755)
    try:
        yield exe
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_argc_zero_reads_no_argument_from_the_environment(users, daemon_factory, execnull,
                                                          workdir):
    """CVE-2021-4034 (PwnKit): pkexec run with argc == 0 read argv[1] out of
    bounds, which is envp[0], and wrote it back into the environment
    (GCONV_PATH=. gave root code execution). jitsu is exec'd with an empty
    argv and an environment whose first strings look like a command line
    and a gconv hijack. It must print its usage and exit 64 without asking
    the daemon for anything: no record in the trail, the marker command
    never runs."""
    d = daemon_factory("permit {alice} as root\n")
    marker = os.path.join(workdir, "pwnkit")
    before = len(audit_records(d))
    env = ["touch", marker, "-u", "root", "GCONV_PATH=.", "CHARSET=PWNKIT",
           "PATH=GCONV_PATH=.", "JITSU_SOCKET=" + d.socket]
    r = run_as(users["alice"], [execnull, JITSU, *env], env={}, timeout=20)
    assert r.returncode == EXIT_USAGE, (r.returncode, r.stderr)
    assert r.stderr.startswith(b"usage: jitsu"), r.stderr
    assert r.stdout == b""
    assert not os.path.exists(marker)
    assert len(audit_records(d)) == before
    assert_safe_after(users, d)


# ---- the target user (CVE-2019-14287, sudo -u#-1) ---------------------------

TARGET_POLICY = """
permit {alice} as {bob}
permit {alice} as root cmd /usr/bin/true
"""


@pytest.mark.parametrize("target", ["#-1", "#4294967295", "4294967295", "-1", "#0", "0",
                                    "#65535", "root\n", " root", "ROOT", "root:root",
                                    "\x1b]0;pwn\x07", "nosuchuser-jitsu", ""])
def test_target_user_tricks_never_give_root(users, daemon_factory, target):
    """CVE-2019-14287: sudo -u#-1 (and -u#4294967295) passed uid -1 to
    setresuid, which means "unchanged", so a rule "any user but root" ran the
    command as root. alice may run anything as bob and only true as root:
    every numeric, negative, wrapped, padded or unknown spelling of a target
    must be refused with one line (unknown user, or denied for root), run
    nothing, and record no start."""
    d = daemon_factory(TARGET_POLICY)
    ok = jitsu(users["alice"], ["-u", users["bob"], "id", "-u"], d)
    assert ok.returncode == 0 and ok.stdout == b"%d\n" % pwd.getpwnam(users["bob"]).pw_uid
    r = jitsu(users["alice"], ["-u", target, "id", "-u"], d)
    assert r.returncode in (EXIT_DENIED, EXIT_USAGE), (target, r.returncode, r.stderr)
    assert r.stdout == b"", (target, r.stdout)
    if target == "":  # refused by the client itself
        assert r.returncode == EXIT_USAGE and r.stderr.startswith(b"usage: jitsu"), r.stderr
    else:
        line = one_line_error(r.stderr)
        assert "unknown target user" in line or "may not run" in line, line
        # The name is quoted back, but never as terminal controls.
        assert not any(b < 0x20 and b != 0x0a or b == 0x7f for b in r.stderr), r.stderr
    recs = audit_records(d)
    starts = [x for x in recs if x["event"] == "start"]
    assert [x["target"] for x in starts] == [users["bob"]], starts
    if target != "":
        # The refused attempt is in the trail as received, with its refusal.
        ((req, end),) = assert_refusal_recorded(recs, users["alice"], ["id", "-u"], target)
        assert end["event"] == "decision" and end["decision"] in ("deny", "refused"), end
    assert_safe_after(users, d)


# ---- the terminal's name (CVE-2017-1000367, sudo get_process_ttyname) ------

def test_terminal_name_cannot_be_spoofed_by_the_command_name(users, daemon_factory, workdir):
    """CVE-2017-1000367: sudo read its tty number from /proc/self/stat,
    split on spaces, so a command name containing ") " and numbers chose
    the terminal sudo believed it was on (and then relabelled). jitsu is
    run on a pty through a symlink whose name is crafted that way. The
    audit trail must name the terminal the client really passed, and the
    command must get a fresh pty of its own, not the one named."""
    from ptyhelp import TtyClient
    d = daemon_factory("permit {alice} as root\n")
    link = os.path.join(workdir, "x ) R 1 1 1 34817 ")
    os.symlink(JITSU, link)
    c = TtyClient(users["alice"], None, d, argv=[link, "sh", "-c", "echo on:$(tty); read x"])
    try:
        m = c.expect(rb"on:(/dev/pts/\d+)")
        with open("/proc/%d/comm" % c.pid) as f:  # the crafted name is the client's
            assert f.read() == "x ) R 1 1 1 348\n"
        c.send(b"\r")
        assert c.wait() == 0, c.out
    finally:
        c.close()
    req = [x for x in audit_records(d) if x["event"] == "request"][-1]
    assert req["tty"] == c.ttyname, (req["tty"], c.ttyname)
    assert m.group(1).decode() != c.ttyname
    assert_safe_after(users, d)


# ---- sizes at the caps, on the raw socket -----------------------------------

def _payload_exactly(argv_head, env, total):
    """An exec payload of exactly total bytes: argv_head, then filler
    arguments making argc reach PROTO_MAX_ARGS."""
    n = rp.MAX_ARGS - len(argv_head)
    base = len(rp.exec_payload(list(argv_head) + [""] * n, env=env))
    extra = total - base
    assert 0 <= extra <= n * 1000, extra
    each, rest = divmod(extra, n)
    fill = ["y" * (each + (1 if i < rest else 0)) for i in range(n)]
    payload = rp.exec_payload(list(argv_head) + fill, env=env)
    assert len(payload) == total
    return payload


def test_request_at_every_cap_at_once_runs(users, daemon_factory):
    """Off-by-one at a limit (the class of CVE-2021-3156's size
    arithmetic, and of every "n > MAX" that should have been ">="): one
    request on the raw socket with exactly PROTO_MAX_ARGS arguments, exactly
    PROTO_MAX_ENV environment entries, one of them exactly
    PROTO_MAX_ENV_LEN long, in a payload of exactly PROTO_MAX_PAYLOAD bytes
    (lib/proto.c). It is well formed, so it must run whole; the caps
    themselves stay refusals (test_badinput.BAD_EXEC)."""
    d = daemon_factory("permit {alice} as root\n")
    env = ["LANG=C.UTF-8"] * (rp.MAX_ENV - 1) + ["TERM=" + "x" * (rp.MAX_ENV_LEN - 5)]
    head = ["sh", "-c", 'echo "$#" "${#1}" "$LANG"', "sh"]
    payload = _payload_exactly(head, env, rp.MAX_PAYLOAD)
    fds = StdFds()
    try:
        msgs = run_raw(users, d, payload, fds.all)
        fds.close_write_ends()
        assert [m.type for m in msgs][:1] == [rp.STARTED], msgs
        assert msgs[-1].type == rp.EXIT and msgs[-1].u32x2() == (0, 0), msgs
        out = read_to_eof(fds.out_r).split()
    finally:
        fds.close()
    assert out[0] == b"%d" % (rp.MAX_ARGS - len(head)) and out[2] == b"C.UTF-8", out
    wait_no_sessions(d)
    req = [x for x in audit_records(d) if x["event"] == "request"][-1]
    assert len(req["argv"]) == rp.MAX_ARGS
    assert_safe_after(users, d)


# ---- hostile environment variables ------------------------------------------

HOSTILE_ENV = {
    # CVE-2021-4034 (pkexec): a gconv module loaded from a user directory
    "GCONV_PATH": "/tmp/pwn", "CHARSET": "PWNKIT",
    # CVE-2023-4911 (Looney Tunables): glibc's tunables parser overflowed
    "GLIBC_TUNABLES": "glibc.malloc.mxfast=glibc.malloc.mxfast=A",
    # the dynamic loader: libraries and audit modules of the user's choice
    "LD_PRELOAD": "/tmp/evil.so", "LD_LIBRARY_PATH": "/tmp", "LD_AUDIT": "/tmp/a.so",
    # shells: startup files and field splitting (sudo's env_reset list)
    "BASH_ENV": "/tmp/x", "ENV": "/tmp/x", "IFS": "/ \t\n", "CDPATH": "/tmp",
    # CVE-2016-7543 (bash): PS4 with SHELLOPTS=xtrace ran code in setuid shells
    "SHELLOPTS": "xtrace", "PS4": "$(touch /tmp/ps4)",
    # CVE-2014-6271 (Shellshock): a function exported through the environment
    "BASH_FUNC_id%%": "() { echo shellshock; }", "x": "() { :;}; echo shellshock",
    # interpreters: module search paths and options run code at start-up
    "PYTHONPATH": "/tmp", "PYTHONSTARTUP": "/tmp/x.py", "PYTHONINSPECT": "1",
    "PERL5LIB": "/tmp", "PERLLIB": "/tmp", "PERL5OPT": "-Mevil",
    "RUBYOPT": "-revil", "RUBYLIB": "/tmp", "NODE_OPTIONS": "--require /tmp/x.js",
    # locale and resolver files, and the C library's malloc debugging
    "LOCPATH": "/tmp", "NLSPATH": "/tmp/%N", "HOSTALIASES": "/tmp/h",
    "RESOLV_HOST_CONF": "/etc/shadow", "MALLOC_CHECK_": "3",
    # a hostile TERM: a path out of terminfo, and a huge one
    "TERM": "../../../../tmp/evil", "TERMINFO": "/tmp/ti", "TERMCAP": "/tmp/tc",
}


def _env_of_command(users, d, via, target, extra=()):
    """The elevated command's environment, asked for by the real client
    (which filters first) or by a raw client (so that only the daemon's
    filter stands between HOSTILE_ENV and the command)."""
    argv = ["env", *extra]
    if via == "client":
        args = argv if target == "root" else ["-u", users["bob"], *argv]
        r = jitsu(users["alice"], args, d, env=HOSTILE_ENV)
        assert r.returncode == 0, r.stderr
        return r.stdout
    fds = StdFds()
    try:
        env = ["%s=%s" % kv for kv in HOSTILE_ENV.items()]
        msgs = run_raw(users, d, rp.exec_payload(argv, env=env, target="" if target == "root"
                                                 else users["bob"]), fds.all)
        fds.close_write_ends()
        assert msgs[-1].type == rp.EXIT and msgs[-1].u32x2() == (0, 0), msgs
        return read_to_eof(fds.out_r)
    finally:
        fds.close()


@pytest.mark.parametrize("via", ["client", "raw"])
@pytest.mark.parametrize("target", ["root", "bob"])
def test_hostile_environment_never_reaches_the_command(users, daemon_factory, target, via):
    """The environment variables behind real root exploits (named next to
    each in HOSTILE_ENV: pkexec's GCONV_PATH, glibc's GLIBC_TUNABLES,
    Shellshock, bash's PS4/SHELLOPTS, interpreters' search paths, a TERM
    path) set by the caller, through the client and straight on the socket:
    none of them may reach the elevated command, for root or another
    target; bash started by it sees no exported function."""
    d = daemon_factory("permit {alice} as root\npermit {alice} as {bob}\n")
    out = _env_of_command(users, d, via, target)
    got = dict(line.split("=", 1) for line in out.decode().splitlines())
    leaked = sorted(set(HOSTILE_ENV) & set(got))
    assert leaked == [], leaked
    assert not any("shellshock" in v or "/tmp" in v for v in got.values()), got
    assert got["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert got["JITSU_USER"] == users["alice"]
    out = _env_of_command(users, d, via, target,
                          ["bash", "-c", "id -u >/dev/null && echo clean"])
    assert out == b"clean\n", out
    assert not os.path.exists("/tmp/ps4")
    assert_safe_after(users, d)


# ---- the search path and the working directory ------------------------------

FAKE = "#!/bin/sh\necho HIJACKED\n"


@pytest.fixture
def evil_dir(users):
    """A directory alice owns, holding fakes of id and true."""
    d = tempfile.mkdtemp(prefix="jitsu-adv-evil-")
    for name in ("id", "true"):
        p = os.path.join(d, name)
        with open(p, "w") as f:
            f.write(FAKE)
        os.chmod(p, 0o755)
    uid = pwd.getpwnam(users["alice"]).pw_uid
    for p in [d] + [os.path.join(d, n) for n in os.listdir(d)]:
        os.chown(p, uid, -1)
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_path_hijack_and_user_owned_binaries(users, daemon_factory, evil_dir):
    """PATH hijacking (CWE-426, untrusted search path: the reason for
    sudo's secure_path, and the bug of every setuid helper that runs a
    bare command name with the caller's PATH): with "." and a
    directory alice owns first in PATH, and that directory as the cwd, a
    bare `id` must run /usr/bin/id (recorded as such), while `./id` and the
    full path of alice's fake are refused as unsafe (not root-owned, in a
    directory she can write) even under a rule permitting everything."""
    d = daemon_factory("permit {alice} as root\n")
    env = {"PATH": ".:%s:/usr/bin:/bin" % evil_dir}
    r = jitsu(users["alice"], ["id", "-u"], d, env=env, cwd=evil_dir)
    assert (r.returncode, r.stdout) == (0, b"0\n"), r.stderr
    for cmd in ("./id", os.path.join(evil_dir, "true")):
        r = jitsu(users["alice"], [cmd], d, env=env, cwd=evil_dir)
        assert r.returncode == EXIT_NOEXEC and r.stdout == b"", (cmd, r.stdout, r.stderr)
        line = one_line_error(r.stderr)
        assert "not owned by root" in line or "unsafe directory" in line, line
    permits = [x for x in audit_records(d) if x["event"] == "decision"
               and x["decision"] == "permit"]
    assert permits[0]["binary"] == "/usr/bin/id", permits
    assert not any(evil_dir in (x.get("binary") or "") for x in permits), permits
    assert_safe_after(users, d)


# ---- descriptors that are not what they claim -------------------------------

@pytest.fixture
def locked_dir():
    """A root-only directory (0700) holding a secret and a root-owned script."""
    d = tempfile.mkdtemp(prefix="jitsu-adv-locked-")
    with open(os.path.join(d, "secret"), "w") as f:
        f.write("TOPSECRET\n")
    with open(os.path.join(d, "prog"), "w") as f:
        f.write("#!/bin/sh\ncat secret\n")
    os.chmod(os.path.join(d, "prog"), 0o755)
    os.chmod(d, 0o700)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_unsearchable_cwd_gives_nothing_away(users, daemon_factory, locked_dir):
    """Descriptor confusion (CWE-668: a privileged process acting on a
    descriptor the caller chose): O_PATH opens a directory without any
    permission on it, so alice can
    send an O_PATH fd of a 0700 root directory as her cwd. A relative
    command there must be refused (the lookup runs as alice, who may not
    search it), and a command run as bob must not read what is inside."""
    d = daemon_factory("permit {alice} as root cmd /usr/bin/true\npermit {alice} as {bob}\n"
                       "permit {alice} as root cmd %s/prog\n" % locked_dir)
    fds = StdFds()
    os.close(fds.cwd)
    fds.cwd = os.open(locked_dir, os.O_PATH | os.O_DIRECTORY)
    fds.all[3] = fds.cwd
    try:
        msgs = run_raw(users, d, rp.exec_payload(["./prog"]), fds.all)
        assert [m.type for m in msgs] == [rp.ERROR], msgs
        code, text = msgs[0].error()
        assert code in (rp.E_NOTFOUND, rp.E_NOEXEC) and "\n" not in text, (code, text)
        msgs = run_raw(users, d, rp.exec_payload(["sh", "-c", "cat secret; cat ./secret; ls -a ."],
                                                 target=users["bob"]), fds.all)
        fds.close_write_ends()
        out = read_to_eof(fds.out_r) + read_to_eof(fds.err_r)
    finally:
        fds.close()
    assert b"TOPSECRET" not in out and b"prog" not in out, out
    wait_no_sessions(d)
    assert_safe_after(users, d)


def test_opath_stdin_of_a_root_only_file_is_not_a_read(users, daemon_factory):
    """Descriptor confusion: alice passes an O_PATH descriptor of
    /etc/shadow (which needs no read permission to open) as the command's
    stdin. A command run as bob reading it, or reopening it through
    /proc/self/fd/0, must not see the file: the fd carries no read right and
    a reopen is checked against bob."""
    d = daemon_factory("permit {alice} as root cmd /usr/bin/true\npermit {alice} as {bob}\n")
    fds = StdFds()
    os.close(fds.stdin)
    fds.stdin = os.open("/etc/shadow", os.O_PATH)
    fds.all[0] = fds.stdin
    try:
        script = "cat; cat /proc/self/fd/0; head -c 64 <&0"
        msgs = run_raw(users, d, rp.exec_payload(["sh", "-c", script], target=users["bob"]),
                       fds.all)
        fds.close_write_ends()
        out = read_to_eof(fds.out_r)
        err = read_to_eof(fds.err_r)
    finally:
        fds.close()
    assert msgs and msgs[0].type in (rp.STARTED, rp.ERROR), msgs
    assert b"root:" not in out and b"root:" not in err, (out, err)
    wait_no_sessions(d)
    assert_safe_after(users, d)
