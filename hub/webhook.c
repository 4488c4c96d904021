/*
 * webhook: the URL policy, the payload, and the delivery worker (one
 * thread driving a curl multi handle). The MUST rules are in webhook.h.
 *
 * A delivery is one event (a request's JSON body, shared by reference
 * count) to one URL. It waits in a FIFO until due, goes on the wire (at
 * most WEBHOOK_INFLIGHT_MAX at once, so one hanging receiver does not
 * hold up the others), and either ends (2xx, a final failure, too many
 * tries) or goes back to the queue with a later due time.
 *
 * libcurl 7.85 or newer (hub/meson.build): curl_multi_poll(),
 * curl_multi_wakeup(), CURLOPT_PROTOCOLS_STR.
 */
#include "webhook.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "jitsu/log.h"

#ifndef JITSU_VERSION
#define JITSU_VERSION "0"
#endif

#define TEXT_MAX 4096
#define WHERE_MAX 160    /* "scheme://host:port" for logs */
#define WAIT_MAX_MS 1000 /* the worker looks at its queue at least this often */
#define CONNECT_MAX_S 10

/* The fixed words, user (64), host (253) and id around the two escaped
 * items (each at most 5 bytes out per byte in, plus an ellipsis). */
_Static_assert(TEXT_MAX >= 2 * (5 * WEBHOOK_TEXT_ITEM_MAX + 3) + 1024, "TEXT_MAX too small");

/* One event's body, shared by its deliveries. */
struct event {
	unsigned refs;                /* under the lock */
	char id[STORAGE_ID_LEN + 16]; /* for logs: "request <id>", "alert <id>" */
	char *body;
	size_t len;
};

/* One POST of one event to one URL, with its retries. */
struct delivery {
	struct delivery *next; /* in the waiting queue */
	struct event *ev;
	size_t url;     /* index into urls */
	unsigned tries; /* attempts made */
	int64_t due_ms; /* monotonic: when to try next */
	CURL *easy;     /* while on the wire */
	char errbuf[CURL_ERROR_SIZE];
};

struct webhook {
	char *urls[WEBHOOK_MAX];
	char where[WEBHOOK_MAX][WHERE_MAX];
	size_t nurls;
	char *ca;
	unsigned tries, timeout_s, queue_max;
	struct curl_slist *headers;
	CURLM *multi;
	pthread_t thread;
	pthread_mutex_t lock;         /* guards what follows, and event refs */
	struct delivery *head, *tail; /* waiting, oldest first */
	size_t held;                  /* waiting + in flight */
	int stopping;
	int64_t drain_end_ms;
	/* the worker's own */
	struct delivery *inflight[WEBHOOK_INFLIGHT_MAX];
	size_t ninflight;
};

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
							  ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the URL policy ---- */

/* localhost, 127.0.0.0/8 or [::1]: the forms curl's URL parser returns. */
static int is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[64];
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n < 3 || n - 2 >= sizeof buf || host[0] != '[' || host[n - 1] != ']')
		return 0;
	memcpy(buf, host + 1, n - 2);
	buf[n - 2] = '\0';
	return inet_pton(AF_INET6, buf, &a6) == 1 && memcmp(&a6, &in6addr_loopback, sizeof a6) == 0;
}

/* Parses url; on success *scheme and *host are curl_free()'d by the caller
 * and where (if non-NULL) gets "scheme://host[:port]". */
static int url_parts(const char *url, char **scheme, char **host, char *where, size_t wsize)
{
	char *port = NULL;
	CURLU *u = curl_url();

	*scheme = *host = NULL;
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, host, 0) != CURLUE_OK || !**host) {
		curl_free(*scheme);
		curl_free(*host);
		*scheme = *host = NULL;
		curl_url_cleanup(u);
		return -1;
	}
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
		port = NULL;
	if (where)
		snprintf(where, wsize, "%s://%.100s%s%s", *scheme, *host, port ? ":" : "",
			 port ? port : "");
	curl_free(port);
	curl_url_cleanup(u);
	return 0;
}

