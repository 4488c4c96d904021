/*
 * test_auth: hub/auth.c. Tokens and credentials have the documented shape,
 * are fresh each time, hash to SHA-256 of their text, and the parsers take
 * exactly the documented forms.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "auth.h"

static void test_token_shape_and_hash(void **state)
{
	char token[AUTH_TOKEN_LEN + 1], id[AUTH_ID_LEN + 1], hash[AUTH_HASH_LEN + 1];
	char id2[AUTH_ID_LEN + 1], hash2[AUTH_HASH_LEN + 1], token2[AUTH_TOKEN_LEN + 1];

	assert_int_equal(auth_token_new(AUTH_TOKEN_USER, token, id, hash), 0);
	assert_int_equal(strlen(token), AUTH_TOKEN_LEN);
	assert_memory_equal(token, "jhu_", 4);
	assert_memory_equal(token + 4, id, AUTH_ID_LEN);
	assert_true(auth_is_hex(id, AUTH_ID_LEN));
	assert_true(auth_is_hex(hash, AUTH_HASH_LEN));
	assert_int_equal(auth_token_parse(AUTH_TOKEN_USER, token, id2, hash2), 0);
	assert_string_equal(id, id2);
	assert_string_equal(hash, hash2);
	/* the other kind does not parse as this one */
	assert_int_equal(auth_token_parse(AUTH_TOKEN_ENROLL, token, id2, hash2), -1);
	/* fresh every time */
	assert_int_equal(auth_token_new(AUTH_TOKEN_USER, token2, id2, hash2), 0);
	assert_string_not_equal(token, token2);
	assert_string_not_equal(hash, hash2);
}

static void test_hash_is_sha256_hex(void **state)
{
	char h[AUTH_HASH_LEN + 1];
	auth_hash("abc", h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_token_parse_rejects(void **state)
{
	char id[AUTH_ID_LEN + 1], hash[AUTH_HASH_LEN + 1], t[AUTH_TOKEN_LEN + 2];
	const char *good = "jhe_0123456789abcdef_"
			   "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

	assert_int_equal(auth_token_parse(AUTH_TOKEN_ENROLL, good, id, hash), 0);
	assert_string_equal(id, "0123456789abcdef");
	assert_int_equal(auth_token_parse(AUTH_TOKEN_ENROLL, NULL, id, hash), -1);
	assert_int_equal(auth_token_parse(AUTH_TOKEN_ENROLL, "", id, hash), -1);
	snprintf(t, sizeof t, "%s", good);
	t[5] = 'A'; /* uppercase hex */
	assert_int_equal(auth_token_parse(AUTH_TOKEN_ENROLL, t, id, hash), -1);
	snprintf(t, sizeof t, "%s", good);
	t[20] = '-'; /* separator */
	assert_int_equal(auth_token_parse(AUTH_TOKEN_ENROLL, t, id, hash), -1);
	snprintf(t, sizeof t, "%s0", good); /* too long */
	assert_int_equal(auth_token_parse(AUTH_TOKEN_ENROLL, t, id, hash), -1);
	snprintf(t, sizeof t, "%s", good);
	t[AUTH_TOKEN_LEN - 1] = '\0'; /* too short */
	assert_int_equal(auth_token_parse(AUTH_TOKEN_ENROLL, t, id, hash), -1);
}

static void test_header(void **state)
{
	struct auth_claim c;
	char cred[AUTH_SECRET_LEN + 1], chash[AUTH_HASH_LEN + 1], hdr[256];
	char token[AUTH_TOKEN_LEN + 1], id[AUTH_ID_LEN + 1], hash[AUTH_HASH_LEN + 1];

	auth_parse_header(NULL, &c);
	assert_int_equal(c.scheme, AUTH_NONE);

	assert_int_equal(auth_token_new(AUTH_TOKEN_USER, token, id, hash), 0);
	snprintf(hdr, sizeof hdr, "Bearer %s", token);
	auth_parse_header(hdr, &c);
	assert_int_equal(c.scheme, AUTH_BEARER);
	assert_string_equal(c.id, id);
	assert_string_equal(c.hash, hash);
	snprintf(hdr, sizeof hdr, "bearer %s", token); /* scheme is case-insensitive */
	auth_parse_header(hdr, &c);
	assert_int_equal(c.scheme, AUTH_BEARER);
	snprintf(hdr, sizeof hdr, "Bearer  %s", token);
	auth_parse_header(hdr, &c);
	assert_int_equal(c.scheme, AUTH_MALFORMED);

	assert_int_equal(auth_credential_new(cred, chash), 0);
	assert_true(auth_is_hex(cred, AUTH_SECRET_LEN));
	snprintf(hdr, sizeof hdr, "Endpoint 00112233aabbccdd:%s", cred);
	auth_parse_header(hdr, &c);
	assert_int_equal(c.scheme, AUTH_ENDPOINT);
	assert_string_equal(c.id, "00112233aabbccdd");
	assert_string_equal(c.hash, chash);
	snprintf(hdr, sizeof hdr, "Endpoint 00112233aabbccdd %s", cred);
	auth_parse_header(hdr, &c);
	assert_int_equal(c.scheme, AUTH_MALFORMED);
	assert_string_equal(c.id, "");
	snprintf(hdr, sizeof hdr, "Endpoint 00112233aabbccd:%s0", cred);
	auth_parse_header(hdr, &c);
	assert_int_equal(c.scheme, AUTH_MALFORMED);
	auth_parse_header("Basic YWxpY2U6c2VjcmV0", &c);
	assert_int_equal(c.scheme, AUTH_MALFORMED);
	/* an enrollment token is not an API token */
	assert_int_equal(auth_token_new(AUTH_TOKEN_ENROLL, token, id, hash), 0);
	snprintf(hdr, sizeof hdr, "Bearer %s", token);
	auth_parse_header(hdr, &c);
	assert_int_equal(c.scheme, AUTH_MALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_shape_and_hash),
		cmocka_unit_test(test_hash_is_sha256_hex),
		cmocka_unit_test(test_token_parse_rejects),
		cmocka_unit_test(test_header),
	};
	return cmocka_run_group_tests_name("hub-auth", tests, NULL, NULL);
}
