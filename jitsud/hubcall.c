/*
 * hubcall: runs the jitsu-hubcall helper for one hub call. The MUST rules
 * are in hubcall.h.
 */
#include "hubcall.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/close_range.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hubcall_sandbox.h"
#include "hubreply.h"
#include "jitsu/log.h"
#include "jitsu/resolve.h"
#include "sandbox.h"

#define HUBCALL_NAME "jitsu-hubcall"
#define HUBCALL_NOBODY 65534 /* until hubcall_run_as() says otherwise */
#define HUBCALL_MAX_ANSWER (1024 * 1024 + 4096)
#define HUBCALL_DEFAULT_MS 15000L /* hubclient's own default for a call */
#define HUBCALL_SLACK_MS 5000L    /* start, DNS and exit, past the call's limit */

static uid_t helper_uid = HUBCALL_NOBODY;
static gid_t helper_gid = HUBCALL_NOBODY;
static int quiet; /* hubcall_quiet() */

void hubcall_quiet(void)
{
	quiet = 1;
}

void hubcall_run_as(uid_t uid, gid_t gid)
{
	helper_uid = uid;
	helper_gid = gid;
}

int hubcall_run_as_user(const char *name, char *err, size_t errlen)
{
	struct passwd *pw = name && name[0] ? getpwnam(name) : NULL;
	if (!pw) {
		snprintf(err, errlen,
			 "privsep user '%s' does not exist (create it: useradd --system "
			 "--no-create-home --shell /usr/sbin/nologin %s, or give --privsep-user)",
			 name ? name : "", name ? name : "");
		return -ENOENT;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		snprintf(err, errlen, "privsep user '%s' must not have uid or gid 0", name);
		return -EPERM;
	}
	hubcall_run_as(pw->pw_uid, pw->pw_gid);
	return 0;
}

/* Finds the helper beside this binary (a build tree) or in LIBEXECDIR,
 * opened and checked like any binary jitsud runs as root. */
static int find_helper(struct resolved *r, char *err, size_t errlen)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	const char *dirs[2] = {NULL, JITSU_LIBEXECDIR};
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			dirs[0] = self;
		}
	}
	for (int i = 0; i < 2; i++) {
		if (!dirs[i])
			continue;
		snprintf(path, sizeof path, "%s/%s", dirs[i], HUBCALL_NAME);
		if (resolve_command(path, AT_FDCWD, r, err, errlen) == 0)
			return resolve_check_safe(r, err, errlen);
	}
	snprintf(err, errlen, "%s not found beside jitsud or in %s", HUBCALL_NAME,
		 JITSU_LIBEXECDIR);
	return -ENOENT;
}

/* The child: the privsep user, no new privileges, stdin and stdout the
 * pipes, the filter's report pipe at HUBCALL_REPORT_FD. */
static void run_helper(const struct resolved *r, const int fds[3], char *const argv[], pid_t parent)
{
	/* Above every target first, so that no dup2 closes what a later one
	 * (or the exec) needs. */
	int hi[4];
	const int from[4] = {fds[0], fds[1], fds[2], r->fd};
	for (int i = 0; i < 4; i++)
		if ((hi[i] = fcntl(from[i], F_DUPFD_CLOEXEC, HUBCALL_REPORT_FD + 1)) < 0)
			_exit(127);
	if (dup2(hi[0], 0) < 0 || dup2(hi[1], 1) < 0 || dup2(hi[2], HUBCALL_REPORT_FD) < 0)
		_exit(127);
	syscall(SYS_close_range, HUBCALL_REPORT_FD + 1, ~0U, CLOSE_RANGE_CLOEXEC);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setgroups(0, NULL) < 0 || setresgid(helper_gid, helper_gid, helper_gid) < 0 ||
	    setresuid(helper_uid, helper_uid, helper_uid) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(127);
	/* It dies with its caller: no call from a process that is gone (a
	 * shipper stopped mid-heartbeat) reaches the hub late. Set after the
	 * change of user, which clears it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	char *envp[] = {"PATH=/usr/bin:/bin", NULL};
	execveat(hi[3], "", argv, envp, AT_EMPTY_PATH);
	_exit(127);
}

static long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Reads the helper's whole answer, or stops when cancel_fd fires or at
 * deadline (CLOCK_MONOTONIC, ms): then -ETIMEDOUT. */
static int collect(int out, int cancel_fd, long deadline, char **buf, size_t *len)
{
	size_t cap = 4096;
	*len = 0;
	*buf = malloc(cap);
	if (!*buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd p[2] = {{out, POLLIN, 0}, {cancel_fd, POLLIN, 0}};
		long left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		int n = poll(p, cancel_fd >= 0 ? 2 : 1, (int)(left > 60000 ? 60000 : left));
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		if (cancel_fd >= 0 && p[1].revents)
			return -ECANCELED;
		if (!p[0].revents)
			continue;
		if (*len + 4096 > cap) {
			if (cap >= HUBCALL_MAX_ANSWER)
				return -EFBIG;
			char *g = realloc(*buf, cap * 2);
			if (!g)
				return -ENOMEM;
			*buf = g;
			cap *= 2;
		}
		ssize_t got = read(out, *buf + *len, cap - *len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		*len += (size_t)got;
	}
	(*buf)[*len] = '\0';
	return 0;
}

/* The number of the system call the filter refused, from the report pipe
 * (the helper is gone: the read cannot block), or -1. */
static int reported_syscall(int fd)
{
	uint8_t b[4];
	ssize_t n;
	do
		n = read(fd, b, sizeof b);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof b)
		return -1;
	return (int)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]);
}

