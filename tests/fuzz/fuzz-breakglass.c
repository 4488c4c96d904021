/*
 * fuzz-breakglass: feeds arbitrary bytes to the break-glass code parser
 * and verifier (lib/breakglass.c), which see what a user types and what an
 * admin sends the hub, and abort()s when a property fails:
 *  - breakglass_parse(), for both code lengths: a success yields a
 *    canonical code that parses to itself, also in its grouped and lower-
 *    case forms; a failure leaves the output wiped;
 *  - breakglass_verify() with a fixed key, challenge and host: it never
 *    reads past the input, and accepts only what breakglass_response()
 *    makes for the window it names;
 *  - the first 8 canonical characters, taken as a challenge, give a
 *    response that verifies at once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jitsu/breakglass.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[BREAKGLASS_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static const char host[] = "0a1b2c3d4e5f6071";
static const int64_t now = 1764460800 + 42;

static void check_parse(const char *s, size_t n, size_t want)
{
	char out[BREAKGLASS_RESPONSE_CHARS + 1], again[BREAKGLASS_RESPONSE_CHARS + 1];
	char grouped[BREAKGLASS_GROUPED_MAX];
	if (breakglass_parse(s, n, want, out) < 0) {
		for (size_t i = 0; i <= want; i++)
			if (out[i])
				abort();
		return;
	}
	if (strlen(out) != want || breakglass_parse(out, want, want, again) < 0 ||
	    strcmp(out, again) != 0)
		abort();
	if (breakglass_group(out, grouped, sizeof grouped) < 0 ||
	    breakglass_parse(grouped, strlen(grouped), want, again) < 0 || strcmp(out, again) != 0)
		abort();
	for (char *p = grouped; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (breakglass_parse(grouped, strlen(grouped), want, again) < 0 || strcmp(out, again) != 0)
		abort();
}

static void check_verify(const char *s, size_t n)
{
	char want[BREAKGLASS_RESPONSE_CHARS + 1], canon[BREAKGLASS_RESPONSE_CHARS + 1];
	uint64_t w = 0;
	enum breakglass_verdict v = breakglass_verify(key, "ABCD0123", host, s, n, now, &w);
	if (v == BREAKGLASS_MALFORMED || v == BREAKGLASS_WRONG)
		return;
	if (breakglass_parse(s, n, BREAKGLASS_RESPONSE_CHARS, canon) < 0 ||
	    breakglass_response(key, "ABCD0123", host, w, want) < 0 || strcmp(want, canon) != 0)
		abort();
	uint64_t cur = breakglass_window(now);
	if (v == BREAKGLASS_OK && w != cur && w + 1 != cur)
		abort();
}

static void check_roundtrip(const char *s, size_t n)
{
	char c[BREAKGLASS_CHALLENGE_CHARS + 1], r[BREAKGLASS_RESPONSE_CHARS + 1];
	if (breakglass_parse(s, n < 8 ? n : 8, BREAKGLASS_CHALLENGE_CHARS, c) < 0)
		return;
	if (breakglass_response(key, c, host, breakglass_window(now), r) < 0 ||
	    breakglass_verify(key, c, host, r, strlen(r), now, NULL) != BREAKGLASS_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	check_parse(s, size, BREAKGLASS_CHALLENGE_CHARS);
	check_parse(s, size, BREAKGLASS_RESPONSE_CHARS);
	check_verify(s, size);
	check_roundtrip(s, size);
	return 0;
}
