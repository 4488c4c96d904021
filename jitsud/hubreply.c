/*
 * hubreply: the helper's answer, parsed. The MUST rules are in hubreply.h.
 */
#include "hubreply.h"

#include <errno.h>
#include <stdio.h>

#define HUBREPLY_STATUS_MAX 999
#define HUBREPLY_ERROR_MAX 400

/* The helper's error text, cut, C0 controls and DEL as '?'. */
static void copy_error(const char *e, char *err, size_t errlen)
{
	size_t i = 0;
	for (; i < HUBREPLY_ERROR_MAX && i + 1 < errlen && e[i]; i++) {
		unsigned char c = (unsigned char)e[i];
		err[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (errlen)
		err[i] = '\0';
}

int hubreply_parse(const char *buf, size_t len, long *status, json_t **answer, char *err,
		   size_t errlen)
{
	json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	const char *e = json_string_value(json_object_get(o, "error"));
	json_t *a = json_object_get(o, "answer");
	json_t *s = json_object_get(o, "status");
	int r = 0;
	*answer = NULL;
	if (json_object_get(o, "error")) { /* whatever else it says */
		copy_error(e && e[0] ? e : "jitsu-hubcall failed", err, errlen);
		r = -EPROTO;
	} else if (!json_is_object(o) || !json_is_object(a) || !json_is_integer(s) ||
		   json_integer_value(s) < 0 || json_integer_value(s) > HUBREPLY_STATUS_MAX) {
		snprintf(err, errlen, "jitsu-hubcall gave no answer");
		r = -EPROTO;
	} else {
		*status = (long)json_integer_value(s);
		*answer = json_incref(a);
	}
	json_decref(o);
	return r;
}
