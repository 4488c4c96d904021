/*
 * storage: everything jitsu-hub keeps, behind one interface with two
 * backends, SQLite ("sqlite:PATH") and PostgreSQL ("postgresql://..."),
 * chosen by the URL given to storage_open(). The same code (storage.c)
 * drives both through a small SQL driver (storage_driver.h); the same tests
 * run against both.
 *
 * MUST rules:
 *  - Only SHA-256 hashes (64 lowercase hex) of tokens and credentials are
 *    stored; callers pass hashes, never secrets. Hash comparisons done here
 *    are constant-time.
 *  - A decision and the request's state change happen in one write
 *    transaction, after re-reading the request's row in it (locked on
 *    PostgreSQL). A request leaves "pending" exactly once.
 *  - "approved" needs approvals_needed approve decisions by distinct
 *    approvers: (request_id, approver) is the decisions table's primary key.
 *  - An enrollment token is consumed in the transaction that creates the
 *    endpoint, so it works at most once.
 *  - The clock is a parameter (now); nothing here reads the time.
 *  - Schema changes are numbered migrations, applied in order, each in its
 *    own transaction, recorded in schema_version; a database newer than the
 *    code is refused. On PostgreSQL they run under an advisory lock, so
 *    hubs starting together on one database migrate it once.
 *  - On PostgreSQL, a request leaving "pending" (by any statement) sends a
 *    NOTIFY on STORAGE_NOTIFY_CHANNEL in the same transaction (a trigger).
 *  - A SQLite database serves one hub: storage_claim() refuses a second.
 *
 * Errors: functions return STORAGE_OK (0) or a negative STORAGE_E_* code
 * (storage_strerror()); database failures also write text into err.
 */
#ifndef JITSU_HUB_STORAGE_H
#define JITSU_HUB_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#define STORAGE_ID_LEN 16      /* hex digits in every id */
#define STORAGE_HASH_LEN 64    /* hex digits of a SHA-256 */
#define STORAGE_NAME_MAX 64    /* user and approver names */
#define STORAGE_HOST_MAX 253   /* hostnames */
#define STORAGE_MACHINE_LEN 32 /* hex digits of a machine-id */
#define STORAGE_FACT_MAX 128   /* os, kernel */
#define STORAGE_AGENT_MAX 64   /* agent version */
#define STORAGE_MAX_APPROVALS 10
#define STORAGE_LIST_MAX 500 /* rows in one list answer */
#define STORAGE_SCHEMA_VERSION 6
/* PostgreSQL: the channel on which every request leaving "pending" is
 * announced (payload: its id), in the transaction that moves it. */
#define STORAGE_NOTIFY_CHANNEL "jitsu_hub_requests"

enum {
	STORAGE_OK = 0,
	STORAGE_E_DB = -1, /* database failure; text in err */
	STORAGE_E_NOT_FOUND = -2,
	STORAGE_E_EXISTS = -3,
	STORAGE_E_NOT_PENDING = -4,
	STORAGE_E_SELF_APPROVAL = -5,
	STORAGE_E_ALREADY_DECIDED = -6,
	STORAGE_E_TOKEN_INVALID = -7,
	STORAGE_E_TOKEN_USED = -8,
	STORAGE_E_TOKEN_EXPIRED = -9,
	STORAGE_E_INVALID = -10, /* a caller's value out of range */
};

/* Role bits, so a route can allow several. */
enum storage_role {
	STORAGE_ROLE_ADMIN = 1,
	STORAGE_ROLE_APPROVER = 2,
	STORAGE_ROLE_AUDITOR = 4,
};

enum storage_state {
	STORAGE_PENDING = 0,
	STORAGE_APPROVED,
	STORAGE_DENIED,
	STORAGE_EXPIRED,
	STORAGE_CANCELLED,
};

struct storage;

struct storage_user {
	char name[STORAGE_NAME_MAX + 1];
	enum storage_role role;
	int64_t created_at;
};

/* An API token joined with its user. revoked_at 0: not revoked. */
struct storage_token {
	char id[STORAGE_ID_LEN + 1];
	char user[STORAGE_NAME_MAX + 1];
	enum storage_role role;
	int64_t created_at, revoked_at;
};

/* times: 0 means "never" (revoked_at). */
struct storage_endpoint {
	char id[STORAGE_ID_LEN + 1];
	char hostname[STORAGE_HOST_MAX + 1];
	char machine_id[STORAGE_MACHINE_LEN + 1];
	char os[STORAGE_FACT_MAX + 1];
	char kernel[STORAGE_FACT_MAX + 1];
	char agent_version[STORAGE_AGENT_MAX + 1];
	int64_t enrolled_at, last_seen, revoked_at;
	/* storage_enroll input only: the break-glass key as it is to be
	 * stored, sealed by the caller (hub/mfaseal.h); NULL for none. Reads
	 * leave it NULL; see storage_breakglass.h. */
	const char *breakglass_sealed;
};

