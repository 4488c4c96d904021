/*
 * audit: the writer of jitsud's tamper-evident audit trail. Every event is
 * one JSON line in <statedir>/audit/audit.log, hash-chained to the one
 * before and periodically sealed with a forward-secure key. The format and
 * the seal construction are in docs/audit-format.md (see audit_record.h);
 * checking a trail is audit_verify.h.
 *
 * In jitsud: audit_open() once at start, before forking; audit_append() for
 * every event, refusing the command when it fails; audit_tick() from a
 * timer re-armed for *next_secs; audit_seal_now() after daemon_stop. A
 * handle is for one thread at a time (the daemon forks, it does not share
 * a handle between threads).
 *
 * MUST rules:
 *  - audit_append() returns 0 only after the record is written and
 *    fdatasync'd. On any failure (ENOSPC, EROFS, EIO, ...) it returns -errno
 *    with a one-line reason, leaves no partial line behind if it can, and
 *    the caller fails closed: no command runs without its record.
 *  - Every change runs under an exclusive flock() on <dir>/lock and re-reads
 *    the chain head from the log under that lock; nothing about the head or
 *    the key is trusted from memory across calls. So many processes (jitsud
 *    forks one per connection) may share one struct audit_log, or open their
 *    own, and records are never interleaved, lost or numbered twice. flock
 *    locks belong to the open file, which fork() shares: the lock file is
 *    reopened in a process that did not open it.
 *  - A torn tail after a crash (no final newline, or a last line that is not
 *    JSON) is cut off under the lock, and a "recovered" record says how many
 *    bytes were dropped. A last line that is JSON but not a valid record is
 *    not a crash artefact: the append fails and verify must be run.
 *  - The epoch key lives only in seal.key, is read under the lock when
 *    needed and wiped from memory after use. Records written in an epoch are
 *    sealed with that epoch's key before the key advances, and the old key
 *    is replaced atomically (write, fsync, rename, fsync the directory).
 *  - The directory is 0700 and every file 0600, owned by the caller's euid;
 *    files are opened relative to the directory, O_NOFOLLOW and O_CLOEXEC,
 *    so no command run by the daemon inherits them.
 */
#ifndef JITSU_AUDIT_H
#define JITSU_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jitsu/audit_record.h"

#define AUDIT_MAX_FILE_DEFAULT (16ull << 20) /* rotate audit.log at 16 MiB */
#define AUDIT_EPOCH_DEFAULT 900              /* seconds per sealing epoch */

/* Events jitsud writes. Names are [a-z0-9_]{1,32}; any may be used. */
#define AUDIT_EV_REQUEST "request"   /* a client asked to run argv */
#define AUDIT_EV_DECISION "decision" /* permit/deny, rule "file:line" */
#define AUDIT_EV_MFA_OK "mfa_ok"
#define AUDIT_EV_MFA_FAIL "mfa_fail"
#define AUDIT_EV_MFA_LOCKOUT "mfa_lockout"
#define AUDIT_EV_APPROVAL "approval"
#define AUDIT_EV_BREAKGLASS "breakglass" /* outcome granted or refused: docs/breakglass.md */
#define AUDIT_EV_PRIVSEP "privsep"
#define AUDIT_EV_START "start" /* pid */
#define AUDIT_EV_EXIT "exit"   /* status or signal, duration_us */
#define AUDIT_EV_RELOAD "policy_reload"
#define AUDIT_EV_DAEMON_START "daemon_start"
#define AUDIT_EV_DAEMON_STOP "daemon_stop"
/* Written by this library only; audit_append() refuses them. */
#define AUDIT_EV_SEAL "seal"
#define AUDIT_EV_ROTATE "rotate"
#define AUDIT_EV_RECOVERED "recovered"
#define AUDIT_EV_KEY_SETUP "key_setup"

