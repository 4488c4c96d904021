/*
 * test_policydoc: the hub's policy document as jitsud reads it
 * (jitsud/policydoc.c): what is accepted, what is refused and why, the
 * cache round trip, sameness and the policy_version label.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../jitsud/policydoc.h"
#include "jitsu/digest.h"
#include "jitsu/resolve.h"

static const char TEXT[] = "permit alice cmd /usr/bin/id\n";

static void sha_hex(const char *t, char out[65])
{
	uint8_t d[DIGEST_SHA256_LEN];
	digest_sha256(t, strlen(t), d);
	resolve_hex(d, sizeof d, out);
}

/* A document for group g, version v, text t, with the hash of hash_of. */
static char *doc(const char *g, const char *v, const char *t, const char *hash_of)
{
	char sha[65], *out = malloc(4096);
	sha_hex(hash_of, sha);
	snprintf(out, 4096, "{\"group\":\"%s\",\"version\":%s,\"sha256\":\"%s\",\"text\":\"%s\"}",
		 g, v, sha, t);
	return out;
}

static void test_accepts_a_group_version(void **state)
{
	struct policydoc d;
	char err[256], label[POLICYDOC_LABEL_MAX], sha[65];
	char *j = doc("ops", "7", "permit alice cmd /usr/bin/id\\n", TEXT);
	assert_int_equal(policydoc_parse(j, strlen(j), &d, err, sizeof err), 0);
	sha_hex(TEXT, sha);
	assert_true(d.has_group);
	assert_string_equal(d.group, "ops");
	assert_int_equal(d.version, 7);
	assert_string_equal(d.sha256, sha);
	assert_string_equal(d.text, TEXT);
	assert_int_equal(d.len, strlen(TEXT));
	policydoc_label(&d, label, sizeof label);
	assert_string_equal(label, "hub:ops:7");
	policydoc_clear(&d);
	free(j);
}

static void test_accepts_no_group(void **state)
{
	struct policydoc d;
	char err[256];
	static const char *const ok[] = {"{\"group\":null}", "{\"group\":null,\"fetched_at\":5}"};
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(policydoc_parse(ok[i], strlen(ok[i]), &d, err, sizeof err), 0);
		assert_false(d.has_group);
		assert_null(d.text);
	}
}

static void test_refuses_what_does_not_fit(void **state)
{
	static const struct {
		const char *g, *v, *t, *hash_of, *why;
	} bad[] = {
		{"ops", "1", "permit alice cmd /usr/bin/id\\n", "other", "does not match"},
		{"-ops", "1", "x", "x", "group"},
		{"", "1", "x", "x", "group"},
		{"a b", "1", "x", "x", "group"},
		{"ops", "0", "x", "x", "version"},
		{"ops", "-3", "x", "x", "version"},
		{"ops", "\"1\"", "x", "x", "version"},
		{"ops", "1.5", "x", "x", "version"},
		{"ops", "9007199254740993", "x", "x", "version"},
		/* jansson refuses \u0000 already; policydoc checks again */
		{"ops", "1", "a\\u0000b", "a", "not one JSON object"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct policydoc d;
		char err[256] = "";
		char *j = doc(bad[i].g, bad[i].v, bad[i].t, bad[i].hash_of);
		assert_int_equal(policydoc_parse(j, strlen(j), &d, err, sizeof err), -EINVAL);
		assert_false(d.has_group);
		assert_null(d.text);
		if (!strstr(err, bad[i].why))
			fail_msg("case %zu: %s", i, err);
		free(j);
	}
	static const char *const junk[] = {
		"",
		"[]",
		"{}",
		"{\"group\":null,\"group\":null}",
		"{\"group\":5}",
		"{\"group\":\"ops\"}",
		"{\"group\":\"ops\",\"version\":1,\"sha256\":\"ABCD\",\"text\":\"\"}",
		"{\"group\":null",
	};
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
		struct policydoc d;
		char err[256] = "";
		assert_int_equal(policydoc_parse(junk[i], strlen(junk[i]), &d, err, sizeof err),
				 -EINVAL);
		assert_true(err[0]);
	}
}