/*
 * How the helper ended, when that was not an answer: logged as one line
 * and said in err. Returns 0 for an exit with 0 or 1 (the helper's own
 * answer or error follows on stdout), else -EPROTO.
 */
static int judge_exit(int st, int report_fd, char *err, size_t errlen)
{
	if (WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 1))
		return 0;
	int nr = reported_syscall(report_fd);
	char name[64];
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS && nr >= 0) {
		sandbox_syscall_name(nr, name, sizeof name);
		snprintf(err, errlen, "%s killed by its seccomp filter (SIGSYS): system call %s",
			 HUBCALL_NAME, name);
	} else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS) {
		snprintf(err, errlen,
			 "%s killed by SIGSYS, its seccomp filter's signal (no system call "
			 "reported)",
			 HUBCALL_NAME);
	} else if (WIFSIGNALED(st)) {
		const char *sig = sigabbrev_np(WTERMSIG(st));
		if (sig)
			snprintf(err, errlen, "%s killed by SIG%s", HUBCALL_NAME, sig);
		else
			snprintf(err, errlen, "%s killed by signal %d", HUBCALL_NAME, WTERMSIG(st));
	} else {
		snprintf(err, errlen, "%s exited with status %d", HUBCALL_NAME,
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	if (!quiet)
		log_err("%s", err);
	return -EPROTO;
}

static json_t *request_json(const struct hublink *l, const char *method, const char *path,
			    const json_t *body, long timeout_ms)
{
	char auth[160] = ""; /* none before enrollment */
	if (l->endpoint_id[0])
		snprintf(auth, sizeof auth, "Endpoint %s:%s", l->endpoint_id, l->credential);
	json_t *req = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "url", l->url, "fingerprint",
				l->fingerprint, "auth", auth, "method", method, "path", path,
				"timeout_ms", (json_int_t)timeout_ms);
	explicit_bzero(auth, sizeof auth);
	if (req && body)
		json_object_set(req, "body", (json_t *)body);
	return req;
}

/* Starts the helper in mode on request text: its stdin, stdout and
 * report pipes into fds (jitsud's ends: in[1], out[0], report[0]). */
static pid_t start(const char *mode, int fds[3], char *err, size_t errlen)
{
	struct resolved helper;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, rep[2] = {-1, -1};
	if (find_helper(&helper, err, errlen) < 0)
		return -1;
	pid_t pid = -1, parent = getpid();
	if (pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 && pipe2(rep, O_CLOEXEC) == 0 &&
	    (pid = fork()) == 0) {
		char *argv[] = {HUBCALL_NAME, (char *)mode, NULL};
		int child[3] = {in[0], out[1], rep[1]};
		run_helper(&helper, child, argv, parent);
	}
	if (pid < 0)
		snprintf(err, errlen, "cannot start %s: %s", HUBCALL_NAME, strerror(errno));
	resolve_close(&helper);
	int theirs[3] = {in[0], out[1], rep[1]}, ours[3] = {in[1], out[0], rep[0]};
	for (int i = 0; i < 3; i++) {
		if (theirs[i] >= 0)
			close(theirs[i]);
		if (pid < 0 && ours[i] >= 0)
			close(ours[i]);
		fds[i] = pid < 0 ? -1 : ours[i];
	}
	return pid;
}

