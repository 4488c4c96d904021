/*
 * hubload: a load generator for jitsu-hub (docs/hub-api.md), run by
 * bench/hubload.sh. One thread, epoll, non-blocking sockets, OpenSSL; every
 * connection is HTTP/1.1 keep-alive and verifies the hub's self-signed
 * certificate (--cacert) for the IP address 127.0.0.1.
 *
 *   hubload --url https://127.0.0.1:PORT --cacert tls.crt --admin-token-file F
 *           --hub-pid PID [--endpoints 10000] [--waiters 2000] [--inflight 64]
 *           [--rate 100] [--steady 1000] [--burst 1000] [--burst-inflight 8]
 *           [--deadline 200]
 *
 * Phases, each timed on its own:
 *  1. an approver user is created (admin API);
 *  2. --endpoints enrollment tokens are created, --inflight at once over as
 *     many keep-alive connections; then each is used by one POST /enroll;
 *     those connections are closed; the hub's RSS is read ("idle");
 *  3. --waiters endpoints each open their own connection (TLS handshake),
 *     submit a request (--inflight submits at once) and, on the same
 *     connection, long-poll it with ?wait=60; once the hub is quiet the RSS
 *     is read ("peak") with every waiter suspended in the hub;
 *  4. steady: an approver (4 connections) approves --steady requests, oldest
 *     first, at --rate per second; each notified endpoint submits a new
 *     request and waits again, so --waiters stay waiting;
 *  5. burst: --burst approvals as fast as the hub answers, --burst-inflight
 *     at once; notified endpoints no longer resubmit.
 * For each approval the notification latency is the time from the approve
 * call's answer (fully read by the approver) to the waiting endpoint's
 * answer carrying state "approved" (fully read); both in this process, by
 * one monotonic clock. A notification read before its approve answer counts
 * as 0 (and is counted in *_first).
 *
 * Prints key=value lines on stdout; progress on stderr. Exit 0, or 1 if a
 * phase could not complete (errors, deadline), 2 usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_ERRORS 50
#define IN_MAX (256 * 1024)
#define APPROVER_CONNS 4
#define LONGPOLL "60"
#define SETTLE_MAX_S 8.0
#define COUNT_MAX (LONG_MAX / 8) /* so that the counts' sums cannot overflow */

/* ---------------------------------------------------------------- util */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double t0;

__attribute__((format(printf, 1, 2))) static void note(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "hubload: %7.2fs ", now() - t0);
	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "hubload: FAILED: ");
	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

/* Samples of seconds; percentiles in ms. */
struct samples {
	double *v;
	size_t n, cap;
};

static void sample_add(struct samples *s, double x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		if (!s->v)
			die("out of memory");
	}
	s->v[s->n++] = x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile, in ms; -1 if empty. */
