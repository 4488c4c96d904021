/*
 * watch: the hub's timer for what no request triggers. Once a second it
 * looks for silent endpoints (not revoked, not seen for longer than
 * silent_after seconds) and raises endpoint_silent for each, once per
 * silence (storage_silent_scan), logged and announced (alert.h).
 *
 * MUST rules:
 *  - The thread has its own database connection: the storage handle of
 *    the HTTP server is never used from two threads.
 *  - A failing database is logged (at most once a minute) and retried; it
 *    never stops the hub.
 */
#ifndef JITSU_HUB_WATCH_H
#define JITSU_HUB_WATCH_H

#include <stddef.h>

struct webhook;
struct watch;

struct watch_options {
	const char *db;        /* the database URL, as for storage_open() */
	int silent_after;      /* seconds */
	struct webhook *hooks; /* may be NULL */
};

/* Opens the connection and starts the thread. 0 or -1 with err. */
int watch_start(struct watch **out, const struct watch_options *o, char *err, size_t errlen);
/* Stops the thread, closes the connection, frees w. NULL is fine. */
void watch_stop(struct watch *w);

#endif
