/*
 * session: one client connection, in its own forked process.
 *
 * MUST rules:
 *  - The caller is who SO_PEERCRED and SO_PEERGROUPS say on the accepted
 *    socket, never what a message says.
 *  - Nothing here reads the client socket: the client's messages arrive
 *    from the unprivileged child (privsep.h), each checked against the
 *    closed table of privsep_msg.h in the state it arrives in. A message
 *    outside it kills the child and ends the connection.
 *  - The request is read under a deadline and fully decoded and checked
 *    before anything acts on it; a malformed one ends the connection.
 *  - The command is looked up with the caller's own credentials, then
 *    checked and hashed as root, and exactly that open file is executed.
 *  - Every refusal reaches the user as one line and the log with a reason.
 *  - The command never receives the user's terminal: ttys are replaced by
 *    a fresh pty whose master goes to the client for relaying.
 *  - If the client goes away, the command's process group gets SIGHUP and
 *    the user's terminal mode is restored from here.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "jitsu/audit.h"
#include "jitsu/envbuild.h"
#include "jitsu/log.h"
#include "jitsu/privsep_msg.h"
#include "jitsu/proto.h"
#include "jitsu/resolve.h"
#include "approval.h"
#include "breakglass.h"
#include "challenge.h"
#include "jitsud.h"
#include "privsep.h"
#include "sandbox.h"
#include "session.h"
#include "spawn.h"
#include "trail.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

#define SESSION_CHILD_SLACK 5 /* seconds the child's own deadlines come first */
#define SESSION_BYE_TIMEOUT 2 /* seconds to say goodbye after the exit */
#define SESSION_KILL_GRACE 5  /* seconds from SIGTERM to SIGKILL at time-out */

static int peer_identify(int sock, struct peer *p)
{
	struct ucred uc;
	socklen_t len = sizeof uc;
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	p->uid = uc.uid;
	p->gid = uc.gid;
	p->pid = uc.pid;
	len = sizeof p->gids;
	if (getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, p->gids, &len) < 0)
		return -errno;
	p->ngids = (int)(len / sizeof(gid_t));

	struct passwd *pw = getpwuid(p->uid);
	if (!pw || strlen(pw->pw_name) >= sizeof p->user)
		return -ENOENT;
	strcpy(p->user, pw->pw_name);

	/* Group rules match by name: the primary group and every
	 * supplementary group the kernel reports. */
	p->ngroup_names = 0;
	for (int i = -1; i < p->ngids; i++) {
		struct group *g = getgrgid(i < 0 ? p->gid : p->gids[i]);
		if (!g)
			continue;
		char *n = strdup(g->gr_name);
		if (!n)
			return -ENOMEM;
		p->group_names[p->ngroup_names++] = n;
	}
	return 0;
}

static void peer_free(struct peer *p)
{
	for (size_t i = 0; i < p->ngroup_names; i++)
		free(p->group_names[i]);
	p->ngroup_names = 0;
}

static int target_lookup(const char *name, struct target *t)
{
	struct passwd *pw = getpwnam(name[0] ? name : "root");
	if (!pw || strlen(pw->pw_name) >= sizeof t->user || strlen(pw->pw_dir) >= sizeof t->home ||
	    strlen(pw->pw_shell) >= sizeof t->shell)
		return -ENOENT;
	t->uid = pw->pw_uid;
	t->gid = pw->pw_gid;
	strcpy(t->user, pw->pw_name);
	strcpy(t->home, pw->pw_dir);
	strcpy(t->shell, pw->pw_shell[0] ? pw->pw_shell : "/bin/sh");
	/* As initgroups() would, but here, before the fork, so the child
	 * only has to set them. */
	t->ngroups = SESSION_MAX_GROUPS;
	if (getgrouplist(t->user, t->gid, t->groups, &t->ngroups) < 0)
		return -E2BIG;
	return 0;
}

