/*
 * api_mfa: central MFA. In fleet mode every endpoint asks the hub to
 * enroll a user and to check each code, so one enrollment serves the whole
 * fleet and replay protection, lockout and recovery codes hold across it.
 * The rules are lib/mfastore.c's, applied here to the state kept in the
 * database (hub/storage_mfa.c) instead of a file. docs/mfa.md has the model.
 *
 * MUST rules:
 *  - Each attempt is decided inside one storage transaction that re-reads
 *    the user's state (storage_mfa_update), and its result is committed
 *    before it is answered: two endpoints racing with one code cannot both
 *    get "ok", and every failure counts toward the one lockout.
 *  - The TOTP secret leaves the hub once, in the enroll answer, for the
 *    endpoint to show to the enrolling user; recovery codes once, in the
 *    confirm answer. Status and list answers never carry either.
 *  - A stored state that does not parse fails closed for that user only
 *    (500, logged); an admin reset clears it.
 *  - Typed codes are wiped after use and never logged.
 *  - States are sealed at rest (hub/mfaseal.h) under the hub's key; one
 *    that does not open is unusable, like one that does not parse.
 */
#include "api_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "jitsu/log.h"
#include "jitsu/mfastore.h"
#include "mfaseal.h"

const struct jsonv_field api_schema_mfa_enroll[] = {
	{"user", JSONV_NAME, 1, 1, STORAGE_NAME_MAX},
};
const size_t api_schema_mfa_enroll_n =
	sizeof api_schema_mfa_enroll / sizeof api_schema_mfa_enroll[0];

const struct jsonv_field api_schema_mfa_code[] = {
	{"user", JSONV_NAME, 1, 1, STORAGE_NAME_MAX},
	{"code", JSONV_TEXT, 1, 1, TOTP_INPUT_MAX},
};
const size_t api_schema_mfa_code_n = sizeof api_schema_mfa_code / sizeof api_schema_mfa_code[0];

/* One operation on a user's state, decided inside the transaction. */
struct mfa_op {
	const struct mfaseal_key *key;
	const char *code; /* typed by the user (confirm, verify) */
	const char *user;
	time_t now;
	int rc;      /* the mfastore result: 0 or -errno */
	int corrupt; /* the stored state does not parse */
	char err[256];
	struct mfastore_verdict v;
	struct mfastore_enrollment en;
	struct mfastore_recovery_codes codes;
};

/* A sentinel for fn: the operation decided "no"; nothing is written. */
#define MFA_DECLINED STORAGE_E_INVALID

/* Opens and parses a stored state of user into *st. 0, or -errno with err. */
static int open_state(const struct mfaseal_key *key, const char *user, const char *sealed,
		      struct mfastore_state *st, char *err, size_t errlen)
{
	char *plain;
	size_t len;
	int r = mfaseal_open(key, user, sealed, &plain, &len, err, errlen);
	if (r == 0) {
		r = mfastore_parse(plain, len, st, err, errlen);
		explicit_bzero(plain, len);
		free(plain);
	}
	return r;
}

static int parse_state(struct mfa_op *op, const char *text, struct mfastore_state *st)
{
	if (open_state(op->key, op->user, text, st, op->err, sizeof op->err) == 0)
		return 0;
	op->corrupt = 1;
	op->rc = -EBADMSG;
	return MFA_DECLINED;
}

/* The sealed text of st, malloc'd into *next. */
static int format_state(struct mfa_op *op, const struct mfastore_state *st, char **next)
{
	char buf[MFASTORE_FILE_MAX];
	int n = mfastore_format(st, buf, sizeof buf);
	*next = NULL;
	if (n > 0 && mfaseal_seal(op->key, op->user, buf, (size_t)n, next) != 0)
		*next = NULL;
	explicit_bzero(buf, sizeof buf);
	if (*next)
		return STORAGE_OK;
	op->rc = -ENOMEM;
	snprintf(op->err, sizeof op->err, "cannot format the state");
	return MFA_DECLINED;
}

