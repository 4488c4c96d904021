/*
 * api_audit: the audit trail at the hub. An endpoint ships its records
 * (POST /api/v1/endpoint/audit); people read the alerts they raised, each
 * endpoint's shipping lag, and search the hub's copy. Role checks happened
 * in api.c; an endpoint ships only into its own chain (its id from its
 * credential, never from the body).
 */
#include "api_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "auditchain.h"
#include "jsonv.h"

#define LIST_DEFAULT 100

const struct jsonv_field api_schema_audit[] = {
	{"after", JSONV_INT, 1, 0, AUDITCHAIN_SEQ_MAX},
	{"records", JSONV_LINE_ARRAY, 1, 1, API_AUDIT_BATCH_MAX},
};
const size_t api_schema_audit_n = sizeof api_schema_audit / sizeof api_schema_audit[0];

/* A query integer name in min..max (def when absent): 0, or -1 answered. */
static int query_i64(struct call *c, const char *name, long long def, long long min, long long max,
		     long long *out)
{
	const char *s = c->in->arg ? c->in->arg(c->in->arg_cls, name) : NULL;
	char *end;

	*out = def;
	if (!s)
		return 0;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max || s[0] == '+' || s[0] == '-') {
		api_error(c->out, 400, "schema_violation",
			  "query parameter '%s': must be an integer from %lld to %lld", name, min,
			  max);
		return -1;
	}
	*out = v;
	return 0;
}

/* A query string of a jsonv kind, or NULL when absent: 0, or -1 answered. */
static int query_str(struct call *c, const char *name, enum jsonv_kind kind, long long max,
		     const char **out)
{
	*out = c->in->arg ? c->in->arg(c->in->arg_cls, name) : NULL;
	if (!*out || jsonv_string_ok(*out, kind, 1, max))
		return 0;
	api_error(c->out, 400, "schema_violation", "query parameter '%s': malformed", name);
	return -1;
}

