/* jitsuctl hub: tokens, endpoints and approvals at jitsu-hub; see hub.c. */
#ifndef JITSUCTL_HUB_H
#define JITSUCTL_HUB_H

/* jitsuctl hub [OPTIONS] COMMAND ...: returns the exit status (jitsuctl.h). */
int jitsuctl_hub_main(int argc, char **argv, const char *statedir);

/* What policy.c (jitsuctl policy ..., endpoint tag|untag) uses of hub.c: a
 * session set up from the hub options, its client, one call expecting
 * status want (else the hub's refusal printed; 0 with *out, or -1), and
 * --json output. */
#include <jansson.h>
struct hub_ctx;
struct hubclient;
struct hubclient *jitsuctl_hub_client(struct hub_ctx *x);
int jitsuctl_hub_call(struct hub_ctx *x, const char *method, const char *path, json_t *body,
		      long want, json_t **out);
int jitsuctl_hub_print_json(const json_t *j);
/* HOST as `endpoint revoke` takes it: its shape (a hostname or an endpoint
 * id), and the endpoint's id from the hub's list: HOST as an id, or the
 * hostname of exactly one endpoint not revoked. 0 with id (16 hex digits
 * and NUL), or -1 with the reason printed. */
int jitsuctl_hub_is_host(const char *s);
int jitsuctl_hub_endpoint_id(struct hub_ctx *x, const char *host, char id[17]);

/* policy.c: is words[0..n) one of its commands? */
int jitsuctl_policy_wants(int n, char **words);
/* Runs it; other_opts: options given that belong to other commands (an
 * error). With x NULL only checks the command line (usage printed).
 * Returns the exit status. */
int jitsuctl_policy_run(struct hub_ctx *x, int n, char **words, const char *group,
			const char *message, int json, unsigned other_opts);

#endif
