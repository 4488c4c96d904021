/*
 * jitsuctl alerts, audit lag, audit search: the hub's copy of the
 * endpoints' audit trails and the alerts it raised (docs/hub-api.md).
 * Options were checked by hub.c (shapes safe in a query string); the MUST
 * rules of hub.c apply: whatever the hub sends reaches the terminal
 * escaped, records through audit_record_format.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub_impl.h"
#include "jitsu/audit_record.h"
#include "jitsuctl.h"

#define QUERY_MAX 512
#define SHOW_MAX (64 * 1024) /* one readable record */

/* Appends "&name=value" (or "?..." first) to q; values are of safe shapes. */
static void query_add(char *q, size_t size, const char *name, const char *value)
{
	size_t n = strlen(q);
	if (value)
		snprintf(q + n, size - n, "%c%s=%s", strchr(q, '?') ? '&' : '?', name, value);
}

static void query_num(char *q, size_t size, const char *name, long long v, int given)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%lld", v);
	query_add(q, size, name, given ? buf : NULL);
}

/* A JSON integer member as text, or "-" when null or absent. */
static void num_or_dash(const json_t *o, const char *key, char *out, size_t len)
{
	const json_t *v = json_object_get(o, key);
	if (json_is_integer(v))
		snprintf(out, len, "%lld", (long long)json_integer_value(v));
	else
		snprintf(out, len, "-");
}

static void ago(long long t, long long now, char *out, size_t len)
{
	if (t <= 0) {
		snprintf(out, len, "never");
		return;
	}
	hubfmt_span(now - t, out, len - 4);
	strcat(out, " ago");
}

static int print_alerts(const json_t *list)
{
	static const struct hubfmt_col cols[] = {
		{"TIME", 17}, {"KIND", 20}, {"HOST", 40}, {"SEQ", 20}, {"DETAIL", 120},
	};
	struct hubfmt_table t;
	size_t i;
	json_t *a;
	int r = json_is_array(list) ? hubfmt_table_init(&t, cols, 5) : -EINVAL;
	json_array_foreach(list, i, a)
	{
		char when[32], seq[24];
		const char *host = jstr(a, "hostname");
		hubfmt_time(jint(a, "created_at"), when, sizeof when);
		num_or_dash(a, "seq", seq, sizeof seq);
		const char *row[] = {when, jstr(a, "kind"),
				     host && host[0] ? host : jstr(a, "endpoint_id"), seq,
				     jstr(a, "detail")};
		if (r == 0)
			r = hubfmt_table_add(&t, row);
	}
	return table_done(&t, r);
}

int hub_cmd_alerts(struct hub_ctx *x, const char *arg)
{
	const struct hub_opts *o = x->o;
	char path[QUERY_MAX] = "/api/v1/alerts";
	json_t *ans = NULL;

	query_num(path, sizeof path, "since", o->since, o->given & OPT_SINCE);
	query_add(path, sizeof path, "kind", o->kind);
	query_num(path, sizeof path, "limit", o->limit, o->given & OPT_LIMIT);
	if (hub_call(x, "GET", path, NULL, 200, &ans) < 0)
		return JITSUCTL_EXIT_FAIL;
	int r = o->json ? print_json(ans) : print_alerts(json_object_get(ans, "alerts"));
	json_decref(ans);
	return r;
}

static int print_lag(const json_t *list)
{
	static const struct hubfmt_col cols[] = {
		{"ID", 16},    {"HOSTNAME", 40}, {"SHIPPED", 20},
		{"LOCAL", 20}, {"BEHIND", 20},   {"LAST SEEN", 16},
	};
	struct hubfmt_table t;
	long long now = (long long)time(NULL);
	size_t i;
	json_t *e;
	int r = json_is_array(list) ? hubfmt_table_init(&t, cols, 6) : -EINVAL;
	json_array_foreach(list, i, e)
	{
		char shipped[24], local[24], behind[24], seen[32];
		num_or_dash(e, "shipped_seq", shipped, sizeof shipped);
		num_or_dash(e, "known_seq", local, sizeof local);
		num_or_dash(e, "lag", behind, sizeof behind);
		ago(jint(e, "last_seen"), now, seen, sizeof seen);
		if (!json_is_null(json_object_get(e, "revoked_at")))
			snprintf(seen, sizeof seen, "revoked");
		const char *row[] = {
			jstr(e, "endpoint_id"), jstr(e, "hostname"), shipped, local, behind, seen};
		if (r == 0)
			r = hubfmt_table_add(&t, row);
	}
	return table_done(&t, r);
}

int hub_cmd_audit_lag(struct hub_ctx *x, const char *arg)
{
	json_t *ans = NULL;
	if (hub_call(x, "GET", "/api/v1/audit/lag", NULL, 200, &ans) < 0)
		return JITSUCTL_EXIT_FAIL;
	int r = x->o->json ? print_json(ans) : print_lag(json_object_get(ans, "endpoints"));
	json_decref(ans);
	return r;
}

/* One stored record as a readable line: host, flag if any, the record. */
static int print_record(const json_t *row, char *buf, size_t len)
{
	char host[64], flag[32] = "";
	const char *raw = jstr(row, "record"), *f = jstr(row, "flag");
	json_t *rec = raw ? json_loads(raw, JSON_REJECT_DUPLICATES, NULL) : NULL;

	if (!raw)
		return -EINVAL;
	hubfmt_escape(jstr(row, "host"), host, sizeof host - 1);
	if (f) {
		char shown[20];
		hubfmt_escape(f, shown, sizeof shown - 1);
		snprintf(flag, sizeof flag, "[%s] ", shown);
	}
	if (json_is_object(rec)) {
		audit_record_format(rec, buf, len); /* escapes; a cut line is still shown */
	} else {
		/* Not even JSON: shown escaped, as the hub stored it. */
		hubfmt_escape(raw, buf, len - 1);
	}
	json_decref(rec);
	printf("%s %s%s\n", host, flag, buf);
	return 0;
}

int hub_cmd_audit_search(struct hub_ctx *x, const char *arg)
{
	const struct hub_opts *o = x->o;
	char path[QUERY_MAX] = "/api/v1/audit/search";
	json_t *ans = NULL;
	size_t i;
	json_t *row;

	query_add(path, sizeof path, "host", o->host);
	query_add(path, sizeof path, "user", o->user);
	query_add(path, sizeof path, "event", o->event);
	query_num(path, sizeof path, "since", o->since, o->given & OPT_SINCE);
	query_num(path, sizeof path, "until", o->until, o->given & OPT_UNTIL);
	query_num(path, sizeof path, "limit", o->limit, o->given & OPT_LIMIT);
	if (hub_call(x, "GET", path, NULL, 200, &ans) < 0)
		return JITSUCTL_EXIT_FAIL;
	const json_t *list = json_object_get(ans, "records");
	int r = JITSUCTL_EXIT_OK;
	if (!json_is_array(list)) {
		r = malformed();
	} else if (o->json) {
		/* JSON Lines: one stored row per line, for a SIEM. */
		json_array_foreach(list, i, row)
		{
			char *s = json_dumps(row, JSON_COMPACT | JSON_ENSURE_ASCII);
			if (!s) {
				r = malformed();
				break;
			}
			puts(s);
			free(s);
		}
	} else {
		char *buf = malloc(SHOW_MAX);
		json_array_foreach(list, i, row)
		{
			if (!buf || print_record(row, buf, SHOW_MAX) < 0) {
				r = malformed();
				break;
			}
		}
		free(buf);
	}
	json_decref(ans);
	if (fflush(stdout) != 0)
		r = JITSUCTL_EXIT_FAIL;
	return r;
}
