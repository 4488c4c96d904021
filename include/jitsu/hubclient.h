/*
 * hubclient: HTTPS JSON calls to jitsu-hub (docs/hub-api.md), shared by
 * jitsud (enrollment, approval requests) and jitsuctl.
 *
 * MUST rules:
 *  - The hub is authenticated on every call, during the TLS handshake and
 *    before a byte of the request is sent: either its certificate's
 *    SHA-256 fingerprint equals the pinned one (ssh-style trust, hostname
 *    not checked), or the chain verifies against the given CA file with
 *    the hostname. There is no mode without either; a call with neither
 *    fails before connecting.
 *  - Every size is bounded: a response body over HUBCLIENT_MAX_BODY fails.
 *  - A response is accepted only as one JSON object; the caller validates
 *    its fields (hostile hub: a garbage answer is an error, never a yes).
 *  - Timeouts on connect and on the whole call; a dead hub costs at most
 *    that, and the caller fails closed.
 */
#ifndef JITSU_HUBCLIENT_H
#define JITSU_HUBCLIENT_H

#include <jansson.h>
#include <stddef.h>

#define HUBCLIENT_MAX_BODY (1024 * 1024)
#define HUBCLIENT_FP_LEN 95 /* "AB:CD:..." for 32 bytes */

struct hubclient {
	const char *url;                        /* "https://hub.example.org:8443" (no path) */
	char fingerprint[HUBCLIENT_FP_LEN + 1]; /* pinned, normalized; "" if cacert */
	const char *cacert;                     /* a CA file, when not pinning */
	char auth[256];          /* "Bearer ..." or "Endpoint id:cred"; "" for none */
	long connect_timeout_ms; /* default 5000 */
	long timeout_ms;         /* whole call; default 15000 (long-polls set more) */
	int cancel_fd;           /* if >= 0: a call ends early when this fd is readable */
};

/*
 * Normalizes a fingerprint given as colon-separated hex (as
 * `openssl x509 -fingerprint -sha256` prints it, any case, with or without
 * a "sha256 Fingerprint=" prefix) or as 64 plain hex digits into
 * "AB:CD:..." form. Returns 0 or -EINVAL.
 */
int hubclient_fp_normalize(const char *in, char out[HUBCLIENT_FP_LEN + 1]);

/*
 * Connects to url, completes a TLS handshake without trusting anything,
 * and reports the server certificate's SHA-256 fingerprint, for a person
 * to compare before pinning it. Sends no request. Returns 0 or -errno
 * with err.
 */
int hubclient_peer_fingerprint(const char *url, char fp[HUBCLIENT_FP_LEN + 1], char *err,
			       size_t errlen);

/*
 * One call: method ("GET", "POST", "DELETE") on path (starting with
 * "/api/v1/"), with body (may be NULL) as JSON. On a response, *status is
 * the HTTP status and *out the parsed JSON object (the caller decrefs),
 * for success and error statuses alike. Returns 0 when a JSON object came
 * back, -ECANCELED when cancel_fd fired, or -errno with err
 * ("cannot reach the hub: ...", "hub certificate does not match the
 * pinned fingerprint", "hub sent a malformed answer").
 */
int hubclient_call(const struct hubclient *h, const char *method, const char *path,
		   const json_t *body, long *status, json_t **out, char *err, size_t errlen);

/*
 * For a non-2xx answer: the hub's error message ("code: message"), or a
 * generic one. Writes into err and returns -EPROTO.
 */
int hubclient_error(long status, const json_t *answer, char *err, size_t errlen);

#endif
