/*
 * api_admin: enrollment, users and their API tokens, enrollment tokens and
 * the endpoint registry. Role checks happened in api.c (route table).
 */
#include "api_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "jsonv.h"
#include "mfaseal.h"
#include "storage_policy.h"

#define ENROLL_TTL_DEFAULT 3600
#define ENROLL_TTL_MAX 604800

const struct jsonv_field api_schema_enroll[] = {
	{"token", JSONV_TOKEN, 1, 1, 128},
	{"hostname", JSONV_HOST, 1, 1, STORAGE_HOST_MAX},
	{"machine_id", JSONV_HEX, 1, STORAGE_MACHINE_LEN, STORAGE_MACHINE_LEN},
	{"os", JSONV_TEXT, 1, 1, STORAGE_FACT_MAX},
	{"kernel", JSONV_TEXT, 1, 1, STORAGE_FACT_MAX},
	{"agent_version", JSONV_TEXT, 1, 1, STORAGE_AGENT_MAX},
	{"group", JSONV_NAME, 0, 1, STORAGE_NAME_MAX}, /* a policy group (api_policy.c) */
};
const size_t api_schema_enroll_n = sizeof api_schema_enroll / sizeof api_schema_enroll[0];

const struct jsonv_field api_schema_user_create[] = {
	{"name", JSONV_NAME, 1, 1, STORAGE_NAME_MAX},
	{"role", JSONV_NAME, 1, 1, 16},
};
const size_t api_schema_user_create_n =
	sizeof api_schema_user_create / sizeof api_schema_user_create[0];

const struct jsonv_field api_schema_enroll_token[] = {
	{"ttl", JSONV_INT, 0, 1, ENROLL_TTL_MAX},
};
const size_t api_schema_enroll_token_n =
	sizeof api_schema_enroll_token / sizeof api_schema_enroll_token[0];

void api_h_enroll(struct call *c)
{
	struct storage_endpoint ep;
	char tid[AUTH_ID_LEN + 1], thash[AUTH_HASH_LEN + 1];
	char cred[AUTH_SECRET_LEN + 1], chash[AUTH_HASH_LEN + 1], err[256] = "";

	if (auth_token_parse(AUTH_TOKEN_ENROLL, api_body_str(c, "token"), tid, thash) != 0) {
		api_error(c->out, 401, "enrollment_token_invalid", "malformed enrollment token");
		return;
	}
	memset(&ep, 0, sizeof ep);
	snprintf(ep.hostname, sizeof ep.hostname, "%s", api_body_str(c, "hostname"));
	snprintf(ep.machine_id, sizeof ep.machine_id, "%s", api_body_str(c, "machine_id"));
	snprintf(ep.os, sizeof ep.os, "%s", api_body_str(c, "os"));
	snprintf(ep.kernel, sizeof ep.kernel, "%s", api_body_str(c, "kernel"));
	snprintf(ep.agent_version, sizeof ep.agent_version, "%s", api_body_str(c, "agent_version"));
	/* The break-glass key (docs/breakglass.md): 32 random bytes, stored
	 * sealed like the MFA states, so that a copy of the database cannot
	 * compute responses. */
	char bgkey[MFASEAL_BREAKGLASS_HEX + 1];
	char *bgsealed = NULL;
	if (auth_new_id(ep.id) != 0 || auth_credential_new(cred, chash) != 0 ||
	    auth_random_hex(bgkey, MFASEAL_BREAKGLASS_HEX / 2) != 0) {
		api_error(c->out, 500, "internal", "no randomness");
		return;
	}
	if (!c->ctx->mfa_key ||
	    mfaseal_seal_breakglass(c->ctx->mfa_key, ep.id, bgkey, &bgsealed) != 0) {
		explicit_bzero(bgkey, sizeof bgkey);
		explicit_bzero(cred, sizeof cred);
		api_error(c->out, 500, "internal", "cannot seal the break-glass key");
		return;
	}
	ep.breakglass_sealed = bgsealed;
	const char *group = api_body_str(c, "group");
	int rc = group[0] ? storage_enroll_grouped(c->ctx->st, tid, thash, &ep, chash, group,
						   c->now, err, sizeof err)
			  : storage_enroll(c->ctx->st, tid, thash, &ep, chash, c->now, err,
					   sizeof err);
	if (rc == STORAGE_OK)
		api_reply(c, 201,
			  json_pack("{s:s,s:s,s:s}", "endpoint_id", ep.id, "credential", cred,
				    "breakglass_key", bgkey));
	else if (rc == STORAGE_E_INVALID)
		api_error(c->out, 409, "policy_group_empty",
			  "group %s has no policy yet: push one first", group);
	else
		api_storage_fail(c, rc, err);
	snprintf(c->out->who, sizeof c->out->who, "enroll:%s", rc == STORAGE_OK ? ep.id : tid);
	explicit_bzero(cred, sizeof cred);
	explicit_bzero(bgkey, sizeof bgkey);
	explicit_bzero(bgsealed, strlen(bgsealed));
	free(bgsealed);
}

