/*
 * storage: opening, migrations, shared helpers, users, API tokens,
 * enrollment and endpoints. Requests are in storage_request.c. The MUST
 * rules are in storage.h.
 */
#include "storage_impl.h"
#include "storage_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* ---- schema ---- */

/*
 * Migrations: append, never edit one that shipped. Types are the subset
 * both SQLite and PostgreSQL read the same: TEXT, INTEGER, BIGINT (times
 * are seconds since the epoch). Absent times are NULL.
 */
static const char *const migration_1[] = {
	"CREATE TABLE users ("
	" name TEXT PRIMARY KEY,"
	" role TEXT NOT NULL CHECK (role IN ('admin', 'approver', 'auditor')),"
	" created_at BIGINT NOT NULL)",

	"CREATE TABLE api_tokens ("
	" id TEXT PRIMARY KEY,"
	" user_name TEXT NOT NULL REFERENCES users (name),"
	" hash TEXT NOT NULL,"
	" created_at BIGINT NOT NULL,"
	" revoked_at BIGINT)",

	"CREATE TABLE enrollment_tokens ("
	" id TEXT PRIMARY KEY,"
	" hash TEXT NOT NULL,"
	" created_by TEXT NOT NULL,"
	" created_at BIGINT NOT NULL,"
	" expires_at BIGINT NOT NULL,"
	" used_at BIGINT,"
	" endpoint_id TEXT)",

	"CREATE TABLE endpoints ("
	" id TEXT PRIMARY KEY,"
	" cred_hash TEXT NOT NULL,"
	" hostname TEXT NOT NULL,"
	" machine_id TEXT NOT NULL,"
	" os TEXT NOT NULL,"
	" kernel TEXT NOT NULL,"
	" agent_version TEXT NOT NULL,"
	" enrolled_at BIGINT NOT NULL,"
	" last_seen BIGINT NOT NULL,"
	" revoked_at BIGINT)",

	"CREATE TABLE requests ("
	" id TEXT PRIMARY KEY,"
	" endpoint_id TEXT NOT NULL REFERENCES endpoints (id),"
	" user_name TEXT NOT NULL,"
	" host TEXT NOT NULL,"
	" argv TEXT NOT NULL,"
	" binary_sha256 TEXT NOT NULL,"
	" reason TEXT NOT NULL,"
	" rule TEXT NOT NULL,"
	" approvals_needed INTEGER NOT NULL CHECK (approvals_needed BETWEEN 1 AND 10),"
	" state TEXT NOT NULL CHECK (state IN"
	"  ('pending', 'approved', 'denied', 'expired', 'cancelled')),"
	" created_at BIGINT NOT NULL,"
	" expires_at BIGINT NOT NULL,"
	" decided_at BIGINT)",

	"CREATE INDEX requests_by_state ON requests (state, expires_at)",
	"CREATE INDEX requests_by_created ON requests (created_at)",
	"CREATE INDEX requests_by_endpoint ON requests (endpoint_id)",

	/* seq orders a request's decisions; the primary key makes approvers
	 * distinct per request. */
	"CREATE TABLE decisions ("
	" request_id TEXT NOT NULL REFERENCES requests (id),"
	" approver TEXT NOT NULL,"
	" seq INTEGER NOT NULL,"
	" verdict TEXT NOT NULL CHECK (verdict IN ('approve', 'deny')),"
	" note TEXT NOT NULL,"
	" decided_at BIGINT NOT NULL,"
	" PRIMARY KEY (request_id, approver),"
	" UNIQUE (request_id, seq))",
	NULL,
};

/*
 * PostgreSQL only: every request leaving "pending" -- a decision, a
 * cancel, an expiry, a revoked endpoint's requests, from any hub --
 * notifies the other hubs' listeners (hub/notify.c) in its own
 * transaction. SQLite serves one hub and records the version only.
 */
static const char *const migration_2_pg[] = {
	"CREATE OR REPLACE FUNCTION jitsu_hub_request_changed() RETURNS trigger"
	" LANGUAGE plpgsql AS $$ BEGIN"
	" PERFORM pg_notify('" STORAGE_NOTIFY_CHANNEL "', NEW.id);"
	" RETURN NULL; END $$",

	"CREATE TRIGGER requests_notify AFTER UPDATE OF state ON requests FOR EACH ROW"
	" WHEN (OLD.state = 'pending' AND NEW.state <> 'pending')"
	" EXECUTE FUNCTION jitsu_hub_request_changed()",
	NULL,
};

