/*
 * mfastore: the MFA state file, its strict parser, atomic writes, the
 * per-user lock, and the verification with lockout and replay protection.
 * The MUST rules are in include/jitsu/mfastore.h.
 */
#include "jitsu/mfastore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <nettle/memops.h>
#include <nettle/pbkdf2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC_LINE "jitsu-mfa 1"
#define KDF_PREFIX "pbkdf2-sha256:"
#define LINE_MAX_LEN 256
#define NAME_MAX_LEN 64

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void mfastore_state_wipe(struct mfastore_state *st)
{
	if (st)
		explicit_bzero(st, sizeof *st);
}

void mfastore_enrollment_wipe(struct mfastore_enrollment *e)
{
	if (e)
		explicit_bzero(e, sizeof *e);
}

void mfastore_recovery_codes_wipe(struct mfastore_recovery_codes *c)
{
	if (c)
		explicit_bzero(c, sizeof *c);
}

const char *mfastore_result_name(enum mfastore_result r)
{
	switch (r) {
	case MFASTORE_OK: return "ok";
	case MFASTORE_OK_RECOVERY: return "ok-recovery";
	case MFASTORE_WRONG: return "wrong";
	case MFASTORE_REPLAY: return "replay";
	case MFASTORE_LOCKED: return "locked";
	case MFASTORE_BAD_INPUT: return "bad-input";
	case MFASTORE_NOT_ENROLLED: return "not-enrolled";
	case MFASTORE_STORE_ERROR: return "store-error";
	}
	return "?";
}

/* ---- parsing ---- */

struct reader {
	const char *p;
	size_t len, off;
	unsigned line;
};

/* Returns 1 and the next line (without '\n'), 0 at the end, -1 if malformed. */
static int next_line(struct reader *r, const char **s, size_t *n)
{
	if (r->off == r->len)
		return 0;
	const char *start = r->p + r->off;
	const char *nl = memchr(start, '\n', r->len - r->off);
	r->line++;
	if (!nl || (size_t)(nl - start) > LINE_MAX_LEN || memchr(start, '\0', (size_t)(nl - start)))
		return -1;
	*s = start;
	*n = (size_t)(nl - start);
	r->off += *n + 1;
	return 1;
}

/* Reads the next line, which must be "key=value"; points *val at the value. */
static int expect_key(struct reader *r, const char *key, const char **val, size_t *vlen)
{
	const char *s;
	size_t n, klen = strlen(key);

	if (next_line(r, &s, &n) != 1 || n <= klen || memcmp(s, key, klen) != 0 || s[klen] != '=')
		return -1;
	*val = s + klen + 1;
	*vlen = n - klen - 1;
	return 0;
}

