/*
 * approval: a rule with `approval` sends the request to the hub and waits,
 * with a live status line on the client, until people decide.
 *
 * MUST rules:
 *  - Fail closed: no hub link, an unreachable hub, a malformed answer, an
 *    answer about another request, or anything but "approved" refuses.
 *  - The hub is authenticated on every call (jitsu-hubcall pins it).
 *  - The wait ends at once when the client goes away or cancels; the
 *    request is then cancelled at the hub.
 *  - Every step (submitted, approved with who and why, denied, expired,
 *    cancelled) is recorded in the audit trail.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "approval.h"
#include "hubcall.h"
#include "hublink.h"
#include "jitsu/audit.h"
#include "jitsu/log.h"
#include "trail.h"

#define APPROVAL_POLL 30    /* seconds per long-poll */
#define APPROVAL_RETRIES 60 /* one-second retries while the hub restarts */

static json_t *request_body(struct session *s)
{
	char rule[PATH_MAX + 16];
	json_t *argv = json_array();
	for (uint32_t i = 0; argv && i < s->req.argc; i++) {
		json_t *a = json_string(s->req.argv[i]); /* NULL unless UTF-8 */
		if (!a || json_array_append_new(argv, a) < 0) {
			json_decref(argv);
			return NULL;
		}
	}
	snprintf(rule, sizeof rule, "%s:%u", s->ctx->policy->file, s->decision.rule->line);
	return json_pack("{s:s,s:s,s:o,s:s,s:s,s:s,s:i}", "user", s->peer.user, "host",
			 s->ctx->hostname, "argv", argv, "binary_sha256", s->sha256_hex, "reason",
			 s->req.reason, "rule", rule, "approvals_needed",
			 (int)s->decision.rule->approvals);
}

/* Records an approval event with the hub's view of the request. */
static void record(struct session *s, const char *state, const char *id, json_t *decisions)
{
	char err[256];
	json_t *f =
		json_pack("{s:s,s:s,s:s}", "user", s->peer.user, "request_id", id, "state", state);
	if (f && decisions)
		json_object_set(f, "decisions", decisions);
	trail_event(s, AUDIT_EV_APPROVAL, f, err, sizeof err);
}

static void status_line(struct session *s, const char *id, time_t expires)
{
	char line[256];
	long left = (long)(expires - time(NULL));
	if (left < 0)
		left = 0;
	snprintf(line, sizeof line,
		 "waiting for approval: request %s (%ldm%02lds left, Ctrl-C cancels)", id,
		 left / 60, left % 60);
	proto_send_str(s->sock, PROTO_STATUS, line);
}

