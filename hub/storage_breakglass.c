/*
 * storage_breakglass: break-glass keys and the response log. The MUST
 * rules are in storage_breakglass.h and storage.h.
 */
#include "storage_breakglass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "storage_impl.h"

/* A stored key's text: printable ASCII, no space at either end. */
static int key_text_ok(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || t[0] == ' ' || t[n - 1] == ' ')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (t[i] < 0x20 || t[i] > 0x7e)
			return 0;
	return 1;
}

/* Wipes every cell of r (the keys, in the driver's copy), then frees it. */
static void result_wipe_free(struct sdb_result *r)
{
	for (size_t i = 0; i < r->nrows * r->ncols; i++)
		if (r->cells[i])
			explicit_bzero(r->cells[i], strlen(r->cells[i]));
	sdb_result_free(r);
}

int storage_breakglass_key(struct storage *st, const char *id,
			   char text[STORAGE_BREAKGLASS_MAX + 1], char *err, size_t errlen)
{
	struct sdb_result r;
	const char *p[] = {id};
	text[0] = '\0';
	int rc = storage_exec(st, "SELECT breakglass_key FROM endpoints WHERE id = ?", p, 1, &r,
			      err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	if (r.nrows != 1)
		rc = STORAGE_E_NOT_FOUND;
	else if (storage_cell(&r, 0, 0) &&
		 (storage_cell_str(&r, 0, 0, text, STORAGE_BREAKGLASS_MAX + 1) != 0 ||
		  !key_text_ok(text)))
		rc = storage_corrupt(err, errlen, "endpoints.breakglass_key");
	result_wipe_free(&r);
	if (rc != STORAGE_OK)
		explicit_bzero(text, STORAGE_BREAKGLASS_MAX + 1);
	return rc;
}

int storage_breakglass_seal_clear(struct storage *st,
				  int (*seal)(void *ctx, const char *id, const char *hex,
					      char **sealed),
				  void *ctx, size_t *n, char *err, size_t errlen)
{
	struct sdb_result r;
	*n = 0;
	int rc = storage_exec(st,
			      "SELECT id, breakglass_key FROM endpoints"
			      " WHERE breakglass_key IS NOT NULL AND length(breakglass_key) = 64"
			      " ORDER BY id",
			      NULL, 0, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	for (size_t i = 0; i < r.nrows && rc == STORAGE_OK; i++) {
		const char *id = storage_cell(&r, i, 0), *hex = storage_cell(&r, i, 1);
		char *sealed = NULL;
		if (!id || !hex || strlen(id) != STORAGE_ID_LEN ||
		    strlen(hex) != STORAGE_HASH_LEN || !auth_is_hex(hex, STORAGE_HASH_LEN)) {
			rc = storage_corrupt(err, errlen, "endpoints.breakglass_key");
			break;
		}
		if (seal(ctx, id, hex, &sealed) != 0 || !sealed) {
			storage_seterr(err, errlen, "cannot seal endpoint %s's break-glass key",
				       id);
			rc = STORAGE_E_DB;
			break;
		}
		/* Only if still the clear key: another hub on the same database
		 * may be sealing it at this moment. */
		struct sdb_result u;
		const char *q[] = {sealed, id, hex};
		rc = storage_exec(st,
				  "UPDATE endpoints SET breakglass_key = ?"
				  " WHERE id = ? AND breakglass_key = ? RETURNING id",
				  q, 3, &u, err, errlen);
		explicit_bzero(sealed, strlen(sealed));
		free(sealed);
		if (rc == STORAGE_OK) {
			*n += u.nrows;
			sdb_result_free(&u);
		}
	}
	result_wipe_free(&r);
	return rc;
}

int storage_endpoint_ids_by_host(struct storage *st, const char *host,
				 char (*ids)[STORAGE_ID_LEN + 1], size_t max, size_t *n, char *err,
				 size_t errlen)
{
	struct sdb_result r;
	const char *p[] = {host};
	*n = 0;
	/* Hostnames compare case-insensitively, as in DNS. */
	int rc = storage_exec(st,
			      "SELECT id FROM endpoints WHERE lower(hostname) = lower(?)"
			      " ORDER BY enrolled_at, id",
			      p, 1, &r, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	for (size_t i = 0; i < r.nrows && rc == STORAGE_OK; i++)
		if (i < max && storage_cell_str(&r, i, 0, ids[i], STORAGE_ID_LEN + 1) != 0)
			rc = storage_corrupt(err, errlen, "endpoints");
	if (rc == STORAGE_OK)
		*n = r.nrows;
	sdb_result_free(&r);
	return rc;
}

int storage_breakglass_log(struct storage *st, const char *endpoint_id, const char *issued_by,
			   const char *challenge, int64_t window, int64_t now, char *err,
			   size_t errlen)
{
	char id[STORAGE_ID_LEN + 1], w[STORAGE_I64_LEN], t[STORAGE_I64_LEN];
	if (auth_new_id(id) != 0) {
		storage_seterr(err, errlen, "no randomness");
		return STORAGE_E_DB;
	}
	const char *p[] = {
		id, endpoint_id, issued_by, challenge, storage_i64(w, window), storage_i64(t, now)};
	return storage_exec(
		st,
		"INSERT INTO breakglass_responses (id, endpoint_id, issued_by, challenge,"
		" time_window, issued_at) VALUES (?, ?, ?, ?, ?, ?)",
		p, 6, NULL, err, errlen);
}
