/*
 * mfastore: per-user TOTP enrollment state at rest, and the whole MFA check
 * (lockout, replay protection, recovery codes) done under a per-user lock.
 *
 * Layout: DIR (normally <statedir>/mfa) is a 0700 directory owned by the
 * daemon's uid. Per user it holds "<uid>" (the state, mode 0600, replaced
 * atomically) and "<uid>.lock" (empty, 0600, never renamed: flock target).
 * The file format is described at mfastore_parse() and in docs/mfa.md.
 *
 * MUST rules:
 *  - Every read-modify-write of a user's state happens under an exclusive
 *    flock on "<uid>.lock"; the daemon forks per connection, so two elevations
 *    of one user can race. A code is accepted only if its step is greater than
 *    the last step used, and that step is on disk before OK is returned.
 *  - Fail closed: a state file that is missing-but-expected, unreadable,
 *    not a regular 0600 file owned by us, or that does not parse exactly is a
 *    store error for that user only; it never reads as "not enrolled".
 *  - A failure to record a failure, a lockout or a used step is a store
 *    error, never a success.
 *  - Writes are atomic: temp file in the same directory, fsync, rename,
 *    fsync of the directory. Files are opened with O_NOFOLLOW relative to the
 *    directory fd, and checked with fstat on the opened fd.
 *  - Recovery codes are stored only as salted PBKDF2-HMAC-SHA256 hashes;
 *    secrets, codes and file buffers are wiped after use and never appear in
 *    error messages.
 *  - The clock is a parameter (now); nothing here reads the time.
 */
#ifndef JITSU_MFASTORE_H
#define JITSU_MFASTORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "jitsu/totp.h"

#define MFASTORE_VERSION 1
#define MFASTORE_DIRNAME "mfa" /* the store directory under statedir */
#define MFASTORE_RECOVERY_CODES 10
#define MFASTORE_SALT_LEN 16
#define MFASTORE_HASH_LEN 32
#define MFASTORE_KDF_ITER 20000    /* PBKDF2 rounds for new codes */
#define MFASTORE_KDF_ITER_MIN 1000 /* accepted range when parsing */
#define MFASTORE_KDF_ITER_MAX 1000000
#define MFASTORE_MAX_FAILS 5       /* consecutive failures before lockout */
#define MFASTORE_LOCK_BASE 60      /* first lockout, seconds; then doubles */
#define MFASTORE_LOCK_MAX 3600     /* longest lockout, seconds */
#define MFASTORE_LEVEL_MAX 32      /* saturation of lockout_level */
#define MFASTORE_PENDING_TTL 600   /* seconds to confirm an enrollment */
#define MFASTORE_FILE_MAX 4096     /* bytes in one state file */
#define MFASTORE_LOCK_WAIT_MS 5000 /* longest wait for the user's lock */

enum mfastore_phase {
	MFASTORE_PENDING = 1, /* secret issued, not yet confirmed: not enrolled */
	MFASTORE_ACTIVE = 2,  /* confirmed: MFA checks use this secret */
};

struct mfastore_recovery {
	uint8_t salt[MFASTORE_SALT_LEN];
	uint8_t hash[MFASTORE_HASH_LEN]; /* PBKDF2-HMAC-SHA256(canonical code, salt) */
	int used;
};

/* One user's state, exactly as stored. Wipe with mfastore_state_wipe(). */
struct mfastore_state {
	enum mfastore_phase phase;
	uint8_t secret[TOTP_SECRET_LEN];
	int64_t created;        /* when the enrollment began */
	uint64_t last_step;     /* last TOTP step accepted; 0: none */
	unsigned fail_count;    /* consecutive failures, < MFASTORE_MAX_FAILS */
	unsigned lockout_level; /* lockouts since the last success */
	int64_t locked_until;   /* locked while now < locked_until */
	unsigned kdf_iter;      /* PBKDF2 rounds of the recovery hashes */
	unsigned nrecovery;     /* 0 while pending, MFASTORE_RECOVERY_CODES once active */
	struct mfastore_recovery recovery[MFASTORE_RECOVERY_CODES];
};

