/*
 * privsep: the spare pair's unprivileged child, and how the root side
 * starts it. The MUST rules are in privsep.h.
 */
#include "privsep.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jitsu/privsep_msg.h"
#include "jitsu/proto.h"
#include "sandbox.h"
#include "session.h"

#define PRIVSEP_MSG_TIMEOUT 10 /* seconds for one client message, once begun */

__attribute__((noreturn)) static void child_run(uid_t uid, gid_t gid);

/*
 * A plain fork of the spare, before the spare attaches the audit handle:
 * the daemon's memory holds no secret (the audit key is read from disk
 * and wiped at each seal, the policy is world-readable by design), and a
 * fork keeps the pair cheap (an exec per connection would cost more than
 * the rest of it). The child keeps only the channel (fd 3) and /dev/null
 * (0, 1, 2: it must not write into jitsud's log).
 */
int privsep_spawn(const struct jitsud_ctx *ctx, struct privsep_child *c)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		/* Above the target fds first, so that no dup2 lands on it. */
		int chan = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
		if (null < 0 || chan < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
		    dup2(null, 2) < 0 || dup2(chan, PRIVSEP_CHAN_FD) < 0)
			_exit(127);
		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		child_run(ctx->privsep_uid, ctx->privsep_gid);
	}
	int e = pid < 0 ? -errno : 0;
	close(sv[1]);
	if (e < 0) {
		close(sv[0]);
		return e;
	}
	c->pid = pid;
	c->chan = sv[0];
	return 0;
}

int privsep_hand_client(const struct privsep_child *c, int client)
{
	return proto_send(c->chan, PS_CLIENT, NULL, 0, &client, 1);
}

/* The child's view of the conversation. */
struct proxy {
	int chan, client;
	enum ps_state st;
	int deaf;            /* the client broke the protocol: read no more of it */
	int64_t deadline_ms; /* for the awaited request or answer, else -1 */
};

static void send_bad(struct proxy *p, const char *why)
{
	struct proto_buf b;
	proto_buf_init(&b);
	proto_put_u32(&b, PROTO_E_PROTOCOL);
	proto_put_str(&b, why);
	if (b.err)
		_exit(1);
	if (proto_send(p->chan, PS_BAD, b.data, b.len, NULL, 0) < 0)
		_exit(0); /* the root side has ended the session */
	proto_buf_free(&b);
	p->deaf = 1;
}

static void forward(struct proxy *p, uint8_t type, const void *payload, size_t len, const int *fds,
		    unsigned nfds)
{
	if (proto_send(p->chan, type, payload, len, fds, nfds) < 0)
		_exit(0); /* the root side has ended the session */
	p->st = ps_after_child(type, p->st);
	if (p->st != PS_ST_PROMPT && p->st != PS_ST_REQUEST)
		p->deadline_ms = -1;
}

/* The request: decoded with every cap, then re-encoded for the root side. */
static void on_request(struct proxy *p, struct proto_msg *m)
{
	struct proto_exec e;
	struct proto_buf b;
	uint32_t flags;
	char why[128];

	switch (m->type) {
	case PROTO_REQ_EXEC:
		if (m->nfds != PROTO_MAX_FDS || proto_exec_decode(m->payload, m->len, &e) < 0) {
			send_bad(p, "protocol error: malformed request");
			return;
		}
		proto_buf_init(&b);
		proto_exec_encode(&b, &e);
		proto_exec_free(&e);
		if (b.err) {
			proto_buf_free(&b);
			send_bad(p, "protocol error: malformed request");
			return;
		}
		forward(p, PS_EXEC, b.data, b.len, m->fds, m->nfds);
		proto_buf_free(&b);
		return;
	case PROTO_REQ_ENROLL:
		if (!m->nfds && proto_decode_u32(m, &flags) == 0) {
			uint8_t x[4] = {(uint8_t)(flags >> 24), (uint8_t)(flags >> 16),
					(uint8_t)(flags >> 8), (uint8_t)flags};
			forward(p, PS_ENROLL, x, sizeof x, NULL, 0);
			return;
		}
		break;
	case PROTO_REQ_LIST:
	case PROTO_REQ_MFA_STATUS:
		if (!m->nfds && !m->len) {
			forward(p, m->type == PROTO_REQ_LIST ? PS_LIST : PS_MFA_STATUS, NULL, 0,
				NULL, 0);
			return;
		}
		break;
	default:
		snprintf(why, sizeof why, "protocol error: %s %s",
			 m->nfds || m->len ? "malformed" : "unexpected", proto_type_name(m->type));
		send_bad(p, why);
		return;
	}
	snprintf(why, sizeof why, "protocol error: malformed %s", proto_type_name(m->type));
	send_bad(p, why);
}

