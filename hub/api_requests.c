/*
 * api_requests: approval requests, from both sides. Approvers list, read
 * and decide; an endpoint submits, long-polls and cancels its own. Role
 * checks happened in api.c; the endpoint's own id scopes every endpoint
 * lookup here.
 */
#include "api_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "auth.h"
#include "jsonv.h"
#include "webhook.h"

#define NOTE_MAX 1024
#define LIST_DEFAULT 100

const struct jsonv_field api_schema_approve[] = {
	{"note", JSONV_TEXT, 0, 0, NOTE_MAX},
};
const size_t api_schema_approve_n = sizeof api_schema_approve / sizeof api_schema_approve[0];

const struct jsonv_field api_schema_deny[] = {
	{"reason", JSONV_TEXT, 1, 1, NOTE_MAX},
};
const size_t api_schema_deny_n = sizeof api_schema_deny / sizeof api_schema_deny[0];

const struct jsonv_field api_schema_heartbeat[] = {
	{"hostname", JSONV_HOST, 0, 1, STORAGE_HOST_MAX},
	{"os", JSONV_TEXT, 0, 1, STORAGE_FACT_MAX},
	{"kernel", JSONV_TEXT, 0, 1, STORAGE_FACT_MAX},
	{"agent_version", JSONV_TEXT, 0, 1, STORAGE_AGENT_MAX},
	{"audit_seq", JSONV_INT, 0, 0, 9007199254740991LL},   /* the endpoint's last local seq */
	{"shipped_seq", JSONV_INT, 0, 0, 9007199254740991LL}, /* its cursor: acknowledged */
};
const size_t api_schema_heartbeat_n = sizeof api_schema_heartbeat / sizeof api_schema_heartbeat[0];

const struct jsonv_field api_schema_request[] = {
	{"user", JSONV_NAME, 1, 1, STORAGE_NAME_MAX},
	{"host", JSONV_HOST, 1, 1, STORAGE_HOST_MAX},
	{"argv", JSONV_ARGV, 1, 1, JSONV_ARGV_MAX},
	{"binary_sha256", JSONV_HEX, 1, STORAGE_HASH_LEN, STORAGE_HASH_LEN},
	{"reason", JSONV_TEXT, 1, 0, 1024},
	{"rule", JSONV_TEXT, 1, 0, 512},
	{"approvals_needed", JSONV_INT, 1, 1, STORAGE_MAX_APPROVALS},
};
const size_t api_schema_request_n = sizeof api_schema_request / sizeof api_schema_request[0];

/* Query integer name in min..max (def when absent). 0, or -1 answered. */
static int query_int(struct call *c, const char *name, long def, long min, long max, long *out)
{
	const char *s = c->in->arg ? c->in->arg(c->in->arg_cls, name) : NULL;
	char *end;

	*out = def;
	if (!s)
		return 0;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max || s[0] == '+' || s[0] == '-') {
		api_error(c->out, 400, "schema_violation",
			  "query parameter '%s': must be an integer from %ld to %ld", name, min,
			  max);
		return -1;
	}
	*out = v;
	return 0;
}

/* Answers status with request r and clears it. */
static void reply_request(struct call *c, unsigned status, struct storage_request *r)
{
	api_reply(c, status, api_request_json(r));
	storage_request_clear(r);
}

void api_h_request_list(struct call *c)
{
	struct storage_request_list l;
	enum storage_state state;
	char err[256] = "";
	long limit;
	const char *s = c->in->arg ? c->in->arg(c->in->arg_cls, "state") : NULL;

	if (s && storage_state_parse(s, &state) != 0) {
		api_error(c->out, 400, "schema_violation",
			  "query parameter 'state': unknown state");
		return;
	}
	if (query_int(c, "limit", LIST_DEFAULT, 1, STORAGE_LIST_MAX, &limit) != 0)
		return;
	int rc = storage_request_list(c->ctx->st, s ? (int)state : -1, (size_t)limit, c->now, &l,
				      err, sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < l.n; i++)
		json_array_append_new(a, api_request_json(&l.items[i]));
	storage_request_list_free(&l);
	api_reply(c, 200, json_pack("{s:o}", "requests", a));
}

void api_h_request_get(struct call *c)
{
	struct storage_request r;
	char err[256] = "";

	if (api_param_id(c) != 0)
		return;
	int rc = storage_request_get(c->ctx->st, c->param, NULL, c->now, &r, err, sizeof err);
	if (rc == STORAGE_OK)
		reply_request(c, 200, &r);
	else
		api_storage_fail(c, rc, err);
}

