/*
 * test_mfastore: enrollment, verification, replay, lockout and its
 * persistence, recovery codes, fail-closed handling of a corrupt store,
 * file modes, atomic writes, the lock under concurrent processes, and the
 * strict file parser. Codes come from liboath at chosen times.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <liboath/oath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jitsu/mfastore.h"

#define T0 ((time_t)(1800000000 / 30 * 30)) /* the start of a step */
#define ALICE 1001
#define BOB 1002

struct ctx {
	char root[64];
	char dir[96];
	char err[256];
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	strcpy(c->root, "/tmp/jitsu-test-mfa-XXXXXX");
	if (!mkdtemp(c->root)) {
		free(c);
		return -1;
	}
	snprintf(c->dir, sizeof c->dir, "%s/mfa", c->root);
	*state = c;
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	nftw(c->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(c);
	return 0;
}

static void code_at(const uint8_t *secret, time_t t, char out[7])
{
	assert_int_equal(
		oath_totp_generate((const char *)secret, TOTP_SECRET_LEN, t, 30, 0, 6, out),
		OATH_OK);
}

/* A 6-digit code that matches none of the steps around t. */
static void wrong_code_at(const uint8_t *secret, time_t t, char out[7])
{
	char a[7], b[7], d[7];
	code_at(secret, t - 30, a);
	code_at(secret, t, b);
	code_at(secret, t + 30, d);
	for (unsigned n = 0;; n++) {
		snprintf(out, 7, "%06u", n);
		if (strcmp(out, a) != 0 && strcmp(out, b) != 0 && strcmp(out, d) != 0)
			return;
	}
}

static void decode_secret(const char *b32, uint8_t secret[TOTP_SECRET_LEN])
{
	char *bin = NULL;
	size_t len = 0;
	assert_int_equal(oath_base32_decode(b32, strlen(b32), &bin, &len), OATH_OK);
	assert_int_equal(len, TOTP_SECRET_LEN);
	memcpy(secret, bin, len);
	free(bin);
}

/* Enrolls uid at time now; returns the secret and the recovery codes. */
static void enroll(struct ctx *c, uid_t uid, time_t now, uint8_t secret[TOTP_SECRET_LEN],
		   struct mfastore_recovery_codes *codes)
{
	struct mfastore_enrollment e;
	struct mfastore_recovery_codes tmp;
	char code[7];

