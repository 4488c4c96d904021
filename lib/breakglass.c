/*
 * breakglass: code format, windows and the HMAC of break-glass responses.
 * The MUST rules and the construction are in include/jitsu/breakglass.h;
 * docs/breakglass.md is the specification.
 */
#include "jitsu/breakglass.h"

#include <errno.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <string.h>

#include "jitsu/digest.h"

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* The value of one typed character, or -1. */
static int char_value(char c)
{
	if (c >= 'a' && c <= 'z')
		c = (char)(c - 'a' + 'A');
	if (c == 'I' || c == 'L')
		c = '1';
	else if (c == 'O')
		c = '0';
	const char *p = c ? strchr(alphabet, c) : NULL;
	return p ? (int)(p - alphabet) : -1;
}

int breakglass_parse(const char *in, size_t len, size_t want, char *out)
{
	size_t n = 0;
	if (len > BREAKGLASS_INPUT_MAX || want == 0 || want > BREAKGLASS_INPUT_MAX)
		goto bad;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '-' || in[i] == ' ')
			continue;
		int v = char_value(in[i]);
		if (v < 0 || n >= want)
			goto bad;
		out[n++] = alphabet[v];
	}
	if (n != want)
		goto bad;
	out[n] = '\0';
	return 0;
bad:
	if (want <= BREAKGLASS_INPUT_MAX)
		explicit_bzero(out, want + 1);
	return -EINVAL;
}

int breakglass_group(const char *canon, char *out, size_t outlen)
{
	size_t n = strnlen(canon, BREAKGLASS_GROUPED_MAX);
	if (n == 0 || n % 2 || n + 2 > outlen || n + 2 > BREAKGLASS_GROUPED_MAX)
		return -EINVAL;
	memcpy(out, canon, n / 2);
	out[n / 2] = '-';
	memcpy(out + n / 2 + 1, canon + n / 2, n / 2);
	out[n + 1] = '\0';
	return 0;
}

/* Base32 (Crockford's alphabet) of the first nchars * 5 bits of p,
 * most significant bit first. */
static void encode(const uint8_t *p, size_t nchars, char *out)
{
	for (size_t i = 0; i < nchars; i++) {
		unsigned v = 0;
		for (size_t b = i * 5; b < i * 5 + 5; b++)
			v = (v << 1) | ((p[b / 8] >> (7 - b % 8)) & 1u);
		out[i] = alphabet[v];
	}
	out[nchars] = '\0';
}

int breakglass_challenge_new(char out[BREAKGLASS_CHALLENGE_CHARS + 1])
{
	uint8_t r[BREAKGLASS_CHALLENGE_CHARS * 5 / 8];
	int e = digest_random(r, sizeof r);
	if (e < 0)
		return e;
	encode(r, BREAKGLASS_CHALLENGE_CHARS, out);
	explicit_bzero(r, sizeof r);
	return 0;
}

uint64_t breakglass_window(int64_t t)
{
	return t < 0 ? 0 : (uint64_t)t / BREAKGLASS_WINDOW_SECS;
}

int64_t breakglass_valid_until(uint64_t w)
{
	return (int64_t)((w + BREAKGLASS_ACCEPT_WINDOWS) * BREAKGLASS_WINDOW_SECS);
}

static int challenge_ok(const char *c)
{
	size_t n = strnlen(c, BREAKGLASS_CHALLENGE_CHARS + 1);
	if (n != BREAKGLASS_CHALLENGE_CHARS)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strchr(alphabet, c[i]) || !c[i])
			return 0;
	return 1;
}

int breakglass_response(const uint8_t key[BREAKGLASS_KEY_LEN], const char *challenge,
			const char *host, uint64_t window, char out[BREAKGLASS_RESPONSE_CHARS + 1])
{
	struct hmac_sha256_ctx h;
	uint8_t mac[SHA256_DIGEST_SIZE], be[8];
	size_t hlen = strnlen(host, BREAKGLASS_HOST_MAX + 1);

	if (!challenge_ok(challenge) || hlen == 0 || hlen > BREAKGLASS_HOST_MAX)
		return -EINVAL;
	for (int i = 0; i < 8; i++)
		be[i] = (uint8_t)(window >> (56 - 8 * i));
	hmac_sha256_set_key(&h, BREAKGLASS_KEY_LEN, key);
	hmac_sha256_update(&h, sizeof BREAKGLASS_DOMAIN - 1, (const uint8_t *)BREAKGLASS_DOMAIN);
	hmac_sha256_update(&h, BREAKGLASS_CHALLENGE_CHARS, (const uint8_t *)challenge);
	hmac_sha256_update(&h, 1, (const uint8_t *)"");
	hmac_sha256_update(&h, hlen, (const uint8_t *)host);
	hmac_sha256_update(&h, 1, (const uint8_t *)"");
	hmac_sha256_update(&h, sizeof be, be);
	hmac_sha256_digest(&h, sizeof mac, mac);
	encode(mac, BREAKGLASS_RESPONSE_CHARS, out);
	explicit_bzero(&h, sizeof h);
	explicit_bzero(mac, sizeof mac);
	return 0;
}