enum mfastore_result {
	MFASTORE_OK = 0,       /* a fresh TOTP code; its step is now used */
	MFASTORE_OK_RECOVERY,  /* an unused recovery code; it is now used */
	MFASTORE_WRONG,        /* no match: counted as a failure */
	MFASTORE_REPLAY,       /* a correct code of a step already used, or a
	                          recovery code already used: refused, not counted */
	MFASTORE_LOCKED,       /* locked out: the input was not looked at */
	MFASTORE_BAD_INPUT,    /* neither a 6-digit code nor a recovery code:
	                          refused before any check, not counted */
	MFASTORE_NOT_ENROLLED, /* no active enrollment for this user */
	MFASTORE_STORE_ERROR,  /* corrupt or unreadable state, or a failed write:
	                          fail closed for this user */
};

struct mfastore_verdict {
	enum mfastore_result result;
	uint64_t step;          /* MFASTORE_OK: the step accepted */
	unsigned fail_count;    /* consecutive failures after this attempt */
	unsigned lockout_level; /* after this attempt */
	unsigned locked_secs;   /* > 0: locked out for this many more seconds */
	int lockout_started;    /* this failure started a lockout: log it */
	unsigned recovery_left; /* unused recovery codes after this attempt */
};

/* What the user must see once to enroll. Wipe with mfastore_enrollment_wipe(). */
struct mfastore_enrollment {
	char secret_b32[TOTP_B32_LEN + 1]; /* for manual entry */
	char uri[TOTP_URI_MAX];            /* otpauth:// URI for the QR code */
};

/* The recovery codes, in display form, returned once at confirmation. */
struct mfastore_recovery_codes {
	char code[MFASTORE_RECOVERY_CODES][TOTP_RECOVERY_LEN + 1];
};

struct mfastore_status {
	int enrolled; /* 1: active enrollment */
	int pending;  /* 1: enrollment begun, not confirmed */
	unsigned recovery_left;
	unsigned fail_count;
	unsigned lockout_level;
	int64_t locked_until;
	unsigned locked_secs; /* seconds of lockout left at now; 0: not locked */
};

/*
 * Parses a state file held in buf (len bytes, need not be NUL-terminated;
 * over MFASTORE_FILE_MAX is refused). The format, one "key=value" per line,
 * each line ending in '\n', keys in exactly this order, nothing else:
 *   jitsu-mfa 1                        (the first line: magic and version)
 *   phase=pending|active
 *   secret=<40 lower-case hex>
 *   created=<decimal>   last_step=<decimal>   fail_count=<0..4>
 *   lockout_level=<0..32>   locked_until=<decimal>
 *   kdf=pbkdf2-sha256:<rounds 1000..1000000>
 *   recovery=<32 hex salt>:<64 hex hash>:<unused|used>   (0 lines while
 *                                         pending, exactly 10 when active)
 * Decimals have no sign and no leading zeros. Returns 0 and fills *st, or
 * -EBADMSG with the line and reason in err (never a value). No I/O.
 */
int mfastore_parse(const char *buf, size_t len, struct mfastore_state *st, char *err,
		   size_t errlen);

/*
 * Writes st in the format above to buf. Returns the length (no NUL is
 * counted; one is written), -ENOSPC, or -EINVAL if st would not parse back.
 * The caller wipes buf.
 */
int mfastore_format(const struct mfastore_state *st, char *buf, size_t len);

/*
 * Reads DIR/<uid> into *st (a consistent snapshot; no lock taken).
 * Returns 0; -ENOENT if the user has no state (not enrolled); -EBADMSG if
 * the file is corrupt; -EPERM if the directory or file is not owned by us
 * or is group/world accessible, or is not a regular file; another -errno
 * for I/O errors. err receives a message naming the file and the reason.
 */
int mfastore_load(const char *dir, uid_t uid, struct mfastore_state *st, char *err, size_t errlen);

/*
 * Atomically replaces DIR/<uid> with st under the user's lock, creating DIR
 * (mode 0700) if missing. Returns 0 or -errno (err says which step failed).
 */
int mfastore_save(const char *dir, uid_t uid, const struct mfastore_state *st, char *err,
		  size_t errlen);

/*
 * Starts an enrollment: a new secret from the kernel CSPRNG, stored as
 * pending (replacing an earlier pending one). account labels the URI
 * ("alice@host"). Fills *out with the base32 secret and the otpauth URI.
 * Returns 0; -EEXIST if the user is already enrolled (an admin must reset);
 * -EBADMSG if the existing state is corrupt; -EINVAL for a bad account;
 * another -errno on I/O errors.
 */
