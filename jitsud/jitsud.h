/*
 * jitsud internals shared by its files: the daemon's configuration and the
 * per-connection entry point.
 */
#ifndef JITSUD_H
#define JITSUD_H

#include <stdint.h>
#include <sys/types.h>

#include "jitsu/policy.h"

/* Fixed exit codes of jitsud itself (jitsud(8)). */
#define JITSUD_EXIT_OK 0
#define JITSUD_EXIT_CONFIG 1 /* bad policy or bad options */
#define JITSUD_EXIT_SYSTEM 2 /* a system call failed at start */

struct jitsud_config {
	const char *policy_path;
	const char *socket_path;
	const char *state_dir;
	int foreground;
	uint64_t audit_rotate;    /* rotate audit.log at this size; 0: the default */
	unsigned audit_keep;      /* rotated audit files kept; 0: all */
	unsigned policy_interval; /* seconds between hub policy fetches; 0: the default */
	unsigned hub_heartbeat;   /* seconds between heartbeats to the hub; 0: default */
	/* The user of the unprivileged children and the hub helper. */
	const char *privsep_user;
};

/* "local", "hub:<group>:<version>" or "none" (policysync.h). */
#define JITSUD_POLICY_VERSION_MAX 96

struct audit_log;

/* What a connection process needs; read-only after fork. */
struct jitsud_ctx {
	const struct jitsud_config *cfg;
	const struct policy *policy;
	char policy_version[JITSUD_POLICY_VERSION_MAX]; /* of policy, for audit records */
	struct audit_log *audit;
	char hostname[256];
	uid_t privsep_uid; /* --privsep-user, looked up at start */
	gid_t privsep_gid;
};

struct privsep_child;

/*
 * Serves one client on sock in a process of its own (forked by the main
 * loop), through the unprivileged child forked ahead with it (privsep.h),
 * then returns. Never returns to the accept loop with privileges or state
 * changed; the caller _exit()s afterwards.
 */
void session_serve(int sock, const struct privsep_child *child, const struct jitsud_ctx *ctx);

#endif
