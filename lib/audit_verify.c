/*
 * audit_verify: a snapshot of the audit directory read line by line, and
 * the checks of chain, retention and seals. The MUST rules are in
 * include/jitsu/audit_verify.h; the format in docs/audit-format.md.
 */
#include "jitsu/audit_verify.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nettle/memops.h>

#include "jitsu/audit.h"

#define CHUNK (64 * 1024)
#define SLACK_MAX_US (300 * INT64_C(1000000)) /* clock steps back this much */

/* One verification key and how far its key schedule has been run. */
struct vkstate {
	const struct audit_vkey *vk;
	int have; /* key holds the key of epoch */
	uint64_t epoch;
	uint8_t key[AUDIT_KEY_LEN];
};

struct verifier {
	struct audit_verify_report *rep;
	struct vkstate *keys;
	size_t nkeys;
	int64_t now;
	uint64_t next_seq; /* 0 before the first record */
	uint8_t prev[AUDIT_HASH_LEN];
	uint64_t keep_claim; /* oldest_kept_seq of the last rotate record */
	int64_t *pending;    /* times of the records since the last seal */
	size_t npending, cap;
	uint64_t pending_seq; /* seq of pending[0] */
	uint64_t file_seq;    /* first seq the file name promises, or 0 */
	int first_in_file;
};

