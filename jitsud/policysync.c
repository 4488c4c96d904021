/*
 * policysync: fetching, caching and choosing the policy to enforce. The
 * rules and MUST rules are in policysync.h.
 */
#include "policysync.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "hubcall.h"
#include "hublink.h"
#include "jitsu/log.h"
#include "policydoc.h"

#define FETCH_PATH "/api/v1/endpoint/policy"
#define FETCH_TIMEOUT_MS 20000
#define FETCH_STUCK_MS (2 * FETCH_TIMEOUT_MS) /* then it is killed */
#define CACHE_TMP POLICYSYNC_CACHE ".new"

/* The fetch child's exit status. */
enum { FETCH_UNCHANGED = 0, FETCH_CHANGED = 10, FETCH_FAILED = 11 };

/* ---- the cache file ---- */

/* Reads <statedir>/policy.cache into a malloc'd buffer (*len bytes).
 * 0, -ENOENT, or -errno (-EPERM: unsafe ownership or mode). */
static int cache_read(const char *statedir, char **buf, size_t *len)
{
	char path[4096];
	struct stat st;
	*buf = NULL;
	snprintf(path, sizeof path, "%s/%s", statedir, POLICYSYNC_CACHE);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077) ||
	    st.st_size > POLICYDOC_MAX) {
		close(fd);
		return -EPERM;
	}
	*buf = malloc((size_t)st.st_size + 1);
	ssize_t n = *buf ? read(fd, *buf, (size_t)st.st_size + 1) : -1;
	close(fd);
	if (n != st.st_size) {
		free(*buf);
		*buf = NULL;
		return -EIO;
	}
	*len = (size_t)n;
	return 0;
}

/* The cached document: 0, -ENOENT (none), or -errno with err. */
static int cache_load(const char *statedir, struct policydoc *d, char *err, size_t errlen)
{
	char *buf;
	size_t len = 0;
	memset(d, 0, sizeof *d);
	int r = cache_read(statedir, &buf, &len);
	if (r == -ENOENT)
		return r;
	if (r < 0) {
		snprintf(err, errlen, "%s/%s: %s", statedir, POLICYSYNC_CACHE,
			 r == -EPERM ? "not a root-owned 0600 regular file" : strerror(-r));
		return r;
	}
	char why[256];
	r = policydoc_parse(buf, len, d, why, sizeof why);
	free(buf);
	if (r < 0)
		snprintf(err, errlen, "%s/%s: %s", statedir, POLICYSYNC_CACHE, why);
	return r;
}

/* Replaces the cache with d: a new file written and synced, then renamed
 * over the old one, then the directory synced. */
