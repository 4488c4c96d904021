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
 *    groups and PR_SET_NO_NEW_PRIVS, with only stdin, stdout and stderr
 *    open.
 *  - Its answer is bounded and parsed as hostile input.
 */
#ifndef JITSUD_HUBCALL_H
#define JITSUD_HUBCALL_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "hublink.h"

/*
 * One call to the hub of l: method on path with body (may be NULL). The
 * call ends early, with -ECANCELED, when cancel_fd (if >= 0) becomes
 * readable. On an answer returns 0 with the HTTP status and the JSON
 * object (caller decrefs); else -errno with a one-line reason.
 */
int hubcall(const struct hublink *l, const char *method, const char *path, const json_t *body,
	    long timeout_ms, int cancel_fd, long *status, json_t **answer, char *err,
	    size_t errlen);

/* The user the helper runs as; jitsud sets it once at start. */
void hubcall_run_as(uid_t uid, gid_t gid);

/* Runs `jitsu-hubcall enroll ...` in place of this process (as root, for
 * jitsud --enroll), the endpoint put into policy group if not NULL.
 * Returns only on failure, with err. */
int hubcall_exec_enroll(const char *statedir, const char *url, const char *token,
			const char *fingerprint, const char *group, char *err, size_t errlen);

#endif
