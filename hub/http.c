/*
 * http: libmicrohttpd glue, body intake, long-poll suspension and the
 * ticker. The MUST rules are in http.h.
 */
#include "http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jitsu/log.h"

#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define TICK_MAX_MS 1000 /* the ticker re-checks at least this often */
#define DRAIN_MS 2000    /* how long stop waits for answers in flight */
#define RECHECK_ROUNDS 3 /* re-reads at once when a wake-up races a long-poll */
#define RECHECK_MS 1000  /* after that, the ticker re-reads it this soon */

/* One connection's request: body so far, and its long-poll state. */
struct conn {
	struct MHD_Connection *mc;
	char *body;
	size_t len, cap, seen;
	size_t limit; /* the route's body limit (api_body_limit) */
	int too_large;
	int64_t start_ms;
	int64_t deadline_ms; /* 0 until the first wait */
	int64_t recheck_ms;  /* 0, or resume this early to read again */
	int suspended;       /* listed in waiters, under the lock */
	char wait_request[STORAGE_ID_LEN + 1];
	char wait_endpoint[STORAGE_ID_LEN + 1];
	struct conn *prev, *next;
};

struct http_server {
	struct MHD_Daemon *d;
	const struct api_ctx *api;
	pthread_mutex_t lock; /* guards waiters, stopping, ticker_stop */
	pthread_cond_t tick;
	pthread_t ticker;
	int ticker_started;
	int stopping, ticker_stop;
	struct conn *waiters;
	uint64_t wake_gen; /* counts http_wake() calls */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- waiters (all under s->lock) ---- */

static void waiter_add(struct http_server *s, struct conn *c)
{
	c->prev = NULL;
	c->next = s->waiters;
	if (s->waiters)
		s->waiters->prev = c;
	s->waiters = c;
	c->suspended = 1;
}

static void waiter_resume(struct http_server *s, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->waiters = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	c->suspended = 0;
	MHD_resume_connection(c->mc);
}

/* Resumes the waiters on request (if non-NULL) or endpoint (if non-NULL);
 * all of them if both are NULL. */
static void wake(struct http_server *s, const char *request, const char *endpoint)
{
	pthread_mutex_lock(&s->lock);
	s->wake_gen++;
	for (struct conn *c = s->waiters, *next; c; c = next) {
		next = c->next;
		if ((!request && !endpoint) || (request && strcmp(c->wait_request, request) == 0) ||
		    (endpoint && strcmp(c->wait_endpoint, endpoint) == 0))
			waiter_resume(s, c);
	}
	pthread_mutex_unlock(&s->lock);
}

void http_wake(struct http_server *s, const char *request_id)
{
	wake(s, request_id, NULL);
}

/* When the ticker must resume c. */
static int64_t due_ms(const struct conn *c)
{
	return c->recheck_ms && c->recheck_ms < c->deadline_ms ? c->recheck_ms : c->deadline_ms;
}

/* Resumes waiters whose deadline passed; sleeps until the next one. */
static void *ticker_main(void *arg)
{
	struct http_server *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->ticker_stop) {
		int64_t now = now_ms(), next = now + TICK_MAX_MS;
		for (struct conn *c = s->waiters, *n; c; c = n) {
			n = c->next;
			if (due_ms(c) <= now)
				waiter_resume(s, c);
			else if (due_ms(c) < next)
				next = due_ms(c);
		}
		struct timespec ts = {.tv_sec = next / 1000, .tv_nsec = (next % 1000) * 1000000};
		pthread_cond_timedwait(&s->tick, &s->lock, &ts);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- answers ---- */

static void wipe_free(void *p)
{
	if (p)
		explicit_bzero(p, strlen(p));
	free(p);
}

/* Queues body (malloc'd JSON text, taken over) with status. */
static enum MHD_Result send_json(struct MHD_Connection *mc, unsigned status, char *body)
{
	static const char oom[] =
		"{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
	struct MHD_Response *r;

