/*
 * totp: TOTP codes through liboath, the otpauth:// URI, and the strict
 * parser for typed codes. The MUST rules are in include/jitsu/totp.h.
 */
#include "jitsu/totp.h"

#include <errno.h>
#include <liboath/oath.h>
#include <nettle/memops.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitsu/digest.h"

/* Crockford's base32 alphabet: no i, l, o or u, so codes read unambiguously. */
static const char recovery_alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

/* Kept for its callers; the one getrandom(2) loop is digest_random(). */
int totp_random_bytes(void *buf, size_t n)
{
	return digest_random(buf, n);
}

int totp_secret_new(uint8_t secret[TOTP_SECRET_LEN])
{
	return totp_random_bytes(secret, TOTP_SECRET_LEN);
}

int totp_base32(const uint8_t *secret, size_t len, char *out, size_t outlen)
{
	char *b32 = NULL;
	size_t n = 0;

	if (!secret || len == 0 || len > TOTP_SECRET_MAX || !out)
		return -EINVAL;
	if (oath_init() != OATH_OK)
		return -EIO;
	int rc = oath_base32_encode((const char *)secret, len, &b32, &n);
	if (rc != OATH_OK)
		return rc == OATH_MALLOC_ERROR ? -ENOMEM : -EINVAL;
	size_t bare = n;
	while (bare > 0 && b32[bare - 1] == '=')
		bare--;
	int ret = (int)bare;
	if (bare + 1 > outlen)
		ret = -ENOSPC;
	else {
		memcpy(out, b32, bare);
		out[bare] = '\0';
	}
	explicit_bzero(b32, n);
	free(b32);
	return ret;
}

static int is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '@';
}