void api_h_ep_audit(struct call *c)
{
	struct storage_alert_list raised;
	char err[256] = "";
	int64_t acked;
	json_t *recs = json_object_get(c->body, "records");
	size_t n = json_array_size(recs);
	const char **lines = calloc(n ? n : 1, sizeof *lines);
	size_t *lens = calloc(n ? n : 1, sizeof *lens);

	if (!lines || !lens) {
		free(lines);
		free(lens);
		api_error(c->out, 500, "internal", "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		lines[i] = json_string_value(json_array_get(recs, i));
		lens[i] = json_string_length(json_array_get(recs, i));
	}
	int64_t after = (int64_t)json_integer_value(json_object_get(c->body, "after"));
	int rc = storage_audit_ingest(c->ctx->st, c->who.ep.id, after, lines, lens, n, c->now,
				      &acked, &raised, err, sizeof err);
	free(lines);
	free(lens);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	for (size_t i = 0; i < raised.n; i++)
		snprintf(raised.items[i].hostname, sizeof raised.items[i].hostname, "%s",
			 c->who.ep.hostname);
	alert_announce(c->ctx->webhooks, &raised);
	storage_alert_list_free(&raised);
	api_reply(c, 200, json_pack("{s:I}", "acked_seq", (json_int_t)acked));
}

static json_t *alert_json(const struct storage_alert *a)
{
	return json_pack(
		"{s:s,s:s,s:o,s:s,s:o,s:s,s:I}", "id", a->id, "kind", a->kind, "endpoint_id",
		a->endpoint_id[0] ? json_string(a->endpoint_id) : json_null(), "hostname",
		a->hostname, "seq", a->seq > 0 ? json_integer((json_int_t)a->seq) : json_null(),
		"detail", a->detail, "created_at", (json_int_t)a->created_at);
}

void api_h_alert_list(struct call *c)
{
	struct storage_alert_list l;
	char err[256] = "";
	long long since, limit;
	const char *kind;

	if (query_i64(c, "since", 0, 0, AUDITCHAIN_SEQ_MAX, &since) != 0 ||
	    query_i64(c, "limit", LIST_DEFAULT, 1, STORAGE_LIST_MAX, &limit) != 0 ||
	    query_str(c, "kind", JSONV_TOKEN, STORAGE_ALERT_KIND_MAX, &kind) != 0)
		return;
	int rc = storage_alert_list(c->ctx->st, since, kind, (size_t)limit, &l, err, sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < l.n; i++)
		json_array_append_new(a, alert_json(&l.items[i]));
	storage_alert_list_free(&l);
	api_reply(c, 200, json_pack("{s:o}", "alerts", a));
}

static json_t *seq_or_null(int64_t v)
{
	return v > 0 ? json_integer((json_int_t)v) : json_null();
}

void api_h_audit_lag(struct call *c)
{
	struct storage_audit_lag *l;
	size_t n;
	char err[256] = "";

	int rc = storage_audit_lag_list(c->ctx->st, &l, &n, err, sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		/* What was shipped exists on the endpoint, whatever an older
		 * heartbeat said. */
		if (l[i].known_at && l[i].known_seq < l[i].shipped_seq)
			l[i].known_seq = l[i].shipped_seq;
		int64_t lag = l[i].known_seq - l[i].shipped_seq;
		json_array_append_new(
			a, json_pack("{s:s,s:s,s:o,s:o,s:o,s:I,s:o,s:o,s:o}", "endpoint_id",
				     l[i].endpoint_id, "hostname", l[i].hostname, "shipped_seq",
				     seq_or_null(l[i].shipped_seq), "known_seq",
				     seq_or_null(l[i].known_seq), "lag",
				     l[i].known_at ? json_integer((json_int_t)lag) : json_null(),
				     "last_seen", (json_int_t)l[i].last_seen, "shipped_at",
				     api_time_or_null(l[i].shipped_at), "known_at",
				     api_time_or_null(l[i].known_at), "revoked_at",
				     api_time_or_null(l[i].revoked_at)));
	}
	free(l);
	api_reply(c, 200, json_pack("{s:o}", "endpoints", a));
}

static json_t *row_json(const struct storage_audit_row *r)
{
	return json_pack("{s:s,s:I,s:I,s:s,s:o,s:s,s:o,s:s}", "endpoint_id", r->endpoint_id, "seq",
			 (json_int_t)r->seq, "time_us", (json_int_t)r->time_us, "event", r->event,
			 "user", r->user[0] ? json_string(r->user) : json_null(), "host", r->host,
			 "flag", r->flag[0] ? json_string(r->flag) : json_null(), "record", r->raw);
}

void api_h_audit_search(struct call *c)
{
	struct storage_audit_query q;
	struct storage_audit_rows rows;
	char err[256] = "";
	long long since, until, limit;

	memset(&q, 0, sizeof q);
	if (query_str(c, "host", JSONV_HOST, STORAGE_HOST_MAX, &q.host) != 0 ||
	    query_str(c, "user", JSONV_NAME, STORAGE_NAME_MAX, &q.user) != 0 ||
	    query_str(c, "event", JSONV_TOKEN, AUDITCHAIN_EVENT_MAX, &q.event) != 0 ||
	    query_str(c, "endpoint", JSONV_HEX, STORAGE_ID_LEN, &q.endpoint_id) != 0 ||
	    query_i64(c, "since", 0, 0, 1LL << 40, &since) != 0 ||
	    query_i64(c, "until", 0, 0, 1LL << 40, &until) != 0 ||
	    query_i64(c, "limit", LIST_DEFAULT, 1, STORAGE_LIST_MAX, &limit) != 0)
		return;
	if (q.endpoint_id && strlen(q.endpoint_id) != STORAGE_ID_LEN) {
		api_error(c->out, 400, "schema_violation", "query parameter 'endpoint': malformed");
		return;
	}
	q.since = since;
	q.until = until;
	q.limit = (size_t)limit;
	int rc = storage_audit_search(c->ctx->st, &q, &rows, err, sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < rows.n; i++)
		json_array_append_new(a, row_json(&rows.items[i]));
	storage_audit_rows_free(&rows);
	api_reply(c, 200, json_pack("{s:o}", "records", a));
}
