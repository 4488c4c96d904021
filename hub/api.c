/*
 * api: the route table, authentication and role checks, body intake, error
 * answers and JSON rendering. Handlers are in api_admin.c and
 * api_requests.c. The MUST rules are in api.h.
 */
#include "api_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "jitsu/log.h"
#include "jsonv.h"

#ifndef JITSU_VERSION
#define JITSU_VERSION "0"
#endif

#define API_PREFIX "/api/v1/"
#define SEGMENT_MAX 128

/* Who may call a route: role bits (storage_role), endpoints, or anyone. */
#define ALLOW_ADMIN STORAGE_ROLE_ADMIN
#define ALLOW_APPROVER STORAGE_ROLE_APPROVER
#define ALLOW_AUDITOR STORAGE_ROLE_AUDITOR
#define ALLOW_USERS (ALLOW_ADMIN | ALLOW_APPROVER | ALLOW_AUDITOR)
#define ALLOW_ENDPOINT 0x100
#define ALLOW_PUBLIC 0x200

static void h_health(struct call *c);
static void h_whoami(struct call *c);

static const struct route {
	const char *method;
	const char *pattern; /* after /api/v1/; '*' is one segment, the handler's param */
	unsigned allow;
	const struct jsonv_field *schema; /* NULL: the body must be empty or {} */
	const size_t *nschema;
	void (*handler)(struct call *c);
} routes[] = {
	{"GET", "health", ALLOW_PUBLIC, NULL, NULL, h_health},
	{"GET", "whoami", ALLOW_USERS | ALLOW_ENDPOINT, NULL, NULL, h_whoami},
	{"POST", "enroll", ALLOW_PUBLIC, api_schema_enroll, &api_schema_enroll_n, api_h_enroll},
	{"POST", "users", ALLOW_ADMIN, api_schema_user_create, &api_schema_user_create_n,
	 api_h_user_create},
	{"GET", "users", ALLOW_ADMIN | ALLOW_AUDITOR, NULL, NULL, api_h_user_list},
	{"POST", "users/*/tokens", ALLOW_ADMIN, NULL, NULL, api_h_token_create},
	{"DELETE", "tokens/*", ALLOW_ADMIN, NULL, NULL, api_h_token_revoke},
	{"POST", "enrollment-tokens", ALLOW_ADMIN, api_schema_enroll_token,
	 &api_schema_enroll_token_n, api_h_enroll_token_create},
	{"GET", "endpoints", ALLOW_ADMIN | ALLOW_AUDITOR, NULL, NULL, api_h_endpoint_list},
	{"GET", "endpoints/*", ALLOW_ADMIN | ALLOW_AUDITOR, NULL, NULL, api_h_endpoint_get},
	{"POST", "endpoints/*/revoke", ALLOW_ADMIN, NULL, NULL, api_h_endpoint_revoke},
	{"GET", "requests", ALLOW_USERS, NULL, NULL, api_h_request_list},
	{"GET", "requests/*", ALLOW_USERS, NULL, NULL, api_h_request_get},
	{"POST", "requests/*/approve", ALLOW_APPROVER, api_schema_approve, &api_schema_approve_n,
	 api_h_request_approve},
	{"POST", "requests/*/deny", ALLOW_APPROVER, api_schema_deny, &api_schema_deny_n,
	 api_h_request_deny},
	{"POST", "endpoint/heartbeat", ALLOW_ENDPOINT, api_schema_heartbeat,
	 &api_schema_heartbeat_n, api_h_heartbeat},
	{"POST", "endpoint/requests", ALLOW_ENDPOINT, api_schema_request, &api_schema_request_n,
	 api_h_ep_request_create},
	{"GET", "endpoint/requests/*", ALLOW_ENDPOINT, NULL, NULL, api_h_ep_request_get},
	{"POST", "endpoint/requests/*/cancel", ALLOW_ENDPOINT, NULL, NULL, api_h_ep_request_cancel},
	{"POST", "endpoint/mfa/enroll", ALLOW_ENDPOINT, api_schema_mfa_enroll,
	 &api_schema_mfa_enroll_n, api_h_ep_mfa_enroll},
	{"POST", "endpoint/mfa/confirm", ALLOW_ENDPOINT, api_schema_mfa_code,
	 &api_schema_mfa_code_n, api_h_ep_mfa_confirm},
	{"POST", "endpoint/mfa/verify", ALLOW_ENDPOINT, api_schema_mfa_code, &api_schema_mfa_code_n,
	 api_h_ep_mfa_verify},
	{"GET", "endpoint/mfa/status", ALLOW_ENDPOINT, NULL, NULL, api_h_ep_mfa_status},
	{"GET", "mfa", ALLOW_ADMIN | ALLOW_AUDITOR, NULL, NULL, api_h_mfa_list},
	{"GET", "mfa/*", ALLOW_ADMIN | ALLOW_AUDITOR, NULL, NULL, api_h_mfa_get},
	{"POST", "mfa/*/reset", ALLOW_ADMIN, NULL, NULL, api_h_mfa_reset},
	{"POST", "breakglass/respond", ALLOW_ADMIN, api_schema_breakglass, &api_schema_breakglass_n,
	 api_h_breakglass_respond},
	/* central policy: api_policy.c */
	{"POST", "policy/*", ALLOW_ADMIN, api_schema_policy_push, &api_schema_policy_push_n,
	 api_h_policy_push},
	{"GET", "policy/*", ALLOW_ADMIN | ALLOW_AUDITOR, NULL, NULL, api_h_policy_get},
	{"GET", "policy/*/versions", ALLOW_ADMIN | ALLOW_AUDITOR, NULL, NULL, api_h_policy_history},
	{"POST", "policy/*/rollback", ALLOW_ADMIN, api_schema_policy_rollback,
	 &api_schema_policy_rollback_n, api_h_policy_rollback},
	{"GET", "endpoints/*/group", ALLOW_ADMIN | ALLOW_AUDITOR, NULL, NULL,
	 api_h_endpoint_group_get},
	{"POST", "endpoints/*/group", ALLOW_ADMIN, api_schema_policy_group,
	 &api_schema_policy_group_n, api_h_endpoint_group_set},
	{"DELETE", "endpoints/*/group", ALLOW_ADMIN, NULL, NULL, api_h_endpoint_group_clear},
	{"GET", "endpoint/policy", ALLOW_ENDPOINT, NULL, NULL, api_h_ep_policy},
	{"POST", "endpoint/audit", ALLOW_ENDPOINT, api_schema_audit, &api_schema_audit_n,
	 api_h_ep_audit},
	{"GET", "alerts", ALLOW_ADMIN | ALLOW_AUDITOR, NULL, NULL, api_h_alert_list},
	{"GET", "audit/lag", ALLOW_ADMIN | ALLOW_AUDITOR, NULL, NULL, api_h_audit_lag},
	{"GET", "audit/search", ALLOW_ADMIN | ALLOW_AUDITOR, NULL, NULL, api_h_audit_search},
};