/* Issues a new API token for user and answers 201 with it. */
static void issue_token(struct call *c, const char *user, json_t *extra)
{
	char token[AUTH_TOKEN_LEN + 1], id[AUTH_ID_LEN + 1], hash[AUTH_HASH_LEN + 1];
	char err[256] = "";

	if (auth_token_new(AUTH_TOKEN_USER, token, id, hash) != 0) {
		json_decref(extra);
		api_error(c->out, 500, "internal", "no randomness");
		return;
	}
	int rc = storage_token_add(c->ctx->st, id, user, hash, c->now, err, sizeof err);
	if (rc == STORAGE_OK) {
		json_t *j = extra ? extra : json_object();
		json_object_set_new(j, "token_id", json_string(id));
		json_object_set_new(j, "token", json_string(token));
		api_reply(c, 201, j);
	} else {
		json_decref(extra);
		api_storage_fail(c, rc, err);
	}
	explicit_bzero(token, sizeof token);
}

void api_h_user_create(struct call *c)
{
	enum storage_role role;
	char err[256] = "";
	const char *name = api_body_str(c, "name");

	if (storage_role_parse(api_body_str(c, "role"), &role) != 0) {
		api_error(c->out, 400, "schema_violation",
			  "field 'role': must be admin, approver or auditor");
		return;
	}
	int rc = storage_user_add(c->ctx->st, name, role, c->now, err, sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	issue_token(c, name, json_pack("{s:s,s:s}", "name", name, "role", storage_role_name(role)));
}

void api_h_user_list(struct call *c)
{
	struct storage_user *u;
	size_t n;
	char err[256] = "";

	int rc = storage_user_list(c->ctx->st, &u, &n, err, sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s,s:s,s:I}", "name", u[i].name, "role",
						   storage_role_name(u[i].role), "created_at",
						   (json_int_t)u[i].created_at));
	free(u);
	api_reply(c, 200, json_pack("{s:o}", "users", a));
}

void api_h_token_create(struct call *c)
{
	struct storage_user u;
	char err[256] = "";

	if (!jsonv_string_ok(c->param, JSONV_NAME, 1, STORAGE_NAME_MAX)) {
		api_error(c->out, 404, "not_found", "no such user");
		return;
	}
	int rc = storage_user_get(c->ctx->st, c->param, &u, err, sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	issue_token(c, u.name, NULL);
}

void api_h_token_revoke(struct call *c)
{
	char err[256] = "";
	if (api_param_id(c) != 0)
		return;
	int rc = storage_token_revoke(c->ctx->st, c->param, c->now, err, sizeof err);
	if (rc == STORAGE_OK)
		api_reply(c, 200, json_pack("{s:s,s:b}", "token_id", c->param, "revoked", 1));
	else
		api_storage_fail(c, rc, err);
}

void api_h_enroll_token_create(struct call *c)
{
	char token[AUTH_TOKEN_LEN + 1], id[AUTH_ID_LEN + 1], hash[AUTH_HASH_LEN + 1];
	char err[256] = "";
	json_t *ttl = json_object_get(c->body, "ttl");
	int64_t expires = c->now + (ttl ? json_integer_value(ttl) : ENROLL_TTL_DEFAULT);

	if (auth_token_new(AUTH_TOKEN_ENROLL, token, id, hash) != 0) {
		api_error(c->out, 500, "internal", "no randomness");
		return;
	}
	int rc = storage_enroll_token_add(c->ctx->st, id, hash, c->who.name, c->now, expires, err,
					  sizeof err);
	if (rc == STORAGE_OK)
		api_reply(c, 201,
			  json_pack("{s:s,s:s,s:I}", "token_id", id, "token", token, "expires_at",
				    (json_int_t)expires));
	else
		api_storage_fail(c, rc, err);
	explicit_bzero(token, sizeof token);
}

void api_h_endpoint_list(struct call *c)
{
	struct storage_endpoint *e;
	size_t n;
	char err[256] = "";

	int rc = storage_endpoint_list(c->ctx->st, &e, &n, err, sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, api_endpoint_json(&e[i]));
	free(e);
	api_reply(c, 200, json_pack("{s:o}", "endpoints", a));
}

void api_h_endpoint_get(struct call *c)
{
	struct storage_endpoint e;
	char err[256] = "";

	if (api_param_id(c) != 0)
		return;
	int rc = storage_endpoint_get(c->ctx->st, c->param, &e, err, sizeof err);
	if (rc == STORAGE_OK)
		api_reply(c, 200, api_endpoint_json(&e));
	else
		api_storage_fail(c, rc, err);
}

void api_h_endpoint_revoke(struct call *c)
{
	struct storage_endpoint e;
	char err[256] = "";

	if (api_param_id(c) != 0)
		return;
	int rc = storage_endpoint_revoke(c->ctx->st, c->param, c->now, err, sizeof err);
	if (rc == STORAGE_OK)
		rc = storage_endpoint_get(c->ctx->st, c->param, &e, err, sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	/* Its long-polls answer endpoint_revoked now, not at their deadline. */
	snprintf(c->out->wake_endpoint, sizeof c->out->wake_endpoint, "%s", e.id);
	api_reply(c, 200, api_endpoint_json(&e));
}