int webhook_url_check(const char *url, int allow_http, char *err, size_t errlen)
{
	char *scheme, *host;
	size_t n = strnlen(url, WEBHOOK_URL_MAX + 1);

	if (n == 0 || n > WEBHOOK_URL_MAX) {
		set_err(err, errlen, "a URL must be 1 to %d bytes", WEBHOOK_URL_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f) {
			set_err(err, errlen, "a URL must not contain spaces or control characters");
			return -1;
		}
	}
	/* The messages leave the URL out: its path may be a secret. */
	if (url_parts(url, &scheme, &host, NULL, 0) != 0) {
		set_err(err, errlen, "not an absolute URL with a host");
		return -1;
	}
	int rc = 0;
	if (strcmp(scheme, "http") == 0 && !allow_http && !is_loopback(host)) {
		set_err(err, errlen,
			"plain http:// to %.100s: only https://, or http:// to a loopback host"
			" (127.0.0.0/8, [::1], localhost) unless webhook_allow_http is set",
			host);
		rc = -1;
	} else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		set_err(err, errlen, "scheme %.20s: only https:// (or http://)", scheme);
		rc = -1;
	}
	curl_free(scheme);
	curl_free(host);
	return rc;
}

/* ---- the payload ---- */

struct text {
	char buf[TEXT_MAX];
	size_t len;
};

/* Appends s whole, or nothing if it does not fit. */
static void text_add(struct text *t, const char *s)
{
	size_t n = strlen(s);
	if (t->len + n >= sizeof t->buf)
		return;
	memcpy(t->buf + t->len, s, n + 1);
	t->len += n;
}

/* Appends at most max bytes of s (cut before a UTF-8 character, then an
 * ellipsis), escaped for Slack: & < > as entities, '`' as '\'' so a code
 * span cannot be closed, control characters as '?'. */
static void text_escaped(struct text *t, const char *s, size_t max)
{
	size_t n = strlen(s), cut = n;
	char one[2] = {0, 0};

	if (n > max) {
		cut = max;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
	}
	for (size_t i = 0; i < cut; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '&')
			text_add(t, "&amp;");
		else if (ch == '<')
			text_add(t, "&lt;");
		else if (ch == '>')
			text_add(t, "&gt;");
		else if (ch == '`')
			text_add(t, "'");
		else if (ch < 0x20 || ch == 0x7f)
			text_add(t, "?");
		else {
			one[0] = (char)ch;
			text_add(t, one);
		}
	}
	if (cut < n)
		text_add(t, "\xe2\x80\xa6"); /* U+2026 */
}

/* An argv item as a shell would need it: bare if plain, else quoted. */
static void add_word(struct text *t, const char *w)
{
	static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789_@%+=:,./-";
	if (*w && strspn(w, plain) == strlen(w)) {
		text_add(t, w);
		return;
	}
	text_add(t, "'");
	for (char one[2] = {0, 0}; *w; w++) {
		one[0] = *w;
		text_add(t, *w == '\'' ? "'\\''" : one);
	}
	text_add(t, "'");
}

/* The command line, raw (escaping comes later), cut at TEXT_MAX. */
static void command_line(struct text *cmd, const json_t *argv)
{
	cmd->len = 0;
	cmd->buf[0] = '\0';
	for (size_t i = 0; i < json_array_size(argv); i++) {
		const char *w = json_string_value(json_array_get(argv, i));
		if (i > 0)
			text_add(cmd, " ");
		add_word(cmd, w ? w : "");
	}
}