static int fn_enroll(void *arg, const char *text, char **next)
{
	struct mfa_op *op = arg;
	struct mfastore_state st;
	int rc = STORAGE_OK;

	memset(&st, 0, sizeof st);
	if (text && (rc = parse_state(op, text, &st)) != STORAGE_OK)
		return rc;
	if (st.phase == MFASTORE_ACTIVE) {
		op->rc = -EEXIST;
		rc = MFA_DECLINED;
	} else if ((op->rc = mfastore_state_begin(&st, op->user, op->now, &op->en, op->err,
						  sizeof op->err)) < 0) {
		rc = MFA_DECLINED;
	} else {
		rc = format_state(op, &st, next);
	}
	mfastore_state_wipe(&st);
	return rc;
}

static int fn_confirm(void *arg, const char *text, char **next)
{
	struct mfa_op *op = arg;
	struct mfastore_state st;
	int rc;

	memset(&st, 0, sizeof st);
	if (!text) {
		op->rc = -ENOENT;
		return MFA_DECLINED;
	}
	if ((rc = parse_state(op, text, &st)) != STORAGE_OK)
		return rc;
	op->rc =
		mfastore_state_confirm(&st, op->code, op->now, &op->codes, op->err, sizeof op->err);
	rc = op->rc == 0 ? format_state(op, &st, next) : MFA_DECLINED;
	mfastore_state_wipe(&st);
	return rc;
}

static int fn_verify(void *arg, const char *text, char **next)
{
	struct mfa_op *op = arg;
	struct mfastore_state st;
	int rc;

	memset(&st, 0, sizeof st);
	if (!text) {
		op->v.result = MFASTORE_NOT_ENROLLED;
		return STORAGE_OK;
	}
	if ((rc = parse_state(op, text, &st)) != STORAGE_OK)
		return rc;
	int dirty = mfastore_state_verify(&st, op->code, op->now, &op->v);
	if (dirty < 0) {
		op->rc = dirty;
		snprintf(op->err, sizeof op->err, "cannot compute the check");
		rc = MFA_DECLINED;
	} else {
		rc = dirty ? format_state(op, &st, next) : STORAGE_OK;
	}
	mfastore_state_wipe(&st);
	return rc;
}

/* Runs fn on the body's user; answers the failures that are not fn's.
 * Returns 0 when fn ran and committed, 1 when fn declined, -1 answered. */
static int run(struct call *c, storage_mfa_fn fn, struct mfa_op *op)
{
	char err[256] = "";
	op->user = api_body_str(c, "user");
	op->now = (time_t)c->now;
	op->key = c->ctx->mfa_key;
	if (!op->key) {
		api_error(c->out, 503, "mfa_unavailable", "this hub has no MFA key");
		return -1;
	}
	int rc = storage_mfa_update(c->ctx->st, op->user, c->out->who, c->now, fn, op, err,
				    sizeof err);
	if (op->corrupt) {
		log_err("mfa: user=%s: stored state unusable: %s", op->user, op->err);
		api_error(c->out, 500, "mfa_state_corrupt",
			  "the hub's MFA state for %s is unusable: an admin must reset it",
			  op->user);
		return -1;
	}
	if (rc == MFA_DECLINED && op->rc < 0)
		return 1;
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return -1;
	}
	return 0;
}

void api_h_ep_mfa_enroll(struct call *c)
{
	struct mfa_op op;

	memset(&op, 0, sizeof op);
	int r = run(c, fn_enroll, &op);
	if (r == 1 && op.rc == -EEXIST)
		api_error(c->out, 409, "already_enrolled",
			  "%s is already enrolled for MFA: an admin can reset it", op.user);
	else if (r == 1)
		api_error(c->out, 500, "internal", "cannot begin the enrollment");
	if (r == 0) {
		log_info("mfa: user=%s began enrollment from endpoint %s", op.user, c->who.ep.id);
		api_reply(c, 201,
			  json_pack("{s:s,s:s,s:s,s:I}", "user", op.user, "uri", op.en.uri,
				    "secret", op.en.secret_b32, "expires_at",
				    (json_int_t)c->now + MFASTORE_PENDING_TTL));
	}
	mfastore_enrollment_wipe(&op.en);
}

