/*
 * audit_verify: reads an audit trail written by audit.h and checks it: the
 * hash chain across rotated files, retention, and with verification keys
 * every seal. Used by `jitsuctl audit verify` and `jitsuctl audit show`.
 *
 * MUST rules:
 *  - Verification never writes to the audit directory and trusts nothing
 *    in it but the records' own bytes: not seal.key, not file names beyond
 *    the first seq they promise. It holds the writers' lock (shared) only
 *    while it opens the files, never while it reads them.
 *  - The first problem stops verification and is reported with its seq and
 *    reason; nothing after it counts as verified.
 *  - With keys, a seal counts only if its key id is one of the keys given
 *    and its MAC is right; its epoch may neither go back for one key nor
 *    lie in the future; and no record it covers may be older than the start
 *    of its epoch (less a little clock slack). That last rule is what makes
 *    rewriting a past epoch with a later, stolen key detectable.
 *  - Hostile input costs bounded memory (AUDIT_MAX_LINE per line) and
 *    bounded CPU (epoch keys are derived incrementally, up to now only).
 */
#ifndef JITSU_AUDIT_VERIFY_H
#define JITSU_AUDIT_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "jitsu/audit_record.h"

struct audit_verify_report {
	uint64_t records;       /* records read and found good */
	uint64_t seals;         /* seal records among them */
	uint64_t seals_checked; /* seals whose MAC was checked with a key */
	uint64_t first_seq;     /* of the oldest record present */
	uint64_t last_seq;
	uint64_t unsealed;              /* with keys: good records after the last seal */
	uint64_t bad_seq;               /* 0 if all is well, else where it went wrong */
	char file[AUDIT_FILE_NAME_MAX]; /* the file of the problem */
	char reason[256];               /* what went wrong, one line */
};

/*
 * Verifies the audit directory dir. keys (nkeys, may be 0) are the
 * verification keys whose seals are to be checked; without keys seals are
 * counted but not checked. now is the current time in µs (0: the clock).
 * Fills *rep. Returns 0 if the trail is intact, -EBADMSG if it is not (the
 * first bad seq and the reason are in rep), or -errno if it could not be
 * read (the reason is in rep too).
 */
int audit_verify_dir(const char *dir, const struct audit_vkey *keys, size_t nkeys, int64_t now,
		     struct audit_verify_report *rep);

/*
 * The same over len bytes of log held in memory, taken as the whole chain
 * (one file, no name to check). What the fuzzer drives.
 */
int audit_verify_buf(const char *buf, size_t len, const struct audit_vkey *keys, size_t nkeys,
		     int64_t now, struct audit_verify_report *rep);

/*
 * Calls fn for every line of the trail in dir, oldest first, without
 * checking the chain: r is the parsed record, or NULL for a line that does
 * not parse, with the reason in why. line/len is the raw line without its
 * newline. fn returns 0 to go on; any other value stops the walk and is
 * returned. Returns 0, that value, or -errno with a reason in err.
 */
typedef int (*audit_verify_each_fn)(const struct audit_record *r, const char *line, size_t len,
				    const char *why, void *ctx);
int audit_verify_each(const char *dir, audit_verify_each_fn fn, void *ctx, char *err,
		      size_t errlen);

#endif
