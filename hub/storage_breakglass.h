/*
 * storage_breakglass: the hub's side of break-glass (docs/breakglass.md):
 * reading an endpoint's key, finding endpoints by hostname, and the log of
 * issued responses (table breakglass_responses, migration 6). Conventions
 * and errors as in storage.h.
 *
 * MUST rules:
 *  - The key is returned only to compute a response; callers wipe it.
 *  - Stored keys are sealed by the caller; storage never sees a clear key
 *    except to seal one an older hub left (storage_breakglass_seal_clear).
 *  - Every response is logged before it is handed out.
 */
#ifndef JITSU_HUB_STORAGE_BREAKGLASS_H
#define JITSU_HUB_STORAGE_BREAKGLASS_H

#include "storage.h"

#define STORAGE_BREAKGLASS_HOST_MAX 16 /* ids reported for one hostname */

#define STORAGE_BREAKGLASS_MAX 512 /* a stored key's text */

/* Endpoint id's break-glass key as stored into text: sealed by the caller
 * at enrollment (hub/mfaseal.h), the 64 hex digits a hub before sealing
 * stored, or "" when it was enrolled before break-glass. Storage checks
 * only that the text is printable and fits. STORAGE_E_NOT_FOUND for no
 * endpoint. */
int storage_breakglass_key(struct storage *st, const char *id,
			   char text[STORAGE_BREAKGLASS_MAX + 1], char *err, size_t errlen);

/* Seals the keys a hub before sealing stored in clear (64 hex digits):
 * each through seal (which mallocs *sealed, or fails), written back only
 * if the row still holds that clear key, since another hub on the same
 * database may seal it at the same time. *n gets how many it replaced. */
int storage_breakglass_seal_clear(struct storage *st,
				  int (*seal)(void *ctx, const char *id, const char *hex,
					      char **sealed),
				  void *ctx, size_t *n, char *err, size_t errlen);

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
