/*
 * hubclient: libcurl (OpenSSL backend) calls to jitsu-hub with the hub
 * authenticated in the handshake. The MUST rules are in hubclient.h.
 *
 * Pinning works below libcurl: the SSL_CTX callback installs a verify
 * callback that, for the leaf certificate, compares its SHA-256 digest
 * with the pin and fails the handshake on a mismatch. libcurl's own chain
 * check is off in that mode only, because the pin replaces it.
 */
#include "jitsu/hubclient.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pin {
	const char *want; /* "" to accept anything and only record */
	char seen[HUBCLIENT_FP_LEN + 1];
	int mismatch;
};

struct body {
	char *p;
	size_t len;
	int overflow;
};

static void digest_hex(X509 *cert, char out[HUBCLIENT_FP_LEN + 1])
{
	static const char hx[] = "0123456789ABCDEF";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	out[0] = '\0';
	if (!X509_digest(cert, EVP_sha256(), md, &n) || n != 32)
		return;
	for (unsigned i = 0; i < 32; i++) {
		out[3 * i] = hx[md[i] >> 4];
		out[3 * i + 1] = hx[md[i] & 15];
		out[3 * i + 2] = i < 31 ? ':' : '\0';
	}
}

static int verify_leaf(int preverify_ok, X509_STORE_CTX *x)
{
	(void)preverify_ok;
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct pin *pin = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
	if (!pin)
		return 0;
	/* With a pin, the chain above the leaf is irrelevant. */
	if (X509_STORE_CTX_get_error_depth(x) > 0)
		return 1;
	digest_hex(X509_STORE_CTX_get_current_cert(x), pin->seen);
	if (!pin->want[0])
		return 1;
	pin->mismatch = strcmp(pin->seen, pin->want) != 0;
	return !pin->mismatch;
}

static CURLcode ssl_ctx_pin(CURL *curl, void *sslctx, void *userptr)
{
	(void)curl;
	SSL_CTX_set_app_data((SSL_CTX *)sslctx, userptr);
	SSL_CTX_set_verify((SSL_CTX *)sslctx, SSL_VERIFY_PEER, verify_leaf);
	return CURLE_OK;
}

static size_t collect(char *data, size_t size, size_t nmemb, void *userp)
{
	struct body *b = userp;
	size_t n = size * nmemb;
	if (b->len + n > HUBCLIENT_MAX_BODY) {
		b->overflow = 1;
		return 0;
	}
	char *grown = realloc(b->p, b->len + n + 1);
	if (!grown)
		return 0;
	b->p = grown;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/* TLS trust for one handle: a pin (verified in the handshake) or a CA. */
static int set_trust(CURL *c, const char *fingerprint, const char *cacert, struct pin *pin)
{
	curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	if (cacert && !fingerprint[0]) {
		curl_easy_setopt(c, CURLOPT_CAINFO, cacert);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
		return 0;
	}
	pin->want = fingerprint;
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, pin);
	/* A backend without SSL_CTX access could not pin: refuse, not skip. */
	return curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_pin) == CURLE_OK ? 0
										      : -ENOTSUP;
}

static void fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
	va_end(ap);
}

/* Runs the handle, ending early if cancel_fd becomes readable. */
static int perform(CURL *c, int cancel_fd, CURLcode *res)
{
	if (cancel_fd < 0) {
		*res = curl_easy_perform(c);
		return 0;
	}
	CURLM *m = curl_multi_init();
	int running = 1, cancelled = 0;
	if (!m)
		return -ENOMEM;
	curl_multi_add_handle(m, c);
	*res = CURLE_OK;
	while (running && !cancelled) {
		struct curl_waitfd extra = {.fd = cancel_fd, .events = CURL_WAIT_POLLIN};
		curl_multi_perform(m, &running);
		if (!running)
			break;
		curl_multi_wait(m, &extra, 1, 1000, NULL);
		cancelled = extra.revents != 0;
	}
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(m, &left)))
		if (msg->msg == CURLMSG_DONE)
			*res = msg->data.result;
	curl_multi_remove_handle(m, c);
	curl_multi_cleanup(m);
	return cancelled ? -ECANCELED : 0;
}

