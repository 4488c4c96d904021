/*
 * fuzz-policydoc: the hub's policy document as jitsud reads it, from the
 * hub's answer and from its own cache (jitsud/policydoc.c). Every accepted
 * document must keep the promises of policydoc.h: a well-formed group, a
 * version in range, a text within the cap whose SHA-256 is the one given;
 * and it must survive a round trip through policydoc_dump().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../jitsud/policydoc.h"
#include "jitsu/digest.h"
#include "jitsu/resolve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policydoc d, again;
	char err[256], label[POLICYDOC_LABEL_MAX];
	if (policydoc_parse((const char *)data, size, &d, err, sizeof err) != 0) {
		CHECK(d.text == NULL && !d.has_group && err[0]);
		return 0;
	}
	if (d.has_group) {
		uint8_t sum[DIGEST_SHA256_LEN];
		char hex[65];
		CHECK(d.group[0] && strlen(d.group) <= POLICYDOC_GROUP_MAX);
		CHECK(d.version >= 1 && d.version <= POLICYDOC_VERSION_MAX);
		CHECK(d.text && d.len <= POLICYDOC_TEXT_MAX && strlen(d.text) == d.len);
		digest_sha256(d.text, d.len, sum);
		resolve_hex(sum, sizeof sum, hex);
		CHECK(strcmp(hex, d.sha256) == 0);
		policydoc_label(&d, label, sizeof label);
		CHECK(strncmp(label, "hub:", 4) == 0);
	}
	char *dump = policydoc_dump(&d, 1);
	CHECK(dump);
	CHECK(policydoc_parse(dump, strlen(dump), &again, err, sizeof err) == 0);
	CHECK(policydoc_same(&d, &again));
	CHECK(!d.has_group || (again.len == d.len && memcmp(again.text, d.text, d.len) == 0));
	free(dump);
	policydoc_clear(&again);
	policydoc_clear(&d);
	return 0;
}
