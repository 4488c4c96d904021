"""jitsu-hub's HTTP API (docs/hub-api.md) end to end, over TLS, on SQLite
and on PostgreSQL (every test taking `hub` or `hub_factory` runs on both)."""
import hashlib
import os
import socket
import ssl
import stat
import subprocess
import time

import pytest

from conftest import HUB, Hub, enroll_body, pgcluster, start_waiter


# ---- init and TLS ----

def test_init_prints_token_and_fingerprint(hub):
    assert hub.admin_token.startswith("jhu_") and len(hub.admin_token) == 85
    lines = hub.init_out.splitlines()
    assert "admin-token: " + hub.admin_token in lines
    with open(hub.cert) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    digest = hashlib.sha256(der).hexdigest().upper()
    want = ":".join(digest[i:i + 2] for i in range(0, 64, 2))
    assert hub.info["fingerprint"] == want
    try:
        out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in",
                              hub.cert], capture_output=True, text=True, check=True).stdout
        assert out.strip().split("=", 1)[1] == hub.info["fingerprint"]
    except FileNotFoundError:
        pass
    for name in ("tls.key", "hub.conf"):
        mode = stat.S_IMODE(os.stat(os.path.join(hub.dir, name)).st_mode)
        assert mode & 0o077 == 0, (name, oct(mode))

    r = hub.call("GET", "/api/v1/health")
    assert r.status == 200 and r.json["status"] == "ok" and r.json["api"] == 1
    r = hub.call("GET", "/api/v1/whoami", auth=hub.admin())
    assert r.json == {"kind": "user", "name": "admin", "role": "admin"}


def test_init_refuses_an_initialised_dir(hub):
    r = subprocess.run([HUB, "init", "--dir", hub.dir], capture_output=True, text=True)
    assert r.returncode == 1
    assert "initialised already" in r.stderr