void session_refuse(struct session *s, enum proto_err code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	/* clang 14 misreads va_start under _FORTIFY_SOURCE. */
	vsnprintf(msg, sizeof msg, fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
	va_end(ap);
	if (s->stage == STAGE_NONE || s->audit_failed)
		log_warn("refused: user=%s uid=%u pid=%d: %s", s->peer.user[0] ? s->peer.user : "?",
			 (unsigned)s->peer.uid, (int)s->peer.pid, msg);
	else if (s->stage == STAGE_REQUESTED)
		trail_decision(s, msg);
	else if (s->stage == STAGE_PERMITTED)
		trail_refused(s, msg);
	s->stage = STAGE_FINAL;
	proto_send_error(s->child_dead ? s->client : s->sock, code, msg);
}

/* Reaps the child; kills it first if it still runs. Returns its status. */
static int child_reap(struct session *s)
{
	int st = 0;
	if (s->child <= 0)
		return 0;
	kill(s->child, SIGKILL);
	while (waitpid(s->child, &st, 0) < 0 && errno == EINTR)
		;
	s->child = 0;
	return st;
}

/* The child is gone for a reason that is not the client's leaving: log and
 * record it; from here the last word goes to the client directly. */
static void child_failed(struct session *s, pid_t pid, const char *why)
{
	char err[256];
	s->child_dead = 1;
	log_err("user=%s uid=%u pid=%d: unprivileged child %d %s: ending the connection",
		s->peer.user[0] ? s->peer.user : "?", (unsigned)s->peer.uid, (int)s->peer.pid,
		(int)pid, why);
	json_t *f = json_pack("{s:i,s:s}", "child_pid", (int)pid, "why", why);
	if (trail_event(s, AUDIT_EV_PRIVSEP, f, err, sizeof err) < 0)
		log_err("%s", err);
}

/* Reports a child that ended other than by exiting 0 (which it does when
 * the client or the session is gone). */
static void child_status(struct session *s, pid_t pid, int st)
{
	char why[64];
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;
	if (WIFSIGNALED(st))
		snprintf(why, sizeof why, "died of signal %d", WTERMSIG(st));
	else
		snprintf(why, sizeof why, "exited with status %d", WEXITSTATUS(st));
	child_failed(s, pid, why);
}

/* The channel closed: the client left (the child exits 0), or the child
 * died. Only the second is news. */
static void child_ended(struct session *s)
{
	pid_t pid = s->child;
	int st = child_reap(s);
	if (pid > 0)
		child_status(s, pid, st);
}

/*
 * Reads the child's next message, which the table must allow in state st,
 * by deadline_ms. Returns 0; -ETIMEDOUT; -ECONNRESET when the channel
 * closed (child_ended() has told why); -EPROTO after killing a child that
 * broke the table, or that reported a system call its filter refused.
 */
static int session_recv(struct session *s, enum ps_state st, struct proto_msg *m,
			int64_t deadline_ms)
{
	char why[160], name[64];
	uint32_t nr;
	int r = proto_recv_until(s->sock, m, PROTO_MAX_FDS, deadline_ms);
	if (r == -ETIMEDOUT)
		return r;
	if (r == -ECONNRESET) {
		child_ended(s);
		return r;
	}
	if (r < 0)
		snprintf(why, sizeof why, "sent a malformed frame");
	else if ((r = ps_check_from_child(m, st)) < 0)
		snprintf(why, sizeof why, "sent %s in state %s (%s)", ps_type_name(m->type),
			 ps_state_name(st), strerror(-r));
	else if (m->type != PS_SECCOMP)
		return 0;
	else {
		proto_decode_u32(m, &nr);
		sandbox_syscall_name((int)nr, name, sizeof name);
		snprintf(why, sizeof why, "broke its seccomp filter: system call %s", name);
	}
	proto_msg_free(m);
	pid_t pid = s->child;
	child_reap(s);
	child_failed(s, pid, why);
	return -EPROTO;
}

/*
 * Looks the command up with the caller's credentials, so nobody can probe
 * paths they could not reach themselves, then switches back to root.
 */
static int resolve_as_caller(struct session *s, char *err, size_t errlen)
{
	const struct peer *p = &s->peer;
	if (setgroups((size_t)p->ngids, p->gids) < 0 ||
	    setresgid((gid_t)-1, p->gid, (gid_t)-1) < 0 ||
	    setresuid((uid_t)-1, p->uid, (uid_t)-1) < 0) {
		snprintf(err, errlen, "cannot assume caller credentials: %s", strerror(errno));
		return -EPERM;
	}
	int r = resolve_command(s->req.argv[0], s->fds[3], &s->bin, err, errlen);
	if (setresuid((uid_t)-1, 0, (uid_t)-1) < 0 || setresgid((gid_t)-1, 0, (gid_t)-1) < 0 ||
	    setgroups(0, NULL) < 0) {
		/* Cannot get root back: this process is useless but harmless. */
		log_err("cannot restore root credentials: %s", strerror(errno));
		_exit(1);
	}
	return r;
}

static int check_request(struct session *s)
{
	struct stat st;
	if (s->fds[0] < 0 || s->fds[1] < 0 || s->fds[2] < 0 || s->fds[3] < 0 ||
	    fstat(s->fds[3], &st) < 0 || !S_ISDIR(st.st_mode)) {
		session_refuse(s, PROTO_E_PROTOCOL,
			       "protocol error: expected stdin, stdout, stderr and a cwd");
		return -1;
	}
	if (target_lookup(s->req.target, &s->target) < 0) {
		session_refuse(s, PROTO_E_USAGE, "unknown target user '%s'", s->req.target);
		return -1;
	}
	char err[PATH_MAX + 128];
	int r = resolve_as_caller(s, err, sizeof err);
	if (r < 0) {
		session_refuse(s, r == -ENOENT ? PROTO_E_NOTFOUND : PROTO_E_NOEXEC, "%s", err);
		return -1;
	}
	if (resolve_check_safe(&s->bin, err, sizeof err) < 0) {
		session_refuse(s, PROTO_E_NOEXEC, "%s", err);
		return -1;
	}
	r = resolve_sha256(&s->bin, s->sha256, &s->is_script);
	if (r < 0) {
		session_refuse(s, PROTO_E_NOEXEC, "%s: cannot read: %s", s->bin.path, strerror(-r));
		return -1;
	}
	resolve_hex(s->sha256, sizeof s->sha256, s->sha256_hex);
	return 0;
}

static void decide(struct session *s)
{
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	struct policy_request pr = {
		.user = s->peer.user,
		.groups = (const char *const *)s->peer.group_names,
		.ngroups = s->peer.ngroup_names,
		.target = s->target.user,
		.cmd = s->bin.path,
		.args = s->req.argv + 1,
		.nargs = s->req.argc - 1,
		.sha256 = s->sha256,
		.wday = tm.tm_wday,
		.minute = (unsigned)(tm.tm_hour * 60 + tm.tm_min),
	};
	policy_eval(s->ctx->policy, &pr, &s->decision);
}

/* Returns 0 when every requirement of the permit is met, else refuses. */
static int check_requirements(struct session *s)
{
	const struct policy_decision *d = &s->decision;
	if ((d->reqs & POLICY_REQ_REASON) && !s->req.reason[0]) {
		session_refuse(s, PROTO_E_DENIED,
			       "a reason is required for %s: use jitsu -r REASON", s->bin.path);
		return -1;
	}
	/* Break-glass (breakglass.c) may stand in for the hub only: for its
	 * approval, and for MFA when the hub verifies it (fleet mode). MFA
	 * verified on this machine is still asked. */
	int bg = breakglass_asked(s);
	if (bg && breakglass_admit(s) < 0)
		return -1;
	int hub_mfa = (d->reqs & POLICY_REQ_MFA) && breakglass_fleet(s);
	if ((d->reqs & POLICY_REQ_MFA) && !(bg && hub_mfa) && challenge_mfa(s) < 0)
		return -1;
	if (bg && ((d->reqs & POLICY_REQ_APPROVAL) || hub_mfa))
		return breakglass_require(s);
	if ((d->reqs & POLICY_REQ_APPROVAL) && approval_require(s) < 0)
		return -1;
	return 0;
}

/* Finds the user's terminal among stdin/stdout/stderr and saves its mode,
 * so that it can be restored if the client dies at any later step. */
static void detect_tty(struct session *s)
{
	s->tty_fd = -1;
	for (int i = 0; i < 3; i++)
		if (isatty(s->fds[i])) {
			s->tty_fd = s->fds[i];
			break;
		}
	if (s->tty_fd >= 0)
		s->tty_saved_ok = tcgetattr(s->tty_fd, &s->tty_saved) == 0;
}

/* Allocates the pty when any of stdin/stdout/stderr is a terminal. */
static int setup_pty(struct session *s)
{
	s->pty_master = s->pty_slave = -1;
	if (s->tty_fd < 0)
		return 0;
	s->pty_master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s->pty_master < 0 || unlockpt(s->pty_master) < 0)
		return -errno;
	s->pty_slave = ioctl(s->pty_master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s->pty_slave < 0)
		return -errno;
	if (s->tty_saved_ok)
		tcsetattr(s->pty_slave, TCSANOW, &s->tty_saved);
	struct winsize ws;
	if (ioctl(s->tty_fd, TIOCGWINSZ, &ws) == 0)
		ioctl(s->pty_slave, TIOCSWINSZ, &ws);
	return 0;
}

