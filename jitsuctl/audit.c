/*
 * jitsuctl audit: the administrator's view of the audit trail in
 * STATEDIR/audit (see docs/audit-format.md).
 *
 *   jitsuctl audit verify [--key K]... [DIR]
 *       checks the hash chain across all files and, for each key given
 *       (repeat --key for a key replaced by `setup --force`; K "-" reads it
 *       from stdin), every seal. Prints "OK <n> records, <m> seals" or
 *       "BAD seq <n>: <why>" and exits 1.
 *   jitsuctl audit show [--since T] [--user U] [--json] [DIR]
 *       one readable line per record, or the raw JSON lines (for a SIEM).
 *       T is 2026-11-29, 2026-11-29T21:30[:00][Z] (UTC) or 90s/15m/2h/7d
 *       ago. Shows, does not verify.
 *   jitsuctl audit setup [--force] [--interval SECS]
 *       creates the sealing key and prints the verification key once.
 *
 * MUST rules:
 *  - The verification key is printed once, to stdout, and nowhere else; it
 *    is wiped from memory after use, here and when read for verify.
 *  - show escapes every byte outside printable ASCII: a record cannot
 *    drive the terminal.
 *
 * Exit status: 0 OK, 1 failed or found a problem, 2 usage.
 */
#include "jitsuctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>

#include "jitsu/audit.h"
#include "jitsu/audit_verify.h"

#define MAX_KEYS 8
#define LINE_MAX_SHOW (64 * 1024)

static int audit_usage(void)
{
	fprintf(stderr, "usage: jitsuctl audit verify [--key K]... [DIR]\n"
			"       jitsuctl audit show [--since T] [--user U] [--json] [DIR]\n"
			"       jitsuctl audit setup [--force] [--interval SECS]\n"
			"       jitsuctl audit lag | search [...]   the hub's copy (jitsuctl hub "
			"--help)\n");
	return JITSUCTL_EXIT_USAGE;
}