struct audit_opts {
	uint64_t max_file_size; /* rotate audit.log once this big; 0: default */
	unsigned keep_files;    /* rotated files kept; 0: keep them all */
	int64_t (*clock)(void); /* tests only: now in µs; NULL: CLOCK_REALTIME */
	/* Retention's floor, asked at each rotation: the lowest seq a reader
	 * still needs (jitsud: the first record not yet shipped to the hub).
	 * A file holding that seq or a later one is never pruned, whatever
	 * keep_files says. 0: nothing is held. NULL: no floor. */
	uint64_t (*hold)(const void *arg);
	const void *hold_arg;
};

struct audit_log;

/*
 * Opens the audit directory dir, creating it 0700 if missing (its parent
 * must exist), recovers a torn tail and checks the head can be read. o may
 * be NULL for the defaults. On success *out is a handle the caller frees
 * with audit_close(); it stays usable in forked children. Returns 0 or
 * -errno with a reason in err.
 */
int audit_open(const char *dir, const struct audit_opts *o, struct audit_log **out, char *err,
	       size_t errlen);

/*
 * Appends one record of kind event with the members of fields (an object,
 * or NULL; not consumed, not modified). The library adds v, seq, time,
 * host, machine_id, event, prev and hash; fields must not use those names.
 * Before the record it may write a seal (an epoch ended with records in
 * it), a "recovered" record, or a "rotate" record at the top of a new file.
 * Returns 0 once the record is durable, with its number in *seq if seq is
 * not NULL; or -errno (-EINVAL for a bad event or field name) with a
 * one-line reason in err. The caller must then fail closed.
 */
int audit_append(struct audit_log *l, const char *event, const json_t *fields, uint64_t *seq,
		 char *err, size_t errlen);

/*
 * As audit_append(), with flags. AUDIT_DEFER_SYNC writes the record under
 * the lock but leaves the fdatasync to the next synced append by this
 * caller, which makes both durable at once: jitsud writes the request and
 * decision records this way and the command-start record synced, so all
 * three are on disk before the command runs, for the price of one sync.
 * Never end a sequence with a deferred record.
 */
#define AUDIT_DEFER_SYNC 0x1u
int audit_append_flags(struct audit_log *l, const char *event, const json_t *fields, unsigned flags,
		       uint64_t *seq, char *err, size_t errlen);

/*
 * Prepares a handle inherited across fork() for use in this process (its
 * own lock file description), so that the first append does not pay for
 * it. Optional: audit_append() does the same when needed. Returns 0 or
 * -errno with err.
 */
int audit_attach(struct audit_log *l, char *err, size_t errlen);

/*
 * Seals the chain head now with the current epoch key, if any record came
 * after the last seal; call it on clean stop after the daemon_stop record.
 * A no-op without a sealing key. Returns 0 or -errno with err.
 */
int audit_seal_now(struct audit_log *l, char *err, size_t errlen);

/*
 * Epoch housekeeping for a timer: if the current epoch has ended, seals the
 * records written in it and advances the key, erasing the old one. Sets
 * *next_secs to the seconds until the next epoch boundary (60 when no key
 * is set up, to notice a later setup). Returns 0 or -errno with err.
 */
int audit_tick(struct audit_log *l, unsigned *next_secs, char *err, size_t errlen);

/*
 * Creates the sealing key: a random seed, shown once as the verification
 * key (AUDIT_VKEY_HEX_LEN hex digits into vkey_hex, len >= 97) and never
 * stored; seal.key gets the key of epoch 0, derived from it. interval is
 * the epoch length in seconds (0: AUDIT_EPOCH_DEFAULT). If a key exists,
 * returns -EEXIST unless force; with force the records pending under the
 * old key are sealed with it first. Writes a "key_setup" record. Returns 0
 * or -errno with err.
 */
int audit_setup_key(struct audit_log *l, unsigned interval, int force, char *vkey_hex, size_t len,
		    char *err, size_t errlen);

/* Closes the handle's descriptors and frees it. NULL is fine. */
void audit_close(struct audit_log *l);

/*
 * Lists the rotated files of the audit directory dirfd: *seqs gets a
 * malloc'd array of their first seqs, ascending, owned by the caller.
 * Returns 0 or -errno.
 */
int audit_list_rotated(int dirfd, uint64_t **seqs, size_t *n);

#endif