struct storage_decision {
	char approver[STORAGE_NAME_MAX + 1];
	int approve; /* 1 approve, 0 deny */
	char *note;  /* owned */
	int64_t at;
};

/*
 * An approval request. The strings behind pointers are owned by the struct
 * (storage_request_clear() frees them); argv_json is the argv as a JSON
 * array text, validated by the caller. decided_at 0: not decided.
 */
struct storage_request {
	char id[STORAGE_ID_LEN + 1];
	char endpoint_id[STORAGE_ID_LEN + 1];
	char user[STORAGE_NAME_MAX + 1];
	char host[STORAGE_HOST_MAX + 1];
	char binary_sha256[STORAGE_HASH_LEN + 1];
	char *argv_json, *reason, *rule;
	int approvals_needed;
	enum storage_state state;
	int64_t created_at, expires_at, decided_at;
	size_t ndecisions;
	struct storage_decision *decisions;
};

struct storage_request_list {
	size_t n;
	struct storage_request *items;
};

const char *storage_strerror(int rc);
const char *storage_role_name(enum storage_role role);
int storage_role_parse(const char *s, enum storage_role *out); /* 0 or -1 */
const char *storage_state_name(enum storage_state state);
int storage_state_parse(const char *s, enum storage_state *out);

/* Opens "sqlite:PATH" or "postgresql://..." ("postgres://" too) and runs
 * the pending migrations. On success *out must be closed. */
int storage_open(struct storage **out, const char *url, char *err, size_t errlen);
void storage_close(struct storage *st);
const char *storage_backend(const struct storage *st);
/*
 * Claims the database for one serving hub. SQLite: an exclusive lock
 * (flock) on PATH.lock, held until storage_close(); a second claim, by
 * another process or another storage in this one, fails with
 * STORAGE_E_EXISTS and err says why. PostgreSQL: always STORAGE_OK
 * (several hubs may share it).
 */
int storage_claim(struct storage *st, char *err, size_t errlen);
/* The schema version the database is at. */
int storage_schema_version(struct storage *st, int *version, char *err, size_t errlen);

/* ---- users and API tokens ---- */
int storage_user_add(struct storage *st, const char *name, enum storage_role role, int64_t now,
		     char *err, size_t errlen);
int storage_user_get(struct storage *st, const char *name, struct storage_user *out, char *err,
		     size_t errlen);
/* *out is malloc'd (free()), at most STORAGE_LIST_MAX entries, by name. */
int storage_user_list(struct storage *st, struct storage_user **out, size_t *n, char *err,
		      size_t errlen);
int storage_token_add(struct storage *st, const char *id, const char *user, const char *hash,
		      int64_t now, char *err, size_t errlen);
/* Finds token id, and compares its stored hash with hash in constant time:
 * STORAGE_E_NOT_FOUND for an unknown id or a wrong hash. A revoked token is
 * returned with revoked_at set; the caller refuses it. */
int storage_token_check(struct storage *st, const char *id, const char *hash,
			struct storage_token *out, char *err, size_t errlen);
int storage_token_revoke(struct storage *st, const char *id, int64_t now, char *err, size_t errlen);

/* ---- enrollment ---- */
int storage_enroll_token_add(struct storage *st, const char *id, const char *hash,
			     const char *created_by, int64_t now, int64_t expires_at, char *err,
			     size_t errlen);
/*
 * Consumes enrollment token token_id (whose hash must equal token_hash) and
 * creates endpoint ep (its id, facts and credential hash cred_hash; the
 * times are set to now) in one transaction. Returns STORAGE_E_TOKEN_INVALID
 * (unknown id or wrong hash), _USED or _EXPIRED without changing anything.
 */
int storage_enroll(struct storage *st, const char *token_id, const char *token_hash,
		   const struct storage_endpoint *ep, const char *cred_hash, int64_t now, char *err,
		   size_t errlen);

/* ---- endpoints ---- */
int storage_endpoint_get(struct storage *st, const char *id, struct storage_endpoint *out,
			 char *err, size_t errlen);
/* Like storage_endpoint_get, and the credential's hash must match
 * (constant-time); a mismatch is STORAGE_E_NOT_FOUND. */
int storage_endpoint_check(struct storage *st, const char *id, const char *cred_hash,
			   struct storage_endpoint *out, char *err, size_t errlen);
int storage_endpoint_list(struct storage *st, struct storage_endpoint **out, size_t *n, char *err,
			  size_t errlen);
/* Sets last_seen to now and, where the fields of facts are non-empty,
 * replaces hostname, os, kernel, agent_version. facts may be NULL. */