/* A decimal without sign or leading zeros, at most max. */
static int parse_dec(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly 2 * outlen lower-case hex digits. */
static int parse_hex(const char *s, size_t n, uint8_t *out, size_t outlen)
{
	if (n != 2 * outlen)
		return -1;
	for (size_t i = 0; i < outlen; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int parse_phase(const char *v, size_t n, struct mfastore_state *st)
{
	if (n == 7 && memcmp(v, "pending", 7) == 0)
		st->phase = MFASTORE_PENDING;
	else if (n == 6 && memcmp(v, "active", 6) == 0)
		st->phase = MFASTORE_ACTIVE;
	else
		return -1;
	return 0;
}

static int parse_kdf(const char *v, size_t n, struct mfastore_state *st)
{
	size_t plen = strlen(KDF_PREFIX);
	uint64_t it;

	if (n <= plen || memcmp(v, KDF_PREFIX, plen) != 0 ||
	    parse_dec(v + plen, n - plen, MFASTORE_KDF_ITER_MAX, &it) < 0 ||
	    it < MFASTORE_KDF_ITER_MIN)
		return -1;
	st->kdf_iter = (unsigned)it;
	return 0;
}

/* "<32 hex>:<64 hex>:unused|used" */
static int parse_recovery(const char *v, size_t n, struct mfastore_recovery *rc)
{
	const size_t salt = 2 * MFASTORE_SALT_LEN, hash = 2 * MFASTORE_HASH_LEN;
	size_t rest;

	if (n < salt + hash + 2 || v[salt] != ':' || v[salt + 1 + hash] != ':' ||
	    parse_hex(v, salt, rc->salt, MFASTORE_SALT_LEN) < 0 ||
	    parse_hex(v + salt + 1, hash, rc->hash, MFASTORE_HASH_LEN) < 0)
		return -1;
	v += salt + hash + 2;
	rest = n - salt - hash - 2;
	if (rest == 6 && memcmp(v, "unused", 6) == 0)
		rc->used = 0;
	else if (rest == 4 && memcmp(v, "used", 4) == 0)
		rc->used = 1;
	else
		return -1;
	return 0;
}

/* The scalar keys in file order. */
enum scalar { S_PHASE, S_SECRET, S_CREATED, S_LAST, S_FAILS, S_LEVEL, S_UNTIL, S_KDF, S_N };
static const char *const scalar_key[S_N] = {
	"phase",      "secret",        "created",      "last_step",
	"fail_count", "lockout_level", "locked_until", "kdf",
};

static int parse_scalar(enum scalar k, const char *v, size_t n, struct mfastore_state *st)
{
	uint64_t x = 0;

	switch (k) {
	case S_PHASE: return parse_phase(v, n, st);
	case S_SECRET: return parse_hex(v, n, st->secret, TOTP_SECRET_LEN);
	case S_KDF: return parse_kdf(v, n, st);
	case S_CREATED:
	case S_UNTIL:
		if (parse_dec(v, n, INT64_MAX, &x) < 0)
			return -1;
		*(k == S_CREATED ? &st->created : &st->locked_until) = (int64_t)x;
		return 0;
	case S_LAST: return parse_dec(v, n, UINT64_MAX, &st->last_step);
	case S_FAILS:
	case S_LEVEL:
		if (parse_dec(v, n, k == S_FAILS ? MFASTORE_MAX_FAILS - 1 : MFASTORE_LEVEL_MAX,
			      &x) < 0)
			return -1;
		*(k == S_FAILS ? &st->fail_count : &st->lockout_level) = (unsigned)x;
		return 0;
	default: return -1;
	}
}

static int parse_body(struct reader *r, struct mfastore_state *st, char *err, size_t errlen)
{
	const char *s, *v;
	size_t n;

	if (next_line(r, &s, &n) != 1 || n != strlen(MAGIC_LINE) || memcmp(s, MAGIC_LINE, n) != 0) {
		set_err(err, errlen, "line 1: not a version %d MFA state file", MFASTORE_VERSION);
		return -1;
	}
	for (int k = 0; k < S_N; k++) {
		if (expect_key(r, scalar_key[k], &v, &n) < 0 || parse_scalar(k, v, n, st) < 0) {
			set_err(err, errlen, "line %u: expected a valid %s", r->line,
				scalar_key[k]);
			return -1;
		}
	}
	unsigned want = st->phase == MFASTORE_ACTIVE ? MFASTORE_RECOVERY_CODES : 0;
	for (st->nrecovery = 0; st->nrecovery < want; st->nrecovery++) {
		if (expect_key(r, "recovery", &v, &n) < 0 ||
		    parse_recovery(v, n, &st->recovery[st->nrecovery]) < 0) {
			set_err(err, errlen, "line %u: expected a valid recovery", r->line);
			return -1;
		}
	}
	if (r->off != r->len) {
		set_err(err, errlen, "line %u: unexpected data after the last field", r->line + 1);
		return -1;
	}
	return 0;
}

int mfastore_parse(const char *buf, size_t len, struct mfastore_state *st, char *err, size_t errlen)
{
	struct reader r = {.p = buf, .len = len};

	memset(st, 0, sizeof *st);
	if (!buf || len > MFASTORE_FILE_MAX) {
		set_err(err, errlen, "file too large");
		return -EBADMSG;
	}
	if (parse_body(&r, st, err, errlen) < 0) {
		mfastore_state_wipe(st);
		return -EBADMSG;
	}
	return 0;
}

/* ---- formatting ---- */

static void put_hex(char *out, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int state_valid(const struct mfastore_state *st)
{
	unsigned want = st->phase == MFASTORE_ACTIVE ? MFASTORE_RECOVERY_CODES : 0;
	return (st->phase == MFASTORE_PENDING || st->phase == MFASTORE_ACTIVE) &&
	       st->created >= 0 && st->locked_until >= 0 && st->fail_count < MFASTORE_MAX_FAILS &&
	       st->lockout_level <= MFASTORE_LEVEL_MAX && st->kdf_iter >= MFASTORE_KDF_ITER_MIN &&
	       st->kdf_iter <= MFASTORE_KDF_ITER_MAX && st->nrecovery == want;
}

int mfastore_format(const struct mfastore_state *st, char *buf, size_t len)
{
	char secret[2 * TOTP_SECRET_LEN + 1];
	size_t off = 0;
	int n;

	if (!st || !buf || !state_valid(st))
		return -EINVAL;
	put_hex(secret, st->secret, TOTP_SECRET_LEN);
	// clang-format off
	n = snprintf(buf, len,
		     MAGIC_LINE "\nphase=%s\nsecret=%s\ncreated=%" PRId64
		     "\nlast_step=%" PRIu64 "\nfail_count=%u\nlockout_level=%u"
		     "\nlocked_until=%" PRId64 "\nkdf=" KDF_PREFIX "%u\n",
		     st->phase == MFASTORE_ACTIVE ? "active" : "pending", secret,
		     st->created, st->last_step, st->fail_count, st->lockout_level,
		     st->locked_until, st->kdf_iter);
	// clang-format on
	explicit_bzero(secret, sizeof secret);
	for (unsigned i = 0; n >= 0 && (size_t)n < len - off && i < st->nrecovery; i++) {
		char salt[2 * MFASTORE_SALT_LEN + 1], hash[2 * MFASTORE_HASH_LEN + 1];
		off += (size_t)n;
		put_hex(salt, st->recovery[i].salt, MFASTORE_SALT_LEN);
		put_hex(hash, st->recovery[i].hash, MFASTORE_HASH_LEN);
		n = snprintf(buf + off, len - off, "recovery=%s:%s:%s\n", salt, hash,
			     st->recovery[i].used ? "used" : "unused");
	}
	if (n < 0 || (size_t)n >= len - off) {
		explicit_bzero(buf, len);
		return n < 0 ? -EINVAL : -ENOSPC;
	}
	return (int)(off + (size_t)n);
}

/* ---- files ---- */

static void user_name(char *out, uid_t uid, const char *suffix)
{
	snprintf(out, NAME_MAX_LEN, "%u%s", (unsigned)uid, suffix);
}

/* Opens DIR, creating it 0700 if create; it must be ours and private. */
static int open_dir(const char *dir, int create, char *err, size_t errlen)
{
	struct stat sb;

	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			int e = -errno;
			set_err(err, errlen, "mkdir %s: %s", dir, strerror(-e));
			return e;
		}
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		int e = -errno;
		set_err(err, errlen, "%s: %s", dir, strerror(-e));
		return e;
	}
	if (fstat(fd, &sb) < 0 || sb.st_uid != geteuid() || (sb.st_mode & 077)) {
		set_err(err, errlen, "%s: must be a directory owned by uid %u with mode 0700", dir,
			(unsigned)geteuid());
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* Opens and locks DIR/<uid>.lock exclusively; returns the fd (close unlocks). */
static int lock_user(int dfd, uid_t uid, char *err, size_t errlen)
{
	char name[NAME_MAX_LEN];
	struct stat sb;

	user_name(name, uid, ".lock");
	int fd = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = -errno;
		set_err(err, errlen, "lock %s: %s", name, strerror(-e));
		return e;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid()) {
		set_err(err, errlen, "lock %s: not a regular file owned by us", name);
		close(fd);
		return -EPERM;
	}
	/* Poll rather than block, so a stuck holder cannot hang the caller. */
	for (unsigned waited = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; waited += 10) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int e = -errno;
			set_err(err, errlen, "flock %s: %s", name, strerror(-e));
			close(fd);
			return e;
		}
		if (waited >= MFASTORE_LOCK_WAIT_MS) {
			set_err(err, errlen, "flock %s: timed out", name);
			close(fd);
			return -ETIMEDOUT;
		}
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
	}
	return fd;
}

static int read_all(int fd, char *buf, size_t cap, size_t *len)
{
	size_t off = 0;

	for (;;) {
		ssize_t n = read(fd, buf + off, cap - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		off += (size_t)n;
		if (off == cap)
			return -EFBIG;
	}
	*len = off;
	return 0;
}

/* Reads and parses DIR/<uid>; the caller holds the lock if it will write. */
static int read_user(int dfd, uid_t uid, struct mfastore_state *st, char *err, size_t errlen)
{
	char name[NAME_MAX_LEN], buf[MFASTORE_FILE_MAX + 1], why[160] = "";
	struct stat sb;
	size_t len = 0;
	int rc;

	user_name(name, uid, "");
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			set_err(err, errlen, "uid %u: not enrolled", (unsigned)uid);
		else
			set_err(err, errlen, "state of uid %u: %s", (unsigned)uid, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
	    (sb.st_mode & 077) || sb.st_nlink != 1) {
		set_err(err, errlen, "state of uid %u: not a private regular file owned by us",
			(unsigned)uid);
		close(fd);
		return -EPERM;
	}
	rc = read_all(fd, buf, sizeof buf, &len);
	close(fd);
	if (rc == 0)
		rc = mfastore_parse(buf, len, st, why, sizeof why);
	if (rc == -EFBIG) {
		rc = -EBADMSG;
		snprintf(why, sizeof why, "file too large");
	}
	explicit_bzero(buf, sizeof buf);
	if (rc == -EBADMSG)
		set_err(err, errlen,
			"state of uid %u is corrupt (%s); an admin must run "
			"`jitsuctl mfa reset USER`",
			(unsigned)uid, why);
	else if (rc < 0)
		set_err(err, errlen, "state of uid %u: %s", (unsigned)uid, strerror(-rc));
	return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes buf to a new temp file in dfd and renames it over name. */
static int replace_file(int dfd, const char *name, const char *buf, size_t len, const char **step)
{
	char tmp[NAME_MAX_LEN + 32];
	uint8_t rnd[8];
	char hex[2 * sizeof rnd + 1];
	int rc = totp_random_bytes(rnd, sizeof rnd);

	*step = "random";
	if (rc < 0)
		return rc;
	put_hex(hex, rnd, sizeof rnd);
	snprintf(tmp, sizeof tmp, "%s.tmp.%s", name, hex);
	*step = "create temp file";
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0600) < 0)
		rc = -errno, *step = "fchmod";
	else if ((rc = write_all(fd, buf, len)) < 0)
		*step = "write";
	else if (fsync(fd) < 0)
		rc = -errno, *step = "fsync";
	if (close(fd) < 0 && rc == 0)
		rc = -errno, *step = "close";
	if (rc == 0 && renameat(dfd, tmp, dfd, name) < 0)
		rc = -errno, *step = "rename";
	if (rc < 0) {
		unlinkat(dfd, tmp, 0);
		return rc;
	}
	*step = "fsync directory";
	return fsync(dfd) < 0 ? -errno : 0;
}

static int write_user(int dfd, uid_t uid, const struct mfastore_state *st, char *err, size_t errlen)
{
	char name[NAME_MAX_LEN], buf[MFASTORE_FILE_MAX];
	const char *step = "format";

	user_name(name, uid, "");
	int rc = mfastore_format(st, buf, sizeof buf);
	if (rc >= 0)
		rc = replace_file(dfd, name, buf, (size_t)rc, &step);
	explicit_bzero(buf, sizeof buf);
	if (rc < 0)
		set_err(err, errlen, "save state of uid %u: %s: %s", (unsigned)uid, step,
			strerror(-rc));
	return rc;
}

int mfastore_load(const char *dir, uid_t uid, struct mfastore_state *st, char *err, size_t errlen)
{
	memset(st, 0, sizeof *st);
	int dfd = open_dir(dir, 0, err, errlen);
	if (dfd < 0)
		return dfd;
	int rc = read_user(dfd, uid, st, err, errlen);
	close(dfd);
	return rc;
}

int mfastore_save(const char *dir, uid_t uid, const struct mfastore_state *st, char *err,
		  size_t errlen)
{
	int dfd = open_dir(dir, 1, err, errlen);
	if (dfd < 0)
		return dfd;
	int lfd = lock_user(dfd, uid, err, errlen);
	int rc = lfd < 0 ? lfd : write_user(dfd, uid, st, err, errlen);
	if (lfd >= 0)
		close(lfd);
	close(dfd);
	return rc;
}

/* ---- operations ---- */

/* A locked session on one user's state: open dir, lock, read. */
struct session {
	int dfd, lfd;
	struct mfastore_state st;
};

/*
 * Opens DIR and takes the user's lock, then reads the state. Returns 0, or
 * -errno from any step; s->lfd >= 0 tells whether the lock is held (a failed
 * read still holds it). session_close() releases everything in all cases.
 */
static int session_open(struct session *s, const char *dir, uid_t uid, int create, char *err,
			size_t errlen)
{
	s->dfd = s->lfd = -1;
	memset(&s->st, 0, sizeof s->st);
	if (uid == (uid_t)-1) {
		set_err(err, errlen, "invalid uid");
		return -EINVAL;
	}
	int dfd = open_dir(dir, create, err, errlen);
	if (dfd < 0)
		return dfd;
	s->dfd = dfd;
	int lfd = lock_user(s->dfd, uid, err, errlen);
	if (lfd < 0) {
		close(s->dfd);
		s->dfd = -1;
		return lfd;
	}
	s->lfd = lfd;
	return read_user(s->dfd, uid, &s->st, err, errlen);
}

static void session_close(struct session *s)
{
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->dfd >= 0)
		close(s->dfd);
	s->lfd = s->dfd = -1;
	mfastore_state_wipe(&s->st);
}