void api_h_ep_mfa_confirm(struct call *c)
{
	struct mfa_op op;

	memset(&op, 0, sizeof op);
	op.code = api_body_str(c, "code");
	int r = run(c, fn_confirm, &op);
	if (r == 1) {
		switch (op.rc) {
		case -EINVAL:
		case -EACCES: api_error(c->out, 403, "wrong_code", "wrong code"); break;
		case -ENOENT:
			api_error(c->out, 409, "not_pending", "no enrollment in progress");
			break;
		case -EALREADY:
			api_error(c->out, 409, "already_enrolled", "already enrolled");
			break;
		case -ETIMEDOUT:
			api_error(c->out, 410, "enrollment_expired", "the enrollment expired");
			break;
		default: api_error(c->out, 500, "internal", "cannot confirm the enrollment");
		}
	} else if (r == 0) {
		json_t *a = json_array();
		for (int i = 0; a && i < MFASTORE_RECOVERY_CODES; i++)
			json_array_append_new(a, json_string(op.codes.code[i]));
		log_info("mfa: user=%s enrolled from endpoint %s", op.user, c->who.ep.id);
		api_reply(c, 200, json_pack("{s:s,s:o}", "user", op.user, "recovery_codes", a));
	}
	mfastore_recovery_codes_wipe(&op.codes);
}

static const char *verdict_name(enum mfastore_result r)
{
	switch (r) {
	case MFASTORE_OK:
	case MFASTORE_OK_RECOVERY: return "ok";
	case MFASTORE_WRONG: return "fail";
	case MFASTORE_REPLAY: return "replay";
	case MFASTORE_LOCKED: return "locked";
	case MFASTORE_BAD_INPUT: return "malformed";
	case MFASTORE_NOT_ENROLLED: return "not_enrolled";
	case MFASTORE_STORE_ERROR: break;
	}
	return "error";
}

void api_h_ep_mfa_verify(struct call *c)
{
	struct mfa_op op;

	memset(&op, 0, sizeof op);
	op.code = api_body_str(c, "code");
	int r = run(c, fn_verify, &op);
	if (r == 1) {
		log_err("mfa: user=%s: %s", op.user, op.err);
		api_error(c->out, 500, "internal", "cannot check the code");
	}
	if (r != 0)
		return;
	const struct mfastore_verdict *v = &op.v;
	if (v->result != MFASTORE_OK && v->result != MFASTORE_NOT_ENROLLED)
		log_info("mfa: user=%s %s from endpoint %s", op.user,
			 v->result == MFASTORE_OK_RECOVERY ? "recovery code used"
							   : verdict_name(v->result),
			 c->who.ep.id);
	if (v->lockout_started) {
		char detail[160], aerr[256];
		log_warn("mfa: lockout user=%s for %u s after %d failures, last from endpoint %s "
			 "(%s)",
			 op.user, v->locked_secs, MFASTORE_MAX_FAILS, c->who.ep.id,
			 c->who.ep.hostname);
		/* A lockout may be someone guessing codes across the fleet. The
		 * verdict is committed already; a failure to alert is logged. */
		snprintf(detail, sizeof detail, "user %s locked out for %u s after %d failures",
			 op.user, v->locked_secs, MFASTORE_MAX_FAILS);
		if (alert_raise(c->ctx->st, c->ctx->webhooks, c->who.ep.id, "mfa_lockout", 0,
				detail, c->now, aerr, sizeof aerr) != STORAGE_OK)
			log_err("mfa: cannot raise the lockout alert: %s", aerr);
	}
	json_t *j =
		json_pack("{s:s,s:s,s:s,s:I,s:i,s:i,s:i,s:b}", "user", op.user, "result",
			  verdict_name(v->result), "method",
			  v->result == MFASTORE_OK_RECOVERY ? "recovery" : "totp", "locked_until",
			  (json_int_t)(v->locked_secs ? c->now + v->locked_secs : 0), "locked_secs",
			  (int)v->locked_secs, "recovery_left", (int)v->recovery_left, "fail_count",
			  (int)v->fail_count, "lockout_started", v->lockout_started);
	api_reply(c, 200, j);
}