/*
 * One run of the helper in mode with request req: writes it, collects the
 * answer within timeout_ms plus slack (the helper is killed past that),
 * reaps the helper and judges how it ended, then parses the answer.
 */
static int run_call(const char *mode, const json_t *req, long timeout_ms, int cancel_fd,
		    long *status, json_t **answer, char *err, size_t errlen)
{
	int fds[3];
	char *buf = NULL;
	size_t len = 0;
	*answer = NULL;
	char *text = json_dumps(req, JSON_COMPACT);
	if (!text) {
		snprintf(err, errlen, "cannot start %s: out of memory", HUBCALL_NAME);
		return -ENOMEM;
	}
	long limit = (timeout_ms > 0 ? timeout_ms : HUBCALL_DEFAULT_MS) + HUBCALL_SLACK_MS;
	long deadline = now_ms() + limit;
	pid_t pid = start(mode, fds, err, errlen);
	size_t n = strlen(text);
	int r = pid < 0 ? -ECHILD : (write(fds[0], text, n) == (ssize_t)n ? 0 : -EPIPE);
	explicit_bzero(text, n);
	free(text);
	if (pid < 0)
		return r;
	close(fds[0]);
	if (r == 0)
		r = collect(fds[1], cancel_fd, deadline, &buf, &len);
	close(fds[1]);
	if (r < 0 && r != -EPIPE) /* cancelled, too late, too much: ours to end */
		kill(pid, SIGKILL);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (r == -ETIMEDOUT && !quiet)
		log_err("%s: no answer within %ld ms: killed", HUBCALL_NAME, limit);
	if (r == 0 || r == -EPIPE) { /* it ended on its own: how? */
		int j = judge_exit(st, fds[2], err, errlen);
		r = j < 0 ? j : r;
	}
	close(fds[2]);
	if (r == 0)
		r = hubreply_parse(buf, len, status, answer, err, errlen);
	else if (r == -ECANCELED)
		snprintf(err, errlen, "cancelled");
	else if (r == -ETIMEDOUT)
		snprintf(err, errlen, "%s gave no answer within %ld s", HUBCALL_NAME, limit / 1000);
	else if (r != -EPROTO)
		snprintf(err, errlen, "%s failed: %s", HUBCALL_NAME, strerror(-r));
	if (buf) /* an answer may carry a secret (MFA enrollment) */
		explicit_bzero(buf, len);
	free(buf);
	return r;
}

int hubcall(const struct hublink *l, const char *method, const char *path, const json_t *body,
	    long timeout_ms, int cancel_fd, long *status, json_t **answer, char *err, size_t errlen)
{
	json_t *req = request_json(l, method, path, body, timeout_ms);
	if (!req) {
		*answer = NULL;
		snprintf(err, errlen, "cannot start %s: out of memory", HUBCALL_NAME);
		return -ENOMEM;
	}
	int r = run_call("call", req, timeout_ms, cancel_fd, status, answer, err, errlen);
	json_decref(req);
	return r;
}

int hubcall_peer_fingerprint(const char *url, char fp[HUBCLIENT_FP_LEN + 1], char *err,
			     size_t errlen)
{
	json_t *req = json_pack("{s:s}", "url", url);
	json_t *answer = NULL;
	long status = 0;
	int r = req ? run_call("fingerprint", req, HUBCALL_DEFAULT_MS, -1, &status, &answer, err,
			       errlen)
		    : -ENOMEM;
	json_decref(req);
	const char *seen = json_string_value(json_object_get(answer, "fingerprint"));
	if (r == 0 && (!seen || hubclient_fp_normalize(seen, fp) < 0)) {
		snprintf(err, errlen, "%s gave no fingerprint", HUBCALL_NAME);
		r = -EPROTO;
	}
	json_decref(answer);
	return r;
}