static void render_text(struct text *t, const struct storage_request *r, const json_t *argv)
{
	struct text cmd = {.len = 0};
	char line[512], when[64];
	struct tm tm;
	time_t exp = (time_t)r->expires_at;

	if (!gmtime_r(&exp, &tm) || strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(when, sizeof when, "%lld", (long long)r->expires_at);
	command_line(&cmd, argv);
	t->len = 0;
	t->buf[0] = '\0';
	/* user and host passed the API's name and hostname checks. */
	snprintf(line, sizeof line, "jitsu: *%s* on *%s* asks to run `", r->user, r->host);
	text_add(t, line);
	text_escaped(t, cmd.buf, WEBHOOK_TEXT_ITEM_MAX);
	text_add(t, "`\nReason: ");
	text_escaped(t, r->reason && *r->reason ? r->reason : "(none)", WEBHOOK_TEXT_ITEM_MAX);
	snprintf(line, sizeof line, "\nNeeds %d approval%s by %s (request %s)", r->approvals_needed,
		 r->approvals_needed == 1 ? "" : "s", when, r->id);
	text_add(t, line);
}

char *webhook_payload(const struct storage_request *r)
{
	struct text *t = calloc(1, sizeof *t);
	json_t *argv = json_loads(r->argv_json ? r->argv_json : "[]", 0, NULL);
	char *out = NULL;

	if (t && json_is_array(argv)) {
		render_text(t, r, argv);
		json_t *j = json_pack(
			"{s:s,s:s,s:{s:s,s:s,s:s,s:s,s:O,s:s,s:s,s:s,s:i,s:s,s:I,s:I}}", "text",
			t->buf, "event", "request_pending", "request", "id", r->id, "endpoint_id",
			r->endpoint_id, "user", r->user, "host", r->host, "argv", argv,
			"binary_sha256", r->binary_sha256, "reason", r->reason ? r->reason : "",
			"rule", r->rule ? r->rule : "", "approvals_needed", r->approvals_needed,
			"state", storage_state_name(r->state), "created_at",
			(json_int_t)r->created_at, "expires_at", (json_int_t)r->expires_at);
		out = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
	}
	json_decref(argv);
	free(t);
	return out;
}

char *webhook_alert_payload(const struct storage_alert *a)
{
	struct text *t = calloc(1, sizeof *t);
	char line[160];
	char *out = NULL;

	if (!t)
		return NULL;
	snprintf(line, sizeof line, "jitsu alert: *%s*", a->kind);
	text_add(t, line);
	if (a->hostname[0] || a->endpoint_id[0]) {
		text_add(t, " on *");
		text_escaped(t, a->hostname[0] ? a->hostname : a->endpoint_id, STORAGE_HOST_MAX);
		text_add(t, "*");
	}
	if (a->seq > 0) {
		snprintf(line, sizeof line, " at seq %lld", (long long)a->seq);
		text_add(t, line);
	}
	text_add(t, "\n");
	text_escaped(t, a->detail, WEBHOOK_TEXT_ITEM_MAX);
	json_t *j = json_pack("{s:s,s:s,s:{s:s,s:s,s:o,s:s,s:o,s:s,s:I}}", "text", t->buf, "event",
			      "alert", "alert", "id", a->id, "kind", a->kind, "endpoint_id",
			      a->endpoint_id[0] ? json_string(a->endpoint_id) : json_null(),
			      "hostname", a->hostname, "seq",
			      a->seq > 0 ? json_integer((json_int_t)a->seq) : json_null(), "detail",
			      a->detail, "created_at", (json_int_t)a->created_at);
	out = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	free(t);
	return out;
}

/* ---- the queue (callers hold the lock) ---- */

static void queue_append(struct webhook *wh, struct delivery *d)
{
	d->next = NULL;
	if (wh->tail)
		wh->tail->next = d;
	else
		wh->head = d;
	wh->tail = d;
}

/* Moves the due deliveries (oldest first, while there is room on the
 * wire) to due[]; returns when the next one not yet due falls due (a due
 * one left for want of room starts when an attempt ends). */
static int64_t queue_take_due(struct webhook *wh, int64_t now, struct delivery **due, size_t *ndue)
{
	int64_t next = INT64_MAX;
	struct delivery *prev = NULL;

	*ndue = 0;
	for (struct delivery *d = wh->head, *n; d; d = n) {
		n = d->next;
		if (d->due_ms > now || wh->ninflight + *ndue >= WEBHOOK_INFLIGHT_MAX) {
			if (d->due_ms > now && d->due_ms < next)
				next = d->due_ms;
			prev = d;
			continue;
		}
		if (prev)
			prev->next = n;
		else
			wh->head = n;
		if (wh->tail == d)
			wh->tail = prev;
		due[(*ndue)++] = d;
	}
	return next;
}

/* Ends a delivery: frees it, and its event with the last reference. */
static void delivery_free(struct webhook *wh, struct delivery *d)
{
	pthread_mutex_lock(&wh->lock);
	wh->held--;
	struct event *ev = --d->ev->refs == 0 ? d->ev : NULL;
	pthread_mutex_unlock(&wh->lock);
	if (ev) {
		free(ev->body);
		free(ev);
	}
	free(d);
}

/* Queues body (consumed) for every URL; label names it in logs. */
static void enqueue(struct webhook *wh, const char *label, char *body)
{
	struct delivery *d[WEBHOOK_MAX] = {NULL};
	int dropped[WEBHOOK_MAX] = {0};
	size_t queued = 0;

	const size_t nurls = wh->nurls;
	struct event *ev = calloc(1, sizeof *ev);
	int ok = ev != NULL && body != NULL;
	for (size_t i = 0; i < nurls; i++) {
		d[i] = calloc(1, sizeof *d[i]);
		ok = ok && d[i];
	}
	if (!ok) {
		log_err("webhook: %s: out of memory, not announced", label);
		for (size_t i = 0; i < nurls; i++)
			free(d[i]);
		free(ev);
		free(body);
		return;
	}
	ev->body = body;
	ev->len = strlen(body);
	snprintf(ev->id, sizeof ev->id, "%s", label);
	int64_t now = mono_ms();
	pthread_mutex_lock(&wh->lock);
	for (size_t i = 0; i < nurls; i++) {
		if (wh->stopping || wh->held >= wh->queue_max) {
			dropped[i] = 1;
			free(d[i]);
			continue;
		}
		d[i]->ev = ev;
		d[i]->url = i;
		d[i]->due_ms = now;
		queue_append(wh, d[i]);
		wh->held++;
		ev->refs++;
		queued++;
	}
	pthread_mutex_unlock(&wh->lock);
	for (size_t i = 0; i < nurls; i++) {
		if (dropped[i])
			log_err("webhook %s: queue full (%u deliveries held): %s dropped",
				wh->where[i], wh->queue_max, label);
	}
	if (queued == 0) {
		free(body);
		free(ev);
		return;
	}
	curl_multi_wakeup(wh->multi);
}

void webhook_request_pending(struct webhook *wh, const struct storage_request *r)
{
	char label[STORAGE_ID_LEN + 16];

	if (!wh || wh->nurls == 0)
		return;
	snprintf(label, sizeof label, "request %s", r->id);
	enqueue(wh, label, webhook_payload(r));
}

void webhook_alert(struct webhook *wh, const struct storage_alert *a)
{
	char label[STORAGE_ID_LEN + 16];

	if (!wh || wh->nurls == 0)
		return;
	snprintf(label, sizeof label, "alert %s", a->id);
	enqueue(wh, label, webhook_alert_payload(a));
}

/* ---- the worker ---- */

static size_t discard(char *p, size_t size, size_t n, void *cls)
{
	return size * n;
}

static int64_t backoff_ms(unsigned tries)
{
	int64_t ms = WEBHOOK_BACKOFF_MS;
	for (unsigned i = 1; i < tries && ms < WEBHOOK_BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < WEBHOOK_BACKOFF_MAX_MS ? ms : WEBHOOK_BACKOFF_MAX_MS;
}

/* After an attempt: done on 2xx; again later on a transport error, 5xx,
 * 408 or 429 while tries remain; otherwise given up. */
static void finish(struct webhook *wh, struct delivery *d, CURLcode res, long status)
{
	const char *where = wh->where[d->url];
	char why[CURL_ERROR_SIZE + 32];

	if (res == CURLE_OK && status >= 200 && status < 300) {
		log_info("webhook %s: %s delivered (try %u)", where, d->ev->id, d->tries);
		delivery_free(wh, d);
		return;
	}
	if (res != CURLE_OK)
		snprintf(why, sizeof why, "%s", d->errbuf[0] ? d->errbuf : curl_easy_strerror(res));
	else
		snprintf(why, sizeof why, "HTTP status %ld", status);
	why[strcspn(why, "\r\n")] = '\0';
	int again = res != CURLE_OK || status >= 500 || status == 408 || status == 429;
	if (!again || d->tries >= wh->tries) {
		log_err("webhook %s: %s not delivered, giving up after try %u: %s", where,
			d->ev->id, d->tries, why);
		delivery_free(wh, d);
		return;
	}
	int64_t delay = backoff_ms(d->tries);
	log_warn("webhook %s: %s: try %u of %u failed (%s); next in %lld s", where, d->ev->id,
		 d->tries, wh->tries, why, (long long)(delay / 1000));
	d->due_ms = mono_ms() + delay;
	pthread_mutex_lock(&wh->lock);
	queue_append(wh, d);
	pthread_mutex_unlock(&wh->lock);
}

static int easy_setup(struct webhook *wh, CURL *e, struct delivery *d)
{
	long timeout_ms = (long)wh->timeout_s * 1000;
	long connect_ms =
		(long)(wh->timeout_s < CONNECT_MAX_S ? wh->timeout_s : CONNECT_MAX_S) * 1000;
	int bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_URL, wh->urls[d->url]) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK;
	if (wh->ca)
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO, wh->ca) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->ev->body) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)d->ev->len) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, wh->headers) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "jitsu-hub/" JITSU_VERSION) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, d->errbuf) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)d) != CURLE_OK;
	return bad ? -1 : 0;
}

