/*
 * jitsu-hub: the central server for jitsu endpoints (docs/hub.md).
 *
 *   jitsu-hub init --dir D [--db URL] [--listen ADDR:PORT] [--cert F --key F]
 *                  [--san NAME]... [--admin NAME]
 *   jitsu-hub serve --dir D [--listen ADDR:PORT] [--db URL] [--request-ttl S]
 *                   [--timeout S] [--max-connections N] [--webhook URL]...
 *                   [--webhook-allow-http] [--silent-after S]
 *
 * init writes D/hub.conf, the TLS pair, the key that seals MFA states
 * (D/mfa.key; serve makes it on first use for a hub initialised without
 * one) and the database schema, creates the
 * first admin, and prints its API token once, on a line "admin-token: T",
 * with the certificate's fingerprint on "fingerprint: AB:CD:...". serve
 * prints "listening: https://ADDR:PORT" once it accepts connections, and
 * stops cleanly on SIGINT or SIGTERM. Alongside the HTTP server it runs
 * the webhook worker (hub/webhook.h) and, on PostgreSQL, the listener that
 * hears other hubs' decisions (hub/notify.h). The manual is
 * man/jitsu-hub.8.scd.
 *
 * Exit codes: 0 success, 1 failure (message on stderr), 2 usage.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "config.h"
#include "http.h"
#include "jitsu/log.h"
#include "mfaseal.h"
#include "notify.h"
#include "storage.h"
#include "storage_breakglass.h"
#include "tls.h"
#include "watch.h"
#include "webhook.h"

#define EXIT_USAGE 2
#define MAX_SANS 16
#define LISTEN_BACKLOG 128

static void usage(void)
{
	fprintf(stderr,
		"usage: jitsu-hub init --dir D [--db URL] [--listen ADDR:PORT]\n"
		"                      [--cert FILE --key FILE] [--san NAME]... [--admin NAME]\n"
		"       jitsu-hub serve --dir D [--listen ADDR:PORT] [--db URL] [--request-ttl S]\n"
		"                       [--timeout S] [--max-connections N] [--webhook URL]...\n"
		"                       [--webhook-allow-http] [--silent-after S]\n"
		"       jitsu-hub --version\n");
	exit(EXIT_USAGE);
}

__attribute__((noreturn)) static void die(const char *what, const char *err)
{
	fprintf(stderr, "jitsu-hub: %s: %s\n", what, err);
	exit(1);
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* dir made (0700) if missing, as an absolute path. */
static void hub_dir(const char *dir, char abs[PATH_MAX])
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		die(dir, strerror(errno));
	if (!realpath(dir, abs))
		die(dir, strerror(errno));
}

/* The first admin and its token, in the database. */
static void init_admin(const char *db, const char *admin, char token[AUTH_TOKEN_LEN + 1])
{
	struct storage *st;
	char id[AUTH_ID_LEN + 1], hash[AUTH_HASH_LEN + 1], err[512];
	int64_t now = wall_ms() / 1000;

	if (storage_open(&st, db, err, sizeof err) != STORAGE_OK)
		die("database", err);
	int rc = storage_user_add(st, admin, STORAGE_ROLE_ADMIN, now, err, sizeof err);
	if (rc == STORAGE_E_EXISTS)
		die("database", "that admin exists already (database initialised before?)");
	if (rc == STORAGE_OK && auth_token_new(AUTH_TOKEN_USER, token, id, hash) != 0)
		die("token", "no randomness");
	if (rc == STORAGE_OK)
		rc = storage_token_add(st, id, admin, hash, now, err, sizeof err);
	if (rc != STORAGE_OK)
		die("database", err);
	storage_close(st);
}