static void test_upper_case_hash_refused(void **state)
{
	struct policydoc d;
	char err[256], sha[65], j[512];
	sha_hex("", sha);
	for (char *p = sha; *p; p++)
		if (*p >= 'a')
			*p = (char)(*p - 32);
	snprintf(j, sizeof j, "{\"group\":\"g\",\"version\":1,\"sha256\":\"%s\",\"text\":\"\"}",
		 sha);
	assert_int_equal(policydoc_parse(j, strlen(j), &d, err, sizeof err), -EINVAL);
}

static void test_text_over_the_cap_refused(void **state)
{
	struct policydoc d;
	char err[256], sha[65];
	size_t n = POLICYDOC_TEXT_MAX + 1;
	char *t = malloc(n + 1), *j = malloc(n + 256);
	memset(t, 'x', n);
	t[n] = '\0';
	sha_hex(t, sha);
	snprintf(j, n + 256, "{\"group\":\"g\",\"version\":1,\"sha256\":\"%s\",\"text\":\"%s\"}",
		 sha, t);
	assert_int_equal(policydoc_parse(j, strlen(j), &d, err, sizeof err), -EINVAL);
	t[n - 1] = '\0'; /* exactly the cap */
	sha_hex(t, sha);
	snprintf(j, n + 256, "{\"group\":\"g\",\"version\":1,\"sha256\":\"%s\",\"text\":\"%s\"}",
		 sha, t);
	assert_int_equal(policydoc_parse(j, strlen(j), &d, err, sizeof err), 0);
	assert_int_equal(d.len, POLICYDOC_TEXT_MAX);
	policydoc_clear(&d);
	free(t);
	free(j);
}

static void test_dump_round_trip_and_same(void **state)
{
	struct policydoc a, b, none, none2;
	char err[256];
	char *j = doc("web.1", "42", "permit alice cmd /usr/bin/id\\n", TEXT);
	assert_int_equal(policydoc_parse(j, strlen(j), &a, err, sizeof err), 0);
	char *dump = policydoc_dump(&a, 1795997760);
	assert_non_null(strstr(dump, "\"fetched_at\":1795997760"));
	assert_int_equal(policydoc_parse(dump, strlen(dump), &b, err, sizeof err), 0);
	assert_true(policydoc_same(&a, &b));
	assert_string_equal(a.text, b.text);
	b.version = 43;
	assert_false(policydoc_same(&a, &b));
	assert_int_equal(policydoc_parse("{\"group\":null}", 14, &none, err, sizeof err), 0);
	char *nd = policydoc_dump(&none, 2);
	assert_int_equal(policydoc_parse(nd, strlen(nd), &none2, err, sizeof err), 0);
	assert_true(policydoc_same(&none, &none2));
	assert_false(policydoc_same(&a, &none));
	free(nd);
	free(dump);
	free(j);
	policydoc_clear(&a);
	policydoc_clear(&b);
}

static void test_group_names(void **state)
{
	static const char *const ok[] = {"ops", "a", "web.prod-1", "_x", "A9"};
	static const char *const bad[] = {"", "-x", ".x", "a b", "a/b", "a:b", "\xc3\xa9"};
	char long_name[66];
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		assert_true(policydoc_group_ok(ok[i]));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_false(policydoc_group_ok(bad[i]));
	memset(long_name, 'g', 65);
	long_name[65] = '\0';
	assert_false(policydoc_group_ok(long_name));
	long_name[64] = '\0';
	assert_true(policydoc_group_ok(long_name));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts_a_group_version),
		cmocka_unit_test(test_accepts_no_group),
		cmocka_unit_test(test_refuses_what_does_not_fit),
		cmocka_unit_test(test_upper_case_hash_refused),
		cmocka_unit_test(test_text_over_the_cap_refused),
		cmocka_unit_test(test_dump_round_trip_and_same),
		cmocka_unit_test(test_group_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
