/*
 * test_totp: RFC 6238 vectors through liboath, the ±1 step window, the
 * otpauth:// URI, agreement with oathtool(1), and the strict input parser.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <liboath/oath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitsu/totp.h"

static const uint8_t rfc_secret[20] = "12345678901234567890";

/* RFC 6238 Appendix B, SHA-1, 8 digits. */
static const struct {
	time_t t;
	const char *otp;
} rfc_vectors[] = {
	// clang-format off
	{59, "94287082"},
	{1111111109, "07081804"},
	{1111111111, "14050471"},
	{1234567890, "89005924"},
	{2000000000, "69279037"},
	{(time_t)20000000000LL, "65353130"},
	// clang-format on
};

static void code_at(const uint8_t *secret, time_t t, char out[7])
{
	assert_int_equal(oath_totp_generate((const char *)secret, 20, t, 30, 0, 6, out), OATH_OK);
}

static void test_rfc6238_vectors(void **state)
{
	(void)state;
	assert_int_equal(oath_init(), OATH_OK);
	for (size_t i = 0; i < sizeof rfc_vectors / sizeof rfc_vectors[0]; i++) {
		char otp[9];
		uint64_t step = 0;
		assert_int_equal(oath_totp_generate((const char *)rfc_secret, 20, rfc_vectors[i].t,
						    30, 0, 8, otp),
				 OATH_OK);
		assert_string_equal(otp, rfc_vectors[i].otp);
		/* HOTP truncation: the 6-digit code is the last 6 of the 8. */
		const char *six = rfc_vectors[i].otp + 2;
		assert_int_equal(totp_check(rfc_secret, 20, six, rfc_vectors[i].t, &step), 0);
		assert_true(step == (uint64_t)rfc_vectors[i].t / 30);
	}
}

static void test_window(void **state)
{
	(void)state;
	const time_t t = 1800000000 / 30 * 30 + 7;
	const uint64_t s = (uint64_t)t / 30;
	char code[7];
	uint64_t step = 0;

	code_at(rfc_secret, t, code);
	assert_int_equal(totp_check(rfc_secret, 20, code, t, &step), 0);
	assert_true(step == s);
	/* The code of step s is accepted one step later and one step earlier. */
	assert_int_equal(totp_check(rfc_secret, 20, code, t + 30, &step), 0);
	assert_true(step == s);
	assert_int_equal(totp_check(rfc_secret, 20, code, t - 30, &step), 0);
	assert_true(step == s);
	/* And never two or three steps away. */
	assert_int_equal(totp_check(rfc_secret, 20, code, t + 60, &step), -EACCES);
	assert_int_equal(totp_check(rfc_secret, 20, code, t - 60, &step), -EACCES);
	assert_int_equal(totp_check(rfc_secret, 20, code, t + 90, &step), -EACCES);
	assert_int_equal(totp_check(rfc_secret, 20, code, t - 90, &step), -EACCES);
	/* A future step's code is reported with its own step. */
	code_at(rfc_secret, t + 30, code);
	assert_int_equal(totp_check(rfc_secret, 20, code, t, &step), 0);
	assert_true(step == s + 1);
	/* The step before 0 does not wrap around. */
	code_at(rfc_secret, 5, code);
	assert_int_equal(totp_check(rfc_secret, 20, code, 5, &step), 0);
	assert_true(step == 0);
}

static void test_check_args(void **state)
{
	(void)state;
	uint64_t step;
	assert_int_equal(totp_check(rfc_secret, 20, "12345", 100, &step), -EINVAL);
	assert_int_equal(totp_check(rfc_secret, 20, "1234567", 100, &step), -EINVAL);
	assert_int_equal(totp_check(rfc_secret, 20, "12a456", 100, &step), -EINVAL);
	assert_int_equal(totp_check(rfc_secret, 20, "123456", -1, &step), -EINVAL);
	assert_int_equal(totp_check(rfc_secret, 0, "123456", 100, &step), -EINVAL);
	assert_int_equal(totp_check(NULL, 20, "123456", 100, &step), -EINVAL);
}

