/*
 * trail: what jitsud writes to the tamper-evident audit trail (lib/audit.c)
 * and mirrors to syslog, one function per event.
 *
 * MUST rules:
 *  - The request and decision records and the start record are on disk
 *    before the command runs; the start record's append is the fdatasync
 *    that makes all three durable. If any cannot be written, the command
 *    does not run and the user is told why (fail closed).
 *  - Secrets never reach the trail: no codes, keys or environment values.
 *  - Every record is mirrored as one line to syslog (or stderr with -f).
 */
#ifndef JITSUD_TRAIL_H
#define JITSUD_TRAIL_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "jitsud.h"
#include "session.h"

/* Opens <statedir>/audit. Returns 0 or -errno with a reason in err. */
int trail_open(struct jitsud_ctx *ctx, char *err, size_t errlen);

/* A daemon event (daemon_start, daemon_stop, policy_reload): extra may be
 * NULL and is consumed. Failures are logged; the daemon goes on. */
void trail_daemon(struct jitsud_ctx *ctx, const char *event, json_t *extra);

/* The request as received: who, what, where. Deferred sync. */
int trail_request(struct session *s);

/* The policy decision (or a refusal before one: why != NULL). A permit is
 * written with a deferred sync; a deny or refusal is synced. */
int trail_decision(struct session *s, const char *why);

/* A refusal after a permit (reason missing, MFA failed, ...). Synced. */
int trail_refused(struct session *s, const char *why);

/* An MFA event (mfa_ok, mfa_fail, mfa_lockout, mfa_enroll...), synced. */
int trail_mfa(struct session *s, const char *event, const char *detail);

/* Any other session event with extra fields (consumed), synced. */
int trail_event(struct session *s, const char *event, json_t *fields, char *err, size_t errlen);

/* The command's start, synced: after this returns 0 it may run. */
int trail_start(struct session *s, pid_t pid);

/* The command's end. */
int trail_exit(struct session *s, pid_t pid, int signalled, int value, int64_t duration_us);

#endif
