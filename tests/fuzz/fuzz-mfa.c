/*
 * fuzz-mfa: feeds arbitrary bytes to the two MFA parsers that see hostile
 * or damaged input, and abort()s when a property fails:
 *  - totp_parse_input() (what a user types): a success yields a canonical
 *    code of the right shape that parses to itself; a failure leaves the
 *    output wiped;
 *  - mfastore_parse() (a state file, perhaps corrupt): a success yields a
 *    state that mfastore_format() writes and that parses back identical,
 *    byte for byte (round trip), within MFASTORE_FILE_MAX.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jitsu/mfastore.h"
#include "jitsu/totp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_input(const char *s, size_t n)
{
	char out[TOTP_CANON_MAX], again[TOTP_CANON_MAX];
	int kind = totp_parse_input(s, n, out);

	if (kind < 0) {
		for (size_t i = 0; i < sizeof out; i++)
			if (out[i])
				abort();
		return;
	}
	size_t want = kind == TOTP_INPUT_CODE ? TOTP_DIGITS : TOTP_RECOVERY_CHARS;
	if (strlen(out) != want || totp_parse_input(out, want, again) != kind ||
	    strcmp(out, again) != 0)
		abort();
}

static void check_store(const char *s, size_t n)
{
	struct mfastore_state a, b;
	char buf[MFASTORE_FILE_MAX], err[256];

	if (mfastore_parse(s, n, &a, err, sizeof err) < 0)
		return;
	int len = mfastore_format(&a, buf, sizeof buf);
	if (len < 0 || mfastore_parse(buf, (size_t)len, &b, err, sizeof err) < 0 ||
	    memcmp(&a, &b, sizeof a) != 0)
		abort();
	/* The strict format has one spelling per state. */
	if ((size_t)len != n || memcmp(buf, s, n) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_input((const char *)data, size);
	check_store((const char *)data, size);
	return 0;
}