int mfastore_state_begin(struct mfastore_state *st, const char *account, time_t now,
			 struct mfastore_enrollment *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	mfastore_state_wipe(st);
	if (now < 0) {
		set_err(err, errlen, "invalid time");
		return -EINVAL;
	}
	st->phase = MFASTORE_PENDING;
	st->created = (int64_t)now;
	st->kdf_iter = MFASTORE_KDF_ITER;
	int rc = totp_secret_new(st->secret);
	if (rc == 0 &&
	    (rc = totp_uri(st->secret, TOTP_SECRET_LEN, account, out->uri, sizeof out->uri)) < 0)
		set_err(err, errlen, "cannot build the enrollment URI: %s", strerror(-rc));
	if (rc >= 0)
		rc = totp_base32(st->secret, TOTP_SECRET_LEN, out->secret_b32,
				 sizeof out->secret_b32);
	if (rc < 0) {
		mfastore_state_wipe(st);
		mfastore_enrollment_wipe(out);
		return rc;
	}
	return 0;
}

int mfastore_begin_enroll(const char *dir, uid_t uid, const char *account, time_t now,
			  struct mfastore_enrollment *out, char *err, size_t errlen)
{
	struct session s;
	int rc;

	memset(out, 0, sizeof *out);
	if (now < 0) {
		set_err(err, errlen, "invalid time");
		return -EINVAL;
	}
	rc = session_open(&s, dir, uid, 1, err, errlen);
	if (rc == 0 && s.st.phase == MFASTORE_ACTIVE) {
		set_err(err, errlen,
			"uid %u is already enrolled; an admin must run "
			"`jitsuctl mfa reset USER` first",
			(unsigned)uid);
		rc = -EEXIST;
	} else if (s.lfd >= 0 && (rc == 0 || rc == -ENOENT)) {
		rc = mfastore_state_begin(&s.st, account, now, out, err, errlen);
		if (rc >= 0)
			rc = write_user(s.dfd, uid, &s.st, err, errlen);
	}
	session_close(&s);
	if (rc < 0) {
		mfastore_enrollment_wipe(out);
		return rc;
	}
	return 0;
}