int storage_endpoint_touch(struct storage *st, const char *id, const struct storage_endpoint *facts,
			   int64_t now, char *err, size_t errlen);
/* Revokes the endpoint and cancels its pending requests, atomically. */
int storage_endpoint_revoke(struct storage *st, const char *id, int64_t now, char *err,
			    size_t errlen);

/* ---- approval requests ---- */
/* Inserts r as given (id, endpoint, fields, created_at, expires_at); state
 * is forced to pending and decisions ignored. */
int storage_request_add(struct storage *st, const struct storage_request *r, char *err,
			size_t errlen);
/* Reads request id with its decisions. endpoint_id non-NULL restricts the
 * lookup to that endpoint's requests (another's is STORAGE_E_NOT_FOUND).
 * A pending request past expires_at is expired (written) first. */
int storage_request_get(struct storage *st, const char *id, const char *endpoint_id, int64_t now,
			struct storage_request *out, char *err, size_t errlen);
/* Newest first; state < 0 means any. Expires what is due first. */
int storage_request_list(struct storage *st, int state, size_t limit, int64_t now,
			 struct storage_request_list *out, char *err, size_t errlen);
/*
 * Records approver's decision on request id and moves its state when it is
 * final: a deny denies; the approvals_needed-th distinct approval approves.
 * Refuses with _NOT_FOUND, _NOT_PENDING (includes expired), _SELF_APPROVAL
 * (approver is the request's user) or _ALREADY_DECIDED. On success out
 * (if non-NULL) holds the request after the decision.
 */
int storage_request_decide(struct storage *st, const char *id, const char *approver, int approve,
			   const char *note, int64_t now, struct storage_request *out, char *err,
			   size_t errlen);
/* The endpoint cancels its own pending request. */
int storage_request_cancel(struct storage *st, const char *id, const char *endpoint_id, int64_t now,
			   struct storage_request *out, char *err, size_t errlen);
/* Marks every pending request with expires_at <= now expired. */
int storage_expire(struct storage *st, int64_t now, char *err, size_t errlen);

void storage_request_clear(struct storage_request *r);
void storage_request_list_free(struct storage_request_list *l);

/* ---- central MFA (storage_mfa.c) ---- */
#define STORAGE_MFA_STATE_MAX 4096 /* bytes of one user's state text */
#define STORAGE_MFA_BY_MAX 96      /* who changed it: "endpoint:<id>", "user:<name>" */

/* One user's MFA state: text in lib/mfastore.c's format (it holds the TOTP
 * secret). Owned strings; storage_mfa_clear() wipes and frees them. */
struct storage_mfa {
	char user[STORAGE_NAME_MAX + 1];
	char *state;
	int64_t updated_at;
	char updated_by[STORAGE_MFA_BY_MAX];
};

/*
 * Decides a user's next state: state is the stored text or NULL when the
 * user has none. Sets *next to a malloc'd text to store (NULL: no change;
 * the caller's copy is wiped and freed after). Returns STORAGE_OK, or a
 * negative STORAGE_E_* code that rolls the transaction back.
 */
typedef int (*storage_mfa_fn)(void *arg, const char *state, char **next);

/*
 * One read-modify-write of user's MFA state in one write transaction: the
 * row is read (locked on PostgreSQL), fn decides, the result is written and
 * committed before this returns STORAGE_OK. A failed write or commit is
 * STORAGE_E_DB: the caller must not act on what fn decided.
 */
int storage_mfa_update(struct storage *st, const char *user, const char *by, int64_t now,
		       storage_mfa_fn fn, void *arg, char *err, size_t errlen);
/* user's state; STORAGE_E_NOT_FOUND when none. */
int storage_mfa_get(struct storage *st, const char *user, struct storage_mfa *out, char *err,
		    size_t errlen);
/* Every user's state, by name (at most STORAGE_LIST_MAX);
 * storage_mfa_list_free(). */
int storage_mfa_list(struct storage *st, struct storage_mfa **out, size_t *n, char *err,
		     size_t errlen);
/* Removes user's state (admin reset): STORAGE_E_NOT_FOUND when none. */
int storage_mfa_delete(struct storage *st, const char *user, char *err, size_t errlen);
void storage_mfa_clear(struct storage_mfa *m);
void storage_mfa_list_free(struct storage_mfa *list, size_t n);

/* ---- audit shipping and alerts (storage_audit.c) ---- */
#define STORAGE_ALERT_KIND_MAX 32
#define STORAGE_ALERT_DETAIL_MAX 512
#define STORAGE_AUDIT_FLAG_MAX 16

/* An alert. endpoint_id "" and seq 0 when it names none. */
struct storage_alert {
	char id[STORAGE_ID_LEN + 1];
	char endpoint_id[STORAGE_ID_LEN + 1];
	char hostname[STORAGE_HOST_MAX + 1]; /* the endpoint's, when listed */
	char kind[STORAGE_ALERT_KIND_MAX + 1];
	int64_t seq;
	char detail[STORAGE_ALERT_DETAIL_MAX + 1];
	int64_t created_at;
};

