/*
 * auditchain: what the hub makes of one audit record an endpoint ships
 * (POST /api/v1/endpoint/audit), with no I/O. auditchain_read() reads a
 * raw line (docs/audit-format.md) into the columns the hub stores and
 * tells whether the line is a valid record whose hash matches its bytes;
 * auditchain_place() compares its seq and prev with the endpoint's chain
 * head at the hub. storage_audit.c acts on the verdicts (store, flag,
 * alert) and hub/api_audit.c drives both.
 *
 * MUST rules:
 *  - The hash is recomputed from the line's exact bytes (audit_record_parse);
 *    nothing the line claims about itself is trusted before that.
 *  - A line that is not a valid record is still read as far as it can be
 *    (its seq, its claimed hash), so that it can be stored flagged rather
 *    than dropped: nothing an endpoint ships is silently lost.
 *  - Every string taken from a line is bounded and checked for its shape
 *    before it lands in a column; what does not fit is left empty.
 */
#ifndef JITSU_HUB_AUDITCHAIN_H
#define JITSU_HUB_AUDITCHAIN_H

#include <stddef.h>
#include <stdint.h>

#define AUDITCHAIN_HASH_HEX 64
#define AUDITCHAIN_EVENT_MAX 32
#define AUDITCHAIN_USER_MAX 64
#define AUDITCHAIN_HOST_MAX 253
#define AUDITCHAIN_WHY_MAX 160
#define AUDITCHAIN_SEQ_MAX 9007199254740991LL /* 2^53 - 1: exact in JSON everywhere */

/* The chain head the hub holds for one endpoint. */
struct auditchain_head {
	int have;                           /* 0: nothing received from this endpoint yet */
	int64_t seq;                        /* the last stored record's seq */
	char hash[AUDITCHAIN_HASH_HEX + 1]; /* its hash (as it claims); "" if unknown */
};

enum auditchain_validity {
	AUDITCHAIN_VALID = 0,  /* a record whose hash matches its bytes */
	AUDITCHAIN_BAD_HASH,   /* readable, but not a valid record (hash, shape) */
	AUDITCHAIN_UNREADABLE, /* not even a seq could be read */
};

/* One shipped line, read. Empty strings where a member is absent or unfit. */
struct auditchain_rec {
	enum auditchain_validity validity;
	int64_t seq;                            /* >= 1; for an unreadable line, prev_seq + 1 */
	int64_t time_us;                        /* 0 if unreadable */
	char hash[AUDITCHAIN_HASH_HEX + 1];     /* as the line claims; "" if none */
	char prev[AUDITCHAIN_HASH_HEX + 1];     /* likewise */
	char line_sha[AUDITCHAIN_HASH_HEX + 1]; /* SHA-256 of the line's bytes: its identity */
	char event[AUDITCHAIN_EVENT_MAX + 1];
	char user[AUDITCHAIN_USER_MAX + 1];
	char host[AUDITCHAIN_HOST_MAX + 1];
	char why[AUDITCHAIN_WHY_MAX]; /* for a line that is not valid */
};

/*
 * Reads line (len bytes, no newline) shipped by an endpoint. prev_seq is
 * the seq of the line shipped just before it (the batch's "after" for the
 * first): an unreadable line takes the place after it, as the endpoint
 * counts too. Always fills r; never fails. Pure.
 */
void auditchain_read(const char *line, size_t len, int64_t prev_seq, struct auditchain_rec *r);

enum auditchain_place {
	AUDITCHAIN_NEXT = 0, /* seq is head + 1 and prev is the head's hash (or the first ever) */
	AUDITCHAIN_BROKEN,   /* seq is head + 1 but prev is not the head's hash */
	AUDITCHAIN_GAP,      /* seq jumps past head + 1 (or the first ever is not 1) */
	AUDITCHAIN_BEHIND,   /* seq <= head: a repeat, a fork or a rewind (storage tells) */
};

/* Where r falls against head h. Pure. */
enum auditchain_place auditchain_place(const struct auditchain_head *h,
				       const struct auditchain_rec *r);

#endif
