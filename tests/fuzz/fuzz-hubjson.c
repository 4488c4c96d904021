/*
 * fuzz-hubjson: the hub's JSON intake (hub/jsonv.c). The input is one
 * request body, checked against every route's schema table (the exported
 * api_schema_* of hub/api_*.c) and against the empty schema of the
 * body-less routes. Each verdict is compared with an independent
 * re-implementation of the rules in jsonv.h; any disagreement, and any
 * accepted body that breaks the schema, aborts. The first input also checks
 * that the list below covers the schema of every route in hub/api.c's table
 * (api_route_at), so a new route cannot go unfuzzed: the corpus replay in
 * `meson test` fails first.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_impl.h"
#include "jsonv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

struct schema {
	const struct jsonv_field *fields;
	const size_t *n;
};

static const size_t zero = 0;

static const struct schema schemas[] = {
	{api_schema_enroll, &api_schema_enroll_n},
	{api_schema_user_create, &api_schema_user_create_n},
	{api_schema_enroll_token, &api_schema_enroll_token_n},
	{api_schema_approve, &api_schema_approve_n},
	{api_schema_deny, &api_schema_deny_n},
	{api_schema_heartbeat, &api_schema_heartbeat_n},
	{api_schema_request, &api_schema_request_n},
	{api_schema_mfa_enroll, &api_schema_mfa_enroll_n},
	{api_schema_mfa_code, &api_schema_mfa_code_n},
	{api_schema_breakglass, &api_schema_breakglass_n},
	{api_schema_policy_push, &api_schema_policy_push_n},
	{api_schema_policy_rollback, &api_schema_policy_rollback_n},
	{api_schema_policy_group, &api_schema_policy_group_n},
	{api_schema_audit, &api_schema_audit_n},
	{NULL, &zero}, /* GET and body-less POST routes */
};

#define NSCHEMAS (sizeof schemas / sizeof schemas[0])

/* Aborts, naming the route, unless every route's schema is in schemas[]. */
static void check_every_route_covered(void)
{
	const char *method, *pattern;
	const struct jsonv_field *fields;
	size_t n, i, k;

	for (i = 0; api_route_at(i, &method, &pattern, &fields, &n); i++) {
		for (k = 0; k < NSCHEMAS; k++)
			if (schemas[k].fields == fields && *schemas[k].n == n)
				break;
		if (k == NSCHEMAS) {
			fprintf(stderr,
				"fuzz-hubjson: route %s %s has a body schema this "
				"harness does not check: add it to schemas[]\n",
				method, pattern);
			abort();
		}
	}
	CHECK(i > 0);
}

/* Independent character classes, written from jsonv.h's comments. */
static int oracle_char(unsigned char c, enum jsonv_kind kind, size_t i)
{
	int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
	switch (kind) {
	case JSONV_TEXT: return c >= 0x20 && c != 0x7f;
	case JSONV_LINES: return (c >= 0x20 && c != 0x7f) || c == '\t' || c == '\n' || c == '\r';
	case JSONV_NAME: return alnum || c == '_' || (i > 0 && (c == '.' || c == '-'));
	case JSONV_HOST: return alnum || c == '.' || c == '-';
	case JSONV_HEX: return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
	case JSONV_TOKEN: return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
	default: return 0;
	}
}

static int oracle_string(const json_t *v, const struct jsonv_field *f)
{
	if (!json_is_string(v))
		return 0;
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (strlen(s) != n) /* an embedded NUL */
		return 0;
	if ((long long)n < f->min || (long long)n > f->max)
		return 0;
	if (f->kind == JSONV_HEX && f->min != f->max)
		abort(); /* a table breaking jsonv.h's rule for HEX */
	for (size_t i = 0; i < n; i++)
		if (!oracle_char((unsigned char)s[i], f->kind, i))
			return 0;
	return 1;
}

static int oracle_field(const json_t *v, const struct jsonv_field *f)
{
	switch (f->kind) {
	case JSONV_INT:
		return json_is_integer(v) && json_integer_value(v) >= f->min &&
		       json_integer_value(v) <= f->max;
	case JSONV_ARGV:
	case JSONV_LINE_ARRAY: {
		/* argv: item 0 non-empty, others may be ""; audit lines: none empty */
		int lines = f->kind == JSONV_LINE_ARRAY;
		size_t max = lines ? JSONV_LINE_MAX : JSONV_ARG_MAX;
		if (!json_is_array(v))
			return 0;
		size_t n = json_array_size(v);
		if ((long long)n < f->min || (long long)n > f->max)
			return 0;
		for (size_t i = 0; i < n; i++) {
			const json_t *s = json_array_get(v, i);
			if (!json_is_string(s))
				return 0;
			size_t len = json_string_length(s);
			if (strlen(json_string_value(s)) != len)
				return 0;
			if (((i == 0 || lines) && len == 0) || len > max)
				return 0;
		}
		return 1;
	}
	default: return oracle_string(v, f);
	}
}

