/*
 * policydoc: the hub's policy document as jitsud sees it, both as the hub
 * answers GET /api/v1/endpoint/policy and as jitsud caches it
 * (<statedir>/policy.cache):
 *
 *   {"group": "ops", "version": 7, "sha256": "<64 hex>", "text": "..."}
 *   {"group": null}                    (this endpoint is in no group)
 *
 * Other members (pushed_at, fetched_at) are ignored.
 *
 * MUST rules:
 *  - policydoc_parse() does no I/O, touches no globals and never exits:
 *    the fuzzer and the unit tests call it on hostile bytes.
 *  - Every field is checked before use: the group's shape (a hub name),
 *    the version's range, the SHA-256's form, the text's size and that its
 *    SHA-256 is the one given. A document that fails any check is refused
 *    whole.
 *  - It does not parse the policy text itself: the caller runs
 *    policy_parse() on it, as on a local file.
 */
#ifndef JITSUD_POLICYDOC_H
#define JITSUD_POLICYDOC_H

#include <stddef.h>
#include <stdint.h>

#define POLICYDOC_GROUP_MAX 64
#define POLICYDOC_TEXT_MAX 61440          /* the hub's cap on a policy's text */
#define POLICYDOC_MAX (4 * 1024 * 1024)   /* bytes of a whole document */
#define POLICYDOC_VERSION_MAX (1LL << 53) /* exact in any JSON reader */
#define POLICYDOC_LABEL_MAX (POLICYDOC_GROUP_MAX + 32)

struct policydoc {
	int has_group; /* 0: the endpoint is in no group; nothing below is set */
	char group[POLICYDOC_GROUP_MAX + 1];
	int64_t version;
	char sha256[65]; /* lowercase hex */
	char *text;      /* malloc'd, NUL-terminated; policydoc_clear() */
	size_t len;
};

/*
 * Parses len bytes of JSON into *d. Returns 0, or -EINVAL (-ENOMEM) with a
 * one-line reason in err; *d is then cleared.
 */
int policydoc_parse(const char *buf, size_t len, struct policydoc *d, char *err, size_t errlen);

/* The document as cache text (malloc'd, NUL-terminated), or NULL. */
char *policydoc_dump(const struct policydoc *d, int64_t fetched_at);

/* 1 when a and b name the same group and version of the same text (or
 * both no group). */
int policydoc_same(const struct policydoc *a, const struct policydoc *b);

/* "hub:<group>:<version>", the policy_version of audit records and the
 * file name of the policy's rules. */
void policydoc_label(const struct policydoc *d, char *out, size_t len);

void policydoc_clear(struct policydoc *d);

/* 1 if s is a hub group name: [A-Za-z0-9_][A-Za-z0-9_.-]{0,63}. */
int policydoc_group_ok(const char *s);

#endif
