/*
 * http: jitsu-hub's HTTPS server, libmicrohttpd with GnuTLS. One internal
 * polling thread runs every request (so storage sees one thread), plus a
 * ticker thread that ends long-polls at their deadline. Requests become
 * api_in, answers come back as api_out (api.h).
 *
 * Long-poll: when api_handle() answers "wait", the connection is suspended
 * (MHD_suspend_connection) and listed with its deadline and request id. A
 * decision wakes it at once (MHD_resume_connection from the deciding
 * call), so does http_wake() (a decision made by another hub, heard by
 * hub/notify.c); the ticker wakes it at the deadline. Resumed, it calls
 * api_handle() again, which re-checks the credential and reads the request
 * afresh. An http_wake() that lands between a long-poll's read and its
 * suspension is not lost: the read is repeated.
 *
 * MUST rules:
 *  - A body is kept only up to API_BODY_MAX bytes; a larger one is read and
 *    thrown away up to HTTP_DISCARD_MAX (so the client still gets the 413
 *    JSON answer), and the connection is dropped beyond that.
 *  - Idle connections time out (connection_timeout), connections are
 *    capped (max_connections), request headers are bounded by MHD's
 *    per-connection memory limit.
 *  - Every suspended connection is resumed before the daemon stops.
 *  - Response bodies (which may carry a fresh token) are wiped when MHD
 *    frees them.
 */
#ifndef JITSU_HUB_HTTP_H
#define JITSU_HUB_HTTP_H

#include <stddef.h>

#include "api.h"

#define HTTP_DISCARD_MAX (1024 * 1024)
/* Per connection. libmicrohttpd zeroes the whole pool after every
 * keep-alive request, so its size is what each connected endpoint costs;
 * bodies stream through it in chunks, so 16 KiB limits only the headers. */
#define HTTP_MEMORY_LIMIT (16 * 1024)

struct http_options {
	int listen_fd; /* bound and listening; http owns it from now on */
	const char *cert_pem;
	const char *key_pem;
	unsigned connection_timeout;
	unsigned max_connections;
};

struct http_server;

/* Starts serving; api must outlive the server. 0 or -1 with err. */
int http_start(struct http_server **out, const struct http_options *o, const struct api_ctx *api,
	       char *err, size_t errlen);
/* Resumes the long-polls waiting on request_id (all of them if NULL), so
 * they read their request again. Thread-safe. */
void http_wake(struct http_server *s, const char *request_id);
/* Answers the waiting long-polls (503 shutting_down), lets answers in
 * flight finish for a moment, stops. */
void http_stop(struct http_server *s);

#endif