	assert_int_equal(
		mfastore_begin_enroll(c->dir, uid, "alice@host", now, &e, c->err, sizeof c->err),
		0);
	decode_secret(e.secret_b32, secret);
	code_at(secret, now, code);
	assert_int_equal(mfastore_confirm_enroll(c->dir, uid, code, now, codes ? codes : &tmp,
						 c->err, sizeof c->err),
			 0);
	mfastore_enrollment_wipe(&e);
}

static enum mfastore_result verify(struct ctx *c, uid_t uid, const char *input, time_t now,
				   struct mfastore_verdict *v)
{
	int rc = mfastore_verify(c->dir, uid, input, now, v, c->err, sizeof c->err);
	if (v->result == MFASTORE_STORE_ERROR)
		assert_true(rc < 0);
	else
		assert_int_equal(rc, 0);
	return v->result;
}

static void test_enroll_confirm(void **state)
{
	struct ctx *c = *state;
	struct mfastore_enrollment e;
	struct mfastore_recovery_codes codes;
	struct mfastore_status st;
	struct mfastore_verdict v;
	uint8_t secret[TOTP_SECRET_LEN];
	char code[7], bad[7];

	char b32[TOTP_B32_LEN + 1];
	assert_int_equal(
		mfastore_begin_enroll(c->dir, ALICE, "alice@host", T0, &e, c->err, sizeof c->err),
		0);
	assert_non_null(strstr(e.uri, "otpauth://totp/jitsu:alice@host?secret="));
	assert_non_null(strstr(e.uri, e.secret_b32));
	decode_secret(e.secret_b32, secret);
	strcpy(b32, e.secret_b32);

	/* Pending is not enrolled. */
	assert_int_equal(mfastore_status(c->dir, ALICE, T0, &st, c->err, sizeof c->err), 0);
	assert_int_equal(st.enrolled, 0);
	assert_int_equal(st.pending, 1);
	code_at(secret, T0, code);
	assert_int_equal(verify(c, ALICE, code, T0, &v), MFASTORE_NOT_ENROLLED);

	wrong_code_at(secret, T0, bad);
	assert_int_equal(
		mfastore_confirm_enroll(c->dir, ALICE, bad, T0, &codes, c->err, sizeof c->err),
		-EACCES);
	assert_int_equal(mfastore_confirm_enroll(c->dir, ALICE, "abcd-efgh-jkmn", T0, &codes,
						 c->err, sizeof c->err),
			 -EINVAL);
	assert_int_equal(
		mfastore_confirm_enroll(c->dir, ALICE, code, T0, &codes, c->err, sizeof c->err), 0);

	for (int i = 0; i < MFASTORE_RECOVERY_CODES; i++) {
		char canon[TOTP_CANON_MAX];
		assert_int_equal(totp_parse_input(codes.code[i], strlen(codes.code[i]), canon),
				 TOTP_INPUT_RECOVERY);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(codes.code[i], codes.code[j]);
	}
	assert_int_equal(mfastore_status(c->dir, ALICE, T0, &st, c->err, sizeof c->err), 0);
	assert_int_equal(st.enrolled, 1);
	assert_int_equal(st.recovery_left, MFASTORE_RECOVERY_CODES);

	/* The confirming code's step is used. */
	assert_int_equal(verify(c, ALICE, code, T0, &v), MFASTORE_REPLAY);
	/* Enrolled: no second enrollment and no second confirmation. */
	assert_int_equal(
		mfastore_begin_enroll(c->dir, ALICE, "alice@host", T0, &e, c->err, sizeof c->err),
		-EEXIST);
	assert_string_equal(e.secret_b32, "");
	assert_null(strstr(c->err, b32));
	assert_int_equal(
		mfastore_confirm_enroll(c->dir, ALICE, code, T0, &codes, c->err, sizeof c->err),
		-EALREADY);
	assert_null(strstr(c->err, b32));
}

static void test_pending_expires(void **state)
{
	struct ctx *c = *state;
	struct mfastore_enrollment e;
	struct mfastore_recovery_codes codes;
	uint8_t secret[TOTP_SECRET_LEN];
	char code[7];
	time_t late = T0 + MFASTORE_PENDING_TTL + 30;

	assert_int_equal(
		mfastore_confirm_enroll(c->dir, ALICE, "123456", T0, &codes, c->err, sizeof c->err),
		-ENOENT);
	assert_int_equal(
		mfastore_begin_enroll(c->dir, ALICE, "alice@host", T0, &e, c->err, sizeof c->err),
		0);
	decode_secret(e.secret_b32, secret);
	code_at(secret, late, code);
	assert_int_equal(
		mfastore_confirm_enroll(c->dir, ALICE, code, late, &codes, c->err, sizeof c->err),
		-ETIMEDOUT);
	/* A new begin replaces the pending secret. */
	assert_int_equal(
		mfastore_begin_enroll(c->dir, ALICE, "alice@host", late, &e, c->err, sizeof c->err),
		0);
	decode_secret(e.secret_b32, secret);
	code_at(secret, late, code);
	assert_int_equal(
		mfastore_confirm_enroll(c->dir, ALICE, code, late, &codes, c->err, sizeof c->err),
		0);
}

static void test_right_wrong_replay(void **state)
{
	struct ctx *c = *state;
	struct mfastore_verdict v;
	uint8_t secret[TOTP_SECRET_LEN];
	char code[7], bad[7];
	const time_t t = T0 + 300;

	enroll(c, ALICE, T0, secret, NULL);
	code_at(secret, t, code);
	assert_int_equal(verify(c, ALICE, code, t, &v), MFASTORE_OK);
	assert_true(v.step == (uint64_t)t / 30);
	assert_int_equal(v.fail_count, 0);

	/* The same code again, even a step later while still in the window. */
	assert_int_equal(verify(c, ALICE, code, t, &v), MFASTORE_REPLAY);
	assert_int_equal(verify(c, ALICE, code, t + 30, &v), MFASTORE_REPLAY);
	assert_int_equal(v.fail_count, 0);

	wrong_code_at(secret, t + 60, bad);
	assert_int_equal(verify(c, ALICE, bad, t + 60, &v), MFASTORE_WRONG);
	assert_int_equal(v.fail_count, 1);
	assert_int_equal(v.locked_secs, 0);

	/* Malformed input is refused early and not counted. */
	assert_int_equal(verify(c, ALICE, "12345", t + 60, &v), MFASTORE_BAD_INPUT);
	assert_int_equal(verify(c, ALICE, "", t + 60, &v), MFASTORE_BAD_INPUT);
	assert_int_equal(verify(c, ALICE, NULL, t + 60, &v), MFASTORE_BAD_INPUT);
	struct mfastore_status st;
	assert_int_equal(mfastore_status(c->dir, ALICE, t + 60, &st, c->err, sizeof c->err), 0);
	assert_int_equal(st.fail_count, 1);
}

static void test_earlier_step_after_later(void **state)
{
	struct ctx *c = *state;
	struct mfastore_verdict v;
	uint8_t secret[TOTP_SECRET_LEN];
	char now_code[7], next_code[7];
	const time_t t = T0 + 600;

	enroll(c, ALICE, T0, secret, NULL);
	code_at(secret, t, now_code);
	code_at(secret, t + 30, next_code);
	assert_int_equal(verify(c, ALICE, next_code, t, &v), MFASTORE_OK);
	assert_true(v.step == (uint64_t)t / 30 + 1);
	assert_int_equal(verify(c, ALICE, now_code, t, &v), MFASTORE_REPLAY);
	assert_int_equal(verify(c, ALICE, now_code, t + 10, &v), MFASTORE_REPLAY);
}

static void fail_n(struct ctx *c, const uint8_t *secret, int n, time_t t,
		   struct mfastore_verdict *v)
{
	char bad[7];
	wrong_code_at(secret, t, bad);
	for (int i = 0; i < n; i++)
		assert_int_equal(verify(c, ALICE, bad, t, v), MFASTORE_WRONG);
}

static void test_lockout_backoff(void **state)
{
	struct ctx *c = *state;
	struct mfastore_verdict v;
	struct mfastore_state st;
	uint8_t secret[TOTP_SECRET_LEN];
	char code[7];
	time_t t = T0 + 900;

	enroll(c, ALICE, T0, secret, NULL);
	fail_n(c, secret, 4, t, &v);
	assert_int_equal(v.fail_count, 4);
	assert_int_equal(v.lockout_started, 0);
	fail_n(c, secret, 1, t, &v);
	assert_int_equal(v.lockout_started, 1);
	assert_int_equal(v.locked_secs, 60);
	assert_int_equal(v.lockout_level, 1);

	/* Locked: even the right code is not looked at, and nothing is counted. */
	code_at(secret, t + 30, code);
	assert_int_equal(verify(c, ALICE, code, t + 30, &v), MFASTORE_LOCKED);
	assert_int_equal(v.locked_secs, 30);
	assert_int_equal(verify(c, ALICE, "000000", t + 59, &v), MFASTORE_LOCKED);
	assert_int_equal(v.locked_secs, 1);

	/* The lockout is on disk: a restarted daemon reads it back. */
	assert_int_equal(mfastore_load(c->dir, ALICE, &st, c->err, sizeof c->err), 0);
	assert_true(st.locked_until == (int64_t)t + 60);
	assert_int_equal(st.lockout_level, 1);
	mfastore_state_wipe(&st);

	/* After a minute, five more failures lock for two minutes. */
	t += 60;
	fail_n(c, secret, 5, t, &v);
	assert_int_equal(v.lockout_started, 1);
	assert_int_equal(v.locked_secs, 120);
	assert_int_equal(verify(c, ALICE, "000000", t + 119, &v), MFASTORE_LOCKED);

	/* Then four, eight, ... capped at an hour. */
	unsigned want[] = {240, 480, 960, 1920, 3600, 3600}, last = 120;
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		t += last;
		fail_n(c, secret, 5, t, &v);
		assert_int_equal(v.locked_secs, want[i]);
		last = v.locked_secs;
	}

