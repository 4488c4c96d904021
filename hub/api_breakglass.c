/*
 * api_breakglass: POST /api/v1/breakglass/respond, for admins: the
 * response code for a challenge an endpoint showed (docs/breakglass.md).
 * The role check happened in api.c (route table).
 *
 * MUST rules:
 *  - Only a live endpoint with a key gets a response: a revoked one, one
 *    enrolled before break-glass, or an ambiguous hostname is refused with
 *    a clear error.
 *  - Every response is logged (table and syslog) before it is returned;
 *    if it cannot be logged it is not returned.
 *  - The key is stored sealed (hub/mfaseal.h) and opened only here; a key
 *    that does not open is an error, never a response.
 *  - The key is wiped after use and never logged; the response is logged
 *    only as the fact of its issue (who, endpoint, challenge, window).
 */
#include "api_impl.h"

#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "jitsu/breakglass.h"
#include "jitsu/log.h"
#include "mfaseal.h"
#include "storage_breakglass.h"

const struct jsonv_field api_schema_breakglass[] = {
	{"endpoint", JSONV_HOST, 1, 1, STORAGE_HOST_MAX},
	{"challenge", JSONV_TEXT, 1, 1, BREAKGLASS_INPUT_MAX},
};
const size_t api_schema_breakglass_n =
	sizeof api_schema_breakglass / sizeof api_schema_breakglass[0];

/* The endpoint named by an id or a hostname, into *ep; 0, or -1 answered. */
static int resolve(struct call *c, const char *name, struct storage_endpoint *ep)
{
	char err[256] = "", ids[STORAGE_BREAKGLASS_HOST_MAX][STORAGE_ID_LEN + 1], list[400] = "";
	size_t n = 0, live = 0, used = 0;
	int rc = STORAGE_E_NOT_FOUND;

	if (strlen(name) == STORAGE_ID_LEN && auth_is_hex(name, STORAGE_ID_LEN))
		rc = storage_endpoint_get(c->ctx->st, name, ep, err, sizeof err);
	if (rc == STORAGE_E_NOT_FOUND) {
		rc = storage_endpoint_ids_by_host(c->ctx->st, name, ids,
						  STORAGE_BREAKGLASS_HOST_MAX, &n, err, sizeof err);
		for (size_t i = 0; rc == STORAGE_OK && i < n && i < STORAGE_BREAKGLASS_HOST_MAX;
		     i++) {
			struct storage_endpoint e;
			rc = storage_endpoint_get(c->ctx->st, ids[i], &e, err, sizeof err);
			if (rc != STORAGE_OK || e.revoked_at)
				continue;
			if (!live++)
				*ep = e;
			int k = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "",
					 e.id);
			if (k > 0 && (size_t)k < sizeof list - used)
				used += (size_t)k;
		}
		if (rc == STORAGE_OK && n > 0 && live == 0) {
			api_error(c->out, 409, "endpoint_revoked", "%s: its enrollment was revoked",
				  name);
			return -1;
		}
		if (rc == STORAGE_OK && (live > 1 || n > STORAGE_BREAKGLASS_HOST_MAX)) {
			api_error(c->out, 409, "endpoint_ambiguous",
				  "%zu endpoints are named %s: give the id (%s)",
				  live > 1 ? live : n, name, list);
			return -1;
		}
		if (rc == STORAGE_OK && n == 0)
			rc = STORAGE_E_NOT_FOUND;
	}
	if (rc == STORAGE_E_NOT_FOUND) {
		api_error(c->out, 404, "not_found", "no endpoint with that id or hostname");
		return -1;
	}
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return -1;
	}
	if (ep->revoked_at) {
		api_error(c->out, 409, "endpoint_revoked", "endpoint %s's enrollment was revoked",
			  ep->id);
		return -1;
	}
	return 0;
}

