/*
 * ship: the audit shipper process and its supervision by the main
 * process. The MUST rules are in ship.h.
 */
#include "ship.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "hubcall.h"
#include "hublink.h"
#include "jitsu/audit.h"
#include "jitsu/log.h"

#define SHIP_LINE_MAX (1000 * 1024) /* a longer record goes as a stub (ship.h) */
#define SHIP_BACKOFF_MIN_MS 2000
#define SHIP_BACKOFF_MAX_MS 60000
#define SHIP_SETTLE_MS 200 /* after a change in the trail, before looking */
#define SHIP_CALL_MS 30000 /* one hub call */
#define SHIP_TAIL 65536    /* bytes read from the end for the last seq */
#define RESTART_MIN_MS 1000
#define RESTART_MAX_MS 60000
#define RESTART_STABLE_MS 60000 /* a shipper that lived this long was fine */
#define STOP_GRACE_MS 2000
#define CURSOR_MAGIC "jitsu-audit-ship-v1"

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the cursor ---- */

struct cursor {
	int64_t seq;   /* last acknowledged; 0: none */
	char hash[65]; /* its hash, or "" if unknown */
};

/* "jitsu-audit-ship-v1 <seq> <64 hex or ->\n", exactly. */
static int cursor_parse(const char *buf, struct cursor *c)
{
	const char *p = buf + strlen(CURSOR_MAGIC " ");
	char *end;

	if (strncmp(buf, CURSOR_MAGIC " ", strlen(CURSOR_MAGIC " ")) != 0 || *p < '0' || *p > '9')
		return -1;
	errno = 0;
	long long seq = strtoll(p, &end, 10);
	if (errno || *end != ' ' || seq < 0)
		return -1;
	p = end + 1;
	size_t n = strspn(p, "0123456789abcdef");
	if (strcmp(p, "-\n") == 0)
		n = 0;
	else if (n != 64 || strcmp(p + 64, "\n") != 0)
		return -1;
	c->seq = seq;
	memcpy(c->hash, p, n);
	c->hash[n] = '\0';
	return 0;
}

static void cursor_load(int statefd, struct cursor *c)
{
	char buf[256];

	memset(c, 0, sizeof *c);
	int n = hublink_read_small(statefd, SHIP_CURSOR_FILE, buf, sizeof buf, 1);
	if (n == -ENOENT)
		return;
	if (n < 0 || cursor_parse(buf, c) < 0) {
		/* Starting over loses nothing: the hub skips what it has. */
		memset(c, 0, sizeof *c);
		log_err("audit shipping: %s is unusable; shipping the whole trail again",
			SHIP_CURSOR_FILE);
	}
}