	/* A success after the lockout clears count and level. */
	t += 3600;
	code_at(secret, t, code);
	assert_int_equal(verify(c, ALICE, code, t, &v), MFASTORE_OK);
	assert_int_equal(v.fail_count, 0);
	assert_int_equal(v.lockout_level, 0);
	fail_n(c, secret, 5, t, &v);
	assert_int_equal(v.locked_secs, 60);
}

static void test_success_resets_count(void **state)
{
	struct ctx *c = *state;
	struct mfastore_verdict v;
	uint8_t secret[TOTP_SECRET_LEN];
	char code[7];
	const time_t t = T0 + 1200;

	enroll(c, ALICE, T0, secret, NULL);
	fail_n(c, secret, 4, t, &v);
	assert_int_equal(v.fail_count, 4);
	code_at(secret, t, code);
	assert_int_equal(verify(c, ALICE, code, t, &v), MFASTORE_OK);
	assert_int_equal(v.fail_count, 0);
	fail_n(c, secret, 4, t + 30, &v);
	assert_int_equal(v.fail_count, 4);
	assert_int_equal(v.locked_secs, 0);
}

static void test_lock_clamped_when_clock_goes_back(void **state)
{
	struct ctx *c = *state;
	struct mfastore_verdict v;
	struct mfastore_state st;
	uint8_t secret[TOTP_SECRET_LEN];
	const time_t t = T0 + 1500;

	enroll(c, ALICE, T0, secret, NULL);
	assert_int_equal(mfastore_load(c->dir, ALICE, &st, c->err, sizeof c->err), 0);
	st.locked_until = (int64_t)t + 86400;
	st.lockout_level = 3;
	assert_int_equal(mfastore_save(c->dir, ALICE, &st, c->err, sizeof c->err), 0);
	assert_int_equal(verify(c, ALICE, "000000", t, &v), MFASTORE_LOCKED);
	assert_int_equal(v.locked_secs, MFASTORE_LOCK_MAX);
	assert_int_equal(verify(c, ALICE, "000000", t + MFASTORE_LOCK_MAX - 1, &v),
			 MFASTORE_LOCKED);
	assert_int_equal(v.locked_secs, 1);
	mfastore_state_wipe(&st);
}

