/*
 * policysync: the hub's central policy on an enrolled endpoint. A fetch
 * runs in a child process of its own (the network in jitsu-hubcall, through
 * hubcall()), at start, on SIGHUP and every interval seconds; it checks
 * what the hub sent and, when it changed, writes <statedir>/policy.cache.
 * The main process then loads the policy to enforce with policysync_load(),
 * as a SIGHUP reload loads the local file.
 *
 * Which policy is enforced (jitsu.conf(5), docs/hub.md):
 *  - not enrolled (no <statedir>/hub.conf), or enrolled and the hub said
 *    this endpoint is in no group, or no answer from the hub yet: the local
 *    file; policy_version "local";
 *  - enrolled and the cache names a group: that group's cached version,
 *    whether or not the hub is reachable now; the local file is ignored
 *    (logged); policy_version "hub:<group>:<version>";
 *  - enrolled and the cache is unusable (unreadable, altered, unparsable):
 *    nothing is permitted until the hub answers (fail closed, logged);
 *    policy_version "none".
 *
 * MUST rules:
 *  - The main process never waits for the hub: the fetch is a child, and
 *    the main process only reads a local file when the child has ended.
 *  - What the hub sent is checked whole (policydoc.h) and parsed with the
 *    policy parser before it is cached; the cache is replaced atomically
 *    (write, fsync, rename), root-owned 0600 in the 0700 state directory,
 *    and read back only if it is a regular root-owned file without group or
 *    other permissions.
 *  - A failed fetch changes nothing: the policy in force stays. A version
 *    that does not parse here keeps an older version of the same group in
 *    force; in any other case it is cached, and so denies everything.
 */
#ifndef JITSUD_POLICYSYNC_H
#define JITSUD_POLICYSYNC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "jitsud.h"

#define POLICYSYNC_CACHE "policy.cache"
#define POLICYSYNC_INTERVAL 60 /* seconds between fetches, by default */
#define POLICYSYNC_INTERVAL_MAX 86400
#define POLICYSYNC_VERSION_MAX 96 /* bytes of a policy_version label */

struct policysync {
	const struct jitsud_config *cfg;
	pid_t pid;          /* the fetch running (leading its process group), or 0 */
	int64_t started_ms; /* when it started, CLOCK_MONOTONIC */
	int again;          /* a fetch was asked for while one ran */
	int timer_fd;       /* fires every cfg->policy_interval seconds */
};

/* Sets s up (no fetch yet). Returns 0 or -errno. */
int policysync_init(struct policysync *s, const struct jitsud_config *cfg);

/* The fd to poll; when readable call policysync_timer(). */
int policysync_fd(const struct policysync *s);

/* Starts a fetch unless one runs (then one more follows it; a fetch
 * running for over twice the hub call's timeout is killed, with its
 * helper). Does nothing on an endpoint that is not enrolled. */
void policysync_start(struct policysync *s);

/* The timer fired: starts a fetch. */
void policysync_timer(struct policysync *s);

/*
 * Called for every child the main process reaps. Returns 0 when pid is not
 * the fetch; 1 when it was and the cache did not change; 2 when it was and
 * the cache changed (load it).
 */
int policysync_reaped(struct policysync *s, pid_t pid, int status);

/* Stops a running fetch (at daemon stop). */
void policysync_stop(struct policysync *s);

/*
 * The policy to enforce now, by the rules above, canonicalised; version
 * gets its policy_version label. NULL when the local file is the one to
 * enforce and it cannot be loaded (reported through report).
 */
struct policy *policysync_load(const struct jitsud_config *cfg, policy_error_fn report,
			       char *version, size_t len);

/* Prints what `jitsud -t` says about the cached hub policy, if any.
 * Returns 1 when a cached hub policy would be enforced (and is valid), 0
 * when the local file would be, -1 when the cache is unusable. */
int policysync_test(const struct jitsud_config *cfg);

#endif