/* Puts d on the wire. */
static void start(struct webhook *wh, struct delivery *d)
{
	CURL *e = curl_easy_init();

	d->tries++;
	d->errbuf[0] = '\0';
	if (!e || easy_setup(wh, e, d) != 0 || curl_multi_add_handle(wh->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		finish(wh, d, CURLE_FAILED_INIT, 0);
		return;
	}
	d->easy = e;
	wh->inflight[wh->ninflight++] = d;
}

static void inflight_remove(struct webhook *wh, const struct delivery *d)
{
	for (size_t i = 0; i < wh->ninflight; i++) {
		if (wh->inflight[i] == d) {
			wh->inflight[i] = wh->inflight[--wh->ninflight];
			return;
		}
	}
}

/* Ends the attempts curl has finished. */
static void collect_done(struct webhook *wh)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(wh->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *e = m->easy_handle;
		CURLcode res = m->data.result;
		char *priv = NULL;
		long status = 0;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(wh->multi, e);
		curl_easy_cleanup(e);
		struct delivery *d = (struct delivery *)priv;
		inflight_remove(wh, d);
		d->easy = NULL;
		finish(wh, d, res, status);
	}
}

/* At the end: whatever is left is dropped, and said so. */
static void abandon(struct webhook *wh)
{
	size_t n = wh->ninflight;

	while (wh->ninflight > 0) {
		struct delivery *d = wh->inflight[--wh->ninflight];
		curl_multi_remove_handle(wh->multi, d->easy);
		curl_easy_cleanup(d->easy);
		delivery_free(wh, d);
	}
	pthread_mutex_lock(&wh->lock);
	struct delivery *d = wh->head;
	wh->head = wh->tail = NULL;
	pthread_mutex_unlock(&wh->lock);
	for (struct delivery *next; d; d = next, n++) {
		next = d->next;
		delivery_free(wh, d);
	}
	if (n > 0)
		log_err("webhook: stopping: %zu deliveries dropped undelivered", n);
}

