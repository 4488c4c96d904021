/*
 * fuzz-audit: arbitrary bytes taken as an audit log. Drives the verifier
 * (audit_verify_buf, with and without a key) and, line by line, the record
 * parser, the lossless string decoder and the human-readable formatter.
 * abort()s when a property fails:
 *  - a parsed record rebuilt with audit_record_build() parses again, to an
 *    equal object (what the writer makes, the reader takes);
 *  - a decoded string re-encodes to the same JSON value (one spelling);
 *  - the formatter always terminates its buffer and never emits a byte
 *    outside printable ASCII;
 *  - a log that verifies has exactly one good record per line.
 * The seed corpus (corpus/audit/) was written by the library with the key
 * below, so its seals are checked for real.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jitsu/audit_record.h"
#include "jitsu/audit_verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* seed = 32 bytes of 0x42, start 1795000000, interval 900 */
static const char corpus_key[] = "4242424242424242424242424242424242424242424242424242424242424242"
				 "000000006afd86c000000384d12627c8";
#define FUZZ_NOW (INT64_C(1796000000) * 1000000)

static void check_format(const json_t *obj)
{
	char buf[512];
	audit_record_format(obj, buf, sizeof buf);
	size_t n = strnlen(buf, sizeof buf);
	if (n == sizeof buf)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] > 0x7e)
			abort();
}

static void check_strings(const json_t *v)
{
	size_t i;
	json_t *e;
	char *b;
	size_t n;
	/* json_*_foreach() is a for loop; clang-format would take it for a call. */
	// clang-format off
	json_array_foreach(v, i, e) {
		if (audit_record_decode(e, &b, &n) < 0)
			continue;
		json_t *again = audit_record_bytes(b, n);
		if (!again || !json_equal(again, e))
			abort();
		json_decref(again);
		free(b);
	}
	// clang-format on
}

static void check_rebuild(const struct audit_record *r)
{
	json_t *copy = json_deep_copy(r->obj);
	char *line, err[160];
	size_t len;
	uint8_t hash[AUDIT_HASH_LEN];
	struct audit_record back;
	if (!copy || audit_record_build(copy, r->prev, &line, &len, hash) < 0) {
		json_decref(copy);
		return; /* out of memory, or over the size cap */
	}
	if (audit_record_parse(line, len - 1, &back, err, sizeof err) < 0)
		abort();
	json_object_set_new(copy, "hash",
			    json_string(json_string_value(json_object_get(back.obj, "hash"))));
	if (!json_equal(copy, back.obj) || memcmp(back.hash, hash, sizeof hash) != 0)
		abort();
	audit_record_free(&back);
	json_decref(copy);
	free(line);
}

static size_t each_line(const char *p, size_t size)
{
	size_t lines = 0;
	const char *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct audit_record r;
		char err[160];
		if (audit_record_parse(p, n, &r, err, sizeof err) == 0) {
			check_format(r.obj);
			check_strings(json_object_get(r.obj, "argv"));
			check_rebuild(&r);
			audit_record_free(&r);
		}
		lines++;
		p += n + 1;
	}
	return lines;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_vkey k;
	struct audit_verify_report rep;
	const char *p = (const char *)data;
	if (size > (1u << 20))
		return 0;
	if (audit_record_vkey_parse(corpus_key, &k, NULL, 0) < 0)
		abort();
	size_t lines = each_line(p, size);
	if (audit_verify_buf(p, size, NULL, 0, FUZZ_NOW, &rep) == 0 && rep.records != lines)
		abort();
	if (audit_verify_buf(p, size, &k, 1, FUZZ_NOW, &rep) == 0 && rep.records != lines)
		abort();
	/* short inputs double as a verification key and a time */
	if (size <= 128) {
		char s[129];
		int64_t t;
		memcpy(s, p, size);
		s[size] = '\0';
		audit_record_vkey_parse(s, &k, NULL, 0);
		audit_record_time_parse(s, &t);
	}
	return 0;
}
