/*
 * jitsuctl: the administrator's CLI. main.c reads the global options and
 * hands the first word to a subcommand from its table; each subcommand
 * lives in its own file (audit.c, mfa.c, ...) with one entry point here.
 *
 * An entry point gets argv starting at its own name (argv[0] is "audit",
 * "mfa", ...) and the state directory (-d, default JITSUCTL_STATEDIR). It
 * returns the exit status of the process, one of:
 */
#ifndef JITSUCTL_H
#define JITSUCTL_H

#define JITSUCTL_EXIT_OK 0
#define JITSUCTL_EXIT_FAIL 1  /* failed, or found a problem (verify) */
#define JITSUCTL_EXIT_USAGE 2 /* bad command line */

#define JITSUCTL_STATEDIR "/var/lib/jitsu"

/* jitsuctl audit verify|show|setup|lag: see jitsuctl/audit.c. */
int jitsuctl_audit_main(int argc, char **argv, const char *statedir);

/* jitsuctl mfa status|reset USER: see jitsuctl/mfa.c. */
int jitsuctl_mfa_main(int argc, char **argv, const char *statedir);

#endif
