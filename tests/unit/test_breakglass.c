/*
 * test_breakglass: the pure break-glass code (lib/breakglass.c): the code
 * alphabet and its tolerant parsing, windows, and the HMAC construction of
 * docs/breakglass.md against vectors computed independently (Python's
 * hmac module, the construction written out from the document).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "jitsu/breakglass.h"

static uint8_t key[BREAKGLASS_KEY_LEN];

static int setup(void **state)
{
	for (int i = 0; i < BREAKGLASS_KEY_LEN; i++)
		key[i] = (uint8_t)i;
	return 0;
}

static void test_vectors(void **state)
{
	char r[BREAKGLASS_RESPONSE_CHARS + 1];
	assert_int_equal(breakglass_response(key, "ABCD0123", "0a1b2c3d4e5f6071", 5899000, r), 0);
	assert_string_equal(r, "MJXFHFRM39");
	assert_int_equal(breakglass_response(key, "ZZZZZZZZ", "db1", 0, r), 0);
	assert_string_equal(r, "WS98XQPP02");
}

static void test_response_refuses_bad_inputs(void **state)
{
	char r[BREAKGLASS_RESPONSE_CHARS + 1];
	char host[BREAKGLASS_HOST_MAX + 2];
	assert_int_equal(breakglass_response(key, "abcd0123", "h", 1, r),
			 -EINVAL); /* not canonical */
	assert_int_equal(breakglass_response(key, "ABCD012", "h", 1, r), -EINVAL);
	assert_int_equal(breakglass_response(key, "ABCD01234", "h", 1, r), -EINVAL);
	assert_int_equal(breakglass_response(key, "ABCDU123", "h", 1, r), -EINVAL);
	assert_int_equal(breakglass_response(key, "ABCD0123", "", 1, r), -EINVAL);
	memset(host, 'a', sizeof host - 1);
	host[sizeof host - 1] = '\0';
	assert_int_equal(breakglass_response(key, "ABCD0123", host, 1, r), -EINVAL);
	host[BREAKGLASS_HOST_MAX] = '\0';
	assert_int_equal(breakglass_response(key, "ABCD0123", host, 1, r), 0);
}

static void test_parse_is_tolerant(void **state)
{
	char out[BREAKGLASS_RESPONSE_CHARS + 1];
	static const char *const same[] = {"ABCD-0123", "abcd0123",  " ab cd-01 23 ",  "ABCD-O123",
					   "abcd-oi23", "ABCD-OL23", "a-b-c-d-0-1-2-3"};
	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
		assert_int_equal(breakglass_parse(same[i], strlen(same[i]), 8, out), 0);
		assert_string_equal(out, "ABCD0123");
	}
}

static void test_parse_refuses(void **state)
{
	char out[BREAKGLASS_RESPONSE_CHARS + 1];
	static const char *const bad[] = {"",          "ABCD-012",   "ABCD-01234", "ABCD-U123",
					  "ABCD_0123", "ABCD\n0123", "ÄBCD-0123"};
	static const char with_nul[9] = {'A', 'B', 'C', 'D', 0, '0', '1', '2', '3'};
	for (size_t i = 0; i <= sizeof bad / sizeof bad[0]; i++) {
		const char *in = i < sizeof bad / sizeof bad[0] ? bad[i] : with_nul;
		memset(out, 'x', sizeof out);
		size_t n = in == with_nul ? sizeof with_nul : strlen(in);
		assert_int_equal(breakglass_parse(in, n, 8, out), -EINVAL);
		for (size_t k = 0; k < 9; k++)
			assert_int_equal(out[k], 0); /* wiped */
	}
	/* Over the input bound even if mostly dashes. */
	char longer[BREAKGLASS_INPUT_MAX + 2];
	memset(longer, '-', sizeof longer);
	for (size_t i = 0; i < 8; i++)
		longer[i] = "ABCD0123"[i];
	assert_int_equal(breakglass_parse(longer, sizeof longer, 8, out), -EINVAL);
	assert_int_equal(breakglass_parse(longer, BREAKGLASS_INPUT_MAX, 8, out), 0);
}

static void test_group(void **state)
{
	char g[BREAKGLASS_GROUPED_MAX];
	assert_int_equal(breakglass_group("ABCD0123", g, sizeof g), 0);
	assert_string_equal(g, "ABCD-0123");
	assert_int_equal(breakglass_group("MJXFHFRM39", g, sizeof g), 0);
	assert_string_equal(g, "MJXFH-FRM39");
	assert_int_equal(breakglass_group("ABC", g, sizeof g), -EINVAL);
	assert_int_equal(breakglass_group("ABCD0123", g, 9), -EINVAL);
	assert_int_equal(breakglass_group("ABCD0123", g, 10), 0);
}

static void test_challenge_new(void **state)
{
	char a[BREAKGLASS_CHALLENGE_CHARS + 1], b[BREAKGLASS_CHALLENGE_CHARS + 1], c[9];
	assert_int_equal(breakglass_challenge_new(a), 0);
	assert_int_equal(breakglass_challenge_new(b), 0);
	assert_int_equal(strlen(a), 8);
	assert_int_equal(breakglass_parse(a, 8, 8, c), 0);
	assert_string_equal(a, c); /* canonical */
	assert_string_not_equal(a, b);
}

