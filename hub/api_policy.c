/*
 * api_policy: central policy management. Admins push and roll back
 * versions of a group's policy, admins and auditors read them, admins put
 * endpoints into groups, and an endpoint fetches its group's newest
 * version. Role checks happened in api.c (route table).
 *
 * A pushed policy is parsed here with the same parser jitsud uses
 * (lib/policy.c): a policy the endpoints would refuse is never stored.
 */
#include "api_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitsu/policy.h"
#include "jitsu/resolve.h"
#include "jsonv.h"
#include "storage_policy.h"

const struct jsonv_field api_schema_policy_push[] = {
	{"text", JSONV_LINES, 1, 0, STORAGE_POLICY_MAX},
	{"message", JSONV_TEXT, 0, 0, STORAGE_POLICY_MSG_MAX},
};
const size_t api_schema_policy_push_n =
	sizeof api_schema_policy_push / sizeof api_schema_policy_push[0];

const struct jsonv_field api_schema_policy_rollback[] = {
	{"version", JSONV_INT, 1, 1, INT64_MAX},
	{"message", JSONV_TEXT, 0, 0, STORAGE_POLICY_MSG_MAX},
};
const size_t api_schema_policy_rollback_n =
	sizeof api_schema_policy_rollback / sizeof api_schema_policy_rollback[0];

const struct jsonv_field api_schema_policy_group[] = {
	{"group", JSONV_NAME, 1, 1, STORAGE_NAME_MAX},
};
const size_t api_schema_policy_group_n =
	sizeof api_schema_policy_group / sizeof api_schema_policy_group[0];

/* 0 if the path's '*' segment is a group name; else answers 404. */
static int param_group(struct call *c)
{
	if (jsonv_string_ok(c->param, JSONV_NAME, 1, STORAGE_NAME_MAX))
		return 0;
	api_error(c->out, 404, "not_found", "no such policy group");
	return -1;
}

static json_t *policy_json(const struct storage_policy *p)
{
	json_t *j = json_pack("{s:s,s:I,s:s,s:s,s:I,s:o,s:s}", "group", p->group, "version",
			      (json_int_t)p->version, "sha256", p->sha256, "pushed_by",
			      p->pushed_by, "pushed_at", (json_int_t)p->pushed_at, "rollback_of",
			      api_time_or_null(p->rollback_of), "message", p->message);
	if (j && p->text)
		json_object_set_new(j, "text", json_string(p->text));
	return j;
}

/* Answers status with p (consumed) or maps the storage error. */
static void reply_policy(struct call *c, int rc, unsigned status, struct storage_policy *p,
			 const char *err)
{
	if (rc == STORAGE_OK)
		api_reply(c, status, policy_json(p));
	else if (rc == STORAGE_E_NOT_FOUND)
		api_error(c->out, 404, "not_found", "no such policy version");
	else
		api_storage_fail(c, rc, err);
	storage_policy_clear(p);
}

struct parse_errors {
	json_t *list;
	char first[400];
};

static void collect_error(void *ctx, const char *file, unsigned line, const char *msg)
{
	struct parse_errors *e = ctx;
	(void)file;
	if (!e->first[0])
		snprintf(e->first, sizeof e->first, "line %u: %s", line, msg);
	json_array_append_new(e->list,
			      json_pack("{s:I,s:s}", "line", (json_int_t)line, "message", msg));
}

/* Parses text as jitsud will; 0 with its SHA-256 hex, or -1 answered. */
static int validate(struct call *c, const char *text, char sha[STORAGE_HASH_LEN + 1])
{
	struct parse_errors e = {.list = json_array()};
	struct policy *p = NULL;
	int r = e.list ? policy_parse(text, strlen(text), c->param, &p, collect_error, &e)
		       : -ENOMEM;
	if (r == 0) {
		resolve_hex(p->sha256, sizeof p->sha256, sha);
		policy_free(p);
		json_decref(e.list);
		return 0;
	}
	if (r < 0) {
		json_decref(e.list);
		api_error(c->out, 500, "internal", "out of memory");
		return -1;
	}
	json_t *j = json_pack("{s:{s:s,s:s,s:o}}", "error", "code", "policy_invalid", "message", "",
			      "errors", e.list);
	if (j) {
		char msg[512];
		snprintf(msg, sizeof msg, "the policy has %d error%s; the first: %s", r,
			 r == 1 ? "" : "s", e.first);
		json_object_set_new(json_object_get(j, "error"), "message", json_string(msg));
	}
	api_reply(c, 422, j);
	return -1;
}

void api_h_policy_push(struct call *c)
{
	struct storage_policy p = {0};
	char sha[STORAGE_HASH_LEN + 1], err[256] = "";
	const char *text = api_body_str(c, "text");
	if (param_group(c) < 0 || validate(c, text, sha) < 0)
		return;
	int rc = storage_policy_add(c->ctx->st, c->param, text, sha, c->who.name,
				    api_body_str(c, "message"), 0, c->now, &p, err, sizeof err);
	reply_policy(c, rc, 201, &p, err);
}

void api_h_policy_rollback(struct call *c)
{
	struct storage_policy p = {0};
	char err[256] = "";
	json_int_t v = json_integer_value(json_object_get(c->body, "version"));
	if (param_group(c) < 0)
		return;
	int rc = storage_policy_rollback(c->ctx->st, c->param, (int64_t)v, c->who.name,
					 api_body_str(c, "message"), c->now, &p, err, sizeof err);
	reply_policy(c, rc, 201, &p, err);
}