/*
 * Audit shipping and alerts. audit_records keeps every line an endpoint
 * shipped, keyed by the SHA-256 of its bytes too, so that a fork (the
 * same seq with other bytes) is stored beside the first rather than lost;
 * audit_heads keeps each endpoint's chain head at the hub and the last
 * seq its heartbeat reported; endpoints.silent_alert_at marks the silence
 * an endpoint_silent alert was raised for.
 */
static const char *const migration_3[] = {
	"CREATE TABLE audit_records ("
	" endpoint_id TEXT NOT NULL REFERENCES endpoints (id),"
	" seq BIGINT NOT NULL,"
	" line_sha TEXT NOT NULL,"
	" hash TEXT NOT NULL,"
	" time_us BIGINT NOT NULL,"
	" event TEXT NOT NULL,"
	" user_name TEXT,"
	" host TEXT NOT NULL,"
	" flag TEXT,"
	" raw TEXT NOT NULL,"
	" received_at BIGINT NOT NULL,"
	" PRIMARY KEY (endpoint_id, seq, line_sha))",

	"CREATE INDEX audit_records_by_time ON audit_records (time_us)",
	"CREATE INDEX audit_records_by_user ON audit_records (user_name, time_us)",

	"CREATE TABLE audit_heads ("
	" endpoint_id TEXT PRIMARY KEY REFERENCES endpoints (id),"
	" seq BIGINT,"
	" hash TEXT,"
	" shipped_at BIGINT,"
	" known_seq BIGINT,"
	" known_at BIGINT)",

	"CREATE TABLE alerts ("
	" id TEXT PRIMARY KEY,"
	" endpoint_id TEXT REFERENCES endpoints (id),"
	" kind TEXT NOT NULL,"
	" seq BIGINT,"
	" detail TEXT NOT NULL,"
	" created_at BIGINT NOT NULL)",

	"CREATE INDEX alerts_by_created ON alerts (created_at)",

	"ALTER TABLE endpoints ADD COLUMN silent_alert_at BIGINT",
	NULL,
};

/*
 * Central policy (storage_policy.c): append-only versions per group, and
 * each endpoint's one group. rollback_of names the version a rollback
 * repeats.
 */
static const char *const migration_4[] = {
	"CREATE TABLE policy_versions ("
	" group_name TEXT NOT NULL,"
	" version BIGINT NOT NULL CHECK (version >= 1),"
	" text TEXT NOT NULL,"
	" sha256 TEXT NOT NULL,"
	" pushed_by TEXT NOT NULL,"
	" pushed_at BIGINT NOT NULL,"
	" rollback_of BIGINT,"
	" message TEXT NOT NULL,"
	" PRIMARY KEY (group_name, version))",
	"CREATE TABLE endpoint_policy_groups ("
	" endpoint_id TEXT PRIMARY KEY REFERENCES endpoints (id),"
	" group_name TEXT NOT NULL,"
	" assigned_at BIGINT NOT NULL,"
	" assigned_by TEXT NOT NULL)",
	NULL,
};

/* Central MFA: each user's state in lib/mfastore.c's text format, by user
 * name (the same person on every endpoint). It holds the TOTP secret. */
static const char *const migration_5[] = {
	"CREATE TABLE mfa_users ("
	" user_name TEXT PRIMARY KEY,"
	" state TEXT NOT NULL,"
	" updated_at BIGINT NOT NULL,"
	" updated_by TEXT NOT NULL)",
	NULL,
};

/*
 * Break-glass (docs/breakglass.md): each endpoint's key, kept in clear
 * because the hub computes responses with it (NULL for endpoints enrolled
 * before), and the log of every response issued.
 */
static const char *const migration_6[] = {
	"ALTER TABLE endpoints ADD COLUMN breakglass_key TEXT",

	"CREATE TABLE breakglass_responses ("
	" id TEXT PRIMARY KEY,"
	" endpoint_id TEXT NOT NULL REFERENCES endpoints (id),"
	" issued_by TEXT NOT NULL,"
	" challenge TEXT NOT NULL,"
	" time_window BIGINT NOT NULL,"
	" issued_at BIGINT NOT NULL)",

	"CREATE INDEX breakglass_by_endpoint ON breakglass_responses (endpoint_id, issued_at)",

	NULL,
};

static const struct {
	int version;
	const char *const *sql;    /* both backends; NULL: none */
	const char *const *pg_sql; /* then, on PostgreSQL only */
} migrations[] = {
	{1, migration_1, NULL}, {2, NULL, migration_2_pg}, {3, migration_3, NULL},
	{4, migration_4, NULL}, {5, migration_5, NULL},    {6, migration_6, NULL},
};

/* ---- helpers shared with storage_request.c ---- */

