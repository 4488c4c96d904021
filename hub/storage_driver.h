/*
 * storage_driver: what a SQL backend gives hub/storage.c. The logic (schema,
 * migrations, state changes, approval counting) lives once in storage.c;
 * a driver only runs statements. Two drivers exist: storage_sqlite.c and
 * storage_pg.c.
 *
 * SQL is written once, with '?' placeholders in order; a driver that needs
 * another syntax ($1, $2 for PostgreSQL) rewrites it. Every parameter and
 * every result cell is text (integers are passed and returned in decimal),
 * so both backends look the same to storage.c.
 *
 * MUST rules:
 *  - Parameters are always bound, never pasted into SQL text.
 *  - A result is bounded (SDB_MAX_ROWS rows, SDB_MAX_BYTES bytes of cells);
 *    going over is an error, never a silent truncation.
 *  - Errors go into the caller's buffer and never contain parameter values
 *    (they may be token hashes).
 */
#ifndef JITSU_HUB_STORAGE_DRIVER_H
#define JITSU_HUB_STORAGE_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#define SDB_MAX_PARAMS 16
#define SDB_MAX_COLS 32
#define SDB_MAX_ROWS 10000
#define SDB_MAX_BYTES (32u << 20)

enum {
	SDB_OK = 0,
	SDB_E_FAIL = -1,       /* any database error */
	SDB_E_CONSTRAINT = -2, /* unique, foreign-key or check constraint */
	SDB_E_TOOBIG = -3,     /* result over the bounds */
};

/* A whole result, in memory. cells[row * ncols + col]; NULL is SQL NULL. */
struct sdb_result {
	size_t nrows, ncols;
	char **cells;
	long changes; /* rows changed by INSERT/UPDATE/DELETE */
};

struct sdb_driver {
	const char *name; /* "sqlite" or "postgresql" */
	/* What storage.c appends to a SELECT that reads a row it will update
	 * inside a write transaction ("" where the transaction locks already). */
	const char *for_update;
	/* Statements around the migrations that keep other processes out
	 * (PostgreSQL's advisory lock); NULL where the backend needs none. */
	const char *migrate_lock, *migrate_unlock;
	/* Opens the connection named by the URL; sets *conn. */
	int (*open)(void **conn, const char *url, char *err, size_t errlen);
	void (*close)(void *conn);
	/* Runs one statement with np text parameters (a NULL one is SQL NULL);
	 * res may be NULL when no rows are wanted. On success res must be
	 * freed with sdb_result_free(). */
	int (*exec)(void *conn, const char *sql, const char *const *p, size_t np,
		    struct sdb_result *res, char *err, size_t errlen);
	/* A write transaction: SQLite BEGIN IMMEDIATE, PostgreSQL BEGIN. */
	int (*begin)(void *conn, char *err, size_t errlen);
	int (*commit)(void *conn, char *err, size_t errlen);
	void (*rollback)(void *conn);
};

extern const struct sdb_driver storage_sqlite_driver;
extern const struct sdb_driver storage_pg_driver;

/* Shared by the drivers: appends one row of n cells (copied; NULL stays
 * NULL) to res, enforcing the bounds. Returns SDB_OK or SDB_E_TOOBIG /
 * SDB_E_FAIL (out of memory). */
int sdb_result_add_row(struct sdb_result *res, const char *const *cells, const size_t *lens,
		       size_t n, size_t *bytes);
void sdb_result_free(struct sdb_result *res);

#endif