/* The version query parameter: 0 when absent, -1 when malformed (answered). */
static int64_t query_version(struct call *c)
{
	const char *s = c->in->arg ? c->in->arg(c->in->arg_cls, "version") : NULL;
	char *end;
	if (!s)
		return 0;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || s[0] < '1' || s[0] > '9' || v < 1) {
		api_error(c->out, 400, "schema_violation",
			  "query parameter 'version': must be an integer from 1");
		return -1;
	}
	return v;
}

/* GET policy/{group}?version=N: one version (default the newest). */
void api_h_policy_get(struct call *c)
{
	struct storage_policy p = {0};
	char err[256] = "";
	if (param_group(c) < 0)
		return;
	int64_t version = query_version(c);
	if (version < 0)
		return;
	int rc = storage_policy_get(c->ctx->st, c->param, version, &p, err, sizeof err);
	reply_policy(c, rc, 200, &p, err);
}

void api_h_policy_history(struct call *c)
{
	struct storage_policy *l = NULL;
	size_t n = 0;
	char err[256] = "";
	if (param_group(c) < 0)
		return;
	int rc = storage_policy_history(c->ctx->st, c->param, &l, &n, err, sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, policy_json(&l[i]));
	storage_policy_list_free(l, n);
	if (a && n == 0) {
		json_decref(a);
		api_error(c->out, 404, "not_found", "no such policy group");
		return;
	}
	api_reply(c, 200, json_pack("{s:s,s:o}", "group", c->param, "versions", a));
}

/* {"endpoint_id","group"} with group null when it has none. */
static void reply_group(struct call *c, const char *id)
{
	char group[STORAGE_NAME_MAX + 1], err[256] = "";
	int rc = storage_policy_group_get(c->ctx->st, id, group, err, sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	api_reply(c, 200,
		  json_pack("{s:s,s:o}", "endpoint_id", id, "group",
			    group[0] ? json_string(group) : json_null()));
}

void api_h_endpoint_group_get(struct call *c)
{
	struct storage_endpoint ep;
	char err[256] = "";
	if (api_param_id(c) < 0)
		return;
	int rc = storage_endpoint_get(c->ctx->st, c->param, &ep, err, sizeof err);
	if (rc != STORAGE_OK)
		api_storage_fail(c, rc, err);
	else
		reply_group(c, c->param);
}

/* PUT sets the group from the body; DELETE takes the endpoint out. */
static void group_set(struct call *c, const char *group)
{
	char err[256] = "";
	if (api_param_id(c) < 0)
		return;
	int rc = storage_policy_group_set(c->ctx->st, c->param, group, c->who.name, c->now, err,
					  sizeof err);
	if (rc == STORAGE_E_INVALID)
		api_error(c->out, 409, "policy_group_empty",
			  "group %s has no policy yet: push one first", group);
	else if (rc != STORAGE_OK)
		api_storage_fail(c, rc, err);
	else
		reply_group(c, c->param);
}

void api_h_endpoint_group_set(struct call *c)
{
	group_set(c, api_body_str(c, "group"));
}

void api_h_endpoint_group_clear(struct call *c)
{
	group_set(c, NULL);
}

/*
 * GET endpoint/policy[?group=G&version=N]: the calling endpoint's group and
 * its newest version; when that is G's version N (what the endpoint has),
 * only {"group","version","sha256","unchanged":true}.
 */
void api_h_ep_policy(struct call *c)
{
	struct storage_policy p = {0};
	char group[STORAGE_NAME_MAX + 1], err[256] = "";
	const char *have = c->in->arg ? c->in->arg(c->in->arg_cls, "group") : NULL;
	int64_t have_version = query_version(c);
	if (have_version < 0)
		return;
	if ((have != NULL) != (have_version > 0) ||
	    (have && !jsonv_string_ok(have, JSONV_NAME, 1, STORAGE_NAME_MAX))) {
		api_error(c->out, 400, "schema_violation",
			  "query parameters 'group' and 'version' go together; group: a name");
		return;
	}
	int rc = storage_policy_group_get(c->ctx->st, c->who.ep.id, group, err, sizeof err);
	if (rc == STORAGE_OK && !group[0]) {
		api_reply(c, 200, json_pack("{s:o}", "group", json_null()));
		return;
	}
	if (rc == STORAGE_OK)
		rc = storage_policy_get(c->ctx->st, group, 0, &p, err, sizeof err);
	if (rc == STORAGE_OK && have && !strcmp(have, p.group) && have_version == p.version)
		api_reply(c, 200,
			  json_pack("{s:s,s:I,s:s,s:b}", "group", p.group, "version",
				    (json_int_t)p.version, "sha256", p.sha256, "unchanged", 1));
	else if (rc == STORAGE_OK)
		api_reply(c, 200,
			  json_pack("{s:s,s:I,s:s,s:s,s:I}", "group", p.group, "version",
				    (json_int_t)p.version, "sha256", p.sha256, "text", p.text,
				    "pushed_at", (json_int_t)p.pushed_at));
	else /* a group without a version cannot be assigned: not_found is corrupt */
		api_storage_fail(c, rc == STORAGE_E_NOT_FOUND ? STORAGE_E_DB : rc, err);
	storage_policy_clear(&p);
}