static int hash_code(const char *canon, const uint8_t salt[MFASTORE_SALT_LEN], unsigned iter,
		     uint8_t out[MFASTORE_HASH_LEN])
{
	/* nettle asserts a nonzero count; OpenSSL refused it with an error. */
	if (iter == 0)
		return -EIO;
	pbkdf2_hmac_sha256(strlen(canon), (const uint8_t *)canon, iter, MFASTORE_SALT_LEN, salt,
			   MFASTORE_HASH_LEN, out);
	return 0;
}

/* Fills the 10 recovery slots of st and their display forms in codes. */
static int new_recovery_codes(struct mfastore_state *st, struct mfastore_recovery_codes *codes)
{
	char canon[TOTP_CANON_MAX];
	int rc = 0;

	st->kdf_iter = MFASTORE_KDF_ITER;
	for (unsigned i = 0; rc == 0 && i < MFASTORE_RECOVERY_CODES; i++) {
		struct mfastore_recovery *r = &st->recovery[i];
		rc = totp_recovery_new(codes->code[i], canon);
		if (rc == 0)
			rc = totp_random_bytes(r->salt, sizeof r->salt);
		if (rc == 0)
			rc = hash_code(canon, r->salt, st->kdf_iter, r->hash);
		r->used = 0;
	}
	explicit_bzero(canon, sizeof canon);
	st->nrecovery = MFASTORE_RECOVERY_CODES;
	return rc;
}

