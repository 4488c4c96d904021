/*
 * audit: appends hash-chained, sealed records to <dir>/audit.log under a
 * lock, rotates, prunes, recovers torn tails and evolves the sealing key.
 * The MUST rules are in include/jitsu/audit.h; the format in
 * docs/audit-format.md.
 */
#include "jitsu/audit.h"

#include <dirent.h>
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

#include "jitsu/digest.h"

#define CUR_NAME "audit.log"
#define LOCK_NAME "lock"
#define KEY_NAME "seal.key"
#define KEY_TMP "seal.key.tmp"
#define KEY_MAGIC "jitsu-audit-seal-v1"
#define KEY_FILE_MAX 256
#define NO_KEY_TICK 60

/* The chain head; valid only while the lock is held. */
struct head {
	uint64_t seq;                 /* 0: no record yet */
	uint8_t hash[AUDIT_HASH_LEN]; /* zeros before the first record */
	int sealed;                   /* nothing written since the last seal */
};

/* The contents of seal.key. */
struct sealkey {
	uint64_t start;
	uint32_t interval;
	uint64_t epoch;
	char kid[AUDIT_KID_LEN + 1];
	uint8_t k[AUDIT_KEY_LEN];
};

struct audit_log {
	char *dir;             /* for messages */
	int dirfd, lockfd, fd; /* fd: audit.log, or -1 */
	pid_t pid;             /* the process lockfd was opened in */
	uint64_t max_size;
	unsigned keep;
	int64_t (*clock)(void);
	uint64_t (*hold)(const void *arg);
	const void *hold_arg;
	char host[256];
	char machine_id[64];
	struct head head;
};

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Writes "audit: <message>" into err and returns r, a negative errno. */
static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	if (err && errlen) {
		int n = snprintf(err, errlen, "audit: ");
		va_list ap;
		va_start(ap, fmt);
		if (n >= 0 && (size_t)n < errlen)
			// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
			vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return r;
}