void session_restore_tty(struct session *s)
{
	if (s->tty_fd >= 0 && s->tty_saved_ok)
		tcsetattr(s->tty_fd, TCSADRAIN, &s->tty_saved);
}

void session_notice(struct session *s, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	/* clang 14 misreads va_start under _FORTIFY_SOURCE. */
	vsnprintf(msg, sizeof msg, fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
	va_end(ap);
	proto_send_str(s->sock, PROTO_NOTICE, msg);
}

int session_ask(struct session *s, const char *prompt, int echo, char *buf, size_t len)
{
	return session_ask_within(s, prompt, echo, buf, len, SESSION_ANSWER_TIMEOUT);
}

int session_ask_within(struct session *s, const char *prompt, int echo, char *buf, size_t len,
		       unsigned secs)
{
	struct proto_msg m;
	char *ans = NULL;
	int r = -1;

	if (proto_send_u32_str(s->sock, PROTO_PROMPT, echo ? 1 : 0, prompt) < 0)
		return -1;
	/* The proxy allows any prompt SESSION_PROMPT_TIMEOUT_MAX; this one's
	 * own bound is kept here. */
	if (session_recv(s, PS_ST_PROMPT, &m, proto_deadline(secs + SESSION_CHILD_SLACK)) < 0) {
		/* Gone (or too slow) while its terminal had echo off: put it back. */
		session_restore_tty(s);
		return -1;
	}
	if (m.type == PS_BAD)
		session_restore_tty(s); /* no answer, and no goodbye either */
	if (m.type == PS_ANSWER && len > 0 && proto_decode_str(&m, len - 1, &ans) == 0) {
		memcpy(buf, ans, strlen(ans) + 1);
		explicit_bzero(ans, strlen(ans));
		r = 0;
	}
	free(ans);
	explicit_bzero(m.payload, m.len);
	proto_msg_free(&m);
	return r;
}

static int build_env(struct session *s, char ***env)
{
	const struct policy_rule *rule = s->decision.rule;
	struct envbuild_target t = {
		.user = s->target.user,
		.home = s->target.home,
		.shell = s->target.shell,
		.caller = s->peer.user,
		.caller_uid = s->peer.uid,
	};
	return envbuild(s->req.env, s->req.envc, &t, rule ? rule->setenv : NULL,
			rule ? rule->nsetenv : 0, env);
}

/* Forks and releases the command. Returns its pid, or -1 after refusing. */
static pid_t start_command(struct session *s)
{
	char **env = NULL;
	if (build_env(s, &env) < 0) {
		session_refuse(s, PROTO_E_INTERNAL, "cannot build the environment");
		return -1;
	}
	struct spawn_req r = {
		.exec_fd = s->bin.fd,
		.is_script = s->is_script,
		.argv = (char *const *)s->req.argv,
		.envp = env,
		.ctty = s->pty_slave,
		.cwd_fd = s->fds[3],
		.uid = s->target.uid,
		.gid = s->target.gid,
		.groups = s->target.groups,
		.ngroups = s->target.ngroups,
	};
	for (int i = 0; i < 3; i++)
		r.stdio[i] = isatty(s->fds[i]) ? s->pty_slave : s->fds[i];
	struct spawn sp;
	int e = spawn_start(&r, &sp);
	envbuild_free(env);
	if (e < 0) {
		if (sp.pid > 0)
			waitpid(sp.pid, NULL, 0);
		session_refuse(s, PROTO_E_INTERNAL, "cannot start %s: %s", s->bin.path,
			       strerror(-e));
		return -1;
	}
	s->monitor = sp.pid;
	s->cmd = sp.cmd;
	s->stage = STAGE_FINAL;
	if (trail_start(s, sp.cmd) < 0) {
		spawn_abort(&sp);
		waitpid(sp.pid, NULL, 0);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	e = spawn_release(&sp);
	if (e) {
		waitpid(sp.pid, NULL, 0);
		session_refuse(s, (e == ENOENT) ? PROTO_E_NOTFOUND : PROTO_E_NOEXEC, "%s: %s",
			       s->req.argv[0], strerror(e));
		return -1;
	}
	return sp.pid;
}

/* Continues a stopped command: the monitor gives it the terminal back. */
static void resume(struct session *s)
{
	kill(s->monitor == s->cmd ? -s->cmd : s->monitor, SIGCONT);
}

/* The client went away: hang up on the command, as a terminal would. */
static void client_gone(struct session *s)
{
	session_restore_tty(s);
	kill(-s->cmd, SIGHUP);
	kill(-s->cmd, SIGCONT);
	resume(s);
}

/* Logs the reason the child gives for a client that broke the protocol,
 * made printable (the child is not trusted with the log's format). */
static void bad_reason(const struct proto_msg *m, char *out, size_t len)
{
	uint32_t code;
	char *why = NULL;
	snprintf(out, len, "protocol error");
	if (proto_decode_u32_str(m, PS_MAX_REASON, &code, &why) == 0)
		snprintf(out, len, "%s", why);
	free(why);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* Handles one message from the client during the run; -1 when it is gone. */
static int client_message(struct session *s)
{
	struct proto_msg m;
	uint32_t sig;
	char why[PS_MAX_REASON + 1];
	if (session_recv(s, PS_ST_RUN, &m, proto_deadline(SESSION_REQUEST_TIMEOUT)) < 0)
		return -1;
	int r = 0;
	if (m.type == PS_SIGNAL && proto_decode_u32(&m, &sig) == 0 && ps_forwardable(sig))
		kill(-s->cmd, (int)sig);
	else if (m.type == PS_RESUME)
		resume(s);
	else {
		bad_reason(&m, why, sizeof why);
		log_warn("user=%s: %s: dropping the client", s->peer.user, why);
		r = -1;
	}
	proto_msg_free(&m);
	return r;
}

/* Time box of a `for` rule: SIGTERM at the limit, SIGKILL after a grace. */
static int deadline_ms(time_t deadline)
{
	if (!deadline)
		return -1;
	time_t now = time(NULL);
	return deadline > now ? (int)((deadline - now) * 1000) : 0;
}

/* Waits for the command while serving the client. Returns the wait status. */
static int supervise(struct session *s, pid_t pid, int sigfd)
{
	int gone = 0, term_sent = 0, st;
	unsigned limit = s->decision.rule ? s->decision.rule->for_secs : 0;
	time_t deadline = limit ? time(NULL) + limit : 0;

	for (;;) {
		struct pollfd p[2] = {{sigfd, POLLIN, 0}, {gone ? -1 : s->sock, POLLIN, 0}};
		int n = poll(p, 2, deadline_ms(deadline));
		if (n < 0 && errno != EINTR)
			return -1;
		if (n == 0) {
			if (!gone)
				proto_send_str(s->sock, PROTO_NOTICE,
					       term_sent ? "session killed"
							 : "session time limit reached");
			kill(-s->cmd, term_sent ? SIGKILL : SIGTERM);
			kill(-s->cmd, SIGCONT);
			resume(s);
			deadline = term_sent ? 0 : time(NULL) + SESSION_KILL_GRACE;
			term_sent = 1;
		}
		if (n > 0 && p[0].revents) {
			struct signalfd_siginfo si;
			while (read(sigfd, &si, sizeof si) > 0)
				;
			while (waitpid(pid, &st, WNOHANG | WUNTRACED) == pid) {
				if (!WIFSTOPPED(st))
					return st;
				if (gone)
					resume(s);
				else
					proto_send_u32(s->sock, PROTO_SUSPEND,
						       (uint32_t)WSTOPSIG(st));
			}
		}
		if (n > 0 && !gone && p[1].revents && client_message(s) < 0) {
			gone = 1;
			client_gone(s);
		}
	}
}

/* After the exit: a client that says BYE restored its own terminal. A
 * signal or resume that crossed the exit is dropped. */
static void await_bye(struct session *s)
{
	struct proto_msg m;
	int64_t deadline = proto_deadline(SESSION_BYE_TIMEOUT);
	while (session_recv(s, PS_ST_EXITED, &m, deadline) == 0) {
		int bye = m.type == PS_BYE, late = m.type == PS_SIGNAL || m.type == PS_RESUME;
		proto_msg_free(&m);
		if (bye)
			return;
		if (!late)
			break;
	}
	session_restore_tty(s);
}

static void run_permitted(struct session *s, int sigfd)
{
	int e = setup_pty(s);
	if (e < 0) {
		session_refuse(s, PROTO_E_INTERNAL, "cannot allocate a pty: %s", strerror(-e));
		return;
	}
	pid_t pid = start_command(s);
	if (pid < 0)
		return;
	if (s->pty_slave >= 0)
		close(s->pty_slave);
	s->pty_slave = -1;
	struct proto_buf b;
	proto_buf_init(&b);
	proto_put_u32(&b, (uint32_t)pid);
	int fd = s->pty_master;
	if (b.err || proto_send(s->sock, PROTO_STARTED, b.data, b.len, &fd, fd >= 0 ? 1 : 0) < 0)
		client_gone(s);
	proto_buf_free(&b);
	if (s->pty_master >= 0)
		close(s->pty_master);
	s->pty_master = -1;
	/* Keep only the user's terminal (to restore it); holding a pipe end
	 * open would delay EOF for the command's readers. */
	for (int i = 0; i < 4; i++)
		if (s->fds[i] >= 0 && s->fds[i] != s->tty_fd) {
			close(s->fds[i]);
			s->fds[i] = -1;
		}

	int st = supervise(s, pid, sigfd);
	uint32_t kind = WIFSIGNALED(st) ? 1 : 0;
	uint32_t value = kind ? (uint32_t)WTERMSIG(st) : (uint32_t)WEXITSTATUS(st);
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	int64_t us = (end.tv_sec - s->started.tv_sec) * 1000000 +
		     (end.tv_nsec - s->started.tv_nsec) / 1000;
	/* The user hears first; the exit record follows, off their path. */
	int sent = proto_send_u32x2(s->sock, PROTO_EXIT, kind, value);
	trail_exit(s, s->cmd, (int)kind, (int)value, us);
	if (sent < 0)
		session_restore_tty(s);
	else
		await_bye(s);
}

static void handle_exec(struct session *s, struct proto_msg *m, int sigfd)
{
	/* The child decoded and re-encoded it; decode again all the same. */
	if (proto_exec_decode(m->payload, m->len, &s->req) < 0 || m->nfds != 4) {
		session_refuse(s, PROTO_E_PROTOCOL, "protocol error: malformed request");
		return;
	}
	for (int i = 0; i < 4; i++) {
		s->fds[i] = m->fds[i];
		m->fds[i] = -1;
	}
	m->nfds = 0;
	detect_tty(s);
	if (trail_request(s) < 0)
		return;
	s->stage = STAGE_REQUESTED;
	if (check_request(s) < 0)
		return;
	decide(s);
	if (s->decision.action != POLICY_PERMIT) {
		trail_decision(s, NULL);
		if (breakglass_asked(s))
			breakglass_refused_deny(s);
		s->stage = STAGE_FINAL;
		session_refuse(s, PROTO_E_DENIED, "%s@%s may not run %s as %s", s->peer.user,
			       s->ctx->hostname, s->bin.path, s->target.user);
		return;
	}
	if (trail_decision(s, NULL) < 0)
		return;
	s->stage = STAGE_PERMITTED;
	if (check_requirements(s) < 0)
		return;
	run_permitted(s, sigfd);
}

static void handle_list(struct session *s)
{
	const struct policy *p = s->ctx->policy;
	struct proto_buf out;
	char line[8192];
	proto_buf_init(&out);
	int any = 0;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];
		if (!policy_rule_applies_to(r, s->peer.user,
					    (const char *const *)s->peer.group_names,
					    s->peer.ngroup_names))
			continue;
		int n = policy_format_rule(r, line, sizeof line);
		if (n < 0 || (size_t)n >= sizeof line)
			continue;
		char full[8300];
		snprintf(full, sizeof full, "%s:%u: %s\n", p->file, r->line, line);
		if (out.len + strlen(full) >= PROTO_MAX_SHORT * 8)
			break;
		char *grown = realloc(out.data, out.len + strlen(full) + 1);
		if (!grown)
			break;
		out.data = (uint8_t *)grown;
		memcpy(out.data + out.len, full, strlen(full) + 1);
		out.len += strlen(full);
		any = 1;
	}
	if (!any)
		proto_send_str(s->sock, PROTO_TEXT, "no rules apply to you\n");
	else
		proto_send_str(s->sock, PROTO_TEXT, (const char *)out.data);
	free(out.data);
}

/* Closes the channel and gives the child a moment to relay the last
 * words before it is reaped; a child that does not leave is killed. */
static void child_finish(struct session *s, int sigfd)
{
	if (s->sock >= 0)
		close(s->sock);
	s->sock = -1;
	int64_t deadline = proto_deadline(SESSION_BYE_TIMEOUT);
	while (s->child > 0) {
		int st = 0;
		pid_t pid = s->child, w = waitpid(pid, &st, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR)) {
			s->child = 0;
			/* Died before the end (an approval wait reads nothing):
			 * that is news too, once. */
			if (w == pid && !s->child_dead)
				child_status(s, pid, st);
			break;
		}
		int64_t left = deadline - proto_deadline(0);
		if (left <= 0) {
			child_reap(s);
			break;
		}
		struct pollfd p = {sigfd, POLLIN, 0};
		if (poll(&p, 1, (int)left) > 0) {
			struct signalfd_siginfo si;
			while (read(sigfd, &si, sizeof si) > 0)
				;
		}
	}
}

