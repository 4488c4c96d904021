"""Central MFA routes (docs/hub-api.md): enrollment, confirmation, the
check with replay, lockout and recovery codes shared by every endpoint,
status, and the admin's list and reset. On SQLite and on PostgreSQL.

Codes are computed here with hmac (RFC 6238), independently of the hub's
liboath; nothing in the hub has a test hook or a clock to move.
"""
import base64
import hashlib
import hmac
import os
import re
import sqlite3
import struct
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import pgcluster

STEP = 30


def sql(hub, statement):
    """Runs statement on the hub's database behind its back."""
    if hub.db:
        subprocess.run([os.path.join(pgcluster.PGBIN, "psql"), "-X", "-q", "-v",
                        "ON_ERROR_STOP=1", "-d", hub.db, "-c", statement],
                       check=True, capture_output=True, timeout=30)
        return
    with sqlite3.connect(os.path.join(hub.dir, "hub.db")) as c:
        c.execute(statement)


def totp(secret_b32, at):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at) // STEP), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1000000)


def fresh_step():
    """The current time once at least 5 s remain in its step."""
    while True:
        now = time.time()
        if STEP - (now % STEP) >= 5:
            return int(now)
        time.sleep(STEP - (now % STEP) + 0.05)


class Fleet:
    """A hub with two enrolled endpoints, A and B."""

    def __init__(self, hub):
        self.hub = hub
        self.a_id, self.a = hub.enroll("a.example.org")
        self.b_id, self.b = hub.enroll("b.example.org")

    def post(self, ep, route, body):
        return self.hub.call("POST", "/api/v1/endpoint/mfa/" + route, body, auth=ep)

    def enroll(self, user="alice"):
        """Enrolls user through A; returns (secret, recovery codes, step used)."""
        r = self.post(self.a, "enroll", {"user": user})
        assert r.status == 201, r
        secret = r.json["secret"]
        assert re.fullmatch(r"[A-Z2-7]{32}", secret)
        assert r.json["uri"].startswith("otpauth://totp/jitsu:%s?secret=%s&" % (user, secret))
        now = fresh_step()
        r = self.post(self.a, "confirm", {"user": user, "code": totp(secret, now)})
        assert r.status == 200, r
        codes = r.json["recovery_codes"]
        assert len(codes) == 10 and all(re.fullmatch(r"[0-9a-z]{4}(-[0-9a-z]{4}){2}", c)
                                        for c in codes)
        return secret, codes, now

    def verify(self, ep, code, user="alice"):
        r = self.post(ep, "verify", {"user": user, "code": code})
        assert r.status == 200, r
        return r.json


@pytest.fixture
def fleet(hub):
    return Fleet(hub)


def test_enroll_once_verify_anywhere(fleet, hub):
    secret, _, now = fleet.enroll()
    v = fleet.verify(fleet.b, totp(secret, now + STEP))
    assert v["result"] == "ok" and v["method"] == "totp" and v["recovery_left"] == 10
    # Enrolling again is refused, from any endpoint, and changes nothing.
    r = fleet.post(fleet.b, "enroll", {"user": "alice"})
    assert r.status == 409 and r.code == "already_enrolled", r
    r = fleet.post(fleet.a, "confirm", {"user": "alice", "code": totp(secret, now)})
    assert r.status == 409 and r.code == "already_enrolled", r
    # The secret is never in a status or list answer.
    r = hub.call("GET", "/api/v1/endpoint/mfa/status?user=alice", auth=fleet.a)
    assert r.status == 200 and r.json["state"] == "enrolled", r
    assert r.json["recovery_left"] == 10 and secret not in r.raw.decode()
    r = hub.call("GET", "/api/v1/mfa", auth=hub.admin())
    assert r.status == 200 and [u["user"] for u in r.json["users"]] == ["alice"]
    assert secret not in r.raw.decode() and "secret" not in r.json["users"][0]
    assert r.json["users"][0]["updated_by"] == "endpoint:" + fleet.b_id


def test_confirm_needs_the_right_code(fleet, hub):
    r = fleet.post(fleet.a, "confirm", {"user": "bob", "code": "123456"})
    assert r.status == 409 and r.code == "not_pending", r
    r = fleet.post(fleet.a, "enroll", {"user": "bob"})
    assert r.status == 201
    secret = r.json["secret"]
    wrong = "%06d" % ((int(totp(secret, time.time())) + 1) % 1000000)
    r = fleet.post(fleet.a, "confirm", {"user": "bob", "code": wrong})
    assert r.status == 403 and r.code == "wrong_code", r
    r = hub.call("GET", "/api/v1/endpoint/mfa/status?user=bob", auth=fleet.b)
    assert r.json["state"] == "pending"
    assert fleet.verify(fleet.b, totp(secret, time.time()), user="bob")["result"] == \
        "not_enrolled"
    # Starting again replaces the pending secret.
    r = fleet.post(fleet.b, "enroll", {"user": "bob"})
    assert r.status == 201 and r.json["secret"] != secret