static void test_recovery_once(void **state)
{
	struct ctx *c = *state;
	struct mfastore_verdict v;
	struct mfastore_recovery_codes codes;
	uint8_t secret[TOTP_SECRET_LEN];
	const time_t t = T0 + 1800;
	char upper[TOTP_RECOVERY_LEN + 1], plain[TOTP_CANON_MAX];

	enroll(c, ALICE, T0, secret, &codes);
	assert_int_equal(verify(c, ALICE, codes.code[3], t, &v), MFASTORE_OK_RECOVERY);
	assert_int_equal(v.recovery_left, 9);
	assert_int_equal(verify(c, ALICE, codes.code[3], t, &v), MFASTORE_REPLAY);
	assert_int_equal(v.fail_count, 0);

	/* Case, dashes and spaces do not matter. */
	for (size_t i = 0; i <= TOTP_RECOVERY_LEN; i++) {
		char ch = codes.code[7][i];
		upper[i] = (char)(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
	}
	assert_int_equal(verify(c, ALICE, upper, t, &v), MFASTORE_OK_RECOVERY);
	assert_int_equal(totp_parse_input(codes.code[8], TOTP_RECOVERY_LEN, plain),
			 TOTP_INPUT_RECOVERY);
	assert_int_equal(verify(c, ALICE, plain, t, &v), MFASTORE_OK_RECOVERY);
	assert_int_equal(v.recovery_left, 7);

	/* A well-formed unknown code is a counted failure. */
	const char *guess =
		strcmp(codes.code[0], "zzzz-zzzz-zzzz") ? "zzzz-zzzz-zzzz" : "yyyy-yyyy-yyyy";
	assert_int_equal(verify(c, ALICE, guess, t, &v), MFASTORE_WRONG);
	assert_int_equal(v.fail_count, 1);

	/* A recovery code also clears the failure count, and works while not locked only. */
	assert_int_equal(verify(c, ALICE, codes.code[0], t, &v), MFASTORE_OK_RECOVERY);
	assert_int_equal(v.fail_count, 0);
	fail_n(c, secret, 5, t + 30, &v);
	assert_int_equal(verify(c, ALICE, codes.code[1], t + 31, &v), MFASTORE_LOCKED);
	struct mfastore_status st;
	assert_int_equal(mfastore_status(c->dir, ALICE, t + 31, &st, c->err, sizeof c->err), 0);
	assert_int_equal(st.recovery_left, 6);
	assert_int_equal(st.locked_secs, 59);
	mfastore_recovery_codes_wipe(&codes);
}

static void test_not_enrolled(void **state)
{
	struct ctx *c = *state;
	struct mfastore_verdict v;
	struct mfastore_status st;
	struct mfastore_state s;

	/* No directory at all. */
	assert_int_equal(verify(c, ALICE, "123456", T0, &v), MFASTORE_NOT_ENROLLED);
	assert_int_equal(mfastore_status(c->dir, ALICE, T0, &st, c->err, sizeof c->err), 0);
	assert_int_equal(st.enrolled, 0);
	assert_int_equal(st.pending, 0);
	assert_int_equal(mfastore_load(c->dir, ALICE, &s, c->err, sizeof c->err), -ENOENT);
	assert_int_equal(mfastore_reset(c->dir, ALICE, c->err, sizeof c->err), -ENOENT);

	/* A directory with someone else in it. */
	uint8_t secret[TOTP_SECRET_LEN];
	enroll(c, BOB, T0, secret, NULL);
	assert_int_equal(verify(c, ALICE, "123456", T0, &v), MFASTORE_NOT_ENROLLED);
	assert_int_equal(mfastore_load(c->dir, ALICE, &s, c->err, sizeof c->err), -ENOENT);
	/* No lock file is left behind for a user who is not enrolled. */
	char lock[160];
	snprintf(lock, sizeof lock, "%s/%u.lock", c->dir, (unsigned)ALICE);
	assert_int_equal(access(lock, F_OK), -1);
}

static void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void check_alice_fails_closed(struct ctx *c, int want_rc)
{
	struct mfastore_verdict v;
	struct mfastore_status st;
	int rc = mfastore_verify(c->dir, ALICE, "123456", T0 + 60, &v, c->err, sizeof c->err);
	assert_int_equal(rc, want_rc);
	assert_int_equal(v.result, MFASTORE_STORE_ERROR);
	assert_int_equal(mfastore_status(c->dir, ALICE, T0, &st, c->err, sizeof c->err), want_rc);
}

static void test_corrupt_fails_closed(void **state)
{
	struct ctx *c = *state;
	struct mfastore_verdict v;
	struct mfastore_enrollment e;
	uint8_t sa[TOTP_SECRET_LEN], sb[TOTP_SECRET_LEN];
	char path[160], code[7], buf[MFASTORE_FILE_MAX];

	enroll(c, ALICE, T0, sa, NULL);
	enroll(c, BOB, T0, sb, NULL);
	snprintf(path, sizeof path, "%s/%u", c->dir, (unsigned)ALICE);
	int fd = open(path, O_RDONLY);
	ssize_t len = read(fd, buf, sizeof buf);
	close(fd);
	assert_true(len > 100);

	/* Garbage. */
	write_file(path, "hello\n", 6, 0600);
	check_alice_fails_closed(c, -EBADMSG);
	assert_non_null(strstr(c->err, "corrupt"));
	/* Truncated. */
	write_file(path, buf, (size_t)len / 2, 0600);
	check_alice_fails_closed(c, -EBADMSG);
	/* Empty. */
	write_file(path, buf, 0, 0600);
	check_alice_fails_closed(c, -EBADMSG);
	/* Intact but readable by others. */
	write_file(path, buf, (size_t)len, 0644);
	check_alice_fails_closed(c, -EPERM);
	/* A symlink to an intact copy. */
	char copy[170];
	snprintf(copy, sizeof copy, "%s.copy", path);
	write_file(copy, buf, (size_t)len, 0600);
	unlink(path);
	assert_int_equal(symlink(copy, path), 0);
	check_alice_fails_closed(c, -ELOOP);
	/* A directory. */
	unlink(path);
	unlink(copy);
	assert_int_equal(mkdir(path, 0700), 0);
	check_alice_fails_closed(c, -EPERM);
	rmdir(path);
	write_file(path, "x", 1, 0600);

	/* No re-enrollment over a corrupt file. */
	assert_int_equal(
		mfastore_begin_enroll(c->dir, ALICE, "alice@host", T0, &e, c->err, sizeof c->err),
		-EBADMSG);

	/* Bob is unaffected. */
	code_at(sb, T0 + 60, code);
	assert_int_equal(verify(c, BOB, code, T0 + 60, &v), MFASTORE_OK);

	/* The admin reset works on a corrupt file, and Alice can enroll again. */
	assert_int_equal(mfastore_reset(c->dir, ALICE, c->err, sizeof c->err), 0);
	assert_int_equal(verify(c, ALICE, "123456", T0 + 60, &v), MFASTORE_NOT_ENROLLED);
	enroll(c, ALICE, T0 + 90, sa, NULL);
	code_at(sa, T0 + 120, code);
	assert_int_equal(verify(c, ALICE, code, T0 + 120, &v), MFASTORE_OK);
}

static void test_unsafe_dir(void **state)
{
	struct ctx *c = *state;
	struct mfastore_verdict v;
	uint8_t secret[TOTP_SECRET_LEN];

	enroll(c, ALICE, T0, secret, NULL);
	assert_int_equal(chmod(c->dir, 0755), 0);
	assert_int_equal(mfastore_verify(c->dir, ALICE, "123456", T0, &v, c->err, sizeof c->err),
			 -EPERM);
	assert_int_equal(v.result, MFASTORE_STORE_ERROR);
	assert_int_equal(chmod(c->dir, 0700), 0);
}

static void test_modes_and_no_temp_files(void **state)
{
	struct ctx *c = *state;
	struct mfastore_verdict v;
	struct mfastore_recovery_codes codes;
	uint8_t secret[TOTP_SECRET_LEN];
	struct stat sb;
	char path[160], code[7];

	mode_t old = umask(0);
	enroll(c, ALICE, T0, secret, &codes);
	code_at(secret, T0 + 30, code);
	assert_int_equal(verify(c, ALICE, code, T0 + 30, &v), MFASTORE_OK);
	assert_int_equal(verify(c, ALICE, "000000", T0 + 31, &v), MFASTORE_WRONG);
	assert_int_equal(verify(c, ALICE, codes.code[0], T0 + 32, &v), MFASTORE_OK_RECOVERY);
	umask(old);

	assert_int_equal(stat(c->dir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	snprintf(path, sizeof path, "%s/%u", c->dir, (unsigned)ALICE);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	snprintf(path, sizeof path, "%s/%u.lock", c->dir, (unsigned)ALICE);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);

	/* Exactly the state file and its lock: no temp file survives. */
	DIR *d = opendir(c->dir);
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		assert_true(!strcmp(de->d_name, "1001") || !strcmp(de->d_name, "1001.lock"));
		n++;
	}
	closedir(d);
	assert_int_equal(n, 2);

	/* The recovery codes are not in the file in clear. */
	char buf[MFASTORE_FILE_MAX + 1], canon[TOTP_CANON_MAX];
	snprintf(path, sizeof path, "%s/%u", c->dir, (unsigned)ALICE);
	int fd = open(path, O_RDONLY);
	ssize_t len = read(fd, buf, sizeof buf - 1);
	close(fd);
	assert_true(len > 0);
	buf[len] = '\0';
	for (int i = 0; i < MFASTORE_RECOVERY_CODES; i++) {
		assert_int_equal(totp_parse_input(codes.code[i], TOTP_RECOVERY_LEN, canon),
				 TOTP_INPUT_RECOVERY);
		assert_null(strstr(buf, canon));
		assert_null(strstr(buf, codes.code[i]));
	}
}

/* Eight processes race with one fresh code: exactly one wins. */
static void test_concurrent_single_use(void **state)
{
	struct ctx *c = *state;
	uint8_t secret[TOTP_SECRET_LEN];
	char code[7];
	const time_t t = T0 + 2400;
	enum { N = 8 };
	pid_t pids[N];

	enroll(c, ALICE, T0, secret, NULL);
	code_at(secret, t, code);
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct mfastore_verdict v;
			char err[256];
			mfastore_verify(c->dir, ALICE, code, t, &v, err, sizeof err);
			_exit((int)v.result);
		}
	}
	int ok = 0, replay = 0;
	for (int i = 0; i < N; i++) {
		int status;
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		ok += WEXITSTATUS(status) == MFASTORE_OK;
		replay += WEXITSTATUS(status) == MFASTORE_REPLAY;
	}
	assert_int_equal(ok, 1);
	assert_int_equal(replay, N - 1);
}