/* A message after the request, allowed by the state it arrives in. */
static void on_message(struct proxy *p, struct proto_msg *m)
{
	uint32_t sig;
	char *ans = NULL;
	char why[128];

	if (m->nfds)
		goto bad;
	switch (m->type) {
	case PROTO_ANSWER:
		if (p->st != PS_ST_PROMPT || proto_decode_str(m, PROTO_MAX_SHORT, &ans) < 0)
			goto bad;
		explicit_bzero(ans, strlen(ans));
		free(ans);
		/* The same string encoding: the payload, now checked. */
		forward(p, PS_ANSWER, m->payload, m->len, NULL, 0);
		return;
	case PROTO_CANCEL:
		if ((p->st != PS_ST_PROMPT && p->st != PS_ST_WAIT) || m->len)
			goto bad;
		forward(p, PS_CANCEL, NULL, 0, NULL, 0);
		return;
	case PROTO_SIGNAL:
		if ((p->st != PS_ST_RUN && p->st != PS_ST_EXITED) ||
		    proto_decode_u32(m, &sig) < 0 || !ps_forwardable(sig))
			goto bad;
		forward(p, PS_SIGNAL, m->payload, m->len, NULL, 0);
		return;
	case PROTO_RESUME:
		if ((p->st != PS_ST_RUN && p->st != PS_ST_EXITED) || m->len)
			goto bad;
		forward(p, PS_RESUME, NULL, 0, NULL, 0);
		return;
	case PROTO_BYE:
		if (p->st != PS_ST_EXITED || m->len)
			goto bad;
		forward(p, PS_BYE, NULL, 0, NULL, 0);
		return;
	}
bad:
	snprintf(why, sizeof why, "unexpected %s %s", proto_type_name(m->type),
		 p->st == PS_ST_RUN ? "during the run" : "from the client");
	send_bad(p, why);
}

static void from_client(struct proxy *p)
{
	struct proto_msg m;
	int64_t deadline =
		p->deadline_ms >= 0 ? p->deadline_ms : proto_deadline(PRIVSEP_MSG_TIMEOUT);
	int r = proto_recv_until(p->client, &m, p->st == PS_ST_REQUEST ? PROTO_MAX_FDS : 0,
				 deadline);
	if (r == -ECONNRESET)
		_exit(0); /* gone between messages: the root side sees the channel close */
	if (r < 0) {
		/* The root side decides what follows; the proxy stays to relay
		 * its last words (a refusal, the exit status). */
		if (p->st == PS_ST_REQUEST)
			send_bad(p, r == -ETIMEDOUT ? "protocol error: request timed out"
						    : "protocol error: malformed message");
		else
			send_bad(p, r == -ETIMEDOUT ? "a message from the client timed out"
						    : "malformed message from the client");
		return;
	}
	if (p->st == PS_ST_REQUEST)
		on_request(p, &m);
	else
		on_message(p, &m);
	if (m.payload)
		explicit_bzero(m.payload, m.len);
	proto_msg_free(&m);
}

static void from_root(struct proxy *p)
{
	struct proto_msg m;
	enum ps_state next;
	if (proto_recv(p->chan, &m, 1) < 0)
		_exit(0); /* the session is over (or broken): so is the proxy */
	if (ps_check_from_root(&m, p->st, &next) < 0)
		_exit(1);
	if (m.type == PS_CLIENT) {
		p->client = m.fds[0];
		m.fds[0] = -1;
		m.nfds = 0;
		p->deadline_ms = proto_deadline(SESSION_REQUEST_TIMEOUT);
	} else {
		/* A client that stopped reading only hurts its own session. */
		proto_send(p->client, m.type, m.payload, m.len, m.fds, m.nfds);
		if (next == PS_ST_PROMPT)
			p->deadline_ms = proto_deadline(SESSION_PROMPT_TIMEOUT_MAX);
	}
	p->st = next;
	proto_msg_free(&m);
}

static int ms_until(int64_t deadline_ms)
{
	if (deadline_ms < 0)
		return -1;
	int64_t left = deadline_ms - proto_deadline(0);
	return left < 0 ? 0 : (int)left;
}

static void child_run(uid_t uid, gid_t gid)
{
	struct proxy p = {
		.chan = PRIVSEP_CHAN_FD, .client = -1, .st = PS_ST_IDLE, .deadline_ms = -1};
	/* Nothing has been read yet: drop every other descriptor, give up
	 * root, then install the filter, then read. Only ever the privsep
	 * user proxies. */
	syscall(SYS_close_range, PRIVSEP_CHAN_FD + 1, ~0U, 0);
	if (sandbox_drop(uid, gid) < 0 || getuid() == 0 || geteuid() == 0)
		_exit(1);
	if (sandbox_seccomp(p.chan) < 0)
		_exit(1);
	for (;;) {
		int listen_client = p.client >= 0 && !p.deaf;
		struct pollfd f[2] = {{p.chan, POLLIN, 0},
				      {listen_client ? p.client : -1, POLLIN, 0}};
		int n = poll(f, 2, listen_client ? ms_until(p.deadline_ms) : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (n == 0) {
			send_bad(&p, p.st == PS_ST_PROMPT ? "no answer in time"
							  : "protocol error: request timed out");
			continue;
		}
		if (f[0].revents)
			from_root(&p);
		else if (f[1].revents)
			from_client(&p);
	}
}