static int cache_write(const char *statedir, const struct policydoc *d, char *err, size_t errlen)
{
	char *text = policydoc_dump(d, (int64_t)time(NULL));
	int dfd = open(statedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	int r = -EIO;
	if (text && dfd >= 0) {
		unlinkat(dfd, CACHE_TMP, 0);
		int fd = openat(dfd, CACHE_TMP,
				O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		size_t n = strlen(text);
		int ok = fd >= 0 && fchmod(fd, 0600) == 0 && write(fd, text, n) == (ssize_t)n &&
			 fsync(fd) == 0;
		if (fd >= 0 && close(fd) < 0)
			ok = 0;
		if (ok && renameat(dfd, CACHE_TMP, dfd, POLICYSYNC_CACHE) == 0 && fsync(dfd) == 0)
			r = 0;
		else
			unlinkat(dfd, CACHE_TMP, 0);
	}
	if (r < 0)
		snprintf(err, errlen, "cannot write %s/%s: %s", statedir, POLICYSYNC_CACHE,
			 strerror(errno ? errno : EIO));
	free(text);
	if (dfd >= 0)
		close(dfd);
	return r;
}

/* ---- the fetch, in its own process ---- */

static void log_parse_error(void *ctx, const char *file, unsigned line, const char *msg)
{
	(void)ctx;
	log_err("%s:%u: %s", file, line, msg);
}

/* Checks what the hub sent; 0 with *d, 1 with *d when its text does not
 * parse here (a newer hub's language), or -1 logged. */
static int fetch_check(json_t *answer, struct policydoc *d)
{
	char err[256], label[POLICYDOC_LABEL_MAX];
	char *text = json_dumps(answer, JSON_COMPACT);
	int r = text ? policydoc_parse(text, strlen(text), d, err, sizeof err) : -ENOMEM;
	free(text);
	if (r < 0) {
		log_err("policy fetch: the hub sent an unusable policy: %s; keeping the policy in "
			"force",
			r == -ENOMEM ? "out of memory" : err);
		return -1;
	}
	if (!d->has_group)
		return 0;
	struct policy *p = NULL;
	policydoc_label(d, label, sizeof label);
	if (policy_parse(d->text, d->len, label, &p, log_parse_error, NULL) != 0) {
		log_err("policy fetch: %s does not parse here", label);
		return 1;
	}
	policy_free(p);
	return 0;
}

/* Asks the hub; 0 with *answer, or -1 logged. With have (the cached group
 * version) its group and version go along: if they are still the newest,
 * the hub answers {"unchanged": true} without the text. */
static int fetch_ask(const struct jitsud_config *cfg, const struct policydoc *have, json_t **answer)
{
	struct hublink l;
	char err[512], path[160];
	long status = 0;
	int r = hublink_load(cfg->state_dir, &l, err, sizeof err);
	if (r < 0) {
		if (r != -ENOENT)
			log_err("policy fetch: %s", err);
		return -1;
	}
	if (have)
		snprintf(path, sizeof path, "%s?group=%s&version=%lld", FETCH_PATH, have->group,
			 (long long)have->version);
	else
		snprintf(path, sizeof path, "%s", FETCH_PATH);
	r = hubcall(&l, "GET", path, NULL, FETCH_TIMEOUT_MS, -1, &status, answer, err, sizeof err);
	explicit_bzero(&l, sizeof l);
	if (r == 0 && status != 200)
		r = hubclient_error(status, *answer, err, sizeof err);
	if (r < 0) {
		json_decref(*answer);
		*answer = NULL;
		log_warn("policy fetch from the hub failed: %s; keeping the policy in force", err);
		return -1;
	}
	return 0;
}

/* 1: the answer says the cached version have is still the newest; 0: the
 * answer is a whole document; -1 (logged): it claims "unchanged" for
 * something else. */
static int fetch_unchanged(json_t *answer, const struct policydoc *have)
{
	if (!json_is_true(json_object_get(answer, "unchanged")))
		return 0;
	const char *g = json_string_value(json_object_get(answer, "group"));
	const char *sha = json_string_value(json_object_get(answer, "sha256"));
	json_t *v = json_object_get(answer, "version");
	if (have && g && sha && json_is_integer(v) && !strcmp(g, have->group) &&
	    json_integer_value(v) == have->version && !strcmp(sha, have->sha256))
		return 1;
	log_err("policy fetch: the hub said unchanged about another version; keeping the policy "
		"in force");
	return -1;
}

/*
 * Caches d when it differs from old (cr: cache_load's result); unparsable:
 * d's text does not parse here (fetch_check gave 1). Returns the fetch's
 * exit status.
 */
static int fetch_store(const struct jitsud_config *cfg, const struct policydoc *d, int unparsable,
		       const struct policydoc *old, int cr)
{
	char err[512];
	int cached = cr == 0;
	/* No cache and no group both mean the local file: nothing to do. */
	int same = (cached && policydoc_same(d, old)) || (!d->has_group && cr == -ENOENT);
	/* A version that does not parse here: an older one of the same group
	 * stays in force; anything else (the local file, another group's)
	 * is not what the hub asks for, so it is cached anyway and the main
	 * process denies everything (fail closed). */
	if (unparsable && cached && old->has_group && !strcmp(old->group, d->group)) {
		log_err("policy fetch: keeping %s:%lld in force", old->group,
			(long long)old->version);
		return FETCH_FAILED;
	}
	if (unparsable && !same)
		log_err("policy fetch: no usable version of group %s: denying every request",
			d->group);
	if (same)
		return FETCH_UNCHANGED;
	if (cache_write(cfg->state_dir, d, err, sizeof err) < 0) {
		log_err("policy fetch: %s", err);
		return FETCH_FAILED;
	}
	return FETCH_CHANGED;
}

static int fetch_main(const struct jitsud_config *cfg)
{
	struct policydoc d, old;
	json_t *answer = NULL;
	char err[512];
	int cr = cache_load(cfg->state_dir, &old, err, sizeof err);
	const struct policydoc *have = cr == 0 && old.has_group ? &old : NULL;
	int r = fetch_ask(cfg, have, &answer);
	if (r == 0)
		r = fetch_unchanged(answer, have);
	if (r == 0) {
		r = fetch_check(answer, &d);
		if (r >= 0)
			r = fetch_store(cfg, &d, r, &old, cr);
		else
			r = FETCH_FAILED;
		policydoc_clear(&d);
	} else {
		r = r > 0 ? FETCH_UNCHANGED : FETCH_FAILED;
	}
	json_decref(answer);
	policydoc_clear(&old);
	return r;
}

/* ---- the main process's side ---- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int policysync_init(struct policysync *s, const struct jitsud_config *cfg)
{
	memset(s, 0, sizeof *s);
	s->cfg = cfg;
	s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (s->timer_fd < 0)
		return -errno;
	unsigned every = cfg->policy_interval ? cfg->policy_interval : POLICYSYNC_INTERVAL;
	struct itimerspec its = {.it_value = {every, 0}, .it_interval = {every, 0}};
	return timerfd_settime(s->timer_fd, 0, &its, NULL) < 0 ? -errno : 0;
}

int policysync_fd(const struct policysync *s)
{
	return s->timer_fd;
}

void policysync_start(struct policysync *s)
{
	if (s->pid > 0) {
		s->again = 1;
		if (now_ms() - s->started_ms > FETCH_STUCK_MS) {
			log_err("policy fetch: no result after %d s: stopping it",
				FETCH_STUCK_MS / 1000);
			kill(-s->pid, SIGKILL); /* reaped as usual, then again */
		}
		return;
	}
	char link[4096];
	snprintf(link, sizeof link, "%s/hub.conf", s->cfg->state_dir);
	if (access(link, F_OK) < 0)
		return; /* not enrolled: the local file is the policy */
	pid_t pid = fork();
	if (pid < 0) {
		log_err("policy fetch: fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		/* Nothing of the main process's: no listener, no lock, no
		 * syslog socket that a pipe could later reuse. A process group
		 * of its own, so that it can be stopped with its helper. */
		setpgid(0, 0);
		prctl(PR_SET_NAME, "jitsud-policy", 0, 0, 0); /* for ps(1) */
		closelog();
		syscall(SYS_close_range, 3, ~0U, 0);
		log_init("jitsud", s->cfg->foreground);
		sigset_t none;
		sigemptyset(&none);
		signal(SIGPIPE, SIG_IGN);
		sigprocmask(SIG_SETMASK, &none, NULL);
		_exit(fetch_main(s->cfg));
	}
	setpgid(pid, pid);
	s->pid = pid;
	s->started_ms = now_ms();
	s->again = 0;
}

