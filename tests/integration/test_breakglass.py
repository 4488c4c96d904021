"""Break-glass elevation end to end (docs/breakglass.md): a real hub (SQLite,
and again on PostgreSQL), a real jitsud enrolled with `jitsud --enroll`,
real users, and the admin's `jitsuctl breakglass respond`.

The situation is the realistic one: the admin reaches the hub, the endpoint
does not. After enrollment the endpoint's link in hub.conf is pointed at a
closed loopback port (a network partition as the endpoint sees it), while
the hub keeps serving the admin. Expired and foreign responses are computed
here from the documented construction with the key from hub.conf; nothing
in jitsud has a clock or test hook.

Synchronisation is on readiness only: the hub's "listening:" line, jitsud's
READY=1, and the client's challenge and prompt on its stderr.
"""
import glob
import hashlib
import hmac
import json
import os
import re
import socket
import struct
import subprocess
import time

import pytest

import rawproto as rp
from conftest import JITSUCTL, jitsu, user_ids
from hubflow_hub import Client, audit_records, enroll
from hubflow_hub import ctl, hub, pg_cluster  # noqa: F401 (fixtures)

POLICY = """
permit approval {alice} cmd /usr/bin/id
permit approval nobreakglass {alice} cmd /usr/bin/whoami
permit approval {alice} cmd /usr/bin/true
deny {alice} cmd /usr/bin/true
permit {alice} cmd /usr/bin/uname
permit mfa approval {alice} cmd /usr/bin/date
"""
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHALLENGE = rb"challenge ([0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4})"
PROMPT = rb"break-glass response: "
CHALLENGE_TEXT = b"challenge "
CLOSED = "https://127.0.0.1:9"  # discard: nothing listens there


# ---- fixtures ----

class Glass:
    """An enrolled jitsud cut off from its hub; the admin still reaches it."""

    def __init__(self, hub, ctl, daemon, users, out):
        self.hub, self.ctl, self.daemon, self.users = hub, ctl, daemon, users
        self.endpoint_id = re.search(r"enrolled: endpoint ([0-9a-f]{16})", out).group(1)
        self.conf_path = os.path.join(daemon.state, "hub.conf")
        self.clients = []

    def conf(self):
        with open(self.conf_path) as f:
            return json.load(f)

    def write_conf(self, conf):
        tmp = self.conf_path + ".new"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(conf, f)
        os.rename(tmp, self.conf_path)

    def client(self, *args):
        c = Asker(self.users["alice"], list(args), self.daemon)
        self.clients.append(c)
        return c

    def respond(self, challenge, top_level=False):
        """The admin: jitsuctl breakglass respond ID CHALLENGE; the code."""
        if top_level:  # `jitsuctl breakglass ...`, as the admin types it
            r = subprocess.run([JITSUCTL, "breakglass", "respond", self.endpoint_id, challenge],
                               env=self.ctl.env(), capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
        else:
            r = self.ctl.run("breakglass", "respond", self.endpoint_id, challenge)
        assert r.returncode == 0, (r.stdout, r.stderr)
        code = r.stdout.strip()
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}", code), r.stdout
        return code

    def records(self, event="breakglass"):
        return [r for r in audit_records(self.daemon.state) if r["event"] == event]


@pytest.fixture
def glass(hub, ctl, users, daemon_factory):
    d = daemon_factory(POLICY, start=False)
    r = enroll(hub, d.state, ctl.enrollment_token())
    assert r.returncode == 0, r.stderr
    g = Glass(hub, ctl, d, users, r.stdout)
    conf = g.conf()
    assert re.fullmatch(r"[0-9a-f]{64}", conf["breakglass_key"]), conf
    g.hub_url = conf["url"]
    conf["url"] = CLOSED
    g.write_conf(conf)
    d.start()
    try:
        yield g
    finally:
        for c in g.clients:
            c.kill()


class Asker(Client):
    """jitsu ARGS as a user without a terminal: answers go to its stdin,
    its stderr is read as it arrives."""

    def __init__(self, user, args, daemon):
        super().__init__(user, args, daemon, stdin=subprocess.PIPE)

    def challenge(self):
        c = self.expect(CHALLENGE).group(1).decode()
        self.expect(PROMPT)
        return c

    def answer(self, line):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()

    def close(self):
        """End of input: the client has no further answer."""
        self.p.stdin.close()
        self.p.stdin = None

    def finish(self, timeout=30):
        return super().finish(timeout)


