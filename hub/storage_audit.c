/*
 * storage_audit: shipped audit records, each endpoint's chain head at the
 * hub, alerts and silent endpoints. The checks on a shipped line are the
 * pure hub/auditchain.c; this file decides what is stored and raised. The
 * MUST rules are in storage.h; in particular every ingest batch is one
 * write transaction with the head row re-read (locked on PostgreSQL) in it.
 */
#include "storage_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditchain.h"
#include "jitsu/digest.h"

#define SILENT_SCAN_MAX 500 /* endpoints looked at per scan */

/* ---- alerts ---- */

static int kind_ok(const char *k)
{
	size_t n = strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_");
	return n > 0 && n <= STORAGE_ALERT_KIND_MAX && n == strlen(k);
}

/* Inserts an alert and, if raised is non-NULL, appends a copy of it. */
static int alert_insert(struct storage *st, const char *endpoint_id, const char *kind, int64_t seq,
			const char *detail, int64_t now, struct storage_alert_list *raised,
			char *err, size_t errlen)
{
	struct storage_alert a;
	uint8_t rnd[STORAGE_ID_LEN / 2];
	char s[STORAGE_I64_LEN], t[STORAGE_I64_LEN];

	memset(&a, 0, sizeof a);
	if (!kind_ok(kind) || digest_random(rnd, sizeof rnd) != 0) {
		storage_seterr(err, errlen, "bad alert kind or no randomness");
		return STORAGE_E_INVALID;
	}
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(a.id + 2 * i, 3, "%02x", rnd[i]);
	snprintf(a.endpoint_id, sizeof a.endpoint_id, "%s", endpoint_id ? endpoint_id : "");
	snprintf(a.kind, sizeof a.kind, "%s", kind);
	snprintf(a.detail, sizeof a.detail, "%s", detail ? detail : "");
	a.seq = seq;
	a.created_at = now;
	const char *p[] = {a.id,     a.endpoint_id[0] ? a.endpoint_id : NULL,
			   a.kind,   seq > 0 ? storage_i64(s, seq) : NULL,
			   a.detail, storage_i64(t, now)};
	int rc = storage_exec(st,
			      "INSERT INTO alerts (id, endpoint_id, kind, seq, detail, created_at)"
			      " VALUES (?, ?, ?, ?, ?, ?)",
			      p, 6, NULL, err, errlen);
	if (rc != STORAGE_OK || !raised)
		return rc;
	struct storage_alert *g = realloc(raised->items, (raised->n + 1) * sizeof *g);
	if (!g) {
		storage_seterr(err, errlen, "out of memory");
		return STORAGE_E_DB;
	}
	raised->items = g;
	raised->items[raised->n++] = a;
	return STORAGE_OK;
}

int storage_alert_add(struct storage *st, const char *endpoint_id, const char *kind, int64_t seq,
		      const char *detail, int64_t now, char *err, size_t errlen)
{
	return alert_insert(st, endpoint_id, kind, seq, detail, now, NULL, err, errlen);
}

int storage_alert_raise(struct storage *st, const char *endpoint_id, const char *kind, int64_t seq,
			const char *detail, int64_t now, struct storage_alert_list *raised,
			char *err, size_t errlen)
{
	return alert_insert(st, endpoint_id, kind, seq, detail, now, raised, err, errlen);
}

