"""POST /api/v1/breakglass/respond (docs/breakglass.md, docs/hub-api.md) on
SQLite and PostgreSQL: the key issued at enrollment, responses checked
against the documented construction computed here, endpoint lookup by id
or hostname (ambiguous, revoked, unknown), roles, input checks, endpoints
without a key, and the log of issued responses."""
import hashlib
import hmac
import os
import re
import sqlite3
import struct
import subprocess
import time

from conftest import enroll_body, pgcluster

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
WINDOW = 300


def b32(data, n):
    bits = "".join(format(x, "08b") for x in data)
    return "".join(ALPHABET[int(bits[i * 5:i * 5 + 5], 2)] for i in range(n))


def response(key_hex, challenge, host, window):
    msg = (b"jitsu-breakglass-v1" + challenge.encode() + b"\0" + host.encode() + b"\0" +
           struct.pack(">Q", window))
    r = b32(hmac.new(bytes.fromhex(key_hex), msg, hashlib.sha256).digest(), 10)
    return r[:5] + "-" + r[5:]


def enroll(hub, hostname="db1.example.org"):
    """Enrolls; returns (endpoint id, break-glass key hex)."""
    r = hub.call("POST", "/api/v1/enroll", enroll_body(hub.enrollment_token(), hostname))
    assert r.status == 201, r
    key = r.json["breakglass_key"]
    assert re.fullmatch(r"[0-9a-f]{64}", key), r.json
    return r.json["endpoint_id"], key


def respond(hub, endpoint, challenge, auth=None):
    return hub.call("POST", "/api/v1/breakglass/respond",
                    {"endpoint": endpoint, "challenge": challenge}, auth=auth or hub.admin())


def sql(hub, statement):
    """Runs one statement on the hub's database, behind its back."""
    if hub.db is None:
        with sqlite3.connect(os.path.join(hub.dir, "hub.db")) as db:
            db.execute(statement)
        return
    subprocess.run([os.path.join(pgcluster.PGBIN, "psql"), "-q", "-d", hub.db, "-c", statement],
                   check=True, capture_output=True)


def test_response_follows_the_documented_construction(hub):
    eid, key = enroll(hub)
    _, other_key = enroll(hub, "db2.example.org")
    assert key != other_key  # per endpoint
    before = int(time.time())
    r = respond(hub, eid, "abcd-oi23")  # tolerant input: ABCD0123
    after = int(time.time())
    assert r.status == 200, r
    j = r.json
    assert set(j) == {"endpoint_id", "hostname", "challenge", "response", "window",
                      "valid_until"}
    assert (j["endpoint_id"], j["hostname"], j["challenge"]) == (eid, "db1.example.org",
                                                                 "ABCD-0123")
    assert before // WINDOW <= j["window"] <= after // WINDOW
    assert j["valid_until"] == (j["window"] + 2) * WINDOW
    assert j["response"] == response(key, "ABCD0123", eid, j["window"])
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}", j["response"])
    # by hostname: the same endpoint, the same code
    r = respond(hub, "DB1.Example.ORG", "ABCD0123")
    assert r.status == 200 and r.json["endpoint_id"] == eid, r
    if r.json["window"] == j["window"]:
        assert r.json["response"] == j["response"]


def test_every_issue_is_logged_without_the_code(hub):
    eid, _ = enroll(hub)
    r = respond(hub, eid, "ZZZZ-0000")
    assert r.status == 200, r
    log = hub.log_text(0)
    assert re.search(r"breakglass: response issued by admin for endpoint %s .*ZZZZ-0000" % eid,
                     log), log
    assert r.json["response"] not in log
    assert r.json["response"].replace("-", "") not in log
    from test_hub_api import database_bytes
    dump = database_bytes(hub)
    assert b"ZZZZ0000" in dump  # the breakglass_responses row


def test_endpoint_lookup(hub):
    a, _ = enroll(hub, "web.example.org")
    b, _ = enroll(hub, "web.example.org")
    r = respond(hub, "web.example.org", "ABCD-0123")
    assert (r.status, r.code) == (409, "endpoint_ambiguous"), r
    assert a in r.json["error"]["message"] and b in r.json["error"]["message"]
    assert respond(hub, a, "ABCD-0123").status == 200
    assert hub.call("POST", "/api/v1/endpoints/%s/revoke" % a, auth=hub.admin()).status == 200
    r = respond(hub, a, "ABCD-0123")
    assert (r.status, r.code) == (409, "endpoint_revoked"), r
    r = respond(hub, "web.example.org", "ABCD-0123")  # the one left
    assert r.status == 200 and r.json["endpoint_id"] == b, r
    assert hub.call("POST", "/api/v1/endpoints/%s/revoke" % b, auth=hub.admin()).status == 200
    r = respond(hub, "web.example.org", "ABCD-0123")
    assert (r.status, r.code) == (409, "endpoint_revoked"), r
    for name in ("nowhere.example.org", "0123456789abcdef"):
        r = respond(hub, name, "ABCD-0123")
        assert (r.status, r.code) == (404, "not_found"), r


