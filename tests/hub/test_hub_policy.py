"""jitsu-hub's central policy routes (docs/hub-api.md, "Central policy"),
on SQLite and on PostgreSQL: push (validated by lib/policy.c), history,
versions, rollback, endpoint groups, the endpoint's fetch, and roles."""
import hashlib
import threading

from conftest import enroll_body

GOOD = "permit alice cmd /usr/bin/id\npermit :ops cmd /usr/bin/true\n"
GOOD2 = "permit alice cmd /usr/bin/id\n"
BAD = "permit alice cmd /usr/bin/id\npermit bob frobnicate\n# fine\ndeny\n"


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def push(hub, group, text, auth=None, message=None):
    body = {"text": text}
    if message is not None:
        body["message"] = message
    return hub.call("POST", "/api/v1/policy/" + group, body, auth=auth or hub.admin())


def test_push_and_read_versions(hub):
    r = push(hub, "ops", GOOD, message="first")
    assert r.status == 201, r
    v1 = r.json
    assert (v1["group"], v1["version"], v1["sha256"], v1["pushed_by"], v1["message"],
            v1["rollback_of"], v1["text"]) == ("ops", 1, sha(GOOD), "admin", "first", None, GOOD)
    r = push(hub, "ops", GOOD2)
    assert r.status == 201 and r.json["version"] == 2 and r.json["message"] == ""
    # another group counts on its own
    assert push(hub, "web", GOOD2).json["version"] == 1

    r = hub.call("GET", "/api/v1/policy/ops", auth=hub.admin())
    assert r.status == 200 and r.json["version"] == 2 and r.json["text"] == GOOD2
    r = hub.call("GET", "/api/v1/policy/ops?version=1", auth=hub.admin())
    assert r.status == 200 and r.json["text"] == GOOD and r.json["sha256"] == sha(GOOD)
    r = hub.call("GET", "/api/v1/policy/ops/versions", auth=hub.admin())
    assert r.status == 200 and r.json["group"] == "ops"
    assert [(v["version"], v["message"]) for v in r.json["versions"]] == [(2, ""), (1, "first")]
    assert all("text" not in v for v in r.json["versions"])

    for path in ("/api/v1/policy/ops?version=3", "/api/v1/policy/nosuch",
                 "/api/v1/policy/nosuch/versions", "/api/v1/policy/..bad"):
        assert hub.call("GET", path, auth=hub.admin()).code == "not_found", path
    for q in ("0", "-1", "x", "01", "1.5"):
        r = hub.call("GET", "/api/v1/policy/ops?version=" + q, auth=hub.admin())
        assert r.status == 400 and r.code == "schema_violation", q


def test_invalid_push_is_refused_with_lines(hub):
    assert push(hub, "ops", GOOD).status == 201
    r = push(hub, "ops", BAD)
    assert r.status == 422 and r.code == "policy_invalid", r
    errs = r.json["error"]["errors"]
    assert [e["line"] for e in errs] == [2, 4], errs
    assert all(e["message"] for e in errs)
    assert "2 errors" in r.json["error"]["message"] and "line 2" in r.json["error"]["message"]
    cur = hub.call("GET", "/api/v1/policy/ops", auth=hub.admin()).json
    assert cur["version"] == 1 and cur["text"] == GOOD
    # a refused push into a new group creates nothing
    assert push(hub, "fresh", BAD).status == 422
    assert hub.call("GET", "/api/v1/policy/fresh", auth=hub.admin()).code == "not_found"
    # control characters other than tab and line ends are refused by the schema
    r = push(hub, "ops", "permit alice\x1b[2J cmd /usr/bin/id\n")
    assert r.status == 400 and r.code == "schema_violation"
    r = push(hub, "ops", "x" * 61441)
    assert r.status in (400, 413), r


