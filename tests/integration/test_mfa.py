"""TOTP multi-factor authentication: enrollment, codes, replay, lockout,
recovery codes and a corrupt store, with real users and a real jitsud.

Codes are computed with oathtool at chosen offsets; nothing in jitsud has
a test hook. The client runs without a controlling terminal, so it reads
each answer as one line of stdin.
"""
import json
import os
import pwd
import re
import subprocess
import time

import pytest

from conftest import JITSU, JITSUCTL, user_ids

POLICY = """
permit mfa {alice} cmd /usr/bin/id
permit mfa {bob} cmd /usr/bin/id
permit {carol} cmd /usr/bin/id
permit mfa {carol} cmd /usr/bin/whoami
"""

STEP = 30


def totp(secret, at):
    out = subprocess.run(["oathtool", "--totp", "-b", secret, "--now", "@%d" % at],
                         capture_output=True, check=True)
    return out.stdout.decode().strip()


def spawn(user, args, daemon):
    """Starts jitsu as user with no controlling terminal and pipes for stdio."""
    uid, gid, extra = user_ids(user)
    return subprocess.Popen([JITSU, *args], user=uid, group=gid, extra_groups=extra,
                            env={"JITSU_SOCKET": daemon.socket, "LANG": "C.UTF-8"},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def fresh_step():
    """Returns the current time once at least 5 s remain in its 30 s step, so
    that codes computed now are still of the same step when checked."""
    while True:
        now = time.time()
        if STEP - (now % STEP) >= 5:
            return int(now)
        time.sleep(STEP - (now % STEP) + 0.05)


def enroll(user, daemon):
    """Enrolls user; returns (secret, recovery codes, full stdout)."""
    p = spawn(user, ["--enroll-mfa"], daemon)
    out = b""
    while b"by hand:" not in out:
        line = p.stdout.readline()
        assert line, "no enrollment shown: %r %r" % (out, p.stderr.read())
        out += line
    secret = re.search(rb"by hand: ([A-Z2-7]+)", out).group(1).decode()
    rest, err = p.communicate(totp(secret, fresh_step()).encode() + b"\n", timeout=30)
    assert p.returncode == 0, err
    out += rest
    codes = re.findall(rb"^  ([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})$", rest, re.M)
    assert len(codes) == 10, rest
    return secret, [c.decode() for c in codes], out


def elevate(user, daemon, answers, args=("id", "-u")):
    p = spawn(user, list(args), daemon)
    out, err = p.communicate("".join(a + "\n" for a in answers).encode(), timeout=30)
    return p.returncode, out, err


def state_file(daemon, user):
    return os.path.join(daemon.state, "mfa", str(pwd.getpwnam(user).pw_uid))


def rewrite_state(daemon, user, key, value):
    path = state_file(daemon, user)
    with open(path) as f:
        text = f.read()
    text = re.sub(r"^%s=.*$" % key, "%s=%s" % (key, value), text, flags=re.M)
    with open(path, "w") as f:
        f.write(text)


@pytest.fixture
def daemon(daemon_factory):
    return daemon_factory(POLICY)


def test_enroll_shows_uri_qr_and_codes(users, daemon):
    secret, codes, out = enroll(users["alice"], daemon)
    text = out.decode()
    assert "otpauth://totp/jitsu:%s@" % users["alice"] in text
    assert "secret=%s" % secret in text and "issuer=jitsu" in text
    assert len(secret) == 32  # 160 bits
    # The QR block: rows of half blocks, all of one width.
    rows = [line for line in text.splitlines() if "\u2580" in line or "\u2584" in line
            or "\u2588" in line]
    assert len(rows) >= 10
    assert len(codes) == len(set(codes)) == 10
    st = os.stat(state_file(daemon, users["alice"]))
    assert st.st_mode & 0o777 == 0o600 and st.st_uid == 0
    assert os.stat(os.path.dirname(state_file(daemon, users["alice"]))).st_mode & 0o777 == 0o700
    with open(state_file(daemon, users["alice"])) as f:
        stored = f.read()
    for c in codes:
        assert c not in stored and c.replace("-", "") not in stored


def test_enroll_requires_a_right_code(users, daemon):
    p = spawn(users["bob"], ["--enroll-mfa"], daemon)
    out, err = p.communicate(b"000000\n111111\n222222\n", timeout=30)
    assert p.returncode == 1
    assert b"enrollment not confirmed" in err
    r = subprocess.run([JITSU, "--mfa-status"], env={"JITSU_SOCKET": daemon.socket},
                       user=pwd.getpwnam(users["bob"]).pw_uid, capture_output=True)
    assert b"not enrolled" in r.stdout or b"pending" in r.stdout


def test_right_code_runs_wrong_code_refused(users, daemon):
    secret, _, _ = enroll(users["alice"], daemon)
    rewrite_state(daemon, users["alice"], "last_step", "0")
    now = fresh_step()
    rc, out, err = elevate(users["alice"], daemon, [totp(secret, now)])
    assert (rc, out) == (0, b"0\n"), err
    assert b"MFA code for %s@" % users["alice"].encode() in err
    rc, out, err = elevate(users["alice"], daemon, ["123456", "654321", "000000"])
    assert rc == 1 and out == b""
    assert err.count(b"jitsu: wrong code\n") == 3 and b"MFA failed: 3 wrong codes" in err


def test_window_replay_and_order(users, daemon):
    secret, _, _ = enroll(users["alice"], daemon)
    rewrite_state(daemon, users["alice"], "last_step", "0")
    now = fresh_step()
    assert elevate(users["alice"], daemon, [totp(secret, now - 90)])[0] == 1
    assert elevate(users["alice"], daemon, [totp(secret, now + 90)])[0] == 1
    assert elevate(users["alice"], daemon, [totp(secret, now - 30)])[0] == 0
    assert elevate(users["alice"], daemon, [totp(secret, now + 30)])[0] == 0
    # A code of an earlier step after a later one, and a replay.
    rc, _, err = elevate(users["alice"], daemon, [totp(secret, now)])
    assert rc == 1 and b"already used" in err
    rc, _, err = elevate(users["alice"], daemon, [totp(secret, now + 30)])
    assert rc == 1 and b"already used" in err


def test_lockout_survives_restart(users, daemon):
    secret, _, _ = enroll(users["bob"], daemon)
    assert elevate(users["bob"], daemon, ["111111"] * 3)[0] == 1
    rc, _, err = elevate(users["bob"], daemon, ["111111"] * 2)
    assert rc == 1 and b"locked out for 60 s" in err, err
    assert "locked out" in daemon.read_log()
    daemon.stop()
    daemon.start()
    rc, _, err = elevate(users["bob"], daemon, [totp(secret, fresh_step() + 30)])
    assert rc == 1 and b"MFA is locked" in err
    r = subprocess.run([JITSU, "--mfa-status"], env={"JITSU_SOCKET": daemon.socket},
                       user=pwd.getpwnam(users["bob"]).pw_uid, capture_output=True)
    assert b"locked out: " in r.stdout and b"s left" in r.stdout


def test_recovery_code_works_once(users, daemon):
    _, codes, _ = enroll(users["alice"], daemon)
    rc, out, err = elevate(users["alice"], daemon, [codes[3]])
    assert (rc, out) == (0, b"0\n"), err
    assert b"9 left" in err
    rc, _, err = elevate(users["alice"], daemon, [codes[3]])
    assert rc == 1 and b"already used" in err


def test_not_enrolled_refused(users, daemon):
    rc, out, err = elevate(users["carol"], daemon, ["123456"], args=("whoami",))
    assert rc == 1 and out == b""
    assert b"has not enrolled: run jitsu --enroll-mfa" in err
    # carol's rule without mfa is unaffected.
    assert elevate(users["carol"], daemon, [], args=("id", "-u"))[0] == 0


def test_corrupt_store_fails_closed_for_that_user_only(users, daemon):
    enroll(users["alice"], daemon)
    secret_b, _, _ = enroll(users["bob"], daemon)
    rewrite_state(daemon, users["bob"], "last_step", "0")
    with open(state_file(daemon, users["alice"]), "w") as f:
        f.write("jitsu-mfa 1\nphase=active\nsecret=zz\n")
    rc, _, err = elevate(users["alice"], daemon, ["123456"])
    assert rc == 1 and b"unusable" in err
    rc, out, err = elevate(users["bob"], daemon, [totp(secret_b, fresh_step())])
    assert (rc, out) == (0, b"0\n"), err


def test_status_and_double_enroll(users, daemon):
    enroll(users["alice"], daemon)
    uid = pwd.getpwnam(users["alice"]).pw_uid
    r = subprocess.run([JITSU, "--mfa-status"], env={"JITSU_SOCKET": daemon.socket}, user=uid,
                       capture_output=True)
    assert r.returncode == 0
    assert b"mfa: enrolled" in r.stdout and b"recovery codes left: 10" in r.stdout
    r = subprocess.run([JITSU, "--enroll-mfa"], env={"JITSU_SOCKET": daemon.socket}, user=uid,
                       capture_output=True, stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and b"already enrolled" in r.stderr


def test_admin_reset_is_audited_and_allows_reenrollment(users, daemon):
    enroll(users["alice"], daemon)
    r = subprocess.run([JITSUCTL, "-d", daemon.state, "mfa", "reset", users["alice"]],
                       capture_output=True)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(state_file(daemon, users["alice"]))
    r = subprocess.run([JITSUCTL, "-d", daemon.state, "audit", "show", "--json"],
                       capture_output=True, check=True)
    resets = [json.loads(line) for line in r.stdout.decode().splitlines()
              if json.loads(line)["event"] == "mfa_reset"]
    assert len(resets) == 1 and resets[0]["user"] == users["alice"]
    assert resets[0]["uid"] == pwd.getpwnam(users["alice"]).pw_uid
    r = subprocess.run([JITSUCTL, "-d", daemon.state, "mfa", "reset", users["alice"]],
                       capture_output=True)
    assert r.returncode == 1 and b"not enrolled" in r.stderr
    enroll(users["alice"], daemon)


def test_mfa_events_are_audited(users, daemon):
    secret, _, _ = enroll(users["bob"], daemon)
    rewrite_state(daemon, users["bob"], "last_step", "0")
    assert elevate(users["bob"], daemon, ["000000", totp(secret, fresh_step())])[0] == 0
    r = subprocess.run([JITSUCTL, "-d", daemon.state, "audit", "show", "--json"],
                       capture_output=True, check=True)
    events = [json.loads(line)["event"] for line in r.stdout.decode().splitlines()]
    assert "mfa_enroll" in events and "mfa_fail" in events and "mfa_ok" in events
    assert events.index("mfa_ok") < events.index("start")
    assert r.stdout.count(secret.encode()) == 0