def test_admins_only(hub):
    eid, _ = enroll(hub)
    _, cred = hub.enroll("db3.example.org")
    for auth in (hub.user("bob", "approver"), hub.user("carol", "auditor"), cred):
        r = respond(hub, eid, "ABCD-0123", auth=auth)
        assert (r.status, r.code) == (403, "forbidden"), r
    r = hub.call("POST", "/api/v1/breakglass/respond", {"endpoint": eid, "challenge": "ABCD0123"})
    assert (r.status, r.code) == (401, "unauthorized"), r
    r = hub.call("GET", "/api/v1/breakglass/respond", auth=hub.admin())
    assert (r.status, r.code) == (405, "method_not_allowed"), r


def test_bad_challenges_and_bodies(hub):
    eid, _ = enroll(hub)
    for bad in ("ABCD-012", "ABCD-01234", "ABCD-U123", "ABCD_0123", "", "A" * 65):
        r = respond(hub, eid, bad)
        assert (r.status, r.code) == (400, "schema_violation"), (bad, r)
    for body in ({"endpoint": eid}, {"challenge": "ABCD0123"},
                 {"endpoint": eid, "challenge": "ABCD0123", "window": 1},
                 {"endpoint": "bad host!", "challenge": "ABCD0123"}):
        r = hub.call("POST", "/api/v1/breakglass/respond", body, auth=hub.admin())
        assert (r.status, r.code) == (400, "schema_violation"), (body, r)


def test_endpoint_without_a_key(hub):
    """An endpoint enrolled before break-glass (its key NULL, as migration 6
    leaves existing rows) gets a clear refusal."""
    eid, _ = enroll(hub)
    sql(hub, "UPDATE endpoints SET breakglass_key = NULL WHERE id = '%s'" % eid)
    r = respond(hub, eid, "ABCD-0123")
    assert (r.status, r.code) == (409, "no_breakglass_key"), r
    assert "re-enroll" in r.json["error"]["message"]


def stored_key(hub, eid):
    """The endpoints.breakglass_key text, read behind the hub's back."""
    q = "SELECT breakglass_key FROM endpoints WHERE id = '%s'" % eid
    if hub.db is None:
        with sqlite3.connect(os.path.join(hub.dir, "hub.db")) as db:
            return db.execute(q).fetchone()[0]
    return subprocess.run([os.path.join(pgcluster.PGBIN, "psql"), "-X", "-A", "-t", "-q",
                           "-d", hub.db, "-c", q], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_keys_are_sealed_at_rest(hub):
    """A copy of the database alone cannot compute responses: the key is
    stored sealed under the hub's key file, bound to its endpoint."""
    from test_hub_api import database_bytes
    eid, key = enroll(hub)
    other, _ = enroll(hub, "db2.example.org")
    text = stored_key(hub, eid)
    assert text.startswith("jitsu-mfa-sealed 1 "), text
    assert key.encode() not in database_bytes(hub)
    # Moved to another endpoint's row, it does not open: an error, never a
    # response under some other key.
    sql(hub, "UPDATE endpoints SET breakglass_key = '%s' WHERE id = '%s'" % (text, other))
    r = respond(hub, other, "ABCD-0123")
    assert (r.status, r.code) == (500, "breakglass_key_unusable"), r
    assert "stored key unusable: the sealed break-glass key does not authenticate" in \
        hub.log_text(tail=None)
    r = respond(hub, eid, "ABCD-0123")
    assert r.status == 200 and r.json["response"] == response(key, "ABCD0123", eid,
                                                              r.json["window"]), r


def test_clear_key_of_an_earlier_version_is_sealed_at_start(hub):
    """A key stored in clear (by a hub from before sealing) still answers,
    and the next start seals it in place; the response is unchanged."""
    eid, _ = enroll(hub)
    key = "0f" * 32
    sql(hub, "UPDATE endpoints SET breakglass_key = '%s' WHERE id = '%s'" % (key, eid))
    r = respond(hub, eid, "ABCD-0123")
    assert r.status == 200 and r.json["response"] == response(key, "ABCD0123", eid,
                                                              r.json["window"]), r
    hub.restart()
    assert "breakglass: sealed 1 key stored in clear by an earlier version" in \
        hub.log_text(tail=None)
    assert stored_key(hub, eid).startswith("jitsu-mfa-sealed 1 ")
    r = respond(hub, eid, "ABCD-0123")
    assert r.status == 200 and r.json["response"] == response(key, "ABCD0123", eid,
                                                              r.json["window"]), r
    hub.restart()
    assert hub.log_text(tail=None).count("breakglass: sealed") == 1
