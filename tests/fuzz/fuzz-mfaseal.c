/*
 * fuzz-mfaseal: the hub's sealed MFA states (hub/mfaseal.c), which it
 * reads back from its database. abort()s when a property fails:
 *  - mfaseal_open() on arbitrary text (under a fixed key, for user
 *    "alice") either fails with no output, or returns a plaintext of at
 *    most MFASEAL_PLAIN_MAX bytes, NUL-terminated at its length;
 *  - an input starting with "seal:" is sealed (the rest, as plaintext) and
 *    must open back identical for "alice", and not open for "bob";
 *  - mfaseal_open_breakglass() on the same text either fails with "" in
 *    hex, or returns exactly 64 hex digits (the text then also failing
 *    as an MFA state: the two kinds never cross).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mfaseal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static void round_trip(const struct mfaseal_key *k, const char *p, size_t n)
{
	char *sealed = NULL, *out = NULL, err[256];
	size_t len = 0;
	int r = mfaseal_seal(k, "alice", p, n, &sealed);
	CHECK(r == 0 || (r == -EINVAL && (n == 0 || n > MFASEAL_PLAIN_MAX)));
	if (r != 0)
		return;
	CHECK(mfaseal_open(k, "alice", sealed, &out, &len, err, sizeof err) == 0);
	CHECK(len == n && memcmp(out, p, n) == 0 && out[n] == '\0');
	free(out);
	CHECK(mfaseal_open(k, "bob", sealed, &out, &len, err, sizeof err) == -EACCES && !out);
	free(sealed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t raw[MFASEAL_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	struct mfaseal_key k;
	char *text = malloc(size + 1), *out = NULL, err[256];
	size_t len = 0;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	mfaseal_key_from(&k, raw);
	if (size >= 5 && memcmp(text, "seal:", 5) == 0) {
		round_trip(&k, text + 5, size - 5);
	} else {
		int r = mfaseal_open(&k, "alice", text, &out, &len, err, sizeof err);
		CHECK(r == 0 ? out && len <= MFASEAL_PLAIN_MAX && out[len] == '\0' : !out);
		CHECK(strlen(err) < sizeof err);
		free(out);
		char hex[MFASEAL_BREAKGLASS_HEX + 1];
		int b = mfaseal_open_breakglass(&k, "alice", text, hex, err, sizeof err);
		CHECK(b == 0 ? strlen(hex) == MFASEAL_BREAKGLASS_HEX && r != 0 : hex[0] == '\0');
		CHECK(strlen(err) < sizeof err);
	}
	free(text);
	return 0;
}
