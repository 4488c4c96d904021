/*
 * challenge_hub: the MFA conversations of a session in fleet mode. The
 * endpoint is enrolled in a hub (<statedir>/hub.conf), so the user's
 * enrollment and the whole check live at the hub (hub/api_mfa.c): one
 * enrollment for the fleet, and one replay, lockout and recovery-code
 * state for it. The user's local MFA state on this machine is not used.
 *
 * MUST rules (with challenge.c's):
 *  - Fail closed: no usable link, an unreachable hub, an error answer or
 *    a malformed one refuses, with a one-line reason; the command does
 *    not run.
 *  - Only "ok" from the hub, for the user being asked, lets the command
 *    run. The hub is pinned on every call (jitsu-hubcall).
 *  - This machine never stores the secret: it passes through once, from
 *    the hub's enroll answer to the enrolling user, and is wiped.
 *  - Input that is neither a code nor a recovery code is refused here and
 *    never sent; what is sent is the canonical form, wiped after the call.
 *  - Every verdict is recorded in the local audit trail, saying "hub".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "challenge.h"
#include "hubcall.h"
#include "jitsu/audit.h"
#include "jitsu/log.h"
#include "jitsu/qr.h"
#include "jitsu/totp.h"
#include "trail.h"

#define HUBMFA_TRIES 3
#define HUBMFA_TIMEOUT_MS 15000
#define HUBMFA_NAME_MAX 64 /* the hub's user names (hub/storage.h) */

/* Wipes the text of a JSON string (a code or secret jansson copied). */
static void wipe_string(json_t *s)
{
	const char *t = json_string_value(s);
	if (t)
		explicit_bzero((char *)t, json_string_length(s));
}