/* The response for challenge at endpoint ep, logged; 0, or -1 answered. */
static int respond(struct call *c, const struct storage_endpoint *ep, const char *challenge,
		   uint64_t w, char response[BREAKGLASS_RESPONSE_CHARS + 1])
{
	char text[STORAGE_BREAKGLASS_MAX + 1], hex[MFASEAL_BREAKGLASS_HEX + 1], err[256] = "";
	uint8_t key[BREAKGLASS_KEY_LEN];
	int rc = storage_breakglass_key(c->ctx->st, ep->id, text, err, sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return -1;
	}
	if (!text[0]) {
		api_error(c->out, 409, "no_breakglass_key",
			  "endpoint %s was enrolled before break-glass and has no key: re-enroll "
			  "it",
			  ep->id);
		return -1;
	}
	/* Sealed (the 64 hex digits of an older hub are sealed at start, or
	 * by another hub's start; until then they are used as they are). */
	int r = 0;
	if (strlen(text) == MFASEAL_BREAKGLASS_HEX && auth_is_hex(text, MFASEAL_BREAKGLASS_HEX))
		memcpy(hex, text, sizeof hex);
	else if (!c->ctx->mfa_key)
		r = -1, snprintf(err, sizeof err, "this hub has no sealing key");
	else
		r = mfaseal_open_breakglass(c->ctx->mfa_key, ep->id, text, hex, err, sizeof err);
	explicit_bzero(text, sizeof text);
	if (r != 0) {
		log_err("breakglass: endpoint %s: stored key unusable: %s", ep->id, err);
		api_error(c->out, 500, "breakglass_key_unusable",
			  "endpoint %s's break-glass key cannot be opened (see the hub's log)",
			  ep->id);
		return -1;
	}
	r = breakglass_key_from_hex(hex, key);
	explicit_bzero(hex, sizeof hex);
	if (r == 0)
		r = breakglass_response(key, challenge, ep->id, w, response);
	explicit_bzero(key, sizeof key);
	if (r != 0) {
		api_error(c->out, 500, "internal", "internal error");
		return -1;
	}
	rc = storage_breakglass_log(c->ctx->st, ep->id, c->who.name, challenge, (int64_t)w, c->now,
				    err, sizeof err);
	if (rc != STORAGE_OK) {
		explicit_bzero(response, BREAKGLASS_RESPONSE_CHARS + 1);
		api_storage_fail(c, rc, err);
		return -1;
	}
	return 0;
}

void api_h_breakglass_respond(struct call *c)
{
	char challenge[BREAKGLASS_CHALLENGE_CHARS + 1], response[BREAKGLASS_RESPONSE_CHARS + 1];
	char shown_c[BREAKGLASS_GROUPED_MAX], shown_r[BREAKGLASS_GROUPED_MAX];
	const char *typed = api_body_str(c, "challenge");
	struct storage_endpoint ep;
	uint64_t w = breakglass_window(c->now);

	if (breakglass_parse(typed, strlen(typed), BREAKGLASS_CHALLENGE_CHARS, challenge) < 0) {
		api_error(c->out, 400, "schema_violation",
			  "field 'challenge': must be 8 characters of Crockford base32 "
			  "(as ABCD-EFGH)");
		return;
	}
	if (resolve(c, api_body_str(c, "endpoint"), &ep) != 0 ||
	    respond(c, &ep, challenge, w, response) != 0)
		return;
	breakglass_group(challenge, shown_c, sizeof shown_c);
	breakglass_group(response, shown_r, sizeof shown_r);
	log_warn("breakglass: response issued by %s for endpoint %s (%s), challenge %s, window "
		 "%llu",
		 c->who.name, ep.id, ep.hostname, shown_c, (unsigned long long)w);
	api_reply(c, 200,
		  json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "endpoint_id", ep.id, "hostname",
			    ep.hostname, "challenge", shown_c, "response", shown_r, "window",
			    (json_int_t)w, "valid_until", (json_int_t)breakglass_valid_until(w)));
	explicit_bzero(response, sizeof response);
	explicit_bzero(shown_r, sizeof shown_r);
}
