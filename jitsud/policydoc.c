/*
 * policydoc: the hub's policy document, parsed and checked. The MUST rules
 * are in policydoc.h.
 */
#include "policydoc.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitsu/digest.h"
#include "jitsu/resolve.h"

void policydoc_clear(struct policydoc *d)
{
	free(d->text);
	memset(d, 0, sizeof *d);
}

int policydoc_group_ok(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");
	return n == strlen(s) && n >= 1 && n <= POLICYDOC_GROUP_MAX && s[0] != '.' && s[0] != '-';
}

static int hex64_ok(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static int fail(struct policydoc *d, char *err, size_t errlen, int r, const char *why)
{
	policydoc_clear(d);
	snprintf(err, errlen, "%s", why);
	return r;
}

/* The group's members: checked, copied, and the text's hash compared. */
static int take_group(json_t *o, struct policydoc *d, char *err, size_t errlen)
{
	const char *g = json_string_value(json_object_get(o, "group"));
	json_t *v = json_object_get(o, "version"), *t = json_object_get(o, "text");
	const char *sha = json_string_value(json_object_get(o, "sha256"));
	uint8_t digest[DIGEST_SHA256_LEN];
	char hex[65];
	if (!g || !policydoc_group_ok(g))
		return fail(d, err, errlen, -EINVAL, "policy group: not a group name");
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > POLICYDOC_VERSION_MAX)
		return fail(d, err, errlen, -EINVAL, "policy version: not a positive integer");
	if (!sha || !hex64_ok(sha))
		return fail(d, err, errlen, -EINVAL, "policy sha256: not 64 lowercase hex digits");
	if (!json_is_string(t) || json_string_length(t) > POLICYDOC_TEXT_MAX ||
	    strlen(json_string_value(t)) != json_string_length(t))
		return fail(d, err, errlen, -EINVAL, "policy text: missing, too long or with NUL");
	d->has_group = 1;
	memcpy(d->group, g, strlen(g) + 1);
	d->version = (int64_t)json_integer_value(v);
	memcpy(d->sha256, sha, 65);
	d->len = json_string_length(t);
	d->text = malloc(d->len + 1);
	if (!d->text)
		return fail(d, err, errlen, -ENOMEM, "out of memory");
	memcpy(d->text, json_string_value(t), d->len + 1);
	digest_sha256(d->text, d->len, digest);
	resolve_hex(digest, sizeof digest, hex);
	if (strcmp(hex, d->sha256) != 0)
		return fail(d, err, errlen, -EINVAL, "policy text does not match its sha256");
	return 0;
}

int policydoc_parse(const char *buf, size_t len, struct policydoc *d, char *err, size_t errlen)
{
	memset(d, 0, sizeof *d);
	if (len > POLICYDOC_MAX)
		return fail(d, err, errlen, -EINVAL, "policy document too large");
	json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	int r;
	if (!json_is_object(o))
		r = fail(d, err, errlen, -EINVAL, "policy document: not one JSON object");
	else if (!json_object_get(o, "group"))
		r = fail(d, err, errlen, -EINVAL, "policy document: no group member");
	else if (json_is_null(json_object_get(o, "group")))
		r = 0;
	else
		r = take_group(o, d, err, errlen);
	json_decref(o);
	return r;
}

char *policydoc_dump(const struct policydoc *d, int64_t fetched_at)
{
	json_t *o = d->has_group
			    ? json_pack("{s:s,s:I,s:s,s:s%,s:I}", "group", d->group, "version",
					(json_int_t)d->version, "sha256", d->sha256, "text",
					d->text, d->len, "fetched_at", (json_int_t)fetched_at)
			    : json_pack("{s:n,s:I}", "group", "fetched_at", (json_int_t)fetched_at);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

int policydoc_same(const struct policydoc *a, const struct policydoc *b)
{
	if (a->has_group != b->has_group)
		return 0;
	return !a->has_group || (!strcmp(a->group, b->group) && a->version == b->version &&
				 !strcmp(a->sha256, b->sha256));
}

void policydoc_label(const struct policydoc *d, char *out, size_t len)
{
	snprintf(out, len, "hub:%s:%lld", d->group, (long long)d->version);
}
