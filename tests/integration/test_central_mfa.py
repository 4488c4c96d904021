"""Central MFA in fleet mode, end to end: a real jitsu-hub (SQLite, and
again on PostgreSQL), two real jitsud (hosts A and B, each with its own
socket and state directory) enrolled in it, and real users.

A user enrolls once, on A, with `jitsu --enroll-mfa`; the secret is read
from the otpauth URI shown to the user, as an authenticator app would,
and never lands on A. Codes are computed with oathtool at chosen offsets;
nothing has a test hook. Synchronisation is on readiness only: the hub's
"listening:" line, jitsud's sd_notify READY=1, and the client's output.
"""
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import JITSU, JITSUCTL, Daemon, user_ids
from hubflow_fakehub import FakeHub
from hubflow_hub import audit_records, enroll as enroll_endpoint, tls_pair
from hubflow_hub import ctl, hub, pg_cluster  # noqa: F401 (fixtures)

POLICY = """
permit mfa {alice} cmd /usr/bin/id
permit mfa {bob} cmd /usr/bin/id
"""

STEP = 30


def totp(secret, at):
    out = subprocess.run(["oathtool", "--totp", "-b", secret, "--now", "@%d" % at],
                         capture_output=True, check=True)
    return out.stdout.decode().strip()


def fresh_step():
    """The current time once at least 5 s remain in its 30 s step."""
    while True:
        now = time.time()
        if STEP - (now % STEP) >= 5:
            return int(now)
        time.sleep(STEP - (now % STEP) + 0.05)


