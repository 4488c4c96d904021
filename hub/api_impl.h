/*
 * api_impl: what api.c shares with the handler files api_admin.c and
 * api_requests.c. Not for use outside the api module.
 */
#ifndef JITSU_HUB_API_IMPL_H
#define JITSU_HUB_API_IMPL_H

#include <jansson.h>

#include "api.h"
#include "jsonv.h"

enum principal_kind {
	PRINCIPAL_NONE = 0,
	PRINCIPAL_USER,
	PRINCIPAL_ENDPOINT,
};

struct principal {
	enum principal_kind kind;
	char name[STORAGE_NAME_MAX + 1]; /* user */
	enum storage_role role;          /* user */
	struct storage_endpoint ep;      /* endpoint */
};

#define API_PATH_SEGMENTS 6

/* One call being handled. */
struct call {
	const struct api_ctx *ctx;
	const struct api_in *in;
	struct api_out *out;
	const char *param; /* the path's '*' segment, if the route has one */
	json_t *body;      /* the validated body object */
	struct principal who;
	int64_t now_ms, now; /* the call's clock, ms and s */
};

/* Answers 200/201 with j (consumed). */
void api_reply(struct call *c, unsigned status, json_t *j);
/* 0 if the path's '*' segment is an id; else answers 404 and returns -1. */
int api_param_id(struct call *c);
/* Maps a storage error to its answer (logging database failures). */
void api_storage_fail(struct call *c, int rc, const char *err);

json_t *api_endpoint_json(const struct storage_endpoint *e);
json_t *api_request_json(const struct storage_request *r);
/* A JSON integer, or null for 0 ("never"). */
json_t *api_time_or_null(int64_t t);
/* The string field name of the body, or "" when absent. */
const char *api_body_str(const struct call *c, const char *name);

/* handlers: api_admin.c */
void api_h_enroll(struct call *c);
void api_h_user_create(struct call *c);
void api_h_user_list(struct call *c);
void api_h_token_create(struct call *c);
void api_h_token_revoke(struct call *c);
void api_h_enroll_token_create(struct call *c);
void api_h_endpoint_list(struct call *c);
void api_h_endpoint_get(struct call *c);
void api_h_endpoint_revoke(struct call *c);

/* handlers: api_requests.c */
void api_h_request_list(struct call *c);
void api_h_request_get(struct call *c);
void api_h_request_approve(struct call *c);
void api_h_request_deny(struct call *c);
void api_h_heartbeat(struct call *c);
void api_h_ep_request_create(struct call *c);
void api_h_ep_request_get(struct call *c);
void api_h_ep_request_cancel(struct call *c);

/* handlers: api_mfa.c */
void api_h_ep_mfa_enroll(struct call *c);
void api_h_ep_mfa_confirm(struct call *c);
void api_h_ep_mfa_verify(struct call *c);
void api_h_ep_mfa_status(struct call *c);
void api_h_mfa_list(struct call *c);
void api_h_mfa_get(struct call *c);
void api_h_mfa_reset(struct call *c);
/* handlers: api_breakglass.c */
void api_h_breakglass_respond(struct call *c);
/* handlers: api_policy.c */
void api_h_policy_push(struct call *c);
void api_h_policy_rollback(struct call *c);
void api_h_policy_get(struct call *c);
void api_h_policy_history(struct call *c);
void api_h_endpoint_group_get(struct call *c);
void api_h_endpoint_group_set(struct call *c);
void api_h_endpoint_group_clear(struct call *c);
void api_h_ep_policy(struct call *c);
/* handlers: api_audit.c */
void api_h_ep_audit(struct call *c);
void api_h_alert_list(struct call *c);
void api_h_audit_lag(struct call *c);
void api_h_audit_search(struct call *c);

/* schemas, for the route table */
extern const struct jsonv_field api_schema_enroll[];
extern const size_t api_schema_enroll_n;
extern const struct jsonv_field api_schema_user_create[];
extern const size_t api_schema_user_create_n;
extern const struct jsonv_field api_schema_enroll_token[];
extern const size_t api_schema_enroll_token_n;
extern const struct jsonv_field api_schema_approve[];
extern const size_t api_schema_approve_n;
extern const struct jsonv_field api_schema_deny[];
extern const size_t api_schema_deny_n;
extern const struct jsonv_field api_schema_heartbeat[];
extern const size_t api_schema_heartbeat_n;
extern const struct jsonv_field api_schema_request[];
extern const size_t api_schema_request_n;
extern const struct jsonv_field api_schema_mfa_enroll[];
extern const size_t api_schema_mfa_enroll_n;
extern const struct jsonv_field api_schema_mfa_code[];
extern const size_t api_schema_mfa_code_n;
extern const struct jsonv_field api_schema_breakglass[];
extern const size_t api_schema_breakglass_n;

extern const struct jsonv_field api_schema_policy_push[];
extern const size_t api_schema_policy_push_n;
extern const struct jsonv_field api_schema_policy_rollback[];
extern const size_t api_schema_policy_rollback_n;
extern const struct jsonv_field api_schema_policy_group[];
extern const size_t api_schema_policy_group_n;
extern const struct jsonv_field api_schema_audit[];
extern const size_t api_schema_audit_n;

/* Route i of the table (for tests/fuzz/fuzz-hubjson.c, which must cover
 * every body schema): its method, pattern and schema (NULL, n 0: no body).
 * Returns 0 when i is past the end. */
int api_route_at(size_t i, const char **method, const char **pattern,
		 const struct jsonv_field **schema, size_t *n);

#endif
