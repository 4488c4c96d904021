/*
 * storage_impl: the helpers storage.c and storage_request.c share. Not for
 * use outside the storage module; its callers see only storage.h.
 */
#ifndef JITSU_HUB_STORAGE_IMPL_H
#define JITSU_HUB_STORAGE_IMPL_H

#include "storage.h"
#include "storage_driver.h"

struct storage {
	const struct sdb_driver *drv;
	void *conn;
	char *sqlite_path; /* SQLite: the database file, for storage_claim() */
	int claim_fd;      /* SQLite: PATH.lock, flock'ed; -1 until claimed */
};

#define STORAGE_I64_LEN 24 /* a decimal int64 and its NUL */

__attribute__((format(printf, 3, 4))) void storage_seterr(char *err, size_t errlen, const char *fmt,
							  ...);

/* Runs one statement: STORAGE_OK, STORAGE_E_EXISTS (a constraint) or
 * STORAGE_E_DB with err set. */
int storage_exec(struct storage *st, const char *sql, const char *const *p, size_t np,
		 struct sdb_result *res, char *err, size_t errlen);
int storage_begin(struct storage *st, char *err, size_t errlen);
int storage_commit(struct storage *st, char *err, size_t errlen);
void storage_rollback(struct storage *st);

/* Decimal text of v into buf. Returns buf. */
char *storage_i64(char buf[STORAGE_I64_LEN], int64_t v);
/* The cell at (row, col); NULL for SQL NULL. */
const char *storage_cell(const struct sdb_result *r, size_t row, size_t col);
/* An integer cell (SQL NULL reads as 0): 0, or -1 if not a decimal. */
int storage_cell_i64(const struct sdb_result *r, size_t row, size_t col, int64_t *out);
/* Copies a text cell into dst (size bytes): 0, or -1 if NULL or too long. */
int storage_cell_str(const struct sdb_result *r, size_t row, size_t col, char *dst, size_t size);
/* A malloc'd copy of a text cell; NULL if the cell is NULL or on ENOMEM. */
char *storage_cell_dup(const struct sdb_result *r, size_t row, size_t col);
/* Sets err to "corrupt row: what" and returns STORAGE_E_DB. */
int storage_corrupt(char *err, size_t errlen, const char *what);
/* Constant-time equality of two hash texts (STORAGE_HASH_LEN chars). */
int storage_hash_equal(const char *a, const char *b);

#endif
