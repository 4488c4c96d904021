/*
 * hubcall: jitsud's calls to jitsu-hub, made by a separate helper program
 * (jitsu-hubcall) that runs as an unprivileged user with no new privileges.
 *
 * Why a helper: the network client (libcurl, TLS and everything they pull
 * in) then never runs as root and never maps into jitsud, whose every
 * connection process is forked from it: jitsud stays small and its forks
 * fast. The helper gets the hub link and one request on stdin and answers
 * one JSON object on stdout.
 *
 * MUST rules:
 *  - The helper binary passes the same checks as a command run as root
 *    (root-owned, not writable by others, safe directories) and is
 *    executed through the checked fd.
 *  - It runs as the privsep user (hubcall_run_as(), jitsud
 *    --privsep-user; nobody (65534) if never set) with no supplementary
 *    groups and PR_SET_NO_NEW_PRIVS, with only stdin, stdout, stderr and
 *    the report pipe of its seccomp filter (HUBCALL_REPORT_FD) open. So
 *    does every network step of enrollment: root never runs the network
 *    client.
 *  - Its answer is bounded and parsed as hostile input, and taken only
 *    from a helper that exited by itself with 0 or 1. A helper killed
 *    (by its filter or anything else), exiting otherwise, or silent past
 *    the call's timeout plus HUBCALL_SLACK_MS (then killed) fails the
 *    call, with one log line that says how (the system call by name when
 *    its filter killed it).
 */
#ifndef JITSUD_HUBCALL_H
#define JITSUD_HUBCALL_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "hublink.h"

/*
 * One call to the hub of l (with no Authorization if l has no endpoint
 * id yet, for enrollment): method on path with body (may be NULL). The
 * call ends early, with -ECANCELED, when cancel_fd (if >= 0) becomes
 * readable. On an answer returns 0 with the HTTP status and the JSON
 * object (caller decrefs); else -errno with a one-line reason.
 */
int hubcall(const struct hublink *l, const char *method, const char *path, const json_t *body,
	    long timeout_ms, int cancel_fd, long *status, json_t **answer, char *err,
	    size_t errlen);

/* The user the helper runs as; jitsud sets it once at start. */
void hubcall_run_as(uid_t uid, gid_t gid);

/* For a command that prints every error it gets (jitsud --enroll): no log
 * line of its own for a helper that failed, the error says it all. */
void hubcall_quiet(void);

/* The same as hubcall_run_as() by name (jitsud --enroll): the user must exist and not be
 * root. Returns 0, or -errno with a one-line reason (never falls back). */
int hubcall_run_as_user(const char *name, char *err, size_t errlen);

/* The SHA-256 fingerprint of the certificate the hub at url shows, seen
 * by the helper without trusting it (`jitsu-hubcall fingerprint`), for a
 * person to confirm. Returns 0 or -errno with err. */
int hubcall_peer_fingerprint(const char *url, char fp[HUBCLIENT_FP_LEN + 1], char *err,
			     size_t errlen);

#endif
