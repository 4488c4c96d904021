/*
 * challenge: the MFA conversations of a session: the code asked before a
 * command with an `mfa` rule runs, enrollment, and the status query.
 *
 * MUST rules:
 *  - The secret never leaves the daemon except once, at enrollment, to
 *    the enrolling user. Codes typed by the user are wiped after the check
 *    and never logged.
 *  - Three tries per request; lockout, replay protection and recovery codes
 *    are the store's (lib/mfastore.c), which works under a per-user lock.
 *  - A store that cannot be read fails closed for that user only.
 *  - Every failure and every lockout is logged.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "challenge.h"
#include "jitsu/audit.h"
#include "jitsu/log.h"
#include "jitsu/mfastore.h"
#include "jitsu/qr.h"
#include "trail.h"

#define CHALLENGE_TRIES 3

static void store_dir(const struct session *s, char *dir, size_t len)
{
	snprintf(dir, len, "%s/%s", s->ctx->cfg->state_dir, MFASTORE_DIRNAME);
}

/* Handles one verdict. Returns 1 for success, 0 to ask again, -1 refused. */
static int verdict(struct session *s, const struct mfastore_verdict *v, const char *err)
{
	const char *user = s->peer.user;
	char detail[128];
	switch (v->result) {
	case MFASTORE_OK: trail_mfa(s, AUDIT_EV_MFA_OK, "totp"); return 1;
	case MFASTORE_OK_RECOVERY:
		snprintf(detail, sizeof detail, "recovery code, %u left", v->recovery_left);
		trail_mfa(s, AUDIT_EV_MFA_OK, detail);
		session_notice(s, "recovery code accepted; %u left", v->recovery_left);
		return 1;
	case MFASTORE_WRONG:
		snprintf(detail, sizeof detail, "wrong code, %u consecutive failures",
			 v->fail_count);
		trail_mfa(s, AUDIT_EV_MFA_FAIL, detail);
		if (v->lockout_started) {
			snprintf(detail, sizeof detail, "locked out for %u s", v->locked_secs);
			trail_mfa(s, AUDIT_EV_MFA_LOCKOUT, detail);
			session_refuse(s, PROTO_E_DENIED,
				       "too many wrong MFA codes: locked out for %u s",
				       v->locked_secs);
			return -1;
		}
		session_notice(s, "wrong code");
		return 0;
	case MFASTORE_REPLAY:
		trail_mfa(s, AUDIT_EV_MFA_FAIL, "replayed a used code");
		session_notice(s, "that code was already used: wait for the next one");
		return 0;
	case MFASTORE_BAD_INPUT:
		session_notice(s, "expected a 6-digit code or a recovery code");
		return 0;
	case MFASTORE_LOCKED:
		snprintf(detail, sizeof detail, "refused while locked out, %u s left",
			 v->locked_secs);
		trail_mfa(s, AUDIT_EV_MFA_FAIL, detail);
		session_refuse(s, PROTO_E_DENIED, "MFA is locked for %s for another %u s", user,
			       v->locked_secs);
		return -1;
	case MFASTORE_NOT_ENROLLED:
		session_refuse(s, PROTO_E_DENIED,
			       "%s has not enrolled for MFA: run jitsu --enroll-mfa", user);
		return -1;
	case MFASTORE_STORE_ERROR: break;
	}
	log_err("mfa: user=%s store error: %s", user, err);
	session_refuse(s, PROTO_E_DENIED, "MFA store for %s is unusable (%s): ask an admin", user,
		       err);
	return -1;
}

int challenge_mfa(struct session *s)
{
	char dir[PATH_MAX], err[256], prompt[512], code[128];
	struct mfastore_status st;
	struct hublink link;

	/* Fleet mode: the hub's MFA, always; the local store is not used. */
	int fleet = challenge_hub_link(s, &link);
	if (fleet != 0) {
		int hr = fleet > 0 ? challenge_hub_mfa(s, &link) : -1;
		explicit_bzero(&link, sizeof link);
		return hr;
	}
	store_dir(s, dir, sizeof dir);
	int r = mfastore_status(dir, s->peer.uid, time(NULL), &st, err, sizeof err);
	if (r < 0 && r != -ENOENT) {
		log_err("mfa: user=%s store error: %s", s->peer.user, err);
		session_refuse(s, PROTO_E_DENIED, "MFA store for %s is unusable (%s): ask an admin",
			       s->peer.user, err);
		return -1;
	}
	if (r == -ENOENT || !st.enrolled) {
		session_refuse(s, PROTO_E_DENIED,
			       "policy requires MFA for %s, and %s has not enrolled: run jitsu "
			       "--enroll-mfa",
			       s->bin.path, s->peer.user);
		return -1;
	}
	snprintf(prompt, sizeof prompt, "jitsu: MFA code for %s@%s: ", s->peer.user,
		 s->ctx->hostname);
	for (int i = 0; i < CHALLENGE_TRIES; i++) {
		struct mfastore_verdict v;
		if (session_ask(s, prompt, 0, code, sizeof code) < 0) {
			log_warn("mfa: user=%s gave no answer", s->peer.user);
			session_refuse(s, PROTO_E_DENIED, "no MFA code given");
			return -1;
		}
		mfastore_verify(dir, s->peer.uid, code, time(NULL), &v, err, sizeof err);
		explicit_bzero(code, sizeof code);
		int done = verdict(s, &v, err);
		if (done)
			return done > 0 ? 0 : -1;
	}
	session_refuse(s, PROTO_E_DENIED, "MFA failed: %d wrong codes", CHALLENGE_TRIES);
	return -1;
}

