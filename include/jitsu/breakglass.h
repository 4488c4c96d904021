/*
 * breakglass: the pure parts of break-glass elevation (docs/breakglass.md):
 * the code alphabet, challenge and response codes, the time windows and
 * the HMAC that binds a response to a challenge, a host and a window.
 *
 * A challenge is 8 characters (40 random bits), a response 10 characters
 * (the first 50 bits of the HMAC), both in Crockford's base32 alphabet
 * 0123456789ABCDEFGHJKMNPQRSTVWXYZ and shown in two dash-separated halves
 * (ABCD-EFGH, ABCDE-FGHJK). On input, case, dashes and spaces do not
 * matter, and I, L read as 1 and O as 0.
 *
 *   window   = floor(unix_time / 300)
 *   response = first 10 chars of crockford32(HMAC-SHA256(key,
 *              "jitsu-breakglass-v1" || challenge || 0x00 || host || 0x00 ||
 *              be64(window)))
 *
 * with challenge in its canonical form (8 upper-case characters, no dash)
 * and host the endpoint id (16 lowercase hex digits) that the hub gave the
 * machine at enrollment.
 *
 * MUST rules:
 *  - No I/O, no globals, never exits (except breakglass_challenge_new,
 *    which reads the kernel's randomness): the fuzzer drives it directly.
 *  - Every input is bounded (BREAKGLASS_INPUT_MAX); a parse failure leaves
 *    the output wiped.
 *  - Responses are compared in constant time; keys and MACs on the stack
 *    are wiped after use.
 *  - A response is accepted for the current window and the one before
 *    (BREAKGLASS_ACCEPT_WINDOWS), never for a later one.
 */
#ifndef JITSU_BREAKGLASS_H
#define JITSU_BREAKGLASS_H

#include <stddef.h>
#include <stdint.h>

#define BREAKGLASS_KEY_LEN 32        /* bytes of the per-endpoint key */
#define BREAKGLASS_KEY_HEX 64        /* its lowercase hex form */
#define BREAKGLASS_CHALLENGE_CHARS 8 /* 40 bits */
#define BREAKGLASS_RESPONSE_CHARS 10 /* 50 bits */
#define BREAKGLASS_WINDOW_SECS 300
#define BREAKGLASS_ACCEPT_WINDOWS 2   /* the current window and the previous one */
#define BREAKGLASS_EXPIRED_WINDOWS 12 /* older, up to an hour: "expired", not "wrong" */
#define BREAKGLASS_INPUT_MAX 64       /* bytes of a typed code, dashes and spaces included */
#define BREAKGLASS_HOST_MAX 253
#define BREAKGLASS_GROUPED_MAX 16 /* a grouped code and its NUL */
#define BREAKGLASS_DOMAIN "jitsu-breakglass-v1"

enum breakglass_verdict {
	BREAKGLASS_OK = 0,
	BREAKGLASS_MALFORMED, /* not a response code at all */
	BREAKGLASS_WRONG,     /* no window within the last hour matches */
	BREAKGLASS_EXPIRED,   /* matches a window older than the accepted ones */
	BREAKGLASS_EARLY,     /* matches a future window: a clock is wrong */
};

/*
 * Parses a typed code of want characters (BREAKGLASS_CHALLENGE_CHARS or
 * BREAKGLASS_RESPONSE_CHARS) from len bytes of in (need not be
 * NUL-terminated): dashes and spaces are skipped, letters folded to upper
 * case, I and L read as 1, O as 0. Writes the canonical want characters and
 * a NUL into out (want + 1 bytes). Returns 0, or -EINVAL with out wiped.
 */
int breakglass_parse(const char *in, size_t len, size_t want, char *out);

/* Writes canonical code (any even length up to 14) as its two halves
 * joined by a dash. Returns 0, or -EINVAL if it does not fit in outlen. */
int breakglass_group(const char *canon, char *out, size_t outlen);

/* A fresh random challenge, canonical (8 characters and a NUL). 0 or -errno. */
int breakglass_challenge_new(char out[BREAKGLASS_CHALLENGE_CHARS + 1]);

/* The window that unix time t falls in (0 for negative times). */
uint64_t breakglass_window(int64_t t);

/* The first unix time after window w's successor: when a response for
 * window w stops being accepted. */
int64_t breakglass_valid_until(uint64_t w);

/*
 * The response for a canonical challenge, host (1..BREAKGLASS_HOST_MAX
 * bytes, no NUL) and window, canonical (10 characters and a NUL).
 * Returns 0, or -EINVAL for a malformed challenge or host.
 */
int breakglass_response(const uint8_t key[BREAKGLASS_KEY_LEN], const char *challenge,
			const char *host, uint64_t window, char out[BREAKGLASS_RESPONSE_CHARS + 1]);

/*
 * Checks a typed response (len bytes of input) for challenge and host at
 * unix time now. On BREAKGLASS_OK, *window (if non-NULL) is the window it
 * was made for; on _EXPIRED and _EARLY too.
 */
enum breakglass_verdict breakglass_verify(const uint8_t key[BREAKGLASS_KEY_LEN],
					  const char *challenge, const char *host,
					  const char *input, size_t len, int64_t now,
					  uint64_t *window);

/* 64 lowercase hex digits into a key. 0, or -EINVAL with key wiped. */
int breakglass_key_from_hex(const char *hex, uint8_t key[BREAKGLASS_KEY_LEN]);

/* A key as 64 lowercase hex digits and a NUL. */
void breakglass_key_to_hex(const uint8_t key[BREAKGLASS_KEY_LEN], char hex[BREAKGLASS_KEY_HEX + 1]);

/* A short English name for a verdict ("wrong response", ...). */
const char *breakglass_verdict_name(enum breakglass_verdict v);

#endif