int api_route_at(size_t i, const char **method, const char **pattern,
		 const struct jsonv_field **schema, size_t *n)
{
	if (i >= sizeof routes / sizeof routes[0])
		return 0;
	*method = routes[i].method;
	*pattern = routes[i].pattern;
	*schema = routes[i].schema;
	*n = routes[i].nschema ? *routes[i].nschema : 0;
	return 1;
}

/* ---- answers ---- */

static char *dump(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

void api_error(struct api_out *out, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	free(out->body);
	out->wait = 0;
	out->status = status;
	out->body = dump(json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
	if (!out->body)
		out->status = 500;
}

void api_reply(struct call *c, unsigned status, json_t *j)
{
	free(c->out->body);
	c->out->body = dump(j);
	c->out->status = status;
	if (!c->out->body)
		api_error(c->out, 500, "internal", "out of memory");
}

void api_out_clear(struct api_out *out)
{
	free(out->body);
	memset(out, 0, sizeof *out);
}

void api_storage_fail(struct call *c, int rc, const char *err)
{
	struct api_out *o = c->out;
	switch (rc) {
	case STORAGE_E_NOT_FOUND: api_error(o, 404, "not_found", "no such object"); return;
	case STORAGE_E_EXISTS: api_error(o, 409, "already_exists", "it exists already"); return;
	case STORAGE_E_NOT_PENDING:
		api_error(o, 409, "request_not_pending", "the request is no longer pending");
		return;
	case STORAGE_E_SELF_APPROVAL:
		api_error(o, 403, "self_approval", "nobody decides their own request");
		return;
	case STORAGE_E_ALREADY_DECIDED:
		api_error(o, 409, "already_decided", "you already decided this request");
		return;
	case STORAGE_E_TOKEN_INVALID:
		api_error(o, 401, "enrollment_token_invalid", "unknown enrollment token");
		return;
	case STORAGE_E_TOKEN_USED:
		api_error(o, 410, "enrollment_token_used", "the enrollment token was used already");
		return;
	case STORAGE_E_TOKEN_EXPIRED:
		api_error(o, 410, "enrollment_token_expired", "the enrollment token expired");
		return;
	}
	log_err("storage: %s: %s", storage_strerror(rc), err && *err ? err : "-");
	api_error(o, 500, "internal", "internal error");
}

int api_param_id(struct call *c)
{
	if (auth_is_hex(c->param, STORAGE_ID_LEN))
		return 0;
	api_error(c->out, 404, "not_found", "no such object");
	return -1;
}

/* ---- rendering ---- */

json_t *api_time_or_null(int64_t t)
{
	return t ? json_integer((json_int_t)t) : json_null();
}

const char *api_body_str(const struct call *c, const char *name)
{
	const char *s = json_string_value(json_object_get(c->body, name));
	return s ? s : "";
}

json_t *api_endpoint_json(const struct storage_endpoint *e)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:o}", "id", e->id, "hostname",
			 e->hostname, "machine_id", e->machine_id, "os", e->os, "kernel", e->kernel,
			 "agent_version", e->agent_version, "enrolled_at",
			 (json_int_t)e->enrolled_at, "last_seen", (json_int_t)e->last_seen,
			 "revoked_at", api_time_or_null(e->revoked_at));
}

