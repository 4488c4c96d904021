/*
 * notify: several hubs on one PostgreSQL database. Every change of a
 * request out of "pending", whichever hub makes it, sends a NOTIFY on
 * STORAGE_NOTIFY_CHANNEL with the request's id in the same transaction
 * (a trigger, storage.c's migration 2). This module keeps one dedicated
 * libpq connection that LISTENs on that channel, in its own thread, and
 * hands each id to a wake callback (http_wake(): the long-polls waiting on
 * that request read it again).
 *
 * MUST rules:
 *  - A payload is used only if it is an id (16 lowercase hex digits);
 *    anything else on the channel is ignored.
 *  - A lost connection is re-established with backoff (1 s doubling to
 *    30 s). Notifications sent while it was down are lost, so after every
 *    reconnect the callback is called with NULL: wake every waiter, and let
 *    each read its request again.
 *  - The connection string is the hub's database URL; it is never logged.
 */
#ifndef JITSU_HUB_NOTIFY_H
#define JITSU_HUB_NOTIFY_H

#include <stddef.h>

#define NOTIFY_RETRY_MAX_S 30

/* request_id: the id that changed, or NULL for "anything may have". Called
 * from the listener's thread. */
typedef void (*notify_wake_fn)(void *cls, const char *request_id);

struct notify;

/* Connects to url, LISTENs, and starts the listener thread. 0, or -1 with
 * err (the first connection must work: a wrong URL fails at start). */
int notify_start(struct notify **out, const char *url, notify_wake_fn wake, void *cls, char *err,
		 size_t errlen);
/* Stops the thread, closes the connection, frees n. NULL is fine. */
void notify_stop(struct notify *n);

#endif
