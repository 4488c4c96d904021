/*
 * notify: the LISTEN connection and its thread; see notify.h.
 */
#include "notify.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "auth.h"
#include "jitsu/log.h"
#include "storage.h"

struct notify {
	char *url;
	notify_wake_fn wake;
	void *cls;
	PGconn *conn; /* the thread's, once started */
	int stop_fd;  /* eventfd: readable when stopping */
	pthread_t thread;
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

static void quiet_notices(void *arg, const char *message)
{
}

/* A connection that LISTENs, or NULL with err. */
static PGconn *listen_connect(const char *url, char *err, size_t errlen)
{
	PGconn *c = PQconnectdb(url);
	PGresult *r = NULL;

	if (c && PQstatus(c) == CONNECTION_OK) {
		PQsetNoticeProcessor(c, quiet_notices, NULL);
		r = PQexec(c, "LISTEN " STORAGE_NOTIFY_CHANNEL);
	}
	if (r && PQresultStatus(r) == PGRES_COMMAND_OK) {
		PQclear(r);
		return c;
	}
	const char *m = c ? PQerrorMessage(c) : "out of memory";
	set_err(err, errlen, "postgresql: %.*s", (int)strcspn(m, "\n"), m);
	PQclear(r);
	PQfinish(c);
	return NULL;
}

/* Sleeps up to seconds; 1 if woken to stop. */
static int wait_stop(struct notify *n, int seconds)
{
	struct pollfd p = {.fd = n->stop_fd, .events = POLLIN};
	return poll(&p, 1, seconds * 1000) > 0;
}

/* Hands every notification received to the callback. */
static void drain(struct notify *n)
{
	PGnotify *msg;

	while ((msg = PQnotifies(n->conn))) {
		const char *id = msg->extra;
		if (id && strlen(id) == STORAGE_ID_LEN && auth_is_hex(id, STORAGE_ID_LEN))
			n->wake(n->cls, id);
		PQfreemem(msg);
	}
}

/* Reconnects after a loss, with backoff; wakes everyone once back. 0, or
 * -1 when told to stop meanwhile. */
static int reconnect(struct notify *n)
{
	char err[256];
	int delay = 1;

	PQfinish(n->conn);
	n->conn = NULL;
	for (;;) {
		if (wait_stop(n, delay))
			return -1;
		n->conn = listen_connect(n->url, err, sizeof err);
		if (n->conn)
			break;
		log_warn("notify: %s; next attempt in %d s", err, delay);
		delay = delay * 2 > NOTIFY_RETRY_MAX_S ? NOTIFY_RETRY_MAX_S : delay * 2;
	}
	log_info("notify: listening again; waking every long-poll to re-read");
	n->wake(n->cls, NULL);
	return 0;
}

static void *listener_main(void *arg)
{
	struct notify *n = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = n->stop_fd, .events = POLLIN},
				      {.fd = PQsocket(n->conn), .events = POLLIN}};
		int rc = poll(p, 2, -1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0 || p[0].revents)
			break;
		if (PQconsumeInput(n->conn) == 1 && PQstatus(n->conn) == CONNECTION_OK) {
			drain(n);
			continue;
		}
		log_warn("notify: connection to the database lost: %.*s",
			 (int)strcspn(PQerrorMessage(n->conn), "\n"), PQerrorMessage(n->conn));
		if (reconnect(n) != 0)
			break;
	}
	return NULL;
}

int notify_start(struct notify **out, const char *url, notify_wake_fn wake, void *cls, char *err,
		 size_t errlen)
{
	struct notify *n = calloc(1, sizeof *n);

	*out = NULL;
	if (!n || !(n->url = strdup(url))) {
		free(n);
		set_err(err, errlen, "out of memory");
		return -1;
	}
	n->wake = wake;
	n->cls = cls;
	n->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (n->stop_fd < 0)
		set_err(err, errlen, "eventfd: %s", strerror(errno));
	else
		n->conn = listen_connect(url, err, errlen);
	if (n->conn && pthread_create(&n->thread, NULL, listener_main, n) != 0) {
		set_err(err, errlen, "cannot start the listener thread");
		PQfinish(n->conn);
		n->conn = NULL;
	}
	if (!n->conn) {
		if (n->stop_fd >= 0)
			close(n->stop_fd);
		explicit_bzero(n->url, strlen(n->url));
		free(n->url);
		free(n);
		return -1;
	}
	*out = n;
	return 0;
}

void notify_stop(struct notify *n)
{
	uint64_t one = 1;

	if (!n)
		return;
	if (write(n->stop_fd, &one, sizeof one) != sizeof one)
		log_err("notify: cannot signal the listener: %s", strerror(errno));
	pthread_join(n->thread, NULL);
	PQfinish(n->conn);
	close(n->stop_fd);
	explicit_bzero(n->url, strlen(n->url)); /* may hold a password */
	free(n->url);
	free(n);
}