/* DIR if given, else STATEDIR/audit. */
static int audit_dir(char *buf, size_t len, const char *statedir, int argc, char **argv)
{
	if (optind < argc - 1)
		return -1;
	int n = optind < argc ? snprintf(buf, len, "%s", argv[optind])
			      : snprintf(buf, len, "%s/audit", statedir);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* Reads a key argument: hex, or "-" for one line of stdin. */
static int read_key(const char *arg, struct audit_vkey *k)
{
	char line[AUDIT_VKEY_HEX_LEN + 8], err[128];
	const char *hex = arg;
	if (!strcmp(arg, "-")) {
		if (!fgets(line, sizeof line, stdin))
			line[0] = '\0';
		line[strcspn(line, "\r\n")] = '\0';
		hex = line;
	}
	int r = audit_record_vkey_parse(hex, k, err, sizeof err);
	OPENSSL_cleanse(line, sizeof line);
	if (r < 0)
		fprintf(stderr, "jitsuctl audit verify: --key: %s\n", err);
	return r;
}

static void print_notes(const struct audit_verify_report *rep, size_t nkeys)
{
	if (rep->first_seq > 1)
		printf("note: history before seq %llu was pruned by retention\n",
		       (unsigned long long)rep->first_seq);
	if (!nkeys && rep->seals)
		printf("note: seals not checked; give --key to check them\n");
	if (nkeys && rep->unsealed)
		printf("note: the last %llu records are not sealed yet (current epoch)\n",
		       (unsigned long long)rep->unsealed);
}

/* Prints the outcome of a verification; returns the exit status. */
static int print_verify(int r, const struct audit_verify_report *rep, size_t nkeys)
{
	if (r == -EBADMSG) {
		printf("BAD seq %llu: %s%s%s\n", (unsigned long long)rep->bad_seq, rep->reason,
		       rep->file[0] ? " in " : "", rep->file);
		return JITSUCTL_EXIT_FAIL;
	}
	if (r < 0) {
		fprintf(stderr, "jitsuctl audit verify: %s\n", rep->reason);
		return JITSUCTL_EXIT_FAIL;
	}
	printf("OK %llu records, %llu seals\n", (unsigned long long)rep->records,
	       (unsigned long long)rep->seals);
	print_notes(rep, nkeys);
	return JITSUCTL_EXIT_OK;
}

static int cmd_verify(int argc, char **argv, const char *statedir)
{
	static const struct option opts[] = {{"key", required_argument, NULL, 'k'}, {0}};
	struct audit_vkey keys[MAX_KEYS];
	struct audit_verify_report rep;
	char dir[4096];
	size_t nkeys = 0;
	int c, ret = JITSUCTL_EXIT_USAGE;
	optind = 0;
	while ((c = getopt_long(argc, argv, "k:", opts, NULL)) != -1) {
		if (c != 'k' || nkeys == MAX_KEYS) {
			if (c == 'k')
				fprintf(stderr, "jitsuctl audit verify: at most %d keys\n",
					MAX_KEYS);
			goto out;
		}
		if (read_key(optarg, &keys[nkeys]) < 0) {
			ret = JITSUCTL_EXIT_FAIL;
			goto out;
		}
		nkeys++;
	}
	if (audit_dir(dir, sizeof dir, statedir, argc, argv) == 0)
		ret = print_verify(audit_verify_dir(dir, keys, nkeys, 0, &rep), &rep, nkeys);
out:
	OPENSSL_cleanse(keys, sizeof keys);
	return ret == JITSUCTL_EXIT_USAGE ? audit_usage() : ret;
}

/* --since: an absolute UTC time or a span ago; µs, or -1 if malformed. */
static int64_t parse_since(const char *s)
{
	struct tm tm = {0};
	char *after;
	errno = 0;
	long long n = strtoll(s, &after, 10);
	char unit = *after;
	/* A number and one unit letter, nothing else: "90s", "15m", "2h", "7d". */
	if (after != s && errno == 0 && n >= 0 && unit && strchr("smhd", unit) &&
	    after[1] == '\0' && strlen(s) <= 12) {
		long long mul = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 86400;
		return ((int64_t)time(NULL) - n * mul) * 1000000;
	}
	static const char *const forms[] = {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S",
					    "%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M", "%Y-%m-%d"};
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		memset(&tm, 0, sizeof tm);
		const char *end = strptime(s, forms[i], &tm);
		if (end && !*end)
			return (int64_t)timegm(&tm) * 1000000;
	}
	return -1;
}

struct show {
	int64_t since;    /* µs, or -1 for all */
	const char *user; /* or NULL */
	int json;
	unsigned bad; /* lines that did not parse */
	char buf[LINE_MAX_SHOW];
};

static int user_matches(const json_t *rec, const char *user)
{
	char *u;
	size_t n;
	if (audit_record_decode(json_object_get(rec, "user"), &u, &n) < 0)
		return 0;
	int same = n == strlen(user) && !memcmp(u, user, n);
	free(u);
	return same;
}

static int show_one(const struct audit_record *r, const char *line, size_t len, const char *why,
		    void *ctx)
{
	struct show *s = ctx;
	if (!r) {
		s->bad++;
		fprintf(stderr, "jitsuctl audit show: skipping a bad line: %s\n", why);
		return 0;
	}
	if ((s->since >= 0 && r->time_us < s->since) || (s->user && !user_matches(r->obj, s->user)))
		return 0;
	if (s->json) { /* the stored line is already one JSON object of ASCII */
		fwrite(line, 1, len, stdout);
		putchar('\n');
		return 0;
	}
	audit_record_format(r->obj, s->buf, sizeof s->buf); /* a cut line ends early */
	puts(s->buf);
	return 0;
}

