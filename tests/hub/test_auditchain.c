/* auditchain: reading shipped audit lines and placing them on the chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auditchain.h"
#include "jitsu/audit_record.h"

/* A valid line for seq after prev (hash returned); caller frees. */
static char *line(uint64_t seq, const uint8_t prev[AUDIT_HASH_LEN], const char *event,
		  const char *user, uint8_t hash[AUDIT_HASH_LEN])
{
	char *l;
	size_t len;
	json_t *o = json_pack("{s:i,s:I,s:s,s:s,s:s,s:s}", "v", 1, "seq", (json_int_t)seq, "time",
			      "2026-11-29T21:36:47.123456Z", "host", "db1.example.org",
			      "machine_id", "", "event", event);
	if (user)
		json_object_set_new(o, "user", json_string(user));
	assert_int_equal(audit_record_build(o, prev, &l, &len, hash), 0);
	json_decref(o);
	l[len - 1] = '\0'; /* no newline */
	return l;
}

static void test_read_valid(void **state)
{
	uint8_t zero[AUDIT_HASH_LEN] = {0}, h1[AUDIT_HASH_LEN];
	char hex[65];
	struct auditchain_rec r;
	char *l = line(1, zero, "request", "alice", h1);

	auditchain_read(l, strlen(l), 0, &r);
	assert_int_equal(r.validity, AUDITCHAIN_VALID);
	assert_int_equal(r.seq, 1);
	audit_record_hex(h1, sizeof h1, hex);
	assert_string_equal(r.hash, hex);
	assert_string_equal(r.event, "request");
	assert_string_equal(r.user, "alice");
	assert_string_equal(r.host, "db1.example.org");
	assert_true(r.time_us > 0);
	assert_int_equal(strlen(r.line_sha), 64);
	free(l);
}

static void test_read_tampered_and_garbage(void **state)
{
	uint8_t zero[AUDIT_HASH_LEN] = {0}, h1[AUDIT_HASH_LEN];
	struct auditchain_rec r;
	char *l = line(7, zero, "exit", "alice", h1);
	char *u = strstr(l, "alice");

	u[0] = 'm'; /* "mlice": the bytes no longer match the hash */
	auditchain_read(l, strlen(l), 3, &r);
	assert_int_equal(r.validity, AUDITCHAIN_BAD_HASH);
	assert_int_equal(r.seq, 7); /* its own seq, still readable */
	assert_string_equal(r.user, "mlice");
	assert_non_null(strstr(r.why, "hash"));

	auditchain_read("garbage \x01", 9, 41, &r);
	assert_int_equal(r.validity, AUDITCHAIN_UNREADABLE);
	assert_int_equal(r.seq, 42); /* the place after the line before it */
	assert_string_equal(r.event, "");
	/* A user that could drive a terminal is not taken as a column. */
	const char *esc = "{\"seq\":3,\"user\":\"a\\u001b[2J\"}";
	auditchain_read(esc, strlen(esc), 2, &r);
	assert_int_equal(r.validity, AUDITCHAIN_BAD_HASH);
	assert_string_equal(r.user, "");
	free(l);
}

static void test_place(void **state)
{
	uint8_t zero[AUDIT_HASH_LEN] = {0}, h1[AUDIT_HASH_LEN], h2[AUDIT_HASH_LEN];
	struct auditchain_head h = {0};
	struct auditchain_rec r1, r2, r3;
	char *l1 = line(1, zero, "request", NULL, h1);
	char *l2 = line(2, h1, "decision", NULL, h2);
	char *l3 = line(3, zero, "start", NULL, h2); /* prev does not link */

	auditchain_read(l1, strlen(l1), 0, &r1);
	auditchain_read(l2, strlen(l2), 1, &r2);
	auditchain_read(l3, strlen(l3), 2, &r3);
	assert_int_equal(auditchain_place(&h, &r1), AUDITCHAIN_NEXT);
	assert_int_equal(auditchain_place(&h, &r2), AUDITCHAIN_GAP); /* first ever is not 1 */
	h.have = 1;
	h.seq = 1;
	memcpy(h.hash, r1.hash, sizeof h.hash);
	assert_int_equal(auditchain_place(&h, &r2), AUDITCHAIN_NEXT);
	assert_int_equal(auditchain_place(&h, &r1), AUDITCHAIN_BEHIND);
	assert_int_equal(auditchain_place(&h, &r3), AUDITCHAIN_GAP);
	h.seq = 2;
	memcpy(h.hash, r2.hash, sizeof h.hash);
	assert_int_equal(auditchain_place(&h, &r3), AUDITCHAIN_BROKEN);
	h.hash[0] = '\0'; /* unknown head hash: the link cannot be checked */
	assert_int_equal(auditchain_place(&h, &r3), AUDITCHAIN_NEXT);
	free(l1);
	free(l2);
	free(l3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_valid),
		cmocka_unit_test(test_read_tampered_and_garbage),
		cmocka_unit_test(test_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
