/*
 * privsep_msg: the closed message table of the internal channel between a
 * jitsud connection's root session and its unprivileged child (the process
 * that reads and decodes everything the client sends; see
 * jitsud/privsep.h).
 *
 * The channel uses the proto framing (include/jitsu/proto.h). The child
 * sends only the PS_* types below, each a compact re-encoding of a client
 * message the child has already decoded and checked. The root session
 * sends the daemon-to-client types of proto.h, which the child relays, and
 * once PS_CLIENT, which hands the child the accepted client socket.
 *
 * MUST rules:
 *  - The table is closed: a type not in it, a type sent in a state that
 *    does not allow it, a payload outside the type's length bounds or a
 *    descriptor count other than the type's exact count is refused. The
 *    root session then kills the child and ends that connection.
 *  - The root session still decodes every payload with the checked
 *    decoders of proto.h: the child is less trusted than root, never
 *    trusted.
 *  - The checks here are pure (no I/O): what passes is what the table
 *    says, nothing else.
 */
#ifndef JITSU_PRIVSEP_MSG_H
#define JITSU_PRIVSEP_MSG_H

#include <stdint.h>

#include "jitsu/proto.h"

/* Where the conversation is, as both ends see it. */
enum ps_state {
	PS_ST_IDLE,    /* child forked ahead, no client yet (root -> child only) */
	PS_ST_REQUEST, /* waiting for the client's one request */
	PS_ST_WAIT,    /* the root session works (checks, approval wait) */
	PS_ST_PROMPT,  /* a PROTO_PROMPT is out: an answer or a cancel is due */
	PS_ST_RUN,     /* the command runs: signals and resumes */
	PS_ST_EXITED,  /* PROTO_EXIT is out: a goodbye is due */
	PS_ST_COUNT,
};

/* Child to root. 128 and up: never a client or a daemon type. */
enum ps_type {
	PS_EXEC = 128,       /* a re-encoded struct proto_exec; fds: 0, 1, 2, cwd */
	PS_LIST = 129,       /* empty */
	PS_ENROLL = 130,     /* u32 flags */
	PS_MFA_STATUS = 131, /* empty */
	PS_ANSWER = 132,     /* string: the answer to the prompt */
	PS_CANCEL = 133,     /* empty: the client gave up waiting */
	PS_SIGNAL = 134,     /* u32: a forwardable signal */
	PS_RESUME = 135,     /* empty */
	PS_BYE = 136,        /* empty */
	PS_BAD = 137,        /* u32 proto_err, string: the client broke the protocol */
	PS_SECCOMP = 138,    /* u32 syscall number: the child hit its filter and dies */

	/* Root to child. */
	PS_CLIENT = 160, /* empty; fd: the accepted client socket */
};

#define PS_MAX_REASON 256 /* PS_BAD's reason, for the log line */

/*
 * Checks a message the root session received from the child against the
 * table in state st. Returns 0, or -EBADMSG for a type not in the table,
 * -EPROTO for a type the state does not allow, -EMSGSIZE for a payload
 * length outside its bounds, -EBADF for a wrong descriptor count.
 */
int ps_check_from_child(const struct proto_msg *m, enum ps_state st);

/*
 * Checks a message the child received from the root session in state st,
 * with the same results. On success *next is the state it moves to.
 */
int ps_check_from_root(const struct proto_msg *m, enum ps_state st, enum ps_state *next);

/* The state the child moves to after forwarding a message of type t. */
enum ps_state ps_after_child(uint8_t type, enum ps_state st);

/* Short names for logs ("EXEC", "REQUEST", "?"). */
const char *ps_type_name(uint8_t type);
const char *ps_state_name(enum ps_state st);

/* The signals a client may forward to its command. */
int ps_forwardable(uint32_t sig);

#endif