/* The status of one stored row (never the secret). */
static json_t *status_json(const struct call *c, const struct storage_mfa *m)
{
	struct mfastore_state st;
	struct mfastore_status s;
	char err[256];
	int64_t now = c->now;

	memset(&st, 0, sizeof st);
	int bad = !c->ctx->mfa_key ||
		  open_state(c->ctx->mfa_key, m->user, m->state, &st, err, sizeof err) != 0;
	mfastore_state_status(&st, (time_t)now, &s);
	mfastore_state_wipe(&st);
	if (bad)
		return json_pack("{s:s,s:s,s:s,s:I,s:s}", "user", m->user, "state", "corrupt",
				 "problem", c->ctx->mfa_key ? err : "this hub has no MFA key",
				 "updated_at", (json_int_t)m->updated_at, "updated_by",
				 m->updated_by);
	return json_pack("{s:s,s:s,s:i,s:i,s:i,s:I,s:i,s:I,s:s}", "user", m->user, "state",
			 s.enrolled ? "enrolled" : "pending", "recovery_left", (int)s.recovery_left,
			 "fail_count", (int)s.fail_count, "lockout_level", (int)s.lockout_level,
			 "locked_until", (json_int_t)(s.locked_secs ? s.locked_until : 0),
			 "locked_secs", (int)s.locked_secs, "updated_at", (json_int_t)m->updated_at,
			 "updated_by", m->updated_by);
}

/* The status of user (validated here) in 200, "not_enrolled" if none. */
static void reply_status(struct call *c, const char *user)
{
	struct storage_mfa m;
	char err[256] = "";

	memset(&m, 0, sizeof m);
	if (!user || !jsonv_string_ok(user, JSONV_NAME, 1, STORAGE_NAME_MAX)) {
		api_error(c->out, 400, "schema_violation", "the user: a user name");
		return;
	}
	int rc = storage_mfa_get(c->ctx->st, user, &m, err, sizeof err);
	if (rc == STORAGE_E_NOT_FOUND)
		api_reply(c, 200, json_pack("{s:s,s:s}", "user", user, "state", "not_enrolled"));
	else if (rc != STORAGE_OK)
		api_storage_fail(c, rc, err);
	else
		api_reply(c, 200, status_json(c, &m));
	storage_mfa_clear(&m);
}

void api_h_ep_mfa_status(struct call *c)
{
	reply_status(c, c->in->arg ? c->in->arg(c->in->arg_cls, "user") : NULL);
}

void api_h_mfa_get(struct call *c)
{
	reply_status(c, c->param);
}

void api_h_mfa_list(struct call *c)
{
	struct storage_mfa *list;
	size_t n;
	char err[256] = "";

	int rc = storage_mfa_list(c->ctx->st, &list, &n, err, sizeof err);
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, status_json(c, &list[i]));
	storage_mfa_list_free(list, n);
	api_reply(c, 200, json_pack("{s:o}", "users", a));
}

void api_h_mfa_reset(struct call *c)
{
	char err[256] = "";

	if (!jsonv_string_ok(c->param, JSONV_NAME, 1, STORAGE_NAME_MAX)) {
		api_error(c->out, 404, "not_found", "no such user");
		return;
	}
	int rc = storage_mfa_delete(c->ctx->st, c->param, err, sizeof err);
	if (rc == STORAGE_E_NOT_FOUND) {
		api_error(c->out, 404, "not_enrolled", "%s has no MFA enrollment", c->param);
		return;
	}
	if (rc != STORAGE_OK) {
		api_storage_fail(c, rc, err);
		return;
	}
	log_info("mfa: user=%s reset by %s", c->param, c->who.name);
	api_reply(c, 200, json_pack("{s:s,s:b}", "user", c->param, "reset", 1));
}
