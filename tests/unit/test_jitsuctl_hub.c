/*
 * test_jitsuctl_hub: the pure helpers of `jitsuctl hub` (jitsuctl/hubfmt.c):
 * durations, escaping of what the hub says, times, spans and tables.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../jitsuctl/hubfmt.h"

static void test_duration_ok(void **state)
{
	static const struct {
		const char *in;
		long secs;
	} ok[] = {
		{"1", 1},      {"90s", 90},          {"15m", 900},
		{"1h", 3600},  {"2d", 172800},       {"7d", 604800},
		{"0090s", 90}, {"3650d", 315360000}, {"315360000", HUBFMT_DURATION_MAX},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		long secs = -1;
		assert_int_equal(hubfmt_duration(ok[i].in, &secs), 0);
		assert_int_equal(secs, ok[i].secs);
	}
}

static void test_duration_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"0",
		"0s",
		"s",
		"-1h",
		"+1h",
		" 1h",
		"1h ",
		"1 h",
		"1hh",
		"1w",
		"1H",
		"1.5h",
		"0x10",
		"1e3",
		"3651d",
		"315360001",
		"99999999999999999999999",
		"9223372036854775807s",
		"1h30m",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		long secs = 42;
		assert_int_equal(hubfmt_duration(bad[i], &secs), -EINVAL);
		assert_int_equal(secs, 42); /* untouched on failure */
	}
}