static int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dir", required_argument, NULL, 'd'},    {"db", required_argument, NULL, 'b'},
		{"listen", required_argument, NULL, 'l'}, {"cert", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},    {"san", required_argument, NULL, 's'},
		{"admin", required_argument, NULL, 'a'},  {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *db = NULL, *listen_at = NULL, *cert = NULL, *key = NULL;
	const char *admin = "admin", *sans[MAX_SANS];
	size_t nsans = 0;
	char abs[PATH_MAX], path[PATH_MAX + 16], err[512], fp[TLS_FINGERPRINT_LEN + 1];
	char token[AUTH_TOKEN_LEN + 1];
	struct hub_config cfg;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'd': dir = optarg; break;
		case 'b': db = optarg; break;
		case 'l': listen_at = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'a': admin = optarg; break;
		case 's':
			if (nsans == MAX_SANS)
				usage();
			sans[nsans++] = optarg;
			break;
		default: usage();
		}
	}
	if (!dir || optind != argc || !cert != !key)
		usage();
	hub_dir(dir, abs);
	snprintf(path, sizeof path, "%s/%s", abs, CONFIG_FILE);
	if (access(path, F_OK) == 0)
		die(path, "exists: this hub is initialised already");
	config_defaults(&cfg, abs);
	if ((db && config_set(&cfg, "db", db, err, sizeof err) != 0) ||
	    (listen_at && config_set(&cfg, "listen", listen_at, err, sizeof err) != 0))
		die("init", err);
	struct sockaddr_storage ss;
	socklen_t sslen;
	if (config_listen_addr(cfg.listen, &ss, &sslen, err, sizeof err) != 0)
		die("init", err);
	int rc = cert ? tls_install(cert, key, cfg.tls_cert, cfg.tls_key, err, sizeof err)
		      : tls_generate(cfg.tls_cert, cfg.tls_key, sans, nsans, err, sizeof err);
	if (rc != 0 || tls_fingerprint(cfg.tls_cert, fp, err, sizeof err) != 0)
		die("tls", err);
	struct mfaseal_key mk;
	if (mfaseal_key_load(cfg.mfa_key, 1, &mk, err, sizeof err) != 0)
		die("mfa key", err);
	mfaseal_key_wipe(&mk);
	init_admin(cfg.db, admin, token);
	if (config_save(&cfg, path, err, sizeof err) != 0)
		die("config", err);
	printf("dir: %s\ncertificate: %s\nfingerprint: %s\nadmin: %s\nadmin-token: %s\n", abs,
	       cfg.tls_cert, fp, admin, token);
	fflush(stdout);
	explicit_bzero(token, sizeof token);
	fprintf(stderr, "jitsu-hub: the admin token is shown only now; store it safely.\n");
	return 0;
}

/* A listening socket on cfg->listen; prints the URL it serves. */
static int open_listener(const struct hub_config *cfg, char *url, size_t urlsize)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256], host[INET6_ADDRSTRLEN];
	int one = 1;

	if (config_listen_addr(cfg->listen, &ss, &len, err, sizeof err) != 0)
		die("listen", err);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    (ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
	    bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, LISTEN_BACKLOG) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		die(cfg->listen, strerror(errno));
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
		snprintf(url, urlsize, "https://[%s]:%u", host, ntohs(a->sin6_port));
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
		snprintf(url, urlsize, "https://%s:%u", host, ntohs(a->sin_port));
	}
	return fd;
}

static void serve_options(int argc, char **argv, struct hub_config *cfg)
{
	static const struct option opts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"db", required_argument, NULL, 'b'},
		{"listen", required_argument, NULL, 'l'},
		{"request-ttl", required_argument, NULL, 't'},
		{"timeout", required_argument, NULL, 'T'},
		{"max-connections", required_argument, NULL, 'm'},
		{"webhook", required_argument, NULL, 'w'},
		{"webhook-allow-http", no_argument, NULL, 'H'},
		{"silent-after", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	struct {
		const char *key, *value;
	} set[9 + CONFIG_WEBHOOK_MAX];
	size_t nset = 0;
	const char *dir = NULL;
	char abs[PATH_MAX], path[PATH_MAX + 16], err[512];
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		const char *key = NULL, *value = optarg;
		switch (o) {
		case 'd': dir = optarg; continue;
		case 'b': key = "db"; break;
		case 'l': key = "listen"; break;
		case 't': key = "request_ttl"; break;
		case 'T': key = "connection_timeout"; break;
		case 'm': key = "max_connections"; break;
		case 'w': key = "webhook"; break;
		case 'H': key = "webhook_allow_http", value = "yes"; break;
		case 's': key = "silent_after"; break;
		default: usage();
		}
		if (nset == sizeof set / sizeof set[0])
			usage();
		set[nset].key = key;
		set[nset++].value = value;
	}
	if (!dir || optind != argc)
		usage();
	if (!realpath(dir, abs))
		die(dir, strerror(errno));
	snprintf(path, sizeof path, "%s/%s", abs, CONFIG_FILE);
	config_defaults(cfg, abs);
	if (config_load(cfg, path, err, sizeof err) != 0)
		die("config", err);
	/* --webhook replaces hub.conf's list rather than adding to it. */
	for (size_t i = 0; i < nset; i++) {
		if (strcmp(set[i].key, "webhook") == 0)
			cfg->nwebhooks = 0;
	}
	for (size_t i = 0; i < nset; i++) {
		if (config_set(cfg, set[i].key, set[i].value, err, sizeof err) != 0)
			die("option", err);
	}
}

static struct webhook *start_webhooks(const struct hub_config *cfg)
{
	const char *urls[CONFIG_WEBHOOK_MAX];
	struct webhook *wh;
	char err[512];