	if (body)
		r = MHD_create_response_from_buffer_with_free_callback(strlen(body), body,
								       wipe_free);
	else
		r = MHD_create_response_from_buffer(strlen(oom), (void *)oom,
						    MHD_RESPMEM_PERSISTENT);
	if (!r) {
		wipe_free(body);
		return MHD_NO;
	}
	if (!body)
		status = 500;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	enum MHD_Result ret = MHD_queue_response(mc, status, r);
	MHD_destroy_response(r);
	return ret;
}

static void access_log(struct MHD_Connection *mc, const char *method, const char *url,
		       const struct api_out *out, int64_t start_ms)
{
	char host[NI_MAXHOST] = "?";
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	if (ci && ci->client_addr) {
		socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
								       : sizeof(struct sockaddr_in);
		getnameinfo(ci->client_addr, len, host, sizeof host, NULL, 0, NI_NUMERICHOST);
	}
	/* MHD hands the path percent-decoded: keep control bytes out of the log. */
	char path[201];
	size_t i;
	for (i = 0; i < sizeof path - 1 && url[i]; i++)
		path[i] = (unsigned char)url[i] < 0x20 || url[i] == 0x7f ? '?' : url[i];
	path[i] = '\0';
	log_info("%s %s %s %u %s %lldms", host, method, path, out->status,
		 out->who[0] ? out->who : "-", (long long)(now_ms() - start_ms));
}

/* ---- requests ---- */

static const char *query_arg(void *cls, const char *name)
{
	return MHD_lookup_connection_value(cls, MHD_GET_ARGUMENT_KIND, name);
}

/* Keeps the body up to the route's limit; counts (and drops) the rest. */
static int take_body(struct conn *c, const char *data, size_t n)
{
	c->seen += n;
	if (c->too_large || c->len + n > c->limit) {
		c->too_large = 1;
		return c->seen > HTTP_DISCARD_MAX ? -1 : 0;
	}
	if (c->len + n > c->cap) {
		size_t cap = c->cap ? c->cap : 1024;
		while (cap < c->len + n)
			cap *= 2;
		char *grown = malloc(cap);
		if (!grown)
			return -1;
		if (c->body) {
			memcpy(grown, c->body, c->len);
			explicit_bzero(c->body, c->cap);
			free(c->body);
		}
		c->body = grown;
		c->cap = cap;
	}
	memcpy(c->body + c->len, data, n);
	c->len += n;
	return 0;
}

/*
 * Suspends c per out. 0; -1 if the hub is stopping (answer instead); 1 if
 * an http_wake() came since gen was read (it may have been for this
 * request, before c was listed to hear it) and round allows reading again
 * at once. Past the rounds, c is suspended with a recheck soon instead.
 */
static int suspend(struct http_server *s, struct conn *c, const struct api_out *out, uint64_t gen,
		   int round)
{
	pthread_mutex_lock(&s->lock);
	if (s->stopping) {
		pthread_mutex_unlock(&s->lock);
		return -1;
	}
	int raced = s->wake_gen != gen;
	if (raced && round < RECHECK_ROUNDS) {
		pthread_mutex_unlock(&s->lock);
		return 1;
	}
	c->recheck_ms = raced ? now_ms() + RECHECK_MS : 0;
	c->deadline_ms = out->wait_deadline_ms;
	memcpy(c->wait_request, out->wait_request, sizeof c->wait_request);
	memcpy(c->wait_endpoint, out->wait_endpoint, sizeof c->wait_endpoint);
	waiter_add(s, c);
	MHD_suspend_connection(c->mc);
	pthread_cond_signal(&s->tick);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static enum MHD_Result respond(struct http_server *s, struct conn *c, const char *method,
			       const char *url)
{
	struct api_out out;
	struct api_in in = {
		.method = method,
		.path = url,
		.authorization =
			MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, "Authorization"),
		.content_type = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, "Content-Type"),
		.arg = query_arg,
		.arg_cls = c->mc,
		.body = c->body ? c->body : "",
		.body_len = c->len,
		.body_too_large = c->too_large,
		.wait_deadline_ms = c->deadline_ms,
	};