/* Checks the pending state st against one code; activates it on success. */
static int confirm_pending(struct mfastore_state *st, const char *code, time_t now,
			   struct mfastore_recovery_codes *codes, char *err, size_t errlen)
{
	uint64_t step;

	if (st->phase == MFASTORE_ACTIVE) {
		set_err(err, errlen, "already enrolled");
		return -EALREADY;
	}
	if ((int64_t)now > st->created + MFASTORE_PENDING_TTL ||
	    (int64_t)now + TOTP_STEP < st->created) {
		set_err(err, errlen, "the enrollment expired; start again");
		return -ETIMEDOUT;
	}
	int rc = totp_check(st->secret, TOTP_SECRET_LEN, code, now, &step);
	if (rc < 0) {
		set_err(err, errlen, rc == -EACCES ? "wrong code" : "cannot check the code");
		return rc;
	}
	rc = new_recovery_codes(st, codes);
	if (rc < 0) {
		set_err(err, errlen, "cannot create recovery codes: %s", strerror(-rc));
		return rc;
	}
	st->phase = MFASTORE_ACTIVE;
	st->last_step = step;
	st->fail_count = st->lockout_level = 0;
	st->locked_until = 0;
	return 0;
}

/* Parses what the user typed to confirm: a 6-digit code or -EINVAL. */
static int confirm_input(const char *input, time_t now, char code[TOTP_CANON_MAX], char *err,
			 size_t errlen)
{
	if (!input || now < 0 ||
	    totp_parse_input(input, strnlen(input, TOTP_INPUT_MAX + 1), code) != TOTP_INPUT_CODE) {
		explicit_bzero(code, TOTP_CANON_MAX);
		set_err(err, errlen, "expected a %d-digit code", TOTP_DIGITS);
		return -EINVAL;
	}
	return 0;
}

