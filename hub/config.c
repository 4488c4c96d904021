/* config: hub.conf reading and writing; see config.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAX 65536
#define LINE_MAX_LEN 2048

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

void config_defaults(struct hub_config *c, const char *dir)
{
	memset(c, 0, sizeof *c);
	snprintf(c->listen, sizeof c->listen, "127.0.0.1:8443");
	snprintf(c->db, sizeof c->db, "sqlite:%.1000s/%s", dir, CONFIG_DB_FILE);
	snprintf(c->tls_cert, sizeof c->tls_cert, "%.1000s/%s", dir, CONFIG_CERT_FILE);
	snprintf(c->tls_key, sizeof c->tls_key, "%.1000s/%s", dir, CONFIG_KEY_FILE);
	snprintf(c->mfa_key, sizeof c->mfa_key, "%.1000s/%s", dir, CONFIG_MFA_KEY_FILE);
	c->request_ttl = 900;
	c->connection_timeout = 30;
	c->max_connections = 256;
	c->webhook_tries = 5;
	c->webhook_timeout = 10;
	c->webhook_queue = 256;
	c->silent_after = 300;
}

static int set_int(int *out, const char *key, const char *v, long min, long max, char *err,
		   size_t errlen)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < min || n > max) {
		set_err(err, errlen, "%s must be an integer from %ld to %ld", key, min, max);
		return -1;
	}
	*out = (int)n;
	return 0;
}

static int set_str(char *dst, size_t size, const char *key, const char *v, char *err, size_t errlen)
{
	if (!*v || strlen(v) >= size) {
		set_err(err, errlen, "%s must be 1 to %zu characters", key, size - 1);
		return -1;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int set_bool(int *out, const char *key, const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		*out = 1;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*out = 0;
	else {
		set_err(err, errlen, "%s must be yes or no", key);
		return -1;
	}
	return 0;
}

/* The URL itself is checked when the hub starts (webhook_url_check). */
static int add_webhook(struct hub_config *c, const char *v, char *err, size_t errlen)
{
	if (c->nwebhooks == CONFIG_WEBHOOK_MAX) {
		set_err(err, errlen, "at most %d webhook URLs", CONFIG_WEBHOOK_MAX);
		return -1;
	}
	if (set_str(c->webhooks[c->nwebhooks], sizeof c->webhooks[0], "webhook", v, err, errlen) !=
	    0)
		return -1;
	c->nwebhooks++;
	return 0;
}

int config_set(struct hub_config *c, const char *key, const char *v, char *err, size_t errlen)
{
	if (strcmp(key, "listen") == 0)
		return set_str(c->listen, sizeof c->listen, key, v, err, errlen);
	if (strcmp(key, "db") == 0)
		return set_str(c->db, sizeof c->db, key, v, err, errlen);
	if (strcmp(key, "tls_cert") == 0)
		return set_str(c->tls_cert, sizeof c->tls_cert, key, v, err, errlen);
	if (strcmp(key, "tls_key") == 0)
		return set_str(c->tls_key, sizeof c->tls_key, key, v, err, errlen);
	if (strcmp(key, "mfa_key") == 0)
		return set_str(c->mfa_key, sizeof c->mfa_key, key, v, err, errlen);
	if (strcmp(key, "request_ttl") == 0)
		return set_int(&c->request_ttl, key, v, 1, 86400, err, errlen);
	if (strcmp(key, "connection_timeout") == 0)
		return set_int(&c->connection_timeout, key, v, 1, 3600, err, errlen);
	if (strcmp(key, "max_connections") == 0)
		return set_int(&c->max_connections, key, v, 1, 10000, err, errlen);
	if (strcmp(key, "webhook") == 0)
		return add_webhook(c, v, err, errlen);
	if (strcmp(key, "webhook_allow_http") == 0)
		return set_bool(&c->webhook_allow_http, key, v, err, errlen);
	if (strcmp(key, "webhook_ca") == 0)
		return set_str(c->webhook_ca, sizeof c->webhook_ca, key, v, err, errlen);
	if (strcmp(key, "webhook_tries") == 0)
		return set_int(&c->webhook_tries, key, v, 1, 10, err, errlen);
	if (strcmp(key, "webhook_timeout") == 0)
		return set_int(&c->webhook_timeout, key, v, 1, 300, err, errlen);
	if (strcmp(key, "webhook_queue") == 0)
		return set_int(&c->webhook_queue, key, v, 1, 100000, err, errlen);
	if (strcmp(key, "silent_after") == 0)
		return set_int(&c->silent_after, key, v, 1, 30 * 86400, err, errlen);
	set_err(err, errlen, "unknown setting '%.64s'", key);
	return -1;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static int parse_line(struct hub_config *c, char *line, unsigned lineno, char *err, size_t errlen)
{
	char msg[256];
	char *s = trim(line);

	if (*s == '\0' || *s == '#')
		return 0;
	char *eq = strchr(s, '=');
	if (!eq) {
		set_err(err, errlen, "line %u: expected key = value", lineno);
		return -1;
	}
	*eq = '\0';
	if (config_set(c, trim(s), trim(eq + 1), msg, sizeof msg) != 0) {
		set_err(err, errlen, "line %u: %s", lineno, msg);
		return -1;
	}
	return 0;
}

/* Reads the whole (small, trusted) file into buf. */
static int read_trusted(const char *path, char *buf, size_t size, size_t *len, char *err,
			size_t errlen)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
	    (sb.st_mode & 022)) {
		set_err(err, errlen,
			"%s: must be a regular file owned by us, not group/other-writable", path);
		close(fd);
		return -1;
	}
	ssize_t n = read(fd, buf, size);
	close(fd);
	if (n < 0 || (size_t)n >= size) {
		set_err(err, errlen, "%s: unreadable or larger than %zu bytes", path, size - 1);
		return -1;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	return 0;
}

