/*
 * test_storage: hub/storage.h against a real backend. The argument picks
 * it: "sqlite" (a fresh file per test) or "postgresql" (the database named
 * by JITSU_HUB_PG_URL, emptied before each test; tests/hub/pgcluster.py
 * provides one). Both runs execute exactly the same tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alert.h"
#include "jitsu/audit_record.h"
#include "notify.h"
#include "storage.h"
#include "storage_breakglass.h"
#include "storage_impl.h"
#include "storage_policy.h"

static int use_pg;
static char url[4096];
static char sqlite_dir[] = "/tmp/jitsu-hub-storage-XXXXXX";
static int sqlite_seq;
static char err[512];

#define H(c)                                                                                       \
	c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c  \
		c c c c c c c c c c c c c c c c c c c
#define HASH_A H("a")
#define HASH_B H("b")
#define SEALED_A "jitsu-mfa-sealed 1 0123456789abcdef sealed break-glass key"
#define HASH_C H("c")
#define NOW 1700000000

/* A fresh, empty, migrated database per test. */
static int setup(void **state)
{
	struct storage *st = NULL;

	if (use_pg) {
		/* Emptied through the driver itself: the schema may be one that
		 * storage_open() refuses (test_migrations leaves such). */
		const char *u = getenv("JITSU_HUB_PG_URL");
		void *conn = NULL;
		assert_non_null(u);
		snprintf(url, sizeof url, "%s", u);
		assert_int_equal(storage_pg_driver.open(&conn, url, err, sizeof err), SDB_OK);
		assert_int_equal(storage_pg_driver.exec(conn,
							"DROP TABLE IF EXISTS breakglass_responses,"
							" audit_records, audit_heads, alerts,"
							" decisions, requests,"
							" policy_versions, endpoint_policy_groups,"
							" endpoints, enrollment_tokens, api_tokens,"
							" users, schema_version, mfa_users",
							NULL, 0, NULL, err, sizeof err),
				 SDB_OK);
		storage_pg_driver.close(conn);
	} else {
		snprintf(url, sizeof url, "sqlite:%s/db%d", sqlite_dir, ++sqlite_seq);
	}
	int rc = storage_open(&st, url, err, sizeof err);
	if (rc != STORAGE_OK)
		print_error("storage_open: %s\n", err);
	assert_int_equal(rc, STORAGE_OK);
	*state = st;
	return 0;
}

static int teardown(void **state)
{
	storage_close(*state);
	return 0;
}

static void test_migrations(void **state)
{
	struct storage *st = *state;
	int v = -1;

	assert_string_equal(storage_backend(st), use_pg ? "postgresql" : "sqlite");
	assert_int_equal(storage_schema_version(st, &v, err, sizeof err), STORAGE_OK);
	assert_int_equal(v, STORAGE_SCHEMA_VERSION);

	/* Reopening an up-to-date database changes nothing. */
	struct storage *again = NULL;
	assert_int_equal(storage_open(&again, url, err, sizeof err), STORAGE_OK);
	assert_int_equal(storage_schema_version(again, &v, err, sizeof err), STORAGE_OK);
	assert_int_equal(v, STORAGE_SCHEMA_VERSION);

	/* A database from a newer hub is refused. */
	assert_int_equal(storage_exec(again, "INSERT INTO schema_version (version) VALUES ('99')",
				      NULL, 0, NULL, err, sizeof err),
			 STORAGE_OK);
	storage_close(again);
	again = NULL;
	assert_int_equal(storage_open(&again, url, err, sizeof err), STORAGE_E_DB);
	assert_null(again);
	assert_non_null(strstr(err, "newer"));
}

static void test_bad_url(void **state)
{
	struct storage *st = NULL;
	assert_int_equal(storage_open(&st, "mysql://x", err, sizeof err), STORAGE_E_INVALID);
	assert_int_equal(storage_open(&st, "sqlite:", err, sizeof err), STORAGE_E_DB);
	assert_null(st);
}

