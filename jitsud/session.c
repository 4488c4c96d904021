/*
 * session: one client connection, in its own forked process.
 *
 * MUST rules:
 *  - The caller is who SO_PEERCRED and SO_PEERGROUPS say, never what the
 *    message says.
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

#include "jitsu/envbuild.h"
#include "jitsu/log.h"
#include "jitsu/proto.h"
#include "jitsu/resolve.h"
#include "approval.h"
#include "breakglass.h"
#include "challenge.h"
#include "jitsud.h"
#include "session.h"
#include "spawn.h"
#include "trail.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

#define SESSION_REQUEST_TIMEOUT 10 /* seconds to send the request */
#define SESSION_BYE_TIMEOUT 2      /* seconds to say goodbye after the exit */
#define SESSION_KILL_GRACE 5       /* seconds from SIGTERM to SIGKILL at time-out */

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
	proto_send_error(s->sock, code, msg);
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
	struct timeval tv = {(time_t)secs, 0};
	struct proto_msg m;
	char *ans = NULL;
	int r = -1;

	if (proto_send_u32_str(s->sock, PROTO_PROMPT, echo ? 1 : 0, prompt) < 0)
		return -1;
	setsockopt(s->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (proto_recv_until(s->sock, &m, 0, proto_deadline(secs)) < 0) {
		/* Gone (or too slow) while its terminal had echo off: put it back. */
		session_restore_tty(s);
		return -1;
	}
	if (m.type == PROTO_ANSWER && len > 0 && proto_decode_str(&m, len - 1, &ans) == 0) {
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

/* The signals a client may forward to its command. */
static int forwardable(uint32_t sig)
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

/* Handles one message from the client during the run; -1 when it is gone. */
static int client_message(struct session *s)
{
	struct proto_msg m;
	uint32_t sig;
	if (proto_recv(s->sock, &m, 0) < 0)
		return -1;
	int r = 0;
	if (m.type == PROTO_SIGNAL && proto_decode_u32(&m, &sig) == 0 && forwardable(sig))
		kill(-s->cmd, (int)sig);
	else if (m.type == PROTO_RESUME && m.len == 0)
		resume(s);
	else {
		log_warn("user=%s: unexpected %s during the run: dropping the client", s->peer.user,
			 proto_type_name(m.type));
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

/* After the exit: a client that says BYE restored its own terminal. */
static void await_bye(struct session *s)
{
	struct timeval tv = {SESSION_BYE_TIMEOUT, 0};
	struct proto_msg m;
	setsockopt(s->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (proto_recv(s->sock, &m, 0) == 0) {
		int bye = m.type == PROTO_BYE;
		proto_msg_free(&m);
		if (bye)
			return;
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

void session_serve(int sock, const struct jitsud_ctx *ctx)
{
	struct session s = {
		.sock = sock, .ctx = ctx, .pty_master = -1, .pty_slave = -1, .tty_fd = -1};
	struct proto_msg m;
	sigset_t chld;
	uint32_t flags;

	for (int i = 0; i < PROTO_MAX_FDS; i++)
		s.fds[i] = -1;
	s.bin.fd = -1;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	struct timeval tv = {SESSION_REQUEST_TIMEOUT, 0};
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

	if (sigfd < 0 || peer_identify(sock, &s.peer) < 0) {
		session_refuse(&s, PROTO_E_INTERNAL, "cannot identify the caller");
		goto out;
	}
	int r = proto_recv_until(sock, &m, PROTO_MAX_FDS, proto_deadline(SESSION_REQUEST_TIMEOUT));
	if (r < 0) {
		if (r != -ECONNRESET)
			session_refuse(&s, PROTO_E_PROTOCOL, "protocol error: %s",
				       r == -ETIMEDOUT ? "request timed out" : "malformed message");
		goto out;
	}
	if (m.type == PROTO_REQ_EXEC)
		handle_exec(&s, &m, sigfd);
	else if (m.type == PROTO_REQ_ENROLL && !m.nfds && proto_decode_u32(&m, &flags) == 0)
		challenge_enroll(&s, flags);
	else if (m.nfds || m.len)
		session_refuse(&s, PROTO_E_PROTOCOL, "protocol error: malformed %s",
			       proto_type_name(m.type));
	else if (m.type == PROTO_REQ_LIST)
		handle_list(&s);
	else if (m.type == PROTO_REQ_MFA_STATUS)
		challenge_status(&s);
	else
		session_refuse(&s, PROTO_E_PROTOCOL, "protocol error: unexpected %s",
			       proto_type_name(m.type));
	proto_msg_free(&m);
out:
	proto_exec_free(&s.req);
	resolve_close(&s.bin);
	for (int i = 0; i < PROTO_MAX_FDS; i++)
		if (s.fds[i] >= 0)
			close(s.fds[i]);
	peer_free(&s.peer);
	if (sigfd >= 0)
		close(sigfd);
}