static void decide(struct call *c, int approve)
{
	struct storage_request r;
	char err[256] = "";
	const char *note = api_body_str(c, approve ? "note" : "reason");

	if (api_param_id(c) != 0)
		return;
	int rc = storage_request_decide(c->ctx->st, c->param, c->who.name, approve, note, c->now,
					&r, err, sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	if (r.state != STORAGE_PENDING)
		snprintf(c->out->wake_request, sizeof c->out->wake_request, "%s", r.id);
	reply_request(c, 200, &r);
}

void api_h_request_approve(struct call *c)
{
	decide(c, 1);
}

void api_h_request_deny(struct call *c)
{
	decide(c, 0);
}

void api_h_heartbeat(struct call *c)
{
	struct storage_endpoint facts, e;
	char err[256] = "";

	memset(&facts, 0, sizeof facts);
	snprintf(facts.hostname, sizeof facts.hostname, "%s", api_body_str(c, "hostname"));
	snprintf(facts.os, sizeof facts.os, "%s", api_body_str(c, "os"));
	snprintf(facts.kernel, sizeof facts.kernel, "%s", api_body_str(c, "kernel"));
	snprintf(facts.agent_version, sizeof facts.agent_version, "%s",
		 api_body_str(c, "agent_version"));
	struct storage_alert_list raised = {0};
	int rc = storage_endpoint_touch(c->ctx->st, c->who.ep.id, &facts, c->now, err, sizeof err);
	json_t *seq = json_object_get(c->body, "audit_seq");
	json_t *shipped = json_object_get(c->body, "shipped_seq");
	if (rc == STORAGE_OK && seq) {
		rc = storage_audit_known(c->ctx->st, c->who.ep.id, (int64_t)json_integer_value(seq),
					 shipped ? (int64_t)json_integer_value(shipped) : -1,
					 c->now, &raised, err, sizeof err);
		if (rc == STORAGE_OK && raised.n == 1)
			snprintf(raised.items[0].hostname, sizeof raised.items[0].hostname, "%s",
				 c->who.ep.hostname);
		alert_announce(c->ctx->webhooks, &raised);
		storage_alert_list_free(&raised);
	}
	if (rc == STORAGE_OK)
		rc = storage_endpoint_get(c->ctx->st, c->who.ep.id, &e, err, sizeof err);
	if (rc == STORAGE_OK)
		api_reply(c, 200, api_endpoint_json(&e));
	else
		api_storage_fail(c, rc, err);
}

void api_h_ep_request_create(struct call *c)
{
	struct storage_request r;
	char err[256] = "";

	memset(&r, 0, sizeof r);
	snprintf(r.endpoint_id, sizeof r.endpoint_id, "%s", c->who.ep.id);
	snprintf(r.user, sizeof r.user, "%s", api_body_str(c, "user"));
	snprintf(r.host, sizeof r.host, "%s", api_body_str(c, "host"));
	snprintf(r.binary_sha256, sizeof r.binary_sha256, "%s", api_body_str(c, "binary_sha256"));
	r.reason = (char *)api_body_str(c, "reason");
	r.rule = (char *)api_body_str(c, "rule");
	r.approvals_needed = (int)json_integer_value(json_object_get(c->body, "approvals_needed"));
	r.created_at = c->now;
	r.expires_at = c->now + c->ctx->request_ttl;
	r.argv_json = json_dumps(json_object_get(c->body, "argv"), JSON_COMPACT);
	if (!r.argv_json || auth_new_id(r.id) != 0) {
		free(r.argv_json);
		api_error(c->out, 500, "internal", "out of memory or randomness");
		return;
	}
	int rc = storage_request_add(c->ctx->st, &r, err, sizeof err);
	free(r.argv_json);
	if (rc == STORAGE_OK)
		rc = storage_request_get(c->ctx->st, r.id, c->who.ep.id, c->now, &r, err,
					 sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	webhook_request_pending(c->ctx->webhooks, &r); /* queued, never waited for */
	reply_request(c, 201, &r);
}

/*
 * The long-poll. A pending request with wait > 0 is not answered now: the
 * caller suspends until the deadline (fixed on the first call, and never
 * later than the request's expiry) or a wake-up for this request, then
 * calls again, and the request is read afresh.
 */
void api_h_ep_request_get(struct call *c)
{
	struct storage_request r;
	char err[256] = "";
	long wait;

	if (api_param_id(c) != 0 || query_int(c, "wait", 0, 0, API_WAIT_MAX, &wait) != 0)
		return;
	int rc = storage_request_get(c->ctx->st, c->param, c->who.ep.id, c->now, &r, err,
				     sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	int64_t deadline = c->in->wait_deadline_ms;
	if (deadline == 0) {
		deadline = c->now_ms + (int64_t)wait * 1000;
		if (deadline > r.expires_at * 1000)
			deadline = r.expires_at * 1000;
	}
	if (r.state == STORAGE_PENDING && wait > 0 && c->now_ms < deadline) {
		if (c->in->stopping) {
			storage_request_clear(&r);
			api_error(c->out, 503, "shutting_down", "the hub is stopping; ask again");
			return;
		}
		c->out->wait = 1;
		c->out->wait_deadline_ms = deadline;
		snprintf(c->out->wait_request, sizeof c->out->wait_request, "%s", r.id);
		snprintf(c->out->wait_endpoint, sizeof c->out->wait_endpoint, "%s", r.endpoint_id);
		storage_request_clear(&r);
		return;
	}
	reply_request(c, 200, &r);
}

void api_h_ep_request_cancel(struct call *c)
{
	struct storage_request r;
	char err[256] = "";

	if (api_param_id(c) != 0)
		return;
	int rc = storage_request_cancel(c->ctx->st, c->param, c->who.ep.id, c->now, &r, err,
					sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	snprintf(c->out->wake_request, sizeof c->out->wake_request, "%s", r.id);
	reply_request(c, 200, &r);
}