struct storage_alert_list {
	size_t n;
	struct storage_alert *items;
};

/* Stores one alert (kind [a-z0-9_], detail cut to its maximum); endpoint_id
 * may be NULL and seq 0 for none. Its id is drawn here. */
int storage_alert_add(struct storage *st, const char *endpoint_id, const char *kind, int64_t seq,
		      const char *detail, int64_t now, char *err, size_t errlen);
/* As storage_alert_add, and appends the stored alert to *raised (which
 * starts zeroed; storage_alert_list_free), for alert_announce(). */
int storage_alert_raise(struct storage *st, const char *endpoint_id, const char *kind, int64_t seq,
			const char *detail, int64_t now, struct storage_alert_list *raised,
			char *err, size_t errlen);
/* Newest first: created_at >= since, kind NULL for any, at most limit. */
int storage_alert_list(struct storage *st, int64_t since, const char *kind, size_t limit,
		       struct storage_alert_list *out, char *err, size_t errlen);
void storage_alert_list_free(struct storage_alert_list *l);

/*
 * Ingests n audit lines (lines[i], lens[i] bytes) shipped by endpoint_id,
 * the first following its record after_seq, in one transaction: each is
 * checked against the endpoint's chain head (hub/auditchain.h) and stored
 * with its columns, flagged if it is not a valid next link; a line the hub
 * has already (same endpoint, seq and bytes) is skipped silently. Alerts
 * (audit_gap, audit_fork, audit_rewind, audit_hash, audit_tamper,
 * breakglass_used) are stored in the same transaction and appended to
 * *raised (the caller logs and announces them, and frees the list).
 * *acked_seq is the seq of the last line.
 */
int storage_audit_ingest(struct storage *st, const char *endpoint_id, int64_t after_seq,
			 const char *const *lines, const size_t *lens, size_t n, int64_t now,
			 int64_t *acked_seq, struct storage_alert_list *raised, char *err,
			 size_t errlen);
/*
 * Records the endpoint's last local seq, as its heartbeat said, with the
 * endpoint's cursor (shipped_seq, -1 if not given). A trail that ends
 * before both the hub's head and the endpoint's own cursor was rewound or
 * wiped on the endpoint (records it shipped are gone locally): the first
 * such heartbeat raises audit_rewind, appended to *raised (the caller
 * announces and frees it); it is raised again only after the trail caught
 * up. The cursor tells that from a late heartbeat of a shipper that has
 * since been replaced, whose seq and cursor were both behind.
 */
int storage_audit_known(struct storage *st, const char *endpoint_id, int64_t known_seq,
			int64_t shipped_seq, int64_t now, struct storage_alert_list *raised,
			char *err, size_t errlen);

/* One endpoint's shipping state. Times 0: never; shipped_seq 0: none. */
struct storage_audit_lag {
	char endpoint_id[STORAGE_ID_LEN + 1];
	char hostname[STORAGE_HOST_MAX + 1];
	int64_t shipped_seq, known_seq, shipped_at, known_at, last_seen, revoked_at;
};
/* Every endpoint (at most STORAGE_LIST_MAX), by enrollment. *out: free(). */
int storage_audit_lag_list(struct storage *st, struct storage_audit_lag **out, size_t *n, char *err,
			   size_t errlen);

/* A search over the stored records; "" or 0 for no condition. */
struct storage_audit_query {
	const char *host, *user, *event, *endpoint_id;
	int64_t since, until; /* seconds, inclusive; until 0: none */
	size_t limit;
};

struct storage_audit_row {
	char endpoint_id[STORAGE_ID_LEN + 1];
	int64_t seq, time_us;
	char event[33];
	char user[65];
	char host[STORAGE_HOST_MAX + 1];
	char flag[STORAGE_AUDIT_FLAG_MAX + 1]; /* "" for a verified link */
	char *raw;                             /* owned */
};

struct storage_audit_rows {
	size_t n;
	struct storage_audit_row *items;
};

/* The newest q->limit matches, oldest first. */
int storage_audit_search(struct storage *st, const struct storage_audit_query *q,
			 struct storage_audit_rows *out, char *err, size_t errlen);
void storage_audit_rows_free(struct storage_audit_rows *r);

/*
 * Raises endpoint_silent for each endpoint not revoked and not seen since
 * before cutoff, once per silence (a new one starts when it is seen
 * again); safe with several hubs on one database. Raised alerts are
 * appended to *raised (the caller frees it).
 */
int storage_silent_scan(struct storage *st, int64_t cutoff, int64_t now,
			struct storage_alert_list *raised, char *err, size_t errlen);

#endif