def spawn(user, args, daemon):
    uid, gid, extra = user_ids(user)
    return subprocess.Popen([JITSU, *args], user=uid, group=gid, extra_groups=extra,
                            env={"JITSU_SOCKET": daemon.socket, "LANG": "C.UTF-8"},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def elevate(user, daemon, answers, args=("id", "-u")):
    p = spawn(user, list(args), daemon)
    out, err = p.communicate("".join(a + "\n" for a in answers).encode(), timeout=60)
    return p.returncode, out, err


def mfa_status(user, daemon):
    r = subprocess.run([JITSU, "--mfa-status"], env={"JITSU_SOCKET": daemon.socket},
                       user=pwd.getpwnam(user).pw_uid, capture_output=True, timeout=60)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def enroll_mfa(user, daemon):
    """jitsu --enroll-mfa on daemon; returns (secret from the URI, recovery
    codes, the step of the confirming code)."""
    p = spawn(user, ["--enroll-mfa"], daemon)
    out = b""
    while b"by hand:" not in out:
        line = p.stdout.readline()
        assert line, "no enrollment shown: %r %r" % (out, p.stderr.read())
        out += line
    uri = re.search(rb"otpauth://totp/\S+", out).group(0).decode()
    secret = re.search(r"[?&]secret=([A-Z2-7]+)(&|$)", uri).group(1)
    assert uri.startswith("otpauth://totp/jitsu:%s?" % user), uri
    now = fresh_step()
    rest, err = p.communicate(totp(secret, now).encode() + b"\n", timeout=60)
    assert p.returncode == 0, err
    codes = re.findall(rb"^  ([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})$", rest, re.M)
    assert len(codes) == 10, rest
    return secret, [c.decode() for c in codes], now


def one_line(err):
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


# ---- fixtures ----

@pytest.fixture
def hosts(hub, ctl, users, workdir):
    """Hosts A and B: two jitsud, own socket and state each, one hub."""
    started = []
    try:
        for name in ("a", "b"):
            d = os.path.join(workdir, name)
            os.mkdir(d, 0o755)
            daemon = Daemon(d, POLICY)
            r = enroll_endpoint(hub, daemon.state, ctl.enrollment_token())
            assert r.returncode == 0, r.stderr
            started.append(daemon.start())
        yield started
    finally:
        for daemon in started:
            daemon.stop()


def mfa_events(daemon):
    return [(r["event"], r.get("detail", "")) for r in audit_records(daemon.state)
            if r["event"].startswith("mfa_")]


# ---- the five cases ----

def test_enroll_on_a_elevate_on_b(users, hosts, ctl):
    a, b = hosts
    alice = users["alice"]
    secret, _, now = enroll_mfa(alice, a)
    # The secret is the hub's only: nothing of alice's MFA on A.
    assert not os.path.exists(os.path.join(a.state, "mfa", str(pwd.getpwnam(alice).pw_uid)))
    for path, _, files in os.walk(a.state):
        for f in files:
            with open(os.path.join(path, f), "rb") as fh:
                assert secret.encode() not in fh.read(), f
    rc, out, err = elevate(alice, b, [totp(secret, now + STEP)])
    assert (rc, out) == (0, b"0\n"), err
    assert ("mfa_ok", "hub: totp") in mfa_events(b)
    assert ("mfa_enroll", "enrolled at the hub") in mfa_events(a)
    for daemon in (a, b):
        rc, out, _ = mfa_status(alice, daemon)
        assert rc == 0 and "mfa: enrolled (at the hub)" in out and "left: 10" in out
    # A second enrollment, on either host, is refused.
    p = spawn(alice, ["--enroll-mfa"], b)
    _, err = p.communicate(b"", timeout=60)
    assert p.returncode != 0 and b"already enrolled at the hub" in err, err
    # The admin sees it at the hub; bob is not enrolled anywhere.
    r = ctl.ok("mfa", "status")
    assert re.search(r"^%s\s+enrolled\s+10\s+0\s+no" % alice, r.stdout, re.M), r.stdout
    # On an enrolled machine plain `jitsuctl mfa` asks the hub too.
    r = subprocess.run([JITSUCTL, "-d", b.state, "mfa", "status", alice], env=ctl.env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "MFA is the hub's" in r.stderr, r.stderr
    assert re.search(r"^%s\s+enrolled\s+10" % alice, r.stdout, re.M), r.stdout
    r = subprocess.run([JITSUCTL, "-d", b.state, "mfa", "status", users["bob"]],
                       env=ctl.env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "not enrolled for MFA at the hub" in r.stdout, r
    rc, _, err = elevate(users["bob"], a, ["123456"])
    assert rc == 1 and b"has not enrolled at the hub: run jitsu --enroll-mfa" in err, err


def test_replay_across_hosts_refused(users, hosts):
    a, b = hosts
    alice = users["alice"]
    secret, _, now = enroll_mfa(alice, a)
    code = totp(secret, now + STEP)
    rc, out, err = elevate(alice, a, [code])
    assert (rc, out) == (0, b"0\n"), err
    rc, out, err = elevate(alice, b, [code])
    assert rc == 1 and out == b"", err
    assert b"that code was already used" in err
    assert ("mfa_fail", "hub: replayed a used code") in mfa_events(b)


def test_one_code_racing_on_both_hosts(users, hosts):
    a, b = hosts
    alice = users["alice"]
    secret, _, now = enroll_mfa(alice, a)
    code = totp(secret, now + STEP)
    results = {}

    def run(daemon, key):
        results[key] = elevate(alice, daemon, [code])

    threads = [threading.Thread(target=run, args=(d, i)) for i, d in enumerate([a, b, a, b])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    ran = [k for k, (rc, out, _) in results.items() if rc == 0 and out == b"0\n"]
    assert len(results) == 4 and len(ran) == 1, results


def test_lockout_across_hosts(users, hosts, ctl, hub):
    a, b = hosts
    bob = users["bob"]
    secret, _, now = enroll_mfa(bob, a)
    wrong = "%06d" % ((int(totp(secret, now)) + 500000) % 1000000)
    rc, _, err = elevate(bob, a, [wrong] * 3)
    assert rc == 1 and err.count(b"jitsu: wrong code\n") == 3, err
    rc, out, err = elevate(bob, b, [wrong] * 2)
    assert rc == 1 and out == b""
    assert b"locked out across the fleet for 60 s" in err, err
    assert ("mfa_lockout", "hub: locked out for 60 s") in mfa_events(b)
    assert ("mfa_fail", "hub: wrong code, 3 consecutive failures") in mfa_events(a)
    # Locked on both hosts, even with the right code.
    for daemon in (a, b):
        rc, out, err = elevate(bob, daemon, [totp(secret, now + STEP)])
        assert rc == 1 and out == b"" and b"MFA is locked for %s" % bob.encode() in err, err
    assert "mfa: lockout user=%s for 60 s" % bob in hub.log_text()
    r = ctl.json("mfa", "status", bob)
    assert r["user"] == bob and r["state"] == "enrolled" and r["locked_secs"] > 0, r
    r = ctl.ok("mfa", "status", bob)
    assert re.search(r"^%s\s+enrolled\s+10\s+0\s+(\d+m)?\d+s\s" % bob, r.stdout,
                     re.M), r.stdout
    # The admin's reset, at the hub, clears it for the fleet.
    r = subprocess.run([JITSUCTL, "--hub", hub.url, "mfa", "reset", bob],
                       env=ctl.env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "removed at the hub" in r.stdout, r.stderr
    rc, _, err = elevate(bob, b, [totp(secret, now + STEP)])
    assert rc == 1 and b"has not enrolled at the hub" in err, err


def test_recovery_code_once_fleet_wide(users, hosts):
    a, b = hosts
    alice = users["alice"]
    _, codes, _ = enroll_mfa(alice, b)
    rc, out, err = elevate(alice, a, [codes[2]])
    assert (rc, out) == (0, b"0\n"), err
    assert b"recovery code accepted; 9 left" in err
    assert ("mfa_ok", "hub: recovery code, 9 left") in mfa_events(a)
    rc, out, err = elevate(alice, b, [codes[2].upper().replace("-", "")])
    assert rc == 1 and out == b"" and b"already used" in err, err
    rc, out, err = elevate(alice, b, [codes[7]])
    assert (rc, out) == (0, b"0\n") and b"8 left" in err, err


def test_hub_down_fails_closed(users, hosts, hub):
    a, b = hosts
    alice = users["alice"]
    secret, _, now = enroll_mfa(alice, a)
    hub.stop()
    rc, out, err = elevate(alice, b, [totp(secret, now + STEP)])
    assert rc == 1 and out == b"", err
    line = one_line(err)
    assert line.startswith("jitsu: MFA needs the hub, which failed: "), line
    assert ("mfa_fail", "hub unavailable") in mfa_events(b)
    # A local enrollment does not stand in for the hub's.
    rc, _, err = elevate(alice, b, [], args=("--enroll-mfa",))
    assert rc != 0 and b"the hub failed" in err, err
    assert not os.path.exists(os.path.join(b.state, "mfa", str(pwd.getpwnam(alice).pw_uid)))


# ---- a hostile hub: only a well-formed "ok" for this user runs ----

STATUS = ("GET", "/api/v1/endpoint/mfa/status")
VERIFY = ("POST", "/api/v1/endpoint/mfa/verify")
ENROLL = ("POST", "/api/v1/endpoint/mfa/enroll")


@pytest.fixture(scope="module")
def tls_pair_fake():
    d = tempfile.mkdtemp(prefix="jitsu-cmfa-tls-")
    try:
        yield tls_pair(os.path.join(d, "a"))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def fake_host(fake, fp, workdir):
    d = os.path.join(workdir, "fake-host")
    os.mkdir(d, 0o755)
    daemon = Daemon(d, POLICY)
    r = enroll_endpoint(fake, daemon.state, "jhe_%s_%s" % ("0" * 16, "0" * 64), fingerprint=fp)
    assert r.returncode == 0, r.stderr
    return daemon.start()


def verdict(user, **kw):
    v = {"user": user, "result": "ok", "method": "totp", "locked_until": 0, "locked_secs": 0,
         "recovery_left": 10, "fail_count": 0, "lockout_started": False}
    v.update(kw)
    return v


@pytest.mark.parametrize("answer", [
    "ok", "other user", "no user", "no method", "odd result", "http 500", "garbage",
])
def test_hostile_hub_verdicts(answer, tls_pair_fake, users, workdir):
    cert, key, fp = tls_pair_fake
    alice = users["alice"]
    bodies = {
        "ok": (200, verdict(alice)),
        "other user": (200, verdict(users["bob"])),
        "no user": (200, {k: v for k, v in verdict(alice).items() if k != "user"}),
        "no method": (200, {k: v for k, v in verdict(alice).items() if k != "method"}),
        "odd result": (200, verdict(alice, result="OK")),
        "http 500": (500, {"error": {"code": "internal", "message": "internal error"}}),
        "garbage": (200, b"\x00{not json"),
    }
    routes = {STATUS: (200, {"user": alice, "state": "enrolled", "recovery_left": 10}),
              VERIFY: bodies[answer]}
    with FakeHub(cert, key, routes) as fake:
        daemon = fake_host(fake, fp, workdir)
        try:
            rc, out, err = elevate(alice, daemon, ["123456"])
            # A malformed code is refused before anything is sent.
            rc2, _, err2 = elevate(alice, daemon, ["12345"] * 3)
        finally:
            daemon.stop()
        assert rc2 == 1 and b"expected a 6-digit code" in err2
        assert fake.seen.count(VERIFY) == 1, fake.seen
    if answer == "ok":
        assert (rc, out) == (0, b"0\n"), err
    else:
        assert rc == 1 and out == b"", err
        assert b"MFA" in err.splitlines()[-1], err


def test_hostile_hub_status_and_enroll(tls_pair_fake, users, workdir):
    cert, key, fp = tls_pair_fake
    alice = users["alice"]
    routes = {STATUS: (200, {"user": users["bob"], "state": "enrolled"}),
              ENROLL: (201, {"user": alice, "uri": "otpauth://totp/x?secret=ZZ",
                             "secret": "short"})}
    with FakeHub(cert, key, routes) as fake:
        daemon = fake_host(fake, fp, workdir)
        try:
            rc, out, err = elevate(alice, daemon, ["123456"])
            assert rc == 1 and out == b"" and b"malformed" in err, err
            assert VERIFY not in fake.seen
            rc, out, err = elevate(alice, daemon, [], args=("--enroll-mfa",))
            assert rc != 0 and b"malformed" in err and b"otpauth" not in out, (out, err)
        finally:
            daemon.stop()