def b32(data, n):
    bits = "".join(format(x, "08b") for x in data)
    return "".join(ALPHABET[int(bits[i * 5:i * 5 + 5], 2)] for i in range(n))


def response_for(key_hex, challenge, host, window):
    """The documented construction, written out independently of jitsu."""
    c = challenge.replace("-", "").upper()
    msg = (b"jitsu-breakglass-v1" + c.encode() + b"\0" + host.encode() + b"\0" +
           struct.pack(">Q", window))
    r = b32(hmac.new(bytes.fromhex(key_hex), msg, hashlib.sha256).digest(), 10)
    return r[:5] + "-" + r[5:]


def audit_bytes(state):
    data = b""
    for path in glob.glob(os.path.join(state, "audit", "*")):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                data += f.read()
    return data


# ---- tests ----

def test_the_endpoint_cannot_reach_the_hub(glass):
    """Without break-glass the approval rule fails closed: the premise."""
    r = jitsu(glass.users["alice"], ["-r", "outage", "/usr/bin/id", "-u"], glass.daemon)
    assert r.returncode == 1, r
    assert b"approval required, refusing" in r.stderr, r.stderr


def test_refused_while_the_hub_answers(glass):
    """Break-glass is for a hub that cannot be reached: with the link back,
    one admin's phone call must not stand in for the hub's approval."""
    conf = glass.conf()
    conf["url"] = glass.hub_url
    glass.write_conf(conf)  # read at each call: no restart needed
    r = jitsu(glass.users["alice"], ["--break-glass", "-r", "not an outage", "/usr/bin/id",
                                     "-u"], glass.daemon)
    assert r.returncode == 1, r
    assert b"break-glass refused: the hub can be reached" in r.stderr, r.stderr
    assert CHALLENGE_TEXT not in r.stderr  # no challenge was ever shown
    (g,) = glass.records()
    assert g["outcome"] == "refused" and "the hub can be reached" in g["why"], g
    assert glass.records("start") == []
    # The partition again: break-glass is open once more.
    conf["url"] = CLOSED
    glass.write_conf(conf)
    c = glass.client("--break-glass", "-r", "outage 9", "/usr/bin/id", "-u")
    c.answer(glass.respond(c.challenge()))
    rc, out, err = c.finish()
    assert (rc, out) == (0, b"0\n"), err


