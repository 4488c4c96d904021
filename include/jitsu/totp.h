/*
 * totp: RFC 6238 time-based one-time passwords (HMAC-SHA1, 6 digits, 30 s
 * steps) computed by liboath, the otpauth:// enrollment URI, and the strict
 * parser for what a user types at the MFA prompt (a TOTP code or a recovery
 * code).
 *
 * MUST rules:
 *  - Codes are computed and checked by liboath only; nothing here hand-rolls
 *    HOTP/TOTP. The accepted window is the current step and one step either
 *    side, never wider (TOTP_WINDOW).
 *  - The clock is a parameter (time_t now). No environment variable, flag or
 *    global changes it.
 *  - Candidate codes are compared in constant time (CRYPTO_memcmp), and every
 *    copy of a secret or a code made here is wiped before it is released.
 *  - User input is bounded (TOTP_INPUT_MAX) and parsed strictly: anything that
 *    is not exactly a code or a recovery code is refused before any
 *    cryptography runs.
 *  - Nothing here logs, prints or puts a secret or a code in an error message.
 */
#ifndef JITSU_TOTP_H
#define JITSU_TOTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TOTP_SECRET_LEN 20 /* bytes: 160 bits, as RFC 4226 recommends */
#define TOTP_SECRET_MAX 64 /* longest secret totp_check() accepts */
#define TOTP_B32_LEN 32    /* base32 of a TOTP_SECRET_LEN secret, no padding */
#define TOTP_DIGITS 6
#define TOTP_STEP 30         /* seconds */
#define TOTP_WINDOW 1        /* steps accepted either side of the current one */
#define TOTP_ACCOUNT_MAX 128 /* bytes in the account label ("alice@host") */
#define TOTP_URI_MAX 512     /* buffer size that always fits totp_uri() */

/*
 * Recovery codes: 12 characters of Crockford's base32 (60 bits), shown as
 * "xxxx-xxxx-xxxx" in lower case. The canonical form hashed and stored is the
 * 12 characters without dashes.
 */
#define TOTP_RECOVERY_CHARS 12
#define TOTP_RECOVERY_LEN 14 /* display form with two dashes */
#define TOTP_INPUT_MAX 64    /* longest typed input looked at */
#define TOTP_CANON_MAX 13    /* canonical code or recovery code, plus NUL */

enum totp_input {
	TOTP_INPUT_CODE = 1,     /* six ASCII digits */
	TOTP_INPUT_RECOVERY = 2, /* twelve recovery characters */
};

/*
 * Fills buf with n bytes from the kernel CSPRNG (getrandom(2), blocking until
 * the pool is initialised). Returns 0 or -errno.
 */
int totp_random_bytes(void *buf, size_t n);

/* Generates a new TOTP secret. Returns 0 or -errno. The caller wipes it. */
int totp_secret_new(uint8_t secret[TOTP_SECRET_LEN]);

/*
 * Writes the RFC 4648 base32 form of secret (upper case, without '='
 * padding, as authenticator apps expect) to out, NUL-terminated. Returns the
 * length, -ENOSPC if outlen is too small, or -EINVAL/-ENOMEM.
 */
int totp_base32(const uint8_t *secret, size_t len, char *out, size_t outlen);

/*
 * Builds the Key URI for authenticator apps:
 *   otpauth://totp/jitsu:ACCOUNT?secret=B32&issuer=jitsu&algorithm=SHA1
 *       &digits=6&period=30
 * ACCOUNT (e.g. "alice@host", at most TOTP_ACCOUNT_MAX bytes) is
 * percent-encoded except for RFC 3986 unreserved characters and '@'; an empty
 * account, a ':' (the issuer separator) or a control byte is -EINVAL.
 * Returns the length written (NUL-terminated), or -ENOSPC / -EINVAL /
 * -ENOMEM. The caller wipes out: it contains the secret.
 */
int totp_uri(const uint8_t *secret, size_t len, const char *account, char *out, size_t outlen);

/*
 * Checks a canonical 6-digit code (as produced by totp_parse_input()) against
 * secret at time now, accepting steps now/30 - 1, now/30 and now/30 + 1.
 * Returns 0 and stores the matching step in *step; -EACCES if no step
 * matches; -EINVAL for a malformed code, a secret outside 1..TOTP_SECRET_MAX
 * bytes or now < 0; -EIO if liboath fails. Replay protection (refusing a step
 * already used) is the caller's job: see mfastore_verify().
 */
int totp_check(const uint8_t *secret, size_t len, const char *code, time_t now, uint64_t *step);

/*
 * Parses len bytes typed by a user (need not be NUL-terminated). Spaces and
 * tabs anywhere are ignored. What remains must be exactly six ASCII digits,
 * or a recovery code: twelve Crockford base32 characters in any case, either
 * plain or grouped 4-4-4 with '-' (o/O read as 0, i/I/l/L as 1). Any other
 * byte, length or shape, or len > TOTP_INPUT_MAX, is -EINVAL.
 * On success writes the canonical form (digits, or 12 lower-case recovery
 * characters) to out and returns TOTP_INPUT_CODE or TOTP_INPUT_RECOVERY.
 * out is wiped on failure; the caller wipes it after use.
 */
int totp_parse_input(const char *in, size_t len, char out[TOTP_CANON_MAX]);

/*
 * Generates a random recovery code in display form "xxxx-xxxx-xxxx"
 * (NUL-terminated) and its canonical form (12 characters + NUL).
 * Returns 0 or -errno. The caller wipes both.
 */
int totp_recovery_new(char display[TOTP_RECOVERY_LEN + 1], char canon[TOTP_CANON_MAX]);

#endif