def test_replay_across_endpoints(fleet):
    secret, _, now = fleet.enroll()
    code = totp(secret, now + STEP)
    assert fleet.verify(fleet.a, code)["result"] == "ok"
    assert fleet.verify(fleet.b, code)["result"] == "replay"
    # The enrollment's own step is used too.
    assert fleet.verify(fleet.b, totp(secret, now))["result"] == "replay"


def test_race_one_code_two_endpoints(fleet):
    secret, _, now = fleet.enroll()
    code = totp(secret, now + STEP)
    results = []
    go = threading.Barrier(8)

    def one(ep):
        go.wait()
        results.append(fleet.verify(ep, code)["result"])

    threads = [threading.Thread(target=one, args=(fleet.a if i % 2 else fleet.b,))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == ["ok"] + ["replay"] * 7, results


def test_lockout_across_endpoints(fleet, hub):
    secret, _, now = fleet.enroll()
    wrong = "%06d" % ((int(totp(secret, now)) + 500000) % 1000000)
    for i, ep in enumerate([fleet.a, fleet.b, fleet.a, fleet.b]):
        v = fleet.verify(ep, wrong)
        assert (v["result"], v["fail_count"], v["lockout_started"]) == ("fail", i + 1, False)
    v = fleet.verify(fleet.a, wrong)
    assert v["result"] == "fail" and v["lockout_started"] is True and v["locked_secs"] == 60
    assert v["locked_until"] >= now + 60
    v = fleet.verify(fleet.b, totp(secret, now + STEP))
    assert v["result"] == "locked" and 0 < v["locked_secs"] <= 60
    assert "mfa: lockout user=alice for 60 s" in hub.log_text()
    r = hub.call("GET", "/api/v1/mfa", auth=hub.admin())
    assert r.json["users"][0]["locked_secs"] > 0 and r.json["users"][0]["lockout_level"] == 1
    # one alert, naming the endpoint the last failure came from
    alerts = hub.call("GET", "/api/v1/alerts?kind=mfa_lockout", auth=hub.admin()).json["alerts"]
    assert len(alerts) == 1 and "user alice locked out" in alerts[0]["detail"], alerts
    assert alerts[0]["endpoint_id"] == fleet.a_id, alerts


def test_recovery_code_once_fleet_wide(fleet):
    _, codes, _ = fleet.enroll()
    v = fleet.verify(fleet.a, codes[4].upper())
    assert (v["result"], v["method"], v["recovery_left"]) == ("ok", "recovery", 9)
    assert fleet.verify(fleet.b, codes[4])["result"] == "replay"
    assert fleet.verify(fleet.b, codes[4].replace("-", ""))["result"] == "replay"
    assert fleet.verify(fleet.b, "zzzz-zzzz-zzzz")["result"] == "fail"
    assert fleet.verify(fleet.b, "12345")["result"] == "malformed"


def test_reset_and_roles(fleet, hub):
    secret, _, now = fleet.enroll()
    auditor = hub.user("eve", "auditor")
    approver = hub.user("ann", "approver")
    assert hub.call("GET", "/api/v1/mfa", auth=auditor).status == 200
    assert hub.call("GET", "/api/v1/mfa", auth=approver).status == 403
    assert hub.call("GET", "/api/v1/mfa", auth=fleet.a).status == 403
    r = hub.call("GET", "/api/v1/mfa/alice", auth=auditor)
    assert r.status == 200 and r.json["state"] == "enrolled" and r.json["user"] == "alice"
    assert secret not in r.raw.decode()
    r = hub.call("GET", "/api/v1/mfa/nobody", auth=auditor)
    assert r.status == 200 and r.json == {"user": "nobody", "state": "not_enrolled"}
    assert hub.call("GET", "/api/v1/mfa/alice", auth=approver).status == 403
    assert hub.call("GET", "/api/v1/mfa/alice", auth=fleet.a).status == 403
    assert hub.call("GET", "/api/v1/mfa/a%20b", auth=auditor).status == 400
    assert hub.call("POST", "/api/v1/mfa/alice/reset", auth=auditor).status == 403
    assert hub.call("POST", "/api/v1/mfa/alice/reset", auth=fleet.a).status == 403
    for route in ("enroll", "verify", "confirm"):
        r = hub.call("POST", "/api/v1/endpoint/mfa/" + route,
                     {"user": "alice", "code": "123456"}, auth=hub.admin())
        assert r.status == 403, (route, r)
    r = hub.call("POST", "/api/v1/mfa/alice/reset", auth=hub.admin())
    assert r.status == 200 and r.json == {"user": "alice", "reset": True}
    r = hub.call("POST", "/api/v1/mfa/alice/reset", auth=hub.admin())
    assert r.status == 404 and r.code == "not_enrolled"
    assert hub.call("POST", "/api/v1/mfa/..%2f/reset", auth=hub.admin()).status == 404
    assert fleet.verify(fleet.b, totp(secret, now + STEP))["result"] == "not_enrolled"
    assert fleet.post(fleet.b, "enroll", {"user": "alice"}).status == 201


def test_schema(fleet, hub):
    for body in ({"user": "a b"}, {"user": ""}, {"user": "x" * 65}, {},
                 {"user": "alice", "extra": 1}):
        r = fleet.post(fleet.a, "enroll", body)
        assert r.status == 400 and r.code == "schema_violation", (body, r)
    for body in ({"user": "alice"}, {"user": "alice", "code": ""},
                 {"user": "alice", "code": "1" * 65}, {"user": "alice", "code": "1\n"}):
        r = fleet.post(fleet.a, "verify", body)
        assert r.status == 400 and r.code == "schema_violation", (body, r)
    for q in ("", "?user=", "?user=" + urllib.parse.quote("a/b"), "?user=" + "x" * 65):
        r = hub.call("GET", "/api/v1/endpoint/mfa/status" + q, auth=fleet.a)
        assert r.status == 400, (q, r)
    r = hub.call("GET", "/api/v1/endpoint/mfa/status?user=nobody", auth=fleet.a)
    assert r.status == 200 and r.json == {"user": "nobody", "state": "not_enrolled"}


def test_corrupt_state_fails_closed_for_that_user(fleet, hub):
    secret, _, now = fleet.enroll("alice")
    secret_b, _, now_b = fleet.enroll("bob")
    sql(hub, "UPDATE mfa_users SET state = 'jitsu-mfa 1' WHERE user_name = 'alice'")
    r = fleet.post(fleet.a, "verify", {"user": "alice", "code": totp(secret, now + STEP)})
    assert r.status == 500 and r.code == "mfa_state_corrupt", r
    assert fleet.verify(fleet.b, totp(secret_b, now_b + STEP), user="bob")["result"] == "ok"
    r = hub.call("GET", "/api/v1/mfa", auth=hub.admin())
    assert [u["state"] for u in r.json["users"]] == ["corrupt", "enrolled"]


def stored(hub, user):
    """The state column of user's row, as the database holds it."""
    if hub.db:
        out = subprocess.run([os.path.join(pgcluster.PGBIN, "psql"), "-X", "-A", "-t", "-q",
                              "-d", hub.db, "-c",
                              "SELECT state FROM mfa_users WHERE user_name = '%s'" % user],
                             check=True, capture_output=True, text=True, timeout=30)
        return out.stdout.strip()
    with sqlite3.connect(os.path.join(hub.dir, "hub.db")) as c:
        return c.execute("SELECT state FROM mfa_users WHERE user_name = ?",
                         (user,)).fetchone()[0]


def test_states_sealed_at_rest(fleet, hub):
    key = os.path.join(hub.dir, "mfa.key")
    st = os.stat(key)
    assert st.st_mode & 0o777 == 0o600 and st.st_size == 65
    with open(key) as f:
        assert re.fullmatch(r"[0-9a-f]{64}\n", f.read())
    with open(os.path.join(hub.dir, "hub.conf")) as f:
        assert "mfa_key = %s\n" % key in f.read()
    secret, _, now = fleet.enroll("alice")
    fleet.enroll("bob")
    text = stored(hub, "alice")
    assert re.fullmatch(r"jitsu-mfa-sealed 1 [0-9a-f]{16} [0-9a-f]{24} [0-9a-f]+ [0-9a-f]{32}",
                        text), text
    raw = base64.b32decode(secret).hex()
    assert raw not in text and secret not in text and "phase=" not in text
    # A state moved into another user's row does not open there.
    sql(hub, "UPDATE mfa_users SET state = (SELECT state FROM mfa_users WHERE"
             " user_name = 'alice') WHERE user_name = 'bob'")
    r = fleet.post(fleet.b, "verify", {"user": "bob", "code": "123456"})
    assert r.status == 500 and r.code == "mfa_state_corrupt", r
    assert fleet.verify(fleet.b, totp(secret, now + STEP))["result"] == "ok"
    r = hub.call("GET", "/api/v1/mfa", auth=hub.admin())
    bob = [u for u in r.json["users"] if u["user"] == "bob"][0]
    assert bob["state"] == "corrupt" and "does not authenticate" in bob["problem"]


def test_another_key_fails_closed(fleet, hub):
    secret, _, now = fleet.enroll("alice")
    hub.stop()
    key = os.path.join(hub.dir, "mfa.key")
    os.rename(key, key + ".old")
    hub.start()  # makes a new key on first use
    r = fleet.post(fleet.b, "verify", {"user": "alice", "code": totp(secret, now + STEP)})
    assert r.status == 500 and r.code == "mfa_state_corrupt", r
    assert "sealed under key" in hub.log_text()
    hub.stop()
    os.rename(key + ".old", key)
    os.chmod(key, 0o640)
    with pytest.raises(RuntimeError):
        hub.start()
    assert "chmod 600" in hub.log_text()
    os.chmod(key, 0o600)
    hub.start()
    assert fleet.verify(fleet.b, totp(secret, now + STEP))["result"] == "ok"
