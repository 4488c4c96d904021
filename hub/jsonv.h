/*
 * jsonv: the hub's bounded JSON intake. A body is first scanned for its
 * nesting depth (without recursion, before jansson sees it), then parsed
 * with jansson refusing duplicate keys and NUL characters, then checked
 * against a per-route schema: a closed list of fields, each with a type, a
 * shape and bounds. Unknown fields are errors.
 *
 * MUST rules:
 *  - The depth scan runs before parsing, so no input makes jansson recurse
 *    deeper than JSONV_MAX_DEPTH.
 *  - Every accepted string has a bounded length and a known alphabet or at
 *    least no control characters; argv items may hold anything but NUL.
 *  - Messages name the field and the rule, never echo the value.
 */
#ifndef JITSU_HUB_JSONV_H
#define JITSU_HUB_JSONV_H

#include <jansson.h>
#include <stddef.h>

#define JSONV_MAX_DEPTH 8
#define JSONV_ARGV_MAX 256           /* argv items */
#define JSONV_ARG_MAX 4096           /* bytes in one argv item */
#define JSONV_LINE_MAX (1024 * 1024) /* bytes in one JSONV_LINE_ARRAY item */

enum jsonv_result {
	JSONV_OK = 0,
	JSONV_E_INVALID = -1, /* not one JSON object */
	JSONV_E_DEPTH = -2,   /* nested too deep */
	JSONV_E_SCHEMA = -3,  /* a field is missing, unknown, mistyped or out of range */
};

enum jsonv_kind {
	JSONV_TEXT,       /* string, min..max bytes, no control characters */
	JSONV_NAME,       /* a user name: [A-Za-z0-9_][A-Za-z0-9_.-]*, min..max */
	JSONV_HOST,       /* [A-Za-z0-9.-], min..max */
	JSONV_HEX,        /* lowercase hex, exactly min digits (min == max) */
	JSONV_TOKEN,      /* a token: [a-z0-9_], min..max */
	JSONV_INT,        /* integer in min..max */
	JSONV_ARGV,       /* array of min..max strings, each 1..JSONV_ARG_MAX bytes */
	JSONV_LINES,      /* string, min..max bytes: text with tabs and line ends (a policy) */
	JSONV_LINE_ARRAY, /* array of min..max strings, each 1..JSONV_LINE_MAX bytes (audit lines) */
};

struct jsonv_field {
	const char *name;
	enum jsonv_kind kind;
	int required;
	long long min, max;
};

/* The largest nesting in buf (objects and arrays, outside strings). */
int jsonv_depth(const char *buf, size_t len);

/*
 * Parses buf (len bytes; empty means {}) into an object (*out, to
 * json_decref) and checks it against fields[0..n). On error *out is NULL
 * and msg says why.
 */
enum jsonv_result jsonv_parse(const char *buf, size_t len, const struct jsonv_field *fields,
			      size_t n, json_t **out, char *msg, size_t msglen);

/* Checks one string against a kind's shape and bounds: 1 if it fits. */
int jsonv_string_ok(const char *s, enum jsonv_kind kind, long long min, long long max);

#endif
