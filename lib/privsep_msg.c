/*
 * privsep_msg: the closed table of the internal channel. The MUST rules are
 * in include/jitsu/privsep_msg.h.
 */
#include "jitsu/privsep_msg.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>

#define BIT(s) (1u << (s))
#define ALL_BUT_IDLE                                                                               \
	(BIT(PS_ST_REQUEST) | BIT(PS_ST_WAIT) | BIT(PS_ST_PROMPT) | BIT(PS_ST_RUN) |               \
	 BIT(PS_ST_EXITED))

struct ps_rule {
	uint8_t type;
	unsigned states; /* BIT(state) for each state that allows it */
	unsigned nfds;   /* exact */
	uint32_t minlen, maxlen;
	const char *name;
};

/* What the child may send, and when. Nothing else passes. */
static const struct ps_rule from_child[] = {
	{PS_EXEC, BIT(PS_ST_REQUEST), 4, 1, PROTO_MAX_PAYLOAD, "EXEC"},
	{PS_LIST, BIT(PS_ST_REQUEST), 0, 0, 0, "LIST"},
	{PS_ENROLL, BIT(PS_ST_REQUEST), 0, 4, 4, "ENROLL"},
	{PS_MFA_STATUS, BIT(PS_ST_REQUEST), 0, 0, 0, "MFA_STATUS"},
	{PS_ANSWER, BIT(PS_ST_PROMPT), 0, 4, 4 + PROTO_MAX_SHORT, "ANSWER"},
	{PS_CANCEL, BIT(PS_ST_PROMPT) | BIT(PS_ST_WAIT), 0, 0, 0, "CANCEL"},
	/* A signal may cross the command's exit on the way: the exited state
	 * takes (and ignores) it too. */
	{PS_SIGNAL, BIT(PS_ST_RUN) | BIT(PS_ST_EXITED), 0, 4, 4, "SIGNAL"},
	{PS_RESUME, BIT(PS_ST_RUN) | BIT(PS_ST_EXITED), 0, 0, 0, "RESUME"},
	{PS_BYE, BIT(PS_ST_EXITED), 0, 0, 0, "BYE"},
	{PS_BAD, ALL_BUT_IDLE, 0, 8, 8 + PS_MAX_REASON, "BAD"},
	{PS_SECCOMP, ALL_BUT_IDLE | BIT(PS_ST_IDLE), 0, 4, 4, "SECCOMP"},
};

static const struct ps_rule *rule_for(uint8_t type)
{
	for (size_t i = 0; i < sizeof from_child / sizeof from_child[0]; i++)
		if (from_child[i].type == type)
			return &from_child[i];
	return NULL;
}

int ps_check_from_child(const struct proto_msg *m, enum ps_state st)
{
	const struct ps_rule *r = rule_for(m->type);
	if (!r)
		return -EBADMSG;
	if ((unsigned)st >= PS_ST_COUNT || !(r->states & BIT(st)))
		return -EPROTO;
	if (m->len < r->minlen || m->len > r->maxlen)
		return -EMSGSIZE;
	if (m->nfds != r->nfds)
		return -EBADF;
	return 0;
}

int ps_check_from_root(const struct proto_msg *m, enum ps_state st, enum ps_state *next)
{
	if ((unsigned)st >= PS_ST_COUNT)
		return -EPROTO;
	if (m->type == PS_CLIENT) {
		if (st != PS_ST_IDLE)
			return -EPROTO;
		if (m->len)
			return -EMSGSIZE;
		if (m->nfds != 1)
			return -EBADF;
		*next = PS_ST_REQUEST;
		return 0;
	}
	enum ps_state to = st;
	switch (m->type) {
	case PROTO_ERROR:
	case PROTO_TEXT:
	case PROTO_NOTICE:
	case PROTO_OTPAUTH:
	case PROTO_STATUS: break;
	case PROTO_PROMPT: to = PS_ST_PROMPT; break;
	case PROTO_STARTED: to = PS_ST_RUN; break;
	case PROTO_SUSPEND:
		if (st != PS_ST_RUN)
			return -EPROTO;
		break;
	case PROTO_EXIT:
		if (st != PS_ST_RUN)
			return -EPROTO;
		to = PS_ST_EXITED;
		break;
	default: return -EBADMSG;
	}
	if (st == PS_ST_IDLE)
		return -EPROTO;
	if (m->len > PROTO_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (m->nfds > (m->type == PROTO_STARTED ? 1u : 0u))
		return -EBADF;
	*next = to;
	return 0;
}

enum ps_state ps_after_child(uint8_t type, enum ps_state st)
{
	switch (type) {
	case PS_EXEC:
	case PS_LIST:
	case PS_ENROLL:
	case PS_MFA_STATUS:
	case PS_ANSWER:
	case PS_CANCEL: return PS_ST_WAIT;
	}
	return st;
}

const char *ps_type_name(uint8_t type)
{
	const struct ps_rule *r = rule_for(type);
	if (r)
		return r->name;
	if (type == PS_CLIENT)
		return "CLIENT";
	return proto_type_name(type);
}

const char *ps_state_name(enum ps_state st)
{
	static const char *const names[PS_ST_COUNT] = {"IDLE",   "REQUEST", "WAIT",
						       "PROMPT", "RUN",     "EXITED"};
	return (unsigned)st < PS_ST_COUNT ? names[st] : "?";
}

int ps_forwardable(uint32_t sig)
{
	switch (sig) {
	case SIGINT:
	case SIGQUIT:
	case SIGTERM:
	case SIGHUP:
	case SIGTSTP:
	case SIGCONT:
	case SIGUSR1:
	case SIGUSR2:
	case SIGALRM:
	case SIGWINCH: return 1;
	}
	return 0;
}