static void test_when(void **state)
{
	long long t = -1;
	const long long now = 1800000000;

	assert_int_equal(hubfmt_when("1700000000", now, &t), 0);
	assert_int_equal(t, 1700000000);
	assert_int_equal(hubfmt_when("30m", now, &t), 0);
	assert_int_equal(t, now - 1800);
	assert_int_equal(hubfmt_when("7d", now, &t), 0);
	assert_int_equal(t, now - 7 * 86400);
	assert_int_equal(hubfmt_when("2023-11-14", now, &t), 0);
	assert_int_equal(t, 1699920000);
	assert_int_equal(hubfmt_when("2023-11-14T22:13", now, &t), 0);
	assert_int_equal(t, 1699920000 + 22 * 3600 + 13 * 60);
	assert_int_equal(hubfmt_when("2023-11-14T22:13:20Z", now, &t), 0);
	assert_int_equal(t, 1700000000);
	static const char *const bad[] = {"",
					  "-5",
					  "yesterday",
					  "2h ago",
					  "1.5h",
					  "2023-13-01",
					  "2023-11-14 22:13",
					  "1234567890123",
					  "0x10",
					  "2023-11-14T25:00"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(hubfmt_when(bad[i], now, &t), -EINVAL);
}

static void test_escape(void **state)
{
	char out[65];
	assert_int_equal(hubfmt_escape("alice", out, 64), 5);
	assert_string_equal(out, "alice");
	hubfmt_escape(NULL, out, 64);
	assert_string_equal(out, "-");
	hubfmt_escape("\x1b]0;owned\x07", out, 64);
	assert_string_equal(out, "\\x1b]0;owned\\x07");
	hubfmt_escape("a\\x1b", out, 64);
	assert_string_equal(out, "a\\\\x1b"); /* a literal backslash cannot fake an escape */
	hubfmt_escape("tab\there\nnl\r\x7f", out, 64);
	assert_string_equal(out, "tab\\x09here\\x0anl\\x0d\\x7f");
	/* UTF-8, C1 controls (U+009B CSI) and bidi overrides (U+202E) alike. */
	hubfmt_escape("\xc2\x9b"
		      "31m \xe2\x80\xae",
		      out, 64);
	assert_string_equal(out, "\\xc2\\x9b31m \\xe2\\x80\\xae");
	/* No byte outside printable ASCII ever comes out. */
	char all[256];
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	static char big[1100];
	hubfmt_escape(all, big, sizeof big - 1);
	for (const char *p = big; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
}

static void test_escape_cut(void **state)
{
	char out[11];
	assert_int_equal(hubfmt_escape("abcdefghij", out, 10), 10); /* fits exactly */
	assert_string_equal(out, "abcdefghij");
	assert_int_equal(hubfmt_escape("abcdefghijk", out, 10), 10);
	assert_string_equal(out, "abcdefg...");
	/* An escape is never split by the cut. */
	hubfmt_escape("abcdef\x1bxyz", out, 10);
	assert_string_equal(out, "abcdef...");
	hubfmt_escape("\x1b\x1b\x1b", out, 10);
	assert_string_equal(out, "\\x1b...");
}

static void test_escape_cut_small(void **state)
{
	char small[5];
	assert_int_equal(hubfmt_escape("\x01", small, 4), 4);
	assert_string_equal(small, "\\x01");
	assert_int_equal(hubfmt_escape("\x01\x02", small, 4), 3);
	assert_string_equal(small, "...");
}

static void test_time_and_span(void **state)
{
	char b[32];
	hubfmt_time(1700000000, b, sizeof b);
	assert_string_equal(b, "2023-11-14 22:13Z");
	hubfmt_time(0, b, sizeof b);
	assert_string_equal(b, "-");
	hubfmt_time(-5, b, sizeof b);
	assert_string_equal(b, "-");
	static const struct {
		long long s;
		const char *want;
	} spans[] = {
		{-3, "0s"},        {0, "0s"},        {59, "59s"},       {60, "1m00s"},
		{872, "14m32s"},   {3599, "59m59s"}, {3600, "1h00m"},   {7500, "2h05m"},
		{86399, "23h59m"}, {86400, "1d00h"}, {273600, "3d04h"},
	};
	for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++) {
		hubfmt_span(spans[i].s, b, sizeof b);
		assert_string_equal(b, spans[i].want);
	}
}

static void test_conf_parse(void **state)
{
	struct hubfmt_conf c = {0};
	char err[128];
	char text[] = "# jitsuctl hub\n\n  hub = https://hub.example.org:8443  \r\n"
		      "token=jhu_0123456789abcdef_x\n\tfingerprint =\tAB:CD\n"
		      "  # cacert = /nope\ncacert = /etc/ssl/hub ca.pem";
	assert_int_equal(hubfmt_conf_parse(text, &c, err, sizeof err), 0);
	assert_string_equal(c.url, "https://hub.example.org:8443");
	assert_string_equal(c.token, "jhu_0123456789abcdef_x");
	assert_string_equal(c.fingerprint, "AB:CD");
	assert_string_equal(c.cacert, "/etc/ssl/hub ca.pem");

	struct hubfmt_conf e = {0};
	char empty[] = "";
	assert_int_equal(hubfmt_conf_parse(empty, &e, err, sizeof err), 0);
	assert_string_equal(e.url, "");
}

static void test_conf_parse_bad(void **state)
{
	static const struct {
		const char *text, *err;
	} bad[] = {
		{"hub https://x\n", "1: expected key = value"},
		{"\n\ncolour = blue\n", "3: unknown key (hub, token, fingerprint, cacert)"},
		{"token = a\ntoken = a\n", "2: duplicate key token"},
		{"hub =\n", "1: hub: empty or too long"},
		{"Hub = https://x\n", "1: unknown key (hub, token, fingerprint, cacert)"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct hubfmt_conf c = {0};
		char err[128], text[64];
		snprintf(text, sizeof text, "%s", bad[i].text);
		assert_int_equal(hubfmt_conf_parse(text, &c, err, sizeof err), -EINVAL);
		assert_string_equal(err, bad[i].err);
	}
	static char big[600];
	struct hubfmt_conf c = {0};
	char err[128];
	memset(big, 'a', sizeof big - 1);
	big[0] = 'h'; /* "hub=aaaa...": a value longer than any field */
	big[1] = 'u';
	big[2] = 'b';
	big[3] = '=';
	assert_int_equal(hubfmt_conf_parse(big, &c, err, sizeof err), -EINVAL);
	assert_string_equal(err, "1: hub: empty or too long");
}

/* Prints t into a string (caller frees). */
static char *render(const struct hubfmt_table *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(hubfmt_table_print(t, f), 0);
	fclose(f);
	return buf;
}

static void test_table(void **state)
{
	static const struct hubfmt_col cols[] = {{"ID", 16}, {"USER", 8}, {"COMMAND", 12}};
	struct hubfmt_table t;
	assert_int_equal(hubfmt_table_init(&t, cols, 3), 0);
	const char *r1[] = {"9f2c4e0a1b3d5f70", "bob", "id -u"};
	const char *r2[] = {"1", "averyveryverylongname", "rm\x1b[2J"};
	const char *r3[] = {"2", NULL, ""};
	assert_int_equal(hubfmt_table_add(&t, r1), 0);
	assert_int_equal(hubfmt_table_add(&t, r2), 0);
	assert_int_equal(hubfmt_table_add(&t, r3), 0);
	char *s = render(&t);
	assert_string_equal(s, "ID                USER      COMMAND\n"
			       "9f2c4e0a1b3d5f70  bob       id -u\n"
			       "1                 avery...  rm\\x1b[2J\n"
			       "2                 -         \n");
	free(s);
	hubfmt_table_free(&t);
}

static void test_table_many_rows(void **state)
{
	static const struct hubfmt_col cols[] = {{"N", 8}};
	struct hubfmt_table t;
	char n[16];
	const char *row[] = {n};
	assert_int_equal(hubfmt_table_init(&t, cols, 1), 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(n, sizeof n, "%d", i);
		assert_int_equal(hubfmt_table_add(&t, row), 0);
	}
	char *s = render(&t);
	assert_non_null(strstr(s, "\n999\n"));
	assert_int_equal(strlen(s), 2 + 10 * 2 + 90 * 3 + 900 * 4);
	free(s);
	hubfmt_table_free(&t);
}

static void test_table_init_bad(void **state)
{
	static const struct hubfmt_col tiny[] = {{"X", 3}};
	static const struct hubfmt_col many[HUBFMT_MAX_COLS + 1] = {{"A", 4}};
	struct hubfmt_table t;
	assert_int_equal(hubfmt_table_init(&t, tiny, 1), -EINVAL);
	assert_int_equal(hubfmt_table_init(&t, many, 0), -EINVAL);
	assert_int_equal(hubfmt_table_init(&t, many, HUBFMT_MAX_COLS + 1), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_ok),
		cmocka_unit_test(test_duration_bad),
		cmocka_unit_test(test_when),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_escape_cut),
		cmocka_unit_test(test_escape_cut_small),
		cmocka_unit_test(test_time_and_span),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_many_rows),
		cmocka_unit_test(test_table_init_bad),
		cmocka_unit_test(test_conf_parse),
		cmocka_unit_test(test_conf_parse_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