int mfastore_state_confirm(struct mfastore_state *st, const char *input, time_t now,
			   struct mfastore_recovery_codes *codes, char *err, size_t errlen)
{
	char code[TOTP_CANON_MAX];

	memset(codes, 0, sizeof *codes);
	int rc = confirm_input(input, now, code, err, errlen);
	if (rc == 0)
		rc = confirm_pending(st, code, now, codes, err, errlen);
	explicit_bzero(code, sizeof code);
	if (rc < 0)
		mfastore_recovery_codes_wipe(codes);
	return rc;
}

int mfastore_confirm_enroll(const char *dir, uid_t uid, const char *input, time_t now,
			    struct mfastore_recovery_codes *codes, char *err, size_t errlen)
{
	char code[TOTP_CANON_MAX];
	struct session s;

	memset(codes, 0, sizeof *codes);
	if (confirm_input(input, now, code, err, errlen) < 0)
		return -EINVAL;
	int rc = session_open(&s, dir, uid, 0, err, errlen);
	if (rc == -ENOENT)
		set_err(err, errlen, "no enrollment in progress");
	if (rc == 0)
		rc = confirm_pending(&s.st, code, now, codes, err, errlen);
	if (rc == 0)
		rc = write_user(s.dfd, uid, &s.st, err, errlen);
	session_close(&s);
	explicit_bzero(code, sizeof code);
	if (rc < 0)
		mfastore_recovery_codes_wipe(codes);
	return rc;
}

static unsigned lock_secs(unsigned level)
{
	if (level == 0)
		return 0;
	unsigned shift = level - 1 > 6 ? 6 : level - 1;
	unsigned secs = MFASTORE_LOCK_BASE << shift;
	return secs > MFASTORE_LOCK_MAX ? MFASTORE_LOCK_MAX : secs;
}

/* Tries every recovery slot (constant work); 0 match, -EACCES none, -EALREADY used. */
static int check_recovery(struct mfastore_state *st, const char *canon)
{
	uint8_t h[MFASTORE_HASH_LEN];
	int found = -1;

	for (unsigned i = 0; i < st->nrecovery; i++) {
		if (hash_code(canon, st->recovery[i].salt, st->kdf_iter, h) < 0) {
			explicit_bzero(h, sizeof h);
			return -EIO;
		}
		if (found < 0 && memeql_sec(h, st->recovery[i].hash, sizeof h))
			found = (int)i;
	}
	explicit_bzero(h, sizeof h);
	if (found < 0)
		return -EACCES;
	if (st->recovery[found].used)
		return -EALREADY;
	st->recovery[found].used = 1;
	return 0;
}

