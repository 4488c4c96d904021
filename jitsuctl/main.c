/*
 * jitsuctl: global options, then one subcommand from a closed table.
 *
 *   jitsuctl [-d STATEDIR] COMMAND [ARGS...]
 *
 * Exit status: 0 done, 1 failed or found a problem, 2 usage.
 */
#include "jitsuctl.h"
#include "hub.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct jitsuctl_cmd {
	const char *name;
	int (*main)(int argc, char **argv, const char *statedir);
	const char *help;
};

/* One line per subcommand. To add one, write its entry point in its own
 * file, declare it in jitsuctl.h, list the file in meson.build and add: */
static const struct jitsuctl_cmd cmds[] = {
	{"audit", jitsuctl_audit_main, "verify, show and set up the audit trail"},
	{"hub", jitsuctl_hub_main, "jitsu-hub: enrollment tokens, endpoints, approvals"},
	{"mfa", jitsuctl_mfa_main, "show or reset a user's MFA enrollment"},
};

static int usage(FILE *f)
{
	fprintf(f,
		"usage: jitsuctl [-d STATEDIR] COMMAND [ARGS...]\n"
		"       jitsuctl [--hub URL] [--fingerprint FP | --cacert FILE] [--json] "
		"HUBCOMMAND\n"
		"  -d STATEDIR  state directory (default %s)\n"
		"hub commands (also as jitsuctl hub ...): token create, endpoints, endpoint "
		"revoke,\n"
		"  requests, approve, deny, admins add, mfa status|reset (central MFA),\n"
		"  breakglass respond, policy, endpoint tag|untag, alerts, audit lag,\n"
		"  audit search\n"
		"commands:\n",
		JITSUCTL_STATEDIR);
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
	return f == stdout ? JITSUCTL_EXIT_OK : JITSUCTL_EXIT_USAGE;
}

/* The hub's commands also stand at the top level, as in
 * `jitsuctl --hub URL approve ID`: they run as `jitsuctl hub ...`. */
static const char *const hub_words[] = {"token", "endpoints", "endpoint",   "requests", "approve",
					"deny",  "admins",    "breakglass", "policy",   "alerts"};

#define MAX_HUB_OPTS 8

static int is_hub_word(const char *w)
{
	for (size_t i = 0; i < sizeof hub_words / sizeof hub_words[0]; i++)
		if (!strcmp(w, hub_words[i]))
			return 1;
	return 0;
}

/* Runs a top-level hub command with the hub options given before it. */
static int run_hub(int argc, char **argv, char **opts, int nopts, const char *statedir)
{
	char **v = calloc((size_t)argc + (size_t)nopts + 2, sizeof *v);
	int n = 0;
	if (!v)
		return JITSUCTL_EXIT_FAIL;
	v[n++] = "hub";
	for (int i = 0; i < nopts; i++)
		v[n++] = opts[i];
	for (int i = 0; i < argc; i++)
		v[n++] = argv[i];
	int r = jitsuctl_hub_main(n, v, statedir);
	free(v);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"hub", required_argument, NULL, 'H'},
		{"fingerprint", required_argument, NULL, 'F'},
		{"cacert", required_argument, NULL, 'C'},
		{"json", no_argument, NULL, 'J'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *statedir = JITSUCTL_STATEDIR;
	char *hub_opts[MAX_HUB_OPTS];
	int c, nhub = 0;
	/* "+": stop at the command word; its own options are its business. */
	while ((c = getopt_long(argc, argv, "+d:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': statedir = optarg; break;
		case 'H': hub_opts[nhub++] = "--url", hub_opts[nhub++] = optarg; break;
		case 'F': hub_opts[nhub++] = "--fingerprint", hub_opts[nhub++] = optarg; break;
		case 'C': hub_opts[nhub++] = "--cacert", hub_opts[nhub++] = optarg; break;
		case 'J': hub_opts[nhub++] = "--json"; break;
		case 'h': return usage(stdout);
		case 'V': printf("jitsuctl %s\n", JITSU_VERSION); return JITSUCTL_EXIT_OK;
		default: return usage(stderr);
		}
		if (nhub > MAX_HUB_OPTS - 2)
			return usage(stderr);
	}
	if (optind >= argc)
		return usage(stderr);
	/* mfa goes to the hub when a hub is named (central MFA); `audit lag`
	 * and `audit search` read the hub's copy of the trails. */
	if (is_hub_word(argv[optind]) || (nhub && !strcmp(argv[optind], "mfa")) ||
	    (!strcmp(argv[optind], "audit") && optind + 1 < argc &&
	     (!strcmp(argv[optind + 1], "lag") || !strcmp(argv[optind + 1], "search"))))
		return run_hub(argc - optind, argv + optind, hub_opts, nhub, statedir);
	if (nhub) {
		fprintf(stderr, "jitsuctl: --hub, --fingerprint, --cacert and --json go with hub "
				"commands\n");
		return usage(stderr);
	}
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (!strcmp(argv[optind], cmds[i].name))
			return cmds[i].main(argc - optind, argv + optind, statedir);
	fprintf(stderr, "jitsuctl: unknown command: %s\n", argv[optind]);
	return usage(stderr);
}
