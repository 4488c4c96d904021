/*
 * jitsuctl: global options, then one subcommand from a closed table.
 *
 *   jitsuctl [-d STATEDIR] COMMAND [ARGS...]
 *
 * Exit status: 0 done, 1 failed or found a problem, 2 usage.
 */
#include "jitsuctl.h"

#include <stdio.h>
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
	{"mfa", jitsuctl_mfa_main, "show or reset a user's MFA enrollment"},
};

static int usage(FILE *f)
{
	fprintf(f,
		"usage: jitsuctl [-d STATEDIR] COMMAND [ARGS...]\n"
		"  -d STATEDIR  state directory (default %s)\n"
		"commands:\n",
		JITSUCTL_STATEDIR);
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
	return f == stdout ? JITSUCTL_EXIT_OK : JITSUCTL_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	const char *statedir = JITSUCTL_STATEDIR;
	int c;
	/* "+": stop at the command word; its own options are its business. */
	while ((c = getopt(argc, argv, "+d:hV")) != -1) {
		switch (c) {
		case 'd': statedir = optarg; break;
		case 'h': return usage(stdout);
		case 'V': printf("jitsuctl %s\n", JITSU_VERSION); return JITSUCTL_EXIT_OK;
		default: return usage(stderr);
		}
	}
	if (optind >= argc)
		return usage(stderr);
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (!strcmp(argv[optind], cmds[i].name))
			return cmds[i].main(argc - optind, argv + optind, statedir);
	fprintf(stderr, "jitsuctl: unknown command: %s\n", argv[optind]);
	return usage(stderr);
}