def test_valid_response_runs_once_and_is_audited(glass):
    c = glass.client("--break-glass", "-r", "outage 7", "/usr/bin/id", "-u")
    challenge = c.challenge()
    assert glass.endpoint_id.encode() in c.err  # what to read to the admin
    code = glass.respond(challenge, top_level=True)
    c.answer(code.lower().replace("-", ""))  # as typed over a phone
    rc, out, err = c.finish()
    assert rc == 0, err
    assert out == b"0\n"

    recs = glass.records()
    assert len(recs) == 1, recs
    g = recs[0]
    assert g["outcome"] == "granted" and g["challenge"] == challenge, g
    assert g["reason"] == "outage 7" and g["binary"] == "/usr/bin/id"
    assert re.fullmatch(r".*policy\.conf:2", g["rule"]), g
    assert abs(g["window"] - int(time.time()) // 300) <= 1, g
    assert g["user"] == glass.users["alice"]
    starts = glass.records("start")
    assert len(starts) == 1 and starts[0]["seq"] > g["seq"]
    # the hub never heard of it: no approval request was made
    assert glass.ctl.json("requests")["requests"] == []
    # neither the code nor the key reaches the trail
    trail = audit_bytes(glass.daemon.state)
    assert code.encode() not in trail and code.replace("-", "").encode() not in trail
    assert glass.conf()["breakglass_key"].encode() not in trail
    log = glass.daemon.read_log()
    assert code not in log and code.replace("-", "") not in log
    # the challenge is consumed in the durable, root-only store
    store = os.path.join(glass.daemon.state, "breakglass")
    assert os.stat(store).st_mode & 0o777 == 0o700
    with open(os.path.join(store, "used"), "rb") as f:
        used = f.read()
    assert used == b"%s %d\n" % (challenge.replace("-", "").encode(), g["window"]), used
    assert os.stat(os.path.join(store, "used")).st_mode & 0o777 == 0o600

    # The same response for a second request: a new challenge, so refused.
    c = glass.client("--break-glass", "-r", "outage 7", "/usr/bin/id", "-u")
    again = c.challenge()
    assert again != challenge
    c.answer(code)
    c.expect(rb"wrong response")
    c.close()  # nothing more: the client answers empty lines
    rc, out, err = c.finish()
    assert rc == 1 and out == b"", err
    assert b"break-glass refused: 3 wrong responses" in err
    refused = [r for r in glass.records() if r["outcome"] == "refused"]
    assert [r["why"] for r in refused] == ["wrong response"] + ["malformed response"] * 2, \
        refused
    assert refused[0]["challenge"] == again
    assert len(glass.records("start")) == 1  # nothing else ran


def test_a_consumed_challenge_is_refused(glass):
    """The durable record: a challenge already in the store (as after an
    earlier use, or a machine whose randomness repeated) is refused even
    with its correct response in its window."""
    c = glass.client("--break-glass", "-r", "outage 8", "/usr/bin/id", "-u")
    challenge = c.challenge()
    store = os.path.join(glass.daemon.state, "breakglass")
    os.makedirs(store, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(store, "used"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.write(fd, b"%s %d\n" % (challenge.replace("-", "").encode(), int(time.time()) // 300))
    os.close(fd)
    c.answer(glass.respond(challenge))
    rc, out, err = c.finish()
    assert rc == 1 and out == b"", err
    assert b"this challenge was used already" in err
    assert [r["why"] for r in glass.records()] == ["this challenge was used already"]
    assert glass.records("start") == []


def test_wrong_and_expired_responses_are_refused(glass):
    key = glass.conf()["breakglass_key"]
    c = glass.client("--break-glass", "-r", "outage 9", "/usr/bin/id", "-u")
    challenge = c.challenge()
    now_w = int(time.time()) // 300
    c.answer("ZZZZZ-ZZZZZ")
    c.expect(rb"jitsu: wrong response")
    c.expect(PROMPT + rb"(?s:.*)" + PROMPT)
    c.answer(response_for(key, challenge, glass.endpoint_id, now_w - 3))
    c.expect(rb"jitsu: expired response")
    c.answer("not a code")
    rc, out, err = c.finish()
    assert rc == 1 and out == b"", err
    assert b"break-glass refused: 3 wrong responses" in err
    whys = [(r["outcome"], r["why"]) for r in glass.records()]
    assert whys == [("refused", "wrong response"), ("refused", "expired response"),
                    ("refused", "malformed response")], whys
    assert glass.records()[1]["window"] == now_w - 3
    assert glass.records("start") == []

    # The right code for the right window, computed here, works: the key
    # in hub.conf is the one the hub holds.
    c = glass.client("--break-glass", "-r", "outage 9", "/usr/bin/id", "-u")
    challenge = c.challenge()
    c.answer(response_for(key, challenge, glass.endpoint_id, int(time.time()) // 300))
    rc, out, err = c.finish()
    assert (rc, out) == (0, b"0\n"), err


def test_policy_limits(glass):
    alice = glass.users["alice"]
    # nobreakglass: refused before any challenge is shown
    r = jitsu(alice, ["--break-glass", "-r", "outage", "/usr/bin/whoami"], glass.daemon)
    assert r.returncode == 1 and b"challenge" not in r.stderr, r.stderr
    assert b"break-glass refused: the rule forbids it (nobreakglass)" in r.stderr
    # a deny stays a deny
    r = jitsu(alice, ["--break-glass", "-r", "outage", "/usr/bin/true"], glass.daemon)
    assert r.returncode == 1 and b"may not run /usr/bin/true" in r.stderr, r.stderr
    assert b"challenge" not in r.stderr
    decisions = [d["decision"] for d in audit_records(glass.daemon.state)
                 if d["event"] == "decision"]
    assert decisions == ["permit", "deny"], decisions
    # a rule that needs no hub runs as always
    r = jitsu(alice, ["--break-glass", "-r", "outage", "/usr/bin/uname"], glass.daemon)
    assert r.returncode == 0 and b"break-glass not needed" in r.stderr, r.stderr
    # the client wants a reason
    r = jitsu(alice, ["--break-glass", "/usr/bin/id"], glass.daemon)
    assert r.returncode == 64 and b"needs a reason" in r.stderr, r.stderr
    whys = [r["why"] for r in glass.records()]
    assert whys == ["the rule forbids it (nobreakglass)", "the policy denies this command"]
    assert glass.records("start")[0]["binary"] == "/usr/bin/uname"
    assert len(glass.records("start")) == 1


def test_daemon_requires_a_reason(glass):
    """jitsud checks the reason itself: a hand-made request without one."""
    uid, gid, extra = user_ids(glass.users["alice"])
    s = rp.connect_as(glass.daemon.socket, uid, gid, extra)
    null = os.open("/dev/null", os.O_RDWR)
    cwd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        s.settimeout(10)
        rp.send(s, rp.frame(rp.REQ_EXEC, rp.exec_payload(["/usr/bin/id"], flags=2)),
                [null, null, null, cwd])
        msgs = rp.recv_all(s)
    finally:
        s.close()
        os.close(null)
        os.close(cwd)
    errors = [m.error() for m in msgs if m.type == rp.ERROR]
    assert len(errors) == 1 and "a reason is required" in errors[0][1], msgs
    assert glass.records("start") == []


def test_endpoint_without_a_key(glass):
    """Enrolled before break-glass: hub.conf has no key; a clear refusal."""
    conf = glass.conf()
    del conf["breakglass_key"]
    glass.write_conf(conf)
    r = jitsu(glass.users["alice"], ["--break-glass", "-r", "outage", "/usr/bin/id"],
              glass.daemon)
    assert r.returncode == 1, r
    assert b"enrolled before break-glass existed" in r.stderr and b"re-enroll" in r.stderr
    # said before any MFA prompt (alice has no MFA: that would be the refusal)
    r = jitsu(glass.users["alice"], ["--break-glass", "-r", "outage", "/usr/bin/date"],
              glass.daemon)
    assert r.returncode == 1 and b"MFA" not in r.stderr, r.stderr
    assert b"enrolled before break-glass existed" in r.stderr


def test_reenrolling_gives_a_key(glass):
    """The documented route for a machine enrolled before break-glass:
    enroll again, revoke the old endpoint."""
    conf = glass.conf()
    del conf["breakglass_key"]
    glass.write_conf(conf)
    old = glass.endpoint_id
    r = enroll(glass.hub, glass.daemon.state, glass.ctl.enrollment_token())
    assert r.returncode == 0, r.stderr
    new = re.search(r"enrolled: endpoint ([0-9a-f]{16})", r.stdout).group(1)
    conf = glass.conf()
    assert new != old and re.fullmatch(r"[0-9a-f]{64}", conf["breakglass_key"])
    conf["url"] = CLOSED
    glass.write_conf(conf)
    glass.ctl.ok("endpoint", "revoke", old)
    glass.endpoint_id = new

    c = glass.client("--break-glass", "-r", "outage", "/usr/bin/id", "-u")
    challenge = c.challenge()
    assert b"endpoint " + new.encode() in c.err
    r = glass.ctl.run("breakglass", "respond", old, challenge)
    assert r.returncode == 1 and "endpoint_revoked" in r.stderr, r.stderr
    j = glass.ctl.json("breakglass", "respond", new, challenge)  # --json
    assert (j["endpoint_id"], j["challenge"]) == (new, challenge), j
    assert j["valid_until"] == (j["window"] + 2) * 300
    c.answer(j["response"])
    rc, out, err = c.finish()
    assert (rc, out) == (0, b"0\n"), err


def test_hub_mfa_is_replaced(glass):
    """In a fleet the hub verifies MFA, so with the hub unreachable an `mfa`
    rule fails closed; break-glass stands in for it (as for approval): no
    MFA prompt, the challenge instead, and the trail says so."""
    r = jitsu(glass.users["alice"], ["-r", "outage", "/usr/bin/date"], glass.daemon)
    assert r.returncode == 1 and b"MFA" in r.stderr, r.stderr
    c = glass.client("--break-glass", "-r", "outage", "/usr/bin/date")
    challenge = c.challenge()
    assert b"MFA code" not in c.err
    c.answer(glass.respond(challenge))
    rc, out, err = c.finish()
    assert rc == 0 and out, err
    events = [r["event"] for r in audit_records(glass.daemon.state)
              if r["event"] in ("mfa_ok", "mfa_fail", "breakglass", "start")]
    assert events[-2:] == ["breakglass", "start"], events
    assert "mfa_ok" not in events


def test_alert_at_hub_when_endpoint_reconnects(glass):
    """Break-glass use raises breakglass_used at the hub once the endpoint
    reaches it again and its audit trail arrives (store and forward)."""
    c = glass.client("--break-glass", "-r", "outage", "/usr/bin/id", "-u")
    c.answer(glass.respond(c.challenge()))
    rc, out, err = c.finish()
    assert (rc, out) == (0, b"0\n"), err
    seq = glass.records()[-1]["seq"]
    assert glass.ctl.json("alerts", "--kind", "breakglass_used")["alerts"] == []
    # the link comes back
    glass.daemon.stop()
    conf = glass.conf()
    conf["url"] = glass.hub_url
    glass.write_conf(conf)
    glass.daemon.start()
    deadline = time.monotonic() + 30
    while True:
        alerts = glass.ctl.json("alerts", "--kind", "breakglass_used")["alerts"]
        if alerts or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(alerts) == 1, alerts
    assert (alerts[0]["endpoint_id"], alerts[0]["seq"]) == (glass.endpoint_id, seq), alerts


def seed_store(glass, text, mode=0o600):
    store = os.path.join(glass.daemon.state, "breakglass")
    os.makedirs(store, mode=0o700, exist_ok=True)
    path = os.path.join(store, "used")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.write(fd, text)
    os.close(fd)
    os.chmod(path, mode)
    return path


def test_store_prunes_and_fails_closed(glass):
    now_w = int(time.time()) // 300
    live = b"YYYYYYYY %d\n" % now_w
    path = seed_store(glass, b"ZZZZZZZZ 5\n" + live)
    c = glass.client("--break-glass", "-r", "outage", "/usr/bin/id", "-u")
    challenge = c.challenge()
    c.answer(glass.respond(challenge))
    rc, out, err = c.finish()
    assert (rc, out) == (0, b"0\n"), err
    w = glass.records()[-1]["window"]
    with open(path, "rb") as f:  # the stale line dropped, the live one kept
        assert f.read() == live + b"%s %d\n" % (challenge.replace("-", "").encode(), w)

    for text, mode in ((b"not a store\n", 0o600), (live, 0o644)):
        seed_store(glass, text, mode)
        c = glass.client("--break-glass", "-r", "outage", "/usr/bin/id", "-u")
        challenge = c.challenge()
        c.answer(glass.respond(challenge))
        rc, out, err = c.finish()
        assert rc == 1 and out == b"", err
        assert b"breakglass/used is unusable" in err, err
    assert len(glass.records("start")) == 1


def test_jitsuctl_arguments_and_hostnames(glass):
    for args in (("ABCD-U123",), ("ABCD-012",), ()):
        r = glass.ctl.run("breakglass", "respond", glass.endpoint_id, *args)
        assert r.returncode == 2 and r.stdout == "", (args, r.stderr)
    r = glass.ctl.run("breakglass", "respond", "bad_host!", "ABCD-0123")
    assert r.returncode == 2 and "HOST must be" in r.stderr, r.stderr
    # by hostname, as enrolled (this machine's)
    j = glass.ctl.json("breakglass", "respond", socket.gethostname(), "abcd-0123")
    assert (j["endpoint_id"], j["challenge"]) == (glass.endpoint_id, "ABCD-0123"), j
    r = glass.ctl.run("breakglass", "respond", "nowhere.invalid", "ABCD-0123")
    assert r.returncode == 1 and "not_found" in r.stderr, r.stderr