static void test_reset(void **state)
{
	struct ctx *c = *state;
	struct mfastore_status st;
	struct mfastore_enrollment e;
	uint8_t secret[TOTP_SECRET_LEN];

	enroll(c, ALICE, T0, secret, NULL);
	assert_int_equal(mfastore_reset(c->dir, ALICE, c->err, sizeof c->err), 0);
	assert_int_equal(mfastore_status(c->dir, ALICE, T0, &st, c->err, sizeof c->err), 0);
	assert_int_equal(st.enrolled, 0);
	assert_int_equal(mfastore_reset(c->dir, ALICE, c->err, sizeof c->err), -ENOENT);
	assert_int_equal(
		mfastore_begin_enroll(c->dir, ALICE, "alice@host", T0, &e, c->err, sizeof c->err),
		0);
}

/* ---- the file format ---- */

static void sample_state(struct mfastore_state *st, int active)
{
	memset(st, 0, sizeof *st);
	st->phase = active ? MFASTORE_ACTIVE : MFASTORE_PENDING;
	for (int i = 0; i < TOTP_SECRET_LEN; i++)
		st->secret[i] = (uint8_t)(i * 13 + 1);
	st->created = 1700000000;
	st->last_step = active ? 56666667 : 0;
	st->fail_count = active ? 3 : 0;
	st->lockout_level = active ? 2 : 0;
	st->locked_until = active ? 1700000120 : 0;
	st->kdf_iter = MFASTORE_KDF_ITER;
	st->nrecovery = active ? MFASTORE_RECOVERY_CODES : 0;
	for (unsigned i = 0; i < st->nrecovery; i++) {
		memset(st->recovery[i].salt, (int)i, MFASTORE_SALT_LEN);
		memset(st->recovery[i].hash, (int)(0xf0 + i), MFASTORE_HASH_LEN);
		st->recovery[i].used = i % 3 == 0;
	}
}