void storage_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int storage_exec(struct storage *st, const char *sql, const char *const *p, size_t np,
		 struct sdb_result *res, char *err, size_t errlen)
{
	int rc = st->drv->exec(st->conn, sql, p, np, res, err, errlen);
	if (rc == SDB_OK)
		return STORAGE_OK;
	return rc == SDB_E_CONSTRAINT ? STORAGE_E_EXISTS : STORAGE_E_DB;
}

int storage_begin(struct storage *st, char *err, size_t errlen)
{
	return st->drv->begin(st->conn, err, errlen) == SDB_OK ? STORAGE_OK : STORAGE_E_DB;
}

int storage_commit(struct storage *st, char *err, size_t errlen)
{
	return st->drv->commit(st->conn, err, errlen) == SDB_OK ? STORAGE_OK : STORAGE_E_DB;
}

void storage_rollback(struct storage *st)
{
	st->drv->rollback(st->conn);
}

char *storage_i64(char buf[STORAGE_I64_LEN], int64_t v)
{
	snprintf(buf, STORAGE_I64_LEN, "%" PRId64, v);
	return buf;
}

const char *storage_cell(const struct sdb_result *r, size_t row, size_t col)
{
	if (row >= r->nrows || col >= r->ncols)
		return NULL;
	return r->cells[row * r->ncols + col];
}