static int check_setup(const struct hubclient *h, const char *path, char *err, size_t errlen)
{
	if (!h->url || strncmp(h->url, "https://", 8) != 0) {
		fail(err, errlen, "hub URL must start with https://: %s",
		     h->url ? h->url : "(none)");
		return -EINVAL;
	}
	if (!h->fingerprint[0] && !h->cacert) {
		fail(err, errlen, "%s",
		     "no way to authenticate the hub: give its fingerprint or a CA file");
		return -EINVAL;
	}
	if (strncmp(path, "/api/v1/", 8) != 0 || strlen(h->url) + strlen(path) > 2048) {
		fail(err, errlen, "bad hub path: %s", path);
		return -EINVAL;
	}
	return 0;
}

/* Parses a response body: exactly one JSON object. */
static int parse_answer(const struct body *b, json_t **out, char *err, size_t errlen)
{
	json_error_t je;
	*out = b->p ? json_loadb(b->p, b->len, JSON_REJECT_DUPLICATES, &je) : NULL;
	if (!*out || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		fail(err, errlen, "%s", "hub sent a malformed answer");
		return -EPROTO;
	}
	return 0;
}

static int result_error(CURLcode res, const struct pin *pin, char *err, size_t errlen)
{
	if (pin->mismatch) {
		snprintf(err, errlen, "hub certificate %s does not match the pinned fingerprint",
			 pin->seen);
		return -EPERM;
	}
	fail(err, errlen, "cannot reach the hub: %s", curl_easy_strerror(res));
	return res == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
}

int hubclient_call(const struct hubclient *h, const char *method, const char *path,
		   const json_t *body, long *status, json_t **out, char *err, size_t errlen)
{
	char url[2304], auth[300];
	struct pin pin = {.want = ""};
	struct body b = {0};
	char *payload = NULL;
	struct curl_slist *hdr = NULL;
	int r = check_setup(h, path, err, errlen);
	*out = NULL;
	if (r < 0)
		return r;
	CURL *c = curl_easy_init();
	if (!c)
		return -ENOMEM;
	snprintf(url, sizeof url, "%s%s", h->url, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 h->connect_timeout_ms ? h->connect_timeout_ms : 5000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms ? h->timeout_ms : 15000L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	hdr = curl_slist_append(hdr, "Accept: application/json");
	if (h->auth[0]) {
		snprintf(auth, sizeof auth, "Authorization: %s", h->auth);
		hdr = curl_slist_append(hdr, auth);
	}
	if (body) {
		payload = json_dumps(body, JSON_COMPACT);
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload ? payload : "{}");
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	r = set_trust(c, h->fingerprint, h->cacert, &pin);
	CURLcode res = CURLE_OK;
	if (r == 0)
		r = perform(c, h->cancel_fd, &res);
	if (r == -ECANCELED)
		fail(err, errlen, "%s", "cancelled");
	else if (r == 0 && res != CURLE_OK)
		r = b.overflow ? (fail(err, errlen, "%s", "hub answer too large"), -EFBIG)
			       : result_error(res, &pin, err, errlen);
	else if (r == 0) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		r = parse_answer(&b, out, err, errlen);
	}
	if (payload)
		explicit_bzero(payload, strlen(payload));
	free(payload);
	explicit_bzero(auth, sizeof auth);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	free(b.p);
	return r;
}

int hubclient_peer_fingerprint(const char *url, char fp[HUBCLIENT_FP_LEN + 1], char *err,
			       size_t errlen)
{
	struct pin pin = {.want = ""};
	CURL *c = curl_easy_init();
	if (!c)
		return -ENOMEM;
	if (strncmp(url, "https://", 8) != 0) {
		curl_easy_cleanup(c);
		fail(err, errlen, "hub URL must start with https://: %s", url);
		return -EINVAL;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	set_trust(c, "", NULL, &pin);
	CURLcode res = curl_easy_perform(c);
	curl_easy_cleanup(c);
	if (res != CURLE_OK || !pin.seen[0]) {
		fail(err, errlen, "cannot reach the hub: %s", curl_easy_strerror(res));
		return -ECONNREFUSED;
	}
	memcpy(fp, pin.seen, sizeof pin.seen);
	return 0;
}