static void test_format_roundtrip(void **state)
{
	struct ctx *c = *state;
	struct mfastore_state a, b;
	char buf[MFASTORE_FILE_MAX];

	for (int active = 0; active <= 1; active++) {
		sample_state(&a, active);
		int n = mfastore_format(&a, buf, sizeof buf);
		assert_true(n > 0);
		assert_int_equal((size_t)n, strlen(buf));
		assert_int_equal(mfastore_parse(buf, (size_t)n, &b, c->err, sizeof c->err), 0);
		assert_memory_equal(&a, &b, sizeof a);
		if (active)
			assert_memory_equal(buf, "jitsu-mfa 1\nphase=active\nsecret=010e1b28", 40);
		assert_int_equal(mfastore_format(&a, buf, (size_t)n), -ENOSPC);
		assert_int_equal(buf[0], '\0');
	}
	a.fail_count = MFASTORE_MAX_FAILS;
	assert_int_equal(mfastore_format(&a, buf, sizeof buf), -EINVAL);
}

/* Replaces the first occurrence of from in the formatted sample by to. */
static int parse_mutated(struct ctx *c, const char *from, const char *to)
{
	struct mfastore_state st;
	char buf[MFASTORE_FILE_MAX], out[MFASTORE_FILE_MAX + 64];

	sample_state(&st, 1);
	int n = mfastore_format(&st, buf, sizeof buf);
	assert_true(n > 0);
	char *p = strstr(buf, from);
	assert_non_null(p);
	int len = snprintf(out, sizeof out, "%.*s%s%s", (int)(p - buf), buf, to, p + strlen(from));
	return mfastore_parse(out, (size_t)len, &st, c->err, sizeof c->err);
}

