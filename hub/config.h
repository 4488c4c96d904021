/*
 * config: jitsu-hub's settings, in DIR/hub.conf ("key = value" lines,
 * '#' comments), written by `jitsu-hub init` and read by `serve`, whose
 * command-line options override it (config_set).
 *
 * MUST rules:
 *  - The file is trusted only if fstat on the opened fd shows a regular
 *    file owned by the hub's user and not writable by group or others; it
 *    may hold a database password, so init writes it 0600.
 *  - Unknown keys, bad values and over-long lines are errors, with the line
 *    number; nothing is silently ignored.
 */
#ifndef JITSU_HUB_CONFIG_H
#define JITSU_HUB_CONFIG_H

#include <stddef.h>
#include <sys/socket.h>

#define CONFIG_FILE "hub.conf"
#define CONFIG_DB_FILE "hub.db"
#define CONFIG_CERT_FILE "tls.crt"
#define CONFIG_KEY_FILE "tls.key"
#define CONFIG_MFA_KEY_FILE "mfa.key"
#define CONFIG_PATH_MAX 1024
#define CONFIG_WEBHOOK_MAX 8 /* webhook lines (WEBHOOK_MAX) */

struct hub_config {
	char listen[96];          /* ADDR:PORT, [V6ADDR]:PORT */
	char db[CONFIG_PATH_MAX]; /* sqlite:PATH or postgresql://... */
	char tls_cert[CONFIG_PATH_MAX];
	char tls_key[CONFIG_PATH_MAX];
	int request_ttl;        /* seconds a request stays pending */
	int connection_timeout; /* seconds a connection may idle */
	int max_connections;
	/* Webhooks (hub/webhook.h): "webhook = URL" may repeat. */
	char webhooks[CONFIG_WEBHOOK_MAX][CONFIG_PATH_MAX];
	size_t nwebhooks;
	int webhook_allow_http;           /* plain http:// to any host */
	char webhook_ca[CONFIG_PATH_MAX]; /* "" : the system's CA store */
	int webhook_tries, webhook_timeout, webhook_queue;
	char mfa_key[CONFIG_PATH_MAX]; /* the key sealing MFA states (hub/mfaseal.h) */
	int silent_after;              /* seconds without contact before endpoint_silent */
};

/* Defaults for a hub in directory dir (absolute). */
void config_defaults(struct hub_config *c, const char *dir);
/* Sets one key from its text; 0 or -1 with err. "webhook" adds a URL. */
int config_set(struct hub_config *c, const char *key, const char *value, char *err, size_t errlen);
/* Reads path over the values already in c. 0 or -1 with err. */
int config_load(struct hub_config *c, const char *path, char *err, size_t errlen);
/* Writes c to path, which must not exist yet (mode 0600). 0 or -1. */
int config_save(const struct hub_config *c, const char *path, char *err, size_t errlen);
/* Parses "ADDR:PORT" or "[ADDR]:PORT" (numeric addresses only). 0 or -1. */
int config_listen_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
		       size_t errlen);

#endif