static int bad(struct verifier *v, uint64_t seq, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first problem and returns -EBADMSG. */
static int bad(struct verifier *v, uint64_t seq, const char *fmt, ...)
{
	va_list ap;
	v->rep->bad_seq = seq ? seq : 1;
	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
	vsnprintf(v->rep->reason, sizeof v->rep->reason, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static int pending_push(struct verifier *v, const struct audit_record *r)
{
	if (v->npending == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 256;
		int64_t *p = realloc(v->pending, cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		v->pending = p;
		v->cap = cap;
	}
	if (!v->npending)
		v->pending_seq = r->seq;
	v->pending[v->npending++] = r->time_us;
	return 0;
}

/* How far a clock step back may move a record before its epoch. */
static int64_t slack_us(const struct audit_vkey *k)
{
	int64_t s = (int64_t)k->interval * 1000000 / 4;
	return s < SLACK_MAX_US ? s : SLACK_MAX_US;
}

/* Brings ks's key schedule to epoch (never backwards). */
static int advance_key(struct vkstate *ks, uint64_t epoch)
{
	if (!ks->have) {
		ks->have = 1;
		ks->epoch = epoch;
		return audit_record_epoch_key(ks->vk, epoch, ks->key);
	}
	for (; ks->epoch < epoch; ks->epoch++)
		if (audit_record_evolve(ks->key) < 0)
			return -EIO;
	return 0;
}

/* Checks the epoch of a seal by ks: known, in order, not in the future. */
static int seal_epoch_ok(struct verifier *v, struct vkstate *ks, const struct audit_record *r,
			 uint64_t epoch)
{
	const struct audit_vkey *k = ks->vk;
	uint64_t now_s = v->now > 0 ? (uint64_t)(v->now / 1000000) : 0;
	if (epoch > (UINT64_MAX - k->start) / k->interval - 1 ||
	    k->start + epoch * k->interval > now_s + k->interval)
		return bad(v, r->seq, "seal epoch %" PRIu64 " lies in the future", epoch);
	if (ks->have && epoch < ks->epoch)
		return bad(v, r->seq,
			   "seal epoch %" PRIu64 " comes after epoch %" PRIu64 " of the same key",
			   epoch, ks->epoch);
	return 0;
}

/* No record a seal covers may be older than its epoch: a key stolen in a
 * later epoch cannot re-seal an earlier one without moving its times. */
static int check_covered(struct verifier *v, const struct vkstate *ks, uint64_t epoch,
			 const struct audit_record *r)
{
	const struct audit_vkey *k = ks->vk;
	int64_t from = (int64_t)(k->start + epoch * k->interval) * 1000000 - slack_us(k);
	int64_t setup = (int64_t)k->start * 1000000;
	for (size_t i = 0; i < v->npending; i++) {
		int64_t t = v->pending[i];
		if (t >= setup && t < from)
			return bad(v, v->pending_seq + i,
				   "record is older than the epoch (%" PRIu64
				   ") of seal seq %" PRIu64
				   " covering it: rewritten with a later key?",
				   epoch, r->seq);
	}
	return 0;
}

static int check_seal(struct verifier *v, const struct audit_record *r)
{
	json_t *je = json_object_get(r->obj, "epoch");
	json_t *jk = json_object_get(r->obj, "kid");
	json_t *jm = json_object_get(r->obj, "mac");
	uint8_t mac[AUDIT_HASH_LEN], want[AUDIT_HASH_LEN], kidb[AUDIT_KID_LEN / 2];
	if (!json_is_integer(je) || json_integer_value(je) < 0 || !json_is_string(jk) ||
	    audit_record_unhex(json_string_value(jk), kidb, sizeof kidb) < 0 ||
	    !json_is_string(jm) || audit_record_unhex(json_string_value(jm), mac, sizeof mac) < 0)
		return bad(v, r->seq, "malformed seal record");
	v->rep->seals++;
	if (!v->nkeys)
		return 0;
	const char *kid = json_string_value(jk);
	uint64_t epoch = (uint64_t)json_integer_value(je);
	struct vkstate *ks = NULL;
	for (size_t i = 0; i < v->nkeys && !ks; i++)
		if (!strcmp(v->keys[i].vk->kid, kid))
			ks = &v->keys[i];
	if (!ks)
		return bad(v, r->seq, "seal made with key id %s, which is not among the keys given",
			   kid);
	int ret = seal_epoch_ok(v, ks, r, epoch);
	if (!ret && advance_key(ks, epoch) < 0)
		ret = bad(v, r->seq, "deriving the epoch key failed");
	if (!ret && audit_record_seal_mac(ks->key, epoch, r->seq, r->prev, kid, want) < 0)
		ret = bad(v, r->seq, "computing the seal failed");
	if (!ret && !memeql_sec(mac, want, sizeof mac))
		ret = bad(v, r->seq,
			  "seal does not match: the records before it were changed, "
			  "or the seal was forged");
	if (!ret)
		ret = check_covered(v, ks, epoch, r);
	if (!ret)
		v->rep->seals_checked++;
	return ret;
}

/* Chain position: seq in order, prev linking, file name promise. */
static int check_link(struct verifier *v, const struct audit_record *r)
{
	static const uint8_t zero[AUDIT_HASH_LEN];
	if (v->first_in_file && v->file_seq && r->seq != v->file_seq)
		return bad(v, v->next_seq ? v->next_seq : v->file_seq,
			   "file starts with seq %" PRIu64 ", its name says %" PRIu64, r->seq,
			   v->file_seq);
	if (!v->next_seq) {
		if (r->seq == 1 && memcmp(r->prev, zero, sizeof zero) != 0)
			return bad(v, 1, "first record does not start a chain (prev is not zero)");
		v->rep->first_seq = r->seq;
		return 0;
	}
	if (r->seq != v->next_seq)
		return bad(v, v->next_seq,
			   "expected seq %" PRIu64 ", found seq %" PRIu64
			   " (records missing, reordered or duplicated)",
			   v->next_seq, r->seq);
	if (memcmp(r->prev, v->prev, AUDIT_HASH_LEN) != 0)
		return bad(v, r->seq, "prev is not the hash of seq %" PRIu64, r->seq - 1);
	return 0;
}

/* One line, without its newline. */
static int verify_line(struct verifier *v, const char *line, size_t len)
{
	struct audit_record r;
	char why[160];
	if (audit_record_parse(line, len, &r, why, sizeof why) < 0)
		return bad(v, v->next_seq ? v->next_seq : v->file_seq, "%s", why);
	int ret = check_link(v, &r);
	if (!ret && !strcmp(r.event, AUDIT_EV_SEAL)) {
		ret = check_seal(v, &r);
		v->npending = 0;
	} else if (!ret) {
		ret = pending_push(v, &r);
		if (ret < 0)
			ret = bad(v, r.seq, "out of memory");
	}
	json_t *kept = json_object_get(r.obj, "oldest_kept_seq");
	if (!ret && !strcmp(r.event, AUDIT_EV_ROTATE)) {
		if (!json_is_integer(kept) || json_integer_value(kept) < 1)
			ret = bad(v, r.seq, "malformed rotate record");
		else
			v->keep_claim = (uint64_t)json_integer_value(kept);
	}
	if (!ret) {
		v->next_seq = r.seq + 1;
		memcpy(v->prev, r.hash, AUDIT_HASH_LEN);
		v->rep->records++;
		v->rep->last_seq = r.seq;
		v->first_in_file = 0;
	}
	audit_record_free(&r);
	return ret;
}

/* After the last line: retention and what is left unsealed. */
static int verify_end(struct verifier *v)
{
	uint64_t first = v->rep->first_seq;
	if (first > 1 && !v->keep_claim)
		return bad(v, first - 1,
			   "history before seq %" PRIu64 " is missing and no rotate "
			   "record says it was pruned",
			   first);
	if (first > 1 && first > v->keep_claim)
		return bad(v, v->keep_claim,
			   "files from seq %" PRIu64 " on should have been kept, "
			   "but the oldest found starts at seq %" PRIu64,
			   v->keep_claim, first);
	if (v->nkeys)
		v->rep->unsealed = v->npending;
	return 0;
}

static int verifier_init(struct verifier *v, const struct audit_vkey *keys, size_t nkeys,
			 int64_t now, struct audit_verify_report *rep)
{
	memset(rep, 0, sizeof *rep);
	memset(v, 0, sizeof *v);
	v->rep = rep;
	v->now = now ? now : (int64_t)time(NULL) * 1000000;
	v->keys = calloc(nkeys ? nkeys : 1, sizeof *v->keys);
	if (!v->keys) {
		snprintf(rep->reason, sizeof rep->reason, "out of memory");
		return -ENOMEM;
	}
	v->nkeys = nkeys;
	for (size_t i = 0; i < nkeys; i++)
		v->keys[i].vk = &keys[i];
	return 0;
}

static void verifier_free(struct verifier *v)
{
	explicit_bzero(v->keys, (v->nkeys ? v->nkeys : 1) * sizeof *v->keys);
	free(v->keys);
	free(v->pending);
}

/* ---- reading lines --------------------------------------------------- */

typedef int (*line_fn)(void *ctx, const char *line, size_t len);

struct acc {
	char *p;
	size_t len, cap;
};

static int acc_add(struct acc *a, const char *p, size_t n)
{
	if (!n)
		return 0;
	if (a->len + n > AUDIT_MAX_LINE)
		return -EMSGSIZE;
	if (a->len + n > a->cap) {
		size_t cap = a->cap ? a->cap : 4096;
		while (cap < a->len + n)
			cap *= 2;
		char *q = realloc(a->p, cap);
		if (!q)
			return -ENOMEM;
		a->p = q;
		a->cap = cap;
	}
	memcpy(a->p + a->len, p, n);
	a->len += n;
	return 0;
}

/* Feeds the complete lines of one chunk to fn; keeps the rest in a. */
static int feed(struct acc *a, const char *p, size_t n, line_fn fn, void *ctx)
{
	const char *end = p + n, *nl;
	int r;
	while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
		if (a->len) {
			if ((r = acc_add(a, p, (size_t)(nl - p))) < 0)
				return r;
			r = fn(ctx, a->p, a->len);
			a->len = 0;
		} else {
			r = fn(ctx, p, (size_t)(nl - p));
		}
		if (r)
			return r;
		p = nl + 1;
	}
	return acc_add(a, p, (size_t)(end - p));
}

/* Reads size bytes of fd line by line. *rest gets the number of bytes
 * after the last newline. Returns 0, fn's nonzero value, or -errno. */
static int read_lines(int fd, uint64_t size, line_fn fn, void *ctx, size_t *rest)
{
	struct acc a = {0};
	char *buf = malloc(CHUNK);
	int r = buf ? 0 : -ENOMEM;
	for (uint64_t off = 0; !r && off < size;) {
		size_t want = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
		ssize_t got = pread(fd, buf, want, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			r = got < 0 ? -errno : -EIO;
			break;
		}
		off += (uint64_t)got;
		r = feed(&a, buf, (size_t)got, fn, ctx);
	}
	*rest = a.len;
	free(a.p);
	free(buf);
	return r;
}

/* ---- the directory snapshot ------------------------------------------ */

struct snap {
	int fd;
	uint64_t size;
	uint64_t seq; /* first seq from the name; 0: audit.log */
	char name[AUDIT_FILE_NAME_MAX];
};

static void snap_free(struct snap *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].fd >= 0)
			close(s[i].fd);
	free(s);
}

static int snap_open(int dirfd, struct snap *s, char *err, size_t errlen)
{
	struct stat st;
	s->fd = openat(dirfd, s->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (s->fd < 0 && errno == ENOENT && !s->seq)
		return 0; /* no audit.log: fine */
	if (s->fd < 0 || fstat(s->fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", s->name, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", s->name);
		return -EINVAL;
	}
	s->size = (uint64_t)st.st_size;
	return 0;
}

/*
 * Opens every file of the trail, oldest first, audit.log last, under a
 * shared lock so that no rotation happens in between; records each size so
 * that lines appended later are not read half-written.
 */
static int snapshot(const char *dir, struct snap **out, size_t *n, char *err, size_t errlen)
{
	uint64_t *seqs = NULL;
	size_t ns = 0;
	*out = NULL;
	*n = 0;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	int lockfd = openat(dirfd, "lock", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (lockfd >= 0)
		while (flock(lockfd, LOCK_SH) < 0 && errno == EINTR)
			;
	int r = audit_list_rotated(dirfd, &seqs, &ns);
	struct snap *s = r < 0 ? NULL : calloc(ns + 1, sizeof *s);
	if (!r && !s)
		r = -ENOMEM;
	for (size_t i = 0; !r && i <= ns; i++) {
		s[i].seq = i < ns ? seqs[i] : 0;
		if (i < ns)
			audit_record_file_name(seqs[i], s[i].name);
		else
			snprintf(s[i].name, sizeof s[i].name, "audit.log");
		s[i].fd = -1;
		*n = i + 1;
		r = snap_open(dirfd, &s[i], err, errlen);
	}
	if (r < 0 && !err[0])
		snprintf(err, errlen, "%s: %s", dir, strerror(-r));
	if (lockfd >= 0)
		close(lockfd);
	close(dirfd);
	free(seqs);
	if (r < 0) {
		snap_free(s, *n);
		*n = 0;
		return r;
	}
	*out = s;
	return 0;
}

/* ---- public ---------------------------------------------------------- */

static int verify_cb(void *ctx, const char *line, size_t len)
{
	return verify_line(ctx, line, len);
}

/* Lines of one file (or buffer) are done: a partial last line is a tear. */
static int verify_rest(struct verifier *v, size_t rest, int empty, const char *name)
{
	if (rest)
		return bad(v, v->next_seq ? v->next_seq : v->file_seq,
			   "%s ends with %zu bytes "
			   "that are not a whole line (a write torn by a crash; the next append "
			   "cuts it off)",
			   name, rest);
	if (empty && v->file_seq)
		return bad(v, v->file_seq, "%s is empty", name);
	return 0;
}

int audit_verify_dir(const char *dir, const struct audit_vkey *keys, size_t nkeys, int64_t now,
		     struct audit_verify_report *rep)
{
	struct verifier v;
	struct snap *s;
	size_t n, rest;
	int r = verifier_init(&v, keys, nkeys, now, rep);
	if (r < 0)
		return r;
	r = snapshot(dir, &s, &n, rep->reason, sizeof rep->reason);
	for (size_t i = 0; !r && i < n; i++) {
		if (s[i].fd < 0)
			continue;
		snprintf(rep->file, sizeof rep->file, "%s", s[i].name);
		v.file_seq = s[i].seq;
		v.first_in_file = 1;
		r = read_lines(s[i].fd, s[i].size, verify_cb, &v, &rest);
		if (r == -EMSGSIZE)
			r = bad(&v, v.next_seq, "line longer than %d bytes", AUDIT_MAX_LINE);
		if (!r)
			r = verify_rest(&v, rest, s[i].size == 0, s[i].name);
	}
	if (r < 0 && r != -EBADMSG && !rep->reason[0])
		snprintf(rep->reason, sizeof rep->reason, "%s", strerror(-r));
	if (!r) {
		rep->file[0] = '\0';
		r = verify_end(&v);
	}
	snap_free(s, n);
	verifier_free(&v);
	return r;
}

int audit_verify_buf(const char *buf, size_t len, const struct audit_vkey *keys, size_t nkeys,
		     int64_t now, struct audit_verify_report *rep)
{
	struct verifier v;
	struct acc a = {0};
	int r = verifier_init(&v, keys, nkeys, now, rep);
	if (r < 0)
		return r;
	r = feed(&a, buf, len, verify_cb, &v);
	if (r == -EMSGSIZE)
		r = bad(&v, v.next_seq, "line longer than %d bytes", AUDIT_MAX_LINE);
	else if (r == -ENOMEM)
		r = bad(&v, v.next_seq, "out of memory");
	if (!r)
		r = verify_rest(&v, a.len, 0, "the log");
	if (!r)
		r = verify_end(&v);
	free(a.p);
	verifier_free(&v);
	return r;
}

struct each {
	audit_verify_each_fn fn;
	void *ctx;
};

static int each_cb(void *ctx, const char *line, size_t len)
{
	struct each *e = ctx;
	struct audit_record r;
	char why[160];
	if (audit_record_parse(line, len, &r, why, sizeof why) < 0)
		return e->fn(NULL, line, len, why, e->ctx);
	int ret = e->fn(&r, line, len, NULL, e->ctx);
	audit_record_free(&r);
	return ret;
}

int audit_verify_each(const char *dir, audit_verify_each_fn fn, void *ctx, char *err, size_t errlen)
{
	struct snap *s;
	size_t n, rest;
	struct each e = {fn, ctx};
	err[0] = '\0';
	int r = snapshot(dir, &s, &n, err, errlen);
	if (r < 0)
		return r;
	for (size_t i = 0; !r && i < n; i++) {
		if (s[i].fd < 0)
			continue;
		r = read_lines(s[i].fd, s[i].size, each_cb, &e, &rest);
		if (r < 0)
			snprintf(err, errlen, "%s: %s", s[i].name, strerror(-r));
	}
	snap_free(s, n);
	return r;
}