int storage_cell_i64(const struct sdb_result *r, size_t row, size_t col, int64_t *out)
{
	const char *s = storage_cell(r, row, col);
	char *end;

	*out = 0;
	if (!s)
		return 0;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

int storage_cell_str(const struct sdb_result *r, size_t row, size_t col, char *dst, size_t size)
{
	const char *s = storage_cell(r, row, col);
	if (!s || strlen(s) >= size)
		return -1;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

char *storage_cell_dup(const struct sdb_result *r, size_t row, size_t col)
{
	const char *s = storage_cell(r, row, col);
	return s ? strdup(s) : NULL;
}

int storage_corrupt(char *err, size_t errlen, const char *what)
{
	storage_seterr(err, errlen, "corrupt row: %s", what);
	return STORAGE_E_DB;
}

int storage_hash_equal(const char *a, const char *b)
{
	if (strlen(a) != STORAGE_HASH_LEN || strlen(b) != STORAGE_HASH_LEN)
		return 0;
	return CRYPTO_memcmp(a, b, STORAGE_HASH_LEN) == 0;
}

/* ---- names ---- */

const char *storage_strerror(int rc)
{
	switch (rc) {
	case STORAGE_OK: return "ok";
	case STORAGE_E_DB: return "database error";
	case STORAGE_E_NOT_FOUND: return "not found";
	case STORAGE_E_EXISTS: return "already exists";
	case STORAGE_E_NOT_PENDING: return "request is not pending";
	case STORAGE_E_SELF_APPROVAL: return "approver is the requesting user";
	case STORAGE_E_ALREADY_DECIDED: return "approver already decided";
	case STORAGE_E_TOKEN_INVALID: return "invalid enrollment token";
	case STORAGE_E_TOKEN_USED: return "enrollment token already used";
	case STORAGE_E_TOKEN_EXPIRED: return "enrollment token expired";
	case STORAGE_E_INVALID: return "invalid value";
	}
	return "unknown error";
}

const char *storage_role_name(enum storage_role role)
{
	switch (role) {
	case STORAGE_ROLE_ADMIN: return "admin";
	case STORAGE_ROLE_APPROVER: return "approver";
	case STORAGE_ROLE_AUDITOR: return "auditor";
	}
	return "?";
}

int storage_role_parse(const char *s, enum storage_role *out)
{
	static const enum storage_role roles[] = {STORAGE_ROLE_ADMIN, STORAGE_ROLE_APPROVER,
						  STORAGE_ROLE_AUDITOR};
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
		if (s && strcmp(s, storage_role_name(roles[i])) == 0) {
			*out = roles[i];
			return 0;
		}
	}
	return -1;
}

const char *storage_state_name(enum storage_state state)
{
	switch (state) {
	case STORAGE_PENDING: return "pending";
	case STORAGE_APPROVED: return "approved";
	case STORAGE_DENIED: return "denied";
	case STORAGE_EXPIRED: return "expired";
	case STORAGE_CANCELLED: return "cancelled";
	}
	return "?";
}

int storage_state_parse(const char *s, enum storage_state *out)
{
	for (int i = STORAGE_PENDING; i <= STORAGE_CANCELLED; i++) {
		if (s && strcmp(s, storage_state_name((enum storage_state)i)) == 0) {
			*out = (enum storage_state)i;
			return 0;
		}
	}
	return -1;
}

/* ---- opening and migrations ---- */

int storage_schema_version(struct storage *st, int *version, char *err, size_t errlen)
{
	struct sdb_result r;
	int64_t v;

	int rc = storage_exec(st, "SELECT MAX(version) FROM schema_version", NULL, 0, &r, err,
			      errlen);
	if (rc != STORAGE_OK)
		return rc;
	if (r.nrows != 1 || storage_cell_i64(&r, 0, 0, &v) != 0 || v < 0 || v > 1000000)
		rc = storage_corrupt(err, errlen, "schema_version");
	else
		*version = (int)v;
	sdb_result_free(&r);
	return rc;
}

/* Applies one migration (sql, then pg_sql on PostgreSQL) and records it,
 * in one transaction. */
static int apply_migration(struct storage *st, int version, const char *const *sql,
			   const char *const *pg_sql, char *err, size_t errlen)
{
	char v[STORAGE_I64_LEN];
	int rc = storage_begin(st, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	for (size_t i = 0; sql && sql[i] && rc == STORAGE_OK; i++)
		rc = storage_exec(st, sql[i], NULL, 0, NULL, err, errlen);
	if (st->drv != &storage_pg_driver)
		pg_sql = NULL;
	for (size_t i = 0; pg_sql && pg_sql[i] && rc == STORAGE_OK; i++)
		rc = storage_exec(st, pg_sql[i], NULL, 0, NULL, err, errlen);
	const char *p[] = {storage_i64(v, version)};
	if (rc == STORAGE_OK)
		rc = storage_exec(st, "INSERT INTO schema_version (version) VALUES (?)", p, 1, NULL,
				  err, errlen);
	if (rc == STORAGE_OK)
		rc = storage_commit(st, err, errlen);
	if (rc != STORAGE_OK) {
		storage_rollback(st);
		return STORAGE_E_DB;
	}
	return STORAGE_OK;
}

/*
 * Brings the schema to STORAGE_SCHEMA_VERSION. A database from a newer hub
 * is refused rather than used with a schema this code does not know.
 * Called with the migration lock held.
 */
static int migrate_locked(struct storage *st, char *err, size_t errlen)
{
	int version = 0;
	int rc = storage_exec(
		st, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)", NULL,
		0, NULL, err, errlen);
	if (rc == STORAGE_OK)
		rc = storage_schema_version(st, &version, err, errlen);
	if (rc != STORAGE_OK)
		return STORAGE_E_DB;
	if (version > STORAGE_SCHEMA_VERSION) {
		storage_seterr(err, errlen,
			       "database schema version %d is newer than this hub's %d", version,
			       STORAGE_SCHEMA_VERSION);
		return STORAGE_E_DB;
	}
	for (size_t i = 0; i < sizeof migrations / sizeof migrations[0]; i++) {
		if (migrations[i].version <= version)
			continue;
		rc = apply_migration(st, migrations[i].version, migrations[i].sql,
				     migrations[i].pg_sql, err, errlen);
		if (rc != STORAGE_OK)
			return rc;
	}
	return STORAGE_OK;
}

/* Migrates under the driver's lock: of hubs starting together on one
 * database, the first migrates and the others find it done. */
static int migrate(struct storage *st, char *err, size_t errlen)
{
	const struct sdb_driver *d = st->drv;

	if (d->migrate_lock && storage_exec(st, d->migrate_lock, NULL, 0, NULL, err, errlen) != 0)
		return STORAGE_E_DB;
	int rc = migrate_locked(st, err, errlen);
	if (d->migrate_unlock &&
	    storage_exec(st, d->migrate_unlock, NULL, 0, NULL, NULL, 0) != STORAGE_OK &&
	    rc == STORAGE_OK) {
		storage_seterr(err, errlen, "cannot release the migration lock");
		rc = STORAGE_E_DB;
	}
	return rc;
}

int storage_open(struct storage **out, const char *url, char *err, size_t errlen)
{
	const struct sdb_driver *drv;

	*out = NULL;
	if (strncmp(url, "sqlite:", 7) == 0)
		drv = &storage_sqlite_driver;
	else if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
		drv = &storage_pg_driver;
	else {
		storage_seterr(err, errlen,
			       "database URL must start with sqlite: or postgresql://");
		return STORAGE_E_INVALID;
	}
	struct storage *st = calloc(1, sizeof *st);
	if (!st) {
		storage_seterr(err, errlen, "out of memory");
		return STORAGE_E_DB;
	}
	st->drv = drv;
	st->claim_fd = -1;
	if (drv == &storage_sqlite_driver && !(st->sqlite_path = strdup(url + 7))) {
		free(st);
		storage_seterr(err, errlen, "out of memory");
		return STORAGE_E_DB;
	}
	if (drv->open(&st->conn, url, err, errlen) != SDB_OK) {
		free(st->sqlite_path);
		free(st);
		return STORAGE_E_DB;
	}
	int rc = migrate(st, err, errlen);
	if (rc != STORAGE_OK) {
		storage_close(st);
		return rc;
	}
	*out = st;
	return STORAGE_OK;
}

void storage_close(struct storage *st)
{
	if (!st)
		return;
	st->drv->close(st->conn);
	if (st->claim_fd >= 0)
		close(st->claim_fd);
	free(st->sqlite_path);
	free(st);
}

const char *storage_backend(const struct storage *st)
{
	return st->drv->name;
}

int storage_claim(struct storage *st, char *err, size_t errlen)
{
	char path[4096];

	/* PostgreSQL, claimed already, or a private in-memory database. */
	if (!st->sqlite_path || st->claim_fd >= 0 || strcmp(st->sqlite_path, ":memory:") == 0)
		return STORAGE_OK;
	if (snprintf(path, sizeof path, "%s.lock", st->sqlite_path) >= (int)sizeof path) {
		storage_seterr(err, errlen, "sqlite: database path too long");
		return STORAGE_E_INVALID;
	}
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		storage_seterr(err, errlen, "sqlite: %s: %s", path, strerror(errno));
		return STORAGE_E_DB;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int busy = errno == EWOULDBLOCK;
		storage_seterr(err, errlen,
			       busy ? "sqlite: %s is in use by another jitsu-hub; a SQLite database"
				      " serves one hub (several hubs need PostgreSQL)"
				    : "sqlite: %s: cannot lock",
			       st->sqlite_path);
		close(fd);
		return busy ? STORAGE_E_EXISTS : STORAGE_E_DB;
	}
	st->claim_fd = fd;
	return STORAGE_OK;
}