void session_serve(int sock, const struct privsep_child *child, const struct jitsud_ctx *ctx)
{
	struct session s = {.sock = child->chan,
			    .client = sock,
			    .child = child->pid,
			    .ctx = ctx,
			    .pty_master = -1,
			    .pty_slave = -1,
			    .tty_fd = -1};
	struct proto_msg m;
	sigset_t chld;
	uint32_t flags;
	char why[PS_MAX_REASON + 1];

	for (int i = 0; i < PROTO_MAX_FDS; i++)
		s.fds[i] = -1;
	s.bin.fd = -1;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);

	/* Who it is comes from the kernel, here, before the child holds the
	 * socket; until then the child cannot speak for the client. */
	if (sigfd < 0 || peer_identify(sock, &s.peer) < 0) {
		s.child_dead = 1; /* not given the client: speak directly */
		session_refuse(&s, PROTO_E_INTERNAL, "cannot identify the caller");
		goto out;
	}
	if (privsep_hand_client(child, sock) < 0) {
		child_ended(&s);
		s.child_dead = 1;
		session_refuse(&s, PROTO_E_INTERNAL, "cannot start the connection");
		goto out;
	}
	int r = session_recv(&s, PS_ST_REQUEST, &m,
			     proto_deadline(SESSION_REQUEST_TIMEOUT + SESSION_CHILD_SLACK));
	if (r < 0) {
		if (r == -ETIMEDOUT)
			session_refuse(&s, PROTO_E_PROTOCOL, "protocol error: request timed out");
		else if (s.child_dead)
			session_refuse(
				&s, PROTO_E_INTERNAL,
				"internal error: the connection's unprivileged process failed");
		goto out;
	}
	if (m.type == PS_EXEC)
		handle_exec(&s, &m, sigfd);
	else if (m.type == PS_ENROLL && proto_decode_u32(&m, &flags) == 0)
		challenge_enroll(&s, flags);
	else if (m.type == PS_LIST)
		handle_list(&s);
	else if (m.type == PS_MFA_STATUS)
		challenge_status(&s);
	else {
		bad_reason(&m, why, sizeof why);
		session_refuse(&s, PROTO_E_PROTOCOL, "%s", why);
	}
	proto_msg_free(&m);
out:
	child_finish(&s, sigfd);
	close(s.client);
	proto_exec_free(&s.req);
	resolve_close(&s.bin);
	for (int i = 0; i < PROTO_MAX_FDS; i++)
		if (s.fds[i] >= 0)
			close(s.fds[i]);
	peer_free(&s.peer);
	if (sigfd >= 0)
		close(sigfd);
}
