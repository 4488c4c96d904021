/*
 * hubjson: the parts of the hub client that need no network, kept apart
 * from lib/hubclient.c so that a program can use them without linking
 * libcurl (jitsud does its hub calls through the jitsu-hubcall helper).
 */
#include "jitsu/hubclient.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int hubclient_fp_normalize(const char *in, char out[HUBCLIENT_FP_LEN + 1])
{
	static const char hx[] = "0123456789ABCDEF";
	const char *eq = strchr(in, '=');
	size_t n = 0;
	if (eq)
		in = eq + 1;
	for (const char *p = in; *p; p++) {
		if (*p == ':' || *p == ' ' || *p == '\n')
			continue;
		if (!isxdigit((unsigned char)*p) || n >= 64)
			return -EINVAL;
		int v = isdigit((unsigned char)*p) ? *p - '0'
						   : (toupper((unsigned char)*p) - 'A' + 10);
		size_t at = (n / 2) * 3 + (n % 2);
		out[at] = hx[v];
		if (n % 2 && n < 63)
			out[at + 1] = ':';
		n++;
	}
	if (n != 64)
		return -EINVAL;
	out[HUBCLIENT_FP_LEN] = '\0';
	return 0;
}

int hubclient_error(long status, const json_t *answer, char *err, size_t errlen)
{
	const char *code = NULL, *msg = NULL;
	json_t *e = answer ? json_object_get(answer, "error") : NULL;
	if (e) {
		code = json_string_value(json_object_get(e, "code"));
		msg = json_string_value(json_object_get(e, "message"));
	}
	if (code && msg)
		snprintf(err, errlen, "hub refused (%.40s): %.300s", code, msg);
	else
		snprintf(err, errlen, "hub answered HTTP %ld", status);
	/* The hub's words end up on a terminal: nothing that could drive it. */
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	return -EPROTO;
}