void policysync_timer(struct policysync *s)
{
	uint64_t expirations;
	if (read(s->timer_fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
		return;
	policysync_start(s);
}

int policysync_reaped(struct policysync *s, pid_t pid, int status)
{
	if (pid <= 0 || pid != s->pid)
		return 0;
	s->pid = 0;
	if (!WIFEXITED(status))
		log_err("policy fetch: the fetching process died of signal %d", WTERMSIG(status));
	if (s->again)
		policysync_start(s);
	return WIFEXITED(status) && WEXITSTATUS(status) == FETCH_CHANGED ? 2 : 1;
}

void policysync_stop(struct policysync *s)
{
	if (s->pid > 0) {
		kill(-s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	if (s->timer_fd >= 0)
		close(s->timer_fd);
	s->timer_fd = -1;
}

/* An empty policy under label: every request is denied. */
static struct policy *deny_all(const char *label)
{
	struct policy *p = NULL;
	return policy_parse("", 0, label, &p, NULL, NULL) == 0 ? p : NULL;
}

/* The local file, as jitsud has always loaded it. */
static struct policy *load_local(const struct jitsud_config *cfg, policy_error_fn report)
{
	struct policy *p = NULL;
	if (policy_load(cfg->policy_path, 1, &p, report, NULL) != 0)
		return NULL;
	if (policy_canonicalize(p) < 0) {
		policy_free(p);
		return NULL;
	}
	return p;
}

/* The cached hub version d, or NULL (logged) when it does not parse. */
static struct policy *load_cached(const struct policydoc *d, const char *label)
{
	struct policy *p = NULL;
	if (policy_parse(d->text, d->len, label, &p, log_parse_error, NULL) != 0)
		return NULL;
	if (policy_canonicalize(p) < 0) {
		policy_free(p);
		return NULL;
	}
	return p;
}

struct policy *policysync_load(const struct jitsud_config *cfg, policy_error_fn report,
			       char *version, size_t len)
{
	struct policydoc d;
	struct hublink l;
	char err[512], label[POLICYDOC_LABEL_MAX];
	int enrolled = hublink_load(cfg->state_dir, &l, err, sizeof err) != -ENOENT;
	explicit_bzero(&l, sizeof l);
	int r = enrolled ? cache_load(cfg->state_dir, &d, err, sizeof err) : -ENOENT;
	if (r == -ENOENT || (r == 0 && !d.has_group)) {
		snprintf(version, len, "local");
		return load_local(cfg, report);
	}
	struct policy *p = NULL;
	if (r == 0) {
		policydoc_label(&d, label, sizeof label);
		p = load_cached(&d, label);
		if (p)
			log_info("enforcing the hub's policy %s (%zu rules); the local file %s is "
				 "ignored on this endpoint",
				 label, p->nrules, cfg->policy_path);
		else
			log_err("the cached hub policy %s does not parse: denying every request "
				"until the hub sends one that does",
				label);
	} else {
		log_err("%s: denying every request until the hub sends a policy", err);
	}
	policydoc_clear(&d);
	if (p) {
		snprintf(version, len, "%s", label);
		return p;
	}
	snprintf(version, len, "none");
	return deny_all("none");
}

int policysync_test(const struct jitsud_config *cfg)
{
	struct policydoc d;
	struct hublink l;
	char err[512], label[POLICYDOC_LABEL_MAX];
	if (hublink_load(cfg->state_dir, &l, err, sizeof err) == -ENOENT)
		return 0;
	explicit_bzero(&l, sizeof l);
	int r = cache_load(cfg->state_dir, &d, err, sizeof err);
	if (r == -ENOENT || (r == 0 && !d.has_group)) {
		policydoc_clear(&d);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	struct policy *p = NULL;
	policydoc_label(&d, label, sizeof label);
	r = policy_parse(d.text, d.len, label, &p, NULL, NULL);
	if (r == 0)
		printf("%s: OK, %zu rules (cached from the hub; enforced instead of %s)\n", label,
		       p->nrules, cfg->policy_path);
	else
		fprintf(stderr, "%s: the cached hub policy does not parse\n", label);
	policy_free(p);
	policydoc_clear(&d);
	return r == 0 ? 1 : -1;
}