/* Checks one parsed input against an active state; returns the result. */
static enum mfastore_result judge(struct mfastore_state *st, int kind, const char *canon,
				  time_t now, uint64_t *step)
{
	int rc;

	if (kind == TOTP_INPUT_CODE) {
		rc = totp_check(st->secret, TOTP_SECRET_LEN, canon, now, step);
		if (rc == 0 && *step <= st->last_step)
			return MFASTORE_REPLAY;
		if (rc == 0)
			st->last_step = *step;
	} else {
		rc = check_recovery(st, canon);
		if (rc == -EALREADY)
			return MFASTORE_REPLAY;
	}
	if (rc == -EACCES)
		return MFASTORE_WRONG;
	if (rc < 0)
		return MFASTORE_STORE_ERROR;
	return kind == TOTP_INPUT_CODE ? MFASTORE_OK : MFASTORE_OK_RECOVERY;
}

/* Applies the bookkeeping of result r to st; returns 1 if st changed. */
static int account(struct mfastore_state *st, enum mfastore_result r, time_t now,
		   struct mfastore_verdict *v)
{
	if (r == MFASTORE_OK || r == MFASTORE_OK_RECOVERY) {
		st->fail_count = st->lockout_level = 0;
		st->locked_until = 0;
		return 1;
	}
	if (r != MFASTORE_WRONG)
		return 0;
	if (++st->fail_count >= MFASTORE_MAX_FAILS) {
		if (st->lockout_level < MFASTORE_LEVEL_MAX)
			st->lockout_level++;
		v->locked_secs = lock_secs(st->lockout_level);
		st->locked_until = (int64_t)now + v->locked_secs;
		st->fail_count = 0;
		v->lockout_started = 1;
	}
	return 1;
}

/* LOCKED if st is locked at now; clamps a lock the clock left too long. */
static int check_locked(struct mfastore_state *st, time_t now, struct mfastore_verdict *v,
			int *dirty)
{
	if ((int64_t)now >= st->locked_until)
		return 0;
	if (st->locked_until - (int64_t)now > MFASTORE_LOCK_MAX) {
		st->locked_until = (int64_t)now + MFASTORE_LOCK_MAX;
		*dirty = 1;
	}
	v->locked_secs = (unsigned)(st->locked_until - (int64_t)now);
	return 1;
}

static unsigned recovery_left(const struct mfastore_state *st)
{
	unsigned n = 0;
	for (unsigned i = 0; i < st->nrecovery; i++)
		n += !st->recovery[i].used;
	return n;
}

/* The verification proper on an active state: the verdict in *v, and
 * whether st changed (1) and must be stored before the verdict counts. */
static int judge_state(struct mfastore_state *st, int kind, const char *canon, time_t now,
		       struct mfastore_verdict *v)
{
	int dirty = 0;

	if (check_locked(st, now, v, &dirty))
		v->result = MFASTORE_LOCKED;
	else
		v->result = judge(st, kind, canon, now, &v->step);
	if (v->result == MFASTORE_STORE_ERROR)
		return -EIO;
	if (v->result != MFASTORE_LOCKED)
		dirty |= account(st, v->result, now, v);
	v->fail_count = st->fail_count;
	v->lockout_level = st->lockout_level;
	v->recovery_left = recovery_left(st);
	if (v->result != MFASTORE_OK)
		v->step = 0;
	return dirty;
}

int mfastore_state_verify(struct mfastore_state *st, const char *input, time_t now,
			  struct mfastore_verdict *v)
{
	char canon[TOTP_CANON_MAX];

	memset(v, 0, sizeof *v);
	int kind = input ? totp_parse_input(input, strnlen(input, TOTP_INPUT_MAX + 1), canon)
			 : -EINVAL;
	if (kind < 0) {
		v->result = MFASTORE_BAD_INPUT;
		return 0;
	}
	int rc = 0;
	if (now < 0)
		rc = -EINVAL;
	else if (st->phase != MFASTORE_ACTIVE)
		v->result = MFASTORE_NOT_ENROLLED;
	else
		rc = judge_state(st, kind, canon, now, v);
	explicit_bzero(canon, sizeof canon);
	if (rc < 0) {
		memset(v, 0, sizeof *v);
		v->result = MFASTORE_STORE_ERROR;
	}
	return rc;
}

