/*
 * storage_request: approval requests and their decisions. The MUST rules
 * are in storage.h: one transaction per decision, the request's row re-read
 * (and locked on PostgreSQL) inside it, distinct approvers by primary key.
 */
#include "storage_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUEST_COLUMNS                                                                            \
	"id, endpoint_id, user_name, host, argv, binary_sha256, reason, rule,"                     \
	" approvals_needed, state, created_at, expires_at, decided_at"

void storage_request_clear(struct storage_request *r)
{
	if (!r)
		return;
	free(r->argv_json);
	free(r->reason);
	free(r->rule);
	for (size_t i = 0; i < r->ndecisions; i++)
		free(r->decisions[i].note);
	free(r->decisions);
	memset(r, 0, sizeof *r);
}

void storage_request_list_free(struct storage_request_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		storage_request_clear(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static int request_from_row(const struct sdb_result *r, size_t row, struct storage_request *q,
			    char *err, size_t errlen)
{
	int64_t needed;

	memset(q, 0, sizeof *q);
	q->argv_json = storage_cell_dup(r, row, 4);
	q->reason = storage_cell_dup(r, row, 6);
	q->rule = storage_cell_dup(r, row, 7);
	if (storage_cell_str(r, row, 0, q->id, sizeof q->id) != 0 ||
	    storage_cell_str(r, row, 1, q->endpoint_id, sizeof q->endpoint_id) != 0 ||
	    storage_cell_str(r, row, 2, q->user, sizeof q->user) != 0 ||
	    storage_cell_str(r, row, 3, q->host, sizeof q->host) != 0 || !q->argv_json ||
	    storage_cell_str(r, row, 5, q->binary_sha256, sizeof q->binary_sha256) != 0 ||
	    !q->reason || !q->rule || storage_cell_i64(r, row, 8, &needed) != 0 || needed < 1 ||
	    needed > STORAGE_MAX_APPROVALS ||
	    storage_state_parse(storage_cell(r, row, 9), &q->state) != 0 ||
	    storage_cell_i64(r, row, 10, &q->created_at) != 0 ||
	    storage_cell_i64(r, row, 11, &q->expires_at) != 0 ||
	    storage_cell_i64(r, row, 12, &q->decided_at) != 0) {
		storage_request_clear(q);
		return storage_corrupt(err, errlen, "requests");
	}
	q->approvals_needed = (int)needed;
	return STORAGE_OK;
}

/* Fills q->decisions from the decisions table, in the order made. */
static int load_decisions(struct storage *st, struct storage_request *q, char *err, size_t errlen)
{
	struct sdb_result r;
	const char *p[] = {q->id};
	int rc = storage_exec(st,
			      "SELECT approver, verdict, note, decided_at FROM decisions"
			      " WHERE request_id = ? ORDER BY seq",
			      p, 1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	if (r.nrows > STORAGE_MAX_APPROVALS) {
		sdb_result_free(&r);
		return storage_corrupt(err, errlen, "decisions");
	}
	q->decisions = calloc(r.nrows ? r.nrows : 1, sizeof *q->decisions);
	if (!q->decisions) {
		sdb_result_free(&r);
		storage_seterr(err, errlen, "out of memory");
		return STORAGE_E_DB;
	}
	for (size_t i = 0; i < r.nrows && rc == STORAGE_OK; i++) {
		struct storage_decision *d = &q->decisions[i];
		const char *verdict = storage_cell(&r, i, 1);
		d->note = storage_cell_dup(&r, i, 2);
		q->ndecisions = i + 1;
		if (storage_cell_str(&r, i, 0, d->approver, sizeof d->approver) != 0 || !verdict ||
		    (strcmp(verdict, "approve") != 0 && strcmp(verdict, "deny") != 0) || !d->note ||
		    storage_cell_i64(&r, i, 3, &d->at) != 0)
			rc = storage_corrupt(err, errlen, "decisions");
		else
			d->approve = strcmp(verdict, "approve") == 0;
	}
	sdb_result_free(&r);
	return rc;
}

int storage_request_add(struct storage *st, const struct storage_request *q, char *err,
			size_t errlen)
{
	char n[STORAGE_I64_LEN], c[STORAGE_I64_LEN], e[STORAGE_I64_LEN];

	if (q->approvals_needed < 1 || q->approvals_needed > STORAGE_MAX_APPROVALS ||
	    !q->argv_json || !q->reason || !q->rule) {
		storage_seterr(err, errlen, "request fields out of range");
		return STORAGE_E_INVALID;
	}
	const char *p[] = {q->id,
			   q->endpoint_id,
			   q->user,
			   q->host,
			   q->argv_json,
			   q->binary_sha256,
			   q->reason,
			   q->rule,
			   storage_i64(n, q->approvals_needed),
			   storage_i64(c, q->created_at),
			   storage_i64(e, q->expires_at)};
	return storage_exec(st,
			    "INSERT INTO requests (" REQUEST_COLUMNS ")"
			    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, NULL)",
			    p, 11, NULL, err, errlen);
}

int storage_expire(struct storage *st, int64_t now, char *err, size_t errlen)
{
	char t[STORAGE_I64_LEN];
	const char *p[] = {storage_i64(t, now)};
	return storage_exec(st,
			    "UPDATE requests SET state = 'expired', decided_at = expires_at"
			    " WHERE state = 'pending' AND expires_at <= ?",
			    p, 1, NULL, err, errlen);
}

/* Reads one request row; lock adds the driver's FOR UPDATE. */
static int request_read(struct storage *st, const char *id, const char *endpoint_id, int lock,
			struct storage_request *out, char *err, size_t errlen)
{
	struct sdb_result r;
	char sql[512];
	const char *p[] = {id, endpoint_id};

	snprintf(sql, sizeof sql, "SELECT " REQUEST_COLUMNS " FROM requests WHERE id = ?%s%s",
		 endpoint_id ? " AND endpoint_id = ?" : "", lock ? st->drv->for_update : "");
	int rc = storage_exec(st, sql, p, endpoint_id ? 2 : 1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	rc = r.nrows == 1 ? request_from_row(&r, 0, out, err, errlen) : STORAGE_E_NOT_FOUND;
	sdb_result_free(&r);
	return rc;
}

/* Moves request id to state at time t, only if it is still pending. */
static int request_finish(struct storage *st, const char *id, const char *state, int64_t t,
			  char *err, size_t errlen)
{
	char ts[STORAGE_I64_LEN];
	const char *p[] = {state, storage_i64(ts, t), id};
	return storage_exec(st,
			    "UPDATE requests SET state = ?, decided_at = ?"
			    " WHERE id = ? AND state = 'pending'",
			    p, 3, NULL, err, errlen);
}

int storage_request_get(struct storage *st, const char *id, const char *endpoint_id, int64_t now,
			struct storage_request *out, char *err, size_t errlen)
{
	int rc = request_read(st, id, endpoint_id, 0, out, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	if (out->state == STORAGE_PENDING && out->expires_at <= now) {
		rc = request_finish(st, id, "expired", out->expires_at, err, errlen);
		if (rc != STORAGE_OK) {
			storage_request_clear(out);
			return rc;
		}
		out->state = STORAGE_EXPIRED;
		out->decided_at = out->expires_at;
	}
	rc = load_decisions(st, out, err, errlen);
	if (rc != STORAGE_OK)
		storage_request_clear(out);
	return rc;
}

int storage_request_list(struct storage *st, int state, size_t limit, int64_t now,
			 struct storage_request_list *out, char *err, size_t errlen)
{
	struct sdb_result r;
	char lim[STORAGE_I64_LEN];

	out->n = 0;
	out->items = NULL;
	if (limit == 0 || limit > STORAGE_LIST_MAX || state > STORAGE_CANCELLED)
		return STORAGE_E_INVALID;
	int rc = storage_expire(st, now, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	const char *sname = state >= 0 ? storage_state_name((enum storage_state)state) : NULL;
	const char *p[] = {sname, storage_i64(lim, (int64_t)limit)};
	rc = storage_exec(st,
			  sname ? "SELECT " REQUEST_COLUMNS " FROM requests WHERE state = ?"
				  " ORDER BY created_at DESC, id LIMIT ?"
				: "SELECT " REQUEST_COLUMNS " FROM requests"
				  " ORDER BY created_at DESC, id LIMIT ?",
			  sname ? p : p + 1, sname ? 2 : 1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	out->items = calloc(r.nrows ? r.nrows : 1, sizeof *out->items);
	if (!out->items)
		rc = STORAGE_E_DB;
	for (size_t i = 0; out->items && i < r.nrows && rc == STORAGE_OK; i++) {
		rc = request_from_row(&r, i, &out->items[i], err, errlen);
		if (rc == STORAGE_OK) {
			out->n = i + 1;
			rc = load_decisions(st, &out->items[i], err, errlen);
		}
	}
	sdb_result_free(&r);
	if (rc != STORAGE_OK)
		storage_request_list_free(out);
	return rc;
}

/*
 * Inside the decision's transaction, with q freshly read (and locked):
 * the checks, the decision row, and the state change if it is final.
 */
static int decide_locked(struct storage *st, const struct storage_request *q, const char *approver,
			 int approve, const char *note, int64_t now, char *err, size_t errlen)
{
	struct sdb_result r;
	char seq[STORAGE_I64_LEN], t[STORAGE_I64_LEN];
	const char *p[] = {q->id};
	size_t approvals = 0;

	if (q->state != STORAGE_PENDING)
		return STORAGE_E_NOT_PENDING;
	if (strcmp(q->user, approver) == 0)
		return STORAGE_E_SELF_APPROVAL;
	int rc = storage_exec(st, "SELECT approver, verdict FROM decisions WHERE request_id = ?", p,
			      1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	for (size_t i = 0; i < r.nrows && rc == STORAGE_OK; i++) {
		const char *who = storage_cell(&r, i, 0), *verdict = storage_cell(&r, i, 1);
		if (!who || !verdict)
			rc = storage_corrupt(err, errlen, "decisions");
		else if (strcmp(who, approver) == 0)
			rc = STORAGE_E_ALREADY_DECIDED;
		else if (strcmp(verdict, "approve") == 0)
			approvals++;
	}
	size_t seqno = r.nrows + 1;
	sdb_result_free(&r);
	if (rc != STORAGE_OK)
		return rc;
	const char *d[] = {q->id,
			   approver,
			   storage_i64(seq, (int64_t)seqno),
			   approve ? "approve" : "deny",
			   note,
			   storage_i64(t, now)};
	rc = storage_exec(
		st,
		"INSERT INTO decisions (request_id, approver, seq, verdict, note, decided_at)"
		" VALUES (?, ?, ?, ?, ?, ?)",
		d, 6, NULL, err, errlen);
	if (rc == STORAGE_E_EXISTS) /* a concurrent decision by the same approver */
		return STORAGE_E_ALREADY_DECIDED;
	if (rc == STORAGE_OK && !approve)
		rc = request_finish(st, q->id, "denied", now, err, errlen);
	else if (rc == STORAGE_OK && approvals + 1 >= (size_t)q->approvals_needed)
		rc = request_finish(st, q->id, "approved", now, err, errlen);
	return rc;
}

int storage_request_decide(struct storage *st, const char *id, const char *approver, int approve,
			   const char *note, int64_t now, struct storage_request *out, char *err,
			   size_t errlen)
{
	struct storage_request q;
	int expired = 0;

	if (!approver || strlen(approver) > STORAGE_NAME_MAX || !note)
		return STORAGE_E_INVALID;
	int rc = storage_begin(st, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	rc = request_read(st, id, NULL, 1, &q, err, errlen);
	if (rc == STORAGE_OK) {
		if (q.state == STORAGE_PENDING && q.expires_at <= now) {
			expired = 1;
			rc = request_finish(st, id, "expired", q.expires_at, err, errlen);
		} else {
			rc = decide_locked(st, &q, approver, approve, note, now, err, errlen);
		}
		storage_request_clear(&q);
	}
	if (rc == STORAGE_OK)
		rc = storage_commit(st, err, errlen);
	if (rc != STORAGE_OK)
		storage_rollback(st);
	if (rc == STORAGE_OK && expired)
		return STORAGE_E_NOT_PENDING;
	if (rc == STORAGE_OK && out)
		rc = storage_request_get(st, id, NULL, now, out, err, errlen);
	return rc;
}

int storage_request_cancel(struct storage *st, const char *id, const char *endpoint_id, int64_t now,
			   struct storage_request *out, char *err, size_t errlen)
{
	struct storage_request q;

	int rc = storage_begin(st, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	rc = request_read(st, id, endpoint_id, 1, &q, err, errlen);
	if (rc == STORAGE_OK) {
		if (q.state != STORAGE_PENDING || q.expires_at <= now)
			rc = STORAGE_E_NOT_PENDING;
		else
			rc = request_finish(st, id, "cancelled", now, err, errlen);
		storage_request_clear(&q);
	}
	if (rc == STORAGE_OK)
		rc = storage_commit(st, err, errlen);
	if (rc != STORAGE_OK)
		storage_rollback(st);
	if (rc == STORAGE_OK && out)
		rc = storage_request_get(st, id, endpoint_id, now, out, err, errlen);
	return rc;
}