/* 1 if obj fits the closed schema fields[0..n). */
static int oracle_schema(const json_t *obj, const struct jsonv_field *fields, size_t n)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		size_t i;
		for (i = 0; i < n; i++)
			if (strcmp(fields[i].name, key) == 0)
				break;
		if (i == n || !oracle_field(v, &fields[i]))
			return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (fields[i].required && !json_object_get(obj, fields[i].name))
			return 0;
	return 1;
}

/* Nesting of a parsed value, counted as jsonv_depth counts brackets. */
static int tree_depth(const json_t *v)
{
	int max = 0;
	if (json_is_object(v)) {
		const char *key;
		json_t *m;
		json_object_foreach((json_t *)v, key, m)
		{
			int d = tree_depth(m);
			if (d > max)
				max = d;
		}
		return max + 1;
	}
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			int d = tree_depth(json_array_get(v, i));
			if (d > max)
				max = d;
		}
		return max + 1;
	}
	return 0;
}

/* An accepted body: recheck every field with jsonv's own helpers too. */
static void check_accepted(const json_t *j, const struct jsonv_field *fields, size_t n)
{
	const char *key;
	json_t *v;

	CHECK(json_is_object(j));
	CHECK(tree_depth(j) <= JSONV_MAX_DEPTH);
	json_object_foreach((json_t *)j, key, v)
	{
		size_t i;
		for (i = 0; i < n && strcmp(fields[i].name, key) != 0; i++)
			;
		CHECK(i < n); /* no unknown field */
		const struct jsonv_field *f = &fields[i];
		if (f->kind == JSONV_INT) {
			CHECK(json_is_integer(v));
		} else if (f->kind == JSONV_ARGV || f->kind == JSONV_LINE_ARRAY) {
			CHECK(json_is_array(v));
			CHECK(json_array_size(v) >= 1 || f->min == 0);
			for (size_t k = 0; k < json_array_size(v); k++) {
				const json_t *item = json_array_get(v, k);
				CHECK(json_is_string(item));
				if (f->kind == JSONV_LINE_ARRAY)
					CHECK(json_string_length(item) >= 1);
			}
		} else {
			CHECK(json_is_string(v));
			CHECK(jsonv_string_ok(json_string_value(v), f->kind, f->min, f->max));
		}
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *v2 = json_object_get(j, fields[i].name);
		if (fields[i].required)
			CHECK(v2 != NULL);
		if (v2)
			CHECK(oracle_field(v2, &fields[i]));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int covered;
	if (!covered) {
		check_every_route_covered();
		covered = 1;
	}
	const char *buf = (const char *)data;
	int depth = jsonv_depth(buf, size);

	CHECK(depth >= 0);

	/* The oracle's own view of the body, parsed only when the depth scan
	 * lets it through (as jsonv_parse does). */
	json_t *ref = NULL;
	int ref_ok = 0;
	if (depth <= JSONV_MAX_DEPTH) {
		json_error_t e;
		ref = size == 0 ? json_object() : json_loadb(buf, size, JSON_REJECT_DUPLICATES, &e);
		ref_ok = json_is_object(ref);
		/* On a well-formed document the bracket scan is exact. */
		if (ref && size > 0)
			CHECK(tree_depth(ref) == depth);
	}

	for (size_t s = 0; s < NSCHEMAS; s++) {
		const struct jsonv_field *fields = schemas[s].fields;
		size_t n = *schemas[s].n;
		json_t *out = (json_t *)1;
		char msg[256];
		memset(msg, 'x', sizeof msg);

		enum jsonv_result rc = jsonv_parse(buf, size, fields, n, &out, msg, sizeof msg);

		enum jsonv_result want;
		if (depth > JSONV_MAX_DEPTH)
			want = JSONV_E_DEPTH;
		else if (!ref_ok)
			want = JSONV_E_INVALID;
		else
			want = oracle_schema(ref, fields, n) ? JSONV_OK : JSONV_E_SCHEMA;
		CHECK(rc == want);

		if (rc == JSONV_OK) {
			CHECK(out != NULL);
			check_accepted(out, fields, n);
			/* The same object as the oracle's parse. */
			CHECK(json_equal(out, ref));
			json_decref(out);
		} else {
			CHECK(out == NULL);
			/* A message was written and terminated. */
			CHECK(memchr(msg, '\0', sizeof msg) != NULL && msg[0] != '\0');
		}
	}
	json_decref(ref);
	return 0;
}
