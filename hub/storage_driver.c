/* storage_driver: the result table both SQL drivers fill; see storage_driver.h. */
#include "storage_driver.h"

#include <stdlib.h>
#include <string.h>

int sdb_result_add_row(struct sdb_result *res, const char *const *cells, const size_t *lens,
		       size_t n, size_t *bytes)
{
	if (res->nrows >= SDB_MAX_ROWS || (res->nrows > 0 && n != res->ncols))
		return SDB_E_TOOBIG;
	for (size_t i = 0; i < n; i++) {
		if (cells[i] && lens[i] + 1 > SDB_MAX_BYTES - *bytes)
			return SDB_E_TOOBIG;
		if (cells[i])
			*bytes += lens[i] + 1;
	}
	char **grown = realloc(res->cells, (res->nrows + 1) * n * sizeof *grown + 1);
	if (!grown)
		return SDB_E_FAIL;
	res->cells = grown;
	res->ncols = n;
	char **row = grown + res->nrows * n;
	for (size_t i = 0; i < n; i++) {
		row[i] = NULL;
		if (!cells[i])
			continue;
		row[i] = malloc(lens[i] + 1);
		if (!row[i]) {
			for (size_t j = 0; j < i; j++)
				free(row[j]);
			return SDB_E_FAIL;
		}
		memcpy(row[i], cells[i], lens[i]);
		row[i][lens[i]] = '\0';
	}
	res->nrows++;
	return SDB_OK;
}

void sdb_result_free(struct sdb_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->nrows * res->ncols; i++)
		free(res->cells[i]);
	free(res->cells);
	memset(res, 0, sizeof *res);
}