/*
 * The loop: let curl move, end what finished, put what is due on the wire,
 * then sleep until a socket is ready, a retry falls due, curl's own timer
 * fires, or webhook_request_pending()/webhook_stop() wakes us.
 */
static void *worker_main(void *arg)
{
	struct webhook *wh = arg;
	struct delivery *due[WEBHOOK_INFLIGHT_MAX];
	size_t ndue;
	int running;

	for (;;) {
		curl_multi_perform(wh->multi, &running);
		collect_done(wh);
		int64_t now = mono_ms();
		pthread_mutex_lock(&wh->lock);
		int64_t next = queue_take_due(wh, now, due, &ndue);
		int stopping = wh->stopping;
		int64_t drain_end = wh->drain_end_ms;
		size_t held = wh->held;
		pthread_mutex_unlock(&wh->lock);
		for (size_t i = 0; i < ndue; i++)
			start(wh, due[i]);
		if (stopping && (held == 0 || now >= drain_end ||
				 (wh->ninflight == 0 && ndue == 0 && next > drain_end)))
			break;
		int64_t wait = next == INT64_MAX ? WAIT_MAX_MS : next - now;
		if (stopping && drain_end - now < wait)
			wait = drain_end - now;
		if (wait > WAIT_MAX_MS)
			wait = WAIT_MAX_MS;
		curl_multi_poll(wh->multi, NULL, 0, wait > 0 ? (int)wait : 0, NULL);
	}
	abandon(wh);
	return NULL;
}

