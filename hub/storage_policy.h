/*
 * storage_policy: central policy management in the hub's database. A policy
 * group holds numbered versions of policy text; an endpoint is in at most
 * one group. Both backends, through storage.c's driver (storage.h).
 *
 * MUST rules:
 *  - History is append-only: a push or a rollback adds a version, nothing
 *    changes or deletes one. Versions of a group count 1, 2, 3, ... with no
 *    gaps: the next number is taken inside the write transaction, and the
 *    (group, version) primary key refuses a second writer that raced it
 *    (then the add is retried).
 *  - The text stored is the text validated by the caller (the hub parses it
 *    with lib/policy.c before storing); its SHA-256 is stored beside it.
 *  - An endpoint is put into a group only if that group has a version, so
 *    an endpoint with a group always has a policy to fetch.
 *  - The clock is a parameter (now); nothing here reads the time.
 */
#ifndef JITSU_HUB_STORAGE_POLICY_H
#define JITSU_HUB_STORAGE_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "storage.h"

#define STORAGE_POLICY_MAX 61440    /* bytes of policy text (fits a 64 KiB body) */
#define STORAGE_POLICY_MSG_MAX 1024 /* bytes of a push message */

/* One version of a group's policy. text and message are owned
 * (storage_policy_clear()); text is NULL in a history listing. */
struct storage_policy {
	char group[STORAGE_NAME_MAX + 1];
	int64_t version;
	char sha256[STORAGE_HASH_LEN + 1];
	char pushed_by[STORAGE_NAME_MAX + 1];
	int64_t pushed_at;
	int64_t rollback_of; /* the version whose text this one repeats; 0: none */
	char *message;
	char *text;
};

/*
 * Adds the next version of group with text (its SHA-256 hex in sha256),
 * pushed by user with message (may be ""). rollback_of is 0 for a push.
 * On success out (if non-NULL) holds the new version, text included.
 */
int storage_policy_add(struct storage *st, const char *group, const char *text, const char *sha256,
		       const char *by, const char *message, int64_t rollback_of, int64_t now,
		       struct storage_policy *out, char *err, size_t errlen);

/*
 * Rolls group back to version: adds a new version whose text is that
 * version's, in one transaction. STORAGE_E_NOT_FOUND if there is no such
 * version. out as for storage_policy_add().
 */
int storage_policy_rollback(struct storage *st, const char *group, int64_t version, const char *by,
			    const char *message, int64_t now, struct storage_policy *out, char *err,
			    size_t errlen);

/* Reads version (0: the newest) of group, with its text.
 * STORAGE_E_NOT_FOUND if the group or the version does not exist. */
int storage_policy_get(struct storage *st, const char *group, int64_t version,
		       struct storage_policy *out, char *err, size_t errlen);

/* The group's versions, newest first, without text; at most
 * STORAGE_LIST_MAX. *out is freed with storage_policy_list_free(). */
int storage_policy_history(struct storage *st, const char *group, struct storage_policy **out,
			   size_t *n, char *err, size_t errlen);

/*
 * Puts endpoint id into group (replacing its group), or takes it out of
 * any group when group is NULL. STORAGE_E_NOT_FOUND for an unknown
 * endpoint; STORAGE_E_INVALID when group has no version yet.
 */
int storage_policy_group_set(struct storage *st, const char *id, const char *group, const char *by,
			     int64_t now, char *err, size_t errlen);

/*
 * storage_enroll() (storage.h), and the new endpoint is put into group in
 * the same transaction. STORAGE_E_INVALID, with nothing changed and the
 * token not used, when group has no version yet.
 */
int storage_enroll_grouped(struct storage *st, const char *token_id, const char *token_hash,
			   const struct storage_endpoint *ep, const char *cred_hash,
			   const char *group, int64_t now, char *err, size_t errlen);

/* The group of endpoint id into group (STORAGE_NAME_MAX + 1 bytes), or ""
 * when it has none. */
int storage_policy_group_get(struct storage *st, const char *id, char *group, char *err,
			     size_t errlen);

void storage_policy_clear(struct storage_policy *p);
void storage_policy_list_free(struct storage_policy *l, size_t n);

#endif
