/* jsonv: depth scan, strict parse, schema check; see jsonv.h. */
#include "jsonv.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static void set_msg(char *msg, size_t msglen, const char *fmt,
							  ...)
{
	if (!msg || msglen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
}

int jsonv_depth(const char *buf, size_t len)
{
	int depth = 0, max = 0, in_string = 0;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				max = depth;
		} else if ((c == '}' || c == ']') && depth > 0) {
			depth--;
		}
	}
	return max;
}

static int is_name_char(unsigned char c, int first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
		return 1;
	return !first && (c == '.' || c == '-');
}

static int char_ok(unsigned char c, enum jsonv_kind kind, size_t i)
{
	switch (kind) {
	case JSONV_TEXT: return c >= 0x20 && c != 0x7f;
	case JSONV_LINES: return (c >= 0x20 && c != 0x7f) || c == '\t' || c == '\n' || c == '\r';
	case JSONV_NAME: return is_name_char(c, i == 0);
	case JSONV_HOST: return is_name_char(c, 0) && c != '_';
	case JSONV_HEX: return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
	case JSONV_TOKEN: return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
	case JSONV_INT:
	case JSONV_ARGV:
	case JSONV_LINE_ARRAY: return 0;
	}
	return 0;
}

int jsonv_string_ok(const char *s, enum jsonv_kind kind, long long min, long long max)
{
	size_t n = s ? strlen(s) : 0;

	if (!s || (long long)n < min || (long long)n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!char_ok((unsigned char)s[i], kind, i))
			return 0;
	}
	return 1;
}

/*
 * An array of f->min..f->max strings, item 0 of min0..max bytes and every
 * other of min..max (argv: the program must not be empty, "" is a fine
 * argument; audit lines, which the hub's chain code checks byte for byte,
 * are only bounded here). jansson refuses \u0000 unless asked, so a
 * string's length is its strlen.
 */
static int strings_ok(const json_t *v, const struct jsonv_field *f, size_t min0, size_t min,
		      size_t max, char *msg, size_t msglen)
{
	size_t n = json_is_array(v) ? json_array_size(v) : 0;

	if (!json_is_array(v) || (long long)n < f->min || (long long)n > f->max) {
		set_msg(msg, msglen, "field '%s': must be an array of %lld to %lld strings",
			f->name, f->min, f->max);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *s = json_array_get(v, i);
		size_t len = json_is_string(s) ? json_string_length(s) : 0;
		size_t lo = i == 0 ? min0 : min;
		if (!json_is_string(s) || len < lo || len > max) {
			set_msg(msg, msglen,
				"field '%s': item %zu must be a string of %zu to %zu bytes",
				f->name, i, lo, max);
			return 0;
		}
	}
	return 1;
}

static int field_ok(const json_t *v, const struct jsonv_field *f, char *msg, size_t msglen)
{
	if (f->kind == JSONV_ARGV)
		return strings_ok(v, f, 1, 0, JSONV_ARG_MAX, msg, msglen);
	if (f->kind == JSONV_LINE_ARRAY)
		return strings_ok(v, f, 1, 1, JSONV_LINE_MAX, msg, msglen);
	if (f->kind == JSONV_INT) {
		json_int_t i = json_is_integer(v) ? json_integer_value(v) : 0;
		if (!json_is_integer(v) || i < f->min || i > f->max) {
			set_msg(msg, msglen, "field '%s': must be an integer from %lld to %lld",
				f->name, f->min, f->max);
			return 0;
		}
		return 1;
	}
	if (!json_is_string(v) || !jsonv_string_ok(json_string_value(v), f->kind, f->min, f->max)) {
		set_msg(msg, msglen,
			"field '%s': must be a string of %lld to %lld allowed characters", f->name,
			f->min, f->max);
		return 0;
	}
	return 1;
}

static int schema_ok(const json_t *obj, const struct jsonv_field *fields, size_t n, char *msg,
		     size_t msglen)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		size_t i;
		for (i = 0; i < n && strcmp(fields[i].name, key) != 0; i++)
			;
		if (i == n) {
			set_msg(msg, msglen, "unknown field '%.64s'", key);
			return 0;
		}
		if (!field_ok(v, &fields[i], msg, msglen))
			return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (fields[i].required && !json_object_get(obj, fields[i].name)) {
			set_msg(msg, msglen, "field '%s' is required", fields[i].name);
			return 0;
		}
	}
	return 1;
}

enum jsonv_result jsonv_parse(const char *buf, size_t len, const struct jsonv_field *fields,
			      size_t n, json_t **out, char *msg, size_t msglen)
{
	json_error_t e;

	memset(&e, 0, sizeof e);
	*out = NULL;
	if (jsonv_depth(buf, len) > JSONV_MAX_DEPTH) {
		set_msg(msg, msglen, "JSON nested deeper than %d", JSONV_MAX_DEPTH);
		return JSONV_E_DEPTH;
	}
	json_t *j = len == 0 ? json_object() : json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
	if (!json_is_object(j)) {
		if (j)
			set_msg(msg, msglen, "the body must be a JSON object");
		else
			set_msg(msg, msglen, "invalid JSON at line %d, column %d", e.line,
				e.column);
		json_decref(j);
		return JSONV_E_INVALID;
	}
	if (!schema_ok(j, fields, n, msg, msglen)) {
		json_decref(j);
		return JSONV_E_SCHEMA;
	}
	*out = j;
	return JSONV_OK;
}