static json_t *decisions_json(const struct storage_request *r)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < r->ndecisions; i++) {
		const struct storage_decision *d = &r->decisions[i];
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:I}", "approver", d->approver,
						   "verdict", d->approve ? "approve" : "deny",
						   "note", d->note, "at", (json_int_t)d->at));
	}
	return a;
}

json_t *api_request_json(const struct storage_request *r)
{
	/* argv was validated and encoded by us; it parses back. */
	json_t *argv = json_loads(r->argv_json, 0, NULL);
	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:s,s:i,s:s,s:I,s:I,s:o,s:o}", "id", r->id,
			 "endpoint_id", r->endpoint_id, "user", r->user, "host", r->host, "argv",
			 argv ? argv : json_array(), "binary_sha256", r->binary_sha256, "reason",
			 r->reason, "rule", r->rule, "approvals_needed", r->approvals_needed,
			 "state", storage_state_name(r->state), "created_at",
			 (json_int_t)r->created_at, "expires_at", (json_int_t)r->expires_at,
			 "decided_at", api_time_or_null(r->decided_at), "decisions",
			 decisions_json(r));
}

/* ---- small public routes ---- */

static void h_health(struct call *c)
{
	api_reply(c, 200,
		  json_pack("{s:s,s:s,s:i}", "status", "ok", "version", JITSU_VERSION, "api", 1));
}

