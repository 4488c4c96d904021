/*
 * storage_sqlite: the SQLite driver ("sqlite:PATH"). One connection, used by
 * one thread at a time. WAL mode, so a backup (sqlite3 .backup, or the
 * online backup API) can read while the hub writes; synchronous=FULL, so a
 * committed request survives a power cut, not only a crash.
 *
 * MUST rules (besides storage_driver.h's):
 *  - The database file is not followed through a symlink (SQLITE_OPEN_NOFOLLOW).
 *  - Foreign keys are on; a write transaction is BEGIN IMMEDIATE, so two
 *    writers (two hub processes by mistake) serialise instead of failing
 *    at COMMIT.
 */
#include "storage_driver.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUSY_TIMEOUT_MS 5000

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
							  ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int sq_fail(sqlite3 *db, int rc, char *err, size_t errlen)
{
	set_err(err, errlen, "sqlite: %s", sqlite3_errmsg(db));
	return (rc & 0xff) == SQLITE_CONSTRAINT ? SDB_E_CONSTRAINT : SDB_E_FAIL;
}

static int collect_row(sqlite3_stmt *s, struct sdb_result *res, size_t *bytes)
{
	const char *cells[SDB_MAX_COLS];
	size_t lens[SDB_MAX_COLS];
	int n = sqlite3_column_count(s);

	if (n < 0 || (size_t)n > sizeof cells / sizeof cells[0])
		return SDB_E_TOOBIG;
	for (int i = 0; i < n; i++) {
		cells[i] = (const char *)sqlite3_column_text(s, i);
		lens[i] = (size_t)sqlite3_column_bytes(s, i);
	}
	return sdb_result_add_row(res, cells, lens, (size_t)n, bytes);
}

static int sq_exec(void *conn, const char *sql, const char *const *p, size_t np,
		   struct sdb_result *res, char *err, size_t errlen)
{
	sqlite3 *db = conn;
	sqlite3_stmt *s = NULL;
	const char *tail = NULL;
	size_t bytes = 0;
	int rc;

	if (res)
		memset(res, 0, sizeof *res);
	rc = sqlite3_prepare_v2(db, sql, -1, &s, &tail);
	if (rc != SQLITE_OK)
		return sq_fail(db, rc, err, errlen);
	if ((size_t)sqlite3_bind_parameter_count(s) != np || (tail && tail[strspn(tail, " ")])) {
		sqlite3_finalize(s);
		set_err(err, errlen, "sqlite: statement and parameters do not match");
		return SDB_E_FAIL;
	}
	for (size_t i = 0; i < np; i++) {
		rc = p[i] ? sqlite3_bind_text(s, (int)i + 1, p[i], -1, SQLITE_STATIC)
			  : sqlite3_bind_null(s, (int)i + 1);
		if (rc != SQLITE_OK) {
			sqlite3_finalize(s);
			return sq_fail(db, rc, err, errlen);
		}
	}
	if (res)
		res->ncols = (size_t)sqlite3_column_count(s);
	int out = SDB_OK;
	while (out == SDB_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
		out = res ? collect_row(s, res, &bytes) : SDB_OK;
	if (out == SDB_OK && rc != SQLITE_DONE)
		out = sq_fail(db, rc, err, errlen);
	else if (out == SDB_E_TOOBIG)
		set_err(err, errlen, "sqlite: result too big");
	if (out == SDB_OK && res)
		res->changes = sqlite3_changes(db);
	sqlite3_finalize(s);
	if (out != SDB_OK && res)
		sdb_result_free(res);
	return out;
}

/* A pragma whose single-row answer must be want (NULL: anything). */
static int pragma(sqlite3 *db, const char *sql, const char *want, char *err, size_t errlen)
{
	struct sdb_result r;
	int rc = sq_exec(db, sql, NULL, 0, &r, err, errlen);
	if (rc != SDB_OK)
		return rc;
	if (want && (r.nrows != 1 || r.ncols < 1 || !r.cells[0] || strcmp(r.cells[0], want) != 0)) {
		set_err(err, errlen, "sqlite: %s did not take effect", sql);
		rc = SDB_E_FAIL;
	}
	sdb_result_free(&r);
	return rc;
}

static int sq_open(void **conn, const char *url, char *err, size_t errlen)
{
	const char *path = url + strlen("sqlite:");
	sqlite3 *db = NULL;

	*conn = NULL;
	if (*path == '\0') {
		set_err(err, errlen, "sqlite: empty path");
		return SDB_E_FAIL;
	}
	int rc = sqlite3_open_v2(
		path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		set_err(err, errlen, "sqlite: %s: %s", path,
			db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return SDB_E_FAIL;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	if (pragma(db, "PRAGMA journal_mode = WAL", "wal", err, errlen) != SDB_OK ||
	    pragma(db, "PRAGMA synchronous = FULL", NULL, err, errlen) != SDB_OK ||
	    pragma(db, "PRAGMA foreign_keys = ON", NULL, err, errlen) != SDB_OK ||
	    pragma(db, "PRAGMA foreign_keys", "1", err, errlen) != SDB_OK) {
		sqlite3_close(db);
		return SDB_E_FAIL;
	}
	*conn = db;
	return SDB_OK;
}

static void sq_close(void *conn)
{
	sqlite3_close(conn);
}

static int sq_begin(void *conn, char *err, size_t errlen)
{
	return sq_exec(conn, "BEGIN IMMEDIATE", NULL, 0, NULL, err, errlen);
}

static int sq_commit(void *conn, char *err, size_t errlen)
{
	return sq_exec(conn, "COMMIT", NULL, 0, NULL, err, errlen);
}

static void sq_rollback(void *conn)
{
	if (!sqlite3_get_autocommit(conn))
		sq_exec(conn, "ROLLBACK", NULL, 0, NULL, NULL, 0);
}

const struct sdb_driver storage_sqlite_driver = {
	.name = "sqlite",
	.for_update = "",
	.open = sq_open,
	.close = sq_close,
	.exec = sq_exec,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
};