def test_rollback_appends(hub):
    push(hub, "ops", GOOD)
    push(hub, "ops", GOOD2)
    r = hub.call("POST", "/api/v1/policy/ops/rollback", {"version": 1, "message": "undo"},
                 auth=hub.admin())
    assert r.status == 201, r
    assert (r.json["version"], r.json["rollback_of"], r.json["text"], r.json["sha256"],
            r.json["message"]) == (3, 1, GOOD, sha(GOOD), "undo")
    hist = hub.call("GET", "/api/v1/policy/ops/versions", auth=hub.admin()).json["versions"]
    assert [(v["version"], v["rollback_of"]) for v in hist] == [(3, 1), (2, None), (1, None)]
    r = hub.call("POST", "/api/v1/policy/ops/rollback", {"version": 9}, auth=hub.admin())
    assert r.code == "not_found"
    r = hub.call("POST", "/api/v1/policy/ops/rollback", {"version": 0}, auth=hub.admin())
    assert r.code == "schema_violation"
    assert len(hub.call("GET", "/api/v1/policy/ops/versions",
                        auth=hub.admin()).json["versions"]) == 3


def test_roles(hub):
    auditor = hub.user("audra", "auditor")
    approver = hub.user("bob", "approver")
    ep, ep_auth = hub.enroll()
    assert push(hub, "ops", GOOD, auth=auditor).code == "forbidden"
    assert push(hub, "ops", GOOD, auth=approver).code == "forbidden"
    assert push(hub, "ops", GOOD, auth=ep_auth).code == "forbidden"
    assert push(hub, "ops", GOOD).status == 201
    for auth, ok in ((auditor, True), (approver, False), (ep_auth, False)):
        for path in ("/api/v1/policy/ops", "/api/v1/policy/ops/versions",
                     "/api/v1/endpoints/%s/group" % ep):
            r = hub.call("GET", path, auth=auth)
            assert (r.status == 200) == ok and (ok or r.code == "forbidden"), (path, r)
    r = hub.call("POST", "/api/v1/policy/ops/rollback", {"version": 1}, auth=auditor)
    assert r.code == "forbidden"
    r = hub.call("POST", "/api/v1/endpoints/%s/group" % ep, {"group": "ops"}, auth=auditor)
    assert r.code == "forbidden"
    assert hub.call("GET", "/api/v1/endpoint/policy", auth=auditor).code == "forbidden"
    assert hub.call("GET", "/api/v1/policy/ops").code == "unauthorized"


def test_endpoint_groups_and_fetch(hub):
    ep, ep_auth = hub.enroll("a.example.org")
    other, other_auth = hub.enroll("b.example.org")
    r = hub.call("GET", "/api/v1/endpoint/policy", auth=ep_auth)
    assert r.status == 200 and r.json == {"group": None}
    # a group without a version cannot be assigned
    r = hub.call("POST", "/api/v1/endpoints/%s/group" % ep, {"group": "ops"}, auth=hub.admin())
    assert r.status == 409 and r.code == "policy_group_empty"
    push(hub, "ops", GOOD)
    r = hub.call("POST", "/api/v1/endpoints/%s/group" % ep, {"group": "ops"}, auth=hub.admin())
    assert r.status == 200 and r.json == {"endpoint_id": ep, "group": "ops"}
    r = hub.call("GET", "/api/v1/endpoint/policy", auth=ep_auth)
    assert r.status == 200
    assert (r.json["group"], r.json["version"], r.json["sha256"], r.json["text"]) == (
        "ops", 1, sha(GOOD), GOOD)
    assert hub.call("GET", "/api/v1/endpoint/policy", auth=other_auth).json == {"group": None}
    push(hub, "ops", GOOD2)
    assert hub.call("GET", "/api/v1/endpoint/policy", auth=ep_auth).json["version"] == 2
    # moved to another group, then out of every group
    push(hub, "web", GOOD)
    r = hub.call("POST", "/api/v1/endpoints/%s/group" % ep, {"group": "web"}, auth=hub.admin())
    assert r.json["group"] == "web"
    assert hub.call("GET", "/api/v1/endpoint/policy", auth=ep_auth).json["group"] == "web"
    r = hub.call("DELETE", "/api/v1/endpoints/%s/group" % ep, auth=hub.admin())
    assert r.status == 200 and r.json == {"endpoint_id": ep, "group": None}
    assert hub.call("GET", "/api/v1/endpoint/policy", auth=ep_auth).json == {"group": None}
    r = hub.call("GET", "/api/v1/endpoints/%s/group" % ep, auth=hub.admin())
    assert r.json == {"endpoint_id": ep, "group": None}
    # unknown endpoints and bad bodies
    r = hub.call("POST", "/api/v1/endpoints/%s/group" % ("0" * 16), {"group": "ops"},
                 auth=hub.admin())
    assert r.code == "not_found"
    assert hub.call("GET", "/api/v1/endpoints/%s/group" % ("0" * 16),
                    auth=hub.admin()).code == "not_found"
    for body in ({"group": ""}, {"group": "-x"}, {"group": "a b"}, {}, {"group": "ops", "x": 1}):
        r = hub.call("POST", "/api/v1/endpoints/%s/group" % ep, body, auth=hub.admin())
        assert r.code == "schema_violation", body
    # a revoked endpoint fetches nothing
    hub.call("POST", "/api/v1/endpoints/%s/revoke" % other, auth=hub.admin())
    assert hub.call("GET", "/api/v1/endpoint/policy",
                    auth=other_auth).code == "endpoint_revoked"