/* ---- users and API tokens ---- */

int storage_user_add(struct storage *st, const char *name, enum storage_role role, int64_t now,
		     char *err, size_t errlen)
{
	char t[STORAGE_I64_LEN];
	const char *p[] = {name, storage_role_name(role), storage_i64(t, now)};
	return storage_exec(st, "INSERT INTO users (name, role, created_at) VALUES (?, ?, ?)", p, 3,
			    NULL, err, errlen);
}

static int user_from_row(const struct sdb_result *r, size_t row, struct storage_user *u, char *err,
			 size_t errlen)
{
	memset(u, 0, sizeof *u);
	if (storage_cell_str(r, row, 0, u->name, sizeof u->name) != 0 ||
	    storage_role_parse(storage_cell(r, row, 1), &u->role) != 0 ||
	    storage_cell_i64(r, row, 2, &u->created_at) != 0)
		return storage_corrupt(err, errlen, "users");
	return STORAGE_OK;
}

int storage_user_get(struct storage *st, const char *name, struct storage_user *out, char *err,
		     size_t errlen)
{
	struct sdb_result r;
	const char *p[] = {name};
	int rc = storage_exec(st, "SELECT name, role, created_at FROM users WHERE name = ?", p, 1,
			      &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	rc = r.nrows == 0 ? STORAGE_E_NOT_FOUND : user_from_row(&r, 0, out, err, errlen);
	sdb_result_free(&r);
	return rc;
}

int storage_user_list(struct storage *st, struct storage_user **out, size_t *n, char *err,
		      size_t errlen)
{
	struct sdb_result r;
	char lim[STORAGE_I64_LEN];
	const char *p[] = {storage_i64(lim, STORAGE_LIST_MAX)};

	*out = NULL;
	*n = 0;
	int rc = storage_exec(st, "SELECT name, role, created_at FROM users ORDER BY name LIMIT ?",
			      p, 1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	struct storage_user *u = calloc(r.nrows ? r.nrows : 1, sizeof *u);
	if (!u)
		rc = STORAGE_E_DB;
	for (size_t i = 0; u && i < r.nrows && rc == STORAGE_OK; i++)
		rc = user_from_row(&r, i, &u[i], err, errlen);
	if (rc == STORAGE_OK) {
		*out = u;
		*n = r.nrows;
	} else {
		free(u);
	}
	sdb_result_free(&r);
	return rc;
}

int storage_token_add(struct storage *st, const char *id, const char *user, const char *hash,
		      int64_t now, char *err, size_t errlen)
{
	char t[STORAGE_I64_LEN];
	const char *p[] = {id, user, hash, storage_i64(t, now)};
	int rc = storage_exec(st,
			      "INSERT INTO api_tokens (id, user_name, hash, created_at)"
			      " VALUES (?, ?, ?, ?)",
			      p, 4, NULL, err, errlen);
	/* The only constraint that can fail for a fresh random id is the
	 * user's foreign key. */
	return rc == STORAGE_E_EXISTS ? STORAGE_E_NOT_FOUND : rc;
}

int storage_token_check(struct storage *st, const char *id, const char *hash,
			struct storage_token *out, char *err, size_t errlen)
{
	struct sdb_result r;
	const char *p[] = {id};
	int rc = storage_exec(st,
			      "SELECT t.id, t.user_name, u.role, t.created_at, t.revoked_at, t.hash"
			      " FROM api_tokens t JOIN users u ON u.name = t.user_name"
			      " WHERE t.id = ?",
			      p, 1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	memset(out, 0, sizeof *out);
	if (r.nrows != 1 || !storage_cell(&r, 0, 5) ||
	    !storage_hash_equal(storage_cell(&r, 0, 5), hash))
		rc = STORAGE_E_NOT_FOUND;
	else if (storage_cell_str(&r, 0, 0, out->id, sizeof out->id) != 0 ||
		 storage_cell_str(&r, 0, 1, out->user, sizeof out->user) != 0 ||
		 storage_role_parse(storage_cell(&r, 0, 2), &out->role) != 0 ||
		 storage_cell_i64(&r, 0, 3, &out->created_at) != 0 ||
		 storage_cell_i64(&r, 0, 4, &out->revoked_at) != 0)
		rc = storage_corrupt(err, errlen, "api_tokens");
	sdb_result_free(&r);
	return rc;
}

int storage_token_revoke(struct storage *st, const char *id, int64_t now, char *err, size_t errlen)
{
	struct sdb_result r;
	char t[STORAGE_I64_LEN];
	const char *p[] = {storage_i64(t, now), id};
	int rc = storage_exec(
		st, "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", p,
		2, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	long changed = r.changes;
	sdb_result_free(&r);
	if (changed > 0)
		return STORAGE_OK;
	/* Already revoked is fine; unknown is not. */
	rc = storage_exec(st, "SELECT id FROM api_tokens WHERE id = ?", p + 1, 1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	rc = r.nrows ? STORAGE_OK : STORAGE_E_NOT_FOUND;
	sdb_result_free(&r);
	return rc;
}

/* ---- enrollment ---- */

int storage_enroll_token_add(struct storage *st, const char *id, const char *hash,
			     const char *created_by, int64_t now, int64_t expires_at, char *err,
			     size_t errlen)
{
	char t[STORAGE_I64_LEN], e[STORAGE_I64_LEN];
	const char *p[] = {id, hash, created_by, storage_i64(t, now), storage_i64(e, expires_at)};
	return storage_exec(st,
			    "INSERT INTO enrollment_tokens (id, hash, created_by, created_at,"
			    " expires_at) VALUES (?, ?, ?, ?, ?)",
			    p, 5, NULL, err, errlen);
}

/* Inside the enrollment transaction: is token id usable right now? */
static int enroll_token_usable(struct storage *st, const char *id, const char *hash, int64_t now,
			       char *err, size_t errlen)
{
	struct sdb_result r;
	char sql[256];
	int64_t expires_at, used_at;
	const char *p[] = {id};

	snprintf(sql, sizeof sql,
		 "SELECT hash, expires_at, used_at FROM enrollment_tokens"
		 " WHERE id = ?%s",
		 st->drv->for_update);
	int rc = storage_exec(st, sql, p, 1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	if (r.nrows != 1 || !storage_cell(&r, 0, 0) ||
	    !storage_hash_equal(storage_cell(&r, 0, 0), hash))
		rc = STORAGE_E_TOKEN_INVALID;
	else if (storage_cell_i64(&r, 0, 1, &expires_at) != 0 ||
		 storage_cell_i64(&r, 0, 2, &used_at) != 0)
		rc = storage_corrupt(err, errlen, "enrollment_tokens");
	else if (storage_cell(&r, 0, 2))
		rc = STORAGE_E_TOKEN_USED;
	else if (expires_at <= now)
		rc = STORAGE_E_TOKEN_EXPIRED;
	sdb_result_free(&r);
	return rc;
}

static int endpoint_insert(struct storage *st, const struct storage_endpoint *ep,
			   const char *cred_hash, int64_t now, char *err, size_t errlen)
{
	char t[STORAGE_I64_LEN];
	const char *p[] = {ep->id,
			   cred_hash,
			   ep->hostname,
			   ep->machine_id,
			   ep->os,
			   ep->kernel,
			   ep->agent_version,
			   storage_i64(t, now),
			   t,
			   ep->breakglass_sealed};
	return storage_exec(
		st,
		"INSERT INTO endpoints (id, cred_hash, hostname, machine_id, os, kernel,"
		" agent_version, enrolled_at, last_seen, breakglass_key)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		p, 10, NULL, err, errlen);
}

/* Inside the enrollment transaction: group has a version, and the new
 * endpoint goes into it (storage_policy.c, storage_enroll_grouped()). */
static int enroll_group(struct storage *st, const char *id, const char *group, int64_t now,
			char *err, size_t errlen)
{
	struct sdb_result r;
	char t[STORAGE_I64_LEN];
	const char *p[] = {group};
	const char *q[] = {id, group, storage_i64(t, now), "enrollment"};
	int rc =
		storage_exec(st, "SELECT version FROM policy_versions WHERE group_name = ? LIMIT 1",
			     p, 1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	rc = r.nrows ? STORAGE_OK : STORAGE_E_INVALID;
	sdb_result_free(&r);
	if (rc == STORAGE_OK)
		rc = storage_exec(st,
				  "INSERT INTO endpoint_policy_groups (endpoint_id, group_name,"
				  " assigned_at, assigned_by) VALUES (?, ?, ?, ?)",
				  q, 4, NULL, err, errlen);
	return rc;
}

static int enroll_tx(struct storage *st, const char *token_id, const char *token_hash,
		     const struct storage_endpoint *ep, const char *cred_hash, const char *group,
		     int64_t now, char *err, size_t errlen)
{
	struct sdb_result r;
	char t[STORAGE_I64_LEN];
	const char *p[] = {storage_i64(t, now), ep->id, token_id};

	int rc = storage_begin(st, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	rc = enroll_token_usable(st, token_id, token_hash, now, err, errlen);
	if (rc == STORAGE_OK)
		rc = endpoint_insert(st, ep, cred_hash, now, err, errlen);
	if (rc == STORAGE_OK && group)
		rc = enroll_group(st, ep->id, group, now, err, errlen);
	if (rc == STORAGE_OK) {
		rc = storage_exec(st,
				  "UPDATE enrollment_tokens SET used_at = ?, endpoint_id = ?"
				  " WHERE id = ? AND used_at IS NULL",
				  p, 3, &r, err, errlen);
		if (rc == STORAGE_OK) {
			if (r.changes != 1)
				rc = STORAGE_E_TOKEN_USED;
			sdb_result_free(&r);
		}
	}
	if (rc == STORAGE_OK)
		rc = storage_commit(st, err, errlen);
	if (rc != STORAGE_OK)
		storage_rollback(st);
	return rc;
}

int storage_enroll(struct storage *st, const char *token_id, const char *token_hash,
		   const struct storage_endpoint *ep, const char *cred_hash, int64_t now, char *err,
		   size_t errlen)
{
	return enroll_tx(st, token_id, token_hash, ep, cred_hash, NULL, now, err, errlen);
}

int storage_enroll_grouped(struct storage *st, const char *token_id, const char *token_hash,
			   const struct storage_endpoint *ep, const char *cred_hash,
			   const char *group, int64_t now, char *err, size_t errlen)
{
	return enroll_tx(st, token_id, token_hash, ep, cred_hash, group, now, err, errlen);
}

/* ---- endpoints ---- */

#define ENDPOINT_COLUMNS                                                                           \
	"id, hostname, machine_id, os, kernel, agent_version, enrolled_at, last_seen,"             \
	" revoked_at, cred_hash"

static int endpoint_from_row(const struct sdb_result *r, size_t row, struct storage_endpoint *e,
			     char *err, size_t errlen)
{
	memset(e, 0, sizeof *e);
	if (storage_cell_str(r, row, 0, e->id, sizeof e->id) != 0 ||
	    storage_cell_str(r, row, 1, e->hostname, sizeof e->hostname) != 0 ||
	    storage_cell_str(r, row, 2, e->machine_id, sizeof e->machine_id) != 0 ||
	    storage_cell_str(r, row, 3, e->os, sizeof e->os) != 0 ||
	    storage_cell_str(r, row, 4, e->kernel, sizeof e->kernel) != 0 ||
	    storage_cell_str(r, row, 5, e->agent_version, sizeof e->agent_version) != 0 ||
	    storage_cell_i64(r, row, 6, &e->enrolled_at) != 0 ||
	    storage_cell_i64(r, row, 7, &e->last_seen) != 0 ||
	    storage_cell_i64(r, row, 8, &e->revoked_at) != 0)
		return storage_corrupt(err, errlen, "endpoints");
	return STORAGE_OK;
}

/* Reads endpoint id; with cred_hash non-NULL, also checks the credential. */
static int endpoint_read(struct storage *st, const char *id, const char *cred_hash,
			 struct storage_endpoint *out, char *err, size_t errlen)
{
	struct sdb_result r;
	const char *p[] = {id};
	int rc = storage_exec(st, "SELECT " ENDPOINT_COLUMNS " FROM endpoints WHERE id = ?", p, 1,
			      &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	if (r.nrows != 1 || (cred_hash && (!storage_cell(&r, 0, 9) ||
					   !storage_hash_equal(storage_cell(&r, 0, 9), cred_hash))))
		rc = STORAGE_E_NOT_FOUND;
	else
		rc = endpoint_from_row(&r, 0, out, err, errlen);
	sdb_result_free(&r);
	return rc;
}

int storage_endpoint_get(struct storage *st, const char *id, struct storage_endpoint *out,
			 char *err, size_t errlen)
{
	return endpoint_read(st, id, NULL, out, err, errlen);
}

int storage_endpoint_check(struct storage *st, const char *id, const char *cred_hash,
			   struct storage_endpoint *out, char *err, size_t errlen)
{
	return endpoint_read(st, id, cred_hash, out, err, errlen);
}

int storage_endpoint_list(struct storage *st, struct storage_endpoint **out, size_t *n, char *err,
			  size_t errlen)
{
	struct sdb_result r;
	char lim[STORAGE_I64_LEN];
	const char *p[] = {storage_i64(lim, STORAGE_LIST_MAX)};

	*out = NULL;
	*n = 0;
	int rc = storage_exec(st,
			      "SELECT " ENDPOINT_COLUMNS " FROM endpoints"
			      " ORDER BY enrolled_at, id LIMIT ?",
			      p, 1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	struct storage_endpoint *e = calloc(r.nrows ? r.nrows : 1, sizeof *e);
	if (!e)
		rc = STORAGE_E_DB;
	for (size_t i = 0; e && i < r.nrows && rc == STORAGE_OK; i++)
		rc = endpoint_from_row(&r, i, &e[i], err, errlen);
	if (rc == STORAGE_OK) {
		*out = e;
		*n = r.nrows;
	} else {
		free(e);
	}
	sdb_result_free(&r);
	return rc;
}

/* NULL for an empty fact: COALESCE keeps the stored value. */
static const char *fact(const struct storage_endpoint *facts, const char *field)
{
	return facts && field[0] ? field : NULL;
}

int storage_endpoint_touch(struct storage *st, const char *id, const struct storage_endpoint *facts,
			   int64_t now, char *err, size_t errlen)
{
	struct sdb_result r;
	char t[STORAGE_I64_LEN];
	const char *p[] = {storage_i64(t, now),
			   fact(facts, facts ? facts->hostname : ""),
			   fact(facts, facts ? facts->os : ""),
			   fact(facts, facts ? facts->kernel : ""),
			   fact(facts, facts ? facts->agent_version : ""),
			   id};
	int rc = storage_exec(st,
			      "UPDATE endpoints SET last_seen = ?,"
			      " hostname = COALESCE(?, hostname), os = COALESCE(?, os),"
			      " kernel = COALESCE(?, kernel),"
			      " agent_version = COALESCE(?, agent_version) WHERE id = ?",
			      p, 6, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	rc = r.changes == 1 ? STORAGE_OK : STORAGE_E_NOT_FOUND;
	sdb_result_free(&r);
	return rc;
}

int storage_endpoint_revoke(struct storage *st, const char *id, int64_t now, char *err,
			    size_t errlen)
{
	struct storage_endpoint ep;
	char t[STORAGE_I64_LEN];
	const char *p[] = {storage_i64(t, now), id};

	int rc = storage_begin(st, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	rc = endpoint_read(st, id, NULL, &ep, err, errlen);
	if (rc == STORAGE_OK)
		rc = storage_exec(
			st,
			"UPDATE endpoints SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
			p, 2, NULL, err, errlen);
	if (rc == STORAGE_OK)
		rc = storage_exec(st,
				  "UPDATE requests SET state = 'cancelled', decided_at = ?"
				  " WHERE endpoint_id = ? AND state = 'pending'",
				  p, 2, NULL, err, errlen);
	if (rc == STORAGE_OK)
		rc = storage_commit(st, err, errlen);
	if (rc != STORAGE_OK)
		storage_rollback(st);
	return rc;
}
