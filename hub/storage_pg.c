/*
 * storage_pg: the PostgreSQL driver ("postgresql://..." handed to libpq as
 * is, so every libpq URI parameter works, e.g. ?host=/run/postgresql for a
 * Unix socket). One connection, used by one thread at a time.
 *
 * MUST rules (besides storage_driver.h's):
 *  - Parameters go through PQexecParams, never into the SQL text.
 *  - Error text is the server's primary message only: the DETAIL field can
 *    quote key values (token hashes).
 *  - A lost connection is re-established only between transactions; a
 *    statement inside a transaction on a broken connection fails, so the
 *    caller's transaction fails as a whole.
 */
#include "storage_driver.h"

#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_MAX 4096
/* The advisory lock key that serialises migrations: "jitsuhub" as a
 * big-endian int64. Session-level, so a hub that dies releases it. */
#define MIGRATE_LOCK_KEY "7667787879814821218"

struct pg {
	PGconn *c;
	int in_tx;
};

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

/* libpq's messages end in a newline; ours do not. */
static void set_conn_err(PGconn *c, char *err, size_t errlen)
{
	const char *m = c ? PQerrorMessage(c) : "out of memory";
	int n = (int)strcspn(m, "\n");
	set_err(err, errlen, "postgresql: %.*s", n, m);
}

static void quiet_notices(void *arg, const char *message)
{
}

/* Rewrites '?' placeholders to $1, $2, ... outside quoted text. */
static int rewrite(const char *sql, char *out, size_t size, size_t *nparams)
{
	size_t o = 0, n = 0;
	char quote = 0;

	for (const char *s = sql; *s; s++) {
		char buf[8];
		const char *add = buf;
		if (quote) {
			quote = *s == quote ? 0 : quote;
			buf[0] = *s, buf[1] = '\0';
		} else if (*s == '\'' || *s == '"') {
			quote = *s;
			buf[0] = *s, buf[1] = '\0';
		} else if (*s == '?') {
			snprintf(buf, sizeof buf, "$%zu", ++n);
		} else {
			buf[0] = *s, buf[1] = '\0';
		}
		size_t len = strlen(add);
		if (o + len >= size || n > SDB_MAX_PARAMS)
			return -1;
		memcpy(out + o, add, len);
		o += len;
	}
	out[o] = '\0';
	*nparams = n;
	return 0;
}

static int collect(PGresult *r, struct sdb_result *res)
{
	const char *cells[SDB_MAX_COLS];
	size_t lens[SDB_MAX_COLS], bytes = 0;
	int ncols = PQnfields(r), nrows = PQntuples(r);

	if (ncols < 0 || (size_t)ncols > SDB_MAX_COLS || nrows < 0 || nrows > SDB_MAX_ROWS)
		return SDB_E_TOOBIG;
	res->ncols = (size_t)ncols;
	for (int row = 0; row < nrows; row++) {
		for (int i = 0; i < ncols; i++) {
			cells[i] = PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
			lens[i] = (size_t)PQgetlength(r, row, i);
		}
		int rc = sdb_result_add_row(res, cells, lens, (size_t)ncols, &bytes);
		if (rc != SDB_OK)
			return rc;
	}
	return SDB_OK;
}

/* Outside a transaction, a dropped connection is worth one reset. */
static void revive(struct pg *pg)
{
	if (!pg->in_tx && PQstatus(pg->c) == CONNECTION_BAD)
		PQreset(pg->c);
}

static int result_error(PGresult *r, char *err, size_t errlen)
{
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	set_err(err, errlen, "postgresql: %s", msg ? msg : "unknown error");
	/* Class 23: integrity constraint violation. */
	return state && strncmp(state, "23", 2) == 0 ? SDB_E_CONSTRAINT : SDB_E_FAIL;
}

static int pg_exec(void *conn, const char *sql, const char *const *p, size_t np,
		   struct sdb_result *res, char *err, size_t errlen)
{
	struct pg *pg = conn;
	char text[SQL_MAX];
	size_t n;

	if (res)
		memset(res, 0, sizeof *res);
	if (rewrite(sql, text, sizeof text, &n) != 0 || n != np) {
		set_err(err, errlen, "postgresql: statement and parameters do not match");
		return SDB_E_FAIL;
	}
	revive(pg);
	PGresult *r = PQexecParams(pg->c, text, (int)np, NULL, p, NULL, NULL, 0);
	if (!r) {
		set_conn_err(pg->c, err, errlen);
		return SDB_E_FAIL;
	}
	int rc = SDB_OK;
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_TUPLES_OK && res) {
		rc = collect(r, res);
		if (rc != SDB_OK) {
			set_err(err, errlen, "postgresql: result too big");
			sdb_result_free(res);
		}
	} else if (st == PGRES_COMMAND_OK && res) {
		res->changes = strtol(PQcmdTuples(r), NULL, 10);
	} else if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		rc = result_error(r, err, errlen);
	}
	PQclear(r);
	return rc;
}

static int pg_open(void **conn, const char *url, char *err, size_t errlen)
{
	struct pg *pg = calloc(1, sizeof *pg);

	*conn = NULL;
	if (!pg) {
		set_err(err, errlen, "postgresql: out of memory");
		return SDB_E_FAIL;
	}
	pg->c = PQconnectdb(url);
	if (!pg->c || PQstatus(pg->c) != CONNECTION_OK) {
		set_conn_err(pg->c, err, errlen);
		PQfinish(pg->c);
		free(pg);
		return SDB_E_FAIL;
	}
	PQsetNoticeProcessor(pg->c, quiet_notices, NULL);
	if (PQsetClientEncoding(pg->c, "UTF8") != 0) {
		set_conn_err(pg->c, err, errlen);
		PQfinish(pg->c);
		free(pg);
		return SDB_E_FAIL;
	}
	*conn = pg;
	return SDB_OK;
}

static void pg_close(void *conn)
{
	struct pg *pg = conn;
	if (!pg)
		return;
	PQfinish(pg->c);
	free(pg);
}

static int pg_begin(void *conn, char *err, size_t errlen)
{
	struct pg *pg = conn;
	int rc = pg_exec(pg, "BEGIN", NULL, 0, NULL, err, errlen);
	pg->in_tx = rc == SDB_OK;
	return rc;
}

/* A COMMIT of a transaction that had failed answers "ROLLBACK": not ok. */
static int pg_commit(void *conn, char *err, size_t errlen)
{
	struct pg *pg = conn;
	int rc = SDB_OK;
	PGresult *r = PQexec(pg->c, "COMMIT");

	pg->in_tx = 0;
	if (!r) {
		set_conn_err(pg->c, err, errlen);
		return SDB_E_FAIL;
	}
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = result_error(r, err, errlen);
	else if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
		set_err(err, errlen, "postgresql: transaction rolled back");
		rc = SDB_E_FAIL;
	}
	PQclear(r);
	return rc;
}

static void pg_rollback(void *conn)
{
	struct pg *pg = conn;
	if (pg->in_tx)
		pg_exec(pg, "ROLLBACK", NULL, 0, NULL, NULL, 0);
	pg->in_tx = 0;
}

const struct sdb_driver storage_pg_driver = {
	.name = "postgresql",
	.for_update = " FOR UPDATE",
	.migrate_lock = "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")",
	.migrate_unlock = "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")",
	.open = pg_open,
	.close = pg_close,
	.exec = pg_exec,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
};