int mfastore_begin_enroll(const char *dir, uid_t uid, const char *account, time_t now,
			  struct mfastore_enrollment *out, char *err, size_t errlen);

/*
 * Confirms a pending enrollment with one current code typed by the user
 * (parsed by totp_parse_input()). On success the enrollment is active, the
 * code's step is used, and *codes receives the 10 new recovery codes, which
 * exist nowhere else in clear: show them once, then wipe.
 * Returns 0; -EINVAL if input is not a 6-digit code; -EACCES if the code is
 * wrong; -ENOENT if nothing is pending; -EALREADY if already active;
 * -ETIMEDOUT if the pending enrollment is older than MFASTORE_PENDING_TTL;
 * -EBADMSG if corrupt; another -errno on I/O errors.
 */
int mfastore_confirm_enroll(const char *dir, uid_t uid, const char *input, time_t now,
			    struct mfastore_recovery_codes *codes, char *err, size_t errlen);

/*
 * The whole MFA check for one typed input (NUL-terminated; a TOTP code or a
 * recovery code) at time now, under the user's lock: lockout, replay,
 * bookkeeping, and the write-back. Always fills *v. Returns 0 when a verdict
 * was reached (v->result says which), or -errno with v->result ==
 * MFASTORE_STORE_ERROR and the reason in err. Never blocks longer than about
 * MFASTORE_LOCK_WAIT_MS on the lock; a recovery code costs up to ten PBKDF2
 * runs (about 50 ms).
 */
int mfastore_verify(const char *dir, uid_t uid, const char *input, time_t now,
		    struct mfastore_verdict *v, char *err, size_t errlen);

/*
 * Removes the user's state (admin reset) under the user's lock, so the user
 * can enroll again. Works on a corrupt file too. Returns 0, -ENOENT if
 * there was nothing to remove, or -errno.
 */
int mfastore_reset(const char *dir, uid_t uid, char *err, size_t errlen);

/*
 * Reports the user's state at time now into *out. Returns 0 (also when not
 * enrolled: out->enrolled == 0), -EBADMSG if corrupt, or -errno.
 */
int mfastore_status(const char *dir, uid_t uid, time_t now, struct mfastore_status *out, char *err,
		    size_t errlen);

/*
 * The same rules on a state held in memory, with no I/O and no lock: for a
 * keeper that stores states elsewhere (jitsu-hub keeps them in its
 * database and serialises each user's read-modify-write with a row lock).
 * The file functions above are these plus the file, the lock and the write.
 * The caller stores *st (mfastore_format()) before it acts on a result.
 */

/* A new pending enrollment in *st (whatever it held is replaced), and what
 * the user must see in *out. 0, or -errno with err (st is then wiped). */
int mfastore_state_begin(struct mfastore_state *st, const char *account, time_t now,
			 struct mfastore_enrollment *out, char *err, size_t errlen);

/* mfastore_confirm_enroll() on *st: 0 (st is active, *codes filled),
 * -EINVAL, -EACCES, -EALREADY, -ETIMEDOUT, or another -errno. */
int mfastore_state_confirm(struct mfastore_state *st, const char *input, time_t now,
			   struct mfastore_recovery_codes *codes, char *err, size_t errlen);

/* mfastore_verify() on *st: always fills *v. Returns 1 when *st changed
 * (it must be stored before the verdict counts: a used step, a failure, a
 * lockout), 0 when not, or -EIO/-EINVAL with v->result ==
 * MFASTORE_STORE_ERROR. A state that is not active is MFASTORE_NOT_ENROLLED. */
int mfastore_state_verify(struct mfastore_state *st, const char *input, time_t now,
			  struct mfastore_verdict *v);

/* The status report of *st at time now. */
void mfastore_state_status(const struct mfastore_state *st, time_t now,
			   struct mfastore_status *out);

/* A short name for a result, for logs ("ok", "wrong", "locked", ...). */
const char *mfastore_result_name(enum mfastore_result r);

/* Wipe helpers (OPENSSL_cleanse); safe on NULL. */
void mfastore_state_wipe(struct mfastore_state *st);
void mfastore_enrollment_wipe(struct mfastore_enrollment *e);
void mfastore_recovery_codes_wipe(struct mfastore_recovery_codes *c);

#endif
