/*
 * hub_impl: what jitsuctl's hub commands share between hub.c (options,
 * the session, requests and people) and hubaudit.c (alerts, audit lag and
 * search). Not for use outside those files; the MUST rules are in hub.c.
 */
#ifndef JITSUCTL_HUB_IMPL_H
#define JITSUCTL_HUB_IMPL_H

#include <jansson.h>
#include <limits.h>

#include "hubfmt.h"
#include "jitsu/hubclient.h"

#define HUB_ID_LEN 16

enum hub_opt {
	OPT_EXPIRES = 1 << 0,
	OPT_PENDING = 1 << 1,
	OPT_NOTE = 1 << 2,
	OPT_WHY = 1 << 3,
	OPT_ROLE = 1 << 4,
	OPT_HOST = 1 << 5,
	OPT_USER = 1 << 6,
	OPT_EVENT = 1 << 7,
	OPT_KIND = 1 << 8,
	OPT_SINCE = 1 << 9,
	OPT_UNTIL = 1 << 10,
	OPT_LIMIT = 1 << 11,
	OPT_GROUP = 1 << 12,   /* policy.c */
	OPT_MESSAGE = 1 << 13, /* policy.c */
};

/* The command line. */
struct hub_opts {
	const char *url, *fingerprint, *cacert, *config;
	int json;
	unsigned given; /* enum hub_opt */
	long ttl;
	const char *note, *why, *role;
	const char *host, *user, *event, *kind; /* checked shapes: safe in a query */
	long long since, until;                 /* Unix seconds */
	long limit;
	const char *group, *message; /* policy.c */
};

/* One session with the hub. */
struct hub_ctx {
	struct hubclient c;
	char url[512];
	char cacert[PATH_MAX];
	const struct hub_opts *o;
	const char *arg2; /* a command's second argument (breakglass respond) */
};

/* One call expecting status want (body consumed); else prints why. 0 with
 * *out, or -1. */
int hub_call(struct hub_ctx *x, const char *method, const char *path, json_t *body, long want,
	     json_t **out);
const char *jstr(const json_t *o, const char *key);
long long jint(const json_t *o, const char *key);
/* Says the hub's answer was malformed; returns JITSUCTL_EXIT_FAIL. */
int malformed(void);
/* Prints a finished table (or says why not), frees it, gives the exit code. */
int table_done(struct hubfmt_table *t, int r);
/* The hub's object, compact ASCII JSON on one line. */
int print_json(const json_t *j);
/* 1 to 32 of [a-z0-9_]: an event or alert kind. */
int hub_is_token(const char *s);

/* hubaudit.c */
int hub_cmd_alerts(struct hub_ctx *x, const char *arg);
int hub_cmd_audit_lag(struct hub_ctx *x, const char *arg);
int hub_cmd_audit_search(struct hub_ctx *x, const char *arg);

#endif