def test_init_with_provided_cert(hub, workdir):
    other = os.path.join(workdir, "other")
    r = subprocess.run([HUB, "init", "--dir", other, "--cert", hub.cert, "--key",
                        os.path.join(hub.dir, "tls.key")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    info = dict(line.split(": ", 1) for line in r.stdout.splitlines())
    assert info["fingerprint"] == hub.info["fingerprint"]
    # a certificate with someone else's key is refused
    fresh = os.path.join(workdir, "fresh")
    subprocess.run([HUB, "init", "--dir", fresh], check=True, capture_output=True)
    r = subprocess.run([HUB, "init", "--dir", os.path.join(workdir, "mismatch"), "--cert",
                        hub.cert, "--key", os.path.join(fresh, "tls.key")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "does not match" in r.stderr, r.stderr
    r = subprocess.run([HUB, "init", "--dir", os.path.join(workdir, "fourth"), "--cert",
                        hub.cert], capture_output=True, text=True)
    assert r.returncode == 2  # --cert needs --key


def test_tls_only_and_pinning(hub):
    # plain HTTP on the TLS port gets no HTTP answer
    with socket.create_connection((hub.host, hub.port), timeout=5) as s:
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(100)
        except (ConnectionResetError, socket.timeout):
            data = b""
        assert not data.startswith(b"HTTP/")
    # a client that does not trust the pinned certificate refuses the hub
    ctx = ssl.create_default_context()
    with socket.create_connection((hub.host, hub.port), timeout=5) as s:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(s, server_hostname=hub.host)


# ---- enrollment ----

def test_enrollment_single_use_and_registry(hub):
    token = hub.enrollment_token()
    r = hub.call("POST", "/api/v1/enroll", enroll_body(token, "web7.example.org"))
    assert r.status == 201, r
    eid, cred = r.json["endpoint_id"], r.json["credential"]
    assert len(eid) == 16 and len(cred) == 64
    r = hub.call("POST", "/api/v1/enroll", enroll_body(token, "evil.example.org"))
    assert (r.status, r.code) == (410, "enrollment_token_used")

    auth = "Endpoint %s:%s" % (eid, cred)
    r = hub.call("GET", "/api/v1/whoami", auth=auth)
    assert r.json == {"kind": "endpoint", "endpoint_id": eid}
    r = hub.call("POST", "/api/v1/endpoint/heartbeat", {"kernel": "6.2.0"}, auth=auth)
    assert r.status == 200 and r.json["kernel"] == "6.2.0"
    r = hub.call("GET", "/api/v1/endpoints/" + eid, auth=hub.admin())
    assert r.status == 200
    e = r.json
    assert (e["hostname"], e["machine_id"], e["os"], e["agent_version"]) == (
        "web7.example.org", "0123456789abcdef" * 2, "Debian GNU/Linux 12 (bookworm)", "0.1.0")
    assert e["revoked_at"] is None and e["last_seen"] >= e["enrolled_at"] > 0
    r = hub.call("GET", "/api/v1/endpoints", auth=hub.admin())
    assert [x["id"] for x in r.json["endpoints"]] == [eid]

    # a wrong credential for a real endpoint is refused
    r = hub.call("GET", "/api/v1/whoami", auth="Endpoint %s:%s" % (eid, "0" * 64))
    assert (r.status, r.code) == (401, "unauthorized")

    # the hub keeps only hashes of what it issued
    secrets = [token, cred, hub.admin_token]
    dump = database_bytes(hub)
    for s in secrets:
        assert s.encode() not in dump
    assert hashlib.sha256(cred.encode()).hexdigest().encode() in dump


def database_bytes(hub):
    """Everything the database holds, as bytes (file + WAL, or pg_dump)."""
    if hub.db is None:
        data = b""
        for name in ("hub.db", "hub.db-wal"):
            try:
                with open(os.path.join(hub.dir, name), "rb") as f:
                    data += f.read()
            except FileNotFoundError:
                pass
        return data
    return subprocess.run([os.path.join(pgcluster.PGBIN, "pg_dump"), "--data-only",
                           "-d", hub.db], check=True, capture_output=True).stdout


def test_enrollment_token_expiry_and_garbage(hub):
    token = hub.enrollment_token(ttl=1)
    time.sleep(2.1)
    r = hub.call("POST", "/api/v1/enroll", enroll_body(token))
    assert (r.status, r.code) == (410, "enrollment_token_expired")
    bad = token[:-1] + ("0" if token[-1] != "0" else "1")
    r = hub.call("POST", "/api/v1/enroll", enroll_body(bad))
    assert (r.status, r.code) == (401, "enrollment_token_invalid")
    r = hub.call("POST", "/api/v1/enroll", enroll_body("jhe_nothing"))
    assert (r.status, r.code) == (401, "enrollment_token_invalid")
    # an API token is not an enrollment token
    r = hub.call("POST", "/api/v1/enroll", enroll_body(hub.admin_token))
    assert (r.status, r.code) == (401, "enrollment_token_invalid")
    body = enroll_body(hub.enrollment_token())
    body["machine_id"] = "not-hex"
    r = hub.call("POST", "/api/v1/enroll", body)
    assert (r.status, r.code) == (400, "schema_violation")


# ---- the approval workflow ----

def test_submit_approve_long_poll_within_a_second(hub):
    bob = hub.user("bob", "approver")
    _, ep = hub.enroll()
    req = hub.submit(ep, user="alice")
    assert req["state"] == "pending" and req["decisions"] == [] and req["decided_at"] is None
    assert req["expires_at"] - req["created_at"] == 900
    assert req["argv"] == ["/usr/bin/systemctl", "restart", "postgresql"]

    r = hub.call("GET", "/api/v1/requests?state=pending", auth=bob)
    assert [x["id"] for x in r.json["requests"]] == [req["id"]]

    w = start_waiter(hub, ep, req["id"])
    r = hub.call("POST", "/api/v1/requests/%s/approve" % req["id"], {"note": "go"}, auth=bob)
    approved_at = time.monotonic()
    assert r.status == 200 and r.json["state"] == "approved", r
    w.join(5)
    assert not w.is_alive()
    assert w.done_at - approved_at < 1.0, w.done_at - approved_at
    assert w.reply.status == 200 and w.reply.json["state"] == "approved"
    assert w.reply.json["decisions"] == [
        {"approver": "bob", "verdict": "approve", "note": "go", "at": r.json["decided_at"]}]


def test_deny_with_reason(hub):
    bob = hub.user("bob", "approver")
    carol = hub.user("carol", "approver")
    _, ep = hub.enroll()
    req = hub.submit(ep, needed=2)
    url = "/api/v1/requests/%s/" % req["id"]
    r = hub.call("POST", url + "deny", {}, auth=bob)
    assert (r.status, r.code) == (400, "schema_violation")  # a reason is required
    r = hub.call("POST", url + "approve", {}, auth=carol)
    assert r.json["state"] == "pending"
    w = start_waiter(hub, ep, req["id"])
    r = hub.call("POST", url + "deny", {"reason": "not during the freeze"}, auth=bob)
    assert r.status == 200 and r.json["state"] == "denied"  # one deny denies
    w.join(5)
    assert w.reply.json["state"] == "denied"
    assert w.reply.json["decisions"][1]["verdict"] == "deny"
    assert w.reply.json["decisions"][1]["note"] == "not during the freeze"
    r = hub.call("POST", url + "approve", {}, auth=hub.user("dave", "approver"))
    assert (r.status, r.code) == (409, "request_not_pending")
    # a decided request answers a long-poll at once
    t = time.monotonic()
    r = hub.call("GET", "/api/v1/endpoint/requests/%s?wait=30" % req["id"], auth=ep)
    assert r.json["state"] == "denied" and time.monotonic() - t < 1.0


def test_self_approval_refused(hub):
    alice = hub.user("alice", "approver")
    _, ep = hub.enroll()
    req = hub.submit(ep, user="alice")
    for verb, body in (("approve", {}), ("deny", {"reason": "x"})):
        r = hub.call("POST", "/api/v1/requests/%s/%s" % (req["id"], verb), body, auth=alice)
        assert (r.status, r.code) == (403, "self_approval")
    r = hub.call("GET", "/api/v1/requests/" + req["id"], auth=alice)
    assert r.json["state"] == "pending" and r.json["decisions"] == []


def test_two_approvals_need_two_distinct_approvers(hub):
    bob = hub.user("bob", "approver")
    carol = hub.user("carol", "approver")
    _, ep = hub.enroll()
    req = hub.submit(ep, needed=2)
    w = start_waiter(hub, ep, req["id"])
    url = "/api/v1/requests/%s/approve" % req["id"]
    r = hub.call("POST", url, {}, auth=bob)
    assert r.status == 200 and r.json["state"] == "pending"
    r = hub.call("POST", url, {"note": "again"}, auth=bob)
    assert (r.status, r.code) == (409, "already_decided")
    # a second token of the same approver is still the same approver
    t2 = hub.call("POST", "/api/v1/users/bob/tokens", auth=hub.admin())
    assert t2.status == 201
    r = hub.call("POST", url, {}, auth="Bearer " + t2.json["token"])
    assert (r.status, r.code) == (409, "already_decided")
    time.sleep(0.3)
    assert w.is_alive()  # a partial approval does not end the wait
    r = hub.call("POST", url, {}, auth=carol)
    done = time.monotonic()
    assert r.json["state"] == "approved"
    assert [d["approver"] for d in r.json["decisions"]] == ["bob", "carol"]
    w.join(5)
    assert w.reply.json["state"] == "approved" and w.done_at - done < 1.0


def test_roles_are_enforced(hub):
    auditor = hub.user("audrey", "auditor")
    bob = hub.user("bob", "approver")
    eid, ep = hub.enroll()
    req = hub.submit(ep)
    approve = "/api/v1/requests/%s/approve" % req["id"]
    r = hub.call("POST", approve, {}, auth=auditor)
    assert (r.status, r.code) == (403, "forbidden")
    r = hub.call("POST", approve, {}, auth=hub.admin())  # admins do not decide
    assert (r.status, r.code) == (403, "forbidden")
    r = hub.call("POST", approve, {}, auth=ep)  # an endpoint decides nothing
    assert (r.status, r.code) == (403, "forbidden")
    r = hub.call("GET", "/api/v1/requests/" + req["id"], auth=auditor)
    assert r.status == 200 and r.json["state"] == "pending"
    r = hub.call("GET", "/api/v1/endpoints", auth=auditor)
    assert r.status == 200
    for who in (auditor, bob, ep):
        r = hub.call("POST", "/api/v1/users", {"name": "x", "role": "admin"}, auth=who)
        assert (r.status, r.code) == (403, "forbidden")
        r = hub.call("POST", "/api/v1/enrollment-tokens", {}, auth=who)
        assert (r.status, r.code) == (403, "forbidden")
    r = hub.call("GET", "/api/v1/endpoints", auth=bob)
    assert (r.status, r.code) == (403, "forbidden")
    for who in (hub.admin(), auditor):
        r = hub.call("GET", "/api/v1/users", auth=who)
        assert [(u["name"], u["role"]) for u in r.json["users"]] == [
            ("admin", "admin"), ("audrey", "auditor"), ("bob", "approver")]
    r = hub.call("GET", "/api/v1/users", auth=bob)
    assert (r.status, r.code) == (403, "forbidden")
    r = hub.call("GET", "/api/v1/endpoint/requests/" + req["id"], auth=bob)
    assert (r.status, r.code) == (403, "forbidden")
    r = hub.call("GET", "/api/v1/requests")
    assert (r.status, r.code) == (401, "unauthorized")
    r = hub.call("GET", "/api/v1/requests", auth="Bearer jhu_" + "0" * 16 + "_" + "0" * 64)
    assert (r.status, r.code) == (401, "unauthorized")
    r = hub.call("POST", "/api/v1/users", {"name": "bob", "role": "auditor"}, auth=hub.admin())
    assert (r.status, r.code) == (409, "already_exists")
    r = hub.call("POST", "/api/v1/users", {"name": "eve", "role": "root"}, auth=hub.admin())
    assert (r.status, r.code) == (400, "schema_violation")
    # a revoked token stops working at once
    tid = bob.split("_")[1]
    r = hub.call("DELETE", "/api/v1/tokens/" + tid, auth=hub.admin())
    assert r.status == 200 and r.json == {"token_id": tid, "revoked": True}
    r = hub.call("GET", "/api/v1/requests", auth=bob)
    assert (r.status, r.code) == (401, "unauthorized")


def test_endpoint_sees_only_its_own_requests(hub):
    _, a = hub.enroll("a.example.org")
    _, b = hub.enroll("b.example.org")
    req = hub.submit(a)
    path = "/api/v1/endpoint/requests/" + req["id"]
    r = hub.call("GET", path, auth=b)
    assert (r.status, r.code) == (404, "not_found")
    r = hub.call("GET", path + "?wait=5", auth=b)
    assert (r.status, r.code) == (404, "not_found")
    r = hub.call("POST", path + "/cancel", auth=b)
    assert (r.status, r.code) == (404, "not_found")
    r = hub.call("GET", path, auth=a)
    assert r.status == 200 and r.json["state"] == "pending"


def test_cancel_by_endpoint_wakes_the_waiter(hub):
    _, ep = hub.enroll()
    req = hub.submit(ep)
    w = start_waiter(hub, ep, req["id"])
    r = hub.call("POST", "/api/v1/endpoint/requests/%s/cancel" % req["id"], auth=ep)
    assert r.status == 200 and r.json["state"] == "cancelled"
    w.join(5)
    assert w.reply.json["state"] == "cancelled"
    r = hub.call("POST", "/api/v1/endpoint/requests/%s/cancel" % req["id"], auth=ep)
    assert (r.status, r.code) == (409, "request_not_pending")


def test_revoked_endpoint_is_refused_at_once(hub):
    eid, ep = hub.enroll()
    req = hub.submit(ep)
    w = start_waiter(hub, ep, req["id"])
    r = hub.call("POST", "/api/v1/endpoints/%s/revoke" % eid, auth=hub.admin())
    revoked = time.monotonic()
    assert r.status == 200 and r.json["revoked_at"] is not None
    w.join(5)
    assert (w.reply.status, w.reply.code) == (401, "endpoint_revoked")
    assert w.done_at - revoked < 1.0
    r = hub.call("POST", "/api/v1/endpoint/heartbeat", {}, auth=ep)
    assert (r.status, r.code) == (401, "endpoint_revoked")
    r = hub.call("GET", "/api/v1/requests/" + req["id"], auth=hub.admin())
    assert r.json["state"] == "cancelled"


def test_request_expiry(hub_factory):
    hub = hub_factory("--request-ttl", "2")
    bob = hub.user("bob", "approver")
    _, ep = hub.enroll()
    req = hub.submit(ep)
    assert req["expires_at"] - req["created_at"] == 2
    t = time.monotonic()
    r = hub.call("GET", "/api/v1/endpoint/requests/%s?wait=20" % req["id"], auth=ep)
    assert r.json["state"] == "expired" and time.monotonic() - t < 4.0
    assert r.json["decided_at"] == req["expires_at"]
    r = hub.call("POST", "/api/v1/requests/%s/approve" % req["id"], {}, auth=bob)
    assert (r.status, r.code) == (409, "request_not_pending")


def test_long_poll_times_out_pending(hub):
    _, ep = hub.enroll()
    req = hub.submit(ep)
    t = time.monotonic()
    r = hub.call("GET", "/api/v1/endpoint/requests/%s?wait=1" % req["id"], auth=ep)
    took = time.monotonic() - t
    assert r.status == 200 and r.json["state"] == "pending"
    assert 0.9 <= took < 2.5, took
    r = hub.call("GET", "/api/v1/endpoint/requests/%s?wait=61" % req["id"], auth=ep)
    assert (r.status, r.code) == (400, "schema_violation")


def test_restart_keeps_pending_requests(hub):
    bob = hub.user("bob", "approver")
    _, ep = hub.enroll()
    req = hub.submit(ep)
    hub.restart()
    r = hub.call("GET", "/api/v1/endpoint/requests/" + req["id"], auth=ep)
    assert r.status == 200 and r.json == req
    r = hub.call("POST", "/api/v1/requests/%s/approve" % req["id"], {}, auth=bob)
    assert r.json["state"] == "approved"
    r = hub.call("GET", "/api/v1/endpoint/requests/" + req["id"], auth=ep)
    assert r.json["state"] == "approved"


def test_stopping_answers_waiters(hub):
    _, ep = hub.enroll()
    req = hub.submit(ep)
    w = start_waiter(hub, ep, req["id"])
    hub.stop()
    w.join(5)
    assert (w.reply.status, w.reply.code) == (503, "shutting_down")


# ---- hostile input ----

def test_bad_bodies_get_json_errors(hub):
    _, ep = hub.enroll()
    path = "/api/v1/endpoint/requests"
    r = hub.call("POST", path, raw=b"{" + b" " * 70000 + b"}", auth=ep)
    assert (r.status, r.code) == (413, "body_too_large")
    r = hub.call("POST", path, raw=b'{"user": "alice",', auth=ep)
    assert (r.status, r.code) == (400, "invalid_json")
    r = hub.call("POST", path, raw=b"[" * 20 + b"]" * 20, auth=ep)
    assert (r.status, r.code) == (400, "json_too_deep")
    r = hub.call("POST", path, raw=b"[]", auth=ep)
    assert (r.status, r.code) == (400, "invalid_json")
    r = hub.call("POST", path, {"user": "alice", "extra": 1}, auth=ep)
    assert (r.status, r.code) == (400, "schema_violation")
    good = {"user": "alice", "host": "h", "argv": ["/bin/true"], "binary_sha256": "ab" * 32,
            "reason": "", "rule": "", "approvals_needed": 1}
    for field, value in (("argv", []), ("argv", ["x"] * 257), ("approvals_needed", 11),
                         ("binary_sha256", "AB" * 32), ("reason", "a\nb"), ("user", "-x"),
                         ("argv", ["a" * 4097]), ("argv", [""]),
                         ("approvals_needed", "1")):
        r = hub.call("POST", path, dict(good, **{field: value}), auth=ep)
        assert (r.status, r.code) == (400, "schema_violation"), (field, value, r)
    r = hub.call("POST", path, dict(good, argv=["/bin/grep", "", "x"]), auth=ep)
    assert r.status == 201 and r.json["argv"] == ["/bin/grep", "", "x"]
    r = hub.call("POST", path, raw=b"{}", auth=ep, headers={"Content-Type": "text/plain"})
    assert (r.status, r.code) == (415, "unsupported_media_type")
    r = hub.call("GET", "/api/v1/nothing")
    assert (r.status, r.code) == (404, "not_found")
    r = hub.call("DELETE", "/api/v1/health")
    assert (r.status, r.code) == (405, "method_not_allowed")
    r = hub.call("GET", "/api/v1/requests?state=bogus", auth=hub.admin())
    assert (r.status, r.code) == (400, "schema_violation")
    r = hub.call("GET", "/api/v1/requests/../users", auth=hub.admin())
    assert r.status in (400, 404)


def raw_tls(hub, timeout=10):
    ctx = ssl.create_default_context(cafile=hub.cert)
    s = socket.create_connection((hub.host, hub.port), timeout=timeout)
    return ctx.wrap_socket(s, server_hostname=hub.host)


def read_all(s):
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, ssl.SSLError, socket.timeout):
        pass
    return data


def test_huge_declared_body_refused_without_reading(hub):
    with raw_tls(hub) as s:
        s.sendall(b"POST /api/v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nContent-Length: 50000000\r\n\r\n")
        data = read_all(s)
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    assert b'"code":"body_too_large"' in data


def test_slow_client_times_out_but_long_poll_does_not(hub_factory):
    hub = hub_factory("--timeout", "2")
    with raw_tls(hub) as s:
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")  # never finished
        t = time.monotonic()
        data = read_all(s)
        took = time.monotonic() - t
    assert data == b"" and 1.5 < took < 8, (data, took)
    # a waiting long-poll is not idle: it outlives the connection timeout
    _, ep = hub.enroll()
    req = hub.submit(ep)
    t = time.monotonic()
    r = hub.call("GET", "/api/v1/endpoint/requests/%s?wait=4" % req["id"], auth=ep)
    assert r.status == 200 and r.json["state"] == "pending"
    assert time.monotonic() - t >= 3.5


def test_connection_limit(hub_factory):
    """Over the limit a connection is not served (it waits in the listen
    backlog) until one of the held ones goes away."""
    hub = hub_factory("--max-connections", "3")
    held = [raw_tls(hub) for _ in range(3)]
    try:
        with pytest.raises((socket.timeout, ConnectionError, ssl.SSLError)):
            with raw_tls(hub, timeout=1.5) as s:
                s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
                if not s.recv(100):
                    raise ConnectionError("closed")
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if hub.call("GET", "/api/v1/health", timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        pytest.fail("the hub did not accept connections again")