static int cursor_save(int statefd, const struct cursor *c)
{
	char buf[128], tmp[] = SHIP_CURSOR_FILE ".tmp";
	int n = snprintf(buf, sizeof buf, "%s %lld %s\n", CURSOR_MAGIC, (long long)c->seq,
			 c->hash[0] ? c->hash : "-");
	int fd = openat(statefd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int ok = fchmod(fd, 0600) == 0 && write(fd, buf, (size_t)n) == n && fsync(fd) == 0;
	int e = errno;
	close(fd);
	if (!ok || renameat(statefd, tmp, statefd, SHIP_CURSOR_FILE) != 0 || fsync(statefd) != 0) {
		unlinkat(statefd, tmp, 0);
		return -(ok ? errno : e);
	}
	return 0;
}

uint64_t ship_hold_seq(const char *state_dir)
{
	char path[4096];
	struct stat st;
	struct cursor c;

	snprintf(path, sizeof path, "%s/hub.conf", state_dir);
	if (stat(path, &st) != 0 && errno == ENOENT)
		return 0; /* not enrolled: no reader to wait for */
	int statefd = open(state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (statefd < 0)
		return 1;
	char buf[256];
	int n = hublink_read_small(statefd, SHIP_CURSOR_FILE, buf, sizeof buf, 1);
	close(statefd);
	if (n < 0 || cursor_parse(buf, &c) < 0)
		return 1; /* nothing known to be shipped: hold everything */
	return (uint64_t)c.seq + 1;
}

/* ---- reading the trail ---- */

/* Where a line ends in its file: so that the next round reads on from
 * the last acknowledged line instead of from the top of the file. */
struct pos {
	dev_t dev;
	ino_t ino;
	off_t off;
	int64_t seq; /* the line's */
	int valid;
};

struct line {
	char *text; /* the line as sent (bytes outside ASCII made '?') */
	size_t len;
	int64_t seq;
	char hash[65];
	struct pos end;
};

struct batch {
	struct line items[SHIP_BATCH_RECORDS];
	struct pos at; /* the line being read */
	size_t n, bytes;
	int64_t after;    /* the cursor the batch follows */
	int64_t last_seq; /* highest seq read in the trail */
	int full;         /* stopped at a limit: more is waiting */
};

static void batch_clear(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->items[i].text);
	memset(b, 0, sizeof *b);
}

/* The bytes a line takes as a JSON string. */
static size_t json_len(const char *s, size_t n)
{
	size_t out = 3; /* quotes and a comma */
	for (size_t i = 0; i < n; i++)
		out += s[i] == '"' || s[i] == '\\' ? 2 : (unsigned char)s[i] < 0x20 ? 6 : 1;
	return out;
}

/* seq and hash of a line, as far as they can be read (0 and "" if not). */
static void line_id(const char *s, size_t n, int64_t *seq, char hash[65])
{
	json_t *o = json_loadb(s, n, 0, NULL);
	json_t *q = json_object_get(o, "seq");
	const char *h = json_string_value(json_object_get(o, "hash"));
	*seq = json_is_integer(q) && json_integer_value(q) > 0 ? json_integer_value(q) : 0;
	snprintf(hash, 65, "%s", h && strlen(h) == 64 ? h : "");
	json_decref(o);
}

/* What is sent for a record too large for one call: its identity only.
 * The hub stores it flagged and alerts (it cannot check its hash). */
static char *stub(int64_t seq, const char *hash, size_t len)
{
	json_t *o = json_pack("{s:s,s:s,s:I,s:I}", "event", "oversize", "hash", hash, "seq",
			      (json_int_t)seq, "size", (json_int_t)len);
	char *t = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	return t;
}

/* Takes one complete line (without newline) into b if it fits. Returns 1
 * if taken or skipped (already shipped), 0 if the batch is full, -1 on
 * out of memory. *prev is the seq of the line before (for unreadable ones). */
static int take_line(struct batch *b, const struct cursor *c, char *s, size_t n, int64_t *prev,
		     int *warned)
{
	struct line l = {.len = n};
	line_id(s, n, &l.seq, l.hash);
	if (l.seq == 0)
		l.seq = *prev + 1; /* unreadable: it holds the next place */
	*prev = l.seq;
	if (l.seq > b->last_seq)
		b->last_seq = l.seq;
	if (l.seq <= c->seq) {
		if (l.seq == c->seq && c->hash[0] && strcmp(l.hash, c->hash) != 0 && !*warned) {
			log_err("audit shipping: local record %lld is not the one shipped",
				(long long)l.seq);
			*warned = 1;
		}
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			s[i] = '?'; /* a valid record is printable ASCII; the hub flags this one */
	/* Bounded as sent (JSON-escaped), so that one call always carries it. */
	l.text = json_len(s, n) > SHIP_LINE_MAX ? stub(l.seq, l.hash, n) : strndup(s, n);
	if (!l.text)
		return -1;
	l.len = strlen(l.text);
	size_t add = json_len(l.text, l.len);
	if (b->n == SHIP_BATCH_RECORDS || (b->n > 0 && b->bytes + add > SHIP_BATCH_BYTES)) {
		free(l.text);
		b->full = 1;
		return 0;
	}
	l.end = b->at;
	l.end.seq = l.seq;
	b->items[b->n++] = l;
	b->bytes += add;
	return 1;
}

/* Reads one file's complete lines into b, from p's place if p is in it.
 * 0 to go on, 1 when full, -1. */
static int read_file(int auditfd, const char *name, struct batch *b, const struct cursor *c,
		     const struct pos *p, int64_t *prev, int *warned)
{
	int fd = openat(auditfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	struct stat st;
	char *s = NULL;
	size_t cap = 0;
	ssize_t n;
	int r = 0;

	if (!f) {
		if (fd >= 0)
			close(fd);
		return errno == ENOENT ? 0 : -1;
	}
	memset(&b->at, 0, sizeof b->at);
	if (fstat(fd, &st) == 0) {
		b->at = (struct pos){.dev = st.st_dev, .ino = st.st_ino, .valid = 1};
		if (p->valid && p->seq == c->seq && p->dev == st.st_dev && p->ino == st.st_ino &&
		    p->off <= st.st_size && fseeko(f, p->off, SEEK_SET) == 0) {
			b->at.off = p->off;
			*prev = p->seq;
		}
	}
	while (r == 0 && (n = getline(&s, &cap, f)) > 0) {
		if (s[n - 1] != '\n')
			break; /* still being written */
		b->at.off += n;
		int t = take_line(b, c, s, (size_t)n - 1, prev, warned);
		r = t < 0 ? -1 : t == 0 ? 1 : 0;
	}
	free(s);
	fclose(f);
	return r;
}

/* Collects the records after c: on in audit.log from p when p is there,
 * else from the rotated file that holds c->seq + 1 on. */
static int collect(int auditfd, const struct cursor *c, const struct pos *p, struct batch *b,
		   int *warned)
{
	uint64_t *seqs = NULL;
	size_t n = 0, first = 0;
	char name[AUDIT_FILE_NAME_MAX];
	int64_t prev = c->seq;
	struct stat st;
	int r = audit_list_rotated(auditfd, &seqs, &n);

	batch_clear(b);
	b->after = c->seq;
	if (r < 0)
		return r;
	if (p->valid && p->seq == c->seq &&
	    fstatat(auditfd, "audit.log", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == p->dev &&
	    st.st_ino == p->ino)
		n = 0; /* nothing new was rotated away since */
	for (size_t i = 0; i < n; i++)
		if (seqs[i] <= (uint64_t)c->seq)
			first = i; /* earlier files hold only records shipped already */
	r = 0;
	for (size_t i = first; i < n && r == 0; i++) {
		audit_record_file_name(seqs[i], name);
		prev = (int64_t)seqs[i] - 1;
		r = read_file(auditfd, name, b, c, p, &prev, warned);
	}
	free(seqs);
	if (r == 0)
		r = read_file(auditfd, "audit.log", b, c, p, &prev, warned);
	return r < 0 ? -EIO : 0;
}

/* ---- talking to the hub ---- */

static int post_batch(const struct hublink *l, const struct batch *b, char *err, size_t errlen)
{
	json_t *recs = json_array(), *ans = NULL;
	long status = 0;

	for (size_t i = 0; recs && i < b->n; i++)
		json_array_append_new(recs, json_stringn(b->items[i].text, b->items[i].len));
	json_t *body = json_pack("{s:I,s:o}", "after", (json_int_t)b->after, "records", recs);
	if (!body || json_array_size(recs) != b->n) {
		json_decref(body);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int r = hubcall(l, "POST", "/api/v1/endpoint/audit", body, SHIP_CALL_MS, -1, &status, &ans,
			err, errlen);
	json_decref(body);
	if (r == 0 && status != 200)
		r = hubclient_error(status, ans, err, errlen);
	json_t *acked = json_object_get(ans, "acked_seq");
	if (r == 0 &&
	    (!json_is_integer(acked) || json_integer_value(acked) != b->items[b->n - 1].seq)) {
		snprintf(err, errlen, "the hub acknowledged another seq");
		r = -EPROTO;
	}
	json_decref(ans);
	return r;
}

/* The seq of the last complete line of audit.log, or fallback if there is
 * none to read. */
static int64_t last_local_seq(int auditfd, int64_t fallback)
{
	char *buf = malloc(SHIP_TAIL + 1);
	int fd = openat(auditfd, "audit.log", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	int64_t seq = 0;
	char hash[65];

	if (buf && fd >= 0 && fstat(fd, &st) == 0) {
		off_t from = st.st_size > SHIP_TAIL ? st.st_size - SHIP_TAIL : 0;
		ssize_t n = pread(fd, buf, SHIP_TAIL, from);
		while (n > 0 && buf[n - 1] != '\n')
			n--; /* a line being written */
		if (n > 0) {
			buf[n - 1] = '\0';
			char *start = strrchr(buf, '\n');
			start = start ? start + 1 : (from == 0 ? buf : NULL);
			if (start)
				line_id(start, strlen(start), &seq, hash);
		}
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	/* The trail as it is, even lower than before: the hub alerts on that. */
	return seq > 0 ? seq : fallback;
}

/* The last local seq, and the cursor: a trail that ends before what was
 * shipped from it was wiped or rewound (the hub alerts on that). */
static int heartbeat(const struct hublink *l, int64_t seq, int64_t shipped, char *err,
		     size_t errlen)
{
	json_t *ans = NULL;
	long status = 0;
	json_t *body = json_pack("{s:s,s:I,s:I}", "agent_version", JITSU_VERSION, "audit_seq",
				 (json_int_t)seq, "shipped_seq", (json_int_t)shipped);
	int r = hubcall(l, "POST", "/api/v1/endpoint/heartbeat", body, SHIP_CALL_MS, -1, &status,
			&ans, err, errlen);
	json_decref(body);
	if (r == 0 && status != 200)
		r = hubclient_error(status, ans, err, errlen);
	json_decref(ans);
	return r;
}

/* ---- the shipper process ---- */

struct ship {
	struct hublink link;
	int statefd, auditfd, inofd;
	struct cursor cur;
	struct pos pos; /* where the line of cur ends */
	struct batch batch;
	int failing, beat_failing, warned;
	int64_t backoff_ms, next_ship, next_beat, beat_ms, last_seq;
};

/* Logs a change between working and failing, not every failure. */
static void outcome(struct ship *s, int r, const char *what, const char *err)
{
	if (r < 0 && !s->failing)
		log_warn("audit shipping: %s failed (records wait in the local trail): %s", what,
			 err);
	else if (r == 0 && s->failing)
		log_info("audit shipping: the hub answers again");
	s->failing = r < 0;
}

/* One round: collect, send, move the cursor. Returns when to look again. */
static int64_t ship_round(struct ship *s, int64_t now)
{
	char err[512] = "";
	int r = collect(s->auditfd, &s->cur, &s->pos, &s->batch, &s->warned);
	/* A gap right at the cursor may be a rotation racing the listing:
	 * look once more, from the top, before sending it (the hub would
	 * see a gap). */
	if (r == 0 && s->batch.n && s->batch.items[0].seq != s->cur.seq + 1) {
		s->pos.valid = 0;
		r = collect(s->auditfd, &s->cur, &s->pos, &s->batch, &s->warned);
	}
	if (s->batch.last_seq > s->last_seq)
		s->last_seq = s->batch.last_seq;
	if (r < 0) {
		snprintf(err, sizeof err, "cannot read the audit trail: %s", strerror(-r));
		outcome(s, r, "reading", err);
		return now + SHIP_BACKOFF_MAX_MS;
	}
	if (s->batch.n == 0)
		return now + SHIP_INTERVAL_MS;
	r = post_batch(&s->link, &s->batch, err, sizeof err);
	if (r == 0) {
		const struct line *last = &s->batch.items[s->batch.n - 1];
		struct cursor next = {.seq = last->seq};
		snprintf(next.hash, sizeof next.hash, "%s", last->hash);
		r = cursor_save(s->statefd, &next);
		if (r < 0)
			snprintf(err, sizeof err, "cannot write %s: %s", SHIP_CURSOR_FILE,
				 strerror(-r));
		else
			s->cur = next, s->pos = last->end;
	}
	outcome(s, r, "sending", err);
	int full = s->batch.full;
	batch_clear(&s->batch);
	if (r < 0) {
		s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : SHIP_BACKOFF_MIN_MS;
		if (s->backoff_ms > SHIP_BACKOFF_MAX_MS)
			s->backoff_ms = SHIP_BACKOFF_MAX_MS;
		return now + s->backoff_ms;
	}
	s->backoff_ms = 0;
	return full ? now : now + SHIP_INTERVAL_MS;
}

static void beat(struct ship *s, int64_t now)
{
	char err[512] = "";
	s->last_seq = last_local_seq(s->auditfd, s->last_seq);
	int r = heartbeat(&s->link, s->last_seq, s->cur.seq, err, sizeof err);
	if (r < 0 && !s->failing && !s->beat_failing)
		log_warn("audit shipping: heartbeat failed: %s", err);
	s->beat_failing = r < 0;
	s->next_beat = now + s->beat_ms;
}

/* Waits for the next due time or a change in the trail. */
static void wait_next(struct ship *s)
{
	int64_t now = mono_ms();
	int64_t due = s->next_ship < s->next_beat ? s->next_ship : s->next_beat;
	struct pollfd p = {s->inofd, POLLIN, 0};
	char ev[4096];

	if (due <= now)
		return;
	if (poll(&p, s->inofd >= 0 ? 1 : 0, (int)(due - now)) > 0 && (p.revents & POLLIN)) {
		while (read(s->inofd, ev, sizeof ev) > 0)
			;
		/* New records: soon, unless the hub is being given a rest. */
		if (!s->backoff_ms && s->next_ship > mono_ms() + SHIP_SETTLE_MS)
			s->next_ship = mono_ms() + SHIP_SETTLE_MS;
	}
}

/* Closes what the main process held, and ties our life to it. */
static void detach(const struct jitsud_config *cfg, pid_t parent)
{
	sigset_t none;
	closelog();
	syscall(SYS_close_range, 3, ~0U, 0);
	log_init("jitsud", cfg->foreground);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_NAME, "jitsud-ship", 0, 0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
		_exit(0);
	setpriority(PRIO_PROCESS, 0, 10); /* elevations first */
}

__attribute__((noreturn)) static void ship_main(const struct jitsud_config *cfg, pid_t parent)
{
	static struct ship s;
	char err[512], dir[4096];

	detach(cfg, parent);
	s.beat_ms =
		(int64_t)(cfg->hub_heartbeat ? cfg->hub_heartbeat : SHIP_HEARTBEAT_DEFAULT) * 1000;
	snprintf(dir, sizeof dir, "%s/audit", cfg->state_dir);
	s.statefd = open(cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	s.auditfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s.statefd < 0 || s.auditfd < 0 ||
	    hublink_load(cfg->state_dir, &s.link, err, sizeof err) < 0) {
		log_err("audit shipping: cannot start: %s", s.auditfd < 0 ? dir : "hub.conf");
		_exit(1);
	}
	s.inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s.inofd >= 0 &&
	    inotify_add_watch(s.inofd, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
		close(s.inofd);
		s.inofd = -1; /* the timer alone still ships */
	}
	cursor_load(s.statefd, &s.cur);
	log_info("audit shipping to %s from seq %lld", s.link.url, (long long)s.cur.seq + 1);
	for (;;) {
		int64_t now = mono_ms();
		if (now >= s.next_beat)
			beat(&s, now);
		if (now >= s.next_ship)
			s.next_ship = ship_round(&s, now);
		wait_next(&s);
	}
}

/* ---- supervision, in the main process ---- */

void shipper_start(struct shipper *s, const struct jitsud_config *cfg)
{
	char path[4096];
	struct stat st;

	if (s->pid > 0)
		return;
	snprintf(path, sizeof path, "%s/hub.conf", cfg->state_dir);
	if (stat(path, &st) != 0)
		return; /* not enrolled: nothing to ship to */
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0)
		ship_main(cfg, parent);
	if (pid < 0) {
		log_err("audit shipping: fork: %s", strerror(errno));
		s->restart_at_ms = mono_ms() + RESTART_MAX_MS;
		return;
	}
	s->pid = pid;
	s->started_ms = mono_ms();
	s->restart_at_ms = 0;
}

int shipper_reaped(struct shipper *s, pid_t pid)
{
	if (s->pid <= 0 || pid != s->pid)
		return 0;
	int64_t now = mono_ms();
	s->pid = 0;
	if (now - s->started_ms >= RESTART_STABLE_MS)
		s->failures = 0;
	int64_t delay = RESTART_MIN_MS;
	for (unsigned i = 0; i < s->failures && delay < RESTART_MAX_MS; i++)
		delay *= 2;
	s->failures++;
	s->restart_at_ms = now + (delay < RESTART_MAX_MS ? delay : RESTART_MAX_MS);
	log_warn("audit shipping: the shipper ended; restarting in %lld s",
		 (long long)(delay / 1000));
	return 1;
}

int shipper_timeout_ms(const struct shipper *s)
{
	if (!s->restart_at_ms)
		return -1;
	int64_t left = s->restart_at_ms - mono_ms();
	return left > 0 ? (int)left : 0;
}

void shipper_tick(struct shipper *s, const struct jitsud_config *cfg)
{
	if (s->restart_at_ms && mono_ms() >= s->restart_at_ms)
		shipper_start(s, cfg);
}

void shipper_stop(struct shipper *s)
{
	s->restart_at_ms = 0;
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	int64_t until = mono_ms() + STOP_GRACE_MS;
	while (waitpid(s->pid, NULL, WNOHANG) == 0) {
		if (mono_ms() >= until) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
			break;
		}
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	s->pid = 0;
}
