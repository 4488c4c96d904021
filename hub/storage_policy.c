/*
 * storage_policy: policy groups, their versions and endpoints' groups. The
 * MUST rules are in storage_policy.h.
 */
#include "storage_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage_impl.h"

#define POLICY_COLUMNS "group_name, version, sha256, pushed_by, pushed_at, rollback_of, message"
#define ADD_RETRIES 5 /* PostgreSQL: writers racing for the same next version */

void storage_policy_clear(struct storage_policy *p)
{
	if (!p)
		return;
	free(p->message);
	free(p->text);
	memset(p, 0, sizeof *p);
}

void storage_policy_list_free(struct storage_policy *l, size_t n)
{
	for (size_t i = 0; l && i < n; i++)
		storage_policy_clear(&l[i]);
	free(l);
}

/* POLICY_COLUMNS, then text when with_text. */
static int policy_from_row(const struct sdb_result *r, size_t row, int with_text,
			   struct storage_policy *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof *p);
	p->message = storage_cell_dup(r, row, 6);
	p->text = with_text ? storage_cell_dup(r, row, 7) : NULL;
	if (storage_cell_str(r, row, 0, p->group, sizeof p->group) != 0 ||
	    storage_cell_i64(r, row, 1, &p->version) != 0 || p->version < 1 ||
	    storage_cell_str(r, row, 2, p->sha256, sizeof p->sha256) != 0 ||
	    storage_cell_str(r, row, 3, p->pushed_by, sizeof p->pushed_by) != 0 ||
	    storage_cell_i64(r, row, 4, &p->pushed_at) != 0 ||
	    storage_cell_i64(r, row, 5, &p->rollback_of) != 0 || !p->message ||
	    (with_text && !p->text)) {
		storage_policy_clear(p);
		return storage_corrupt(err, errlen, "policy_versions");
	}
	return STORAGE_OK;
}