def test_concurrent_pushes_number_without_gaps(hub):
    push(hub, "ops", GOOD)
    results = []

    def one(i):
        results.append(push(hub, "ops", "permit alice cmd /usr/bin/id\n# %d\n" % i))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status == 201 for r in results), results
    assert sorted(r.json["version"] for r in results) == list(range(2, 10))
    hist = hub.call("GET", "/api/v1/policy/ops/versions", auth=hub.admin()).json["versions"]
    assert [v["version"] for v in hist] == list(range(9, 0, -1))


def test_enroll_into_a_group(hub):
    body = enroll_body(hub.enrollment_token(), "c.example.org")
    # a group without a policy: refused, and the token stays unused
    token = body["token"]
    r = hub.call("POST", "/api/v1/enroll", dict(body, group="ops"))
    assert r.status == 409 and r.code == "policy_group_empty", r
    assert hub.call("GET", "/api/v1/endpoints", auth=hub.admin()).json["endpoints"] == []
    push(hub, "ops", GOOD)
    r = hub.call("POST", "/api/v1/enroll", dict(body, group="ops"))
    assert r.status == 201, r
    ep = r.json["endpoint_id"]
    auth = "Endpoint %s:%s" % (ep, r.json["credential"])
    assert hub.call("GET", "/api/v1/endpoints/%s/group" % ep,
                    auth=hub.admin()).json["group"] == "ops"
    assert hub.call("GET", "/api/v1/endpoint/policy", auth=auth).json["version"] == 1
    assert hub.call("POST", "/api/v1/enroll", dict(body, token=token)).code == \
        "enrollment_token_used"
    r = hub.call("POST", "/api/v1/enroll", dict(enroll_body(hub.enrollment_token()), group="-x"))
    assert r.code == "schema_violation"


def test_fetch_unchanged_answer(hub):
    ep, auth = hub.enroll()
    push(hub, "ops", GOOD)
    push(hub, "web", GOOD)
    hub.call("POST", "/api/v1/endpoints/%s/group" % ep, {"group": "ops"}, auth=hub.admin())
    full = hub.call("GET", "/api/v1/endpoint/policy", auth=auth).json
    r = hub.call("GET", "/api/v1/endpoint/policy?group=ops&version=1", auth=auth)
    assert r.status == 200 and r.json == {"group": "ops", "version": 1,
                                          "sha256": full["sha256"], "unchanged": True}
    # another version, or another group with the same number: the whole text
    push(hub, "ops", GOOD2)
    r = hub.call("GET", "/api/v1/endpoint/policy?group=ops&version=1", auth=auth)
    assert r.json["version"] == 2 and r.json["text"] == GOOD2 and "unchanged" not in r.json
    r = hub.call("GET", "/api/v1/endpoint/policy?group=web&version=2", auth=auth)
    assert r.json["group"] == "ops" and r.json["text"] == GOOD2
    for q in ("group=ops", "version=1", "group=-x&version=1", "group=ops&version=0",
              "group=ops&version=x"):
        r = hub.call("GET", "/api/v1/endpoint/policy?" + q, auth=auth)
        assert r.status == 400 and r.code == "schema_violation", q
