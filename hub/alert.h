/*
 * alert: what the hub does with an alert once it is stored
 * (storage_alert_add and the alerts raised by storage_audit_ingest and
 * storage_silent_scan): one warning line in the hub's log and one
 * announcement to each webhook (event "alert"). The alerts themselves are
 * read back through GET /api/v1/alerts.
 *
 * MUST rules:
 *  - Every stored alert is announced: the caller hands over each alert it
 *    stored, after the transaction that stored it committed.
 *  - The log line is one line: every field is escaped or of a fixed shape.
 */
#ifndef JITSU_HUB_ALERT_H
#define JITSU_HUB_ALERT_H

#include "storage.h"

struct webhook;

/* Logs and announces every alert of l (wh may be NULL: no webhooks). */
void alert_announce(struct webhook *wh, const struct storage_alert_list *l);

/*
 * Stores one alert (storage_alert_raise), then logs and announces it, with
 * the endpoint's hostname when endpoint_id names one. For code that raises
 * an alert outside a transaction of its own (e.g. an MFA lockout reported
 * by an endpoint). Returns a STORAGE_* code, with err on failure.
 */
int alert_raise(struct storage *st, struct webhook *wh, const char *endpoint_id, const char *kind,
		int64_t seq, const char *detail, int64_t now, char *err, size_t errlen);

#endif
