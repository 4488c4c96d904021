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