static void h_whoami(struct call *c)
{
	if (c->who.kind == PRINCIPAL_ENDPOINT)
		api_reply(c, 200,
			  json_pack("{s:s,s:s}", "kind", "endpoint", "endpoint_id", c->who.ep.id));
	else
		api_reply(c, 200,
			  json_pack("{s:s,s:s,s:s}", "kind", "user", "name", c->who.name, "role",
				    storage_role_name(c->who.role)));
}

/* ---- routing ---- */

/* Matches path (after the prefix) segment by segment against pattern;
 * *param and *plen get the '*' segment (not terminated). */
static int match(const char *pattern, const char *path, const char **param, size_t *plen)
{
	for (;;) {
		const char *pe = strchrnul(pattern, '/'), *se = strchrnul(path, '/');
		size_t pl = (size_t)(pe - pattern), sl = (size_t)(se - path);
		if (sl == 0 || sl > SEGMENT_MAX)
			return 0;
		if (pl == 1 && pattern[0] == '*') {
			*param = path;
			*plen = sl;
		} else if (pl != sl || memcmp(pattern, path, pl) != 0) {
			return 0;
		}
		if (!*pe || !*se)
			return !*pe && !*se;
		pattern = pe + 1;
		path = se + 1;
	}
}

/* The route for method and path; *path_known tells 404 from 405. */
static const struct route *route_find(const char *method, const char *path, char *param,
				      size_t psize, int *path_known)
{
	*path_known = 0;
	if (strncmp(path, API_PREFIX, strlen(API_PREFIX)) != 0)
		return NULL;
	path += strlen(API_PREFIX);
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		const char *p = NULL;
		size_t plen = 0;
		if (!match(routes[i].pattern, path, &p, &plen))
			continue;
		*path_known = 1;
		if (strcmp(routes[i].method, method) != 0)
			continue;
		if (p && plen >= psize)
			return NULL;
		param[0] = '\0';
		if (p) {
			memcpy(param, p, plen);
			param[plen] = '\0';
		}
		return &routes[i];
	}
	return NULL;
}

/* ---- authentication ---- */

static int auth_user(struct call *c, const struct auth_claim *claim)
{
	struct storage_token t;
	char err[256] = "";
	int rc = storage_token_check(c->ctx->st, claim->id, claim->hash, &t, err, sizeof err);
	if (rc == STORAGE_E_NOT_FOUND || (rc == STORAGE_OK && t.revoked_at)) {
		api_error(c->out, 401, "unauthorized", "unknown or revoked token");
		return -1;
	}
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return -1;
	}
	c->who.kind = PRINCIPAL_USER;
	c->who.role = t.role;
	snprintf(c->who.name, sizeof c->who.name, "%s", t.user);
	snprintf(c->out->who, sizeof c->out->who, "user:%s", t.user);
	return 0;
}

static int auth_endpoint(struct call *c, const struct auth_claim *claim)
{
	char err[256] = "";
	struct storage_endpoint *ep = &c->who.ep;
	int rc = storage_endpoint_check(c->ctx->st, claim->id, claim->hash, ep, err, sizeof err);
	if (rc == STORAGE_E_NOT_FOUND) {
		api_error(c->out, 401, "unauthorized", "unknown endpoint or wrong credential");
		return -1;
	}
	if (rc == STORAGE_OK && ep->revoked_at) {
		api_error(c->out, 401, "endpoint_revoked",
			  "this endpoint's enrollment was revoked");
		return -1;
	}
	if (rc == STORAGE_OK && ep->last_seen != c->now)
		rc = storage_endpoint_touch(c->ctx->st, ep->id, NULL, c->now, err, sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return -1;
	}
	ep->last_seen = c->now;
	c->who.kind = PRINCIPAL_ENDPOINT;
	snprintf(c->out->who, sizeof c->out->who, "endpoint:%s", ep->id);
	return 0;
}