static void test_users_tokens(void **state)
{
	struct storage *st = *state;
	struct storage_user u;
	struct storage_token t;
	struct storage_user *list;
	size_t n;

	assert_int_equal(storage_user_add(st, "root", STORAGE_ROLE_ADMIN, NOW, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(storage_user_add(st, "bob", STORAGE_ROLE_APPROVER, NOW, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(storage_user_add(st, "bob", STORAGE_ROLE_AUDITOR, NOW, err, sizeof err),
			 STORAGE_E_EXISTS);
	assert_int_equal(storage_user_get(st, "bob", &u, err, sizeof err), STORAGE_OK);
	assert_int_equal(u.role, STORAGE_ROLE_APPROVER);
	assert_int_equal(u.created_at, NOW);
	assert_int_equal(storage_user_get(st, "nobody", &u, err, sizeof err), STORAGE_E_NOT_FOUND);
	assert_int_equal(storage_user_list(st, &list, &n, err, sizeof err), STORAGE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "bob");
	assert_string_equal(list[1].name, "root");
	free(list);

	assert_int_equal(
		storage_token_add(st, "0000000000000001", "bob", HASH_A, NOW, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(
		storage_token_add(st, "0000000000000002", "ghost", HASH_B, NOW, err, sizeof err),
		STORAGE_E_NOT_FOUND);
	assert_int_equal(storage_token_check(st, "0000000000000001", HASH_A, &t, err, sizeof err),
			 STORAGE_OK);
	assert_string_equal(t.user, "bob");
	assert_int_equal(t.role, STORAGE_ROLE_APPROVER);
	assert_int_equal(t.revoked_at, 0);
	assert_int_equal(storage_token_check(st, "0000000000000001", HASH_B, &t, err, sizeof err),
			 STORAGE_E_NOT_FOUND);
	assert_int_equal(storage_token_check(st, "00000000000000ff", HASH_A, &t, err, sizeof err),
			 STORAGE_E_NOT_FOUND);
	assert_int_equal(storage_token_revoke(st, "0000000000000001", NOW + 5, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(storage_token_revoke(st, "0000000000000001", NOW + 9, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(storage_token_check(st, "0000000000000001", HASH_A, &t, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(t.revoked_at, NOW + 5);
	assert_int_equal(storage_token_revoke(st, "00000000000000ff", NOW, err, sizeof err),
			 STORAGE_E_NOT_FOUND);
}

static void make_endpoint(struct storage_endpoint *ep, const char *id)
{
	memset(ep, 0, sizeof *ep);
	snprintf(ep->id, sizeof ep->id, "%s", id);
	snprintf(ep->hostname, sizeof ep->hostname, "host-%s", id + 12);
	snprintf(ep->machine_id, sizeof ep->machine_id, "%s%s", id, id);
	snprintf(ep->os, sizeof ep->os, "Debian GNU/Linux 12 (bookworm)");
	snprintf(ep->kernel, sizeof ep->kernel, "6.1.0");
	snprintf(ep->agent_version, sizeof ep->agent_version, "0.1.0");
}

/* Enrolls endpoint id with a fresh token tid and the break-glass key text
 * breakglass (NULL: none); the credential hash is HASH_C. */
static void enroll_keyed(struct storage *st, const char *tid, const char *id,
			 const char *breakglass)
{
	struct storage_endpoint ep;
	make_endpoint(&ep, id);
	ep.breakglass_sealed = breakglass;
	assert_int_equal(
		storage_enroll_token_add(st, tid, HASH_A, "root", NOW, NOW + 60, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(storage_enroll(st, tid, HASH_A, &ep, HASH_C, NOW, err, sizeof err),
			 STORAGE_OK);
}

/* Enrolls endpoint id with a fresh token tid and no break-glass key. */
static void enroll(struct storage *st, const char *tid, const char *id)
{
	enroll_keyed(st, tid, id, NULL);
}

static void test_enrollment(void **state)
{
	struct storage *st = *state;
	struct storage_endpoint ep, got, *list;
	size_t n;

	enroll(st, "e000000000000001", "a000000000000001");
	make_endpoint(&ep, "a000000000000002");
	/* single use */
	assert_int_equal(
		storage_enroll(st, "e000000000000001", HASH_A, &ep, HASH_C, NOW, err, sizeof err),
		STORAGE_E_TOKEN_USED);
	/* wrong hash and unknown id read the same */
	assert_int_equal(storage_enroll_token_add(st, "e000000000000002", HASH_A, "root", NOW,
						  NOW + 60, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(
		storage_enroll(st, "e000000000000002", HASH_B, &ep, HASH_C, NOW, err, sizeof err),
		STORAGE_E_TOKEN_INVALID);
	assert_int_equal(
		storage_enroll(st, "e0000000000000ff", HASH_A, &ep, HASH_C, NOW, err, sizeof err),
		STORAGE_E_TOKEN_INVALID);
	/* expiry is exclusive: at expires_at it is gone; nothing was created */
	assert_int_equal(storage_enroll(st, "e000000000000002", HASH_A, &ep, HASH_C, NOW + 60, err,
					sizeof err),
			 STORAGE_E_TOKEN_EXPIRED);
	assert_int_equal(storage_endpoint_get(st, "a000000000000002", &got, err, sizeof err),
			 STORAGE_E_NOT_FOUND);
	/* still usable before expiry */
	assert_int_equal(storage_enroll(st, "e000000000000002", HASH_A, &ep, HASH_C, NOW + 59, err,
					sizeof err),
			 STORAGE_OK);

	assert_int_equal(
		storage_endpoint_check(st, "a000000000000001", HASH_C, &got, err, sizeof err),
		STORAGE_OK);
	assert_string_equal(got.hostname, "host-0001");
	assert_int_equal(got.enrolled_at, NOW);
	assert_int_equal(got.last_seen, NOW);
	assert_int_equal(got.revoked_at, 0);
	assert_int_equal(
		storage_endpoint_check(st, "a000000000000001", HASH_B, &got, err, sizeof err),
		STORAGE_E_NOT_FOUND);

	/* touch: last_seen, and only the non-empty facts */
	struct storage_endpoint facts;
	memset(&facts, 0, sizeof facts);
	snprintf(facts.kernel, sizeof facts.kernel, "6.2.0");
	assert_int_equal(
		storage_endpoint_touch(st, "a000000000000001", &facts, NOW + 7, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(storage_endpoint_touch(st, "a0000000000000ff", NULL, NOW, err, sizeof err),
			 STORAGE_E_NOT_FOUND);
	assert_int_equal(storage_endpoint_get(st, "a000000000000001", &got, err, sizeof err),
			 STORAGE_OK);
	assert_string_equal(got.kernel, "6.2.0");
	assert_string_equal(got.os, "Debian GNU/Linux 12 (bookworm)");
	assert_int_equal(got.last_seen, NOW + 7);

	assert_int_equal(storage_endpoint_list(st, &list, &n, err, sizeof err), STORAGE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, "a000000000000001");
	free(list);
}

static void add_request(struct storage *st, const char *id, const char *endpoint, int needed,
			int64_t created, int64_t ttl)
{
	struct storage_request q;
	memset(&q, 0, sizeof q);
	snprintf(q.id, sizeof q.id, "%s", id);
	snprintf(q.endpoint_id, sizeof q.endpoint_id, "%s", endpoint);
	snprintf(q.user, sizeof q.user, "alice");
	snprintf(q.host, sizeof q.host, "db1");
	snprintf(q.binary_sha256, sizeof q.binary_sha256, "%s", HASH_A);
	q.argv_json = (char *)"[\"/usr/bin/id\",\"-u\"]";
	q.reason = (char *)"ticket 42";
	q.rule = (char *)"/etc/jitsu/policy.conf:3";
	q.approvals_needed = needed;
	q.created_at = created;
	q.expires_at = created + ttl;
	assert_int_equal(storage_request_add(st, &q, err, sizeof err), STORAGE_OK);
}

static int decide(struct storage *st, const char *id, const char *who, int approve, int64_t now)
{
	return storage_request_decide(st, id, who, approve, approve ? "" : "no", now, NULL, err,
				      sizeof err);
}

/* Break-glass: the key stored at enrollment (or none), lookup by
 * hostname, and the response log. */
static void test_breakglass(void **state)
{
	struct storage *st = *state;
	struct storage_endpoint ep;
	char text[STORAGE_BREAKGLASS_MAX + 1], ids[2][STORAGE_ID_LEN + 1];
	size_t n = 0;

	enroll_keyed(st, "e000000000000001", "a000000000000001", SEALED_A);
	enroll(st, "e000000000000002", "b000000000000001"); /* no key */
	enroll(st, "e000000000000003", "c000000000000001");

	assert_int_equal(storage_breakglass_key(st, "a000000000000001", text, err, sizeof err),
			 STORAGE_OK);
	assert_string_equal(text, SEALED_A);
	assert_int_equal(storage_breakglass_key(st, "b000000000000001", text, err, sizeof err),
			 STORAGE_OK);
	assert_string_equal(text, "");
	assert_int_equal(storage_breakglass_key(st, "a0000000000000ff", text, err, sizeof err),
			 STORAGE_E_NOT_FOUND);
	/* Reads never carry the key. */
	assert_int_equal(storage_endpoint_get(st, "a000000000000001", &ep, err, sizeof err),
			 STORAGE_OK);
	assert_null(ep.breakglass_sealed);

	/* make_endpoint names them all alike: at most 2 ids, the count of all. */
	assert_int_equal(storage_endpoint_ids_by_host(st, ep.hostname, ids, 2, &n, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(n, 3);
	assert_string_equal(ids[0], "a000000000000001");
	assert_string_equal(ids[1], "b000000000000001");
	assert_int_equal(storage_endpoint_ids_by_host(st, "nowhere", ids, 2, &n, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(n, 0);

	assert_int_equal(storage_breakglass_log(st, "a000000000000001", "root", "ABCD0123",
						NOW / 300, NOW, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(storage_breakglass_log(st, "a0000000000000ff", "root", "ABCD0123",
						NOW / 300, NOW, err, sizeof err),
			 STORAGE_E_EXISTS); /* the foreign key */
}

static int seal_fails(void *ctx, const char *id, const char *hex, char **sealed)
{
	(void)ctx;
	(void)id;
	(void)hex;
	*sealed = NULL;
	return -1;
}

/* A stand-in for mfaseal: "sealed-" and the id, counting its calls. */
static int seal_by_id(void *ctx, const char *id, const char *hex, char **sealed)
{
	(*(int *)ctx)++;
	assert_string_equal(hex, HASH_B);
	char buf[64];
	snprintf(buf, sizeof buf, "sealed-%s", id);
	*sealed = strdup(buf);
	return *sealed ? 0 : -1;
}

/* Keys an older hub stored in clear (64 hex) are sealed once, in place;
 * sealed ones and endpoints without a key are left as they are. */
static void test_breakglass_seal_clear(void **state)
{
	struct storage *st = *state;
	char text[STORAGE_BREAKGLASS_MAX + 1];
	size_t n = 99;
	int calls = 0;

	enroll_keyed(st, "e000000000000001", "a000000000000001", SEALED_A);
	enroll_keyed(st, "e000000000000002", "a000000000000002", HASH_B); /* clear, as before */
	enroll(st, "e000000000000003", "a000000000000003");               /* no key */

	/* A seal that fails stops the pass and leaves the clear key. */
	assert_int_equal(storage_breakglass_seal_clear(st, seal_fails, NULL, &n, err, sizeof err),
			 STORAGE_E_DB);
	assert_non_null(strstr(err, "a000000000000002"));
	assert_int_equal(storage_breakglass_key(st, "a000000000000002", text, err, sizeof err),
			 STORAGE_OK);
	assert_string_equal(text, HASH_B);

	assert_int_equal(storage_breakglass_seal_clear(st, seal_by_id, &calls, &n, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(calls, 1);
	assert_int_equal(storage_breakglass_key(st, "a000000000000002", text, err, sizeof err),
			 STORAGE_OK);
	assert_string_equal(text, "sealed-a000000000000002");
	assert_int_equal(storage_breakglass_key(st, "a000000000000001", text, err, sizeof err),
			 STORAGE_OK);
	assert_string_equal(text, SEALED_A);
	assert_int_equal(storage_breakglass_key(st, "a000000000000003", text, err, sizeof err),
			 STORAGE_OK);
	assert_string_equal(text, "");
	/* Nothing left to seal. */
	assert_int_equal(storage_breakglass_seal_clear(st, seal_by_id, &calls, &n, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(calls, 1);
}

static void test_request_approve_n_of_m(void **state)
{
	struct storage *st = *state;
	struct storage_request q;

	enroll(st, "e000000000000001", "a000000000000001");
	add_request(st, "r000000000000001", "a000000000000001", 2, NOW, 900);
	assert_int_equal(storage_request_get(st, "r000000000000001", "a000000000000001", NOW, &q,
					     err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(q.state, STORAGE_PENDING);
	assert_string_equal(q.argv_json, "[\"/usr/bin/id\",\"-u\"]");
	assert_int_equal(q.approvals_needed, 2);
	assert_int_equal(q.ndecisions, 0);
	assert_int_equal(q.decided_at, 0);
	storage_request_clear(&q);

	assert_int_equal(decide(st, "r000000000000001", "alice", 1, NOW + 1),
			 STORAGE_E_SELF_APPROVAL);
	assert_int_equal(decide(st, "r000000000000001", "bob", 1, NOW + 1), STORAGE_OK);
	assert_int_equal(decide(st, "r000000000000001", "bob", 1, NOW + 2),
			 STORAGE_E_ALREADY_DECIDED);
	assert_int_equal(
		storage_request_get(st, "r000000000000001", NULL, NOW + 2, &q, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(q.state, STORAGE_PENDING);
	assert_int_equal(q.ndecisions, 1);
	storage_request_clear(&q);

	assert_int_equal(storage_request_decide(st, "r000000000000001", "carol", 1, "fine", NOW + 3,
						&q, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(q.state, STORAGE_APPROVED);
	assert_int_equal(q.decided_at, NOW + 3);
	assert_int_equal(q.ndecisions, 2);
	assert_string_equal(q.decisions[0].approver, "bob");
	assert_string_equal(q.decisions[1].approver, "carol");
	assert_string_equal(q.decisions[1].note, "fine");
	assert_true(q.decisions[1].approve);
	storage_request_clear(&q);

	assert_int_equal(decide(st, "r000000000000001", "dave", 0, NOW + 4), STORAGE_E_NOT_PENDING);
	assert_int_equal(decide(st, "r0000000000000ff", "dave", 1, NOW + 4), STORAGE_E_NOT_FOUND);
}

static void test_request_deny_cancel_expire(void **state)
{
	struct storage *st = *state;
	struct storage_request q;

	enroll(st, "e000000000000001", "a000000000000001");
	enroll(st, "e000000000000002", "a000000000000002");
	add_request(st, "r000000000000001", "a000000000000001", 3, NOW, 900);
	add_request(st, "r000000000000002", "a000000000000001", 1, NOW, 900);
	add_request(st, "r000000000000003", "a000000000000002", 1, NOW, 10);

	/* one approval, then a deny denies regardless of N */
	assert_int_equal(decide(st, "r000000000000001", "bob", 1, NOW + 1), STORAGE_OK);
	assert_int_equal(storage_request_decide(st, "r000000000000001", "carol", 0, "not today",
						NOW + 2, &q, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(q.state, STORAGE_DENIED);
	assert_false(q.decisions[1].approve);
	assert_string_equal(q.decisions[1].note, "not today");
	storage_request_clear(&q);

	/* an endpoint sees and cancels only its own */
	assert_int_equal(storage_request_get(st, "r000000000000002", "a000000000000002", NOW, &q,
					     err, sizeof err),
			 STORAGE_E_NOT_FOUND);
	assert_int_equal(storage_request_cancel(st, "r000000000000002", "a000000000000002", NOW, &q,
						err, sizeof err),
			 STORAGE_E_NOT_FOUND);
	assert_int_equal(storage_request_cancel(st, "r000000000000002", "a000000000000001", NOW + 1,
						&q, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(q.state, STORAGE_CANCELLED);
	storage_request_clear(&q);
	assert_int_equal(storage_request_cancel(st, "r000000000000002", "a000000000000001", NOW + 1,
						NULL, err, sizeof err),
			 STORAGE_E_NOT_PENDING);

	/* expiry: a decision at or after expires_at is refused, state is expired */
	assert_int_equal(decide(st, "r000000000000003", "bob", 1, NOW + 10), STORAGE_E_NOT_PENDING);
	assert_int_equal(
		storage_request_get(st, "r000000000000003", NULL, NOW + 11, &q, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(q.state, STORAGE_EXPIRED);
	assert_int_equal(q.decided_at, NOW + 10);
	assert_int_equal(q.ndecisions, 0);
	storage_request_clear(&q);
}

static void test_request_list_and_revoke(void **state)
{
	struct storage *st = *state;
	struct storage_request_list l;
	struct storage_endpoint ep;

	enroll(st, "e000000000000001", "a000000000000001");
	enroll(st, "e000000000000002", "a000000000000002");
	add_request(st, "r000000000000001", "a000000000000001", 1, NOW, 900);
	add_request(st, "r000000000000002", "a000000000000001", 1, NOW + 1, 5);
	add_request(st, "r000000000000003", "a000000000000002", 1, NOW + 2, 900);
	add_request(st, "r000000000000004", "a000000000000002", 1, NOW + 3, 900);

	assert_int_equal(storage_request_list(st, -1, 100, NOW + 3, &l, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.items[0].id, "r000000000000004"); /* newest first */
	storage_request_list_free(&l);
	assert_int_equal(storage_request_list(st, -1, 2, NOW + 3, &l, err, sizeof err), STORAGE_OK);
	assert_int_equal(l.n, 2);
	storage_request_list_free(&l);

	/* r2 expires at NOW+6; listing expires what is due */
	assert_int_equal(
		storage_request_list(st, STORAGE_PENDING, 100, NOW + 6, &l, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(l.n, 3);
	storage_request_list_free(&l);
	assert_int_equal(
		storage_request_list(st, STORAGE_EXPIRED, 100, NOW + 6, &l, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].id, "r000000000000002");
	storage_request_list_free(&l);

	/* revoking an endpoint cancels its pending requests at once */
	assert_int_equal(storage_endpoint_revoke(st, "a000000000000002", NOW + 7, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(storage_endpoint_revoke(st, "a0000000000000ff", NOW + 7, err, sizeof err),
			 STORAGE_E_NOT_FOUND);
	assert_int_equal(storage_endpoint_get(st, "a000000000000002", &ep, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(ep.revoked_at, NOW + 7);
	assert_int_equal(
		storage_request_list(st, STORAGE_CANCELLED, 100, NOW + 7, &l, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(l.n, 2);
	storage_request_list_free(&l);
	assert_int_equal(decide(st, "r000000000000003", "bob", 1, NOW + 8), STORAGE_E_NOT_PENDING);

	assert_int_equal(storage_request_list(st, -1, 0, NOW, &l, err, sizeof err),
			 STORAGE_E_INVALID);
}

static void test_request_bounds(void **state)
{
	struct storage *st = *state;
	struct storage_request q;

	enroll(st, "e000000000000001", "a000000000000001");
	memset(&q, 0, sizeof q);
	snprintf(q.id, sizeof q.id, "r000000000000001");
	snprintf(q.endpoint_id, sizeof q.endpoint_id, "a000000000000001");
	q.argv_json = (char *)"[\"x\"]";
	q.reason = q.rule = (char *)"";
	q.approvals_needed = 11;
	assert_int_equal(storage_request_add(st, &q, err, sizeof err), STORAGE_E_INVALID);
	q.approvals_needed = 1;
	/* an unknown endpoint breaks the foreign key */
	snprintf(q.endpoint_id, sizeof q.endpoint_id, "a0000000000000ff");
	assert_int_equal(storage_request_add(st, &q, err, sizeof err), STORAGE_E_EXISTS);
}

/* One serving hub per SQLite file; PostgreSQL takes any number. */
static void test_claim(void **state)
{
	struct storage *st = *state, *again = NULL;

	assert_int_equal(storage_claim(st, err, sizeof err), STORAGE_OK);
	assert_int_equal(storage_claim(st, err, sizeof err), STORAGE_OK);
	assert_int_equal(storage_open(&again, url, err, sizeof err), STORAGE_OK);
	if (use_pg) {
		assert_int_equal(storage_claim(again, err, sizeof err), STORAGE_OK);
	} else {
		assert_int_equal(storage_claim(again, err, sizeof err), STORAGE_E_EXISTS);
		assert_non_null(strstr(err, "in use by another jitsu-hub"));
	}
	storage_close(st);
	*state = NULL;
	assert_int_equal(storage_claim(again, err, sizeof err), STORAGE_OK);
	storage_close(again);
}

/* What the notify listener heard (test_notify). */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char ids[8][STORAGE_ID_LEN + 1];
	size_t n;
} heard = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {{0}}, 0};

static void on_notify(void *cls, const char *id)
{
	pthread_mutex_lock(&heard.lock);
	if (id && heard.n < 8)
		snprintf(heard.ids[heard.n++], sizeof heard.ids[0], "%s", id);
	pthread_cond_broadcast(&heard.cond);
	pthread_mutex_unlock(&heard.lock);
}

/* Waits up to 5 s for the n-th notification; returns how many came. */
static size_t wait_heard(size_t n)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&heard.lock);
	while (heard.n < n && pthread_cond_timedwait(&heard.cond, &heard.lock, &ts) == 0)
		;
	size_t got = heard.n;
	pthread_mutex_unlock(&heard.lock);
	return got;
}

/* PostgreSQL: each request leaving "pending" -- and only that -- is
 * announced on the channel, whatever moved it. */
static void test_notify(void **state)
{
	struct storage *st = *state;
	struct notify *n = NULL;

	if (!use_pg)
		skip();
	assert_int_equal(notify_start(&n, url, on_notify, NULL, err, sizeof err), 0);
	enroll(st, "e000000000000001", "e000000000000001");
	add_request(st, "a000000000000001", "e000000000000001", 2, NOW, 100);
	add_request(st, "a000000000000002", "e000000000000001", 2, NOW, 10);
	add_request(st, "a000000000000003", "e000000000000001", 2, NOW, 100);
	/* a partial approval is no news */
	assert_int_equal(storage_request_decide(st, "a000000000000001", "bob", 1, "", NOW, NULL,
						err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(storage_request_decide(st, "a000000000000001", "carol", 0, "no", NOW, NULL,
						err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(wait_heard(1), 1);
	assert_int_equal(storage_expire(st, NOW + 20, err, sizeof err), STORAGE_OK);
	assert_int_equal(storage_endpoint_revoke(st, "e000000000000001", NOW + 30, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(wait_heard(3), 3);
	notify_stop(n);
	assert_string_equal(heard.ids[0], "a000000000000001");
	assert_string_equal(heard.ids[1], "a000000000000002");
	assert_string_equal(heard.ids[2], "a000000000000003");
}

/* ---- central MFA (storage_mfa.c) ---- */

/* fn for storage_mfa_update: the state is a decimal counter; arg says
 * what to do (an increment, no change, or a refusal). */
static int mfa_count(void *arg, const char *state, char **next)
{
	int how = *(int *)arg;
	long n = state ? strtol(state, NULL, 10) : 0;
	if (how < 0)
		return STORAGE_E_INVALID;
	*next = NULL;
	if (how == 0)
		return STORAGE_OK;
	char buf[32];
	snprintf(buf, sizeof buf, "%ld", n + how);
	*next = strdup(buf);
	return *next ? STORAGE_OK : STORAGE_E_DB;
}

static void test_mfa_rows(void **state)
{
	struct storage *st = *state;
	struct storage_mfa m, *list;
	size_t n;
	int inc = 1, none = 0, refuse = -1;

	assert_int_equal(storage_mfa_get(st, "alice", &m, err, sizeof err), STORAGE_E_NOT_FOUND);
	assert_int_equal(storage_mfa_update(st, "alice", "endpoint:a", NOW, mfa_count, &inc, err,
					    sizeof err),
			 STORAGE_OK);
	assert_int_equal(storage_mfa_update(st, "alice", "endpoint:b", NOW + 1, mfa_count, &inc,
					    err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(storage_mfa_update(st, "alice", "endpoint:c", NOW + 2, mfa_count, &none,
					    err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(storage_mfa_update(st, "alice", "endpoint:d", NOW + 3, mfa_count, &refuse,
					    err, sizeof err),
			 STORAGE_E_INVALID);
	assert_int_equal(
		storage_mfa_update(st, "bob", "user:admin", NOW, mfa_count, &inc, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(storage_mfa_get(st, "alice", &m, err, sizeof err), STORAGE_OK);
	assert_string_equal(m.state, "2");
	assert_string_equal(m.updated_by, "endpoint:b");
	assert_int_equal(m.updated_at, NOW + 1);
	storage_mfa_clear(&m);
	assert_int_equal(storage_mfa_list(st, &list, &n, err, sizeof err), STORAGE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].user, "alice");
	assert_string_equal(list[1].user, "bob");
	storage_mfa_list_free(list, n);
	assert_int_equal(storage_mfa_delete(st, "alice", err, sizeof err), STORAGE_OK);
	assert_int_equal(storage_mfa_delete(st, "alice", err, sizeof err), STORAGE_E_NOT_FOUND);
	assert_int_equal(storage_mfa_get(st, "alice", &m, err, sizeof err), STORAGE_E_NOT_FOUND);
}

#define MFA_RACERS 4
#define MFA_ROUNDS 25

/* arg: an int, set to the number of failed updates. */
static void *mfa_racer(void *arg)
{
	struct storage *st = NULL;
	char e[512];
	int inc = 1, *failures = arg;
	*failures = MFA_ROUNDS;
	if (storage_open(&st, url, e, sizeof e) != STORAGE_OK)
		return NULL;
	*failures = 0;
	for (int i = 0; i < MFA_ROUNDS; i++)
		*failures += storage_mfa_update(st, "racer", "endpoint:r", NOW, mfa_count, &inc, e,
						sizeof e) != STORAGE_OK;
	storage_close(st);
	return NULL;
}

/* Read-modify-writes from several connections never lose an update: each
 * re-reads the row in its transaction (locked on PostgreSQL). */
static void test_mfa_serialised(void **state)
{
	struct storage *st = *state;
	struct storage_mfa m;
	pthread_t t[MFA_RACERS];
	int inc = 1, failures[MFA_RACERS];

	/* The row exists first: the race is on one row, not on its insert. */
	assert_int_equal(storage_mfa_update(st, "racer", "endpoint:r", NOW, mfa_count, &inc, err,
					    sizeof err),
			 STORAGE_OK);
	for (int i = 0; i < MFA_RACERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, mfa_racer, &failures[i]), 0);
	for (int i = 0; i < MFA_RACERS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(failures[i], 0);
	}
	assert_int_equal(storage_mfa_get(st, "racer", &m, err, sizeof err), STORAGE_OK);
	assert_int_equal(strtol(m.state, NULL, 10), 1 + MFA_RACERS * MFA_ROUNDS);
	storage_mfa_clear(&m);
}

/* Central policy: versions count per group, rollback appends, groups need
 * a version, enrollment into a group is atomic. */
static void test_policy(void **state)
{
	struct storage *st = *state;
	struct storage_policy p, *list;
	struct storage_endpoint ep;
	char group[STORAGE_NAME_MAX + 1];
	size_t n;
	assert_int_equal(storage_policy_get(st, "ops", 0, &p, err, sizeof err),
			 STORAGE_E_NOT_FOUND);
	assert_int_equal(storage_policy_add(st, "ops", "permit a\n", HASH_A, "root", "one", 0, NOW,
					    &p, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(p.version, 1);
	assert_string_equal(p.text, "permit a\n");
	assert_string_equal(p.message, "one");
	assert_int_equal(p.rollback_of, 0);
	storage_policy_clear(&p);
	assert_int_equal(storage_policy_add(st, "ops", "permit b\n", HASH_B, "root", "", 0, NOW + 1,
					    NULL, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(storage_policy_add(st, "web", "permit c\n", HASH_C, "root", "", 0, NOW,
					    NULL, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(
		storage_policy_rollback(st, "ops", 1, "root", "undo", NOW + 2, &p, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(p.version, 3);
	assert_int_equal(p.rollback_of, 1);
	assert_string_equal(p.text, "permit a\n");
	assert_string_equal(p.sha256, HASH_A);
	storage_policy_clear(&p);
	assert_int_equal(
		storage_policy_rollback(st, "ops", 9, "root", "", NOW, NULL, err, sizeof err),
		STORAGE_E_NOT_FOUND);
	assert_int_equal(storage_policy_get(st, "ops", 0, &p, err, sizeof err), STORAGE_OK);
	assert_int_equal(p.version, 3);
	storage_policy_clear(&p);
	assert_int_equal(storage_policy_get(st, "ops", 2, &p, err, sizeof err), STORAGE_OK);
	assert_string_equal(p.text, "permit b\n");
	storage_policy_clear(&p);
	assert_int_equal(storage_policy_history(st, "ops", &list, &n, err, sizeof err), STORAGE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(list[0].version, 3);
	assert_int_equal(list[2].version, 1);
	assert_null(list[0].text);
	storage_policy_list_free(list, n);
	enroll(st, "e000000000000001", "a000000000000001");
	assert_int_equal(storage_policy_group_get(st, "a000000000000001", group, err, sizeof err),
			 STORAGE_OK);
	assert_string_equal(group, "");
	assert_int_equal(storage_policy_group_set(st, "a000000000000001", "empty", "root", NOW, err,
						  sizeof err),
			 STORAGE_E_INVALID);
	assert_int_equal(storage_policy_group_set(st, "a0000000000000ff", "ops", "root", NOW, err,
						  sizeof err),
			 STORAGE_E_NOT_FOUND);
	assert_int_equal(storage_policy_group_set(st, "a000000000000001", "ops", "root", NOW, err,
						  sizeof err),
			 STORAGE_OK);
	assert_int_equal(storage_policy_group_set(st, "a000000000000001", "web", "root", NOW, err,
						  sizeof err),
			 STORAGE_OK);
	assert_int_equal(storage_policy_group_get(st, "a000000000000001", group, err, sizeof err),
			 STORAGE_OK);
	assert_string_equal(group, "web");
	assert_int_equal(storage_policy_group_set(st, "a000000000000001", NULL, "root", NOW, err,
						  sizeof err),
			 STORAGE_OK);
	assert_int_equal(storage_policy_group_get(st, "a000000000000001", group, err, sizeof err),
			 STORAGE_OK);
	assert_string_equal(group, "");
	/* enrollment into a group without a version changes nothing */
	assert_int_equal(storage_enroll_token_add(st, "e000000000000002", HASH_A, "root", NOW,
						  NOW + 60, err, sizeof err),
			 STORAGE_OK);
	make_endpoint(&ep, "a000000000000002");
	assert_int_equal(storage_enroll_grouped(st, "e000000000000002", HASH_A, &ep, HASH_C,
						"empty", NOW, err, sizeof err),
			 STORAGE_E_INVALID);
	assert_int_equal(storage_endpoint_get(st, "a000000000000002", &ep, err, sizeof err),
			 STORAGE_E_NOT_FOUND);
	make_endpoint(&ep, "a000000000000002");
	assert_int_equal(storage_enroll_grouped(st, "e000000000000002", HASH_A, &ep, HASH_C, "ops",
						NOW, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(storage_policy_group_get(st, "a000000000000002", group, err, sizeof err),
			 STORAGE_OK);
	assert_string_equal(group, "ops");
}

/* ---- audit shipping ---- */

/* A valid audit line for seq after prev, by event and user (no newline). */
static char *audit_line(uint64_t seq, uint8_t prev[AUDIT_HASH_LEN], const char *event,
			const char *user, int64_t time_s)
{
	char *l, when[28];
	size_t len;
	audit_record_time_format(time_s * 1000000, when);
	json_t *o = json_pack("{s:i,s:I,s:s,s:s,s:s,s:s,s:s}", "v", 1, "seq", (json_int_t)seq,
			      "time", when, "host", "db1.example.org", "machine_id", "", "event",
			      event, "user", user);
	assert_int_equal(audit_record_build(o, prev, &l, &len, prev), 0);
	json_decref(o);
	l[len - 1] = '\0';
	return l;
}

static void ingest(struct storage *st, int64_t after, char **lines, size_t n, int64_t want_acked,
		   const char *const *want_kinds, size_t nwant)
{
	struct storage_alert_list raised;
	size_t lens[16];
	int64_t acked = -1;
	for (size_t i = 0; i < n; i++)
		lens[i] = strlen(lines[i]);
	assert_int_equal(storage_audit_ingest(st, "a000000000000001", after,
					      (const char *const *)lines, lens, n, NOW, &acked,
					      &raised, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(acked, want_acked);
	assert_int_equal(raised.n, nwant);
	for (size_t i = 0; i < nwant; i++)
		assert_string_equal(raised.items[i].kind, want_kinds[i]);
	storage_alert_list_free(&raised);
}

static size_t count_rows(struct storage *st, const char *event)
{
	struct storage_audit_query q = {.event = event, .limit = STORAGE_LIST_MAX};
	struct storage_audit_rows rows;
	assert_int_equal(storage_audit_search(st, &q, &rows, err, sizeof err), STORAGE_OK);
	size_t n = rows.n;
	storage_audit_rows_free(&rows);
	return n;
}

static void test_audit_ingest(void **state)
{
	struct storage *st = *state;
	uint8_t h[AUDIT_HASH_LEN] = {0}, fork[AUDIT_HASH_LEN];
	char *l[12];
	static const char *const none[] = {NULL};

	enroll(st, "e000000000000001", "a000000000000001");
	for (int i = 0; i < 6; i++)
		l[i] = audit_line((uint64_t)i + 1, h, i == 4 ? "breakglass" : "request", "alice",
				  NOW + i);
	ingest(st, 0, l, 3, 3, none, 0);
	/* Again, overlapping (an acknowledgement was lost): silently the same. */
	static const char *const bg[] = {"breakglass_used"};
	ingest(st, 1, l + 1, 5, 6, bg, 1);
	assert_int_equal(count_rows(st, "request"), 5);
	ingest(st, 0, l, 6, 6, none, 0);
	assert_int_equal(count_rows(st, "request"), 5);
	assert_int_equal(count_rows(st, "breakglass"), 1);
	/* seq 8 after 6: a gap; then a tampered 9: a broken hash. */
	l[6] = audit_line(7, h, "exit", "alice", NOW + 7);
	l[7] = audit_line(8, h, "exit", "alice", NOW + 8);
	l[8] = audit_line(9, h, "exit", "alice", NOW + 9);
	strstr(l[8], "alice")[0] = 'm';
	static const char *const gap[] = {"audit_gap", "audit_hash"};
	ingest(st, 6, l + 7, 2, 9, gap, 2);
	/* 10 still links to 9 as it claims: the chain goes on without alert. */
	l[9] = audit_line(10, h, "exit", "alice", NOW + 10);
	ingest(st, 9, l + 9, 1, 10, none, 0);
	/* seq 7, which never arrived, now behind the head: a rewind. */
	static const char *const rw[] = {"audit_rewind"};
	ingest(st, 6, l + 6, 1, 7, rw, 1);
	/* An unreadable line takes the place after the one before it. */
	l[11] = strdup("not a record");
	static const char *const tp[] = {"audit_tamper"};
	ingest(st, 7, l + 11, 1, 8, tp, 1);
	ingest(st, 7, l + 11, 1, 8, none, 0); /* sent again: the same line */
	/* seq 2 with other bytes: a fork, stored beside the first. */
	memset(fork, 7, sizeof fork);
	l[10] = audit_line(2, fork, "request", "mallory", NOW + 2);
	static const char *const fk[] = {"audit_fork"};
	ingest(st, 1, l + 10, 1, 2, fk, 1);

	struct storage_alert_list al;
	assert_int_equal(storage_alert_list(st, 0, NULL, 100, &al, err, sizeof err), STORAGE_OK);
	assert_int_equal(al.n, 6);
	assert_string_equal(al.items[0].hostname, "host-0001");
	storage_alert_list_free(&al);
	assert_int_equal(storage_alert_list(st, 0, "audit_gap", 100, &al, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(al.n, 1);
	assert_int_equal(al.items[0].seq, 8);
	storage_alert_list_free(&al);

	/* search: by user and time, oldest first */
	struct storage_audit_query q = {
		.user = "alice", .since = NOW + 2, .until = NOW + 4, .limit = 10};
	struct storage_audit_rows rows;
	assert_int_equal(storage_audit_search(st, &q, &rows, err, sizeof err), STORAGE_OK);
	assert_int_equal(rows.n, 3);
	assert_int_equal(rows.items[0].seq, 3);
	assert_int_equal(rows.items[2].seq, 5);
	assert_string_equal(rows.items[2].event, "breakglass");
	assert_string_equal(rows.items[0].flag, "");
	storage_audit_rows_free(&rows);

	/* lag: the head, and the heartbeat's last local seq */
	struct storage_audit_lag *lag;
	struct storage_alert_list raised;
	size_t n;
	assert_int_equal(
		storage_audit_known(st, "a000000000000001", 12, 2, NOW, &raised, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(raised.n, 0);
	assert_int_equal(storage_audit_lag_list(st, &lag, &n, err, sizeof err), STORAGE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(lag[0].shipped_seq, 2); /* the head moved to the fork */
	assert_int_equal(lag[0].known_seq, 12);
	free(lag);
	/* behind the head but not behind its own cursor: a late beat of a
	 * shipper since replaced (or one that sent no cursor); no alert */
	assert_int_equal(
		storage_audit_known(st, "a000000000000001", 1, 1, NOW, &raised, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(raised.n, 0);
	assert_int_equal(
		storage_audit_known(st, "a000000000000001", 1, -1, NOW, &raised, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(raised.n, 0);
	assert_int_equal(
		storage_audit_known(st, "a000000000000001", 2, 2, NOW, &raised, err, sizeof err),
		STORAGE_OK);
	/* a trail that ends before the head and its cursor: wiped; one alert,
	 * not one a beat */
	assert_int_equal(
		storage_audit_known(st, "a000000000000001", 1, 2, NOW, &raised, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(raised.n, 1);
	assert_string_equal(raised.items[0].kind, "audit_rewind");
	assert_int_equal(raised.items[0].seq, 2);
	storage_alert_list_free(&raised);
	assert_int_equal(
		storage_audit_known(st, "a000000000000001", 1, 2, NOW, &raised, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(raised.n, 0);
	/* caught up, then wiped again: news again */
	assert_int_equal(
		storage_audit_known(st, "a000000000000001", 3, 2, NOW, &raised, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(raised.n, 0);
	assert_int_equal(
		storage_audit_known(st, "a000000000000001", 0, 2, NOW, &raised, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(raised.n, 1);
	storage_alert_list_free(&raised);
	for (int i = 0; i < 12; i++)
		free(l[i]);
}

static void test_silent(void **state)
{
	struct storage *st = *state;
	struct storage_alert_list raised;

	enroll(st, "e000000000000001", "a000000000000001");
	enroll(st, "e000000000000002", "a000000000000002");
	assert_int_equal(storage_endpoint_revoke(st, "a000000000000002", NOW, err, sizeof err),
			 STORAGE_OK);
	/* Not silent long enough yet. */
	assert_int_equal(storage_silent_scan(st, NOW, NOW + 10, &raised, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(raised.n, 0);
	/* Silent: one alert (not for the revoked one), once per silence. */
	assert_int_equal(storage_silent_scan(st, NOW + 1, NOW + 10, &raised, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(raised.n, 1);
	assert_string_equal(raised.items[0].kind, "endpoint_silent");
	assert_string_equal(raised.items[0].endpoint_id, "a000000000000001");
	storage_alert_list_free(&raised);
	assert_int_equal(storage_silent_scan(st, NOW + 5, NOW + 20, &raised, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(raised.n, 0);
	/* Seen again, then silent again: a new episode. */
	assert_int_equal(
		storage_endpoint_touch(st, "a000000000000001", NULL, NOW + 30, err, sizeof err),
		STORAGE_OK);
	assert_int_equal(storage_silent_scan(st, NOW + 31, NOW + 40, &raised, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(raised.n, 1);
	storage_alert_list_free(&raised);
	/* Another module's alert, stored, logged and announced in one call. */
	assert_int_equal(alert_raise(st, NULL, "a000000000000001", "mfa_lockout", 0, "alice",
				     NOW + 50, err, sizeof err),
			 STORAGE_OK);
	struct storage_alert_list l;
	assert_int_equal(storage_alert_list(st, NOW + 50, NULL, 10, &l, err, sizeof err),
			 STORAGE_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].kind, "mfa_lockout");
	assert_string_equal(l.items[0].hostname, "host-0001");
	assert_int_equal(l.items[0].seq, 0);
	storage_alert_list_free(&l);
	assert_int_equal(alert_raise(st, NULL, NULL, "Bad Kind", 0, "", NOW, err, sizeof err),
			 STORAGE_E_INVALID);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
		cmocka_unit_test(test_bad_url),
		cmocka_unit_test_setup_teardown(test_users_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enrollment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_breakglass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_breakglass_seal_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_approve_n_of_m, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_deny_cancel_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_list_and_revoke, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mfa_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mfa_serialised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_ingest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent, setup, teardown),
	};

	if (argc != 2 || (strcmp(argv[1], "sqlite") != 0 && strcmp(argv[1], "postgresql") != 0)) {
		fprintf(stderr, "usage: %s sqlite|postgresql\n", argv[0]);
		return 2;
	}
	use_pg = strcmp(argv[1], "postgresql") == 0;
	if (use_pg && !getenv("JITSU_HUB_PG_URL")) {
		fprintf(stderr, "JITSU_HUB_PG_URL is not set (run through pgcluster.py)\n");
		return 77;
	}
	if (!use_pg && !mkdtemp(sqlite_dir)) {
		perror("mkdtemp");
		return 1;
	}
	int rc = cmocka_run_group_tests_name(use_pg ? "storage-postgresql" : "storage-sqlite",
					     tests, NULL, NULL);
	if (!use_pg) {
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", sqlite_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", sqlite_dir);
	}
	return rc;
}
