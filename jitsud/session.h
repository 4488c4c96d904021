/*
 * session.h: the state of one connection process, shared by the files of
 * jitsud that hold a conversation with the client (session.c, challenge.c).
 */
#ifndef JITSUD_SESSION_H
#define JITSUD_SESSION_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include <termios.h>
#include <time.h>

#include "jitsu/policy.h"
#include "jitsu/proto.h"
#include "jitsu/resolve.h"
#include "jitsud.h"

#define SESSION_MAX_GROUPS 1024
#define SESSION_ANSWER_TIMEOUT 120 /* seconds for the user to answer a prompt */
/* The longest any prompt may wait (a break-glass response is read over the
 * phone); the privsep child's bound, each prompt's own is kept by the root
 * side (session_ask_within). */
#define SESSION_PROMPT_TIMEOUT_MAX 600
#define SESSION_REQUEST_TIMEOUT 10 /* seconds to send the request */

/* The caller, as the kernel reports it. */
struct peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char user[64];
	gid_t gids[SESSION_MAX_GROUPS];
	int ngids;
	char *group_names[SESSION_MAX_GROUPS + 1];
	size_t ngroup_names;
};

/* The target user, copied out of the passwd entry, with its groups. */
struct target {
	uid_t uid;
	gid_t gid;
	gid_t groups[SESSION_MAX_GROUPS];
	int ngroups;
	char user[64];
	char home[1024];
	char shell[1024];
};

/* How far a request got, for what a refusal writes to the trail. */
enum session_stage {
	STAGE_NONE,      /* not an exec request: refusals write nothing */
	STAGE_REQUESTED, /* request recorded: a refusal is the decision */
	STAGE_PERMITTED, /* permit recorded: a refusal gets its own record */
	STAGE_FINAL,     /* decided and recorded, or running */
};

struct session {
	int sock;       /* the channel to the unprivileged child (privsep.h) */
	int client;     /* the client socket: never read; a last error if the child dies */
	pid_t child;    /* the unprivileged child, until reaped */
	int child_dead; /* the child died or was killed: speak to the client directly */
	enum session_stage stage;
	int audit_failed; /* the trail refused a write: do not try again */
	const struct jitsud_ctx *ctx;
	struct peer peer;
	struct target target;
	struct proto_exec req;
	int fds[PROTO_MAX_FDS]; /* stdin, stdout, stderr, cwd */
	struct resolved bin;
	uint8_t sha256[32];
	char sha256_hex[65];
	int is_script;
	struct policy_decision decision;
	int pty_master, pty_slave;
	int tty_fd; /* the user's terminal, held to restore its mode */
	struct termios tty_saved;
	int tty_saved_ok;
	struct timespec started; /* when the command was released */
	pid_t monitor;           /* see spawn.c: mirrors the command's stops and exit */
	pid_t cmd;               /* the command, leader of its process group */
};

/* Refuses with one line to the user and one to the log. */
void session_refuse(struct session *s, enum proto_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sends a status line for the user's stderr. */
void session_notice(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Asks the client prompt (echo off unless echo) and waits up to
 * SESSION_ANSWER_TIMEOUT for one line into buf. Returns 0, or -1 when the
 * client cancelled, vanished, timed out or answered with something else;
 * the user's terminal is then restored from here. The caller wipes buf.
 */
int session_ask(struct session *s, const char *prompt, int echo, char *buf, size_t len);

/* As session_ask, waiting up to secs seconds for the answer. */
int session_ask_within(struct session *s, const char *prompt, int echo, char *buf, size_t len,
		       unsigned secs);

/* The user's terminal mode as it was when the request came, if known. */
void session_restore_tty(struct session *s);

#endif
