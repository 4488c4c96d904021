/*
 * api: jitsu-hub's /api/v1, independent of the HTTP library. http.c turns
 * each HTTP request into an api_in, calls api_handle(), and sends the
 * api_out it gets back, or, for a long-poll, suspends the connection until
 * the deadline or a wake-up and then calls api_handle() again. The routes,
 * schemas and error codes are those of docs/hub-api.md.
 *
 * MUST rules:
 *  - Every route names the roles it allows in the route table; the check
 *    runs before the body is parsed or the handler runs. Public routes are
 *    marked so explicitly.
 *  - An endpoint credential reaches only /api/v1/endpoint/..., and its
 *    handlers pass the endpoint's own id to storage, so another endpoint's
 *    request reads as not found.
 *  - Credentials are checked again on every call, including each time a
 *    long-poll resumes, so a revocation takes effect at once.
 *  - Bodies are parsed only through jsonv with the route's closed schema.
 *  - Secrets issued here (tokens, credentials) appear only in the one
 *    answer that issues them; buffers holding them are wiped.
 *  - Error answers are {"error":{"code","message"}} with a stable code;
 *    storage failure details go to the log, not to the client.
 */
#ifndef JITSU_HUB_API_H
#define JITSU_HUB_API_H

#include <stddef.h>
#include <stdint.h>

#include "storage.h"

#define API_BODY_MAX 65536 /* bytes in a request body */
#define API_WAIT_MAX 60    /* seconds a long-poll may ask for */
/* POST /api/v1/endpoint/audit, for an enrolled endpoint: a batch of audit
 * lines may be larger (one record can be); up to HTTP_DISCARD_MAX, which
 * http.c reads (and drops) anyway. */
#define API_AUDIT_BODY_MAX (1024 * 1024)
#define API_AUDIT_BATCH_MAX 500 /* lines in one batch */

struct webhook;
struct mfaseal_key;

struct api_ctx {
	struct storage *st;
	int request_ttl;          /* seconds a new request stays pending */
	int64_t (*now_ms)(void);  /* wall clock, milliseconds since the epoch */
	struct webhook *webhooks; /* announces new requests; NULL: none */
	/* Seals MFA states at rest (hub/mfaseal.h); NULL: MFA routes refuse. */
	const struct mfaseal_key *mfa_key;
};

struct api_in {
	const char *method;
	const char *path;          /* without the query */
	const char *authorization; /* header value, or NULL */
	const char *content_type;  /* header value, or NULL */
	/* A query argument's value, or NULL. */
	const char *(*arg)(void *cls, const char *name);
	void *arg_cls;
	const char *body;
	size_t body_len;
	int body_too_large;       /* the body went over API_BODY_MAX */
	int64_t wait_deadline_ms; /* 0 first; when resumed, the deadline api_out gave */
	int stopping;             /* the hub is shutting down: do not wait */
};

struct api_out {
	unsigned status;
	char *body; /* malloc'd JSON text; api_out_clear() */
	/* Long-poll: no answer yet; call again at wait_deadline_ms or when
	 * wait_request (or the endpoint wait_endpoint) is woken. */
	int wait;
	int64_t wait_deadline_ms;
	char wait_request[STORAGE_ID_LEN + 1];
	char wait_endpoint[STORAGE_ID_LEN + 1];
	/* After sending: wake the waiters of this request / endpoint. */
	char wake_request[STORAGE_ID_LEN + 1];
	char wake_endpoint[STORAGE_ID_LEN + 1];
	char who[STORAGE_NAME_MAX + 16]; /* for the access log */
};

void api_handle(const struct api_ctx *ctx, const struct api_in *in, struct api_out *out);
/* The largest body the route of method and path takes: API_BODY_MAX,
 * but API_AUDIT_BODY_MAX on the audit route for a caller whose
 * Authorization is a live endpoint's credential (checked here, before the
 * body is read). */
size_t api_body_limit(const struct api_ctx *ctx, const char *method, const char *path,
		      const char *authorization);
void api_out_clear(struct api_out *out);
/* Fills out with an error answer (also for http.c's own refusals). */
__attribute__((format(printf, 4, 5))) void api_error(struct api_out *out, unsigned status,
						     const char *code, const char *fmt, ...);

#endif
