/*
 * storage_mfa: the hub's copy of each user's MFA state (central MFA, see
 * docs/mfa.md). The state is the text of lib/mfastore.c's format, which
 * storage keeps as an opaque value: the rules (lockout, replay, recovery
 * codes) are applied by the caller, inside the transaction opened here.
 *
 * MUST rules (with those of storage.h):
 *  - Every change of a user's state is one write transaction that re-reads
 *    the row first (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE
 *    serialises writers), so two endpoints racing with one code are
 *    decided one after the other, and the second sees the first's step.
 *  - The state holds the TOTP secret: cell buffers that held it are wiped
 *    before they are freed, and it never appears in an error message.
 */
#include "storage_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Wipes the text cells of r (they may hold a secret), then frees r. */
static void result_wipe_free(struct sdb_result *r)
{
	for (size_t i = 0; i < r->nrows * r->ncols; i++)
		if (r->cells[i])
			explicit_bzero(r->cells[i], strlen(r->cells[i]));
	sdb_result_free(r);
}

void storage_mfa_clear(struct storage_mfa *m)
{
	if (!m)
		return;
	if (m->state) {
		explicit_bzero(m->state, strlen(m->state));
		free(m->state);
	}
	memset(m, 0, sizeof *m);
}

void storage_mfa_list_free(struct storage_mfa *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		storage_mfa_clear(&list[i]);
	free(list);
}

static int mfa_from_row(const struct sdb_result *r, size_t row, struct storage_mfa *m, char *err,
			size_t errlen)
{
	memset(m, 0, sizeof *m);
	m->state = storage_cell_dup(r, row, 1);
	if (storage_cell_str(r, row, 0, m->user, sizeof m->user) != 0 || !m->state ||
	    strlen(m->state) > STORAGE_MFA_STATE_MAX ||
	    storage_cell_i64(r, row, 2, &m->updated_at) != 0 ||
	    storage_cell_str(r, row, 3, m->updated_by, sizeof m->updated_by) != 0) {
		storage_mfa_clear(m);
		return storage_corrupt(err, errlen, "mfa_users");
	}
	return STORAGE_OK;
}

#define MFA_COLUMNS "user_name, state, updated_at, updated_by"

/* Reads user's row (lock: the driver's FOR UPDATE). NOT_FOUND if none. */
static int mfa_read(struct storage *st, const char *user, int lock, struct storage_mfa *out,
		    char *err, size_t errlen)
{
	struct sdb_result r;
	char sql[256];
	const char *p[] = {user};

	snprintf(sql, sizeof sql, "SELECT " MFA_COLUMNS " FROM mfa_users WHERE user_name = ?%s",
		 lock ? st->drv->for_update : "");
	int rc = storage_exec(st, sql, p, 1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	rc = r.nrows == 1 ? mfa_from_row(&r, 0, out, err, errlen) : STORAGE_E_NOT_FOUND;
	result_wipe_free(&r);
	return rc;
}

int storage_mfa_get(struct storage *st, const char *user, struct storage_mfa *out, char *err,
		    size_t errlen)
{
	memset(out, 0, sizeof *out);
	return mfa_read(st, user, 0, out, err, errlen);
}

int storage_mfa_list(struct storage *st, struct storage_mfa **out, size_t *n, char *err,
		     size_t errlen)
{
	struct sdb_result r;
	char lim[STORAGE_I64_LEN];
	const char *p[] = {storage_i64(lim, STORAGE_LIST_MAX)};

	*out = NULL;
	*n = 0;
	int rc =
		storage_exec(st, "SELECT " MFA_COLUMNS " FROM mfa_users ORDER BY user_name LIMIT ?",
			     p, 1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	struct storage_mfa *m = calloc(r.nrows ? r.nrows : 1, sizeof *m);
	if (!m) {
		storage_seterr(err, errlen, "out of memory");
		rc = STORAGE_E_DB;
	}
	for (size_t i = 0; m && i < r.nrows && rc == STORAGE_OK; i++)
		rc = mfa_from_row(&r, i, &m[i], err, errlen);
	if (rc == STORAGE_OK) {
		*out = m;
		*n = r.nrows;
	} else {
		storage_mfa_list_free(m, r.nrows);
	}
	result_wipe_free(&r);
	return rc;
}

/* Writes next as user's state: an update when the row existed, else an
 * insert (a concurrent insert makes it STORAGE_E_EXISTS). */
static int mfa_write(struct storage *st, const char *user, int existed, const char *next,
		     const char *by, int64_t now, char *err, size_t errlen)
{
	char t[STORAGE_I64_LEN];
	if (existed) {
		const char *p[] = {next, storage_i64(t, now), by, user};
		return storage_exec(st,
				    "UPDATE mfa_users SET state = ?, updated_at = ?, updated_by = ?"
				    " WHERE user_name = ?",
				    p, 4, NULL, err, errlen);
	}
	const char *p[] = {user, next, storage_i64(t, now), by};
	return storage_exec(st, "INSERT INTO mfa_users (" MFA_COLUMNS ") VALUES (?, ?, ?, ?)", p, 4,
			    NULL, err, errlen);
}

int storage_mfa_update(struct storage *st, const char *user, const char *by, int64_t now,
		       storage_mfa_fn fn, void *arg, char *err, size_t errlen)
{
	struct storage_mfa cur;
	char *next = NULL;

	if (strlen(user) > STORAGE_NAME_MAX || strlen(by) >= sizeof cur.updated_by) {
		storage_seterr(err, errlen, "mfa fields out of range");
		return STORAGE_E_INVALID;
	}
	int rc = storage_begin(st, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	rc = mfa_read(st, user, 1, &cur, err, errlen);
	int existed = rc == STORAGE_OK;
	if (rc == STORAGE_OK || rc == STORAGE_E_NOT_FOUND)
		rc = fn(arg, existed ? cur.state : NULL, &next);
	if (rc == STORAGE_OK && next && strlen(next) > STORAGE_MFA_STATE_MAX) {
		storage_seterr(err, errlen, "mfa state too long");
		rc = STORAGE_E_INVALID;
	}
	if (rc == STORAGE_OK && next)
		rc = mfa_write(st, user, existed, next, by, now, err, errlen);
	if (rc == STORAGE_OK)
		rc = storage_commit(st, err, errlen);
	if (rc != STORAGE_OK)
		storage_rollback(st);
	if (existed)
		storage_mfa_clear(&cur);
	if (next) {
		explicit_bzero(next, strlen(next));
		free(next);
	}
	return rc;
}

int storage_mfa_delete(struct storage *st, const char *user, char *err, size_t errlen)
{
	struct sdb_result r;
	const char *p[] = {user};
	int rc = storage_exec(st, "DELETE FROM mfa_users WHERE user_name = ?", p, 1, &r, err,
			      errlen);
	if (rc != STORAGE_OK)
		return rc;
	rc = r.changes > 0 ? STORAGE_OK : STORAGE_E_NOT_FOUND;
	sdb_result_free(&r);
	return rc;
}