/* ---- start and stop ---- */

static void free_wh(struct webhook *wh)
{
	for (size_t i = 0; i < wh->nurls; i++)
		free(wh->urls[i]);
	free(wh->ca);
	curl_slist_free_all(wh->headers);
	if (wh->multi)
		curl_multi_cleanup(wh->multi);
	free(wh);
}

/* Copies o into a fresh wh (not started). 0 or -1 with err. */
static int wh_init(struct webhook *wh, const struct webhook_options *o, char *err, size_t errlen)
{
	for (size_t i = 0; i < o->nurls; i++) {
		char *scheme, *host, msg[256];
		if (webhook_url_check(o->urls[i], o->allow_http, msg, sizeof msg) != 0 ||
		    url_parts(o->urls[i], &scheme, &host, wh->where[i], WHERE_MAX) != 0) {
			set_err(err, errlen, "webhook %zu: %s", i + 1, msg);
			return -1;
		}
		curl_free(scheme);
		curl_free(host);
		wh->urls[i] = strdup(o->urls[i]);
		wh->nurls = i + 1;
		if (!wh->urls[i])
			goto oom;
	}
	if (o->ca) {
		FILE *f = fopen(o->ca, "re");
		if (!f) {
			set_err(err, errlen, "webhook_ca %.200s: %s", o->ca, strerror(errno));
			return -1;
		}
		fclose(f);
		if (!(wh->ca = strdup(o->ca)))
			goto oom;
	}
	wh->tries = o->tries ? o->tries : 1;
	wh->timeout_s = o->timeout_s ? o->timeout_s : 10;
	wh->queue_max = o->queue_max ? o->queue_max : 1;
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	struct curl_slist *h2 = h ? curl_slist_append(h, "Expect:") : NULL;
	wh->headers = h2 ? h2 : h;
	wh->multi = curl_multi_init();
	if (!h2 || !wh->multi)
		goto oom;
	return 0;
oom:
	set_err(err, errlen, "out of memory");
	return -1;
}

int webhook_start(struct webhook **out, const struct webhook_options *o, char *err, size_t errlen)
{
	struct webhook *wh;

	*out = NULL;
	if (o->nurls == 0)
		return 0;
	if (o->nurls > WEBHOOK_MAX) {
		set_err(err, errlen, "at most %d webhooks", WEBHOOK_MAX);
		return -1;
	}
	if (!(wh = calloc(1, sizeof *wh))) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	if (wh_init(wh, o, err, errlen) != 0) {
		free_wh(wh);
		return -1;
	}
	pthread_mutex_init(&wh->lock, NULL);
	if (pthread_create(&wh->thread, NULL, worker_main, wh) != 0) {
		set_err(err, errlen, "cannot start the webhook thread");
		pthread_mutex_destroy(&wh->lock);
		free_wh(wh);
		return -1;
	}
	*out = wh;
	return 0;
}

void webhook_stop(struct webhook *wh)
{
	if (!wh)
		return;
	pthread_mutex_lock(&wh->lock);
	wh->stopping = 1;
	wh->drain_end_ms = mono_ms() + WEBHOOK_DRAIN_MS;
	pthread_mutex_unlock(&wh->lock);
	curl_multi_wakeup(wh->multi);
	pthread_join(wh->thread, NULL);
	pthread_mutex_destroy(&wh->lock);
	free_wh(wh);
}
