/*
 * test_jsonv: hub/jsonv.c. Depth is measured outside strings and refused
 * before parsing; duplicate keys, NUL escapes, non-objects and trailing
 * garbage are invalid; every schema rule refuses what it should and
 * accepts the bounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "jsonv.h"

static const struct jsonv_field schema[] = {
	{"name", JSONV_NAME, 1, 1, 8}, {"host", JSONV_HOST, 0, 1, 16},
	{"hash", JSONV_HEX, 0, 4, 4},  {"text", JSONV_TEXT, 0, 0, 5},
	{"n", JSONV_INT, 0, 1, 10},    {"argv", JSONV_ARGV, 0, 1, 2},
};
#define NFIELDS (sizeof schema / sizeof schema[0])

static enum jsonv_result check(const char *s)
{
	char msg[256];
	json_t *j = NULL;
	enum jsonv_result rc = jsonv_parse(s, strlen(s), schema, NFIELDS, &j, msg, sizeof msg);
	if (rc == JSONV_OK)
		assert_non_null(j);
	else
		assert_null(j);
	json_decref(j);
	return rc;
}

static void test_depth(void **state)
{
	assert_int_equal(jsonv_depth("", 0), 0);
	assert_int_equal(jsonv_depth("{}", 2), 1);
	assert_int_equal(jsonv_depth("{\"a\":[[1]]}", 11), 3);
	/* brackets in strings, escaped quotes */
	const char *s = "{\"a\":\"[[[[\\\"[[[\"}";
	assert_int_equal(jsonv_depth(s, strlen(s)), 1);

	char deep[64];
	memset(deep, '[', 9);
	memset(deep + 9, ']', 9);
	deep[18] = '\0';
	assert_int_equal(check(deep), JSONV_E_DEPTH);
	/* a million brackets are refused by the scan, never recursed into */
	size_t n = 1000000;
	char *huge = malloc(n + 1);
	assert_non_null(huge);
	memset(huge, '{', n);
	huge[n] = '\0';
	assert_int_equal(check(huge), JSONV_E_DEPTH);
	free(huge);
}

static void test_invalid(void **state)
{
	assert_int_equal(check("{\"name\":\"a\""), JSONV_E_INVALID);
	assert_int_equal(check("[]"), JSONV_E_INVALID);
	assert_int_equal(check("\"x\""), JSONV_E_INVALID);
	assert_int_equal(check("{\"name\":\"a\"} x"), JSONV_E_INVALID);
	assert_int_equal(check("{\"name\":\"a\",\"name\":\"b\"}"), JSONV_E_INVALID);
	assert_int_equal(check("{\"name\":\"a\\u0000b\"}"), JSONV_E_INVALID);
	assert_int_equal(check("{\"name\":\"\xff\"}"), JSONV_E_INVALID);
}

static void test_schema(void **state)
{
	char msg[128];
	json_t *j;

	assert_int_equal(check("{\"name\":\"alice\"}"), JSONV_OK);
	assert_int_equal(check("{}"), JSONV_E_SCHEMA);                       /* required */
	assert_int_equal(check("{\"name\":\"a\",\"x\":1}"), JSONV_E_SCHEMA); /* unknown */
	assert_int_equal(check("{\"name\":1}"), JSONV_E_SCHEMA);             /* type */
	assert_int_equal(check("{\"name\":\"-a\"}"), JSONV_E_SCHEMA);        /* first char */
	assert_int_equal(check("{\"name\":\"abcdefghi\"}"), JSONV_E_SCHEMA); /* too long */
	assert_int_equal(check("{\"name\":\"a\",\"host\":\"db1.example\"}"), JSONV_OK);
	assert_int_equal(check("{\"name\":\"a\",\"host\":\"db_1\"}"), JSONV_E_SCHEMA);
	assert_int_equal(check("{\"name\":\"a\",\"hash\":\"0a9f\"}"), JSONV_OK);
	assert_int_equal(check("{\"name\":\"a\",\"hash\":\"0A9F\"}"), JSONV_E_SCHEMA);
	assert_int_equal(check("{\"name\":\"a\",\"hash\":\"0a9\"}"), JSONV_E_SCHEMA);
	assert_int_equal(check("{\"name\":\"a\",\"text\":\"\"}"), JSONV_OK);
	assert_int_equal(check("{\"name\":\"a\",\"text\":\"a\\tb\"}"), JSONV_E_SCHEMA);
	assert_int_equal(check("{\"name\":\"a\",\"text\":\"\xc3\xa9t\xc3\xa9\"}"), JSONV_OK);
	assert_int_equal(check("{\"name\":\"a\",\"n\":10}"), JSONV_OK);
	assert_int_equal(check("{\"name\":\"a\",\"n\":11}"), JSONV_E_SCHEMA);
	assert_int_equal(check("{\"name\":\"a\",\"n\":1.0}"), JSONV_E_SCHEMA);
	assert_int_equal(check("{\"name\":\"a\",\"n\":\"1\"}"), JSONV_E_SCHEMA);
	assert_int_equal(check("{\"name\":\"a\",\"argv\":[\"/bin/x\",\"a\\tb\"]}"), JSONV_OK);
	assert_int_equal(check("{\"name\":\"a\",\"argv\":[]}"), JSONV_E_SCHEMA);
	assert_int_equal(check("{\"name\":\"a\",\"argv\":[\"a\",\"b\",\"c\"]}"), JSONV_E_SCHEMA);
	assert_int_equal(check("{\"name\":\"a\",\"argv\":[\"\"]}"), JSONV_E_SCHEMA);
	assert_int_equal(check("{\"name\":\"a\",\"argv\":[\"grep\",\"\"]}"), JSONV_OK);
	assert_int_equal(check("{\"name\":\"a\",\"argv\":[1]}"), JSONV_E_SCHEMA);

	/* the message names the field, not the value */
	const char *s = "{\"name\":\"secret-value!\"}";
	assert_int_equal(jsonv_parse(s, strlen(s), schema, NFIELDS, &j, msg, sizeof msg),
			 JSONV_E_SCHEMA);
	assert_non_null(strstr(msg, "'name'"));
	assert_null(strstr(msg, "secret"));
	/* empty body is {} */
	assert_int_equal(jsonv_parse("", 0, NULL, 0, &j, msg, sizeof msg), JSONV_OK);
	json_decref(j);
}

/* JSONV_LINES (a policy's text): tabs and line ends, no other controls. */
static void test_lines(void **state)
{
	assert_true(jsonv_string_ok("permit a\n\tb\r\n", JSONV_LINES, 0, 64));
	assert_true(jsonv_string_ok("", JSONV_LINES, 0, 64));
	assert_true(jsonv_string_ok("caf\xc3\xa9\n", JSONV_LINES, 0, 64));
	assert_false(jsonv_string_ok("a\x1b[2J", JSONV_LINES, 0, 64));
	assert_false(jsonv_string_ok("a\x7f", JSONV_LINES, 0, 64));
	assert_false(jsonv_string_ok("a\x0b", JSONV_LINES, 0, 64));
	assert_false(jsonv_string_ok("abcdef", JSONV_LINES, 0, 5));
	/* TEXT still refuses line ends */
	assert_false(jsonv_string_ok("a\nb", JSONV_TEXT, 0, 64));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_schema),
		cmocka_unit_test(test_lines),
	};
	return cmocka_run_group_tests_name("hub-jsonv", tests, NULL, NULL);
}