/* The verification proper, on an open session with an active state. */
static int verify_locked(struct session *s, uid_t uid, int kind, const char *canon, time_t now,
			 struct mfastore_verdict *v, char *err, size_t errlen)
{
	int dirty = judge_state(&s->st, kind, canon, now, v);
	if (dirty < 0) {
		set_err(err, errlen, "uid %u: cannot compute the check", (unsigned)uid);
		return -EIO;
	}
	int rc = dirty ? write_user(s->dfd, uid, &s->st, err, errlen) : 0;
	return rc < 0 ? rc : 0;
}

int mfastore_verify(const char *dir, uid_t uid, const char *input, time_t now,
		    struct mfastore_verdict *v, char *err, size_t errlen)
{
	char canon[TOTP_CANON_MAX], name[NAME_MAX_LEN];
	struct session s = {.dfd = -1, .lfd = -1};
	struct stat sb;
	int rc = 0;

	memset(v, 0, sizeof *v);
	int kind = input ? totp_parse_input(input, strnlen(input, TOTP_INPUT_MAX + 1), canon)
			 : -EINVAL;
	if (kind < 0) {
		v->result = MFASTORE_BAD_INPUT;
		return 0;
	}
	if (now < 0) {
		explicit_bzero(canon, sizeof canon);
		v->result = MFASTORE_STORE_ERROR;
		set_err(err, errlen, "invalid time");
		return -EINVAL;
	}
	/* No state file: not enrolled, and no lock file is created for it. */
	user_name(name, uid, "");
	int dfd = open_dir(dir, 0, err, errlen);
	if (dfd >= 0 && fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
		rc = -ENOENT;
	if (dfd >= 0)
		close(dfd);
	if (dfd == -ENOENT || rc == -ENOENT) {
		v->result = MFASTORE_NOT_ENROLLED;
		explicit_bzero(canon, sizeof canon);
		return 0;
	}
	rc = dfd < 0 ? dfd : session_open(&s, dir, uid, 0, err, errlen);
	if (rc == -ENOENT || (rc == 0 && s.st.phase != MFASTORE_ACTIVE)) {
		v->result = MFASTORE_NOT_ENROLLED;
		rc = 0;
	} else if (rc == 0) {
		rc = verify_locked(&s, uid, kind, canon, now, v, err, errlen);
	}
	if (rc < 0) {
		memset(v, 0, sizeof *v);
		v->result = MFASTORE_STORE_ERROR;
	}
	session_close(&s);
	explicit_bzero(canon, sizeof canon);
	return rc;
}

int mfastore_reset(const char *dir, uid_t uid, char *err, size_t errlen)
{
	char name[NAME_MAX_LEN];
	struct session s;

	int rc = session_open(&s, dir, uid, 0, err, errlen);
	/* The content does not matter: a corrupt file is reset as well. */
	if (s.lfd >= 0) {
		user_name(name, uid, "");
		rc = unlinkat(s.dfd, name, 0) < 0 ? -errno : 0;
		if (rc == 0 && fsync(s.dfd) < 0)
			rc = -errno;
		if (rc == -ENOENT)
			set_err(err, errlen, "uid %u: not enrolled", (unsigned)uid);
		else if (rc < 0)
			set_err(err, errlen, "reset uid %u: %s", (unsigned)uid, strerror(-rc));
	}
	session_close(&s);
	return rc;
}

void mfastore_state_status(const struct mfastore_state *st, time_t now, struct mfastore_status *out)
{
	memset(out, 0, sizeof *out);
	out->enrolled = st->phase == MFASTORE_ACTIVE;
	out->pending = st->phase == MFASTORE_PENDING;
	out->recovery_left = recovery_left(st);
	out->fail_count = st->fail_count;
	out->lockout_level = st->lockout_level;
	out->locked_until = st->locked_until;
	if (st->locked_until > (int64_t)now) {
		int64_t left = st->locked_until - (int64_t)now;
		out->locked_secs = (unsigned)(left > MFASTORE_LOCK_MAX ? MFASTORE_LOCK_MAX : left);
	}
}

int mfastore_status(const char *dir, uid_t uid, time_t now, struct mfastore_status *out, char *err,
		    size_t errlen)
{
	struct mfastore_state st;

	memset(out, 0, sizeof *out);
	int rc = mfastore_load(dir, uid, &st, err, errlen);
	if (rc == -ENOENT) {
		mfastore_state_wipe(&st);
		return 0;
	}
	if (rc == 0)
		mfastore_state_status(&st, now, out);
	mfastore_state_wipe(&st);
	return rc;
}
