/*
 * webhook: tells people that a request waits for them. Each new pending
 * request becomes one JSON POST per configured URL (Slack-compatible: a
 * "text" field, plus the structured "event" and "request"), sent by a
 * worker thread with libcurl's multi interface, retried with exponential
 * backoff (1 s, 2 s, 4 s ... capped at 60 s) up to `tries` attempts.
 *
 * MUST rules:
 *  - The API never waits for a webhook: webhook_request_pending() only
 *    appends to a bounded queue (queue_max deliveries, waiting, retrying
 *    and in flight together) and wakes the worker. A full queue drops the
 *    delivery with a logged error.
 *  - HTTPS verifies the receiver's certificate and name against the system
 *    CA store (or the `ca` file); there is no switch to turn that off.
 *    Plain http:// is accepted only to a loopback host, unless allow_http.
 *    Redirects are not followed; only http and https are spoken.
 *  - A webhook URL can carry a secret (Slack's do): logs name only its
 *    scheme, host and port.
 *  - Everything sent derives from a request the API validated; the text is
 *    bounded and escaped for Slack (&, <, >) so a reason or argv cannot
 *    ping a channel or forge a link.
 */
#ifndef JITSU_HUB_WEBHOOK_H
#define JITSU_HUB_WEBHOOK_H

#include <stddef.h>

#include "storage.h"

#define WEBHOOK_MAX 8             /* URLs */
#define WEBHOOK_URL_MAX 1024      /* bytes in a URL */
#define WEBHOOK_TEXT_ITEM_MAX 300 /* bytes of the command, of the reason, in "text" */
#define WEBHOOK_INFLIGHT_MAX 8    /* deliveries on the wire at once */
#define WEBHOOK_BACKOFF_MS 1000   /* before the second try; doubles after */
#define WEBHOOK_BACKOFF_MAX_MS 60000
#define WEBHOOK_DRAIN_MS 2000 /* how long stop lets due deliveries finish */

struct webhook_options {
	const char *const *urls;
	size_t nurls;
	int allow_http;     /* plain http:// to any host */
	const char *ca;     /* CA bundle for https receivers; NULL: the system's */
	unsigned tries;     /* attempts per delivery, 1.. */
	unsigned timeout_s; /* per attempt */
	unsigned queue_max; /* deliveries held at once */
};

struct webhook;

/* 0 if url may be a webhook (https://, or http:// to a loopback host or
 * with allow_http); else -1 with the reason in err. Pure. */
int webhook_url_check(const char *url, int allow_http, char *err, size_t errlen);

/* The JSON body announcing pending request r: malloc'd text (free()), or
 * NULL on out of memory. Pure. */
char *webhook_payload(const struct storage_request *r);

/* The JSON body announcing alert a ({"text", "event": "alert", "alert"}):
 * malloc'd text (free()), or NULL on out of memory. Pure. */
char *webhook_alert_payload(const struct storage_alert *a);

/* Checks every URL and starts the worker. The options are copied. Call
 * curl_global_init() before. 0 or -1 with err. */
int webhook_start(struct webhook **out, const struct webhook_options *o, char *err, size_t errlen);

/* Queues the announcement of pending request r for every URL. Never
 * blocks on the network; thread-safe. wh may be NULL (no webhooks). */
void webhook_request_pending(struct webhook *wh, const struct storage_request *r);

/* Queues the announcement of alert a, as webhook_request_pending(). */
void webhook_alert(struct webhook *wh, const struct storage_alert *a);

/* Lets deliveries that are due finish for up to WEBHOOK_DRAIN_MS, drops
 * the rest (logged), stops the worker and frees wh. NULL is fine. */
void webhook_stop(struct webhook *wh);

#endif