static void test_uri(void **state)
{
	(void)state;
	char uri[TOTP_URI_MAX], b32[TOTP_B32_LEN + 1];

	assert_int_equal(totp_base32(rfc_secret, 20, b32, sizeof b32), TOTP_B32_LEN);
	assert_string_equal(b32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
	assert_int_equal(totp_base32(rfc_secret, 20, b32, TOTP_B32_LEN), -ENOSPC);

	int n = totp_uri(rfc_secret, 20, "alice@host", uri, sizeof uri);
	assert_true(n > 0);
	assert_string_equal(uri, "otpauth://totp/jitsu:alice@host?secret="
				 "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=jitsu"
				 "&algorithm=SHA1&digits=6&period=30");
	assert_int_equal((size_t)n, strlen(uri));

	assert_true(totp_uri(rfc_secret, 20, "al ice/x?&=#%@h\xc3\xa9", uri, sizeof uri) > 0);
	assert_non_null(strstr(uri, "jitsu:al%20ice%2Fx%3F%26%3D%23%25@h%C3%A9?secret="));

	char long_acct[TOTP_ACCOUNT_MAX + 2];
	memset(long_acct, 'a', sizeof long_acct - 1);
	long_acct[sizeof long_acct - 1] = '\0';
	assert_int_equal(totp_uri(rfc_secret, 20, long_acct, uri, sizeof uri), -EINVAL);
	long_acct[TOTP_ACCOUNT_MAX] = '\0';
	assert_true(totp_uri(rfc_secret, 20, long_acct, uri, sizeof uri) > 0);
	assert_int_equal(totp_uri(rfc_secret, 20, "", uri, sizeof uri), -EINVAL);
	assert_int_equal(totp_uri(rfc_secret, 20, "a:b", uri, sizeof uri), -EINVAL);
	assert_int_equal(totp_uri(rfc_secret, 20, "a\nb", uri, sizeof uri), -EINVAL);
	assert_int_equal(totp_uri(rfc_secret, 20, "alice@host", uri, 40), -ENOSPC);
}

/* A fresh secret, printed in base32, gives the codes oathtool(1) gives. */
static void test_oathtool_agrees(void **state)
{
	(void)state;
	uint8_t secret[TOTP_SECRET_LEN];
	char b32[TOTP_B32_LEN + 1], cmd[256], out[32] = "";
	const time_t t = 1900000000;
	uint64_t step;

	assert_int_equal(totp_secret_new(secret), 0);
	assert_int_equal(totp_base32(secret, sizeof secret, b32, sizeof b32), TOTP_B32_LEN);
	snprintf(cmd, sizeof cmd, "oathtool --totp -b %s --now @%lld 2>/dev/null", b32,
		 (long long)t);
	FILE *p = popen(cmd, "r");
	if (!p || !fgets(out, sizeof out, p)) {
		if (p)
			pclose(p);
		skip();
	}
	pclose(p);
	out[strcspn(out, "\n")] = '\0';
	assert_int_equal(strlen(out), 6);
	assert_int_equal(totp_check(secret, sizeof secret, out, t, &step), 0);
	assert_true(step == (uint64_t)t / 30);
}

static void test_secret_random(void **state)
{
	(void)state;
	uint8_t a[TOTP_SECRET_LEN], b[TOTP_SECRET_LEN];
	assert_int_equal(totp_secret_new(a), 0);
	assert_int_equal(totp_secret_new(b), 0);
	assert_memory_not_equal(a, b, sizeof a);
}

static int parse(const char *s, char out[TOTP_CANON_MAX])
{
	return totp_parse_input(s, strlen(s), out);
}

static void test_parse_codes(void **state)
{
	(void)state;
	char out[TOTP_CANON_MAX];

	assert_int_equal(parse("123456", out), TOTP_INPUT_CODE);
	assert_string_equal(out, "123456");
	assert_int_equal(parse(" 123 456\t", out), TOTP_INPUT_CODE);
	assert_string_equal(out, "123456");
	assert_int_equal(parse("000000", out), TOTP_INPUT_CODE);

	const char *bad[] = {
		"",         " ",        "12345",        "1234567", "12345a",    "-12345", "+123456",
		"123456\n", "12\r3456", "１２３４５６", "123,456", "12345\x7f", "0x1234",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(out, 'X', sizeof out);
		assert_int_equal(parse(bad[i], out), -EINVAL);
		assert_int_equal(out[0], '\0');
	}
	/* An embedded NUL is not skipped. */
	assert_int_equal(totp_parse_input("123\000456", 7, out), -EINVAL);
	/* Over TOTP_INPUT_MAX is refused even if it is only spaces around a code. */
	char big[TOTP_INPUT_MAX + 8];
	memset(big, ' ', sizeof big);
	// NOLINTNEXTLINE(bugprone-not-null-terminated-result): unterminated on purpose
	memcpy(big, "123456", 6);
	assert_int_equal(totp_parse_input(big, TOTP_INPUT_MAX, out), TOTP_INPUT_CODE);
	assert_int_equal(totp_parse_input(big, TOTP_INPUT_MAX + 1, out), -EINVAL);
	assert_int_equal(totp_parse_input(NULL, 0, out), -EINVAL);
}

static void test_parse_recovery(void **state)
{
	(void)state;
	char out[TOTP_CANON_MAX];

	assert_int_equal(parse("abcd-efgh-jkmn", out), TOTP_INPUT_RECOVERY);
	assert_string_equal(out, "abcdefghjkmn");
	assert_int_equal(parse("ABCD-EFGH-JKMN", out), TOTP_INPUT_RECOVERY);
	assert_string_equal(out, "abcdefghjkmn");
	assert_int_equal(parse("abcdefghjkmn", out), TOTP_INPUT_RECOVERY);
	assert_int_equal(parse(" abcd efgh jkmn ", out), TOTP_INPUT_RECOVERY);
	assert_string_equal(out, "abcdefghjkmn");
	/* Crockford aliases: o -> 0, i and l -> 1. */
	assert_int_equal(parse("oOiI-lL00-1111", out), TOTP_INPUT_RECOVERY);
	assert_string_equal(out, "001111001111");
	assert_int_equal(parse("123456789012", out), TOTP_INPUT_RECOVERY);

	const char *bad[] = {
		"abcd-efgh-jkm",        "abcd-efgh-jkmnp", "abcd--efgh-jkmn", "abcdefgh-jkmn",
		"abcd-efgh-jkmu",       "abc-defgh-jkmn",  "abcd_efgh_jkmn",  "abcd-efgh-jkm!",
		"abcd-efgh-jkmn-",      "-abcd-efgh-jkmn", "abcdefghjkm",     "abcdefghjkmnp",
		"abcd-efgh-jk\xc3\xa9",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(parse(bad[i], out), -EINVAL);
}

static void test_recovery_new(void **state)
{
	(void)state;
	char disp[TOTP_RECOVERY_LEN + 1], canon[TOTP_CANON_MAX], out[TOTP_CANON_MAX];
	char prev[TOTP_CANON_MAX] = "";

	for (int i = 0; i < 50; i++) {
		assert_int_equal(totp_recovery_new(disp, canon), 0);
		assert_int_equal(strlen(disp), TOTP_RECOVERY_LEN);
		assert_int_equal(disp[4], '-');
		assert_int_equal(disp[9], '-');
		assert_int_equal(parse(disp, out), TOTP_INPUT_RECOVERY);
		assert_string_equal(out, canon);
		assert_string_not_equal(canon, prev);
		strcpy(prev, canon);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		// clang-format off
		cmocka_unit_test(test_rfc6238_vectors),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_check_args),
		cmocka_unit_test(test_uri),
		cmocka_unit_test(test_oathtool_agrees),
		cmocka_unit_test(test_secret_random),
		cmocka_unit_test(test_parse_codes),
		cmocka_unit_test(test_parse_recovery),
		cmocka_unit_test(test_recovery_new),
		// clang-format on
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