/* Authenticates the caller and checks the route allows them. */
static int authorize(struct call *c, unsigned allow)
{
	struct auth_claim claim;

	if (allow & ALLOW_PUBLIC)
		return 0;
	auth_parse_header(c->in->authorization, &claim);
	int rc = -1;
	if (claim.scheme == AUTH_BEARER)
		rc = auth_user(c, &claim);
	else if (claim.scheme == AUTH_ENDPOINT)
		rc = auth_endpoint(c, &claim);
	else
		api_error(c->out, 401, "unauthorized", "missing or malformed Authorization header");
	explicit_bzero(&claim, sizeof claim);
	if (rc != 0)
		return -1;
	if ((c->who.kind == PRINCIPAL_USER && !(allow & c->who.role)) ||
	    (c->who.kind == PRINCIPAL_ENDPOINT && !(allow & ALLOW_ENDPOINT))) {
		api_error(c->out, 403, "forbidden", "this credential may not use this route");
		return -1;
	}
	return 0;
}

/* ---- body intake ---- */

static int is_json_type(const char *ct)
{
	static const char want[] = "application/json";
	if (!ct || strncasecmp(ct, want, sizeof want - 1) != 0)
		return 0;
	ct += sizeof want - 1;
	return *ct == '\0' || *ct == ';' || *ct == ' ';
}

static int take_body(struct call *c, const struct route *r)
{
	char msg[256];
	const struct api_in *in = c->in;

	if (in->body_len > 0 && !is_json_type(in->content_type)) {
		api_error(c->out, 415, "unsupported_media_type",
			  "the body must be application/json");
		return -1;
	}
	enum jsonv_result rc = jsonv_parse(in->body, in->body_len, r->schema,
					   r->nschema ? *r->nschema : 0, &c->body, msg, sizeof msg);
	if (rc == JSONV_E_DEPTH)
		api_error(c->out, 400, "json_too_deep", "%s", msg);
	else if (rc == JSONV_E_SCHEMA)
		api_error(c->out, 400, "schema_violation", "%s", msg);
	else if (rc != JSONV_OK)
		api_error(c->out, 400, "invalid_json", "%s", msg);
	return rc == JSONV_OK ? 0 : -1;
}

size_t api_body_limit(const struct api_ctx *ctx, const char *method, const char *path,
		      const char *authorization)
{
	struct auth_claim claim;
	struct storage_endpoint ep;
	char err[256] = "";

	if (!method || !path || strcmp(method, "POST") != 0 ||
	    strcmp(path, API_PREFIX "endpoint/audit") != 0)
		return API_BODY_MAX;
	/* Only a live endpoint may send the larger body: nobody else gets to
	 * make the hub hold a megabyte before the credential is checked. */
	auth_parse_header(authorization, &claim);
	int ok = claim.scheme == AUTH_ENDPOINT &&
		 storage_endpoint_check(ctx->st, claim.id, claim.hash, &ep, err, sizeof err) ==
			 STORAGE_OK &&
		 !ep.revoked_at;
	explicit_bzero(&claim, sizeof claim);
	return ok ? API_AUDIT_BODY_MAX : API_BODY_MAX;
}

void api_handle(const struct api_ctx *ctx, const struct api_in *in, struct api_out *out)
{
	char param[SEGMENT_MAX + 1];
	int path_known;
	struct call c = {.ctx = ctx, .in = in, .out = out};

	memset(out, 0, sizeof *out);
	c.now_ms = ctx->now_ms();
	c.now = c.now_ms / 1000;
	const struct route *r = route_find(in->method, in->path, param, sizeof param, &path_known);
	if (!r) {
		if (path_known)
			api_error(out, 405, "method_not_allowed", "method not allowed here");
		else
			api_error(out, 404, "not_found", "no such route");
		return;
	}
	c.param = param;
	if (in->body_too_large) {
		api_error(out, 413, "body_too_large", "the body is over %zu bytes",
			  api_body_limit(ctx, in->method, in->path, in->authorization));
		return;
	}
	if (authorize(&c, r->allow) != 0 || take_body(&c, r) != 0)
		return;
	r->handler(&c);
	json_decref(c.body);
	explicit_bzero(&c.who, sizeof c.who);
}