/* Percent-encodes account into out (size >= 3 * TOTP_ACCOUNT_MAX + 1). */
static int encode_label(const char *account, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t alen = strnlen(account, TOTP_ACCOUNT_MAX + 1);
	size_t o = 0;

	if (alen == 0 || alen > TOTP_ACCOUNT_MAX)
		return -EINVAL;
	for (size_t i = 0; i < alen; i++) {
		unsigned char c = (unsigned char)account[i];
		if (c == ':' || c < 0x20 || c == 0x7f)
			return -EINVAL;
		if (o + 4 > outlen)
			return -ENOSPC;
		if (is_unreserved(c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		}
	}
	out[o] = '\0';
	return 0;
}

int totp_uri(const uint8_t *secret, size_t len, const char *account, char *out, size_t outlen)
{
	char label[3 * TOTP_ACCOUNT_MAX + 1];
	char b32[(TOTP_SECRET_MAX * 8 + 4) / 5 + 8];

	if (!account || !out)
		return -EINVAL;
	int rc = encode_label(account, label, sizeof label);
	if (rc < 0)
		return rc;
	rc = totp_base32(secret, len, b32, sizeof b32);
	if (rc < 0)
		return rc;
	int n = snprintf(out, outlen,
			 "otpauth://totp/jitsu:%s?secret=%s&issuer=jitsu"
			 "&algorithm=SHA1&digits=%d&period=%d",
			 label, b32, TOTP_DIGITS, TOTP_STEP);
	explicit_bzero(b32, sizeof b32);
	if (n < 0 || (size_t)n >= outlen) {
		explicit_bzero(out, outlen);
		return n < 0 ? -EINVAL : -ENOSPC;
	}
	return n;
}

static int is_code(const char *code)
{
	for (int i = 0; i < TOTP_DIGITS; i++)
		if (code[i] < '0' || code[i] > '9')
			return 0;
	return code[TOTP_DIGITS] == '\0';
}

/* liboath's comparison callback: 0 on a match, > 0 otherwise. */
static int code_cmp(void *handle, const char *candidate)
{
	if (strnlen(candidate, TOTP_DIGITS + 1) != TOTP_DIGITS)
		return 1;
	return !memeql_sec(handle, candidate, TOTP_DIGITS);
}

int totp_check(const uint8_t *secret, size_t len, const char *code, time_t now, uint64_t *step)
{
	char want[TOTP_DIGITS + 1];
	uint64_t counter = 0;
	int pos = 0;

	if (!secret || len == 0 || len > TOTP_SECRET_MAX || !code || !step || now < 0 ||
	    strnlen(code, TOTP_DIGITS + 1) != TOTP_DIGITS || !is_code(code))
		return -EINVAL;
	if (oath_init() != OATH_OK)
		return -EIO;
	memcpy(want, code, sizeof want);
	int rc = oath_totp_validate3_callback((const char *)secret, len, now, TOTP_STEP,
					      OATH_TOTP_DEFAULT_START_TIME, TOTP_DIGITS,
					      TOTP_WINDOW, &pos, &counter, code_cmp, want);
	explicit_bzero(want, sizeof want);
	if (rc == OATH_INVALID_OTP)
		return -EACCES;
	if (rc < 0)
		return -EIO;

	/* liboath computes step - 1 unsigned: refuse its wrap at step 0. */
	uint64_t cur = (uint64_t)now / TOTP_STEP;
	if (counter != cur && counter != cur + 1 && !(cur > 0 && counter == cur - 1))
		return -EACCES;
	*step = counter;
	return 0;
}

/* The value of a recovery character, folding case and Crockford's aliases. */
static int recovery_char(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		c = (unsigned char)(c - 'A' + 'a');
	if (c == 'o')
		c = '0';
	else if (c == 'i' || c == 'l')
		c = '1';
	const char *p = c ? strchr(recovery_alphabet, c) : NULL;
	return p ? (int)(p - recovery_alphabet) : -1;
}

static int parse_recovery(const char *s, size_t n, char out[TOTP_CANON_MAX])
{
	size_t o = 0;

	if (n == TOTP_RECOVERY_LEN) {
		if (s[4] != '-' || s[9] != '-')
			return -EINVAL;
	} else if (n != TOTP_RECOVERY_CHARS) {
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (n == TOTP_RECOVERY_LEN && (i == 4 || i == 9))
			continue;
		int v = recovery_char((unsigned char)s[i]);
		if (v < 0)
			return -EINVAL;
		out[o++] = recovery_alphabet[v];
	}
	out[o] = '\0';
	return TOTP_INPUT_RECOVERY;
}

/* Copies in without spaces and tabs into s; refuses other odd bytes. */
static int compact_input(const char *in, size_t len, char s[TOTP_RECOVERY_LEN + 1], size_t *n)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == ' ' || c == '\t')
			continue;
		if (c <= 0x20 || c >= 0x7f || o == TOTP_RECOVERY_LEN)
			return -EINVAL;
		s[o++] = (char)c;
	}
	s[o] = '\0';
	*n = o;
	return 0;
}

int totp_parse_input(const char *in, size_t len, char out[TOTP_CANON_MAX])
{
	char s[TOTP_RECOVERY_LEN + 1];
	size_t n = 0;
	int rc;

	memset(out, 0, TOTP_CANON_MAX);
	if (!in || len > TOTP_INPUT_MAX)
		return -EINVAL;
	rc = compact_input(in, len, s, &n);
	if (rc == 0 && n == TOTP_DIGITS) {
		memcpy(out, s, TOTP_DIGITS + 1);
		rc = is_code(out) ? TOTP_INPUT_CODE : -EINVAL;
	} else if (rc == 0) {
		rc = parse_recovery(s, n, out);
	}
	explicit_bzero(s, sizeof s);
	if (rc < 0)
		explicit_bzero(out, TOTP_CANON_MAX);
	return rc;
}

int totp_recovery_new(char display[TOTP_RECOVERY_LEN + 1], char canon[TOTP_CANON_MAX])
{
	uint8_t rnd[TOTP_RECOVERY_CHARS];
	size_t o = 0;

	int rc = totp_random_bytes(rnd, sizeof rnd);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < TOTP_RECOVERY_CHARS; i++) {
		/* 32 symbols: the low five bits of a byte are uniform. */
		char c = recovery_alphabet[rnd[i] & 31];
		canon[i] = c;
		if (i == 4 || i == 8)
			display[o++] = '-';
		display[o++] = c;
	}
	canon[TOTP_RECOVERY_CHARS] = '\0';
	display[o] = '\0';
	explicit_bzero(rnd, sizeof rnd);
	return 0;
}