void storage_alert_list_free(struct storage_alert_list *l)
{
	if (!l)
		return;
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

int storage_alert_list(struct storage *st, int64_t since, const char *kind, size_t limit,
		       struct storage_alert_list *out, char *err, size_t errlen)
{
	struct sdb_result r;
	char sql[512], s[STORAGE_I64_LEN], l[STORAGE_I64_LEN];
	const char *p[3];
	size_t np = 0;

	memset(out, 0, sizeof *out);
	if (limit == 0 || limit > STORAGE_LIST_MAX)
		return STORAGE_E_INVALID;
	/* Conditions are added as needed: PostgreSQL cannot type "? IS NULL". */
	p[np++] = storage_i64(s, since);
	if (kind)
		p[np++] = kind;
	p[np++] = storage_i64(l, (int64_t)limit);
	snprintf(sql, sizeof sql,
		 "SELECT a.id, a.endpoint_id, a.kind, a.seq, a.detail, a.created_at,"
		 " e.hostname FROM alerts a LEFT JOIN endpoints e ON e.id = a.endpoint_id"
		 " WHERE a.created_at >= ?%s ORDER BY a.created_at DESC, a.id LIMIT ?",
		 kind ? " AND a.kind = ?" : "");
	int rc = storage_exec(st, sql, p, np, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	out->items = calloc(r.nrows ? r.nrows : 1, sizeof *out->items);
	if (!out->items)
		rc = STORAGE_E_DB;
	for (size_t i = 0; out->items && i < r.nrows && rc == STORAGE_OK; i++) {
		struct storage_alert *a = &out->items[i];
		const char *ep = storage_cell(&r, i, 1), *host = storage_cell(&r, i, 6);
		if (storage_cell_str(&r, i, 0, a->id, sizeof a->id) != 0 ||
		    (ep &&
		     storage_cell_str(&r, i, 1, a->endpoint_id, sizeof a->endpoint_id) != 0) ||
		    storage_cell_str(&r, i, 2, a->kind, sizeof a->kind) != 0 ||
		    storage_cell_i64(&r, i, 3, &a->seq) != 0 ||
		    storage_cell_str(&r, i, 4, a->detail, sizeof a->detail) != 0 ||
		    storage_cell_i64(&r, i, 5, &a->created_at) != 0 ||
		    (host && storage_cell_str(&r, i, 6, a->hostname, sizeof a->hostname) != 0))
			rc = storage_corrupt(err, errlen, "alerts");
		else
			out->n = i + 1;
	}
	sdb_result_free(&r);
	if (rc != STORAGE_OK)
		storage_alert_list_free(out);
	return rc;
}

/* ---- ingest ---- */

/* The endpoint's head, read (and locked) inside the transaction. */
static int head_read(struct storage *st, const char *endpoint_id, struct auditchain_head *h,
		     char *err, size_t errlen)
{
	struct sdb_result r;
	char sql[160];
	const char *p[] = {endpoint_id};

	memset(h, 0, sizeof *h);
	snprintf(sql, sizeof sql, "SELECT seq, hash FROM audit_heads WHERE endpoint_id = ?%s",
		 st->drv->for_update);
	int rc = storage_exec(st, sql, p, 1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	if (r.nrows == 1 && storage_cell(&r, 0, 0)) {
		h->have = 1;
		if (storage_cell_i64(&r, 0, 0, &h->seq) != 0 || h->seq < 1 ||
		    (storage_cell(&r, 0, 1) &&
		     storage_cell_str(&r, 0, 1, h->hash, sizeof h->hash) != 0))
			rc = storage_corrupt(err, errlen, "audit_heads");
	}
	sdb_result_free(&r);
	return rc;
}

static int head_write(struct storage *st, const char *endpoint_id, const struct auditchain_head *h,
		      int64_t now, char *err, size_t errlen)
{
	char s[STORAGE_I64_LEN], t[STORAGE_I64_LEN];
	const char *p[] = {endpoint_id, storage_i64(s, h->seq), h->hash, storage_i64(t, now), s, t};
	/* What was shipped exists locally: the last known seq is at least that. */
	return storage_exec(
		st,
		"INSERT INTO audit_heads (endpoint_id, seq, hash, shipped_at, known_seq,"
		" known_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (endpoint_id) DO UPDATE"
		" SET seq = excluded.seq, hash = excluded.hash,"
		" shipped_at = excluded.shipped_at,"
		" known_at = CASE WHEN audit_heads.known_seq IS NULL"
		"  OR audit_heads.known_seq < excluded.seq THEN excluded.known_at"
		"  ELSE audit_heads.known_at END,"
		" known_seq = CASE WHEN audit_heads.known_seq IS NULL"
		"  OR audit_heads.known_seq < excluded.seq THEN excluded.seq"
		"  ELSE audit_heads.known_seq END",
		p, 6, NULL, err, errlen);
}

/* For a line behind the head: 1 if these very bytes are stored at its seq
 * (a repeat), 0 if other bytes are (*other set) or none (*other clear). */
static int stored_already(struct storage *st, const char *endpoint_id,
			  const struct auditchain_rec *r, int *other, int *same, char *err,
			  size_t errlen)
{
	struct sdb_result res;
	char s[STORAGE_I64_LEN];
	const char *p[] = {endpoint_id, storage_i64(s, r->seq)};

	*other = *same = 0;
	int rc = storage_exec(
		st, "SELECT line_sha FROM audit_records WHERE endpoint_id = ? AND seq = ?", p, 2,
		&res, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	for (size_t i = 0; i < res.nrows; i++) {
		const char *sha = storage_cell(&res, i, 0);
		if (sha && strcmp(sha, r->line_sha) == 0)
			*same = 1;
		else
			*other = 1;
	}
	sdb_result_free(&res);
	return STORAGE_OK;
}

/* Inserts the line; *fresh says whether it was new. */
static int record_insert(struct storage *st, const char *endpoint_id,
			 const struct auditchain_rec *r, const char *flag, const char *raw,
			 int64_t now, int *fresh, char *err, size_t errlen)
{
	struct sdb_result res;
	char s[STORAGE_I64_LEN], t[STORAGE_I64_LEN], n[STORAGE_I64_LEN];
	const char *p[] = {endpoint_id,
			   storage_i64(s, r->seq),
			   r->line_sha,
			   r->hash,
			   storage_i64(t, r->time_us),
			   r->event,
			   r->user[0] ? r->user : NULL,
			   r->host,
			   flag,
			   raw,
			   storage_i64(n, now)};
	int rc =
		storage_exec(st,
			     "INSERT INTO audit_records (endpoint_id, seq, line_sha, hash, time_us,"
			     " event, user_name, host, flag, raw, received_at)"
			     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
			     " ON CONFLICT (endpoint_id, seq, line_sha) DO NOTHING",
			     p, 11, &res, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	*fresh = res.changes > 0;
	sdb_result_free(&res);
	return STORAGE_OK;
}

/* One line, in the ingest transaction: place, flag, store, alert. */
static int ingest_one(struct storage *st, const char *endpoint_id, struct auditchain_head *h,
		      const struct auditchain_rec *r, const char *raw, int64_t now,
		      struct storage_alert_list *raised, char *err, size_t errlen)
{
	char pos[STORAGE_ALERT_DETAIL_MAX] = "";
	const char *flag = NULL, *pos_kind = NULL;
	int other = 0, same = 0, fresh = 0, rc = STORAGE_OK;

	switch (auditchain_place(h, r)) {
	case AUDITCHAIN_NEXT: break;
	case AUDITCHAIN_BROKEN:
		flag = "broken", pos_kind = "audit_hash";
		snprintf(pos, sizeof pos, "seq %lld: prev is not the hash of seq %lld",
			 (long long)r->seq, (long long)h->seq);
		break;
	case AUDITCHAIN_GAP:
		flag = "gap", pos_kind = "audit_gap";
		snprintf(pos, sizeof pos, "seq %lld..%lld never reached the hub",
			 (long long)(h->have ? h->seq + 1 : 1), (long long)(r->seq - 1));
		break;
	case AUDITCHAIN_BEHIND:
		rc = stored_already(st, endpoint_id, r, &other, &same, err, errlen);
		if (rc != STORAGE_OK || same)
			return rc; /* a repeat: accepted silently */
		flag = other ? "fork" : "rewind";
		pos_kind = other ? "audit_fork" : "audit_rewind";
		snprintf(pos, sizeof pos,
			 other ? "seq %lld arrived again with other contents (head %lld)"
			       : "seq %lld is behind the head %lld and was never stored",
			 (long long)r->seq, (long long)h->seq);
		break;
	}
	if (r->validity == AUDITCHAIN_BAD_HASH)
		flag = "hash";
	else if (r->validity == AUDITCHAIN_UNREADABLE)
		flag = "unreadable";
	rc = record_insert(st, endpoint_id, r, flag, raw, now, &fresh, err, errlen);
	if (rc == STORAGE_OK && fresh && pos_kind)
		rc = alert_insert(st, endpoint_id, pos_kind, r->seq, pos, now, raised, err, errlen);
	if (rc == STORAGE_OK && fresh && r->validity != AUDITCHAIN_VALID)
		rc = alert_insert(st, endpoint_id,
				  r->validity == AUDITCHAIN_BAD_HASH ? "audit_hash"
								     : "audit_tamper",
				  r->seq, r->why, now, raised, err, errlen);
	if (rc == STORAGE_OK && fresh && strcmp(r->event, "breakglass") == 0)
		rc = alert_insert(st, endpoint_id, "breakglass_used", r->seq,
				  r->user[0] ? r->user : "break-glass used", now, raised, err,
				  errlen);
	/* The chain continues from the stored line, whatever its flag. */
	h->have = 1;
	h->seq = r->seq;
	snprintf(h->hash, sizeof h->hash, "%s", r->hash);
	return rc;
}

int storage_audit_ingest(struct storage *st, const char *endpoint_id, int64_t after_seq,
			 const char *const *lines, const size_t *lens, size_t n, int64_t now,
			 int64_t *acked_seq, struct storage_alert_list *raised, char *err,
			 size_t errlen)
{
	struct auditchain_head h;
	struct auditchain_rec *r = malloc(sizeof *r);
	int64_t prev = after_seq;

	memset(raised, 0, sizeof *raised);
	*acked_seq = after_seq;
	if (!r) {
		storage_seterr(err, errlen, "out of memory");
		return STORAGE_E_DB;
	}
	int rc = storage_begin(st, err, errlen);
	if (rc == STORAGE_OK)
		rc = head_read(st, endpoint_id, &h, err, errlen);
	for (size_t i = 0; i < n && rc == STORAGE_OK; i++) {
		auditchain_read(lines[i], lens[i], prev, r);
		rc = ingest_one(st, endpoint_id, &h, r, lines[i], now, raised, err, errlen);
		prev = r->seq;
	}
	if (rc == STORAGE_OK && n > 0)
		rc = head_write(st, endpoint_id, &h, now, err, errlen);
	if (rc == STORAGE_OK)
		rc = storage_commit(st, err, errlen);
	free(r);
	if (rc != STORAGE_OK) {
		storage_rollback(st);
		storage_alert_list_free(raised);
		return rc;
	}
	*acked_seq = prev;
	return STORAGE_OK;
}

/* The last known seq before this heartbeat: -1 if none. */
static int known_read(struct storage *st, const char *endpoint_id, int64_t *known, char *err,
		      size_t errlen)
{
	struct sdb_result r;
	const char *p[] = {endpoint_id};

	*known = -1;
	int rc = storage_exec(st, "SELECT known_seq FROM audit_heads WHERE endpoint_id = ?", p, 1,
			      &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	if (r.nrows == 1 && storage_cell(&r, 0, 0) && storage_cell_i64(&r, 0, 0, known) != 0)
		rc = storage_corrupt(err, errlen, "audit_heads");
	sdb_result_free(&r);
	return rc;
}

int storage_audit_known(struct storage *st, const char *endpoint_id, int64_t known_seq,
			int64_t shipped_seq, int64_t now, struct storage_alert_list *raised,
			char *err, size_t errlen)
{
	char s[STORAGE_I64_LEN], t[STORAGE_I64_LEN], why[STORAGE_ALERT_DETAIL_MAX];
	const char *p[] = {endpoint_id, storage_i64(s, known_seq), storage_i64(t, now)};
	struct auditchain_head h = {0};
	int64_t before = -1;

	memset(raised, 0, sizeof *raised);
	int rc = storage_begin(st, err, errlen);
	if (rc == STORAGE_OK)
		rc = head_read(st, endpoint_id, &h, err, errlen); /* locks the row */
	if (rc == STORAGE_OK)
		rc = known_read(st, endpoint_id, &before, err, errlen);
	if (rc == STORAGE_OK)
		rc = storage_exec(st,
				  "INSERT INTO audit_heads (endpoint_id, known_seq, known_at)"
				  " VALUES (?, ?, ?) ON CONFLICT (endpoint_id) DO UPDATE SET"
				  " known_seq = excluded.known_seq, known_at = excluded.known_at",
				  p, 3, NULL, err, errlen);
	/* Shipping makes known >= head; falling below it, and below what the
	 * endpoint itself knows it shipped, is news once. */
	if (rc == STORAGE_OK && h.have && known_seq < h.seq && known_seq < shipped_seq &&
	    (before < 0 || before >= h.seq)) {
		snprintf(why, sizeof why,
			 "the endpoint's trail ends at seq %lld but the hub holds up to seq %lld:"
			 " the local trail was rewound or wiped",
			 (long long)known_seq, (long long)h.seq);
		rc = alert_insert(st, endpoint_id, "audit_rewind", known_seq + 1, why, now, raised,
				  err, errlen);
	}
	if (rc == STORAGE_OK)
		rc = storage_commit(st, err, errlen);
	if (rc != STORAGE_OK) {
		storage_rollback(st);
		storage_alert_list_free(raised);
	}
	return rc;
}

/* ---- lag and search ---- */

int storage_audit_lag_list(struct storage *st, struct storage_audit_lag **out, size_t *n, char *err,
			   size_t errlen)
{
	struct sdb_result r;
	char lim[STORAGE_I64_LEN];
	const char *p[] = {storage_i64(lim, STORAGE_LIST_MAX)};

	*out = NULL;
	*n = 0;
	int rc = storage_exec(st,
			      "SELECT e.id, e.hostname, h.seq, h.known_seq, h.shipped_at,"
			      " h.known_at, e.last_seen, e.revoked_at FROM endpoints e"
			      " LEFT JOIN audit_heads h ON h.endpoint_id = e.id"
			      " ORDER BY e.enrolled_at, e.id LIMIT ?",
			      p, 1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	struct storage_audit_lag *l = calloc(r.nrows ? r.nrows : 1, sizeof *l);
	if (!l)
		rc = STORAGE_E_DB;
	for (size_t i = 0; l && i < r.nrows && rc == STORAGE_OK; i++) {
		if (storage_cell_str(&r, i, 0, l[i].endpoint_id, sizeof l[i].endpoint_id) != 0 ||
		    storage_cell_str(&r, i, 1, l[i].hostname, sizeof l[i].hostname) != 0 ||
		    storage_cell_i64(&r, i, 2, &l[i].shipped_seq) != 0 ||
		    storage_cell_i64(&r, i, 3, &l[i].known_seq) != 0 ||
		    storage_cell_i64(&r, i, 4, &l[i].shipped_at) != 0 ||
		    storage_cell_i64(&r, i, 5, &l[i].known_at) != 0 ||
		    storage_cell_i64(&r, i, 6, &l[i].last_seen) != 0 ||
		    storage_cell_i64(&r, i, 7, &l[i].revoked_at) != 0)
			rc = storage_corrupt(err, errlen, "audit_heads");
	}
	if (rc == STORAGE_OK) {
		*out = l;
		*n = r.nrows;
	} else {
		free(l);
	}
	sdb_result_free(&r);
	return rc;
}

void storage_audit_rows_free(struct storage_audit_rows *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->items && i < r->n; i++)
		free(r->items[i].raw);
	free(r->items);
	r->items = NULL;
	r->n = 0;
}

static int row_from(const struct sdb_result *r, size_t row, struct storage_audit_row *a)
{
	const char *user = storage_cell(r, row, 4), *flag = storage_cell(r, row, 6);
	a->raw = storage_cell_dup(r, row, 7);
	return !a->raw || storage_cell_str(r, row, 0, a->endpoint_id, sizeof a->endpoint_id) != 0 ||
			       storage_cell_i64(r, row, 1, &a->seq) != 0 ||
			       storage_cell_i64(r, row, 2, &a->time_us) != 0 ||
			       storage_cell_str(r, row, 3, a->event, sizeof a->event) != 0 ||
			       (user &&
				storage_cell_str(r, row, 4, a->user, sizeof a->user) != 0) ||
			       storage_cell_str(r, row, 5, a->host, sizeof a->host) != 0 ||
			       (flag && storage_cell_str(r, row, 6, a->flag, sizeof a->flag) != 0)
		       ? -1
		       : 0;
}

/* Appends " AND column = ?" with its value when the value is given. */
static void cond(char *sql, size_t size, const char **p, size_t *np, const char *column,
		 const char *op, const char *value)
{
	size_t n = strlen(sql);
	if (!value || !value[0])
		return;
	snprintf(sql + n, size - n, " AND %s %s ?", column, op);
	p[(*np)++] = value;
}

int storage_audit_search(struct storage *st, const struct storage_audit_query *q,
			 struct storage_audit_rows *out, char *err, size_t errlen)
{
	struct sdb_result r;
	char sql[768], since[STORAGE_I64_LEN], until[STORAGE_I64_LEN], lim[STORAGE_I64_LEN];
	const char *p[8];
	size_t np = 0;

	memset(out, 0, sizeof *out);
	if (q->limit == 0 || q->limit > STORAGE_LIST_MAX || q->since < 0 || q->until < 0 ||
	    q->since > INT64_MAX / 2000000 || q->until > INT64_MAX / 2000000)
		return STORAGE_E_INVALID;
	snprintf(sql, sizeof sql,
		 "SELECT endpoint_id, seq, time_us, event, user_name, host, flag, raw"
		 " FROM audit_records WHERE time_us >= ?");
	p[np++] = storage_i64(since, q->since * 1000000);
	cond(sql, sizeof sql, p, &np, "time_us",
	     "<=", q->until ? storage_i64(until, q->until * 1000000 + 999999) : NULL);
	cond(sql, sizeof sql, p, &np, "host", "=", q->host);
	cond(sql, sizeof sql, p, &np, "user_name", "=", q->user);
	cond(sql, sizeof sql, p, &np, "event", "=", q->event);
	cond(sql, sizeof sql, p, &np, "endpoint_id", "=", q->endpoint_id);
	size_t n = strlen(sql);
	snprintf(sql + n, sizeof sql - n, " ORDER BY time_us DESC, endpoint_id, seq DESC LIMIT ?");
	p[np++] = storage_i64(lim, (int64_t)q->limit);
	int rc = storage_exec(st, sql, p, np, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	out->items = calloc(r.nrows ? r.nrows : 1, sizeof *out->items);
	if (!out->items)
		rc = STORAGE_E_DB;
	/* Newest first from the database; oldest first to the caller. */
	for (size_t i = 0; out->items && i < r.nrows && rc == STORAGE_OK; i++) {
		out->n = i + 1;
		if (row_from(&r, r.nrows - 1 - i, &out->items[i]) != 0)
			rc = storage_corrupt(err, errlen, "audit_records");
	}
	sdb_result_free(&r);
	if (rc != STORAGE_OK)
		storage_audit_rows_free(out);
	return rc;
}

/* ---- silent endpoints ---- */

/* Raises the alert for one endpoint unless another hub did already. */
static int silent_one(struct storage *st, const char *id, const char *host, int64_t last_seen,
		      int64_t cutoff, int64_t now, struct storage_alert_list *raised, char *err,
		      size_t errlen)
{
	struct sdb_result r;
	char t[STORAGE_I64_LEN], c[STORAGE_I64_LEN], detail[96];
	const char *p[] = {storage_i64(t, now), id, storage_i64(c, cutoff)};

	int rc = storage_begin(st, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	rc = storage_exec(st,
			  "UPDATE endpoints SET silent_alert_at = ? WHERE id = ?"
			  " AND revoked_at IS NULL AND last_seen < ?"
			  " AND (silent_alert_at IS NULL OR silent_alert_at <= last_seen)",
			  p, 3, &r, err, errlen);
	if (rc == STORAGE_OK) {
		long changed = r.changes;
		sdb_result_free(&r);
		snprintf(detail, sizeof detail, "not seen for %lld s",
			 (long long)(now - last_seen));
		if (changed == 1)
			rc = alert_insert(st, id, "endpoint_silent", 0, detail, now, raised, err,
					  errlen);
		if (rc == STORAGE_OK && changed == 1)
			snprintf(raised->items[raised->n - 1].hostname,
				 sizeof raised->items[0].hostname, "%s", host);
	}
	if (rc == STORAGE_OK)
		rc = storage_commit(st, err, errlen);
	if (rc != STORAGE_OK)
		storage_rollback(st);
	return rc;
}

int storage_silent_scan(struct storage *st, int64_t cutoff, int64_t now,
			struct storage_alert_list *raised, char *err, size_t errlen)
{
	struct sdb_result r;
	char c[STORAGE_I64_LEN], lim[STORAGE_I64_LEN];
	const char *p[] = {storage_i64(c, cutoff), storage_i64(lim, SILENT_SCAN_MAX)};

	memset(raised, 0, sizeof *raised);
	int rc = storage_exec(
		st,
		"SELECT id, last_seen, hostname FROM endpoints WHERE revoked_at IS NULL"
		" AND last_seen < ?"
		" AND (silent_alert_at IS NULL OR silent_alert_at <= last_seen)"
		" ORDER BY last_seen LIMIT ?",
		p, 2, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	for (size_t i = 0; i < r.nrows && rc == STORAGE_OK; i++) {
		char id[STORAGE_ID_LEN + 1], host[STORAGE_HOST_MAX + 1];
		int64_t seen;
		if (storage_cell_str(&r, i, 0, id, sizeof id) != 0 ||
		    storage_cell_i64(&r, i, 1, &seen) != 0 ||
		    storage_cell_str(&r, i, 2, host, sizeof host) != 0)
			rc = storage_corrupt(err, errlen, "endpoints");
		else
			rc = silent_one(st, id, host, seen, cutoff, now, raised, err, errlen);
	}
	sdb_result_free(&r);
	if (rc != STORAGE_OK)
		storage_alert_list_free(raised);
	return rc;
}