int config_load(struct hub_config *c, const char *path, char *err, size_t errlen)
{
	size_t len;
	unsigned lineno = 0;
	char msg[512];
	int rc = -1;
	char *buf = malloc(FILE_MAX + 1);

	if (!buf) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	if (read_trusted(path, buf, FILE_MAX + 1, &len, err, errlen) != 0)
		goto out;
	if (memchr(buf, '\0', len)) {
		set_err(err, errlen, "%s: contains a NUL byte", path);
		goto out;
	}
	for (char *line = buf; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		lineno++;
		if (strlen(line) > LINE_MAX_LEN) {
			set_err(err, errlen, "%s: line %u: too long", path, lineno);
			goto out;
		}
		if (parse_line(c, line, lineno, msg, sizeof msg) != 0) {
			set_err(err, errlen, "%s: %s", path, msg);
			goto out;
		}
		line = nl ? nl + 1 : NULL;
	}
	rc = 0;
out:
	explicit_bzero(buf, FILE_MAX + 1); /* may hold a database password */
	free(buf);
	return rc;
}

int config_save(const struct hub_config *c, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(f,
		"# jitsu-hub settings (docs/hub.md). `jitsu-hub serve` options override them.\n"
		"listen = %s\ndb = %s\ntls_cert = %s\ntls_key = %s\n"
		"request_ttl = %d\nconnection_timeout = %d\nmax_connections = %d\n",
		c->listen, c->db, c->tls_cert, c->tls_key, c->request_ttl, c->connection_timeout,
		c->max_connections);
	fprintf(f, "mfa_key = %s\n", c->mfa_key);
	for (size_t i = 0; i < c->nwebhooks; i++)
		fprintf(f, "webhook = %s\n", c->webhooks[i]);
	int bad = fflush(f) != 0 || fsync(fd) != 0;
	if (fclose(f) != 0 || bad) {
		set_err(err, errlen, "%s: write failed", path);
		return -1;
	}
	return 0;
}

int config_listen_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
		       size_t errlen)
{
	char host[80];
	const char *port;
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;

	const char *colon = s[0] == '[' ? strstr(s, "]:") : strrchr(s, ':');
	size_t hlen = colon ? (size_t)(colon - s) - (s[0] == '[') : 0;
	if (!colon || hlen == 0 || hlen >= sizeof host) {
		set_err(err, errlen, "listen address '%.80s': expected ADDR:PORT or [ADDR]:PORT",
			s);
		return -1;
	}
	memcpy(host, s + (s[0] == '['), hlen);
	host[hlen] = '\0';
	port = colon + (s[0] == '[' ? 2 : 1);
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0 || !ai || ai->ai_addrlen > sizeof *ss) {
		set_err(err, errlen, "listen address '%.80s': %s", s,
			rc ? gai_strerror(rc) : "unusable");
		if (ai)
			freeaddrinfo(ai);
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}