static void test_parse_strict(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(parse_mutated(c, "phase", "phase"), 0);
	const char *bad[][2] = {
		{"jitsu-mfa 1", "jitsu-mfa 2"},
		{"jitsu-mfa 1\n", "jitsu-mfa 1 \n"},
		{"phase=active", "phase=Active"},
		{"phase=active\n", "phase=active\nphase=active\n"},
		{"secret=01", "secret=0"},
		{"secret=010e", "secret=010E"},
		{"created=1700000000", "created=01700000000"},
		{"created=1700000000", "created=-1"},
		{"created=1700000000", "created=9223372036854775808"},
		{"last_step=56666667", "last_step=18446744073709551616"},
		{"last_step=56666667", "last_step="},
		{"last_step=56666667", "last_step= 56666667"},
		{"fail_count=3", "fail_count=5"},
		{"lockout_level=2", "lockout_level=33"},
		{"kdf=pbkdf2-sha256:20000", "kdf=pbkdf2-sha256:999"},
		{"kdf=pbkdf2-sha256:20000", "kdf=pbkdf2-sha256:1000001"},
		{"kdf=pbkdf2-sha256:20000", "kdf=scrypt:20000"},
		{"fail_count=3\nlockout_level=2", "lockout_level=2\nfail_count=3"},
		{":used\n", ":Used\n"},
		{":unused\n", ":unused\n#\n"},
		{"recovery=", "recovery=0"},
		{"recovery=", "x=1\nrecovery="},
		{"locked_until", "\nlocked_until"},
		{"\n", "\r\n"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = parse_mutated(c, bad[i][0], bad[i][1]);
		if (rc != -EBADMSG)
			fail_msg("mutation %zu (%s) parsed", i, bad[i][1]);
	}
	/* Nine recovery lines on an active state, and a missing final newline. */
	struct mfastore_state st;
	char buf[MFASTORE_FILE_MAX];
	sample_state(&st, 1);
	int n = mfastore_format(&st, buf, sizeof buf);
	char *last = buf + n - 1;
	while (last[-1] != '\n')
		last--;
	assert_int_equal(mfastore_parse(buf, (size_t)(last - buf), &st, c->err, sizeof c->err),
			 -EBADMSG);
	assert_int_equal(mfastore_parse(buf, (size_t)n - 1, &st, c->err, sizeof c->err), -EBADMSG);
	assert_int_equal(mfastore_parse(buf, (size_t)n, &st, c->err, sizeof c->err), 0);
	/* An embedded NUL. */
	buf[20] = '\0';
	assert_int_equal(mfastore_parse(buf, (size_t)n, &st, c->err, sizeof c->err), -EBADMSG);
	/* A pending state has no recovery lines. */
	sample_state(&st, 0);
	n = mfastore_format(&st, buf, sizeof buf);
	assert_null(strstr(buf, "recovery="));
	assert_int_equal(mfastore_parse(buf, (size_t)n, &st, c->err, sizeof c->err), 0);
}

/* The in-memory rules (what jitsu-hub uses): the same outcomes as the
 * files, and the state changes exactly when a verdict must be stored. */
static void test_state_in_memory(void **state)
{
	struct ctx *c = *state;
	struct mfastore_state st, copy;
	struct mfastore_enrollment e;
	struct mfastore_recovery_codes codes, again;
	struct mfastore_verdict v;
	struct mfastore_status s;
	uint8_t secret[TOTP_SECRET_LEN];
	char code[7], wrong[7];

	memset(&st, 0, sizeof st);
	assert_int_equal(mfastore_state_verify(&st, "123456", T0, &v), 0);
	assert_int_equal(v.result, MFASTORE_NOT_ENROLLED);
	assert_int_equal(mfastore_state_begin(&st, "alice", T0, &e, c->err, sizeof c->err), 0);
	assert_int_equal(st.phase, MFASTORE_PENDING);
	assert_non_null(strstr(e.uri, "otpauth://totp/jitsu:alice?secret="));
	decode_secret(e.secret_b32, secret);
	assert_memory_equal(secret, st.secret, TOTP_SECRET_LEN);
	mfastore_state_status(&st, T0, &s);
	assert_true(s.pending && !s.enrolled);
	assert_int_equal(mfastore_state_verify(&st, "123456", T0, &v), 0);
	assert_int_equal(v.result, MFASTORE_NOT_ENROLLED);
	wrong_code_at(secret, T0, wrong);
	assert_int_equal(mfastore_state_confirm(&st, wrong, T0, &codes, c->err, sizeof c->err),
			 -EACCES);
	assert_int_equal(mfastore_state_confirm(&st, "12 34", T0, &codes, c->err, sizeof c->err),
			 -EINVAL);
	code_at(secret, T0 + MFASTORE_PENDING_TTL + 1, code);
	assert_int_equal(mfastore_state_confirm(&st, code, T0 + MFASTORE_PENDING_TTL + 1, &codes,
						c->err, sizeof c->err),
			 -ETIMEDOUT);
	code_at(secret, T0, code);
	assert_int_equal(mfastore_state_confirm(&st, code, T0, &codes, c->err, sizeof c->err), 0);
	assert_int_equal(st.phase, MFASTORE_ACTIVE);
	assert_int_equal(mfastore_state_confirm(&st, code, T0, &again, c->err, sizeof c->err),
			 -EALREADY);

	/* The confirming step is used; the next one works once. */
	assert_int_equal(mfastore_state_verify(&st, code, T0, &v), 0);
	assert_int_equal(v.result, MFASTORE_REPLAY);
	code_at(secret, T0 + 30, code);
	assert_int_equal(mfastore_state_verify(&st, code, T0 + 30, &v), 1);
	assert_int_equal(v.result, MFASTORE_OK);
	assert_int_equal(v.step, (uint64_t)(T0 + 30) / 30);
	assert_int_equal(mfastore_state_verify(&st, code, T0 + 30, &v), 0);
	assert_int_equal(v.result, MFASTORE_REPLAY);
	assert_int_equal(mfastore_state_verify(&st, "nope", T0 + 30, &v), 0);
	assert_int_equal(v.result, MFASTORE_BAD_INPUT);

	/* Five failures lock; a locked state refuses a right code unchanged. */
	wrong_code_at(secret, T0 + 60, wrong);
	for (int i = 1; i <= MFASTORE_MAX_FAILS; i++) {
		assert_int_equal(mfastore_state_verify(&st, wrong, T0 + 60, &v), 1);
		assert_int_equal(v.result, MFASTORE_WRONG);
		assert_int_equal(v.lockout_started, i == MFASTORE_MAX_FAILS);
	}
	assert_int_equal(v.locked_secs, MFASTORE_LOCK_BASE);
	memcpy(&copy, &st, sizeof st);
	code_at(secret, T0 + 90, code);
	assert_int_equal(mfastore_state_verify(&st, code, T0 + 90, &v), 0);
	assert_int_equal(v.result, MFASTORE_LOCKED);
	assert_memory_equal(&copy, &st, sizeof st);

	/* A recovery code once; then a replay. */
	assert_int_equal(mfastore_state_verify(&st, codes.code[5], T0 + 200, &v), 1);
	assert_int_equal(v.result, MFASTORE_OK_RECOVERY);
	assert_int_equal(v.recovery_left, MFASTORE_RECOVERY_CODES - 1);
	assert_int_equal(mfastore_state_verify(&st, codes.code[5], T0 + 200, &v), 0);
	assert_int_equal(v.result, MFASTORE_REPLAY);
	mfastore_state_status(&st, T0 + 200, &s);
	assert_true(s.enrolled && s.recovery_left == MFASTORE_RECOVERY_CODES - 1);
	mfastore_state_wipe(&st);
	mfastore_state_wipe(&copy);
	mfastore_enrollment_wipe(&e);
	mfastore_recovery_codes_wipe(&codes);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_enroll_confirm),
		T(test_pending_expires),
		T(test_right_wrong_replay),
		T(test_earlier_step_after_later),
		T(test_lockout_backoff),
		T(test_success_resets_count),
		T(test_lock_clamped_when_clock_goes_back),
		T(test_recovery_once),
		T(test_not_enrolled),
		T(test_corrupt_fails_closed),
		T(test_unsafe_dir),
		T(test_modes_and_no_temp_files),
		T(test_concurrent_single_use),
		T(test_reset),
		T(test_format_roundtrip),
		T(test_parse_strict),
		T(test_state_in_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
