/*
 * audit_record: the on-disk format of the audit trail, with no I/O. One
 * record is one line of JSON; records form a SHA-256 hash chain, and seal
 * records carry an HMAC under a forward-secure evolving key. The exact
 * construction is specified in docs/audit-format.md; this module is its
 * only implementation, shared by the writer (audit.c) and the verifier
 * (audit_verify.c), and is what the fuzzer drives.
 *
 * MUST rules:
 *  - The hash of a record covers the exact bytes of its line minus the
 *    trailing `,"hash":"..."` member: nothing is re-serialised to verify, so
 *    what is hashed is what is stored and shown.
 *  - A line is accepted only if it is printable ASCII, parses as one JSON
 *    object without duplicate keys, and ends with the hash member. What a
 *    reader sees is then exactly what the hash covers.
 *  - Strings that are not valid UTF-8 (argv, paths, names) are stored as
 *    {"b64": "..."}; valid ones as plain strings. The round trip is exact.
 *  - Keys are wiped (OPENSSL_cleanse) by whoever holds them, as soon as
 *    they are no longer needed. Nothing here logs or keeps a key.
 *  - The human-readable format escapes every byte outside printable ASCII,
 *    so one record is always one terminal-safe line.
 */
#ifndef JITSU_AUDIT_RECORD_H
#define JITSU_AUDIT_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define AUDIT_RECORD_VERSION 1
#define AUDIT_HASH_LEN 32                /* SHA-256 */
#define AUDIT_KEY_LEN 32                 /* epoch key and seed */
#define AUDIT_KID_LEN 16                 /* hex characters of a key id */
#define AUDIT_VKEY_HEX_LEN 96            /* printed verification key */
#define AUDIT_MAX_LINE (8 * 1024 * 1024) /* one record, newline included */
#define AUDIT_FILE_NAME_MAX 64
#define AUDIT_EPOCH_MIN 10 /* seconds; bounds of an epoch */
#define AUDIT_EPOCH_MAX (7 * 86400)

/* The dump flags of every record; part of the format (see the doc). */
#define AUDIT_JSON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII)

/* A parsed record. obj holds the whole record, hash member included. */
struct audit_record {
	json_t *obj;       /* owned */
	uint64_t seq;      /* >= 1 */
	int64_t time_us;   /* microseconds since the Unix epoch, UTC */
	const char *event; /* points into obj */
	uint8_t prev[AUDIT_HASH_LEN];
	uint8_t hash[AUDIT_HASH_LEN];
};

/* A verification key: what the admin keeps off the machine. */
struct audit_vkey {
	uint8_t seed[AUDIT_KEY_LEN];
	uint64_t start;    /* Unix time at which epoch 0 begins */
	uint32_t interval; /* seconds per epoch */
	char kid[AUDIT_KID_LEN + 1];
};

/*
 * Lossless strings. audit_record_bytes() returns a new JSON value for n
 * bytes: a string if they are valid UTF-8 without NUL, else {"b64": ...}.
 * audit_record_str() does the same for a C string, and audit_record_argv()
 * builds an array of argc such values. All return NULL only when out of
 * memory; the caller owns the result (json_decref).
 */
json_t *audit_record_bytes(const void *p, size_t n);
json_t *audit_record_str(const char *s);
json_t *audit_record_argv(int argc, char *const argv[]);

/*
 * Decodes a value made by audit_record_bytes() into a malloc'd buffer of
 * *n bytes plus a terminating NUL, owned by the caller. Returns 0, -EINVAL
 * if v is neither form (or the base64 is not canonical), or -ENOMEM.
 */
int audit_record_decode(const json_t *v, char **out, size_t *n);

/*
 * Serialises rec as one line: sets its "prev" member to hex(prev), removes
 * any "hash" member, dumps it with AUDIT_JSON_FLAGS and appends the hash
 * member and a newline. On success *line is a malloc'd NUL-terminated line
 * of *len bytes owned by the caller and hash holds the record's hash.
 * Returns 0, -EINVAL if rec is not an object, -EMSGSIZE over AUDIT_MAX_LINE
 * or -ENOMEM.
 */