	for (int round = 0;; round++) {
		pthread_mutex_lock(&s->lock);
		in.stopping = s->stopping;
		uint64_t gen = s->wake_gen;
		pthread_mutex_unlock(&s->lock);
		api_handle(s->api, &in, &out);
		if (!out.wait)
			break;
		int rc = suspend(s, c, &out, gen, round);
		if (rc == 0) {
			api_out_clear(&out);
			return MHD_YES;
		}
		if (rc < 0) {
			api_error(&out, 503, "shutting_down", "the hub is stopping; ask again");
			break;
		}
		in.wait_deadline_ms = out.wait_deadline_ms;
		api_out_clear(&out);
	}
	access_log(c->mc, method, url, &out, c->start_ms);
	enum MHD_Result ret = send_json(c->mc, out.status, out.body);
	out.body = NULL; /* send_json owns it */
	if (out.wake_request[0])
		wake(s, out.wake_request, NULL);
	if (out.wake_endpoint[0])
		wake(s, NULL, out.wake_endpoint);
	api_out_clear(&out);
	return ret;
}

/* First call: a declared body over the discard limit is refused at once. */
static enum MHD_Result first_call(struct conn *c, struct MHD_Connection *mc)
{
	const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
	char *end;

	errno = 0;
	unsigned long long n = cl ? strtoull(cl, &end, 10) : 0;
	if (cl && (errno || *end || n > HTTP_DISCARD_MAX)) {
		struct api_out out = {0};
		api_error(&out, 413, "body_too_large", "the body is over %d bytes", API_BODY_MAX);
		enum MHD_Result ret = send_json(mc, out.status, out.body);
		out.body = NULL;
		api_out_clear(&out);
		return ret;
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct conn *c = *con_cls;

	if (!c) {
		c = calloc(1, sizeof *c);
		if (!c)
			return MHD_NO;
		c->mc = mc;
		c->start_ms = now_ms();
		c->limit = api_body_limit(
			s->api, method, url,
			MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Authorization"));
		*con_cls = c;
		return first_call(c, mc);
	}
	if (*upload_data_size) {
		int rc = take_body(c, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return rc == 0 ? MHD_YES : MHD_NO;
	}
	return respond(s, c, method, url);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct conn *c = *con_cls;

	if (!c)
		return;
	pthread_mutex_lock(&s->lock);
	if (c->suspended) { /* not expected: MHD completes only resumed connections */
		if (c->prev)
			c->prev->next = c->next;
		else
			s->waiters = c->next;
		if (c->next)
			c->next->prev = c->prev;
	}
	pthread_mutex_unlock(&s->lock);
	if (c->body)
		explicit_bzero(c->body, c->cap);
	free(c->body);
	free(c);
	*con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
	vsnprintf(buf, sizeof buf, fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_warn("http: %s", buf);
}

int http_start(struct http_server **out, const struct http_options *o, const struct api_ctx *api,
	       char *err, size_t errlen)
{
	struct http_server *s = calloc(1, sizeof *s);

	*out = NULL;
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->api = api;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->tick, NULL);
	if (pthread_create(&s->ticker, NULL, ticker_main, s) != 0) {
		snprintf(err, errlen, "cannot start the ticker thread");
		http_stop(s);
		return -1;
	}
	s->ticker_started = 1;
	s->d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
			MHD_USE_TLS | MHD_USE_ERROR_LOG,
		0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_LISTEN_SOCKET, o->listen_fd, MHD_OPTION_HTTPS_MEM_KEY, o->key_pem,
		MHD_OPTION_HTTPS_MEM_CERT, o->cert_pem, MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
		MHD_OPTION_CONNECTION_TIMEOUT, o->connection_timeout, MHD_OPTION_CONNECTION_LIMIT,
		o->max_connections, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_STRICT_FOR_CLIENT, 1,
		MHD_OPTION_END);
	if (!s->d) {
		snprintf(err, errlen, "libmicrohttpd did not start (TLS key or certificate?)");
		close(o->listen_fd);
		http_stop(s);
		return -1;
	}
	*out = s;
	return 0;
}

void http_stop(struct http_server *s)
{
	if (!s)
		return;
	MHD_socket lfd = s->d ? MHD_quiesce_daemon(s->d) : MHD_INVALID_SOCKET;
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	while (s->waiters)
		waiter_resume(s, s->waiters);
	s->ticker_stop = 1;
	pthread_cond_signal(&s->tick);
	pthread_mutex_unlock(&s->lock);
	if (s->ticker_started)
		pthread_join(s->ticker, NULL);
	/* Let the resumed long-polls and answers in flight go out. */
	for (int64_t end = now_ms() + DRAIN_MS; s->d && now_ms() < end;) {
		const union MHD_DaemonInfo *di =
			MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (!di || di->num_connections == 0)
			break;
		usleep(20000);
	}
	if (s->d)
		MHD_stop_daemon(s->d);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	pthread_cond_destroy(&s->tick);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