static int cmd_show(int argc, char **argv, const char *statedir)
{
	static const struct option opts[] = {
		{"since", required_argument, NULL, 's'},
		{"user", required_argument, NULL, 'u'},
		{"json", no_argument, NULL, 'j'},
		{0},
	};
	static struct show s;
	char dir[4096], err[256];
	int c;
	s.since = -1;
	optind = 0;
	while ((c = getopt_long(argc, argv, "s:u:j", opts, NULL)) != -1) {
		if (c == 's' && (s.since = parse_since(optarg)) < 0) {
			fprintf(stderr, "jitsuctl audit show: bad --since: %s\n", optarg);
			return audit_usage();
		}
		if (c == 'u')
			s.user = optarg;
		else if (c == 'j')
			s.json = 1;
		else if (c != 's')
			return audit_usage();
	}
	if (audit_dir(dir, sizeof dir, statedir, argc, argv) < 0)
		return audit_usage();
	int r = audit_verify_each(dir, show_one, &s, err, sizeof err);
	if (fflush(stdout) != 0 || r < 0) {
		fprintf(stderr, "jitsuctl audit show: %s\n", r < 0 ? err : "write error");
		return JITSUCTL_EXIT_FAIL;
	}
	return s.bad ? JITSUCTL_EXIT_FAIL : JITSUCTL_EXIT_OK;
}

static int cmd_setup(int argc, char **argv, const char *statedir)
{
	static const struct option opts[] = {
		{"force", no_argument, NULL, 'f'},
		{"interval", required_argument, NULL, 'i'},
		{0},
	};
	char dir[4096], err[256], hex[AUDIT_VKEY_HEX_LEN + 1];
	int c, force = 0;
	unsigned long interval = AUDIT_EPOCH_DEFAULT;
	char *end;
	optind = 0;
	while ((c = getopt_long(argc, argv, "fi:", opts, NULL)) != -1) {
		if (c == 'f')
			force = 1;
		else if (c == 'i') {
			interval = strtoul(optarg, &end, 10);
			if (*end || interval < AUDIT_EPOCH_MIN || interval > AUDIT_EPOCH_MAX) {
				fprintf(stderr,
					"jitsuctl audit setup: --interval: %d to %d seconds\n",
					AUDIT_EPOCH_MIN, AUDIT_EPOCH_MAX);
				return JITSUCTL_EXIT_USAGE;
			}
		} else
			return audit_usage();
	}
	if (optind != argc || snprintf(dir, sizeof dir, "%s/audit", statedir) >= (int)sizeof dir)
		return audit_usage();
	if (mkdir(statedir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "jitsuctl audit setup: %s: %s\n", statedir, strerror(errno));
		return JITSUCTL_EXIT_FAIL;
	}
	struct audit_log *l;
	int r = audit_open(dir, NULL, &l, err, sizeof err);
	if (!r) {
		r = audit_setup_key(l, (unsigned)interval, force, hex, sizeof hex, err, sizeof err);
		audit_close(l);
	}
	if (r < 0) {
		fprintf(stderr, "jitsuctl: %s%s\n", err,
			r == -EEXIST ? "; use --force to replace it" : "");
		return JITSUCTL_EXIT_FAIL;
	}
	printf("verification-key: %s\n", hex);
	fflush(stdout);
	OPENSSL_cleanse(hex, sizeof hex);
	fprintf(stderr,
		"Store this verification key off this machine; it is shown only once and "
		"is not kept here.\nCheck the trail with: jitsuctl audit verify --key KEY\n");
	return JITSUCTL_EXIT_OK;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv, const char *statedir);
} audit_cmds[] = {
	{"verify", cmd_verify},
	{"show", cmd_show},
	{"setup", cmd_setup},
};

int jitsuctl_audit_main(int argc, char **argv, const char *statedir)
{
	if (argc < 2)
		return audit_usage();
	for (size_t i = 0; i < sizeof audit_cmds / sizeof audit_cmds[0]; i++)
		if (!strcmp(argv[1], audit_cmds[i].name))
			return audit_cmds[i].fn(argc - 1, argv + 1, statedir);
	return audit_usage();
}