/* Inside a transaction: the group's newest version number (0: none). */
static int newest(struct storage *st, const char *group, int64_t *v, char *err, size_t errlen)
{
	struct sdb_result r;
	const char *p[] = {group};
	int rc = storage_exec(st, "SELECT MAX(version) FROM policy_versions WHERE group_name = ?",
			      p, 1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	if (r.nrows != 1 || storage_cell_i64(&r, 0, 0, v) != 0 || *v < 0)
		rc = storage_corrupt(err, errlen, "policy_versions");
	sdb_result_free(&r);
	return rc;
}

/* Inside a transaction: inserts the next version; *version gets it. */
static int insert_next(struct storage *st, const char *group, const char *text, const char *sha256,
		       const char *by, const char *message, int64_t rollback_of, int64_t now,
		       int64_t *version, char *err, size_t errlen)
{
	char v[STORAGE_I64_LEN], t[STORAGE_I64_LEN], rb[STORAGE_I64_LEN];
	int rc = newest(st, group, version, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	*version += 1;
	const char *p[] = {group,
			   storage_i64(v, *version),
			   text,
			   sha256,
			   by,
			   storage_i64(t, now),
			   rollback_of ? storage_i64(rb, rollback_of) : NULL,
			   message};
	return storage_exec(st,
			    "INSERT INTO policy_versions (group_name, version, text, sha256,"
			    " pushed_by, pushed_at, rollback_of, message)"
			    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			    p, 8, NULL, err, errlen);
}

/* Reads one version (with text) inside or outside a transaction. */
static int read_version(struct storage *st, const char *group, int64_t version,
			struct storage_policy *out, char *err, size_t errlen)
{
	struct sdb_result r;
	char v[STORAGE_I64_LEN];
	const char *p[] = {group, storage_i64(v, version)};
	int rc = version > 0 ? storage_exec(st,
					    "SELECT " POLICY_COLUMNS ", text FROM policy_versions"
					    " WHERE group_name = ? AND version = ?",
					    p, 2, &r, err, errlen)
			     : storage_exec(st,
					    "SELECT " POLICY_COLUMNS ", text FROM policy_versions"
					    " WHERE group_name = ? ORDER BY version DESC LIMIT 1",
					    p, 1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	rc = r.nrows == 0 ? STORAGE_E_NOT_FOUND : policy_from_row(&r, 0, 1, out, err, errlen);
	sdb_result_free(&r);
	return rc;
}

/*
 * One attempt: [read rollback_of's text], insert the next version, read it
 * back, commit. STORAGE_E_EXISTS means another writer took the number.
 */
static int add_once(struct storage *st, const char *group, const char *text, const char *sha256,
		    const char *by, const char *message, int64_t rollback_of, int64_t now,
		    struct storage_policy *out, char *err, size_t errlen)
{
	struct storage_policy old = {0};
	int64_t version = 0;
	int rc = storage_begin(st, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	if (!text) {
		rc = read_version(st, group, rollback_of, &old, err, errlen);
		text = old.text;
		sha256 = old.sha256;
	}
	if (rc == STORAGE_OK)
		rc = insert_next(st, group, text, sha256, by, message, rollback_of, now, &version,
				 err, errlen);
	if (rc == STORAGE_OK && out)
		rc = read_version(st, group, version, out, err, errlen);
	if (rc == STORAGE_OK)
		rc = storage_commit(st, err, errlen);
	if (rc != STORAGE_OK) {
		storage_rollback(st);
		if (out)
			storage_policy_clear(out);
	}
	storage_policy_clear(&old);
	return rc;
}

static int add_retrying(struct storage *st, const char *group, const char *text, const char *sha256,
			const char *by, const char *message, int64_t rollback_of, int64_t now,
			struct storage_policy *out, char *err, size_t errlen)
{
	int rc = STORAGE_E_EXISTS;
	for (int i = 0; i < ADD_RETRIES && rc == STORAGE_E_EXISTS; i++)
		rc = add_once(st, group, text, sha256, by, message, rollback_of, now, out, err,
			      errlen);
	if (rc == STORAGE_E_EXISTS) {
		storage_seterr(err, errlen, "policy version: too many concurrent writers");
		rc = STORAGE_E_DB;
	}
	return rc;
}

int storage_policy_add(struct storage *st, const char *group, const char *text, const char *sha256,
		       const char *by, const char *message, int64_t rollback_of, int64_t now,
		       struct storage_policy *out, char *err, size_t errlen)
{
	if (!text || !sha256 || strlen(text) > STORAGE_POLICY_MAX ||
	    strlen(message) > STORAGE_POLICY_MSG_MAX || rollback_of < 0)
		return STORAGE_E_INVALID;
	return add_retrying(st, group, text, sha256, by, message, rollback_of, now, out, err,
			    errlen);
}

int storage_policy_rollback(struct storage *st, const char *group, int64_t version, const char *by,
			    const char *message, int64_t now, struct storage_policy *out, char *err,
			    size_t errlen)
{
	if (version < 1 || strlen(message) > STORAGE_POLICY_MSG_MAX)
		return STORAGE_E_INVALID;
	return add_retrying(st, group, NULL, NULL, by, message, version, now, out, err, errlen);
}

int storage_policy_get(struct storage *st, const char *group, int64_t version,
		       struct storage_policy *out, char *err, size_t errlen)
{
	if (version < 0)
		return STORAGE_E_INVALID;
	return read_version(st, group, version, out, err, errlen);
}

int storage_policy_history(struct storage *st, const char *group, struct storage_policy **out,
			   size_t *n, char *err, size_t errlen)
{
	struct sdb_result r;
	char lim[STORAGE_I64_LEN];
	const char *p[] = {group, storage_i64(lim, STORAGE_LIST_MAX)};

	*out = NULL;
	*n = 0;
	int rc = storage_exec(st,
			      "SELECT " POLICY_COLUMNS " FROM policy_versions WHERE group_name = ?"
			      " ORDER BY version DESC LIMIT ?",
			      p, 2, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	struct storage_policy *l = calloc(r.nrows ? r.nrows : 1, sizeof *l);
	size_t got = 0;
	if (!l)
		rc = STORAGE_E_DB;
	for (; l && got < r.nrows && rc == STORAGE_OK; got++)
		rc = policy_from_row(&r, got, 0, &l[got], err, errlen);
	if (rc == STORAGE_OK) {
		*out = l;
		*n = r.nrows;
	} else {
		storage_policy_list_free(l, got);
	}
	sdb_result_free(&r);
	return rc;
}

int storage_policy_group_set(struct storage *st, const char *id, const char *group, const char *by,
			     int64_t now, char *err, size_t errlen)
{
	struct storage_endpoint ep;
	int64_t v = 0;
	char t[STORAGE_I64_LEN];
	const char *p[] = {id, group, storage_i64(t, now), by};

	int rc = storage_begin(st, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	rc = storage_endpoint_get(st, id, &ep, err, errlen);
	if (rc == STORAGE_OK && group) {
		rc = newest(st, group, &v, err, errlen);
		if (rc == STORAGE_OK && v == 0)
			rc = STORAGE_E_INVALID;
	}
	if (rc == STORAGE_OK)
		rc = storage_exec(st, "DELETE FROM endpoint_policy_groups WHERE endpoint_id = ?", p,
				  1, NULL, err, errlen);
	if (rc == STORAGE_OK && group)
		rc = storage_exec(st,
				  "INSERT INTO endpoint_policy_groups (endpoint_id, group_name,"
				  " assigned_at, assigned_by) VALUES (?, ?, ?, ?)",
				  p, 4, NULL, err, errlen);
	if (rc == STORAGE_OK)
		rc = storage_commit(st, err, errlen);
	if (rc != STORAGE_OK)
		storage_rollback(st);
	return rc;
}

int storage_policy_group_get(struct storage *st, const char *id, char *group, char *err,
			     size_t errlen)
{
	struct sdb_result r;
	const char *p[] = {id};
	group[0] = '\0';
	int rc = storage_exec(st,
			      "SELECT group_name FROM endpoint_policy_groups WHERE endpoint_id = ?",
			      p, 1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	if (r.nrows > 1 ||
	    (r.nrows == 1 && storage_cell_str(&r, 0, 0, group, STORAGE_NAME_MAX + 1) != 0))
		rc = storage_corrupt(err, errlen, "endpoint_policy_groups");
	sdb_result_free(&r);
	return rc;
}
