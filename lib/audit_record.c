/*
 * audit_record: lossless strings, line build and parse, the hash chain and
 * seal primitives, verification keys and the human-readable line. Pure
 * functions only; the MUST rules are in include/jitsu/audit_record.h and
 * the format in docs/audit-format.md.
 */
#include "jitsu/audit_record.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nettle/base64.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>

#include "jitsu/digest.h"

/* `,"hash":"` + 64 hex + `"}`: the fixed tail of every line. */
#define SUFFIX_HEAD ",\"hash\":\""
#define SUFFIX_LEN (sizeof SUFFIX_HEAD - 1 + 2 * AUDIT_HASH_LEN + 2)
#define VKEY_BIN_LEN 48 /* seed 32, start 8, interval 4, check 4 */
#define EVENT_MAX 32

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* SHA-256 over up to three parts. */
static void sha256_parts(const void *a, size_t an, const void *b, size_t bn, const void *c,
			 size_t cn, uint8_t out[AUDIT_HASH_LEN])
{
	struct digest_sha256 d;
	digest_sha256_init(&d);
	digest_sha256_update(&d, a, an);
	digest_sha256_update(&d, b, bn);
	digest_sha256_update(&d, c, cn);
	digest_sha256_final(&d, out);
	explicit_bzero(&d, sizeof d); /* the state may hold key bytes */
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

void audit_record_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int audit_record_unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]);
		int lo = hi < 0 ? -1 : hexval(s[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return s[2 * n] == '\0' ? 0 : -EINVAL;
}

/* ---- lossless strings ------------------------------------------------ */

json_t *audit_record_bytes(const void *p, size_t n)
{
	/* jansson accepts exactly the valid UTF-8 (no surrogates, no overlong
	 * forms); NUL is valid UTF-8 but not a C string, so it goes to b64. */
	if (!memchr(p, '\0', n)) {
		json_t *s = json_stringn(p, n);
		if (s)
			return s;
	}
	if (n > (size_t)INT32_MAX / 2)
		return NULL;
	size_t cap = 4 * ((n + 2) / 3) + 1;
	char *b = malloc(cap);
	if (!b)
		return NULL;
	base64_encode_raw(b, n, p);
	b[cap - 1] = '\0';
	json_t *o = json_pack("{s:s}", "b64", b);
	free(b);
	return o;
}

json_t *audit_record_str(const char *s)
{
	return audit_record_bytes(s, strlen(s));
}

json_t *audit_record_argv(int argc, char *const argv[])
{
	json_t *a = json_array();
	for (int i = 0; a && i < argc; i++) {
		if (json_array_append_new(a, audit_record_str(argv[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static int b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* The six bits of a base64 character; padding '=' counts as zero bits. */
static uint32_t b64_bits(char c)
{
	if (c >= 'A' && c <= 'Z')
		return (uint32_t)(c - 'A');
	if (c >= 'a' && c <= 'z')
		return (uint32_t)(c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (uint32_t)(c - '0' + 52);
	return c == '+' ? 62 : c == '/' ? 63 : 0;
}

/* Strict base64: length a multiple of 4, padding only at the end. Unused
 * low bits before the padding are not checked here: the canonical
 * re-encoding in audit_record_decode() refuses them. */
static int b64_decode(const char *s, size_t sl, char **out, size_t *n)
{
	if (sl % 4 || sl > (size_t)INT32_MAX)
		return -EINVAL;
	size_t pad = 0;
	while (pad < 2 && pad < sl && s[sl - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < sl - pad; i++)
		if (!b64_char(s[i]))
			return -EINVAL;
	unsigned char *b = malloc(sl / 4 * 3 + 1);
	if (!b)
		return -ENOMEM;
	for (size_t i = 0, o = 0; i < sl; i += 4, o += 3) {
		uint32_t v = b64_bits(s[i]) << 18 | b64_bits(s[i + 1]) << 12 |
			     b64_bits(s[i + 2]) << 6 | b64_bits(s[i + 3]);
		b[o] = (unsigned char)(v >> 16);
		b[o + 1] = (unsigned char)(v >> 8);
		b[o + 2] = (unsigned char)v;
	}
	*n = sl / 4 * 3 - pad;
	b[*n] = '\0';
	*out = (char *)b;
	return 0;
}

int audit_record_decode(const json_t *v, char **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (json_is_string(v)) {
		size_t len = json_string_length(v);
		char *b = malloc(len + 1);
		if (!b)
			return -ENOMEM;
		memcpy(b, json_string_value(v), len + 1);
		*out = b;
		*n = len;
		return 0;
	}
	json_t *b64 = json_object_get(v, "b64");
	if (!json_is_object(v) || json_object_size(v) != 1 || !json_is_string(b64))
		return -EINVAL;
	char *b;
	size_t len;
	int r = b64_decode(json_string_value(b64), json_string_length(b64), &b, &len);
	if (r < 0)
		return r;
	/* Canonical form only: a value that would have been a plain string
	 * must not be accepted as b64, or one argv would have two spellings. */
	json_t *again = audit_record_bytes(b, len);
	int canon = json_is_object(again) && json_equal(again, v);
	json_decref(again);
	if (!canon) {
		free(b);
		return -EINVAL;
	}
	*out = b;
	*n = len;
	return 0;
}

/* ---- build and parse ------------------------------------------------- */

int audit_record_build(json_t *rec, const uint8_t prev[AUDIT_HASH_LEN], char **line, size_t *len,
		       uint8_t hash[AUDIT_HASH_LEN])
{
	char hex[2 * AUDIT_HASH_LEN + 1];
	*line = NULL;
	*len = 0;
	if (!json_is_object(rec))
		return -EINVAL;
	json_object_del(rec, "hash");
	audit_record_hex(prev, AUDIT_HASH_LEN, hex);
	if (json_object_set_new(rec, "prev", json_string(hex)) < 0)
		return -ENOMEM;
	char *canon = json_dumps(rec, AUDIT_JSON_FLAGS);
	if (!canon)
		return -EINVAL;
	size_t n = strlen(canon);
	if (n + SUFFIX_LEN > AUDIT_MAX_LINE) {
		free(canon);
		return -EMSGSIZE;
	}
	sha256_parts(prev, AUDIT_HASH_LEN, canon, n, "", 0, hash);
	char *l = realloc(canon, n - 1 + SUFFIX_LEN + 2);
	if (!l) {
		free(canon);
		return -ENOMEM;
	}
	audit_record_hex(hash, AUDIT_HASH_LEN, hex);
	/* canonical bytes minus their closing brace, then the hash member */
	snprintf(l + n - 1, SUFFIX_LEN + 2, SUFFIX_HEAD "%s\"}\n", hex);
	*line = l;
	*len = n - 1 + SUFFIX_LEN + 1;
	return 0;
}

int audit_record_event_ok(const char *e)
{
	size_t n = strlen(e);
	if (n == 0 || n > EVENT_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((e[i] >= 'a' && e[i] <= 'z') || (e[i] >= '0' && e[i] <= '9') || e[i] == '_'))
			return 0;
	return 1;
}

/* Checks the bytes and the fixed tail; copies the hash hex out. */
static int parse_frame(const char *line, size_t len, uint8_t hash[AUDIT_HASH_LEN], char *err,
		       size_t errlen)
{
	if (len < SUFFIX_LEN + 2 || len >= AUDIT_MAX_LINE) {
		seterr(err, errlen, "bad line length %zu", len);
		return -EBADMSG;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x20 || c > 0x7f) {
			seterr(err, errlen, "byte 0x%02x at offset %zu is not printable ASCII", c,
			       i);
			return -EBADMSG;
		}
	}
	const char *tail = line + len - SUFFIX_LEN;
	char hex[2 * AUDIT_HASH_LEN + 1];
	if (memcmp(tail, SUFFIX_HEAD, sizeof SUFFIX_HEAD - 1) != 0 ||
	    memcmp(line + len - 2, "\"}", 2) != 0) {
		seterr(err, errlen, "line does not end with the hash member");
		return -EBADMSG;
	}
	memcpy(hex, tail + sizeof SUFFIX_HEAD - 1, 2 * AUDIT_HASH_LEN);
	hex[2 * AUDIT_HASH_LEN] = '\0';
	if (audit_record_unhex(hex, hash, AUDIT_HASH_LEN) < 0) {
		seterr(err, errlen, "hash is not 64 lowercase hex digits");
		return -EBADMSG;
	}
	return 0;
}

/* Reads the members every record has into r. */
static int parse_members(struct audit_record *r, char *err, size_t errlen)
{
	json_t *o = r->obj;
	json_t *v = json_object_get(o, "v");
	json_t *seq = json_object_get(o, "seq");
	json_t *ev = json_object_get(o, "event");
	json_t *tm = json_object_get(o, "time");
	json_t *prev = json_object_get(o, "prev");
	if (!json_is_integer(v) || json_integer_value(v) != AUDIT_RECORD_VERSION) {
		seterr(err, errlen, "missing or unknown format version \"v\"");
		return -EBADMSG;
	}
	if (!json_is_integer(seq) || json_integer_value(seq) < 1) {
		seterr(err, errlen, "missing or bad \"seq\"");
		return -EBADMSG;
	}
	r->seq = (uint64_t)json_integer_value(seq);
	if (!json_is_string(ev) || !audit_record_event_ok(json_string_value(ev))) {
		seterr(err, errlen, "missing or bad \"event\"");
		return -EBADMSG;
	}
	r->event = json_string_value(ev);
	if (!json_is_string(tm) ||
	    audit_record_time_parse(json_string_value(tm), &r->time_us) < 0) {
		seterr(err, errlen, "missing or bad \"time\"");
		return -EBADMSG;
	}
	if (!json_is_string(prev) ||
	    audit_record_unhex(json_string_value(prev), r->prev, AUDIT_HASH_LEN) < 0) {
		seterr(err, errlen, "missing or bad \"prev\"");
		return -EBADMSG;
	}
	return 0;
}

int audit_record_parse(const char *line, size_t len, struct audit_record *r, char *err,
		       size_t errlen)
{
	memset(r, 0, sizeof *r);
	int ret = parse_frame(line, len, r->hash, err, errlen);
	if (ret < 0)
		return ret;
	json_error_t je;
	r->obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(r->obj)) {
		seterr(err, errlen, "not a JSON object: %s", r->obj ? "wrong type" : je.text);
		audit_record_free(r);
		return -EBADMSG;
	}
	if ((ret = parse_members(r, err, errlen)) < 0) {
		audit_record_free(r);
		return ret;
	}
	/* The hash member is the last one in the text and the only "hash"
	 * key (duplicates were refused), so the object agrees with the tail. */
	uint8_t h[AUDIT_HASH_LEN];
	sha256_parts(r->prev, AUDIT_HASH_LEN, line, len - SUFFIX_LEN, "}", 1, h);
	if (!memeql_sec(h, r->hash, AUDIT_HASH_LEN)) {
		seterr(err, errlen, "hash does not match the record's contents");
		audit_record_free(r);
		return -EBADMSG;
	}
	return 0;
}

void audit_record_free(struct audit_record *r)
{
	json_decref(r->obj);
	memset(r, 0, sizeof *r);
}

/* ---- the human-readable line ----------------------------------------- */

struct fmt {
	char *buf;
	size_t len, pos;
	int cut;
};

static void fmt_raw(struct fmt *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (f->pos + 1 >= f->len) {
			f->cut = 1;
			return;
		}
		f->buf[f->pos++] = s[i];
	}
}

/* Bytes as one word: bare if plainly printable, else "quoted" with C-style
 * escapes for quotes, backslashes and every byte outside 0x20..0x7e. */
static void fmt_bytes(struct fmt *f, const char *p, size_t n)
{
	int bare = n > 0;
	for (size_t i = 0; i < n && bare; i++) {
		unsigned char c = (unsigned char)p[i];
		bare = c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '\'';
	}
	if (bare) {
		fmt_raw(f, p, n);
		return;
	}
	fmt_raw(f, "\"", 1);
	for (size_t i = 0; i < n && !f->cut; i++) {
		unsigned char c = (unsigned char)p[i];
		char e[5] = {'\\', (char)c, 0, 0, 0};
		if (c == '"' || c == '\\')
			fmt_raw(f, e, 2);
		else if (c == '\n')
			fmt_raw(f, "\\n", 2);
		else if (c == '\t')
			fmt_raw(f, "\\t", 2);
		else if (c < 0x20 || c >= 0x7f) {
			snprintf(e, sizeof e, "\\x%02x", c);
			fmt_raw(f, e, 4);
		} else
			fmt_raw(f, p + i, 1);
	}
	fmt_raw(f, "\"", 1);
}

static void fmt_value(struct fmt *f, const json_t *v)
{
	char *b;
	size_t n;
	if (json_is_array(v)) {
		fmt_raw(f, "[", 1);
		for (size_t i = 0; i < json_array_size(v) && !f->cut; i++) {
			if (i)
				fmt_raw(f, " ", 1);
			fmt_value(f, json_array_get(v, i));
		}
		fmt_raw(f, "]", 1);
		return;
	}
	if (audit_record_decode(v, &b, &n) == 0) {
		fmt_bytes(f, b, n);
		free(b);
		return;
	}
	b = json_dumps(v, AUDIT_JSON_FLAGS | JSON_ENCODE_ANY);
	fmt_bytes(f, b ? b : "?", b ? strlen(b) : 1);
	free(b);
}

static void fmt_pair(struct fmt *f, const char *key, const json_t *v)
{
	fmt_raw(f, " ", 1);
	fmt_bytes(f, key, strlen(key));
	fmt_raw(f, "=", 1);
	fmt_value(f, v);
}

/* Shown first, in this order; then every other key but the skipped ones,
 * sorted. Hashes, the host and the format version are for machines. */
static const char *const fmt_first[] = {
	"user",   "uid",         "target", "tty",    "decision", "rule",   "pid", "status",
	"signal", "duration_us", "cwd",    "binary", "argv",     "reason", NULL,
};
static const char *const fmt_skip[] = {
	"v",    "seq",        "time", "event",         "prev",          "hash",
	"host", "machine_id", "mac",  "binary_sha256", "policy_sha256", NULL,
};

static int in_list(const char *const *list, const char *k)
{
	for (; *list; list++)
		if (!strcmp(*list, k))
			return 1;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void fmt_rest(struct fmt *f, const json_t *rec)
{
	size_t n = 0, cap = json_object_size(rec);
	const char **keys = malloc((cap ? cap : 1) * sizeof *keys);
	const char *k;
	json_t *v;
	if (!keys) {
		f->cut = 1;
		return;
	}
	/* json_*_foreach() is a for loop; clang-format would take it for a call. */
	// clang-format off
	json_object_foreach((json_t *)rec, k, v) {
		if (!in_list(fmt_first, k) && !in_list(fmt_skip, k))
			keys[n++] = k;
	}
	// clang-format on
	qsort(keys, n, sizeof *keys, cmp_str);
	for (size_t i = 0; i < n; i++)
		fmt_pair(f, keys[i], json_object_get(rec, keys[i]));
	free(keys);
}

int audit_record_format(const json_t *rec, char *buf, size_t len)
{
	struct fmt f = {buf, len, 0, 0};
	const json_t *v;
	if (!len)
		return -ENOBUFS;
	if ((v = json_object_get(rec, "time")))
		fmt_value(&f, v);
	if (json_is_integer(v = json_object_get(rec, "seq"))) {
		char s[32];
		snprintf(s, sizeof s, "%s#%" JSON_INTEGER_FORMAT, f.pos ? " " : "",
			 json_integer_value(v));
		fmt_raw(&f, s, strlen(s));
	}
	if ((v = json_object_get(rec, "event"))) {
		fmt_raw(&f, f.pos ? " " : "", f.pos ? 1 : 0);
		fmt_value(&f, v);
	}
	for (const char *const *k = fmt_first; *k; k++)
		if ((v = json_object_get(rec, *k)))
			fmt_pair(&f, *k, v);
	fmt_rest(&f, rec);
	buf[f.pos] = '\0';
	return f.cut ? -ENOBUFS : 0;
}

/* ---- time ------------------------------------------------------------ */

void audit_record_time_format(int64_t t, char buf[28])
{
	time_t s = (time_t)(t / 1000000);
	long us = (long)(t % 1000000);
	if (us < 0) {
		us += 1000000;
		s--;
	}
	struct tm tm;
	if (!gmtime_r(&s, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
		memcpy(buf, "0000-00-00T00:00:00.000000Z", 28);
		return;
	}
	char out[64];
	snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
	memcpy(buf, out, 27);
	buf[27] = '\0';
}

/* The value of n decimal digits, already checked to be digits. */
static int digits(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

int audit_record_time_parse(const char *s, int64_t *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	if (strlen(s) != sizeof shape - 1)
		return -EINVAL;
	for (size_t i = 0; i < sizeof shape - 1; i++) {
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return -EINVAL;
	}
	struct tm tm = {0};
	tm.tm_year = digits(s, 4) - 1900;
	tm.tm_mon = digits(s + 5, 2) - 1;
	tm.tm_mday = digits(s + 8, 2);
	tm.tm_hour = digits(s + 11, 2);
	tm.tm_min = digits(s + 14, 2);
	tm.tm_sec = digits(s + 17, 2);
	long us = digits(s + 20, 6);
	time_t sec = timegm(&tm);
	int64_t v = (int64_t)sec * 1000000 + us;
	/* Only the canonical spelling: rejects Feb 30, 24:00, leap seconds. */
	char back[28];
	audit_record_time_format(v, back);
	if (strcmp(back, s) != 0)
		return -EINVAL;
	*t = v;
	return 0;
}

/* ---- keys and seals -------------------------------------------------- */

int audit_record_evolve(uint8_t k[AUDIT_KEY_LEN])
{
	static const char tag[] = "jitsu-audit-evolve-v1";
	uint8_t next[AUDIT_HASH_LEN];
	sha256_parts(tag, sizeof tag - 1, k, AUDIT_KEY_LEN, "", 0, next);
	memcpy(k, next, AUDIT_KEY_LEN);
	explicit_bzero(next, sizeof next);
	return 0;
}

int audit_record_seal_mac(const uint8_t k[AUDIT_KEY_LEN], uint64_t epoch, uint64_t seq,
			  const uint8_t prev[AUDIT_HASH_LEN], const char *kid,
			  uint8_t mac[AUDIT_HASH_LEN])
{
	static const char tag[] = "jitsu-audit-seal-v1";
	uint8_t msg[sizeof tag - 1 + 16 + AUDIT_HASH_LEN + AUDIT_KID_LEN];
	uint8_t *p = msg;
	if (strlen(kid) != AUDIT_KID_LEN)
		return -EINVAL;
	memcpy(p, tag, sizeof tag - 1);
	p += sizeof tag - 1;
	put_be(p, epoch, 8);
	put_be(p + 8, seq, 8);
	memcpy(p + 16, prev, AUDIT_HASH_LEN);
	memcpy(p + 16 + AUDIT_HASH_LEN, kid, AUDIT_KID_LEN);
	struct hmac_sha256_ctx h;
	hmac_sha256_set_key(&h, AUDIT_KEY_LEN, k);
	hmac_sha256_update(&h, sizeof msg, msg);
	hmac_sha256_digest(&h, AUDIT_HASH_LEN, mac);
	explicit_bzero(&h, sizeof h);
	return 0;
}

/* seed || be64 start || be32 interval: the 44 bytes the key id and the
 * checksum are computed over. */
static void vkey_pack(const struct audit_vkey *k, uint8_t b[VKEY_BIN_LEN])
{
	memcpy(b, k->seed, AUDIT_KEY_LEN);
	put_be(b + 32, k->start, 8);
	put_be(b + 40, k->interval, 4);
	uint8_t h[AUDIT_HASH_LEN];
	static const char tag[] = "jitsu-audit-vkey-v1";
	sha256_parts(tag, sizeof tag - 1, b, 44, "", 0, h);
	memcpy(b + 44, h, 4);
}

void audit_record_vkey_init(struct audit_vkey *k)
{
	static const char tag[] = "jitsu-audit-kid-v1";
	uint8_t b[VKEY_BIN_LEN], h[AUDIT_HASH_LEN];
	vkey_pack(k, b);
	sha256_parts(tag, sizeof tag - 1, b, 44, "", 0, h);
	audit_record_hex(h, AUDIT_KID_LEN / 2, k->kid);
	explicit_bzero(b, sizeof b);
}

int audit_record_vkey_format(const struct audit_vkey *k, char *hex, size_t len)
{
	uint8_t b[VKEY_BIN_LEN];
	if (len < AUDIT_VKEY_HEX_LEN + 1)
		return -ENOBUFS;
	vkey_pack(k, b);
	audit_record_hex(b, sizeof b, hex);
	explicit_bzero(b, sizeof b);
	return 0;
}

int audit_record_vkey_parse(const char *hex, struct audit_vkey *k, char *err, size_t errlen)
{
	char low[AUDIT_VKEY_HEX_LEN + 1];
	uint8_t b[VKEY_BIN_LEN], check[VKEY_BIN_LEN];
	memset(k, 0, sizeof *k);
	if (strlen(hex) != AUDIT_VKEY_HEX_LEN) {
		seterr(err, errlen, "a verification key has %d hex digits, not %zu",
		       AUDIT_VKEY_HEX_LEN, strlen(hex));
		return -EINVAL;
	}
	for (size_t i = 0; i <= AUDIT_VKEY_HEX_LEN; i++)
		low[i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] - 'A' + 'a' : hex[i]);
	int bad = audit_record_unhex(low, b, sizeof b) < 0;
	explicit_bzero(low, sizeof low);
	if (bad) {
		seterr(err, errlen, "the verification key is not hexadecimal");
		return -EINVAL;
	}
	memcpy(k->seed, b, AUDIT_KEY_LEN);
	k->start = get_be(b + 32, 8);
	k->interval = (uint32_t)get_be(b + 40, 4);
	vkey_pack(k, check);
	bad = !memeql_sec(b + 44, check + 44, 4) || k->interval < AUDIT_EPOCH_MIN ||
	      k->interval > AUDIT_EPOCH_MAX;
	explicit_bzero(b, sizeof b);
	explicit_bzero(check, sizeof check);
	if (bad) {
		explicit_bzero(k, sizeof *k);
		seterr(err, errlen, "the verification key's checksum is wrong (typo?)");
		return -EINVAL;
	}
	audit_record_vkey_init(k);
	return 0;
}

int audit_record_epoch_key(const struct audit_vkey *k, uint64_t epoch, uint8_t out[AUDIT_KEY_LEN])
{
	memcpy(out, k->seed, AUDIT_KEY_LEN);
	for (uint64_t i = 0; i <= epoch; i++)
		if (audit_record_evolve(out) < 0)
			return -EIO;
	return 0;
}

/* ---- file names ------------------------------------------------------ */

void audit_record_file_name(uint64_t first_seq, char *buf)
{
	snprintf(buf, AUDIT_FILE_NAME_MAX, "audit-%020" PRIu64 ".log", first_seq);
}

int audit_record_file_seq(const char *name, uint64_t *seq)
{
	if (strlen(name) != 30 || strncmp(name, "audit-", 6) != 0 || strcmp(name + 26, ".log") != 0)
		return -EINVAL;
	uint64_t v = 0;
	for (int i = 6; i < 26; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -EINVAL;
		unsigned d = (unsigned)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (v == 0)
		return -EINVAL;
	*seq = v;
	return 0;
}