/* Who denied and why, from the decisions array. */
static void denial(json_t *req, char *out, size_t len)
{
	json_t *d;
	size_t i;
	snprintf(out, len, "someone");
	json_array_foreach(json_object_get(req, "decisions"), i, d)
	{
		const char *v = json_string_value(json_object_get(d, "verdict"));
		if (v && !strcmp(v, "deny")) {
			const char *who = json_string_value(json_object_get(d, "approver"));
			const char *why = json_string_value(json_object_get(d, "note"));
			snprintf(out, len, "%.64s: %.300s", who ? who : "?", why ? why : "");
		}
	}
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* Cancels at the hub after the client left; best effort. */
static void cancel_at_hub(struct session *s, const struct hublink *l, const char *id)
{
	char path[128], err[256];
	long status;
	json_t *answer = NULL;
	snprintf(path, sizeof path, "/api/v1/endpoint/requests/%s/cancel", id);
	hubcall(l, "POST", path, NULL, 15000, -1, &status, &answer, err, sizeof err);
	json_decref(answer);
	record(s, "cancelled", id, NULL);
}

/* One long-poll. Returns the request's state, or NULL after refusing. */
static const char *wait_once(struct session *s, const struct hublink *l, const char *id,
			     json_t **req)
{
	char path[128], err[512];
	long status = 0;
	snprintf(path, sizeof path, "/api/v1/endpoint/requests/%s?wait=%d", id, APPROVAL_POLL);
	int r = hubcall(l, "GET", path, NULL, (APPROVAL_POLL + 15) * 1000L, s->sock, &status, req,
			err, sizeof err);
	if (r == -ECANCELED)
		return "client-gone";
	if (r == 0 && status == 503) {
		/* The hub is restarting and says so: ask again shortly. */
		json_decref(*req);
		*req = NULL;
		return "retry";
	}
	if (r == 0 && status != 200)
		r = hubclient_error(status, *req, err, sizeof err);
	const char *got = r == 0 ? json_string_value(json_object_get(*req, "id")) : NULL;
	const char *state = r == 0 ? json_string_value(json_object_get(*req, "state")) : NULL;
	if (r == 0 && (!got || strcmp(got, id) != 0 || !state)) {
		snprintf(err, sizeof err, "hub sent a malformed answer");
		r = -EPROTO;
	}
	if (r < 0) {
		record(s, "failed", id, NULL);
		session_refuse(s, PROTO_E_DENIED, "approval failed, refusing: %s", err);
		return NULL;
	}
	return state;
}

static int submit(struct session *s, const struct hublink *l, char id[17], time_t *expires)
{
	char err[512];
	long status = 0;
	json_t *answer = NULL, *body = request_body(s);
	if (!body) {
		session_refuse(s, PROTO_E_DENIED,
			       "approval needs the command line as UTF-8 text; refusing");
		return -1;
	}
	int r = hubcall(l, "POST", "/api/v1/endpoint/requests", body, 15000, -1, &status, &answer,
			err, sizeof err);
	json_decref(body);
	if (r == 0 && status != 201)
		r = hubclient_error(status, answer, err, sizeof err);
	const char *got = r == 0 ? json_string_value(json_object_get(answer, "id")) : NULL;
	json_int_t exp = r == 0 ? json_integer_value(json_object_get(answer, "expires_at")) : 0;
	if (r == 0 && (!got || strlen(got) != 16 || strspn(got, "0123456789abcdef") != 16)) {
		snprintf(err, sizeof err, "hub sent a malformed answer");
		r = -EPROTO;
	}
	if (r == 0)
		memcpy(id, got, 17);
	json_decref(answer);
	if (r < 0) {
		session_refuse(s, PROTO_E_DENIED, "approval required, refusing: %s", err);
		return -1;
	}
	*expires = (time_t)exp;
	record(s, "submitted", id, NULL);
	return 0;
}

int approval_require(struct session *s)
{
	char err[512], id[17], why[400];
	struct hublink link;
	time_t expires;
	int retries = 0;

	int r = hublink_load(s->ctx->cfg->state_dir, &link, err, sizeof err);
	if (r < 0) {
		session_refuse(s, PROTO_E_DENIED, "policy requires approval for %s, %s",
			       s->bin.path,
			       r == -ENOENT ? "and this machine is not enrolled in a hub" : err);
		return -1;
	}
	if (submit(s, &link, id, &expires) < 0) {
		explicit_bzero(link.credential, sizeof link.credential);
		return -1;
	}
	for (;;) {
		json_t *req = NULL;
		status_line(s, id, expires);
		const char *state = wait_once(s, &link, id, &req);
		int done = 1;
		if (!state) {
			r = -1;
		} else if (!strcmp(state, "client-gone")) {
			cancel_at_hub(s, &link, id);
			r = -1;
		} else if (!strcmp(state, "approved")) {
			record(s, "approved", id, json_object_get(req, "decisions"));
			proto_send_str(s->sock, PROTO_STATUS, "");
			r = 0;
		} else if (!strcmp(state, "pending")) {
			done = 0;
		} else if (!strcmp(state, "retry") && ++retries > APPROVAL_RETRIES) {
			record(s, "failed", id, NULL);
			session_refuse(s, PROTO_E_DENIED,
				       "approval failed, refusing: the hub is unavailable");
			r = -1;
		} else if (!strcmp(state, "retry")) {
			struct pollfd p = {s->sock, POLLIN, 0};
			done = poll(&p, 1, 1000) > 0; /* the client left or cancelled */
			if (done) {
				cancel_at_hub(s, &link, id);
				r = -1;
			}
		} else {
			record(s, state, id, json_object_get(req, "decisions"));
			proto_send_str(s->sock, PROTO_STATUS, "");
			if (!strcmp(state, "denied")) {
				denial(req, why, sizeof why);
				session_refuse(s, PROTO_E_DENIED, "request %s denied by %s", id,
					       why);
			} else {
				session_refuse(s, PROTO_E_DENIED, "request %s %s", id,
					       !strcmp(state, "expired")
						       ? "expired without a decision"
						       : "was cancelled at the hub");
			}
			r = -1;
		}
		json_decref(req);
		if (done)
			break;
	}
	explicit_bzero(link.credential, sizeof link.credential);
	return r;
}