static void test_windows(void **state)
{
	assert_int_equal(breakglass_window(0), 0);
	assert_int_equal(breakglass_window(299), 0);
	assert_int_equal(breakglass_window(300), 1);
	assert_int_equal(breakglass_window(-5), 0);
	assert_int_equal(breakglass_valid_until(10), 3600);
}

/* A response made at t verifies for the rest of its window and all of the
 * next, and no longer; older ones read as expired, later ones as early. */
static void test_verify_windows(void **state)
{
	const char *id = "0a1b2c3d4e5f6071";
	char r[BREAKGLASS_RESPONSE_CHARS + 1], g[BREAKGLASS_GROUPED_MAX];
	const int64_t t = 1764460800; /* a window boundary */
	uint64_t w = breakglass_window(t), got = 0;
	assert_int_equal(breakglass_response(key, "ABCD0123", id, w, r), 0);
	assert_int_equal(breakglass_group(r, g, sizeof g), 0);

	assert_int_equal(breakglass_verify(key, "ABCD0123", id, r, strlen(r), t, &got),
			 BREAKGLASS_OK);
	assert_int_equal(got, w);
	assert_int_equal(breakglass_verify(key, "ABCD0123", id, g, strlen(g), t + 599, &got),
			 BREAKGLASS_OK);
	assert_int_equal(breakglass_verify(key, "ABCD0123", id, g, strlen(g), t + 600, &got),
			 BREAKGLASS_EXPIRED);
	assert_int_equal(got, w);
	assert_int_equal(breakglass_verify(key, "ABCD0123", id, g, strlen(g), t + 3600, &got),
			 BREAKGLASS_EXPIRED);
	assert_int_equal(breakglass_verify(key, "ABCD0123", id, g, strlen(g), t + 3900, &got),
			 BREAKGLASS_WRONG);
	assert_int_equal(breakglass_verify(key, "ABCD0123", id, g, strlen(g), t - 1, &got),
			 BREAKGLASS_EARLY);
	/* Lower case and without the dash, as typed. */
	for (char *p = r; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	assert_int_equal(breakglass_verify(key, "ABCD0123", id, r, strlen(r), t + 10, NULL),
			 BREAKGLASS_OK);
}

static void test_verify_binds_everything(void **state)
{
	const char *id = "0a1b2c3d4e5f6071";
	char r[BREAKGLASS_RESPONSE_CHARS + 1];
	uint8_t other[BREAKGLASS_KEY_LEN];
	const int64_t t = 1764460800;
	assert_int_equal(breakglass_response(key, "ABCD0123", id, breakglass_window(t), r), 0);
	memcpy(other, key, sizeof other);
	other[31] ^= 1;
	assert_int_equal(breakglass_verify(other, "ABCD0123", id, r, strlen(r), t, NULL),
			 BREAKGLASS_WRONG);
	assert_int_equal(breakglass_verify(key, "ABCD0124", id, r, strlen(r), t, NULL),
			 BREAKGLASS_WRONG);
	assert_int_equal(
		breakglass_verify(key, "ABCD0123", "0a1b2c3d4e5f6070", r, strlen(r), t, NULL),
		BREAKGLASS_WRONG);
	r[9] = r[9] == '0' ? '1' : '0';
	assert_int_equal(breakglass_verify(key, "ABCD0123", id, r, strlen(r), t, NULL),
			 BREAKGLASS_WRONG);
	assert_int_equal(breakglass_verify(key, "ABCD0123", id, "ABCDE-FGHIU", 11, t, NULL),
			 BREAKGLASS_MALFORMED);
	assert_int_equal(breakglass_verify(key, "ABCD0123", id, "ABCD-0123", 9, t, NULL),
			 BREAKGLASS_MALFORMED);
}

static void test_key_hex(void **state)
{
	char hex[BREAKGLASS_KEY_HEX + 1];
	uint8_t back[BREAKGLASS_KEY_LEN];
	breakglass_key_to_hex(key, hex);
	assert_string_equal(hex,
			    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
	assert_int_equal(breakglass_key_from_hex(hex, back), 0);
	assert_memory_equal(back, key, sizeof key);
	hex[5] = 'A'; /* upper case is not the stored form */
	assert_int_equal(breakglass_key_from_hex(hex, back), -EINVAL);
	for (size_t i = 0; i < sizeof back; i++)
		assert_int_equal(back[i], 0);
	assert_int_equal(breakglass_key_from_hex("00", back), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_response_refuses_bad_inputs),
		cmocka_unit_test(test_parse_is_tolerant),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_group),
		cmocka_unit_test(test_challenge_new),
		cmocka_unit_test(test_windows),
		cmocka_unit_test(test_verify_windows),
		cmocka_unit_test(test_verify_binds_everything),
		cmocka_unit_test(test_key_hex),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