void challenge_send_recovery_codes(struct session *s, const struct mfastore_recovery_codes *c)
{
	char text[1024];
	size_t off = (size_t)snprintf(text, sizeof text,
				      "MFA enrolled. Recovery codes, each usable once in place "
				      "of a code (shown only now):\n");
	for (int i = 0; i < MFASTORE_RECOVERY_CODES && off < sizeof text; i++)
		off += (size_t)snprintf(text + off, sizeof text - off, "  %s\n", c->code[i]);
	proto_send_str(s->sock, PROTO_TEXT, text);
	explicit_bzero(text, sizeof text);
}

/* Asks for codes until one confirms the pending enrollment. */
static void confirm(struct session *s, const char *dir)
{
	char code[128], err[256];
	struct mfastore_recovery_codes codes;
	for (int i = 0; i < CHALLENGE_TRIES; i++) {
		if (session_ask(s, "jitsu: enter the current code from your authenticator app: ", 0,
				code, sizeof code) < 0) {
			session_refuse(s, PROTO_E_DENIED, "enrollment not confirmed");
			return;
		}
		int r = mfastore_confirm_enroll(dir, s->peer.uid, code, time(NULL), &codes, err,
						sizeof err);
		explicit_bzero(code, sizeof code);
		if (r == 0) {
			trail_mfa(s, "mfa_enroll", "enrolled");
			challenge_send_recovery_codes(s, &codes);
			explicit_bzero(&codes, sizeof codes);
			return;
		}
		if (r != -EACCES && r != -EINVAL) {
			session_refuse(s, PROTO_E_DENIED, "enrollment failed: %s%s", err,
				       r == -ETIMEDOUT ? ": run jitsu --enroll-mfa again" : "");
			return;
		}
		log_warn("mfa: user=%s wrong code while enrolling", s->peer.user);
		session_notice(s, "wrong code");
	}
	session_refuse(s, PROTO_E_DENIED, "enrollment not confirmed: %d wrong codes",
		       CHALLENGE_TRIES);
}

void challenge_enroll(struct session *s, uint32_t flags)
{
	char dir[PATH_MAX], err[256], account[384];
	struct mfastore_enrollment en;
	struct qr_text qr = {0};
	struct proto_buf b;
	struct hublink link;

	int fleet = challenge_hub_link(s, &link);
	if (fleet != 0) {
		if (fleet > 0)
			challenge_hub_enroll(s, &link, flags);
		explicit_bzero(&link, sizeof link);
		return;
	}
	store_dir(s, dir, sizeof dir);
	snprintf(account, sizeof account, "%s@%s", s->peer.user, s->ctx->hostname);
	int r = mfastore_begin_enroll(dir, s->peer.uid, account, time(NULL), &en, err, sizeof err);
	if (r == -EEXIST) {
		session_refuse(
			s, PROTO_E_USAGE,
			"%s is already enrolled: an admin can reset it (jitsuctl mfa reset %s)",
			s->peer.user, s->peer.user);
		return;
	}
	if (r < 0) {
		log_err("mfa: user=%s cannot begin enrollment: %s", s->peer.user, err);
		session_refuse(s, PROTO_E_INTERNAL, "cannot begin enrollment: %s", err);
		return;
	}
	log_info("mfa: user=%s began enrollment", s->peer.user);
	/* Drawn here so that the client, on every elevation's path, need
	 * not load libqrencode. */
	r = qr_render(en.uri, (flags & PROTO_ENROLL_F_ANSI) ? QR_ANSI : 0, &qr);
	proto_buf_init(&b);
	proto_put_str(&b, en.uri);
	proto_put_str(&b, en.secret_b32);
	proto_put_str(&b, r == 0 ? qr.text : "");
	r = b.err ? b.err : proto_send(s->sock, PROTO_OTPAUTH, b.data, b.len, NULL, 0);
	if (b.data)
		explicit_bzero(b.data, b.len);
	proto_buf_free(&b);
	qr_text_free(&qr);
	mfastore_enrollment_wipe(&en);
	if (r == 0)
		confirm(s, dir);
}

void challenge_status(struct session *s)
{
	char dir[PATH_MAX], err[256], text[512];
	struct mfastore_status st;
	struct hublink link;

	int fleet = challenge_hub_link(s, &link);
	if (fleet != 0) {
		if (fleet > 0)
			challenge_hub_status(s, &link);
		explicit_bzero(&link, sizeof link);
		return;
	}
	store_dir(s, dir, sizeof dir);
	int r = mfastore_status(dir, s->peer.uid, time(NULL), &st, err, sizeof err);
	if (r < 0 && r != -ENOENT) {
		session_refuse(s, PROTO_E_INTERNAL,
			       "MFA store for %s is unusable (%s): ask an admin", s->peer.user,
			       err);
		return;
	}
	if (r == -ENOENT || (!st.enrolled && !st.pending)) {
		snprintf(text, sizeof text, "mfa: not enrolled (run jitsu --enroll-mfa)\n");
	} else if (!st.enrolled) {
		snprintf(text, sizeof text, "mfa: enrollment pending confirmation\n");
	} else {
		int n = snprintf(text, sizeof text, "mfa: enrolled\nrecovery codes left: %u\n",
				 st.recovery_left);
		if (st.locked_secs)
			snprintf(text + n, sizeof text - (size_t)n, "locked out: %u s left\n",
				 st.locked_secs);
		else
			snprintf(text + n, sizeof text - (size_t)n,
				 "locked out: no (%u recent failures)\n", st.fail_count);
	}
	proto_send_str(s->sock, PROTO_TEXT, text);
}