int audit_record_build(json_t *rec, const uint8_t prev[AUDIT_HASH_LEN], char **line, size_t *len,
		       uint8_t hash[AUDIT_HASH_LEN]);

/*
 * Parses one line of len bytes, without its newline, and checks that its
 * hash member is the hash of its own bytes and its prev member. It does not
 * check the chain (that prev matches the record before). On success fills
 * r, which the caller frees with audit_record_free(). On failure returns
 * -EBADMSG (or -ENOMEM) with a reason in err.
 */
int audit_record_parse(const char *line, size_t len, struct audit_record *r, char *err,
		       size_t errlen);
void audit_record_free(struct audit_record *r);

/*
 * Formats a record (or any object of record fields) as one human-readable
 * line without newline: time, #seq, event, then key=value pairs in a fixed
 * order. Bytes outside printable ASCII are escaped. Always NUL-terminates
 * buf when len > 0; returns 0, or -ENOBUFS if the line was cut short.
 */
int audit_record_format(const json_t *rec, char *buf, size_t len);

/* Is e a valid event name: 1 to 32 of [a-z0-9_]? Returns 1 or 0. */
int audit_record_event_ok(const char *e);

/* Formats t (microseconds, UTC) as 2026-11-29T21:36:47.123456Z into a
 * buffer of at least 28 bytes; parses the same exact form. Parse returns 0
 * or -EINVAL. */
void audit_record_time_format(int64_t t, char buf[28]);
int audit_record_time_parse(const char *s, int64_t *t);

/*
 * The forward-secure key schedule. audit_record_evolve() replaces k by
 * SHA-256("jitsu-audit-evolve-v1" || k) in place; it is one-way. It
 * returns 0.
 * audit_record_seal_mac() computes the MAC of a seal record:
 * HMAC-SHA256(k, "jitsu-audit-seal-v1" || be64(epoch) || be64(seq) ||
 * prev || kid). Returns 0, or -EINVAL for a key id of the wrong length.
 */
int audit_record_evolve(uint8_t k[AUDIT_KEY_LEN]);
int audit_record_seal_mac(const uint8_t k[AUDIT_KEY_LEN], uint64_t epoch, uint64_t seq,
			  const uint8_t prev[AUDIT_HASH_LEN], const char *kid,
			  uint8_t mac[AUDIT_HASH_LEN]);

/*
 * Verification keys. audit_record_vkey_init() fills k->kid from the other
 * fields. _format() writes the AUDIT_VKEY_HEX_LEN hex characters plus NUL
 * (returns -ENOBUFS if len is too small). _parse() reads them back, checking
 * the built-in checksum so that a typo is reported as such; returns 0 or
 * -EINVAL with a reason in err. _epoch_key() derives the key of an epoch:
 * evolve() applied epoch + 1 times to the seed (0 or -EIO); it costs one
 * SHA-256 per epoch. Callers wipe seeds and keys.
 */
void audit_record_vkey_init(struct audit_vkey *k);
int audit_record_vkey_format(const struct audit_vkey *k, char *hex, size_t len);
int audit_record_vkey_parse(const char *hex, struct audit_vkey *k, char *err, size_t errlen);
int audit_record_epoch_key(const struct audit_vkey *k, uint64_t epoch, uint8_t out[AUDIT_KEY_LEN]);

/* Names of rotated files: "audit-" + 20-digit first seq + ".log".
 * _file_name() writes it (buf of AUDIT_FILE_NAME_MAX); _file_seq() returns 0
 * and the seq if name has exactly that form, else -EINVAL. */
void audit_record_file_name(uint64_t first_seq, char *buf);
int audit_record_file_seq(const char *name, uint64_t *seq);

/* Hex helpers: _hex() writes 2n characters plus NUL; _unhex() decodes
 * exactly 2n lowercase hex characters, returning 0 or -EINVAL. */
void audit_record_hex(const uint8_t *p, size_t n, char *out);
int audit_record_unhex(const char *s, uint8_t *out, size_t n);

#endif
