/*
 * storage_breakglass: the hub's side of break-glass (docs/breakglass.md):
 * reading an endpoint's key, finding endpoints by hostname, and the log of
 * issued responses (table breakglass_responses, migration 6). Conventions
 * and errors as in storage.h.
 *
 * MUST rules:
 *  - The key is returned only to compute a response; callers wipe it.
 *  - Every response is logged before it is handed out.
 */
#ifndef JITSU_HUB_STORAGE_BREAKGLASS_H
#define JITSU_HUB_STORAGE_BREAKGLASS_H

#include "storage.h"

#define STORAGE_BREAKGLASS_HOST_MAX 16 /* ids reported for one hostname */

/* Endpoint id's break-glass key as 64 hex digits into hex, or "" when it
 * was enrolled before break-glass. STORAGE_E_NOT_FOUND for no endpoint. */
int storage_breakglass_key(struct storage *st, const char *id, char hex[STORAGE_HASH_LEN + 1],
			   char *err, size_t errlen);

/* The ids of the endpoints named host (ignoring case; revoked ones too),
 * oldest first, at most max; *n gets how many there are in all (may exceed
 * max). */
int storage_endpoint_ids_by_host(struct storage *st, const char *host,
				 char (*ids)[STORAGE_ID_LEN + 1], size_t max, size_t *n, char *err,
				 size_t errlen);

/* Logs a response issued by user issued_by for challenge in window. */
int storage_breakglass_log(struct storage *st, const char *endpoint_id, const char *issued_by,
			   const char *challenge, int64_t window, int64_t now, char *err,
			   size_t errlen);

#endif