/* 1 if want is the response for window w (constant-time comparison). */
static int matches(const uint8_t *key, const char *challenge, const char *host, uint64_t w,
		   const char *want)
{
	char got[BREAKGLASS_RESPONSE_CHARS + 1];
	if (breakglass_response(key, challenge, host, w, got) < 0)
		return 0;
	int eq = memeql_sec(got, want, BREAKGLASS_RESPONSE_CHARS);
	explicit_bzero(got, sizeof got);
	return eq;
}

enum breakglass_verdict breakglass_verify(const uint8_t key[BREAKGLASS_KEY_LEN],
					  const char *challenge, const char *host,
					  const char *input, size_t len, int64_t now,
					  uint64_t *window)
{
	char want[BREAKGLASS_RESPONSE_CHARS + 1];
	uint64_t w = breakglass_window(now);
	enum breakglass_verdict v = BREAKGLASS_WRONG;

	if (breakglass_parse(input, len, BREAKGLASS_RESPONSE_CHARS, want) < 0)
		return BREAKGLASS_MALFORMED;
	/* Accepted: the current window and the one before it. */
	for (uint64_t d = 0; d < BREAKGLASS_ACCEPT_WINDOWS && d <= w; d++)
		if (matches(key, challenge, host, w - d, want)) {
			v = BREAKGLASS_OK;
			w -= d;
			goto out;
		}
	/* Only to tell the user why: a stale code, or a clock running fast. */
	for (uint64_t d = BREAKGLASS_ACCEPT_WINDOWS; d <= BREAKGLASS_EXPIRED_WINDOWS && d <= w; d++)
		if (matches(key, challenge, host, w - d, want)) {
			v = BREAKGLASS_EXPIRED;
			w -= d;
			goto out;
		}
	for (uint64_t d = 1; d <= 2; d++)
		if (matches(key, challenge, host, w + d, want)) {
			v = BREAKGLASS_EARLY;
			w += d;
			goto out;
		}
out:
	explicit_bzero(want, sizeof want);
	if (window && v != BREAKGLASS_WRONG)
		*window = w;
	return v;
}

int breakglass_key_from_hex(const char *hex, uint8_t key[BREAKGLASS_KEY_LEN])
{
	static const char digits[] = "0123456789abcdef";
	if (strnlen(hex, BREAKGLASS_KEY_HEX + 1) != BREAKGLASS_KEY_HEX)
		goto bad;
	for (size_t i = 0; i < BREAKGLASS_KEY_LEN; i++) {
		const char *hi = strchr(digits, hex[2 * i]), *lo = strchr(digits, hex[2 * i + 1]);
		if (!hi || !lo)
			goto bad;
		key[i] = (uint8_t)(((hi - digits) << 4) | (lo - digits));
	}
	return 0;
bad:
	explicit_bzero(key, BREAKGLASS_KEY_LEN);
	return -EINVAL;
}

void breakglass_key_to_hex(const uint8_t key[BREAKGLASS_KEY_LEN], char hex[BREAKGLASS_KEY_HEX + 1])
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < BREAKGLASS_KEY_LEN; i++) {
		hex[2 * i] = digits[key[i] >> 4];
		hex[2 * i + 1] = digits[key[i] & 15];
	}
	hex[BREAKGLASS_KEY_HEX] = '\0';
}

const char *breakglass_verdict_name(enum breakglass_verdict v)
{
	switch (v) {
	case BREAKGLASS_OK: return "accepted";
	case BREAKGLASS_MALFORMED: return "malformed response";
	case BREAKGLASS_WRONG: return "wrong response";
	case BREAKGLASS_EXPIRED: return "expired response";
	case BREAKGLASS_EARLY: return "response from the future";
	}
	return "?";
}
