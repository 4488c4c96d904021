/*
 * test_audit: the audit trail end to end. Builds logs with the library,
 * then tampers with them the ways an attacker (or a crash) would, and
 * checks that audit_verify_dir() catches each one with the right seq:
 * a changed byte, a deleted record, two swapped, a cut in the middle, a
 * chain rewritten without the key, old epochs re-sealed with a stolen
 * later key, pruning beyond retention. Also: torn-tail recovery, rotation,
 * a full and a read-only file system (tmpfs; skipped if mount is not
 * permitted), lossless argv, 8 processes appending at once, epoch
 * evolution and re-keying.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "jitsu/audit.h"
#include "jitsu/audit_record.h"
#include "jitsu/audit_verify.h"

#define T0 (INT64_C(1795000000) * 1000000) /* a fixed "now" for the fake clock */
#define EPOCH_US (INT64_C(900) * 1000000)

static int64_t fake_now;
static int64_t fake_clock(void)
{
	return fake_now += 1000; /* 1 ms per call: times move forward */
}

struct fx {
	char tmp[64];
	char dir[128];
	struct audit_log *l;
	char err[256];
};

/* ---- helpers ---------------------------------------------------------- */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	snprintf(f->tmp, sizeof f->tmp, "/tmp/jitsu-audit-XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	snprintf(f->dir, sizeof f->dir, "%s/audit", f->tmp);
	fake_now = T0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	audit_close(f->l);
	umount2(f->tmp, MNT_DETACH); /* the tmpfs tests; harmless otherwise */
	nftw(f->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void open_log(struct fx *f, uint64_t max, unsigned keep)
{
	struct audit_opts o = {.max_file_size = max, .keep_files = keep, .clock = fake_clock};
	audit_close(f->l);
	f->l = NULL;
	int r = audit_open(f->dir, &o, &f->l, f->err, sizeof f->err);
	if (r)
		fail_msg("audit_open: %s", f->err);
}

static uint64_t append_req(struct fx *f, const char *user, int n)
{
	char *argv[] = {"/usr/bin/systemctl", "restart", "nginx", NULL};
	json_t *fields =
		json_pack("{s:s,s:i,s:s,s:o,s:s}", "user", user, "uid", 1000 + n, "target", "root",
			  "argv", audit_record_argv(3, argv), "reason", "ticket 42");
	uint64_t seq = 0;
	int r = audit_append(f->l, AUDIT_EV_REQUEST, fields, &seq, f->err, sizeof f->err);
	json_decref(fields);
	if (r)
		fail_msg("audit_append: %s", f->err);
	return seq;
}

static void path_of(const struct fx *f, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", f->dir, name);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	rewind(fp);
	char *b = malloc((size_t)n + 1);
	assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
	b[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return b;
}

static void spill(const char *path, const char *b, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(b, 1, len, fp), len);
	fclose(fp);
}

/* The lines of a file, newlines stripped; NULL-terminated, caller frees. */
static char **lines_of(const char *path, size_t *n)
{
	size_t len;
	char *b = slurp(path, &len);
	char **v = calloc(len + 2, sizeof *v);
	*n = 0;
	for (char *p = b, *nl; p < b + len; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		v[(*n)++] = strndup(p, (size_t)(nl - p));
	}
	free(b);
	return v;
}

static void write_lines(const char *path, char **v, size_t n)
{
	FILE *fp = fopen(path, "wb");
	for (size_t i = 0; i < n; i++)
		fprintf(fp, "%s\n", v[i]);
	fclose(fp);
}

static void free_lines(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int verify(struct fx *f, const struct audit_vkey *k, size_t nk,
		  struct audit_verify_report *rep)
{
	return audit_verify_dir(f->dir, k, nk, fake_now + 1000, rep);
}

static void assert_ok(struct fx *f, const struct audit_vkey *k, size_t nk,
		      struct audit_verify_report *rep)
{
	int r = verify(f, k, nk, rep);
	if (r)
		fail_msg("verify: %d: seq %" PRIu64 ": %s (%s)", r, rep->bad_seq, rep->reason,
			 rep->file);
}

static void assert_bad(struct fx *f, const struct audit_vkey *k, size_t nk, uint64_t seq,
		       const char *why)
{
	struct audit_verify_report rep;
	int r = verify(f, k, nk, &rep);
	if (r != -EBADMSG)
		fail_msg("verify returned %d, expected -EBADMSG (%s)", r, rep.reason);
	if (rep.bad_seq != seq || !strstr(rep.reason, why))
		fail_msg("bad seq %" PRIu64 " \"%s\"; expected seq %" PRIu64 " \"%s\"", rep.bad_seq,
			 rep.reason, seq, why);
}

static void setup_key(struct fx *f, struct audit_vkey *k, int force)
{
	char hex[AUDIT_VKEY_HEX_LEN + 1], err[128];
	int r = audit_setup_key(f->l, 900, force, hex, sizeof hex, f->err, sizeof f->err);
	if (r)
		fail_msg("setup: %s", f->err);
	assert_int_equal(audit_record_vkey_parse(hex, k, err, sizeof err), 0);
}

/* Rewrites lines [from, n) of a log so that the chain is consistent again,
 * as an attacker without any key can: recompute prev and hash. */
static void rechain(char **v, size_t n, size_t from)
{
	uint8_t prev[AUDIT_HASH_LEN], hash[AUDIT_HASH_LEN];
	struct audit_record r;
	char err[160];
	if (from == 0)
		memset(prev, 0, sizeof prev);
	else {
		assert_int_equal(
			audit_record_parse(v[from - 1], strlen(v[from - 1]), &r, err, sizeof err),
			0);
		memcpy(prev, r.hash, sizeof prev);
		audit_record_free(&r);
	}
	for (size_t i = from; i < n; i++) {
		json_t *o = json_loads(v[i], 0, NULL);
		char *line;
		size_t len;
		assert_non_null(o);
		assert_int_equal(audit_record_build(o, prev, &line, &len, hash), 0);
		line[len - 1] = '\0';
		free(v[i]);
		v[i] = line;
		memcpy(prev, hash, sizeof prev);
		json_decref(o);
	}
}

/* Replaces the first occurrence of from by to (same length) in line. */
static void poke(char *line, const char *from, const char *to)
{
	char *p = strstr(line, from);
	assert_non_null(p);
	assert_int_equal(strlen(from), strlen(to));
	// NOLINTNEXTLINE(bugprone-not-null-terminated-result): overwrites in place, keeps the rest
	memcpy(p, to, strlen(to));
}

/* ---- basics ----------------------------------------------------------- */

static void t_append_verify(void **state)
{
	struct fx *f = *state;
	struct audit_verify_report rep;
	struct stat st;
	char p[256];
	open_log(f, 0, 0);
	for (int i = 1; i <= 10; i++)
		assert_int_equal(append_req(f, "alice", i), (uint64_t)i);
	assert_ok(f, NULL, 0, &rep);
	assert_int_equal(rep.records, 10);
	assert_int_equal(rep.first_seq, 1);
	assert_int_equal(rep.last_seq, 10);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	path_of(f, "audit.log", p, sizeof p);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* reopening continues the chain */
	open_log(f, 0, 0);
	assert_int_equal(append_req(f, "bob", 11), 11);
	assert_ok(f, NULL, 0, &rep);
	assert_int_equal(rep.records, 11);
}

static void t_bad_input(void **state)
{
	struct fx *f = *state;
	open_log(f, 0, 0);
	json_t *j = json_pack("{s:i}", "seq", 7);
	assert_int_equal(audit_append(f->l, "request", j, NULL, f->err, sizeof f->err), -EINVAL);
	assert_non_null(strstr(f->err, "reserved"));
	json_decref(j);
	assert_int_equal(audit_append(f->l, "seal", NULL, NULL, f->err, sizeof f->err), -EINVAL);
	assert_int_equal(audit_append(f->l, "Bad Event", NULL, NULL, f->err, sizeof f->err),
			 -EINVAL);
	j = json_integer(3);
	assert_int_equal(audit_append(f->l, "request", j, NULL, f->err, sizeof f->err), -EINVAL);
	json_decref(j);
}

static void t_loose_dir_mode(void **state)
{
	struct fx *f = *state;
	struct stat st;
	char link[256];
	assert_int_equal(mkdir(f->dir, 0755), 0);
	open_log(f, 0, 0);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* a symlink in place of the directory is refused */
	snprintf(link, sizeof link, "%s/link", f->tmp);
	assert_int_equal(symlink(f->dir, link), 0);
	struct audit_log *l2;
	int r = audit_open(link, NULL, &l2, f->err, sizeof f->err);
	assert_true(r == -ENOTDIR || r == -ELOOP);
}

/* ---- lossless argv ---------------------------------------------------- */

struct collect {
	json_t *last;
};

static int collect_last(const struct audit_record *r, const char *line, size_t len, const char *why,
			void *ctx)
{
	struct collect *c = ctx;
	assert_non_null(r);
	json_decref(c->last);
	c->last = json_incref(r->obj);
	return 0;
}

static void t_argv_roundtrip(void **state)
{
	struct fx *f = *state;
	char *argv[] = {
		"printf",
		"line1\nline2",
		"say \"hi\" 'there'",
		"\xff\xfe invalid \xc3",
		"trailing\\",
		"",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		"\xed\xa0\x80",
		"tab\there\r\x1b[31m",
		"{\"b64\":\"x\"}",
		NULL,
	};
	int argc = 10;
	struct collect c = {0};
	open_log(f, 0, 0);
	json_t *fields = json_pack("{s:o,s:o}", "argv", audit_record_argv(argc, argv), "cwd",
				   audit_record_str("/home/\x80weird"));
	assert_int_equal(audit_append(f->l, "request", fields, NULL, f->err, sizeof f->err), 0);
	json_decref(fields);
	assert_int_equal(audit_verify_each(f->dir, collect_last, &c, f->err, sizeof f->err), 0);
	json_t *a = json_object_get(c.last, "argv");
	assert_int_equal(json_array_size(a), (size_t)argc);
	for (int i = 0; i < argc; i++) {
		char *b;
		size_t n;
		assert_int_equal(audit_record_decode(json_array_get(a, (size_t)i), &b, &n), 0);
		assert_int_equal(n, strlen(argv[i]));
		assert_memory_equal(b, argv[i], n);
		free(b);
	}
	/* valid UTF-8 stays a plain string, invalid becomes b64 */
	assert_true(json_is_string(json_array_get(a, 6)));
	assert_true(json_is_object(json_array_get(a, 3)));
	assert_true(json_is_object(json_array_get(a, 7))); /* a lone surrogate */
	assert_true(json_is_string(json_array_get(a, 9)));
	char *b;
	size_t n;
	assert_int_equal(audit_record_decode(json_object_get(c.last, "cwd"), &b, &n), 0);
	assert_string_equal(b, "/home/\x80weird");
	free(b);
	json_decref(c.last);
}

static void t_decode_canonical(void **state)
{
	char *b;
	size_t n;
	json_t *v = json_pack("{s:s}", "b64", "YQ=="); /* "a": must be a string */
	assert_int_equal(audit_record_decode(v, &b, &n), -EINVAL);
	json_decref(v);
	v = json_pack("{s:s}", "b64", "/w=="); /* 0xff */
	assert_int_equal(audit_record_decode(v, &b, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal((unsigned char)b[0], 0xff);
	free(b);
	json_decref(v);
	v = json_pack("{s:s}", "b64", "/x=="); /* non-zero padding bits */
	assert_int_equal(audit_record_decode(v, &b, &n), -EINVAL);
	json_decref(v);
	v = json_pack("{s:s,s:i}", "b64", "/w==", "x", 1);
	assert_int_equal(audit_record_decode(v, &b, &n), -EINVAL);
	json_decref(v);
}

static void t_format_line(void **state)
{
	char *argv[] = {"rm", "-rf", "a b\n\x1b[2J", NULL};
	char buf[512];
	json_t *rec =
		json_pack("{s:s,s:i,s:s,s:s,s:i,s:o,s:s}", "time", "2026-11-29T21:36:47.123456Z",
			  "seq", 42, "event", "request", "user", "alice", "uid", 1000, "argv",
			  audit_record_argv(3, argv), "hash", "00");
	assert_int_equal(audit_record_format(rec, buf, sizeof buf), 0);
	assert_string_equal(buf, "2026-11-29T21:36:47.123456Z #42 request user=alice uid=1000 "
				 "argv=[rm -rf \"a b\\n\\x1b[2J\"]");
	assert_int_equal(audit_record_format(rec, buf, 20), -ENOBUFS);
	assert_int_equal(strlen(buf), 19);
	json_decref(rec);
}

static void t_time(void **state)
{
	int64_t t;
	char buf[28];
	assert_int_equal(audit_record_time_parse("2026-11-29T21:36:47.123456Z", &t), 0);
	audit_record_time_format(t, buf);
	assert_string_equal(buf, "2026-11-29T21:36:47.123456Z");
	assert_int_equal(audit_record_time_parse("2026-02-30T21:36:47.123456Z", &t), -EINVAL);
	assert_int_equal(audit_record_time_parse("2026-11-29T21:36:47Z", &t), -EINVAL);
	assert_int_equal(audit_record_time_parse("2026-11-29 21:36:47.123456Z", &t), -EINVAL);
}

static void t_vkey(void **state)
{
	struct audit_vkey k = {.start = 1795000000, .interval = 900}, back;
	char hex[AUDIT_VKEY_HEX_LEN + 1], err[128];
	memset(k.seed, 0x42, sizeof k.seed);
	audit_record_vkey_init(&k);
	assert_int_equal(audit_record_vkey_format(&k, hex, sizeof hex), 0);
	assert_int_equal(audit_record_vkey_parse(hex, &back, err, sizeof err), 0);
	assert_memory_equal(&k, &back, sizeof k);
	hex[10] = hex[10] == 'a' ? 'b' : 'a'; /* a typo */
	assert_int_equal(audit_record_vkey_parse(hex, &back, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "checksum"));
	hex[20] = '\0';
	assert_int_equal(audit_record_vkey_parse(hex, &back, err, sizeof err), -EINVAL);
}

/* ---- tampering -------------------------------------------------------- */

static void build20(struct fx *f, char *p, size_t len)
{
	open_log(f, 0, 0);
	for (int i = 1; i <= 20; i++)
		append_req(f, "alice", i);
	path_of(f, "audit.log", p, len);
}

static void t_tamper_byte(void **state)
{
	struct fx *f = *state;
	char p[256];
	size_t n;
	build20(f, p, sizeof p);
	char **v = lines_of(p, &n);
	poke(v[4], "alice", "alicf");
	write_lines(p, v, n);
	free_lines(v, n);
	assert_bad(f, NULL, 0, 5, "hash does not match");
}

static void t_tamper_delete(void **state)
{
	struct fx *f = *state;
	char p[256];
	size_t n;
	build20(f, p, sizeof p);
	char **v = lines_of(p, &n);
	free(v[6]);
	memmove(&v[6], &v[7], (n - 7) * sizeof *v);
	write_lines(p, v, n - 1);
	free_lines(v, n - 1);
	assert_bad(f, NULL, 0, 7, "expected seq 7, found seq 8");
}

static void t_tamper_reorder(void **state)
{
	struct fx *f = *state;
	char p[256];
	size_t n;
	build20(f, p, sizeof p);
	char **v = lines_of(p, &n);
	char *t = v[7];
	v[7] = v[8];
	v[8] = t;
	write_lines(p, v, n);
	free_lines(v, n);
	assert_bad(f, NULL, 0, 8, "expected seq 8, found seq 9");
}

static void t_tamper_truncate_middle(void **state)
{
	struct fx *f = *state;
	char p[256];
	size_t len;
	build20(f, p, sizeof p);
	char *b = slurp(p, &len);
	/* cut from the middle of record 5 to the middle of record 9 */
	char *s = b;
	for (int i = 0; i < 4; i++)
		s = strchr(s, '\n') + 1;
	char *e = s;
	for (int i = 0; i < 4; i++)
		e = strchr(e, '\n') + 1;
	s += 40;
	e += 40;
	memmove(s, e, len - (size_t)(e - b));
	spill(p, b, len - (size_t)(e - s));
	free(b);
	assert_bad(f, NULL, 0, 5, "");
}

static void t_tamper_duplicate(void **state)
{
	struct fx *f = *state;
	char p[256];
	size_t n;
	build20(f, p, sizeof p);
	char **v = lines_of(p, &n);
	free(v[10]);
	v[10] = strdup(v[9]);
	write_lines(p, v, n);
	free_lines(v, n);
	assert_bad(f, NULL, 0, 11, "expected seq 11, found seq 10");
}

/* Seals: 10 records in epoch 0, sealed when epoch 1 begins; 5 more in
 * epoch 1, sealed by seal_now. Returns the seq of the first seal. */
static uint64_t build_sealed(struct fx *f, struct audit_vkey *k, char *p, size_t len)
{
	open_log(f, 0, 0);
	setup_key(f, k, 0); /* seq 1: key_setup */
	for (int i = 0; i < 10; i++)
		append_req(f, "alice", i); /* 2..11 */
	fake_now = T0 + EPOCH_US + 1000;
	append_req(f, "bob", 0); /* seal 12 (epoch 0), then 13 */
	for (int i = 0; i < 4; i++)
		append_req(f, "bob", i + 1); /* 14..17 */
	/* seal 18 */
	assert_int_equal(audit_seal_now(f->l, f->err, sizeof f->err), 0);
	path_of(f, "audit.log", p, len);
	return 12;
}

static void t_sealed_ok(void **state)
{
	struct fx *f = *state;
	struct audit_vkey k;
	struct audit_verify_report rep;
	char p[256];
	build_sealed(f, &k, p, sizeof p);
	assert_ok(f, &k, 1, &rep);
	assert_int_equal(rep.records, 18);
	assert_int_equal(rep.seals, 2);
	assert_int_equal(rep.seals_checked, 2);
	assert_int_equal(rep.unsealed, 0);
	/* a second seal_now has nothing to seal */
	assert_int_equal(audit_seal_now(f->l, f->err, sizeof f->err), 0);
	assert_ok(f, &k, 1, &rep);
	assert_int_equal(rep.records, 18);
	/* a wrong key is refused */
	struct audit_vkey other = k;
	other.seed[0] ^= 1;
	audit_record_vkey_init(&other);
	assert_bad(f, &other, 1, 12, "not among the keys given");
}

static void t_tamper_rechain(void **state)
{
	struct fx *f = *state;
	struct audit_vkey k;
	struct audit_verify_report rep;
	char p[256];
	size_t n;
	build_sealed(f, &k, p, sizeof p);
	char **v = lines_of(p, &n);
	poke(v[3], "alice", "mallo");
	rechain(v, n, 3);
	write_lines(p, v, n);
	free_lines(v, n);
	/* a consistent chain fools a check without the key ... */
	assert_ok(f, NULL, 0, &rep);
	/* ... but not the seals */
	assert_bad(f, &k, 1, 12, "seal does not match");
}

/* The attacker is root in epoch 3 and holds that epoch's key (seal.key).
 * Re-sealing epoch 0 with it fails whether the seal claims epoch 0 (the
 * MAC cannot match) or the epoch of the stolen key (records too old). */
static void t_stolen_key(void **state)
{
	struct fx *f = *state;
	struct audit_vkey k;
	char p[256], kp[256], magic[32], kid[17], hex[65];
	uint64_t start, epoch;
	uint32_t interval;
	uint8_t key[AUDIT_KEY_LEN], mac[AUDIT_HASH_LEN];
	size_t n, len;
	build_sealed(f, &k, p, sizeof p);
	fake_now = T0 + 3 * EPOCH_US + 1000;
	unsigned next;
	assert_int_equal(audit_tick(f->l, &next, f->err, sizeof f->err), 0);
	path_of(f, "seal.key", kp, sizeof kp);
	char *kf = slurp(kp, &len);
	// NOLINTNEXTLINE(cert-err34-c): all six fields must convert; the epoch is checked below
	assert_int_equal(sscanf(kf, "%31s %" SCNu64 " %" SCNu32 " %" SCNu64 " %16s %64s", magic,
				&start, &interval, &epoch, kid, hex),
			 6);
	free(kf);
	assert_int_equal(epoch, 3);
	assert_int_equal(audit_record_unhex(hex, key, sizeof key), 0);
	char *orig = slurp(p, &len);
	for (int claim = 0; claim < 2; claim++) {
		spill(p, orig, len);
		char **v = lines_of(p, &n);
		poke(v[3], "alice", "mallo");
		rechain(v, 11, 3); /* up to the first seal */
		json_t *seal = json_loads(v[11], 0, NULL);
		struct audit_record prev;
		char err[160];
		assert_int_equal(audit_record_parse(v[10], strlen(v[10]), &prev, err, sizeof err),
				 0);
		uint64_t e = claim ? epoch : 0;
		assert_int_equal(audit_record_seal_mac(key, e, 12, prev.hash, kid, mac), 0);
		audit_record_free(&prev);
		audit_record_hex(mac, sizeof mac, hex);
		json_object_set_new(seal, "mac", json_string(hex));
		json_object_set_new(seal, "epoch", json_integer((json_int_t)e));
		free(v[11]);
		v[11] = json_dumps(seal, 0);
		json_decref(seal);
		rechain(v, n, 11);
		write_lines(p, v, n);
		free_lines(v, n);
		if (claim)
			assert_bad(f, &k, 1, 1, "older than the epoch");
		else
			assert_bad(f, &k, 1, 12, "seal does not match");
	}
	free(orig);
}

/* ---- epochs and keys -------------------------------------------------- */

static void t_epoch_tick(void **state)
{
	struct fx *f = *state;
	struct audit_vkey k;
	struct audit_verify_report rep;
	char kp[256];
	size_t len;
	unsigned next;
	open_log(f, 0, 0);
	setup_key(f, &k, 0);
	path_of(f, "seal.key", kp, sizeof kp);
	char *key0 = slurp(kp, &len);
	append_req(f, "alice", 1);
	assert_int_equal(audit_tick(f->l, &next, f->err, sizeof f->err), 0);
	assert_in_range(next, 890, 900);
	assert_ok(f, &k, 1, &rep);
	assert_int_equal(rep.seals, 0);
	assert_int_equal(rep.unsealed, 2);
	fake_now = T0 + 2 * EPOCH_US + 5000;
	assert_int_equal(audit_tick(f->l, &next, f->err, sizeof f->err), 0);
	assert_ok(f, &k, 1, &rep);
	assert_int_equal(rep.seals, 1);
	assert_int_equal(rep.unsealed, 0);
	char *key2 = slurp(kp, &len);
	assert_non_null(strstr(key2, " 900 2 "));          /* now at epoch 2 */
	assert_null(strstr(key2, strrchr(key0, ' ') + 1)); /* the old key is gone */
	/* nothing new: no new seal */
	assert_int_equal(audit_tick(f->l, &next, f->err, sizeof f->err), 0);
	assert_ok(f, &k, 1, &rep);
	assert_int_equal(rep.records, 3);
	free(key0);
	free(key2);
}

static void t_rekey(void **state)
{
	struct fx *f = *state;
	struct audit_vkey k1, k2, both[2];
	struct audit_verify_report rep;
	char hex[AUDIT_VKEY_HEX_LEN + 1];
	open_log(f, 0, 0);
	setup_key(f, &k1, 0);
	append_req(f, "alice", 1);
	assert_int_equal(audit_setup_key(f->l, 900, 0, hex, sizeof hex, f->err, sizeof f->err),
			 -EEXIST);
	setup_key(f, &k2, 1); /* seals seq 1-2 with k1 first */
	append_req(f, "alice", 2);
	assert_int_equal(audit_seal_now(f->l, f->err, sizeof f->err), 0);
	both[0] = k1;
	both[1] = k2;
	assert_ok(f, both, 2, &rep);
	assert_int_equal(rep.seals_checked, 2);
	assert_bad(f, &k2, 1, 3, "not among the keys given");
	assert_bad(f, &k1, 1, 6, "not among the keys given");
}

/* ---- crashes ---------------------------------------------------------- */

struct find {
	const char *event;
	json_t *found;
};

static int find_event(const struct audit_record *r, const char *line, size_t len, const char *why,
		      void *ctx)
{
	struct find *c = ctx;
	if (r && !strcmp(r->event, c->event) && !c->found)
		c->found = json_incref(r->obj);
	return 0;
}

static json_int_t recovered_bytes(struct fx *f)
{
	struct find c = {"recovered", NULL};
	assert_int_equal(audit_verify_each(f->dir, find_event, &c, f->err, sizeof f->err), 0);
	assert_non_null(c.found);
	json_int_t n = json_integer_value(json_object_get(c.found, "dropped_bytes"));
	json_decref(c.found);
	return n;
}

static void t_torn_tail(void **state)
{
	struct fx *f = *state;
	struct audit_verify_report rep;
	char p[256];
	static const char partial[] = "{\"event\":\"request\",\"host\":\"vm\",\"machine";
	open_log(f, 0, 0);
	for (int i = 1; i <= 5; i++)
		append_req(f, "alice", i);
	audit_close(f->l);
	f->l = NULL;
	path_of(f, "audit.log", p, sizeof p);
	int fd = open(p, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, partial, sizeof partial - 1), (ssize_t)(sizeof partial - 1));
	close(fd);
	assert_bad(f, NULL, 0, 6, "not a whole line");
	open_log(f, 0, 0); /* recovery at open */
	assert_ok(f, NULL, 0, &rep);
	assert_int_equal(rep.records, 6);
	assert_int_equal(recovered_bytes(f), (json_int_t)(sizeof partial - 1));
	assert_int_equal(append_req(f, "alice", 7), 7);
	assert_ok(f, NULL, 0, &rep);
}

static void t_torn_under_lock(void **state)
{
	struct fx *f = *state;
	struct audit_verify_report rep;
	char p[256];
	static const char junk[] = "\0\0\0garbage\n{\"v\":1,\"s";
	open_log(f, 0, 0);
	append_req(f, "alice", 1);
	/* another process died mid-write after we opened: a line of garbage
	 * that ends in a newline, then a torn one */
	path_of(f, "audit.log", p, sizeof p);
	int fd = open(p, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, junk, sizeof junk - 1), (ssize_t)(sizeof junk - 1));
	close(fd);
	assert_int_equal(append_req(f, "alice", 2), 3); /* 2 is "recovered" */
	assert_ok(f, NULL, 0, &rep);
	assert_int_equal(rep.records, 3);
	assert_int_equal(recovered_bytes(f), (json_int_t)(sizeof junk - 1));
}

static void t_damaged_last_record(void **state)
{
	struct fx *f = *state;
	char p[256];
	size_t n;
	open_log(f, 0, 0);
	append_req(f, "alice", 1);
	append_req(f, "alice", 2);
	path_of(f, "audit.log", p, sizeof p);
	char **v = lines_of(p, &n);
	poke(v[1], "alice", "alicf"); /* whole, valid JSON: not a torn write */
	write_lines(p, v, n);
	free_lines(v, n);
	json_t *j = json_object();
	assert_int_equal(audit_append(f->l, "request", j, NULL, f->err, sizeof f->err), -EBADMSG);
	assert_non_null(strstr(f->err, "damaged"));
	json_decref(j);
}

static void t_crash_mid_rotation(void **state)
{
	struct fx *f = *state;
	struct audit_verify_report rep;
	char a[256], b[256], name[AUDIT_FILE_NAME_MAX];
	open_log(f, 0, 0);
	for (int i = 1; i <= 3; i++)
		append_req(f, "alice", i);
	/* renamed, then the crash: no audit.log */
	audit_record_file_name(1, name);
	path_of(f, "audit.log", a, sizeof a);
	path_of(f, name, b, sizeof b);
	assert_int_equal(rename(a, b), 0);
	open_log(f, 0, 0);
	assert_int_equal(append_req(f, "alice", 4), 4);
	assert_ok(f, NULL, 0, &rep);
	assert_int_equal(rep.records, 4);
}

/* ---- rotation and retention ------------------------------------------- */

static size_t count_rotated(struct fx *f)
{
	int dfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	uint64_t *s;
	size_t n;
	assert_int_equal(audit_list_rotated(dfd, &s, &n), 0);
	close(dfd);
	free(s);
	return n;
}

static void t_rotation(void **state)
{
	struct fx *f = *state;
	struct audit_verify_report rep;
	open_log(f, 2048, 0);
	for (int i = 0; i < 100; i++)
		append_req(f, "alice", i);
	size_t n = count_rotated(f);
	assert_true(n >= 10);
	assert_ok(f, NULL, 0, &rep);
	assert_int_equal(rep.records, 100 + n); /* one rotate record per file */
	assert_int_equal(rep.first_seq, 1);
	/* deleting a middle file breaks the chain */
	char name[AUDIT_FILE_NAME_MAX], p[256];
	int dfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	uint64_t *s;
	assert_int_equal(audit_list_rotated(dfd, &s, &n), 0);
	close(dfd);
	audit_record_file_name(s[3], name);
	path_of(f, name, p, sizeof p);
	assert_int_equal(unlink(p), 0);
	char why[64];
	snprintf(why, sizeof why, "expected seq %" PRIu64, s[3]);
	assert_bad(f, NULL, 0, s[3], why);
	free(s);
}

static void t_retention(void **state)
{
	struct fx *f = *state;
	struct audit_verify_report rep;
	open_log(f, 2048, 3);
	for (int i = 0; i < 100; i++)
		append_req(f, "alice", i);
	assert_int_equal(count_rotated(f), 3);
	assert_ok(f, NULL, 0, &rep);
	assert_true(rep.first_seq > 1);
	/* pruning one more file than retention keeps is caught */
	int dfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	uint64_t *s;
	size_t n;
	char name[AUDIT_FILE_NAME_MAX], p[256];
	assert_int_equal(audit_list_rotated(dfd, &s, &n), 0);
	close(dfd);
	audit_record_file_name(s[0], name);
	path_of(f, name, p, sizeof p);
	assert_int_equal(unlink(p), 0);
	assert_bad(f, NULL, 0, s[0], "should have been kept");
	free(s);
}

static uint64_t held_seq;
static uint64_t hold_at(const void *arg)
{
	(void)arg;
	return held_seq;
}

/* A reader's floor (jitsud: the first record the hub has not got) beats
 * keep_files: nothing at or after it is pruned; once it moves on,
 * retention catches up at the next rotation. */
static void t_retention_hold(void **state)
{
	struct fx *f = *state;
	struct audit_verify_report rep;
	struct audit_opts o = {
		.max_file_size = 2048, .keep_files = 2, .clock = fake_clock, .hold = hold_at};
	held_seq = 1;
	f->l = NULL;
	assert_int_equal(audit_open(f->dir, &o, &f->l, f->err, sizeof f->err), 0);
	for (int i = 0; i < 100; i++)
		append_req(f, "alice", i);
	size_t all = count_rotated(f);
	assert_true(all >= 10);
	assert_ok(f, NULL, 0, &rep);
	assert_int_equal(rep.first_seq, 1);
	/* the floor in the middle: files before the one holding it may go */
	int dfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	uint64_t *s;
	size_t n;
	assert_int_equal(audit_list_rotated(dfd, &s, &n), 0);
	held_seq = s[4] + 1;
	uint64_t kept_first = s[4];
	free(s);
	uint64_t last = 0;
	while (count_rotated(f) >= all) /* up to the next rotation */
		last = append_req(f, "alice", 0);
	assert_int_equal(audit_list_rotated(dfd, &s, &n), 0);
	assert_int_equal(s[0], kept_first);
	free(s);
	assert_ok(f, NULL, 0, &rep);
	assert_int_equal(rep.first_seq, kept_first);
	/* the floor at the head: back to keep_files */
	held_seq = last + 1;
	size_t before = count_rotated(f);
	while (count_rotated(f) == before)
		append_req(f, "alice", 0);
	assert_int_equal(count_rotated(f), 2);
	close(dfd);
}

/* ---- failing file systems --------------------------------------------- */

static int mount_small(struct fx *f)
{
	if (mount("tmpfs", f->tmp, "tmpfs", 0, "size=64k,mode=0700") < 0)
		return -1;
	return 0;
}

static void t_disk_full(void **state)
{
	struct fx *f = *state;
	struct audit_verify_report rep;
	if (mount_small(f) < 0) {
		print_message("mount not permitted (%s): skipped\n", strerror(errno));
		skip();
	}
	open_log(f, 0, 0);
	char big[4096];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	int r = 0, i;
	for (i = 0; i < 100 && !r; i++) {
		json_t *j = json_pack("{s:s}", "reason", big);
		r = audit_append(f->l, "request", j, NULL, f->err, sizeof f->err);
		json_decref(j);
	}
	assert_int_equal(r, -ENOSPC);
	assert_true(i > 3);
	assert_non_null(strstr(f->err, "No space left on device"));
	assert_null(strchr(f->err, '\n'));
	/* what was acknowledged is intact, nothing half-written */
	assert_ok(f, NULL, 0, &rep);
	assert_int_equal(rep.records, (uint64_t)(i - 1));
	/* read-only (remounting needs no file open for writing): fails too */
	audit_close(f->l);
	f->l = NULL;
	assert_int_equal(mount(NULL, f->tmp, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);
	struct audit_opts o = {.clock = fake_clock};
	assert_int_equal(audit_open(f->dir, &o, &f->l, f->err, sizeof f->err), -EROFS);
	assert_non_null(strstr(f->err, "Read-only file system"));
	assert_int_equal(umount(f->tmp), 0);
}

/* ---- concurrency ------------------------------------------------------ */

#define PROCS 8
#define PER_PROC 200

struct tally {
	unsigned per[PROCS];
	unsigned requests;
};

static int count_child(const struct audit_record *r, const char *line, size_t len, const char *why,
		       void *ctx)
{
	struct tally *t = ctx;
	assert_non_null(r);
	if (strcmp(r->event, "request") != 0)
		return 0;
	json_int_t c = json_integer_value(json_object_get(r->obj, "child"));
	json_int_t k = json_integer_value(json_object_get(r->obj, "n"));
	assert_in_range(c, 0, PROCS - 1);
	assert_int_equal(k, t->per[c]); /* each child's records in its order */
	t->per[c]++;
	t->requests++;
	return 0;
}

static void t_concurrent(void **state)
{
	struct fx *f = *state;
	struct audit_verify_report rep;
	struct tally t = {{0}, 0};
	pid_t pids[PROCS];
	/* opened once, then shared by fork as jitsud does; small files so that
	 * rotations race with appends too */
	open_log(f, 64 * 1024, 0);
	for (int c = 0; c < PROCS; c++) {
		pids[c] = fork();
		assert_true(pids[c] >= 0);
		if (pids[c] == 0) {
			char err[256];
			for (int k = 0; k < PER_PROC; k++) {
				json_t *j = json_pack("{s:i,s:i,s:s}", "child", c, "n", k, "user",
						      "alice");
				if (audit_append(f->l, "request", j, NULL, err, sizeof err) < 0) {
					fprintf(stderr, "child %d: %s\n", c, err);
					_exit(1);
				}
				json_decref(j);
			}
			_exit(0);
		}
	}
	for (int c = 0; c < PROCS; c++) {
		int st;
		assert_int_equal(waitpid(pids[c], &st, 0), pids[c]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_ok(f, NULL, 0, &rep);
	assert_int_equal(audit_verify_each(f->dir, count_child, &t, f->err, sizeof f->err), 0);
	assert_int_equal(t.requests, PROCS * PER_PROC);
	for (int c = 0; c < PROCS; c++)
		assert_int_equal(t.per[c], PER_PROC);
	assert_int_equal(rep.records, PROCS * PER_PROC + count_rotated(f));
	assert_int_equal(rep.last_seq, rep.records);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_append_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(t_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(t_loose_dir_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(t_argv_roundtrip, setup, teardown),
		cmocka_unit_test(t_decode_canonical),
		cmocka_unit_test(t_format_line),
		cmocka_unit_test(t_time),
		cmocka_unit_test(t_vkey),
		cmocka_unit_test_setup_teardown(t_tamper_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(t_tamper_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(t_tamper_reorder, setup, teardown),
		cmocka_unit_test_setup_teardown(t_tamper_truncate_middle, setup, teardown),
		cmocka_unit_test_setup_teardown(t_tamper_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(t_sealed_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(t_tamper_rechain, setup, teardown),
		cmocka_unit_test_setup_teardown(t_stolen_key, setup, teardown),
		cmocka_unit_test_setup_teardown(t_epoch_tick, setup, teardown),
		cmocka_unit_test_setup_teardown(t_rekey, setup, teardown),
		cmocka_unit_test_setup_teardown(t_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(t_torn_under_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(t_damaged_last_record, setup, teardown),
		cmocka_unit_test_setup_teardown(t_crash_mid_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(t_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(t_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(t_retention_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(t_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(t_concurrent, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