static double pct_ms(struct samples *s, double p)
{
	if (!s->n)
		return -1;
	qsort(s->v, s->n, sizeof *s->v, cmp_double);
	size_t rank = (size_t)(p / 100.0 * (double)s->n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return s->v[rank - 1] * 1000;
}

static void print_lat(const char *key, struct samples *s)
{
	printf("%s_n=%zu\n%s_p50_ms=%.2f\n%s_p99_ms=%.2f\n%s_max_ms=%.2f\n", key, s->n, key,
	       pct_ms(s, 50), key, pct_ms(s, 99), key, pct_ms(s, 100));
}

/* ------------------------------------------------------------ hub /proc */

static int hub_pid;

/* A kB field of /proc/PID/status, -1 if unreadable. */
static long proc_kb(const char *field)
{
	char path[64], line[256];
	size_t fl = strlen(field);
	long v = -1;
	snprintf(path, sizeof path, "/proc/%d/status", hub_pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
			v = strtol(line + fl + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static int db_pid; /* PostgreSQL's postmaster, 0 if none */

/* A process's user + system CPU time in seconds, and its parent; -1. */
static double proc_cpu(const char *pid, int *ppid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof path, "/proc/%s/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	/* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	if (!p || p[1] != ' ' || !p[2])
		return -1;
	const char *s = p + 3; /* after the state */
	char *end;
	errno = 0;
	long pp = strtol(s, &end, 10);
	if (end == s || errno || pp < INT_MIN || pp > INT_MAX)
		return -1;
	s = end;
	/* skips pgrp session tty tpgid flags minflt cminflt majflt cmajflt */
	for (int k = 0; k < 9; k++) {
		while (*s == ' ')
			s++;
		if (*s == '-')
			s++;
		if (!isdigit((unsigned char)*s))
			return -1;
		while (isdigit((unsigned char)*s))
			s++;
	}
	unsigned long ut = strtoul(s, &end, 10);
	if (end == s || errno)
		return -1;
	s = end;
	unsigned long st = strtoul(s, &end, 10);
	if (end == s || errno)
		return -1;
	if (ppid)
		*ppid = (int)pp;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The hub's CPU time, in seconds. */
static double hub_cpu(void)
{
	char pid[16];
	snprintf(pid, sizeof pid, "%d", hub_pid);
	return proc_cpu(pid, NULL);
}

/* PostgreSQL's CPU time: the postmaster and its children (the hub's
 * backend among them), in seconds; 0 without --db-pid. */
static double db_cpu(void)
{
	if (!db_pid)
		return 0;
	double sum = 0;
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	for (struct dirent *de; (de = readdir(d));) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end)
			continue;
		int pp = 0;
		double c = proc_cpu(de->d_name, &pp);
		if (c >= 0 && (pp == db_pid || pid == db_pid))
			sum += c;
	}
	closedir(d);
	return sum;
}

/* Open file descriptors of the hub that are sockets. */
static int hub_sockets(void)
{
	char path[64], target[64];
	int n = 0;
	snprintf(path, sizeof path, "/proc/%d/fd", hub_pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	for (struct dirent *de; (de = readdir(d));) {
		ssize_t l = readlinkat(dirfd(d), de->d_name, target, sizeof target - 1);
		if (l < 0)
			continue;
		target[l] = '\0';
		if (strncmp(target, "socket:", 7) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* ---------------------------------------------------------- connections */

struct conn;
/* status -1: failed (connection dropped); 0: connected, no request; else HTTP. */
typedef void (*done_fn)(struct conn *c, int status, json_t *body, double t);

enum cstate { C_CLOSED, C_CONNECTING, C_HANDSHAKE, C_READY, C_SENDING, C_RECEIVING };

struct conn {
	SSL *ssl;
	char *out;
	size_t outlen, outoff;
	char *in;
	size_t inlen, incap;
	done_fn done;
	long ctx; /* the owner's index */
	double t_start;
	int fd;
	enum cstate st;
	int in_drive;
	int opened; /* handshakes done on this conn */
};

static SSL_CTX *ssl_ctx;
static struct sockaddr_in hub_addr;
static char host_hdr[64];
static int epfd;
static long errors, reconnects, handshakes;
static int open_conns;

static void fail_conn(struct conn *c, const char *what);

static void conn_close(struct conn *c)
{
	if (c->st == C_CLOSED)
		return;
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->st = C_CLOSED;
	open_conns--;
}

static void conn_open(struct conn *c)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket: %s (raise ulimit -n)", strerror(errno));
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	open_conns++;
	if (c->opened)
		reconnects++;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				 .data.ptr = c};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
	c->ssl = SSL_new(ssl_ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
		die("SSL_new");
	SSL_set_connect_state(c->ssl);
	int r = connect(c->fd, (struct sockaddr *)&hub_addr, sizeof hub_addr);
	if (r == 0)
		c->st = C_HANDSHAKE;
	else if (errno == EINPROGRESS)
		c->st = C_CONNECTING;
	else {
		c->st = C_CONNECTING; /* so that close counts it */
		fail_conn(c, strerror(errno));
	}
}

/* The status code of a status line "HTTP/1.x NNN ...", -1 if malformed. */
static int status_code(const char *line)
{
	if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]))
		return -1;
	const char *s = line + 7;
	while (isdigit((unsigned char)*s))
		s++;
	if (*s != ' ' || !isdigit((unsigned char)s[1]))
		return -1;
	char *end;
	errno = 0;
	long v = strtol(s + 1, &end, 10);
	if (errno || v < 100 || v > 999 || (*end != ' ' && *end != '\r'))
		return -1;
	return (int)v;
}

/* Parses a complete response in c->in; 1 complete, 0 not yet, -1 bad. */
static int parse_response(struct conn *c, int *status, json_t **body, int *close_after)
{
	c->in[c->inlen] = '\0';
	char *end = strstr(c->in, "\r\n\r\n");
	if (!end)
		return c->inlen > 65536 ? -1 : 0;
	*status = status_code(c->in);
	if (*status < 0)
		return -1;
	long cl = -1;
	*close_after = 0;
	for (char *l = strstr(c->in, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n")) {
		char *h = l + 2;
		if (strncasecmp(h, "Content-Length:", 15) == 0)
			cl = strtol(h + 15, NULL, 10);
		else if (strncasecmp(h, "Connection:", 11) == 0) {
			const char *v = h + 11;
			while (*v == ' ')
				v++;
			if (strncasecmp(v, "close", 5) == 0)
				*close_after = 1;
		} else if (strncasecmp(h, "Transfer-Encoding:", 18) == 0)
			return -1; /* the hub always sends Content-Length */
	}
	if (cl < 0)
		return -1;
	size_t hlen = (size_t)(end + 4 - c->in);
	if (c->inlen < hlen + (size_t)cl)
		return 0;
	if (c->inlen > hlen + (size_t)cl)
		return -1; /* no pipelining: nothing may follow */
	json_error_t je;
	*body = cl ? json_loadb(end + 4, (size_t)cl, 0, &je) : NULL;
	return 1;
}

static void drive(struct conn *c, uint32_t events);

static void fail_conn(struct conn *c, const char *what)
{
	errors++;
	if (errors <= 10)
		note("connection %ld: %s", c->ctx, what);
	if (errors > MAX_ERRORS)
		die("too many errors");
	int had_request = c->out != NULL || c->st == C_RECEIVING;
	free(c->out);
	c->out = NULL;
	conn_close(c);
	if (had_request && c->done)
		c->done(c, -1, NULL, now());
}

/* Queues a request on c (opening it if closed); body may be NULL. */
static void conn_request(struct conn *c, const char *method, const char *path, const char *auth,
			 const char *body, done_fn done, long ctx)
{
	size_t blen = body ? strlen(body) : 0;
	size_t cap = 512 + strlen(path) + (auth ? strlen(auth) : 0) + blen;
	if (c->out)
		die("request on a busy connection");
	c->out = xmalloc(cap);
	int n = snprintf(c->out, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s%s", method, path,
			 host_hdr, auth ? "Authorization: " : "", auth ? auth : "",
			 auth ? "\r\n" : "");
	if (body)
		n += snprintf(c->out + n, cap - (size_t)n,
			      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			      blen, body);
	else
		n += snprintf(c->out + n, cap - (size_t)n, "\r\n");
	c->outlen = (size_t)n;
	c->outoff = 0;
	c->done = done;
	c->ctx = ctx;
	c->t_start = now();
	if (c->st == C_CLOSED)
		conn_open(c);
	else if (c->st == C_READY)
		c->st = C_SENDING;
	if (!c->in_drive)
		drive(c, EPOLLOUT);
}

/* Opens c without a request; done(c, 0, ...) when the handshake is over. */
static void conn_connect(struct conn *c, done_fn done, long ctx)
{
	c->done = done;
	c->ctx = ctx;
	c->t_start = now();
	conn_open(c);
	if (!c->in_drive)
		drive(c, EPOLLOUT);
}

static void drive(struct conn *c, uint32_t events)
{
	c->in_drive = 1;
	for (;;) {
		switch (c->st) {
		case C_CLOSED: goto out;
		case C_CONNECTING: {
			struct pollfd p = {.fd = c->fd, .events = POLLOUT};
			if (poll(&p, 1, 0) != 1)
				goto out;
			int err = 0;
			socklen_t l = sizeof err;
			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
			if (err) {
				fail_conn(c, strerror(err));
				goto out;
			}
			c->st = C_HANDSHAKE;
			continue;
		}
		case C_HANDSHAKE: {
			int r = SSL_connect(c->ssl);
			if (r == 1) {
				handshakes++;
				c->opened++;
				if (c->out) {
					c->st = C_SENDING;
				} else {
					c->st = C_READY;
					if (c->done)
						c->done(c, 0, NULL, now());
				}
				continue;
			}
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				goto out;
			char buf[256];
			ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
			fail_conn(c, buf);
			goto out;
		}
		case C_SENDING: {
			int r = SSL_write(c->ssl, c->out + c->outoff, (int)(c->outlen - c->outoff));
			if (r > 0) {
				c->outoff += (size_t)r;
				if (c->outoff == c->outlen) {
					free(c->out);
					c->out = NULL;
					c->inlen = 0;
					c->st = C_RECEIVING;
				}
				continue;
			}
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				goto out;
			fail_conn(c, "write failed");
			goto out;
		}
		case C_RECEIVING: {
			if (c->incap - c->inlen < 4096) {
				size_t cap = c->incap ? c->incap * 2 : 8192;
				if (cap > IN_MAX) {
					fail_conn(c, "answer too large");
					goto out;
				}
				c->in = realloc(c->in, cap + 1);
				if (!c->in)
					die("out of memory");
				c->incap = cap;
			}
			int r = SSL_read(c->ssl, c->in + c->inlen, (int)(c->incap - c->inlen));
			if (r > 0) {
				c->inlen += (size_t)r;
				int status = 0, close_after = 0;
				json_t *body = NULL;
				int p = parse_response(c, &status, &body, &close_after);
				if (p < 0) {
					fail_conn(c, "malformed answer");
					goto out;
				}
				if (p == 0)
					continue;
				double t = now();
				c->inlen = 0;
				c->st = C_READY;
				if (close_after)
					conn_close(c);
				c->done(c, status, body, t);
				json_decref(body);
				continue;
			}
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				goto out;
			fail_conn(c, e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL
					     ? "closed by the hub while waiting for an answer"
					     : "read failed");
			goto out;
		}
		case C_READY: {
			/* Idle: read session tickets, notice a close by the hub. */
			if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
				goto out;
			char b[256];
			int r = SSL_read(c->ssl, b, sizeof b);
			if (r > 0) {
				fail_conn(c, "unexpected data on an idle connection");
				goto out;
			}
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				goto out;
			conn_close(c); /* the hub closed it (idle timeout): reopen on next use */
			goto out;
		}
		}
	}
out:
	c->in_drive = 0;
}

/* ------------------------------------------------------------- the model */

struct endpoint {
	char token[160];
	char auth[200]; /* "Endpoint id:credential" */
	char req[24];   /* current request id */
	struct conn c;
	long cur_ap; /* the approval of req (index in aps), -1 none */
};

/* One approval: both of its ends, by the same clock. */
struct approval {
	long ep;
	int phase;         /* 1 steady, 2 burst */
	double t_ret;      /* approve answer read, 0 if not yet */
	double t_notified; /* approved state read, 0 if not yet */
};

static struct approval *aps;
static long n_aps;

static struct endpoint *eps;
static long n_endpoints = 10000, n_waiters = 2000, inflight = 64;
static long n_steady = 1000, n_burst = 1000, burst_inflight = 8;
static double rate = 100, deadline_s = 200;
static char admin_auth[200], approver_auth[200];

static struct conn *workers;
static struct conn approvers[16];
static long next_item, done_items, active;

/* Phase state. */
enum phase { P_SETUP, P_TOKENS, P_ENROLL, P_CONNECT, P_SUBMIT, P_STEADY, P_BURST };
static enum phase phase;
static int resubmit;
static long waiting;       /* long-polls in flight */
static long early_pending; /* long-polls answered still pending (re-polled) */

static struct samples lat_submit, lat_token, lat_enroll, lat_handshake;
static struct samples lat_notify[3], lat_approve[3];
static long notified_first[3], approved[3];

/* Approval queue: endpoints whose current request waits, oldest first. */
static long *q;
static size_t qhead, qtail, qcap;

static void q_push(long i)
{
	q[qtail++ % qcap] = i;
}

static long q_pop(void)
{
	return qhead == qtail ? -1 : q[qhead++ % qcap];
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static void expect(int status, int want, json_t *body, const char *what)
{
	if (status == want)
		return;
	errors++;
	if (errors <= 10) {
		char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
		note("%s: HTTP %d %s", what, status, s ? s : "");
		free(s);
	}
	if (errors > MAX_ERRORS)
		die("too many errors");
}

/* ---- phase 1: the approver ---- */

static void setup_done(struct conn *c, int status, json_t *body, double t)
{
	(void)c;
	(void)t;
	if (status != 201)
		die("cannot create the approver user: HTTP %d", status);
	snprintf(approver_auth, sizeof approver_auth, "Bearer %s", jstr(body, "token"));
	done_items = 1;
}

/* ---- phase 2: enrollment tokens, enrollment ---- */

static void token_next(struct conn *c);
static void enroll_next(struct conn *c);

static void token_done(struct conn *c, int status, json_t *body, double t)
{
	long i = c->ctx;
	if (status == 201) {
		snprintf(eps[i].token, sizeof eps[i].token, "%s", jstr(body, "token"));
		sample_add(&lat_token, t - c->t_start);
		done_items++;
	} else {
		expect(status, 201, body, "enrollment token");
		done_items++; /* lost: that endpoint will not enroll */
	}
	active--;
	token_next(c);
}

static void token_next(struct conn *c)
{
	if (next_item >= n_endpoints)
		return;
	active++;
	conn_request(c, "POST", "/api/v1/enrollment-tokens", admin_auth, "{\"ttl\":3600}",
		     token_done, next_item++);
}

static void enroll_done(struct conn *c, int status, json_t *body, double t)
{
	long i = c->ctx;
	if (status == 201) {
		snprintf(eps[i].auth, sizeof eps[i].auth, "Endpoint %s:%s",
			 jstr(body, "endpoint_id"), jstr(body, "credential"));
		sample_add(&lat_enroll, t - c->t_start);
	} else {
		expect(status, 201, body, "enroll");
	}
	done_items++;
	active--;
	enroll_next(c);
}

static void enroll_next(struct conn *c)
{
	while (next_item < n_endpoints && !eps[next_item].token[0])
		next_item++, done_items++;
	if (next_item >= n_endpoints)
		return;
	long i = next_item++;
	char body[512];
	snprintf(body, sizeof body,
		 "{\"token\":\"%s\",\"hostname\":\"ep%05ld.bench.example\","
		 "\"machine_id\":\"%032lx\",\"os\":\"Debian GNU/Linux 12 (bookworm)\","
		 "\"kernel\":\"6.1.0-18-amd64\",\"agent_version\":\"0.1.0\"}",
		 eps[i].token, i, (unsigned long)i + 1);
	active++;
	conn_request(c, "POST", "/api/v1/enroll", NULL, body, enroll_done, i);
}

/* ---- phase 3: waiters ---- */

static void connect_next(void);
static void submit(long i);
static void submit_next(void);

static void connect_done(struct conn *c, int status, json_t *body, double t)
{
	(void)body;
	if (status == 0)
		sample_add(&lat_handshake, t - c->t_start);
	else
		expect(status, 0, NULL, "connect");
	done_items++;
	active--;
	connect_next();
}

static void connect_next(void)
{
	while (active < inflight && next_item < n_waiters) {
		long i = next_item++;
		if (!eps[i].auth[0]) {
			done_items++;
			continue;
		}
		active++;
		conn_connect(&eps[i].c, connect_done, i);
	}
}

static void poll_done(struct conn *c, int status, json_t *body, double t);

static void longpoll(long i)
{
	char path[96];
	snprintf(path, sizeof path, "/api/v1/endpoint/requests/%s?wait=" LONGPOLL, eps[i].req);
	waiting++;
	conn_request(&eps[i].c, "GET", path, eps[i].auth, NULL, poll_done, i);
}

static void submit_done(struct conn *c, int status, json_t *body, double t)
{
	long i = c->ctx;
	struct endpoint *e = &eps[i];
	if (phase == P_SUBMIT) {
		active--;
		done_items++;
	}
	if (status != 201) {
		expect(status, 201, body, "submit");
		if (phase == P_SUBMIT)
			submit_next();
		return;
	}
	sample_add(&lat_submit, t - c->t_start);
	snprintf(e->req, sizeof e->req, "%s", jstr(body, "id"));
	e->cur_ap = -1;
	longpoll(i);
	q_push(i);
	if (phase == P_SUBMIT)
		submit_next();
}

static void submit(long i)
{
	conn_request(&eps[i].c, "POST", "/api/v1/endpoint/requests", eps[i].auth,
		     "{\"user\":\"alice\",\"host\":\"db1.example.org\","
		     "\"argv\":[\"/usr/bin/systemctl\",\"restart\",\"postgresql\"],"
		     "\"binary_sha256\":"
		     "\"abababababababababababababababababababababababababababababababab\","
		     "\"reason\":\"hubload\",\"rule\":\"/etc/jitsu/policy.conf:12\","
		     "\"approvals_needed\":1}",
		     submit_done, i);
}

static void submit_next(void)
{
	while (active < inflight && next_item < n_waiters) {
		long i = next_item++;
		if (!eps[i].auth[0] || (eps[i].c.st == C_CLOSED && !eps[i].c.opened)) {
			done_items++;
			continue;
		}
		active++;
		submit(i);
	}
}

/* Both ends of one approval seen: one latency sample. */
static void approval_complete(struct approval *a)
{
	double d = a->t_notified - a->t_ret;
	if (d < 0) {
		notified_first[a->phase]++;
		d = 0;
	}
	sample_add(&lat_notify[a->phase], d);
}

static void poll_done(struct conn *c, int status, json_t *body, double t)
{
	long i = c->ctx;
	struct endpoint *e = &eps[i];
	waiting--;
	if (status != 200) {
		expect(status, 200, body, "long-poll");
		return;
	}
	const char *state = jstr(body, "state");
	if (strcmp(state, "pending") == 0) {
		early_pending++;
		longpoll(i);
		return;
	}
	if (strcmp(state, "approved") != 0 || strcmp(jstr(body, "id"), e->req) != 0) {
		expect(0, 200, body, "long-poll answered an unexpected state or id");
		return;
	}
	if (e->cur_ap < 0) {
		expect(0, 200, body, "long-poll: approved, but not by us");
		return;
	}
	struct approval *a = &aps[e->cur_ap];
	e->cur_ap = -1;
	a->t_notified = t;
	if (a->t_ret > 0)
		approval_complete(a);
	if (resubmit)
		submit(i);
}

/* ---- phases 4 and 5: the approver ---- */

static long ap_issued, ap_answered;
static long ap_target;
static double ap_next_due, ap_first, ap_last;

static void approve_done(struct conn *c, int status, json_t *body, double t);

static struct conn *free_approver(int n)
{
	for (int k = 0; k < n; k++)
		if (approvers[k].st == C_READY ||
		    (approvers[k].st == C_CLOSED && !approvers[k].out))
			return &approvers[k];
	return NULL;
}

static int approve_one(struct conn *c)
{
	long i = q_pop();
	if (i < 0)
		return -1;
	struct endpoint *e = &eps[i];
	char path[96];
	snprintf(path, sizeof path, "/api/v1/requests/%s/approve", e->req);
	long k = n_aps++;
	aps[k].ep = i;
	aps[k].phase = phase == P_STEADY ? 1 : 2;
	e->cur_ap = k;
	ap_issued++;
	conn_request(c, "POST", path, approver_auth, "{\"note\":\"hubload\"}", approve_done, k);
	return 0;
}

static void approver_tick(void)
{
	if (phase == P_STEADY) {
		double tn = now();
		while (ap_issued < ap_target && tn >= ap_next_due) {
			struct conn *c = free_approver(APPROVER_CONNS);
			if (!c || approve_one(c) != 0)
				break; /* behind schedule: issued when a connection frees */
			ap_next_due += 1.0 / rate;
		}
	} else if (phase == P_BURST) {
		while (ap_issued < ap_target && ap_issued - ap_answered < burst_inflight) {
			struct conn *c = free_approver((int)burst_inflight);
			if (!c || approve_one(c) != 0)
				break;
		}
	}
}

static void approve_done(struct conn *c, int status, json_t *body, double t)
{
	struct approval *a = &aps[c->ctx];
	ap_answered++;
	ap_last = t;
	if (status != 200 || strcmp(jstr(body, "state"), "approved") != 0) {
		expect(status, 200, body, "approve");
	} else {
		approved[a->phase]++;
		sample_add(&lat_approve[a->phase], t - c->t_start);
		a->t_ret = t;
		if (a->t_notified > 0)
			approval_complete(a);
	}
	approver_tick();
}

/* --------------------------------------------------------------- loop */

static double run_deadline;

/* Runs the event loop until cond() holds; tick() (may be NULL) after
 * every wake-up; at most every tick_ms. Dies at the overall deadline. */
static void run_until(int (*cond)(void), void (*tick)(void), int tick_ms, const char *what)
{
	struct epoll_event evs[256];
	while (!cond()) {
		if (now() > run_deadline)
			die("deadline passed during %s", what);
		int n = epoll_wait(epfd, evs, 256, tick_ms);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int k = 0; k < n; k++)
			drive(evs[k].data.ptr, evs[k].events);
		if (tick)
			tick();
	}
}

static long want_items;
static int items_done(void)
{
	return done_items >= want_items;
}

static int setup_finished(void)
{
	return done_items >= 1;
}

static double settle_cpu, settle_t, settle_end;
static int settle_still;
/* The hub's CPU time unchanged over 3 samples 150 ms apart (or time up). */
static int settled(void)
{
	double t = now();
	if (t > settle_end)
		return 1;
	if (t - settle_t < 0.15)
		return settle_still >= 3;
	double cpu = hub_cpu();
	settle_still = cpu == settle_cpu && waiting == n_waiters ? settle_still + 1 : 0;
	settle_cpu = cpu;
	settle_t = t;
	return settle_still >= 3;
}

static int approvals_done(void)
{
	int ph = phase == P_STEADY ? 1 : 2;
	return ap_answered >= ap_target && (long)lat_notify[ph].n >= approved[ph];
}

/* ---------------------------------------------------------------- main */

__attribute__((noreturn)) static void usage(void)
{
	fprintf(stderr,
		"usage: hubload --url URL --cacert FILE --admin-token-file FILE --hub-pid PID\n"
		"               [--endpoints N] [--waiters N] [--inflight N] [--rate R]\n"
		"               [--steady N] [--burst N] [--burst-inflight N] [--deadline S]\n"
		"               [--db-pid POSTMASTER_PID]\n");
	exit(2);
}

/* An invalid argument of option opt: a message, the usage, exit 2. */
__attribute__((noreturn)) static void bad_arg(const char *opt, const char *arg, const char *want)
{
	fprintf(stderr, "hubload: invalid %s '%s': %s\n", opt, arg, want);
	usage();
}

/* Option opt's argument: a whole decimal integer in [min, max]. */
static long arg_long(const char *opt, const char *arg, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (end == arg || *end || errno || v < min || v > max) {
		char want[96];
		snprintf(want, sizeof want, "expected an integer from %ld to %ld", min, max);
		bad_arg(opt, arg, want);
	}
	return v;
}

/* Option opt's argument: a whole finite number greater than 0. */
static double arg_positive(const char *opt, const char *arg)
{
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (end == arg || *end || errno || !isfinite(v) || v <= 0)
		bad_arg(opt, arg, "expected a number greater than 0");
	return v;
}

/* The port of --url https://127.0.0.1:PORT (an optional "/" after it). */
static unsigned url_port(const char *url)
{
	static const char prefix[] = "https://127.0.0.1:";
	if (strncmp(url, prefix, sizeof prefix - 1) != 0 ||
	    !isdigit((unsigned char)url[sizeof prefix - 1]))
		bad_arg("--url", url, "expected https://127.0.0.1:PORT");
	const char *s = url + sizeof prefix - 1;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || v < 1 || v > 65535 || (*end && strcmp(end, "/") != 0))
		bad_arg("--url", url, "expected https://127.0.0.1:PORT, PORT from 1 to 65535");
	return (unsigned)v;
}

static double rate_of(long n, double secs)
{
	return secs > 0 ? (double)n / secs : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"url", required_argument, NULL, 'u'},
		{"cacert", required_argument, NULL, 'c'},
		{"admin-token-file", required_argument, NULL, 'a'},
		{"hub-pid", required_argument, NULL, 'p'},
		{"endpoints", required_argument, NULL, 'e'},
		{"waiters", required_argument, NULL, 'w'},
		{"inflight", required_argument, NULL, 'i'},
		{"rate", required_argument, NULL, 'r'},
		{"steady", required_argument, NULL, 's'},
		{"burst", required_argument, NULL, 'b'},
		{"burst-inflight", required_argument, NULL, 'B'},
		{"deadline", required_argument, NULL, 'd'},
		{"db-pid", required_argument, NULL, 'D'},
		{NULL, 0, NULL, 0},
	};
	const char *url = NULL, *cacert = NULL, *tokfile = NULL;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'u': url = optarg; break;
		case 'c': cacert = optarg; break;
		case 'a': tokfile = optarg; break;
		case 'p': hub_pid = (int)arg_long("--hub-pid", optarg, 1, INT_MAX); break;
		case 'e': n_endpoints = arg_long("--endpoints", optarg, 1, COUNT_MAX); break;
		case 'w': n_waiters = arg_long("--waiters", optarg, 1, COUNT_MAX); break;
		case 'i': inflight = arg_long("--inflight", optarg, 1, COUNT_MAX); break;
		case 'r': rate = arg_positive("--rate", optarg); break;
		case 's': n_steady = arg_long("--steady", optarg, 0, COUNT_MAX); break;
		case 'b': n_burst = arg_long("--burst", optarg, 0, COUNT_MAX); break;
		case 'B': burst_inflight = arg_long("--burst-inflight", optarg, 1, 16); break;
		case 'd': deadline_s = arg_positive("--deadline", optarg); break;
		case 'D': db_pid = (int)arg_long("--db-pid", optarg, 0, INT_MAX); break;
		default: usage();
		}
	}
	if (!url || !cacert || !tokfile || hub_pid <= 0 || optind != argc)
		usage();
	unsigned port = url_port(url);
	if (n_waiters > n_endpoints || n_steady + n_burst > n_waiters * 4) {
		fprintf(stderr, "hubload: needs --waiters <= --endpoints and "
				"--steady + --burst <= 4 * --waiters\n");
		usage();
	}
	t0 = now();
	run_deadline = t0 + deadline_s;
	signal(SIGPIPE, SIG_IGN);

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n_waiters + 1024) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < (rlim_t)n_waiters + 200)
		die("RLIMIT_NOFILE %lu is too low for %ld connections", (unsigned long)rl.rlim_cur,
		    n_waiters);

	FILE *tf = fopen(tokfile, "r");
	char tok[160] = "";
	if (!tf || !fgets(tok, sizeof tok, tf))
		die("cannot read %s", tokfile);
	fclose(tf);
	tok[strcspn(tok, "\r\n")] = '\0';
	snprintf(admin_auth, sizeof admin_auth, "Bearer %s", tok);

	hub_addr.sin_family = AF_INET;
	hub_addr.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &hub_addr.sin_addr);
	snprintf(host_hdr, sizeof host_hdr, "127.0.0.1:%u", port);

	ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (!ssl_ctx || SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(ssl_ctx, cacert, NULL) != 1)
		die("cannot load %s as the hub's certificate", cacert);
	SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, NULL);
	X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ssl_ctx), "127.0.0.1");
	/* Every endpoint does a full handshake, as distinct machines would. */
	SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ssl_ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1");
	eps = xmalloc((size_t)n_endpoints * sizeof *eps);
	for (long i = 0; i < n_endpoints; i++) {
		eps[i].c.fd = -1;
		eps[i].cur_ap = -1;
	}
	workers = xmalloc((size_t)inflight * sizeof *workers);
	for (long k = 0; k < inflight; k++)
		workers[k].fd = -1;
	for (int k = 0; k < 16; k++)
		approvers[k].fd = -1;
	qcap = (size_t)n_waiters * 2 + 16;
	q = xmalloc(qcap * sizeof *q);
	aps = xmalloc((size_t)(n_steady + n_burst + 1) * sizeof *aps);

	long rss_start = proc_kb("VmRSS");
	double cpu_a, cpu_b, ta, tb, db_a;

	/* 1. the approver */
	phase = P_SETUP;
	done_items = 0;
	conn_request(&workers[0], "POST", "/api/v1/users", admin_auth,
		     "{\"name\":\"hubload-approver\",\"role\":\"approver\"}", setup_done, 0);
	run_until(setup_finished, NULL, 100, "setup");

	/* 2. enrollment tokens, enrollment */
	note("creating %ld enrollment tokens, %ld in flight", n_endpoints, inflight);
	phase = P_TOKENS;
	next_item = done_items = active = 0;
	want_items = n_endpoints;
	ta = now();
	cpu_a = hub_cpu();
	db_a = db_cpu();
	for (long k = 0; k < inflight; k++)
		token_next(&workers[k]);
	run_until(items_done, NULL, 100, "enrollment tokens");
	tb = now();
	cpu_b = hub_cpu();
	double tokens_s = tb - ta, tokens_cpu = cpu_b - cpu_a, tokens_db = db_cpu() - db_a;
	note("  %.2f s, %.0f/s", tokens_s, rate_of((long)lat_token.n, tokens_s));

	note("enrolling %ld endpoints, %ld in flight", n_endpoints, inflight);
	phase = P_ENROLL;
	next_item = done_items = active = 0;
	ta = now();
	cpu_a = hub_cpu();
	db_a = db_cpu();
	for (long k = 0; k < inflight; k++)
		enroll_next(&workers[k]);
	run_until(items_done, NULL, 100, "enrollment");
	tb = now();
	cpu_b = hub_cpu();
	double enroll_s = tb - ta, enroll_cpu = cpu_b - cpu_a, enroll_db = db_cpu() - db_a;
	long enrolled = (long)lat_enroll.n;
	note("  %.2f s, %.0f/s; %ld enrolled", enroll_s, rate_of(enrolled, enroll_s), enrolled);
	if (enrolled < n_waiters)
		die("only %ld endpoints enrolled", enrolled);
	for (long k = 0; k < inflight; k++)
		conn_close(&workers[k]);

	/* Idle: no connection open, the hub has seen 20,000 calls. */
	usleep(500000);
	long rss_idle = proc_kb("VmRSS"), rss_idle_anon = proc_kb("RssAnon");
	int socks_idle = hub_sockets();
	note("hub idle: VmRSS %ld kB (RssAnon %ld kB), %d sockets", rss_idle, rss_idle_anon,
	     socks_idle);

	/* 3. waiters: connect, submit, long-poll */
	note("connecting %ld endpoints, %ld handshakes in flight", n_waiters, inflight);
	phase = P_CONNECT;
	next_item = done_items = active = 0;
	want_items = n_waiters;
	ta = now();
	connect_next();
	run_until(items_done, NULL, 100, "connect");
	double connect_s = now() - ta;
	note("  %.2f s, %.0f handshakes/s", connect_s, rate_of((long)lat_handshake.n, connect_s));
	long connected = (long)lat_handshake.n;
	usleep(300000);
	long rss_conn = proc_kb("VmRSS");
	note("hub with %ld idle TLS connections: VmRSS %ld kB", connected, rss_conn);

	note("submitting %ld requests, %ld in flight, each then long-polled", n_waiters, inflight);
	phase = P_SUBMIT;
	next_item = done_items = active = 0;
	ta = now();
	cpu_a = hub_cpu();
	db_a = db_cpu();
	submit_next();
	run_until(items_done, NULL, 100, "submit");
	tb = now();
	cpu_b = hub_cpu();
	double submit_s = tb - ta, submit_cpu = cpu_b - cpu_a, submit_db = db_cpu() - db_a;
	long submitted = (long)lat_submit.n;
	note("  %.2f s, %.0f submits/s; %ld waiting", submit_s, rate_of(submitted, submit_s),
	     waiting);
	if (waiting < n_waiters)
		die("only %ld of %ld endpoints are waiting", waiting, n_waiters);

	/* Peak: every waiter suspended in the hub; the hub quiet. */
	settle_t = 0;
	settle_cpu = -1;
	settle_still = 0;
	settle_end = now() + SETTLE_MAX_S;
	run_until(settled, NULL, 50, "settling");
	double settle_s = now() - tb;
	long rss_peak = proc_kb("VmRSS"), rss_peak_anon = proc_kb("RssAnon");
	int socks_peak = hub_sockets();
	long waiting_peak = waiting;
	note("hub with %ld waiting: VmRSS %ld kB (RssAnon %ld kB), %d sockets", waiting_peak,
	     rss_peak, rss_peak_anon, socks_peak);

	/* 4. steady approvals; notified endpoints resubmit */
	note("steady: %ld approvals at %.0f/s, endpoints resubmit", n_steady, rate);
	phase = P_STEADY;
	resubmit = 1;
	ap_issued = ap_answered = 0;
	ap_target = n_steady;
	ap_first = ap_next_due = now();
	cpu_a = hub_cpu();
	db_a = db_cpu();
	approver_tick();
	run_until(approvals_done, approver_tick, 2, "steady approvals");
	double steady_s = ap_last - ap_first;
	double steady_cpu = hub_cpu() - cpu_a, steady_db = db_cpu() - db_a;
	long waiting_steady_end = waiting;
	note("  %.2f s, %.1f approvals/s; %ld waiting", steady_s, rate_of(approved[1], steady_s),
	     waiting);

	/* 5. burst */
	note("burst: %ld approvals, %ld in flight, no resubmits", n_burst, burst_inflight);
	phase = P_BURST;
	resubmit = 0;
	ap_issued = ap_answered = 0;
	ap_target = n_burst;
	ap_first = now();
	ap_last = ap_first;
	cpu_a = hub_cpu();
	db_a = db_cpu();
	approver_tick();
	run_until(approvals_done, approver_tick, 100, "burst approvals");
	double burst_s = ap_last - ap_first;
	double burst_cpu = hub_cpu() - cpu_a, burst_db = db_cpu() - db_a;
	note("  %.2f s, %.0f approvals/s; %ld waiting", burst_s, rate_of(approved[2], burst_s),
	     waiting);
	long rss_end = proc_kb("VmRSS"), hwm = proc_kb("VmHWM");

	printf("endpoints=%ld\nenrolled=%ld\nwaiters=%ld\ninflight=%ld\n", n_endpoints, enrolled,
	       n_waiters, inflight);
	printf("tokens_s=%.3f\ntokens_rate=%.1f\ntokens_hub_cpu_s=%.2f\ntokens_db_cpu_s=%.2f\n",
	       tokens_s, rate_of((long)lat_token.n, tokens_s), tokens_cpu, tokens_db);
	print_lat("tokens_lat", &lat_token);
	printf("enroll_s=%.3f\nenroll_rate=%.1f\nenroll_hub_cpu_s=%.2f\nenroll_db_cpu_s=%.2f\n",
	       enroll_s, rate_of(enrolled, enroll_s), enroll_cpu, enroll_db);
	print_lat("enroll_lat", &lat_enroll);
	printf("connect_s=%.3f\nconnect_rate=%.1f\n", connect_s,
	       rate_of((long)lat_handshake.n, connect_s));
	print_lat("handshake_lat", &lat_handshake);
	printf("submit_s=%.3f\nsubmit_rate=%.1f\nsubmit_hub_cpu_s=%.2f\nsubmit_db_cpu_s=%.2f\n",
	       submit_s, rate_of(submitted, submit_s), submit_cpu, submit_db);
	printf("settle_s=%.2f\n", settle_s);
	printf("waiting_peak=%ld\nwaiting_steady_end=%ld\n", waiting_peak, waiting_steady_end);
	printf("steady_rate_target=%.1f\nsteady_s=%.3f\nsteady_rate=%.1f\nsteady_hub_cpu_s=%.2f\n"
	       "steady_db_cpu_s=%.2f\n",
	       rate, steady_s, rate_of(approved[1], steady_s), steady_cpu, steady_db);
	printf("steady_first=%ld\n", notified_first[1]);
	print_lat("steady_notify", &lat_notify[1]);
	print_lat("steady_approve", &lat_approve[1]);
	printf("burst_inflight=%ld\nburst_s=%.3f\nburst_rate=%.1f\nburst_hub_cpu_s=%.2f\n"
	       "burst_db_cpu_s=%.2f\n",
	       burst_inflight, burst_s, rate_of(approved[2], burst_s), burst_cpu, burst_db);
	printf("burst_first=%ld\n", notified_first[2]);
	print_lat("burst_notify", &lat_notify[2]);
	print_lat("burst_approve", &lat_approve[2]);
	/* submit latency over all submits, the resubmits of the steady phase included */
	print_lat("submit_lat", &lat_submit);
	printf("rss_start_kb=%ld\nrss_idle_kb=%ld\nrss_idle_anon_kb=%ld\nrss_peak_kb=%ld\n"
	       "rss_peak_anon_kb=%ld\nrss_end_kb=%ld\nhwm_kb=%ld\n",
	       rss_start, rss_idle, rss_idle_anon, rss_peak, rss_peak_anon, rss_end, hwm);
	printf("rss_per_conn_kib=%.1f\n",
	       waiting_peak ? (double)(rss_peak - rss_idle) / (double)waiting_peak : 0);
	/* split: an open TLS connection, then a suspended long-poll on it */
	printf("connected=%ld\nrss_connected_kb=%ld\nrss_per_tls_conn_kib=%.1f\n"
	       "rss_per_waiting_request_kib=%.1f\n",
	       connected, rss_conn,
	       connected ? (double)(rss_conn - rss_idle) / (double)connected : 0,
	       waiting_peak ? (double)(rss_peak - rss_conn) / (double)waiting_peak : 0);
	printf("hub_sockets_idle=%d\nhub_sockets_peak=%d\n", socks_idle, socks_peak);
	printf("early_pending=%ld\nerrors=%ld\nreconnects=%ld\nhandshakes=%ld\nelapsed_s=%.1f\n",
	       early_pending, errors, reconnects, handshakes, now() - t0);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("generator_cpu_s=%.2f\n",
	       (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
		       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	fflush(stdout);
	for (long i = 0; i < n_endpoints; i++)
		conn_close(&eps[i].c);
	for (int k = 0; k < 16; k++)
		conn_close(&approvers[k]);
	return errors ? 1 : 0;
}