/* The hub's user-name shape: [A-Za-z0-9_][A-Za-z0-9_.-]*, at most 64. */
static int hub_name_ok(const char *u)
{
	static const char alnum[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
	size_t n = strlen(u);
	if (n < 1 || n > HUBMFA_NAME_MAX || !strchr(alnum, u[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strchr(alnum, u[i]) && u[i] != '.' && u[i] != '-')
			return 0;
	return 1;
}

int challenge_hub_link(struct session *s, struct hublink *l)
{
	char err[512];
	int r = hublink_load(s->ctx->cfg->state_dir, l, err, sizeof err);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		/* The machine is in a fleet but cannot say where: fail closed
		 * rather than fall back to the local store. */
		log_err("mfa: %s", err);
		session_refuse(s, PROTO_E_DENIED, "MFA needs the hub, and %s", err);
		return -1;
	}
	if (!hub_name_ok(s->peer.user)) {
		session_refuse(s, PROTO_E_DENIED,
			       "the hub's MFA cannot serve the user name %s; refusing",
			       s->peer.user);
		explicit_bzero(l->credential, sizeof l->credential);
		return -1;
	}
	return 1;
}

/*
 * One call; 0 with the answer when the hub answered want, else -1 with the
 * one-line reason in err (and *status, *answer as received, for callers
 * that look at the error code).
 */
static int call(const struct hublink *l, const char *method, const char *path, json_t *body,
		long want, long *status, json_t **answer, char *err, size_t errlen)
{
	*status = 0;
	int r = hubcall(l, method, path, body, HUBMFA_TIMEOUT_MS, -1, status, answer, err, errlen);
	if (r < 0)
		return -1;
	if (*status != want) {
		hubclient_error(*status, *answer, err, errlen);
		return -1;
	}
	return 0;
}

/* The error code of a hub error answer, or "". */
static const char *error_code(json_t *answer)
{
	const char *c =
		json_string_value(json_object_get(json_object_get(answer, "error"), "code"));
	return c ? c : "";
}

/* Asks the hub whether the user is enrolled. 1 enrolled, 0 refused. */
static int enrolled_at_hub(struct session *s, const struct hublink *l)
{
	char path[160], err[512];
	long status;
	json_t *a = NULL;
	snprintf(path, sizeof path, "/api/v1/endpoint/mfa/status?user=%s", s->peer.user);
	int r = call(l, "GET", path, NULL, 200, &status, &a, err, sizeof err);
	const char *state = json_string_value(json_object_get(a, "state"));
	const char *who = json_string_value(json_object_get(a, "user"));
	if (r == 0 && (!state || !who || strcmp(who, s->peer.user) != 0)) {
		snprintf(err, sizeof err, "the hub sent a malformed answer");
		r = -1;
	}
	if (r < 0) {
		log_err("mfa: user=%s hub: %s", s->peer.user, err);
		trail_mfa(s, AUDIT_EV_MFA_FAIL, "hub unavailable");
		session_refuse(s, PROTO_E_DENIED, "MFA needs the hub, which failed: %s", err);
	} else if (strcmp(state, "enrolled") != 0) {
		session_refuse(s, PROTO_E_DENIED,
			       "policy requires MFA for %s, and %s has not enrolled at the hub: "
			       "run jitsu --enroll-mfa",
			       s->bin.path, s->peer.user);
		r = -1;
	}
	json_decref(a);
	return r == 0;
}

/* Acts on the hub's verdict. 1 success, 0 ask again, -1 refused. */
static int hub_verdict(struct session *s, json_t *a)
{
	char detail[160];
	const char *who = json_string_value(json_object_get(a, "user"));
	const char *res = json_string_value(json_object_get(a, "result"));
	const char *method = json_string_value(json_object_get(a, "method"));
	json_int_t left = json_integer_value(json_object_get(a, "recovery_left"));
	json_int_t fails = json_integer_value(json_object_get(a, "fail_count"));
	json_int_t secs = json_integer_value(json_object_get(a, "locked_secs"));
	int started = json_is_true(json_object_get(a, "lockout_started"));

	if (!who || strcmp(who, s->peer.user) != 0 || !res || !method || left < 0 || fails < 0 ||
	    secs < 0 || secs > 86400)
		res = ""; /* malformed: refused below */
	if (!strcmp(res, "ok") && !strcmp(method, "recovery")) {
		snprintf(detail, sizeof detail, "hub: recovery code, %lld left", (long long)left);
		trail_mfa(s, AUDIT_EV_MFA_OK, detail);
		session_notice(s, "recovery code accepted; %lld left", (long long)left);
		return 1;
	}
	if (!strcmp(res, "ok") && !strcmp(method, "totp")) {
		trail_mfa(s, AUDIT_EV_MFA_OK, "hub: totp");
		return 1;
	}
	if (!strcmp(res, "fail")) {
		snprintf(detail, sizeof detail, "hub: wrong code, %lld consecutive failures",
			 (long long)fails);
		trail_mfa(s, AUDIT_EV_MFA_FAIL, detail);
		if (started) {
			snprintf(detail, sizeof detail, "hub: locked out for %lld s",
				 (long long)secs);
			trail_mfa(s, AUDIT_EV_MFA_LOCKOUT, detail);
			session_refuse(s, PROTO_E_DENIED,
				       "too many wrong MFA codes: locked out across the fleet for "
				       "%lld s",
				       (long long)secs);
			return -1;
		}
		session_notice(s, "wrong code");
		return 0;
	}
	if (!strcmp(res, "replay")) {
		trail_mfa(s, AUDIT_EV_MFA_FAIL, "hub: replayed a used code");
		session_notice(s, "that code was already used: wait for the next one");
		return 0;
	}
	if (!strcmp(res, "locked")) {
		snprintf(detail, sizeof detail, "hub: refused while locked out, %lld s left",
			 (long long)secs);
		trail_mfa(s, AUDIT_EV_MFA_FAIL, detail);
		session_refuse(s, PROTO_E_DENIED, "MFA is locked for %s for another %lld s",
			       s->peer.user, (long long)secs);
		return -1;
	}
	if (!strcmp(res, "not_enrolled")) {
		session_refuse(s, PROTO_E_DENIED,
			       "%s has not enrolled for MFA at the hub: run jitsu --enroll-mfa",
			       s->peer.user);
		return -1;
	}
	trail_mfa(s, AUDIT_EV_MFA_FAIL, "hub: malformed answer");
	session_refuse(s, PROTO_E_DENIED, "MFA failed: the hub sent a malformed answer");
	return -1;
}

/* Sends one parsed code to the hub. 1 success, 0 ask again, -1 refused. */
static int verify_once(struct session *s, const struct hublink *l, const char *canon)
{
	char err[512];
	long status;
	json_t *a = NULL;
	json_t *body = json_pack("{s:s,s:s}", "user", s->peer.user, "code", canon);
	int r = body ? call(l, "POST", "/api/v1/endpoint/mfa/verify", body, 200, &status, &a, err,
			    sizeof err)
		     : -1;
	if (!body)
		snprintf(err, sizeof err, "out of memory");
	wipe_string(json_object_get(body, "code"));
	json_decref(body);
	if (r < 0) {
		json_decref(a);
		log_err("mfa: user=%s hub: %s", s->peer.user, err);
		trail_mfa(s, AUDIT_EV_MFA_FAIL, "hub unavailable");
		session_refuse(s, PROTO_E_DENIED, "MFA needs the hub, which failed: %s", err);
		return -1;
	}
	int done = hub_verdict(s, a);
	json_decref(a);
	return done;
}

int challenge_hub_mfa(struct session *s, const struct hublink *l)
{
	char prompt[512], code[128], canon[TOTP_CANON_MAX];

	if (!enrolled_at_hub(s, l))
		return -1;
	snprintf(prompt, sizeof prompt, "jitsu: MFA code for %s@%s: ", s->peer.user,
		 s->ctx->hostname);
	for (int i = 0; i < HUBMFA_TRIES; i++) {
		if (session_ask(s, prompt, 0, code, sizeof code) < 0) {
			log_warn("mfa: user=%s gave no answer", s->peer.user);
			session_refuse(s, PROTO_E_DENIED, "no MFA code given");
			return -1;
		}
		int kind = totp_parse_input(code, strnlen(code, sizeof code), canon);
		explicit_bzero(code, sizeof code);
		if (kind < 0) {
			session_notice(s, "expected a 6-digit code or a recovery code");
			continue;
		}
		int done = verify_once(s, l, canon);
		explicit_bzero(canon, sizeof canon);
		if (done)
			return done > 0 ? 0 : -1;
	}
	session_refuse(s, PROTO_E_DENIED, "MFA failed: %d wrong codes", HUBMFA_TRIES);
	return -1;
}

/* Shows the hub's recovery codes once. 0, or -1 for a malformed answer. */
static int show_codes(struct session *s, json_t *a)
{
	struct mfastore_recovery_codes c;
	json_t *list = json_object_get(a, "recovery_codes"), *v;
	size_t i;
	int bad = json_array_size(list) != MFASTORE_RECOVERY_CODES;

	memset(&c, 0, sizeof c);
	json_array_foreach(list, i, v)
	{
		const char *t = json_string_value(v);
		char canon[TOTP_CANON_MAX];
		if (bad || i >= MFASTORE_RECOVERY_CODES || !t || strlen(t) != TOTP_RECOVERY_LEN ||
		    totp_parse_input(t, strlen(t), canon) != TOTP_INPUT_RECOVERY)
			bad = 1;
		else
			memcpy(c.code[i], t, TOTP_RECOVERY_LEN + 1);
		explicit_bzero(canon, sizeof canon);
		wipe_string(v);
	}
	if (!bad)
		challenge_send_recovery_codes(s, &c);
	mfastore_recovery_codes_wipe(&c);
	return bad ? -1 : 0;
}

/* Asks for codes until the hub confirms the pending enrollment. */
static void confirm(struct session *s, const struct hublink *l)
{
	char code[128], err[512];
	long status;

	for (int i = 0; i < HUBMFA_TRIES; i++) {
		char canon[TOTP_CANON_MAX];
		json_t *a = NULL, *body;
		if (session_ask(s, "jitsu: enter the current code from your authenticator app: ", 0,
				code, sizeof code) < 0) {
			session_refuse(s, PROTO_E_DENIED, "enrollment not confirmed");
			return;
		}
		int kind = totp_parse_input(code, strnlen(code, sizeof code), canon);
		explicit_bzero(code, sizeof code);
		if (kind != TOTP_INPUT_CODE) {
			explicit_bzero(canon, sizeof canon);
			session_notice(s, "expected a 6-digit code");
			continue;
		}
		body = json_pack("{s:s,s:s}", "user", s->peer.user, "code", canon);
		explicit_bzero(canon, sizeof canon);
		status = 0;
		int r = body ? call(l, "POST", "/api/v1/endpoint/mfa/confirm", body, 200, &status,
				    &a, err, sizeof err)
			     : -1;
		if (!body)
			snprintf(err, sizeof err, "out of memory");
		wipe_string(json_object_get(body, "code"));
		json_decref(body);
		if (r == 0 && show_codes(s, a) == 0) {
			trail_mfa(s, "mfa_enroll", "enrolled at the hub");
			json_decref(a);
			return;
		}
		int wrong = r < 0 && status == 403 && !strcmp(error_code(a), "wrong_code");
		json_decref(a);
		if (r == 0) {
			session_refuse(s, PROTO_E_DENIED,
				       "enrollment failed: the hub sent a malformed answer");
			return;
		}
		if (!wrong) {
			session_refuse(s, PROTO_E_DENIED, "enrollment failed: %s%s", err,
				       status == 410 ? ": run jitsu --enroll-mfa again" : "");
			return;
		}
		log_warn("mfa: user=%s wrong code while enrolling", s->peer.user);
		session_notice(s, "wrong code");
	}
	session_refuse(s, PROTO_E_DENIED, "enrollment not confirmed: %d wrong codes", HUBMFA_TRIES);
}

/* Sends the enrollment to the client: URI, base32 secret, QR. */
static int show_enrollment(struct session *s, const char *uri, const char *b32, uint32_t flags)
{
	struct qr_text qr = {0};
	struct proto_buf b;
	int r = qr_render(uri, (flags & PROTO_ENROLL_F_ANSI) ? QR_ANSI : 0, &qr);
	proto_buf_init(&b);
	proto_put_str(&b, uri);
	proto_put_str(&b, b32);
	proto_put_str(&b, r == 0 ? qr.text : "");
	r = b.err ? b.err : proto_send(s->sock, PROTO_OTPAUTH, b.data, b.len, NULL, 0);
	if (b.data)
		explicit_bzero(b.data, b.len);
	proto_buf_free(&b);
	qr_text_free(&qr);
	return r;
}

void challenge_hub_enroll(struct session *s, const struct hublink *l, uint32_t flags)
{
	char err[512];
	long status;
	json_t *a = NULL, *body = json_pack("{s:s}", "user", s->peer.user);
	int r = body ? call(l, "POST", "/api/v1/endpoint/mfa/enroll", body, 201, &status, &a, err,
			    sizeof err)
		     : -1;
	json_decref(body);
	const char *uri = json_string_value(json_object_get(a, "uri"));
	const char *b32 = json_string_value(json_object_get(a, "secret"));
	if (r < 0 && status == 409 && !strcmp(error_code(a), "already_enrolled")) {
		session_refuse(s, PROTO_E_USAGE,
			       "%s is already enrolled at the hub: an admin can reset it "
			       "(jitsuctl --hub URL mfa reset %s)",
			       s->peer.user, s->peer.user);
	} else if (r < 0) {
		log_err("mfa: user=%s cannot begin enrollment at the hub: %s", s->peer.user, err);
		session_refuse(s, PROTO_E_DENIED, "cannot begin enrollment: the hub failed: %s",
			       err);
	} else if (!uri || !b32 || strncmp(uri, "otpauth://totp/", 15) != 0 ||
		   strlen(uri) >= TOTP_URI_MAX || strlen(b32) != TOTP_B32_LEN) {
		session_refuse(s, PROTO_E_DENIED,
			       "cannot begin enrollment: the hub sent a malformed answer");
	} else {
		log_info("mfa: user=%s began enrollment at the hub", s->peer.user);
		r = show_enrollment(s, uri, b32, flags);
		if (r == 0)
			confirm(s, l);
	}
	wipe_string(json_object_get(a, "uri")); /* jansson's copies of the secret */
	wipe_string(json_object_get(a, "secret"));
	json_decref(a);
}

void challenge_hub_status(struct session *s, const struct hublink *l)
{
	char path[160], err[512], text[512];
	long status;
	json_t *a = NULL;
	snprintf(path, sizeof path, "/api/v1/endpoint/mfa/status?user=%s", s->peer.user);
	int r = call(l, "GET", path, NULL, 200, &status, &a, err, sizeof err);
	const char *state = json_string_value(json_object_get(a, "state"));
	json_int_t left = json_integer_value(json_object_get(a, "recovery_left"));
	json_int_t fails = json_integer_value(json_object_get(a, "fail_count"));
	json_int_t secs = json_integer_value(json_object_get(a, "locked_secs"));
	if (r < 0) {
		session_refuse(s, PROTO_E_INTERNAL, "MFA is kept at the hub, which failed: %s",
			       err);
	} else if (!state) {
		session_refuse(s, PROTO_E_INTERNAL, "the hub sent a malformed answer");
	} else if (!strcmp(state, "enrolled")) {
		int n = snprintf(text, sizeof text,
				 "mfa: enrolled (at the hub)\nrecovery codes left: %lld\n",
				 (long long)left);
		if (secs > 0)
			snprintf(text + n, sizeof text - (size_t)n, "locked out: %lld s left\n",
				 (long long)secs);
		else
			snprintf(text + n, sizeof text - (size_t)n,
				 "locked out: no (%lld recent failures)\n", (long long)fails);
		proto_send_str(s->sock, PROTO_TEXT, text);
	} else if (!strcmp(state, "pending")) {
		proto_send_str(s->sock, PROTO_TEXT,
			       "mfa: enrollment pending confirmation (at the hub)\n");
	} else if (!strcmp(state, "not_enrolled")) {
		proto_send_str(s->sock, PROTO_TEXT,
			       "mfa: not enrolled at the hub (run jitsu --enroll-mfa)\n");
	} else {
		session_refuse(s, PROTO_E_INTERNAL,
			       "the hub's MFA state for %s is unusable: ask an admin",
			       s->peer.user);
	}
	json_decref(a);
}
