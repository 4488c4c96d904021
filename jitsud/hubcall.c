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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jitsu/resolve.h"

#define HUBCALL_NAME "jitsu-hubcall"
#define HUBCALL_NOBODY 65534 /* until hubcall_run_as() says otherwise */
#define HUBCALL_MAX_ANSWER (1024 * 1024 + 4096)

static uid_t helper_uid = HUBCALL_NOBODY;
static gid_t helper_gid = HUBCALL_NOBODY;

void hubcall_run_as(uid_t uid, gid_t gid)
{
	helper_uid = uid;
	helper_gid = gid;
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
 * pipes. */
static void run_helper(const struct resolved *r, int in, int out, char *const argv[])
{
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0)
		_exit(127);
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setgroups(0, NULL) < 0 || setresgid(helper_gid, helper_gid, helper_gid) < 0 ||
	    setresuid(helper_uid, helper_uid, helper_uid) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(127);
	char *envp[] = {"PATH=/usr/bin:/bin", NULL};
	execveat(r->fd, "", argv, envp, AT_EMPTY_PATH);
	_exit(127);
}

/* Reads the helper's whole answer, or stops when cancel_fd fires. */
static int collect(int out, int cancel_fd, char **buf, size_t *len)
{
	size_t cap = 4096;
	*len = 0;
	*buf = malloc(cap);
	if (!*buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd p[2] = {{out, POLLIN, 0}, {cancel_fd, POLLIN, 0}};
		if (poll(p, cancel_fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			return -errno;
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
		ssize_t n = read(out, *buf + *len, cap - *len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		*len += (size_t)n;
	}
	(*buf)[*len] = '\0';
	return 0;
}

static json_t *request_json(const struct hublink *l, const char *method, const char *path,
			    const json_t *body, long timeout_ms)
{
	char auth[160];
	snprintf(auth, sizeof auth, "Endpoint %s:%s", l->endpoint_id, l->credential);
	json_t *req = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "url", l->url, "fingerprint",
				l->fingerprint, "auth", auth, "method", method, "path", path,
				"timeout_ms", (json_int_t)timeout_ms);
	explicit_bzero(auth, sizeof auth);
	if (req && body)
		json_object_set(req, "body", (json_t *)body);
	return req;
}

/* Parses {"status":N,"answer":{...}} or {"error":"..."}. */
static int parse_reply(const char *buf, size_t len, long *status, json_t **answer, char *err,
		       size_t errlen)
{
	json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	const char *e = json_string_value(json_object_get(o, "error"));
	json_t *a = json_object_get(o, "answer");
	int r = 0;
	if (e) {
		snprintf(err, errlen, "%.400s", e);
		r = -EPROTO;
	} else if (!json_is_object(a) || !json_is_integer(json_object_get(o, "status"))) {
		snprintf(err, errlen, "%s gave no answer", HUBCALL_NAME);
		r = -EPROTO;
	} else {
		*status = (long)json_integer_value(json_object_get(o, "status"));
		*answer = json_incref(a);
	}
	json_decref(o);
	return r;
}

int hubcall(const struct hublink *l, const char *method, const char *path, const json_t *body,
	    long timeout_ms, int cancel_fd, long *status, json_t **answer, char *err, size_t errlen)
{
	struct resolved helper;
	int in[2], out[2];
	char *buf = NULL;
	size_t len = 0;
	*answer = NULL;
	int r = find_helper(&helper, err, errlen);
	if (r < 0)
		return r;
	json_t *req = request_json(l, method, path, body, timeout_ms);
	char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!text || pipe2(in, O_CLOEXEC) < 0) {
		free(text);
		resolve_close(&helper);
		snprintf(err, errlen, "cannot start %s", HUBCALL_NAME);
		return -ENOMEM;
	}
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		free(text);
		resolve_close(&helper);
		snprintf(err, errlen, "cannot start %s", HUBCALL_NAME);
		return -EMFILE;
	}
	char *argv[] = {HUBCALL_NAME, "call", NULL};
	pid_t pid = fork();
	if (pid == 0)
		run_helper(&helper, in[0], out[1], argv);
	close(in[0]);
	close(out[1]);
	resolve_close(&helper);
	size_t n = strlen(text);
	r = pid < 0 ? -errno : (write(in[1], text, n) == (ssize_t)n ? 0 : -EPIPE);
	explicit_bzero(text, n);
	free(text);
	close(in[1]);
	if (r == 0)
		r = collect(out[0], cancel_fd, &buf, &len);
	close(out[0]);
	if (pid > 0) {
		if (r < 0)
			kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (r == 0)
		r = parse_reply(buf, len, status, answer, err, errlen);
	else if (r == -ECANCELED)
		snprintf(err, errlen, "cancelled");
	else
		snprintf(err, errlen, "%s failed: %s", HUBCALL_NAME, strerror(-r));
	if (buf) /* an answer may carry a secret (MFA enrollment) */
		explicit_bzero(buf, len);
	free(buf);
	return r;
}

int hubcall_exec_enroll(const char *statedir, const char *url, const char *token,
			const char *fingerprint, const char *group, char *err, size_t errlen)
{
	struct resolved helper;
	int r = find_helper(&helper, err, errlen);
	if (r < 0)
		return r;
	/* The token goes in the environment, which only root can read in
	 * /proc, not on the command line, which everyone can. */
	char tokenvar[512];
	if (snprintf(tokenvar, sizeof tokenvar, "JITSU_ENROLL_TOKEN=%s", token) >=
	    (int)sizeof tokenvar) {
		snprintf(err, errlen, "enrollment token too long");
		return -EINVAL;
	}
	char *argv[] = {HUBCALL_NAME,
			"enroll",
			(char *)statedir,
			(char *)url,
			(char *)(fingerprint ? fingerprint : ""),
			NULL};
	char groupvar[128];
	if (snprintf(groupvar, sizeof groupvar, "JITSU_ENROLL_GROUP=%s", group ? group : "") >=
	    (int)sizeof groupvar) {
		snprintf(err, errlen, "policy group name too long");
		return -EINVAL;
	}
	char *envp[] = {"PATH=/usr/bin:/bin", tokenvar, groupvar, NULL};
	execveat(helper.fd, "", argv, envp, AT_EMPTY_PATH);
	snprintf(err, errlen, "cannot run %s: %s", HUBCALL_NAME, strerror(errno));
	return -errno;
}
