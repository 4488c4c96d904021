/* alert: logging and announcing stored alerts; see alert.h. */
#include "alert.h"

#include <stdio.h>

#include "jitsu/log.h"
#include "webhook.h"

/* s with every byte outside printable ASCII as '?', cut to fit out. */
static const char *printable(const char *s, char *out, size_t size)
{
	size_t i = 0;
	for (; s[i] && i + 1 < size; i++)
		out[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e ? '?' : s[i];
	out[i] = '\0';
	return out;
}

void alert_announce(struct webhook *wh, const struct storage_alert_list *l)
{
	char detail[STORAGE_ALERT_DETAIL_MAX + 1], host[STORAGE_HOST_MAX + 1];

	for (size_t i = 0; l && i < l->n; i++) {
		const struct storage_alert *a = &l->items[i];
		log_warn("alert %s: %s endpoint %s (%s) seq %lld: %s", a->id, a->kind,
			 a->endpoint_id[0] ? a->endpoint_id : "-",
			 printable(a->hostname[0] ? a->hostname : "-", host, sizeof host),
			 (long long)a->seq, printable(a->detail, detail, sizeof detail));
		webhook_alert(wh, a);
	}
}

int alert_raise(struct storage *st, struct webhook *wh, const char *endpoint_id, const char *kind,
		int64_t seq, const char *detail, int64_t now, char *err, size_t errlen)
{
	struct storage_alert_list raised = {0};
	struct storage_endpoint ep;

	int rc = storage_alert_raise(st, endpoint_id, kind, seq, detail, now, &raised, err, errlen);
	if (rc != STORAGE_OK)
		return rc;
	if (endpoint_id && raised.n == 1 &&
	    storage_endpoint_get(st, endpoint_id, &ep, NULL, 0) == STORAGE_OK)
		snprintf(raised.items[0].hostname, sizeof raised.items[0].hostname, "%s",
			 ep.hostname);
	alert_announce(wh, &raised);
	storage_alert_list_free(&raised);
	return STORAGE_OK;
}