	for (size_t i = 0; i < cfg->nwebhooks; i++)
		urls[i] = cfg->webhooks[i];
	struct webhook_options o = {
		.urls = urls,
		.nurls = cfg->nwebhooks,
		.allow_http = cfg->webhook_allow_http,
		.ca = cfg->webhook_ca[0] ? cfg->webhook_ca : NULL,
		.tries = (unsigned)cfg->webhook_tries,
		.timeout_s = (unsigned)cfg->webhook_timeout,
		.queue_max = (unsigned)cfg->webhook_queue,
	};
	if (webhook_start(&wh, &o, err, sizeof err) != 0)
		die("webhook", err);
	return wh;
}

/* notify's callback: another hub moved request_id (NULL: maybe any). */
static void wake_long_polls(void *cls, const char *request_id)
{
	http_wake(cls, request_id);
}

static int seal_one_breakglass_key(void *ctx, const char *id, const char *hex, char **sealed)
{
	return mfaseal_seal_breakglass(ctx, id, hex, sealed);
}

/* Break-glass keys a hub before sealing stored in clear are sealed now,
 * under the key that seals the MFA states (hub/mfaseal.h). */
static void seal_clear_breakglass_keys(struct storage *st, struct mfaseal_key *k)
{
	char err[512];
	size_t n = 0;
	if (storage_breakglass_seal_clear(st, seal_one_breakglass_key, k, &n, err, sizeof err) !=
	    STORAGE_OK)
		die("database", err);
	if (n > 0)
		log_info("breakglass: sealed %zu key%s stored in clear by an earlier version", n,
			 n == 1 ? "" : "s");
}

static int cmd_serve(int argc, char **argv)
{
	struct hub_config cfg;
	struct storage *st;
	struct http_server *srv;
	char err[512], url[128], *cert_pem, *key_pem;
	sigset_t stop;
	int sig;

	serve_options(argc, argv, &cfg);
	log_init("jitsu-hub", 1);
	/* Before any thread starts, so all of them inherit the mask. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		die("libcurl", "initialisation failed");
	if (storage_open(&st, cfg.db, err, sizeof err) != STORAGE_OK ||
	    storage_claim(st, err, sizeof err) != STORAGE_OK)
		die("database", err);
	if (tls_read_pem(cfg.tls_cert, &cert_pem, err, sizeof err) != 0 ||
	    tls_read_pem(cfg.tls_key, &key_pem, err, sizeof err) != 0)
		die("tls", err);
	struct mfaseal_key mfa_key;
	if (mfaseal_key_load(cfg.mfa_key, 1, &mfa_key, err, sizeof err) != 0)
		die("mfa key", err);
	seal_clear_breakglass_keys(st, &mfa_key);
	struct api_ctx api = {.st = st,
			      .request_ttl = cfg.request_ttl,
			      .now_ms = wall_ms,
			      .webhooks = start_webhooks(&cfg),
			      .mfa_key = &mfa_key};
	struct http_options ho = {
		.listen_fd = open_listener(&cfg, url, sizeof url),
		.cert_pem = cert_pem,
		.key_pem = key_pem,
		.connection_timeout = (unsigned)cfg.connection_timeout,
		.max_connections = (unsigned)cfg.max_connections,
	};
	if (http_start(&srv, &ho, &api, err, sizeof err) != 0)
		die("http", err);
	/* Several hubs may share a PostgreSQL database: hear their decisions.
	 * A long-poll that began before LISTEN took effect reads again. */
	struct notify *nt = NULL;
	if (strcmp(storage_backend(st), "postgresql") == 0) {
		if (notify_start(&nt, cfg.db, wake_long_polls, srv, err, sizeof err) != 0)
			die("database listener", err);
		http_wake(srv, NULL);
	}
	/* Silent endpoints are looked for on a timer, on a connection of its own. */
	struct watch *watch;
	struct watch_options wo = {
		.db = cfg.db, .silent_after = cfg.silent_after, .hooks = api.webhooks};
	if (watch_start(&watch, &wo, err, sizeof err) != 0)
		die("watch", err);
	log_info("serving %s, database %s, schema %d, %zu webhook(s)", url, storage_backend(st),
		 STORAGE_SCHEMA_VERSION, cfg.nwebhooks);
	printf("listening: %s\n", url);
	fflush(stdout);

	while (sigwait(&stop, &sig) != 0)
		;
	log_info("signal %d: stopping", sig);
	notify_stop(nt);
	watch_stop(watch);
	http_stop(srv);
	webhook_stop(api.webhooks);
	storage_close(st);
	curl_global_cleanup();
	explicit_bzero(key_pem, strlen(key_pem));
	free(key_pem);
	free(cert_pem);
	mfaseal_key_wipe(&mfa_key);
	return 0;
}

int main(int argc, char **argv)
{
	umask(077);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "--version") == 0) {
		printf("jitsu-hub %s\n", JITSU_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "init") == 0)
		return cmd_init(argc - 1, argv + 1);
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	usage();
}
