/*
 * test_mfaseal: the key file's creation and checks, sealing round trips,
 * and refusal of everything that is not exactly a state sealed under this
 * key for this user (another user, another key, any flipped digit, any
 * malformed field).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mfaseal.h"

static const char plain[] = "jitsu-mfa 1\nphase=active\n";

static void make_key(struct mfaseal_key *k, uint8_t fill)
{
	uint8_t raw[MFASEAL_KEY_LEN];
	memset(raw, fill, sizeof raw);
	mfaseal_key_from(k, raw);
}

static void test_key_file(void **state)
{
	char dir[] = "/tmp/jitsu-mfaseal-XXXXXX", path[64], err[512];
	struct mfaseal_key a, b;
	struct stat st;
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/mfa.key", dir);
	assert_int_equal(mfaseal_key_load(path, 0, &a, err, sizeof err), -ENOENT);
	assert_int_equal(mfaseal_key_load(path, 1, &a, err, sizeof err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 65);
	assert_int_equal(mfaseal_key_load(path, 1, &b, err, sizeof err), 0);
	assert_memory_equal(&a, &b, sizeof a); /* loaded, not made again */
	assert_int_equal(strlen(a.id), MFASEAL_ID_LEN);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(mfaseal_key_load(path, 1, &b, err, sizeof err), -EPERM);
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(truncate(path, 64), 0);
	assert_int_equal(mfaseal_key_load(path, 1, &b, err, sizeof err), -EBADMSG);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(mfaseal_key_load(path, 1, &b, err, sizeof err), -ELOOP);
	unlink(path);
	rmdir(dir);
	mfaseal_key_wipe(&a);
	mfaseal_key_wipe(&b);
}

static void test_round_trip_and_binding(void **state)
{
	struct mfaseal_key k, other;
	char *s1, *s2, *out, err[256];
	size_t len;
	(void)state;
	make_key(&k, 7);
	make_key(&other, 8);
	assert_int_equal(mfaseal_seal(&k, "alice", plain, strlen(plain), &s1), 0);
	assert_int_equal(mfaseal_seal(&k, "alice", plain, strlen(plain), &s2), 0);
	assert_string_not_equal(s1, s2); /* a fresh nonce each time */
	assert_null(strstr(s1, "phase"));
	assert_int_equal(mfaseal_open(&k, "alice", s1, &out, &len, err, sizeof err), 0);
	assert_int_equal(len, strlen(plain));
	assert_string_equal(out, plain);
	free(out);
	assert_int_equal(mfaseal_open(&k, "bob", s1, &out, &len, err, sizeof err), -EACCES);
	assert_null(out);
	assert_int_equal(mfaseal_open(&other, "alice", s1, &out, &len, err, sizeof err),
			 -EKEYREJECTED);
	assert_non_null(strstr(err, k.id));
	/* Every digit after the key id matters. */
	size_t from = strlen("jitsu-mfa-sealed 1 ") + MFASEAL_ID_LEN;
	for (size_t i = from; s1[i]; i++) {
		if (s1[i] == ' ')
			continue;
		char saved = s1[i];
		s1[i] = saved == '0' ? '1' : '0';
		int r = mfaseal_open(&k, "alice", s1, &out, &len, err, sizeof err);
		assert_true(r == -EACCES || r == -EBADMSG);
		assert_null(out);
		s1[i] = saved;
	}
	free(s1);
	free(s2);
	assert_int_equal(mfaseal_seal(&k, "alice", plain, 0, &s1), -EINVAL);
	mfaseal_key_wipe(&k);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"jitsu-mfa 1\nphase=active\n",
		"jitsu-mfa-sealed 1 ",
		"jitsu-mfa-sealed 2 0000000000000000 000000000000000000000000 00 "
		"00000000000000000000000000000000",
		"jitsu-mfa-sealed 1 0000000000000000 000000000000000000000000 0 "
		"00000000000000000000000000000000",
		"jitsu-mfa-sealed 1 0000000000000000 000000000000000000000000  "
		"00000000000000000000000000000000",
		"jitsu-mfa-sealed 1 0000000000000000 000000000000000000000000 00 "
		"0000000000000000000000000000000",
		"jitsu-mfa-sealed 1 0000000000000000 000000000000000000000000 00 "
		"00000000000000000000000000000000 ",
		"jitsu-mfa-sealed 1 000000000000000G 000000000000000000000000 00 "
		"00000000000000000000000000000000",
		"jitsu-mfa-sealed 1 0000000000000000 00000000000000000000000 00 "
		"00000000000000000000000000000000",
		"jitsu-mfa-sealed 1 0000000000000000 000000000000000000000000 AA "
		"00000000000000000000000000000000",
	};
	struct mfaseal_key k;
	char *out, err[256];
	size_t len;
	(void)state;
	make_key(&k, 7);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int r = mfaseal_open(&k, "alice", bad[i], &out, &len, err, sizeof err);
		if (r != -EBADMSG && r != -EKEYREJECTED)
			fail_msg("case %zu: %d", i, r);
		assert_null(out);
	}
}

/* Break-glass keys: a round trip, and no crossing between the two kinds
 * of sealed text or between endpoints. */
static void test_breakglass_keys(void **state)
{
	static const char key64[] =
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	char hex[MFASEAL_BREAKGLASS_HEX + 1], err[256], *sealed = NULL, *state_sealed = NULL,
							*opened = NULL;
	struct mfaseal_key k, other;
	size_t len = 0;
	(void)state;
	make_key(&k, 7);
	make_key(&other, 8);

	assert_int_equal(mfaseal_seal_breakglass(&k, "0123456789abcdef", key64, &sealed), 0);
	assert_null(strstr(sealed, key64));
	assert_int_equal(
		mfaseal_open_breakglass(&k, "0123456789abcdef", sealed, hex, err, sizeof err), 0);
	assert_string_equal(hex, key64);
	/* Another endpoint's row, another key. */
	assert_int_equal(
		mfaseal_open_breakglass(&k, "fedcba9876543210", sealed, hex, err, sizeof err),
		-EACCES);
	assert_string_equal(hex, "");
	assert_int_equal(
		mfaseal_open_breakglass(&other, "0123456789abcdef", sealed, hex, err, sizeof err),
		-EKEYREJECTED);
	/* A break-glass key does not open as an MFA state of a user named like
	 * the endpoint, nor the reverse. */
	assert_int_equal(
		mfaseal_open(&k, "0123456789abcdef", sealed, &opened, &len, err, sizeof err),
		-EACCES);
	assert_null(opened);
	assert_int_equal(
		mfaseal_seal(&k, "0123456789abcdef", key64, sizeof key64 - 1, &state_sealed), 0);
	assert_int_equal(
		mfaseal_open_breakglass(&k, "0123456789abcdef", state_sealed, hex, err, sizeof err),
		-EACCES);
	assert_non_null(strstr(err, "break-glass key"));
	/* Only 64 hex digits are sealed as a key. */
	char *bad = NULL;
	assert_int_equal(mfaseal_seal_breakglass(&k, "0123456789abcdef", "abc", &bad), -EINVAL);
	assert_null(bad);
	free(sealed);
	free(state_sealed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_round_trip_and_binding),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_breakglass_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
