/*
 * fuzz-auditchain: what the hub reads from a shipped audit line
 * (hub/auditchain.c). The input is one line as an endpoint may send it.
 * Whatever it is, the columns taken from it must keep their shapes (the
 * MUST rules of auditchain.h), a line called valid must really be one
 * (audit_record_parse agrees), and placing it on a chain must not fail.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auditchain.h"
#include "jitsu/audit_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static int all_in(const char *s, const char *set)
{
	return strspn(s, set) == strlen(s);
}

static int printable_word(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	struct auditchain_rec r;
	struct audit_record rec;
	struct auditchain_head h = {0};

	auditchain_read((const char *)data, size, 41, &r);
	CHECK(r.seq >= 1 && r.seq <= AUDITCHAIN_SEQ_MAX);
	CHECK(strlen(r.line_sha) == 64 && all_in(r.line_sha, hex));
	CHECK((strlen(r.hash) == 64 || !r.hash[0]) && all_in(r.hash, hex));
	CHECK((strlen(r.prev) == 64 || !r.prev[0]) && all_in(r.prev, hex));
	CHECK(!r.event[0] || audit_record_event_ok(r.event));
	CHECK(printable_word(r.user) && strlen(r.user) <= AUDITCHAIN_USER_MAX);
	CHECK(all_in(r.host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"));
	int valid = audit_record_parse((const char *)data, size, &rec, NULL, 0) == 0;
	uint64_t seq = rec.seq;
	if (valid)
		audit_record_free(&rec);
	/* Valid exactly when the library says so (and the seq fits JSON). */
	CHECK((r.validity == AUDITCHAIN_VALID) == (valid && seq <= AUDITCHAIN_SEQ_MAX));
	if (r.validity == AUDITCHAIN_VALID)
		CHECK(r.hash[0] && r.prev[0] && (uint64_t)r.seq == seq);
	if (r.validity == AUDITCHAIN_UNREADABLE)
		CHECK(r.seq == 42);
	/* Placed after an empty head, itself, and the seq before it. */
	CHECK(auditchain_place(&h, &r) <= AUDITCHAIN_BEHIND);
	h.have = 1;
	h.seq = r.seq;
	memcpy(h.hash, r.hash, sizeof h.hash);
	CHECK(auditchain_place(&h, &r) == AUDITCHAIN_BEHIND);
	h.seq = r.seq - 1;
	memcpy(h.hash, r.prev, sizeof h.hash);
	CHECK(r.seq == 1 || auditchain_place(&h, &r) == AUDITCHAIN_NEXT);
	return 0;
}
