/*
 * storage_breakglass: break-glass keys and the response log. The MUST
 * rules are in storage_breakglass.h and storage.h.
 */
#include "storage_breakglass.h"

#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "storage_impl.h"

int storage_breakglass_key(struct storage *st, const char *id, char hex[STORAGE_HASH_LEN + 1],
			   char *err, size_t errlen)
{
	struct sdb_result r;
	const char *p[] = {id};
	hex[0] = '\0';
	int rc = storage_exec(st, "SELECT breakglass_key FROM endpoints WHERE id = ?", p, 1, &r,
			      err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	if (r.nrows != 1)
		rc = STORAGE_E_NOT_FOUND;
	else if (storage_cell(&r, 0, 0) &&
		 (storage_cell_str(&r, 0, 0, hex, STORAGE_HASH_LEN + 1) != 0 ||
		  !auth_is_hex(hex, STORAGE_HASH_LEN) || strlen(hex) != STORAGE_HASH_LEN))
		rc = storage_corrupt(err, errlen, "endpoints.breakglass_key");
	for (size_t i = 0; i < r.nrows * r.ncols; i++) /* the key, in the driver's copy */
		if (r.cells[i])
			explicit_bzero(r.cells[i], strlen(r.cells[i]));
	sdb_result_free(&r);
	if (rc != STORAGE_OK)
		explicit_bzero(hex, STORAGE_HASH_LEN + 1);
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
