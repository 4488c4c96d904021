/* auditchain: reading shipped audit lines and placing them on the chain;
 * see auditchain.h. */
#include "auditchain.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "jitsu/audit_record.h"
#include "jitsu/digest.h"

static const char zero_hash[AUDITCHAIN_HASH_HEX + 1] =
	"0000000000000000000000000000000000000000000000000000000000000000";

/* Copies string s into out (size bytes) if every byte is in 0x21..0x7e, or
 * also '.'-'-' class for hosts; otherwise leaves out empty. */
static void copy_word(const char *s, char *out, size_t size, int host)
{
	size_t n = s ? strlen(s) : 0;
	out[0] = '\0';
	if (n == 0 || n >= size)
		return;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int ok = host ? (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
					 (c >= 'A' && c <= 'Z') || c == '.' || c == '-'
			      : c > 0x20 && c < 0x7f;
		if (!ok)
			return;
	}
	memcpy(out, s, n + 1);
}

static int is_hash_hex(const char *s)
{
	uint8_t raw[AUDIT_HASH_LEN];
	return s && strlen(s) == AUDITCHAIN_HASH_HEX && audit_record_unhex(s, raw, sizeof raw) == 0;
}

/* The columns of a parsed object, as far as they are well-formed. */
static void columns(const json_t *o, struct auditchain_rec *r)
{
	const char *hash = json_string_value(json_object_get(o, "hash"));
	const char *prev = json_string_value(json_object_get(o, "prev"));
	const char *event = json_string_value(json_object_get(o, "event"));
	const char *time = json_string_value(json_object_get(o, "time"));

	if (is_hash_hex(hash))
		memcpy(r->hash, hash, AUDITCHAIN_HASH_HEX + 1);
	if (is_hash_hex(prev))
		memcpy(r->prev, prev, AUDITCHAIN_HASH_HEX + 1);
	if (event && audit_record_event_ok(event))
		snprintf(r->event, sizeof r->event, "%s", event);
	if (!time || audit_record_time_parse(time, &r->time_us) != 0)
		r->time_us = 0;
	copy_word(json_string_value(json_object_get(o, "user")), r->user, sizeof r->user, 0);
	copy_word(json_string_value(json_object_get(o, "host")), r->host, sizeof r->host, 1);
}

void auditchain_read(const char *line, size_t len, int64_t prev_seq, struct auditchain_rec *r)
{
	struct audit_record rec;
	char why[AUDITCHAIN_WHY_MAX] = "";
	uint8_t sha[DIGEST_SHA256_LEN];

	memset(r, 0, sizeof *r);
	digest_sha256(line, len, sha);
	audit_record_hex(sha, sizeof sha, r->line_sha);
	if (audit_record_parse(line, len, &rec, why, sizeof why) == 0) {
		if ((int64_t)rec.seq <= AUDITCHAIN_SEQ_MAX) {
			r->validity = AUDITCHAIN_VALID;
			r->seq = (int64_t)rec.seq;
			columns(rec.obj, r);
			r->time_us = rec.time_us;
			audit_record_free(&rec);
			return;
		}
		snprintf(why, sizeof why, "seq out of range");
		audit_record_free(&rec);
	}
	/* Not a valid record: read what can be read, so it is stored flagged. */
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *seq = json_object_get(o, "seq");
	json_int_t s = json_is_integer(seq) ? json_integer_value(seq) : 0;
	if (json_is_object(o) && s >= 1 && s <= AUDITCHAIN_SEQ_MAX) {
		r->validity = AUDITCHAIN_BAD_HASH;
		r->seq = (int64_t)s;
		columns(o, r);
		snprintf(r->why, sizeof r->why, "not a valid record: %.120s", why[0] ? why : "?");
	} else {
		r->validity = AUDITCHAIN_UNREADABLE;
		r->seq = prev_seq >= 0 && prev_seq < AUDITCHAIN_SEQ_MAX ? prev_seq + 1 : 1;
		snprintf(r->why, sizeof r->why, "unreadable line (no seq): %.120s",
			 why[0] ? why : "?");
	}
	json_decref(o);
}

enum auditchain_place auditchain_place(const struct auditchain_head *h,
				       const struct auditchain_rec *r)
{
	int64_t next = h->have ? h->seq + 1 : 1;
	const char *want = h->have ? h->hash : zero_hash;

	if (r->seq > next)
		return AUDITCHAIN_GAP;
	if (r->seq < next)
		return AUDITCHAIN_BEHIND;
	/* An unknown head hash (after an unreadable line) or an unreadable
	 * prev: the link cannot be checked; the line itself is flagged. */
	if (!want[0] || !r->prev[0] || strcmp(want, r->prev) == 0)
		return AUDITCHAIN_NEXT;
	return AUDITCHAIN_BROKEN;
}