static int64_t real_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int write_full(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int pread_full(int fd, void *p, size_t n, uint64_t off)
{
	char *c = p;
	while (n) {
		ssize_t r = pread(fd, c, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO; /* shorter than fstat said */
		c += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* ---- files ----------------------------------------------------------- */

/* Opens name in the audit directory and checks it is a regular file of
 * ours; tightens a loose mode. Returns the fd or -errno with err. */
static int open_checked(struct audit_log *l, const char *name, int flags, char *err, size_t errlen)
{
	int fd = openat(l->dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(err, errlen, -errno, "%s/%s: %s", l->dir, name, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		close(fd);
		return fail(err, errlen, -EPERM, "%s/%s: not a regular file owned by uid %u",
			    l->dir, name, (unsigned)geteuid());
	}
	if ((st.st_mode & 077) && fchmod(fd, 0600) < 0) {
		int r = -errno;
		close(fd);
		return fail(err, errlen, r, "%s/%s: chmod: %s", l->dir, name, strerror(-r));
	}
	return fd;
}

static int sync_dir(struct audit_log *l, char *err, size_t errlen)
{
	if (fsync(l->dirfd) < 0)
		return fail(err, errlen, -errno, "%s: fsync: %s", l->dir, strerror(errno));
	return 0;
}

/* Makes l->fd the current audit.log, creating it if needed: another
 * process may have rotated the file we had. */
static int open_current(struct audit_log *l, char *err, size_t errlen)
{
	struct stat named, ours;
	if (fstatat(l->dirfd, CUR_NAME, &named, AT_SYMLINK_NOFOLLOW) == 0) {
		if (l->fd >= 0 && fstat(l->fd, &ours) == 0 && ours.st_dev == named.st_dev &&
		    ours.st_ino == named.st_ino)
			return 0;
	} else if (errno != ENOENT) {
		return fail(err, errlen, -errno, "%s/%s: %s", l->dir, CUR_NAME, strerror(errno));
	}
	if (l->fd >= 0)
		close(l->fd);
	l->fd = open_checked(l, CUR_NAME, O_RDWR | O_APPEND | O_CREAT, err, errlen);
	if (l->fd < 0)
		return l->fd;
	return sync_dir(l, err, errlen); /* the name itself must be durable */
}

int audit_list_rotated(int dirfd, uint64_t **seqs, size_t *n)
{
	*seqs = NULL;
	*n = 0;
	/* A private fd: readdir moves the offset, which fork would share. */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		return r;
	}
	size_t cap = 0;
	struct dirent *e;
	uint64_t s;
	while ((e = readdir(d))) {
		if (audit_record_file_seq(e->d_name, &s) < 0)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			uint64_t *p = realloc(*seqs, cap * sizeof *p);
			if (!p) {
				closedir(d);
				free(*seqs);
				*seqs = NULL;
				*n = 0;
				return -ENOMEM;
			}
			*seqs = p;
		}
		(*seqs)[(*n)++] = s;
	}
	closedir(d);
	for (size_t i = 1; i < *n; i++) /* few files: insertion sort */
		for (size_t j = i; j > 0 && (*seqs)[j - 1] > (*seqs)[j]; j--) {
			s = (*seqs)[j];
			(*seqs)[j] = (*seqs)[j - 1];
			(*seqs)[j - 1] = s;
		}
	return 0;
}

/* ---- reading lines --------------------------------------------------- */

/*
 * Reads the line that ends at offset end of fd (exclusive; the byte at end,
 * if any, is its newline): *start is its first byte, *line a malloc'd copy
 * of *len bytes. Returns 0, -EMSGSIZE for an overlong line, or -errno.
 */
static int read_line_before(int fd, uint64_t end, char **line, size_t *len, uint64_t *start)
{
	char *buf = NULL;
	for (size_t c = 4096;; c *= 4) {
		uint64_t from = end > c ? end - c : 0;
		size_t n = (size_t)(end - from);
		char *b = realloc(buf, n ? n : 1);
		if (!b) {
			free(buf);
			return -ENOMEM;
		}
		buf = b;
		int r = pread_full(fd, buf, n, from);
		if (r < 0) {
			free(buf);
			return r;
		}
		char *nl = memrchr(buf, '\n', n);
		if (nl || from == 0) {
			size_t skip = nl ? (size_t)(nl - buf) + 1 : 0;
			memmove(buf, buf + skip, n - skip);
			*line = buf;
			*len = n - skip;
			*start = from + skip;
			return 0;
		}
		if (c > AUDIT_MAX_LINE) {
			free(buf);
			return -EMSGSIZE;
		}
	}
}

/* Reads the first line of fd (size bytes) into a malloc'd buffer. */
static int read_first_line(int fd, uint64_t size, char **line, size_t *len)
{
	char *buf = NULL;
	for (size_t c = 4096;; c *= 4) {
		size_t n = (size_t)(size < c ? size : c);
		char *b = realloc(buf, n + 1);
		if (!b) {
			free(buf);
			return -ENOMEM;
		}
		buf = b;
		int r = pread_full(fd, buf, n, 0);
		char *nl = r < 0 ? NULL : memchr(buf, '\n', n);
		if (nl) {
			*line = buf;
			*len = (size_t)(nl - buf);
			return 0;
		}
		if (r < 0 || n == size || c > AUDIT_MAX_LINE) {
			free(buf);
			return r < 0 ? r : -EBADMSG;
		}
	}
}

/* ---- the chain head -------------------------------------------------- */

static void head_set(struct head *h, const struct audit_record *r)
{
	/* False positive: the analyzer lets a failed call leave errno <= 0. */
	// NOLINTNEXTLINE(clang-analyzer-core.uninitialized.Assign)
	h->seq = r->seq;
	memcpy(h->hash, r->hash, AUDIT_HASH_LEN);
	h->sealed = !strcmp(r->event, AUDIT_EV_SEAL);
}

/* Reads the last record of a rotated file, which must end with a whole
 * line: only audit.log can have a torn tail. Returns 0 or -errno. */
static int last_record_of(int fd, struct audit_record *rec)
{
	struct stat st;
	char nl, *line = NULL, why[128];
	size_t len;
	uint64_t start;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size < 2 || pread_full(fd, &nl, 1, (uint64_t)st.st_size - 1) < 0 || nl != '\n')
		return -EBADMSG;
	int r = read_line_before(fd, (uint64_t)st.st_size - 1, &line, &len, &start);
	if (!r)
		r = audit_record_parse(line, len, rec, why, sizeof why);
	free(line);
	return r;
}

/* The head when audit.log is empty: the last record of the newest rotated
 * file, or the start of a new chain. */
static int head_from_rotated(struct audit_log *l, char *err, size_t errlen)
{
	uint64_t *seqs;
	size_t n;
	char name[AUDIT_FILE_NAME_MAX];
	struct audit_record rec;
	memset(&l->head, 0, sizeof l->head);
	l->head.sealed = 1; /* nothing to seal in an empty chain */
	int r = audit_list_rotated(l->dirfd, &seqs, &n);
	if (r < 0)
		return fail(err, errlen, r, "%s: list: %s", l->dir, strerror(-r));
	if (n == 0)
		return 0;
	audit_record_file_name(seqs[n - 1], name);
	free(seqs);
	int fd = open_checked(l, name, O_RDONLY, err, errlen);
	if (fd < 0)
		return fd;
	r = last_record_of(fd, &rec);
	close(fd);
	if (r < 0)
		return fail(err, errlen, r,
			    "%s/%s: cannot read the last record; run jitsuctl audit verify", l->dir,
			    name);
	head_set(&l->head, &rec);
	audit_record_free(&rec);
	return 0;
}

/*
 * Looks at the end of audit.log (size bytes). Returns 1 and sets *cut if
 * the tail is torn (no final newline, or a last line that is not JSON);
 * 0 with the head set if the last record is good; -errno otherwise.
 */
static int inspect_tail(struct audit_log *l, uint64_t size, uint64_t *cut, char *err, size_t errlen)
{
	char last, *line = NULL, rerr[128];
	size_t len;
	uint64_t start;
	int r = pread_full(l->fd, &last, 1, size - 1);
	if (r == 0)
		r = read_line_before(l->fd, last == '\n' ? size - 1 : size, &line, &len, &start);
	if (r == -EMSGSIZE)
		return fail(err, errlen, r, "%s/%s: last line too long", l->dir, CUR_NAME);
	if (r < 0)
		return fail(err, errlen, r, "%s/%s: read: %s", l->dir, CUR_NAME, strerror(-r));
	/* False positive: the analyzer lets a failed call leave errno <= 0. */
	// NOLINTNEXTLINE(clang-analyzer-core.uninitialized.Assign)
	*cut = start;
	struct audit_record rec;
	if (last == '\n' && audit_record_parse(line, len, &rec, rerr, sizeof rerr) == 0) {
		free(line);
		head_set(&l->head, &rec);
		audit_record_free(&rec);
		return 0;
	}
	/* Only what a crash can leave is cut: a line that is JSON but not a
	 * valid record was written whole, so it is damage, not a torn write. */
	json_t *j = last == '\n' ? json_loadb(line, len, 0, NULL) : NULL;
	int torn = !json_is_object(j);
	json_decref(j);
	free(line);
	if (torn)
		return 1;
	return fail(err, errlen, -EBADMSG,
		    "%s/%s: last record is damaged (%s); run jitsuctl audit verify", l->dir,
		    CUR_NAME, rerr);
}

static int write_record(struct audit_log *l, const char *event, const json_t *fields, int64_t now,
			int sync, char *err, size_t errlen);

/* Loads the head from disk, cutting off a torn tail and recording it. */
static int load_head(struct audit_log *l, int64_t now, char *err, size_t errlen)
{
	uint64_t dropped = 0, cut = 0;
	struct stat st;
	int r;
	for (;;) {
		if (fstat(l->fd, &st) < 0)
			return fail(err, errlen, -errno, "%s/%s: %s", l->dir, CUR_NAME,
				    strerror(errno));
		if (st.st_size == 0) {
			if ((r = head_from_rotated(l, err, errlen)) < 0)
				return r;
			break;
		}
		if ((r = inspect_tail(l, (uint64_t)st.st_size, &cut, err, errlen)) <= 0) {
			if (r < 0)
				return r;
			break;
		}
		if (ftruncate(l->fd, (off_t)cut) < 0)
			return fail(err, errlen, -errno, "%s/%s: cutting a torn tail: %s", l->dir,
				    CUR_NAME, strerror(errno));
		dropped += (uint64_t)st.st_size - cut;
	}
	if (!dropped)
		return 0;
	json_t *f = json_pack("{s:I,s:s}", "dropped_bytes", (json_int_t)dropped, "file", CUR_NAME);
	if (!f)
		return fail(err, errlen, -ENOMEM, "out of memory");
	r = write_record(l, AUDIT_EV_RECOVERED, f, now, 1, err, errlen);
	json_decref(f);
	return r;
}

/* ---- writing --------------------------------------------------------- */

static int add_common(struct audit_log *l, json_t *rec, const char *event, int64_t now)
{
	char t[28];
	uint64_t seq = l->head.seq + 1;
	audit_record_time_format(now, t);
	return json_object_set_new(rec, "v", json_integer(AUDIT_RECORD_VERSION)) |
	       json_object_set_new(rec, "seq", json_integer((json_int_t)seq)) |
	       json_object_set_new(rec, "time", json_string(t)) |
	       json_object_set_new(rec, "host", audit_record_str(l->host)) |
	       json_object_set_new(rec, "machine_id", json_string(l->machine_id)) |
	       json_object_set_new(rec, "event", json_string(event));
}

/* Writes one record after the head and, with sync, makes it durable; on
 * failure cuts the file back so that no partial line stays behind. Lock
 * held. */
static int write_record(struct audit_log *l, const char *event, const json_t *fields, int64_t now,
			int sync, char *err, size_t errlen)
{
	json_t *rec = json_object();
	char *line = NULL;
	size_t len;
	uint8_t hash[AUDIT_HASH_LEN];
	struct stat st;
	int r = rec ? 0 : -ENOMEM;
	if (!r && fields && json_object_update(rec, (json_t *)fields) < 0)
		r = -ENOMEM;
	if (!r && add_common(l, rec, event, now) < 0)
		r = -ENOMEM;
	if (!r)
		r = audit_record_build(rec, l->head.hash, &line, &len, hash);
	json_decref(rec);
	if (r < 0)
		return fail(err, errlen, r, "building a %s record: %s", event, strerror(-r));
	if (fstat(l->fd, &st) < 0) {
		free(line);
		return fail(err, errlen, -errno, "%s/%s: %s", l->dir, CUR_NAME, strerror(errno));
	}
	r = write_full(l->fd, line, len);
	free(line);
	if (!r && sync && fdatasync(l->fd) < 0)
		r = -errno;
	if (r < 0) {
		if (ftruncate(l->fd, st.st_size) == 0)
			(void)fdatasync(l->fd);
		return fail(err, errlen, r, "%s/%s: writing a %s record: %s", l->dir, CUR_NAME,
			    event, strerror(-r));
	}
	l->head.seq++;
	memcpy(l->head.hash, hash, AUDIT_HASH_LEN);
	l->head.sealed = !strcmp(event, AUDIT_EV_SEAL);
	return 0;
}

/* ---- the lock -------------------------------------------------------- */

static int open_lock(struct audit_log *l, char *err, size_t errlen)
{
	if (l->lockfd >= 0)
		close(l->lockfd); /* inherited: its flock would be the parent's */
	l->lockfd = open_checked(l, LOCK_NAME, O_RDWR | O_CREAT, err, errlen);
	l->pid = getpid();
	return l->lockfd < 0 ? l->lockfd : 0;
}

/* Takes the lock and loads the head (recovering a torn tail). */
static int log_lock(struct audit_log *l, int64_t now, char *err, size_t errlen)
{
	int r;
	if (l->pid != getpid() && (r = open_lock(l, err, errlen)) < 0)
		return r;
	while (flock(l->lockfd, LOCK_EX) < 0)
		if (errno != EINTR)
			return fail(err, errlen, -errno, "%s/%s: flock: %s", l->dir, LOCK_NAME,
				    strerror(errno));
	if ((r = open_current(l, err, errlen)) < 0 || (r = load_head(l, now, err, errlen)) < 0) {
		flock(l->lockfd, LOCK_UN);
		return r;
	}
	return 0;
}

static int log_unlock(struct audit_log *l, int r)
{
	flock(l->lockfd, LOCK_UN);
	return r;
}

/* ---- the sealing key ------------------------------------------------- */

static int key_format(const struct sealkey *k, char *buf, size_t len)
{
	char hex[2 * AUDIT_KEY_LEN + 1];
	audit_record_hex(k->k, AUDIT_KEY_LEN, hex);
	int n = snprintf(buf, len, "%s %" PRIu64 " %" PRIu32 " %" PRIu64 " %s %s\n", KEY_MAGIC,
			 k->start, k->interval, k->epoch, k->kid, hex);
	explicit_bzero(hex, sizeof hex);
	return n > 0 && (size_t)n < len ? n : -EOVERFLOW;
}

/* Parses seal.key strictly: the one canonical spelling only. */
static int key_parse(const char *buf, struct sealkey *k)
{
	char magic[32], hex[2 * AUDIT_KEY_LEN + 1], back[KEY_FILE_MAX];
	// NOLINTNEXTLINE(cert-err34-c): the round trip through key_format() rejects bad numbers
	int ok = sscanf(buf, "%31s %" SCNu64 " %" SCNu32 " %" SCNu64 " %16s %64s", magic, &k->start,
			&k->interval, &k->epoch, k->kid, hex) == 6 &&
		 !strcmp(magic, KEY_MAGIC) && k->interval >= AUDIT_EPOCH_MIN &&
		 k->interval <= AUDIT_EPOCH_MAX && strlen(k->kid) == AUDIT_KID_LEN &&
		 audit_record_unhex(hex, k->k, AUDIT_KEY_LEN) == 0 &&
		 key_format(k, back, sizeof back) > 0 && !strcmp(back, buf);
	explicit_bzero(hex, sizeof hex);
	explicit_bzero(back, sizeof back);
	return ok ? 0 : -EINVAL;
}

/* Reads seal.key. Returns 1 with *k filled, 0 if there is none, -errno. */
static int key_load(struct audit_log *l, struct sealkey *k, char *err, size_t errlen)
{
	char buf[KEY_FILE_MAX + 1];
	size_t n = 0;
	int fd = openat(l->dirfd, KEY_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return fail(err, errlen, -errno, "%s/%s: %s", l->dir, KEY_NAME, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077)) {
		close(fd);
		return fail(err, errlen, -EPERM, "%s/%s: must be a 0600 file owned by uid %u",
			    l->dir, KEY_NAME, (unsigned)geteuid());
	}
	for (ssize_t got = 1; got > 0 && n < KEY_FILE_MAX; n += (size_t)got) {
		got = read(fd, buf + n, KEY_FILE_MAX - n);
		if (got < 0 && errno == EINTR)
			got = 0;
		else if (got < 0)
			break;
	}
	close(fd);
	buf[n] = '\0';
	int r = key_parse(buf, k);
	explicit_bzero(buf, sizeof buf);
	if (r < 0) {
		explicit_bzero(k, sizeof *k);
		return fail(err, errlen, -EINVAL, "%s/%s: malformed", l->dir, KEY_NAME);
	}
	return 1;
}

/* Replaces seal.key atomically: a crash leaves the old or the new key,
 * never a mix, and the old one is gone once this returns. */
static int key_save(struct audit_log *l, const struct sealkey *k, char *err, size_t errlen)
{
	char buf[KEY_FILE_MAX];
	int n = key_format(k, buf, sizeof buf), r = 0;
	(void)unlinkat(l->dirfd, KEY_TMP, 0);
	int fd = openat(l->dirfd, KEY_TMP, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);
	if (n < 0 || fd < 0)
		r = n < 0 ? n : -errno;
	if (!r)
		r = write_full(fd, buf, (size_t)n);
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (fd >= 0 && close(fd) < 0 && !r)
		r = -errno;
	if (!r && renameat(l->dirfd, KEY_TMP, l->dirfd, KEY_NAME) < 0)
		r = -errno;
	explicit_bzero(buf, sizeof buf);
	if (r < 0) {
		(void)unlinkat(l->dirfd, KEY_TMP, 0);
		return fail(err, errlen, r, "%s/%s: saving: %s", l->dir, KEY_NAME, strerror(-r));
	}
	return sync_dir(l, err, errlen);
}

static uint64_t epoch_of(const struct sealkey *k, int64_t now)
{
	int64_t s = now / 1000000;
	/* False positive: the analyzer lets a failed call leave errno <= 0. */
	// NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult)
	if (s < 0 || (uint64_t)s < k->start)
		return 0;
	/* False positive: the analyzer does not follow the variadic fail(), so
	 * it takes key_load()'s error return, after the key was wiped, for
	 * success. key_parse() refuses an interval below AUDIT_EPOCH_MIN. */
	// NOLINTNEXTLINE(clang-analyzer-core.DivideZero)
	return ((uint64_t)s - k->start) / k->interval;
}

/* Seals the head with k's epoch key. Lock held. */
static int write_seal(struct audit_log *l, const struct sealkey *k, int64_t now, char *err,
		      size_t errlen)
{
	uint8_t mac[AUDIT_HASH_LEN];
	char hex[2 * AUDIT_HASH_LEN + 1];
	if (audit_record_seal_mac(k->k, k->epoch, l->head.seq + 1, l->head.hash, k->kid, mac) < 0)
		return fail(err, errlen, -EIO, "computing a seal failed");
	audit_record_hex(mac, sizeof mac, hex);
	json_t *f = json_pack("{s:I,s:s,s:s}", "epoch", (json_int_t)k->epoch, "kid", k->kid, "mac",
			      hex);
	if (!f)
		return fail(err, errlen, -ENOMEM, "out of memory");
	int r = write_record(l, AUDIT_EV_SEAL, f, now, 1, err, errlen);
	json_decref(f);
	return r;
}

static int key_advance(struct audit_log *l, struct sealkey *k, uint64_t to, char *err,
		       size_t errlen)
{
	for (; k->epoch < to; k->epoch++)
		if (audit_record_evolve(k->k) < 0)
			return fail(err, errlen, -EIO, "evolving the sealing key failed");
	return key_save(l, k, err, errlen);
}

/*
 * Epoch housekeeping, lock held: if seal.key's epoch has ended, seals what
 * was written in it with its key, then advances the key to the current
 * epoch. With force, also seals what was written in the current epoch.
 * *boundary (if not NULL) gets the Unix time the current epoch ends, or 0
 * without a key. Returns 0 (also when there is no key) or -errno.
 */
static int maintain(struct audit_log *l, int64_t now, int force, uint64_t *boundary, char *err,
		    size_t errlen)
{
	struct sealkey k;
	int r = key_load(l, &k, err, errlen);
	if (boundary)
		*boundary = 0;
	if (r <= 0)
		return r;
	uint64_t cur = epoch_of(&k, now);
	r = 0;
	/* False positive: the analyzer lets a failed call leave errno <= 0. */
	// NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult)
	if (cur > k.epoch) {
		if (!l->head.sealed)
			r = write_seal(l, &k, now, err, errlen);
		if (!r)
			r = key_advance(l, &k, cur, err, errlen);
	}
	if (!r && force && !l->head.sealed)
		r = write_seal(l, &k, now, err, errlen);
	if (boundary)
		*boundary = k.start + (k.epoch + 1) * (uint64_t)k.interval;
	explicit_bzero(&k, sizeof k);
	return r;
}

/* ---- rotation -------------------------------------------------------- */

/* Writes the rotate record at the top of the new file, then deletes what
 * retention no longer keeps. The record comes first: it is what tells
 * verify that the history before oldest_kept_seq was pruned on purpose. */
static int prune(struct audit_log *l, const char *rotated, int64_t now, char *err, size_t errlen)
{
	uint64_t *seqs;
	size_t n;
	char name[AUDIT_FILE_NAME_MAX];
	int r = audit_list_rotated(l->dirfd, &seqs, &n);
	if (r < 0)
		return fail(err, errlen, r, "%s: list: %s", l->dir, strerror(-r));
	uint64_t keep_from = n ? seqs[0] : l->head.seq + 1;
	if (l->keep && n > l->keep)
		keep_from = seqs[n - l->keep];
	/* Nothing a reader still needs goes: keep from the file holding the
	 * floor (files are named by their first seq, in order). */
	uint64_t held = l->hold ? l->hold(l->hold_arg) : 0;
	for (size_t i = n; held && i-- > 0;)
		if (seqs[i] <= held || i == 0) {
			keep_from = seqs[i] < keep_from ? seqs[i] : keep_from;
			break;
		}
	json_t *f =
		json_pack("{s:s,s:I}", "file", rotated, "oldest_kept_seq", (json_int_t)keep_from);
	r = f ? write_record(l, AUDIT_EV_ROTATE, f, now, 1, err, errlen)
	      : fail(err, errlen, -ENOMEM, "out of memory");
	json_decref(f);
	int gone = 0;
	for (size_t i = 0; !r && i < n && seqs[i] < keep_from; i++) {
		audit_record_file_name(seqs[i], name);
		gone += unlinkat(l->dirfd, name, 0) == 0; /* a leftover is harmless */
	}
	free(seqs);
	if (gone)
		(void)fsync(l->dirfd);
	return r;
}

/* Renames a full audit.log to audit-<first seq>.log and starts a new one. */
static int rotate(struct audit_log *l, int64_t now, char *err, size_t errlen)
{
	struct stat st;
	char *line = NULL, name[AUDIT_FILE_NAME_MAX], rerr[128];
	size_t len;
	struct audit_record rec;
	if (fstat(l->fd, &st) < 0)
		return fail(err, errlen, -errno, "%s/%s: %s", l->dir, CUR_NAME, strerror(errno));
	if ((uint64_t)st.st_size < l->max_size)
		return 0;
	int r = read_first_line(l->fd, (uint64_t)st.st_size, &line, &len);
	if (!r)
		r = audit_record_parse(line, len, &rec, rerr, sizeof rerr);
	free(line);
	if (r < 0)
		return fail(err, errlen, r, "%s/%s: cannot read the first record to rotate", l->dir,
			    CUR_NAME);
	/* False positive: the analyzer lets a failed call leave errno <= 0. */
	// NOLINTNEXTLINE(clang-analyzer-core.CallAndMessage)
	audit_record_file_name(rec.seq, name);
	audit_record_free(&rec);
	/* Deferred records in this file must not outlive it unsynced. */
	if (fdatasync(l->fd) < 0)
		return fail(err, errlen, -errno, "%s/%s: %s", l->dir, CUR_NAME, strerror(errno));
	r = renameat2(l->dirfd, CUR_NAME, l->dirfd, name, RENAME_NOREPLACE);
	if (r < 0 && errno == EINVAL && faccessat(l->dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		r = renameat(l->dirfd, CUR_NAME, l->dirfd, name); /* fs without NOREPLACE */
	if (r < 0)
		return fail(err, errlen, -errno, "%s: rotating to %s: %s", l->dir, name,
			    strerror(errno));
	if ((r = sync_dir(l, err, errlen)) < 0 || (r = open_current(l, err, errlen)) < 0)
		return r;
	return prune(l, name, now, err, errlen);
}

/* ---- the public calls ------------------------------------------------ */

static int open_dir(struct audit_log *l, char *err, size_t errlen)
{
	struct stat st;
	if (mkdir(l->dir, 0700) < 0 && errno != EEXIST)
		return fail(err, errlen, -errno, "%s: mkdir: %s", l->dir, strerror(errno));
	l->dirfd = open(l->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (l->dirfd < 0)
		return fail(err, errlen, -errno, "%s: %s", l->dir, strerror(errno));
	if (fstat(l->dirfd, &st) < 0)
		return fail(err, errlen, -errno, "%s: %s", l->dir, strerror(errno));
	if (st.st_uid != geteuid())
		return fail(err, errlen, -EPERM, "%s: not owned by uid %u", l->dir,
			    (unsigned)geteuid());
	if ((st.st_mode & 077) && fchmod(l->dirfd, 0700) < 0)
		return fail(err, errlen, -errno, "%s: chmod: %s", l->dir, strerror(errno));
	return 0;
}

/* Host name and machine id, read once: they go into every record. */
static void identity(struct audit_log *l)
{
	if (gethostname(l->host, sizeof l->host - 1) < 0)
		l->host[0] = '\0';
	l->host[sizeof l->host - 1] = '\0';
	char id[64] = "";
	int fd = open("/etc/machine-id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, id, sizeof id - 1) : -1;
	if (fd >= 0)
		close(fd);
	id[n > 0 ? n : 0] = '\0';
	id[strcspn(id, "\n")] = '\0';
	uint8_t bin[16];
	/* 32 lowercase hex digits, or nothing: never untrusted bytes */
	if (audit_record_unhex(id, bin, sizeof bin) == 0)
		memcpy(l->machine_id, id, 33);
}

int audit_open(const char *dir, const struct audit_opts *o, struct audit_log **out, char *err,
	       size_t errlen)
{
	*out = NULL;
	struct audit_log *l = calloc(1, sizeof *l);
	if (!l || !(l->dir = strdup(dir))) {
		free(l);
		return fail(err, errlen, -ENOMEM, "out of memory");
	}
	l->dirfd = l->lockfd = l->fd = -1;
	l->max_size = o && o->max_file_size ? o->max_file_size : AUDIT_MAX_FILE_DEFAULT;
	l->keep = o ? o->keep_files : 0;
	l->clock = o && o->clock ? o->clock : real_clock;
	l->hold = o ? o->hold : NULL;
	l->hold_arg = o ? o->hold_arg : NULL;
	identity(l);
	int r = open_dir(l, err, errlen);
	if (!r)
		r = open_lock(l, err, errlen);
	if (!r)
		r = log_lock(l, l->clock(), err, errlen);
	if (r < 0) {
		audit_close(l);
		return r;
	}
	log_unlock(l, 0);
	*out = l;
	return 0;
}

static const char *const reserved_keys[] = {
	"v", "seq", "time", "host", "machine_id", "event", "prev", "hash", NULL,
};
static const char *const library_events[] = {
	AUDIT_EV_SEAL, AUDIT_EV_ROTATE, AUDIT_EV_RECOVERED, AUDIT_EV_KEY_SETUP, NULL,
};

static int check_input(const char *event, const json_t *fields, char *err, size_t errlen)
{
	if (!event || !audit_record_event_ok(event))
		return fail(err, errlen, -EINVAL, "bad event name");
	for (const char *const *e = library_events; *e; e++)
		if (!strcmp(*e, event))
			return fail(err, errlen, -EINVAL, "event %s is written by the library only",
				    event);
	if (fields && !json_is_object(fields))
		return fail(err, errlen, -EINVAL, "fields must be a JSON object");
	for (const char *const *k = reserved_keys; fields && *k; k++)
		if (json_object_get(fields, *k))
			return fail(err, errlen, -EINVAL, "field \"%s\" is reserved", *k);
	return 0;
}

int audit_append(struct audit_log *l, const char *event, const json_t *fields, uint64_t *seq,
		 char *err, size_t errlen)
{
	return audit_append_flags(l, event, fields, 0, seq, err, errlen);
}

int audit_append_flags(struct audit_log *l, const char *event, const json_t *fields, unsigned flags,
		       uint64_t *seq, char *err, size_t errlen)
{
	int r = check_input(event, fields, err, errlen);
	if (r < 0)
		return r;
	int64_t now = l->clock();
	if ((r = log_lock(l, now, err, errlen)) < 0)
		return r;
	r = maintain(l, now, 0, NULL, err, errlen);
	if (!r)
		r = rotate(l, now, err, errlen);
	if (!r)
		r = write_record(l, event, fields, now, 0, err, errlen);
	if (!r && seq)
		*seq = l->head.seq;
	log_unlock(l, r);
	/*
	 * The sync runs after the lock is released: the record is complete
	 * in the file, so nothing can tear it, and concurrent writers' syncs
	 * overlap and share journal commits (group commit) instead of
	 * queueing behind each other. fd stays this record's file even if
	 * another process rotates it meanwhile.
	 */
	if (!r && !(flags & AUDIT_DEFER_SYNC) && fdatasync(l->fd) < 0)
		r = fail(err, errlen, -errno, "%s/%s: syncing a %s record: %s", l->dir, CUR_NAME,
			 event, strerror(errno));
	return r;
}

int audit_attach(struct audit_log *l, char *err, size_t errlen)
{
	if (l->pid == getpid())
		return 0;
	return open_lock(l, err, errlen);
}

int audit_seal_now(struct audit_log *l, char *err, size_t errlen)
{
	int64_t now = l->clock();
	int r = log_lock(l, now, err, errlen);
	if (r < 0)
		return r;
	return log_unlock(l, maintain(l, now, 1, NULL, err, errlen));
}

int audit_tick(struct audit_log *l, unsigned *next_secs, char *err, size_t errlen)
{
	int64_t now = l->clock();
	uint64_t boundary;
	*next_secs = NO_KEY_TICK;
	int r = log_lock(l, now, err, errlen);
	if (r < 0)
		return r;
	r = maintain(l, now, 0, &boundary, err, errlen);
	uint64_t s = (uint64_t)(now / 1000000);
	if (!r && boundary)
		*next_secs = boundary > s ? (unsigned)(boundary - s) : 1;
	return log_unlock(l, r);
}

/* Makes a new seed, saves the key of epoch 0, shows the seed once. */
static int new_key(struct audit_log *l, unsigned interval, int64_t now, const char *old_kid,
		   char *hex, size_t len, char *err, size_t errlen)
{
	struct audit_vkey vk = {.start = (uint64_t)(now / 1000000), .interval = interval};
	struct sealkey k = {.start = vk.start, .interval = interval};
	int r = digest_random(vk.seed, sizeof vk.seed);
	if (!r) {
		audit_record_vkey_init(&vk);
		memcpy(k.kid, vk.kid, sizeof k.kid);
		r = audit_record_epoch_key(&vk, 0, k.k);
	}
	if (!r)
		r = key_save(l, &k, err, errlen);
	else
		fail(err, errlen, r, "generating a key failed");
	if (!r)
		r = audit_record_vkey_format(&vk, hex, len);
	char kid[AUDIT_KID_LEN + 1];
	memcpy(kid, vk.kid, sizeof kid);
	explicit_bzero(&vk, sizeof vk);
	explicit_bzero(k.k, sizeof k.k);
	if (r < 0)
		return r;
	json_t *f = json_pack("{s:s,s:I,s:I}", "kid", kid, "start", (json_int_t)k.start, "interval",
			      (json_int_t)interval);
	if (f && old_kid)
		json_object_set_new(f, "replaces_kid", json_string(old_kid));
	r = f ? write_record(l, AUDIT_EV_KEY_SETUP, f, now, 1, err, errlen)
	      : fail(err, errlen, -ENOMEM, "out of memory");
	json_decref(f);
	if (r < 0)
		explicit_bzero(hex, len);
	return r;
}

int audit_setup_key(struct audit_log *l, unsigned interval, int force, char *vkey_hex, size_t len,
		    char *err, size_t errlen)
{
	struct sealkey old;
	char old_kid[AUDIT_KID_LEN + 1] = "";
	if (!interval)
		interval = AUDIT_EPOCH_DEFAULT;
	if (interval < AUDIT_EPOCH_MIN || interval > AUDIT_EPOCH_MAX)
		return fail(err, errlen, -EINVAL, "epoch interval must be %d to %d seconds",
			    AUDIT_EPOCH_MIN, AUDIT_EPOCH_MAX);
	if (len < AUDIT_VKEY_HEX_LEN + 1)
		return fail(err, errlen, -ENOBUFS, "key buffer too small");
	int64_t now = l->clock();
	int r = log_lock(l, now, err, errlen);
	if (r < 0)
		return r;
	int have = key_load(l, &old, err, errlen);
	if (have > 0)
		memcpy(old_kid, old.kid, sizeof old_kid);
	explicit_bzero(&old, sizeof old);
	if (have > 0 && !force)
		return log_unlock(l, fail(err, errlen, -EEXIST,
					  "a sealing key (kid %s) is already set up", old_kid));
	if (have < 0 && !force)
		return log_unlock(l, have);
	/* Seal what the old key still covers before it is gone for good. */
	r = have > 0 ? maintain(l, now, 1, NULL, err, errlen) : 0;
	if (!r)
		r = new_key(l, interval, now, have > 0 ? old_kid : NULL, vkey_hex, len, err,
			    errlen);
	return log_unlock(l, r);
}

void audit_close(struct audit_log *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	if (l->lockfd >= 0)
		close(l->lockfd);
	if (l->dirfd >= 0)
		close(l->dirfd);
	free(l->dir);
	free(l);
}
