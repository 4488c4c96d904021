/*
 * ship: store-and-forward of the audit trail to jitsu-hub. On an enrolled
 * endpoint (<statedir>/hub.conf exists) the main process forks one
 * long-lived shipper process. It reads the local trail (<statedir>/audit/,
 * the rotated files in name order, then audit.log), sends the records the
 * hub has not acknowledged in bounded batches (POST /api/v1/endpoint/audit
 * through jitsu-hubcall), and heartbeats with the last local seq. Its
 * place is a durable cursor, <statedir>/audit-ship.cursor: the last
 * acknowledged seq and that record's hash.
 *
 * MUST rules:
 *  - Elevations never wait for the shipper: it takes no lock the writers
 *    take, reads only complete lines, and runs at a lower priority. While
 *    the hub is down, records simply stay in the local trail.
 *  - At least once, never lost: the cursor moves only after the hub
 *    acknowledged the batch up to exactly its last seq, and is written
 *    atomically (temporary file, fsync, rename, fsync of the directory),
 *    root-only. The hub stores idempotently, so a batch sent again after a
 *    crash is harmless.
 *  - Every line goes: a line the shipper cannot read is still sent (the
 *    hub flags it), never skipped.
 *  - Retention waits for the hub: the trail's writer asks ship_hold_seq()
 *    at each rotation and keeps every file the hub has not fully
 *    acknowledged, whatever --audit-keep says.
 *  - The shipper holds none of the main process's descriptors (socket,
 *    locks, signalfd) and dies with it (PR_SET_PDEATHSIG).
 */
#ifndef JITSUD_SHIP_H
#define JITSUD_SHIP_H

#include <stdint.h>
#include <sys/types.h>

#include "jitsud.h"

#define SHIP_CURSOR_FILE "audit-ship.cursor"
#define SHIP_BATCH_RECORDS 200
#define SHIP_BATCH_BYTES (48 * 1024) /* JSON-escaped lines in one POST */
#define SHIP_INTERVAL_MS 2000        /* looks at the trail at least this often */
#define SHIP_HEARTBEAT_DEFAULT 30    /* seconds */

/* The shipper as the main process sees it. */
struct shipper {
	pid_t pid;             /* 0: not running */
	unsigned failures;     /* quick deaths in a row, for the backoff */
	int64_t started_ms;    /* monotonic */
	int64_t restart_at_ms; /* monotonic; 0: no restart due */
};

/* Retention's floor for the local trail (audit_opts.hold): the first seq
 * the hub has not acknowledged. 0 on an endpoint that is not enrolled; 1
 * (hold everything) when enrolled and the cursor is missing or unusable,
 * so that retention never deletes a record before the hub has it. */
uint64_t ship_hold_seq(const char *state_dir);

/* Forks the shipper if the endpoint is enrolled and it is not running. */
void shipper_start(struct shipper *s, const struct jitsud_config *cfg);
/* For the SIGCHLD loop: 1 if pid was the shipper (a restart is then
 * scheduled, with backoff), else 0. */
int shipper_reaped(struct shipper *s, pid_t pid);
/* Milliseconds until a restart is due, for poll(); -1 if none. */
int shipper_timeout_ms(const struct shipper *s);
/* Restarts the shipper if that is due. */
void shipper_tick(struct shipper *s, const struct jitsud_config *cfg);
/* SIGTERM, then SIGKILL after 2 s; reaps it. */
void shipper_stop(struct shipper *s);

#endif
