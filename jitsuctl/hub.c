/*
 * jitsuctl hub: the people's side of jitsu-hub (docs/hub-api.md), through
 * lib/hubclient.c.
 *
 *   jitsuctl hub [--url URL] [--fingerprint FP | --cacert FILE]
 *                [--config FILE] [--json] COMMAND
 *     token create [--expires DUR]   a single-use enrollment token, alone on stdout
 *     endpoints                      the enrolled machines
 *     endpoint revoke HOST           HOST: a hostname or an endpoint id
 *     requests [--pending]           approval requests, newest first
 *     approve ID [--note TEXT]
 *     deny ID --why TEXT
 *     admins add NAME --role admin|approver|auditor
 *                                    a new hub user; its token alone on stdout
 *     mfa status [USER]              central MFA: every user's state, or USER's
 *     mfa reset USER                 forget USER's MFA enrollment at the hub
 *     breakglass respond HOST CHALLENGE
 *                                    a break-glass response, alone on stdout
 *                                    (docs/breakglass.md)
 *
 * Options may come anywhere after "hub". Each setting is taken from the
 * first place that has it: the command line, the environment
 * (JITSU_HUB_URL, JITSU_HUB_TOKEN, JITSU_HUB_FINGERPRINT, JITSU_HUB_CACERT),
 * the config file (--config, else SYSCONFDIR/jitsu/jitsuctl.conf, lines
 * "key = value" with keys hub, token, fingerprint, cacert). The token is
 * never an option: other users can read a command line.
 *
 * MUST rules:
 *  - The hub is authenticated on every call by hubclient (the pin checked
 *    inside the TLS handshake, or the CA file): with neither a fingerprint
 *    nor a CA file, nothing is sent.
 *  - The config file may hold a token: it is used only if fstat on the
 *    opened file (no symlink) shows a regular file owned by root or the
 *    caller with no group or other permission; otherwise it is refused,
 *    not skipped.
 *  - Everything the hub says reaches the terminal escaped (hubfmt_escape);
 *    --json output is ASCII JSON, so its strings cannot drive a terminal.
 *  - An id goes into a URL path only as 16 lowercase hex digits, whether it
 *    came from the command line or from the hub.
 *  - A new token is printed once, to stdout, and wiped from memory; so is
 *    the caller's.
 *
 * Exit status: 0 done, 1 failed (hub unreachable, refused or malformed),
 * 2 usage (also: no hub, token or way to verify the hub configured).
 */
#include "hub.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hub_impl.h"
#include "hubfmt.h"
#include "jitsu/breakglass.h"
#include "jitsu/hubclient.h"
#include "jitsuctl.h"

#define HUB_CONF_PATH JITSU_SYSCONFDIR "/jitsu/jitsuctl.conf"
#define HUB_CONF_MAX 8192
#define HUB_TTL_MAX 604800 /* the hub's cap on an enrollment token's life */
#define HUB_TEXT_MAX 1024  /* a note or a reason */

enum hub_arg { ARG_NONE, ARG_ID, ARG_NAME, ARG_HOST, ARG_HOST_CHALLENGE };

struct hub_cmd {
	const char *word, *sub; /* sub: NULL for a one-word command */
	enum hub_arg arg;
	unsigned allowed, required; /* enum hub_opt */
	int (*run)(struct hub_ctx *x, const char *arg);
};

static int hub_usage(FILE *f)
{
	fprintf(f,
		"usage: jitsuctl hub [--url URL] [--fingerprint FP | --cacert FILE]\n"
		"                    [--config FILE] [--json] COMMAND\n"
		"  token create [--expires DUR]     new enrollment token (DUR: 90s, 15m, 1h, 2d)\n"
		"  endpoints                        list the enrolled machines\n"
		"  endpoint revoke HOST             revoke a machine (hostname or id)\n"
		"  requests [--pending]             list approval requests\n"
		"  approve ID [--note TEXT]         approve a request\n"
		"  deny ID --why TEXT               deny a request\n"
		"  admins add NAME --role ROLE      new hub user: admin, approver or auditor\n"
		"  mfa status [USER]                central MFA state of every user, or USER\n"
		"  mfa reset USER                   forget USER's MFA enrollment (fleet-wide)\n"
		"  breakglass respond HOST CHALLENGE\n"
		"                                   the response code for a break-glass challenge\n"
		"  policy push|history|show|diff|rollback --group G ...   central policy\n"
		"  endpoint tag HOST GROUP | endpoint untag HOST          an endpoint's policy "
		"group\n"
		"  alerts [--since T] [--kind K] [--limit N]\n"
		"                                   alerts raised at the hub, newest first\n"
		"  audit lag                        each endpoint's shipped against its last seq\n"
		"  audit search [--host H] [--user U] [--event E] [--since T] [--until T]\n"
		"               [--limit N]         the hub's copy of the audit trails\n"
		"  T: Unix seconds, YYYY-MM-DD[THH:MM[:SS]] (UTC), or 30m, 2h, 7d ago\n"
		"environment: JITSU_HUB_URL, JITSU_HUB_TOKEN, JITSU_HUB_FINGERPRINT, "
		"JITSU_HUB_CACERT\n");
	return f == stdout ? JITSUCTL_EXIT_OK : JITSUCTL_EXIT_USAGE;
}

/* ---- checks on words ---- */

static int is_id(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return 0;
	return n == HUB_ID_LEN;
}

/* [A-Za-z0-9_][A-Za-z0-9_.-]{0,63}, as the hub wants a user name. */
static int is_name(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");
	return n == strlen(s) && n >= 1 && n <= 64 && s[0] != '.' && s[0] != '-';
}

static int is_host(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-");
	return n == strlen(s) && n >= 1 && n <= 253;
}

static int is_role(const char *s)
{
	return !strcmp(s, "admin") || !strcmp(s, "approver") || !strcmp(s, "auditor");
}

int hub_is_token(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
	return n >= 1 && n <= 32 && !s[n];
}

/* ---- the command line ---- */

static int option_set(struct hub_opts *o, unsigned bit, const char **dst, const char *arg)
{
	o->given |= bit;
	*dst = arg;
	return 0;
}

static int option_when(struct hub_opts *o, unsigned bit, long long *dst, const char *arg,
		       const char *name)
{
	o->given |= bit;
	if (hubfmt_when(arg, (long long)time(NULL), dst) == 0)
		return 0;
	fprintf(stderr,
		"jitsuctl hub: %s: Unix seconds, YYYY-MM-DD[THH:MM[:SS]] (UTC), or a duration"
		" ago (30m, 2h, 7d)\n",
		name);
	return -2; /* explained */
}

static int option(struct hub_opts *o, int c, const char *arg)
{
	switch (c) {
	case 'u': o->url = arg; return 0;
	case 'f': o->fingerprint = arg; return 0;
	case 'C': o->cacert = arg; return 0;
	case 'c': o->config = arg; return 0;
	case 'j': o->json = 1; return 0;
	case 'p': o->given |= OPT_PENDING; return 0;
	case 'n':
		o->given |= OPT_NOTE;
		o->note = arg;
		return 0;
	case 'w':
		o->given |= OPT_WHY;
		o->why = arg;
		return 0;
	case 'r':
		o->given |= OPT_ROLE;
		o->role = arg;
		return 0;
	case 'g':
		o->given |= OPT_GROUP;
		o->group = arg;
		return 0;
	case 'm':
		o->given |= OPT_MESSAGE;
		o->message = arg;
		return 0;
	case 'H': return option_set(o, OPT_HOST, &o->host, arg);
	case 'U': return option_set(o, OPT_USER, &o->user, arg);
	case 'E': return option_set(o, OPT_EVENT, &o->event, arg);
	case 'K': return option_set(o, OPT_KIND, &o->kind, arg);
	case 'S': return option_when(o, OPT_SINCE, &o->since, arg, "--since");
	case 'T': return option_when(o, OPT_UNTIL, &o->until, arg, "--until");
	case 'L':
		o->given |= OPT_LIMIT;
		if (hubfmt_duration(arg, &o->limit) == 0 &&
		    strspn(arg, "0123456789") == strlen(arg) && o->limit <= 500)
			return 0;
		fprintf(stderr, "jitsuctl hub: --limit: a number from 1 to 500\n");
		return -2;
	case 'e':
		o->given |= OPT_EXPIRES;
		if (hubfmt_duration(arg, &o->ttl) == 0 && o->ttl <= HUB_TTL_MAX)
			return 0;
		fprintf(stderr, "jitsuctl hub: --expires: a duration from 1s to 7d "
				"(90s, 15m, 1h, 2d)\n");
		return -2; /* explained */
	default: return -1;
	}
}

/* Reads every option, wherever it is; optind then points at the words.
 * Returns 0, 1 for --help, -1 for a usage error, -2 for one explained. */
static int parse_options(int argc, char **argv, struct hub_opts *o)
{
	static const struct option opts[] = {
		{"url", required_argument, NULL, 'u'},
		{"hub", required_argument, NULL, 'u'},
		{"fingerprint", required_argument, NULL, 'f'},
		{"cacert", required_argument, NULL, 'C'},
		{"config", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"expires", required_argument, NULL, 'e'},
		{"pending", no_argument, NULL, 'p'},
		{"note", required_argument, NULL, 'n'},
		{"why", required_argument, NULL, 'w'},
		{"role", required_argument, NULL, 'r'},
		{"group", required_argument, NULL, 'g'},
		{"message", required_argument, NULL, 'm'},
		{"host", required_argument, NULL, 'H'},
		{"user", required_argument, NULL, 'U'},
		{"event", required_argument, NULL, 'E'},
		{"kind", required_argument, NULL, 'K'},
		{"since", required_argument, NULL, 'S'},
		{"until", required_argument, NULL, 'T'},
		{"limit", required_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h')
			return 1;
		int r = option(o, c, optarg);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The command's word(s) must be followed by exactly its argument. */
static const struct hub_cmd *find_cmd(const struct hub_cmd *cmds, size_t ncmds, int n, char **w,
				      const char **arg, const char **arg2)
{
	for (size_t i = 0; n > 0 && i < ncmds; i++) {
		const struct hub_cmd *c = &cmds[i];
		if (strcmp(w[0], c->word) != 0 || (c->sub && (n < 2 || strcmp(w[1], c->sub) != 0)))
			continue;
		int words = c->sub ? 2 : 1;
		int nargs = c->arg == ARG_NONE ? 0 : c->arg == ARG_HOST_CHALLENGE ? 2 : 1;
		if (n != words + nargs)
			continue; /* another entry may take this count */
		*arg = nargs ? w[words] : NULL;
		*arg2 = nargs > 1 ? w[words + 1] : NULL;
		return c;
	}
	return NULL;
}

/* Usage checks that need no hub: options and the argument's shape. */
static int check_cmd(const struct hub_cmd *c, const struct hub_opts *o, const char *arg,
		     const char *arg2)
{
	const char *bad = NULL;
	char code[BREAKGLASS_CHALLENGE_CHARS + 1];
	if (o->given & ~c->allowed)
		bad = "an option that does not go with this command";
	else if ((o->given & c->required) != c->required)
		bad = c->required & OPT_WHY ? "--why TEXT is required" : "--role is required";
	else if (c->arg == ARG_ID && !is_id(arg))
		bad = "ID must be a request id: 16 lowercase hex digits";
	else if (c->arg == ARG_NAME && !is_name(arg))
		bad = "NAME must be a user name: [A-Za-z0-9_][A-Za-z0-9_.-]{0,63}";
	else if ((c->arg == ARG_HOST || c->arg == ARG_HOST_CHALLENGE) && !is_host(arg))
		bad = "HOST must be a hostname or an endpoint id";
	else if (c->arg == ARG_HOST_CHALLENGE &&
		 (!arg2 ||
		  breakglass_parse(arg2, strlen(arg2), BREAKGLASS_CHALLENGE_CHARS, code) < 0))
		bad = "CHALLENGE must be the 8-character code jitsu showed (as ABCD-EFGH)";
	else if (o->role && !is_role(o->role))
		bad = "--role must be admin, approver or auditor";
	else if (o->why && (!o->why[0] || strlen(o->why) > HUB_TEXT_MAX))
		bad = "--why TEXT must be 1 to 1024 bytes";
	else if (o->note && strlen(o->note) > HUB_TEXT_MAX)
		bad = "--note TEXT must be at most 1024 bytes";
	else if (o->host && !is_host(o->host))
		bad = "--host must be a hostname";
	else if (o->user && !is_name(o->user))
		bad = "--user must be a user name: [A-Za-z0-9_][A-Za-z0-9_.-]{0,63}";
	else if ((o->event && !hub_is_token(o->event)) || (o->kind && !hub_is_token(o->kind)))
		bad = "--event and --kind are words of [a-z0-9_], at most 32";
	if (bad)
		fprintf(stderr, "jitsuctl hub: %s\n", bad);
	return bad ? -1 : 0;
}

/* ---- the config file ---- */

/* Opens path and checks, on the fd, that it may hold a secret. */
static int conf_open(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path,
			 e == ELOOP ? "is a symbolic link" : strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (st.st_uid != 0 && st.st_uid != getuid()) || (st.st_mode & 077)) {
		close(fd);
		snprintf(err, errlen,
			 "%s: refused: it must be a regular file owned by root or you, "
			 "without group or other permissions (chmod 600)",
			 path);
		return -EPERM;
	}
	return fd;
}

/* Loads the config file; a missing default file is no error. 0 or -1. */
static int conf_load(const char *path, struct hubfmt_conf *conf, char *err, size_t errlen)
{
	char buf[HUB_CONF_MAX + 2], why[128];
	const char *name = path ? path : HUB_CONF_PATH;
	size_t n = 0;
	ssize_t k = 1;
	int fd = conf_open(name, err, errlen);
	if (fd == -ENOENT && !path)
		return 0;
	if (fd < 0)
		return -1;
	/* One byte more than allowed tells a file that is too large. */
	while (k > 0 && n < HUB_CONF_MAX + 1) {
		k = read(fd, buf + n, HUB_CONF_MAX + 1 - n);
		n += k > 0 ? (size_t)k : 0;
	}
	close(fd);
	buf[n] = '\0';
	int r = k < 0 || n > HUB_CONF_MAX ? -1 : hubfmt_conf_parse(buf, conf, why, sizeof why);
	if (k < 0 || n > HUB_CONF_MAX)
		snprintf(err, errlen, "%s: unreadable or over %d bytes", name, HUB_CONF_MAX);
	else if (r < 0)
		snprintf(err, errlen, "%s:%s", name, why);
	explicit_bzero(buf, sizeof buf);
	return r < 0 ? -1 : 0;
}

/* ---- the session ---- */

static const char *pick(const char *a, const char *b, const char *c)
{
	if (a && a[0])
		return a;
	if (b && b[0])
		return b;
	return c && c[0] ? c : NULL;
}

/* The first place that says how to verify the hub decides; both there is an error. */
static int pick_trust(const struct hub_opts *o, const struct hubfmt_conf *conf, const char **fp,
		      const char **ca)
{
	static const char *const where[] = {"the command line", "the environment",
					    "the config file"};
	const char *lv[3][2] = {
		{o->fingerprint, o->cacert},
		{getenv("JITSU_HUB_FINGERPRINT"), getenv("JITSU_HUB_CACERT")},
		{conf->fingerprint, conf->cacert},
	};
	for (size_t i = 0; i < 3; i++) {
		*fp = lv[i][0] && lv[i][0][0] ? lv[i][0] : NULL;
		*ca = lv[i][1] && lv[i][1][0] ? lv[i][1] : NULL;
		if (*fp && *ca) {
			fprintf(stderr,
				"jitsuctl: %s gives both a fingerprint and a CA file: "
				"give one\n",
				where[i]);
			return JITSUCTL_EXIT_USAGE;
		}
		if (*fp || *ca)
			return JITSUCTL_EXIT_OK;
	}
	fprintf(stderr, "jitsuctl: refusing to talk to an unverified hub: give --fingerprint FP "
			"(as jitsu-hub init printed it) or --cacert FILE\n");
	return JITSUCTL_EXIT_USAGE;
}

static int setup_trust(struct hub_ctx *x, const char *fp, const char *ca)
{
	if (fp && hubclient_fp_normalize(fp, x->c.fingerprint) < 0) {
		fprintf(stderr, "jitsuctl: bad fingerprint: expected SHA-256 as AB:CD:... "
				"(32 bytes) or 64 hex digits\n");
		return JITSUCTL_EXIT_USAGE;
	}
	if (ca && snprintf(x->cacert, sizeof x->cacert, "%s", ca) >= (int)sizeof x->cacert) {
		fprintf(stderr, "jitsuctl: CA file name too long\n");
		return JITSUCTL_EXIT_USAGE;
	}
	x->c.cacert = ca ? x->cacert : NULL;
	return JITSUCTL_EXIT_OK;
}

static int setup_url_token(struct hub_ctx *x, const char *url, const char *token)
{
	if (!url || !token) {
		fprintf(stderr, "jitsuctl: no hub %s: %s\n", url ? "token" : "URL",
			url ? "set JITSU_HUB_TOKEN or token = in " HUB_CONF_PATH
			    : "give --url URL, set JITSU_HUB_URL or hub = in " HUB_CONF_PATH);
		return JITSUCTL_EXIT_USAGE;
	}
	size_t n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	size_t t = strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
	if (n == 0 || n >= sizeof x->url || token[t] || t > 200) {
		fprintf(stderr, "jitsuctl: %s\n",
			n == 0 || n >= sizeof x->url ? "bad hub URL"
						     : "the hub token is malformed");
		return JITSUCTL_EXIT_USAGE;
	}
	memcpy(x->url, url, n);
	x->url[n] = '\0';
	x->c.url = x->url;
	snprintf(x->c.auth, sizeof x->c.auth, "Bearer %.200s", token);
	return JITSUCTL_EXIT_OK;
}

/* Settings from the command line, the environment and the config file. */
static int setup(struct hub_ctx *x, const struct hub_opts *o)
{
	struct hubfmt_conf conf;
	char err[PATH_MAX + 256];
	const char *fp = NULL, *ca = NULL;
	memset(&conf, 0, sizeof conf);
	x->c.cancel_fd = -1;
	int r = JITSUCTL_EXIT_OK;
	if (conf_load(o->config, &conf, err, sizeof err) < 0) {
		fprintf(stderr, "jitsuctl: %s\n", err);
		r = JITSUCTL_EXIT_FAIL;
	}
	if (r == JITSUCTL_EXIT_OK)
		r = setup_url_token(x, pick(o->url, getenv("JITSU_HUB_URL"), conf.url),
				    pick(NULL, getenv("JITSU_HUB_TOKEN"), conf.token));
	if (r == JITSUCTL_EXIT_OK)
		r = pick_trust(o, &conf, &fp, &ca);
	if (r == JITSUCTL_EXIT_OK)
		r = setup_trust(x, fp, ca);
	explicit_bzero(&conf, sizeof conf);
	return r;
}

/* One call expecting status want; else prints why. 0 with *out, or -1. */
int hub_call(struct hub_ctx *x, const char *method, const char *path, json_t *body, long want,
	     json_t **out)
{
	char err[512], shown[600];
	long status = 0;
	int r = hubclient_call(&x->c, method, path, body, &status, out, err, sizeof err);
	json_decref(body);
	if (r == 0 && status != want) {
		r = hubclient_error(status, *out, err, sizeof err);
		json_decref(*out);
		*out = NULL;
	}
	if (r < 0) { /* the hub's message may carry any UTF-8: escape it all */
		hubfmt_escape(err, shown, sizeof shown - 1);
		fprintf(stderr, "jitsuctl: %s\n", shown);
	}
	return r < 0 ? -1 : 0;
}

/* ---- output ---- */

const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

long long jint(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

int malformed(void)
{
	fprintf(stderr, "jitsuctl: the hub sent a malformed answer\n");
	return JITSUCTL_EXIT_FAIL;
}

/* Prints a finished table (or says why not), frees it, gives the exit code. */
int table_done(struct hubfmt_table *t, int r)
{
	if (r == 0)
		r = hubfmt_table_print(t, stdout);
	hubfmt_table_free(t);
	if (r == -EINVAL)
		return malformed();
	return r == 0 ? JITSUCTL_EXIT_OK : JITSUCTL_EXIT_FAIL;
}

/* The hub's object, compact ASCII JSON on one line. */
int print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (!s)
		return malformed();
	puts(s);
	explicit_bzero(s, strlen(s)); /* it may carry a new token */
	free(s);
	return fflush(stdout) == 0 ? JITSUCTL_EXIT_OK : JITSUCTL_EXIT_FAIL;
}

/* A new token, alone on stdout (or the whole answer with --json); then
 * wiped. note goes to stderr for people. */
static int print_secret(struct hub_ctx *x, json_t *ans, const char *note)
{
	json_t *t = json_object_get(ans, "token");
	const char *tok = json_string_value(t);
	int r;
	if (!tok || !tok[0] ||
	    tok[strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")])
		r = malformed();
	else if (x->o->json)
		r = print_json(ans);
	else {
		puts(tok);
		r = fflush(stdout) == 0 ? JITSUCTL_EXIT_OK : JITSUCTL_EXIT_FAIL;
	}
	if (r == JITSUCTL_EXIT_OK && !x->o->json)
		fprintf(stderr, "jitsuctl: %s; it is shown only now\n", note);
	if (tok)
		explicit_bzero((char *)tok, strlen(tok));
	return r;
}

/* "n/N": approve decisions so far over the approvals needed. */
static void approvals(const json_t *req, char *out, size_t len)
{
	size_t i, n = 0;
	json_t *d;
	json_array_foreach(json_object_get(req, "decisions"), i, d)
	{
		const char *v = jstr(d, "verdict");
		n += v && !strcmp(v, "approve");
	}
	snprintf(out, len, "%zu/%lld", n, jint(req, "approvals_needed"));
}

/* argv items joined by spaces, quoted when empty or holding a blank. */
static void join_argv(const json_t *argv, char *out, size_t len)
{
	size_t i, n = 0;
	json_t *a;
	out[0] = '\0';
	json_array_foreach(argv, i, a)
	{
		const char *s = json_string_value(a);
		int q = !s || !s[0] || strpbrk(s, " \t");
		int k = snprintf(out + n, len - n, "%s%s%s%s", i ? " " : "", q ? "'" : "",
				 s ? s : "?", q ? "'" : "");
		if (k < 0 || (size_t)k >= len - n)
			break; /* cut: the cell is cut shorter anyway */
		n += (size_t)k;
	}
}

/* ---- commands ---- */

static int cmd_token_create(struct hub_ctx *x, const char *arg)
{
	char note[128], when[32];
	json_t *ans = NULL;
	json_t *body = x->o->given & OPT_EXPIRES ? json_pack("{s:I}", "ttl", (json_int_t)x->o->ttl)
						 : json_object();
	if (hub_call(x, "POST", "/api/v1/enrollment-tokens", body, 201, &ans) < 0)
		return JITSUCTL_EXIT_FAIL;
	hubfmt_time(jint(ans, "expires_at"), when, sizeof when);
	snprintf(note, sizeof note, "enrollment token for one machine, valid until %s", when);
	int r = print_secret(x, ans, note);
	json_decref(ans);
	return r;
}

static int cmd_admins_add(struct hub_ctx *x, const char *arg)
{
	char note[160];
	json_t *ans = NULL;
	json_t *body = json_pack("{s:s,s:s}", "name", arg, "role", x->o->role);
	if (hub_call(x, "POST", "/api/v1/users", body, 201, &ans) < 0)
		return JITSUCTL_EXIT_FAIL;
	snprintf(note, sizeof note, "hub user %s (%s) created; this is its API token", arg,
		 x->o->role);
	int r = print_secret(x, ans, note);
	json_decref(ans);
	return r;
}

static int print_endpoints(const json_t *list)
{
	static const struct hubfmt_col cols[] = {
		{"ID", 16},       {"HOSTNAME", 40},  {"OS", 32},      {"AGENT", 12},
		{"ENROLLED", 17}, {"LAST SEEN", 16}, {"REVOKED", 17},
	};
	struct hubfmt_table t;
	time_t now = time(NULL);
	size_t i;
	json_t *e;
	int r = json_is_array(list) ? hubfmt_table_init(&t, cols, 7) : -EINVAL;
	json_array_foreach(list, i, e)
	{
		char enrolled[32], seen[32] = "never", revoked[32];
		hubfmt_time(jint(e, "enrolled_at"), enrolled, sizeof enrolled);
		hubfmt_time(jint(e, "revoked_at"), revoked, sizeof revoked);
		if (jint(e, "last_seen") > 0) {
			hubfmt_span(now - jint(e, "last_seen"), seen, sizeof seen - 4);
			strcat(seen, " ago");
		}
		const char *row[] = {jstr(e, "id"), jstr(e, "hostname"),
				     jstr(e, "os"), jstr(e, "agent_version"),
				     enrolled,      seen,
				     revoked};
		if (r == 0)
			r = hubfmt_table_add(&t, row);
	}
	return table_done(&t, r);
}

static int cmd_endpoints(struct hub_ctx *x, const char *arg)
{
	json_t *ans = NULL;
	if (hub_call(x, "GET", "/api/v1/endpoints", NULL, 200, &ans) < 0)
		return JITSUCTL_EXIT_FAIL;
	int r = x->o->json ? print_json(ans) : print_endpoints(json_object_get(ans, "endpoints"));
	json_decref(ans);
	return r;
}

/* HOST as an id, or as the hostname of exactly one endpoint not revoked. */
static const char *find_endpoint(const json_t *list, const char *host)
{
	const char *hit = NULL;
	size_t i, live = 0, dead = 0;
	json_t *e;
	json_array_foreach(list, i, e)
	{
		const char *id = jstr(e, "id"), *name = jstr(e, "hostname");
		if (id && !strcmp(id, host))
			return is_id(id) ? id : NULL;
		if (!id || !name || strcmp(name, host) != 0)
			continue;
		if (json_is_null(json_object_get(e, "revoked_at"))) {
			live++;
			hit = id;
		} else {
			dead++;
		}
	}
	if (live > 1)
		fprintf(stderr,
			"jitsuctl: %zu endpoints are named %s: give the id "
			"(jitsuctl hub endpoints)\n",
			live, host);
	else if (!live)
		fprintf(stderr, "jitsuctl: %s: %s\n", host,
			dead ? "revoked already" : "no such endpoint");
	return live == 1 && is_id(hit) ? hit : NULL;
}

/* HOST to an endpoint id through the hub's list (find_endpoint). 0 with
 * id, or -1 (said why). */
static int endpoint_id(struct hub_ctx *x, const char *host, char id[HUB_ID_LEN + 1])
{
	json_t *list = NULL;
	if (hub_call(x, "GET", "/api/v1/endpoints", NULL, 200, &list) < 0)
		return -1;
	const char *hit = find_endpoint(json_object_get(list, "endpoints"), host);
	if (hit)
		memcpy(id, hit, HUB_ID_LEN + 1);
	json_decref(list);
	return hit ? 0 : -1;
}

static int cmd_endpoint_revoke(struct hub_ctx *x, const char *arg)
{
	char path[96], id[HUB_ID_LEN + 1] = "", name[64];
	json_t *ans = NULL;
	if (endpoint_id(x, arg, id) < 0)
		return JITSUCTL_EXIT_FAIL;
	snprintf(path, sizeof path, "/api/v1/endpoints/%s/revoke", id);
	if (hub_call(x, "POST", path, json_object(), 200, &ans) < 0)
		return JITSUCTL_EXIT_FAIL;
	int r = JITSUCTL_EXIT_OK;
	if (x->o->json) {
		r = print_json(ans);
	} else {
		hubfmt_escape(jstr(ans, "hostname"), name, sizeof name - 1);
		printf("endpoint %s (%s) revoked\n", id, name);
	}
	json_decref(ans);
	return r;
}

static int print_requests(const json_t *list)
{
	static const struct hubfmt_col cols[] = {
		{"ID", 16},   {"USER", 32},     {"HOST", 32},       {"COMMAND", 48},
		{"STATE", 9}, {"APPROVALS", 9}, {"EXPIRES IN", 10},
	};
	static char cmd[4096];
	struct hubfmt_table t;
	time_t now = time(NULL);
	size_t i;
	json_t *q;
	int r = json_is_array(list) ? hubfmt_table_init(&t, cols, 7) : -EINVAL;
	json_array_foreach(list, i, q)
	{
		char n[48], left[32] = "-";
		const char *state = jstr(q, "state");
		approvals(q, n, sizeof n);
		join_argv(json_object_get(q, "argv"), cmd, sizeof cmd);
		if (state && !strcmp(state, "pending"))
			hubfmt_span(jint(q, "expires_at") - now, left, sizeof left);
		const char *row[] = {jstr(q, "id"), jstr(q, "user"), jstr(q, "host"), cmd, state, n,
				     left};
		if (r == 0)
			r = hubfmt_table_add(&t, row);
	}
	return table_done(&t, r);
}

static int cmd_requests(struct hub_ctx *x, const char *arg)
{
	json_t *ans = NULL;
	const char *path =
		x->o->given & OPT_PENDING ? "/api/v1/requests?state=pending" : "/api/v1/requests";
	if (hub_call(x, "GET", path, NULL, 200, &ans) < 0)
		return JITSUCTL_EXIT_FAIL;
	int r = x->o->json ? print_json(ans) : print_requests(json_object_get(ans, "requests"));
	json_decref(ans);
	return r;
}

/* POST /requests/ID/verb; prints the request's state afterwards. */
static int decide(struct hub_ctx *x, const char *id, const char *verb, json_t *body)
{
	char path[96], state[16], n[48];
	json_t *ans = NULL;
	if (!body) {
		fprintf(stderr, "jitsuctl: the text must be UTF-8\n");
		return JITSUCTL_EXIT_USAGE;
	}
	snprintf(path, sizeof path, "/api/v1/requests/%s/%s", id, verb);
	if (hub_call(x, "POST", path, body, 200, &ans) < 0)
		return JITSUCTL_EXIT_FAIL;
	int r = JITSUCTL_EXIT_OK;
	if (x->o->json) {
		r = print_json(ans);
	} else {
		hubfmt_escape(jstr(ans, "state"), state, sizeof state - 1);
		approvals(ans, n, sizeof n);
		printf("request %s: %s (%s approvals)\n", id, state, n);
	}
	json_decref(ans);
	return r;
}

static int cmd_approve(struct hub_ctx *x, const char *arg)
{
	json_t *body = x->o->note ? json_pack("{s:s}", "note", x->o->note) : json_object();
	return decide(x, arg, "approve", body);
}

static int cmd_deny(struct hub_ctx *x, const char *arg)
{
	return decide(x, arg, "deny", json_pack("{s:s}", "reason", x->o->why));
}

static int print_mfa(const json_t *list, const char *user)
{
	static const struct hubfmt_col cols[] = {
		{"USER", 32},    {"STATE", 12},      {"RECOVERY LEFT", 13},
		{"FAILURES", 8}, {"LOCKED FOR", 10}, {"UPDATED", 17},
		{"BY", 40},
	};
	struct hubfmt_table t = {0};
	size_t i, shown = 0;
	json_t *u;
	int r = json_is_array(list) ? hubfmt_table_init(&t, cols, 7) : -EINVAL;
	json_array_foreach(list, i, u)
	{
		char left[16] = "-", fails[16] = "-", locked[32] = "no", updated[32];
		const char *state = jstr(u, "state");
		if ((state && !strcmp(state, "not_enrolled")) ||
		    (user && (!jstr(u, "user") || strcmp(jstr(u, "user"), user) != 0)))
			continue;
		if (state && strcmp(state, "corrupt") != 0) {
			snprintf(left, sizeof left, "%lld", jint(u, "recovery_left"));
			snprintf(fails, sizeof fails, "%lld", jint(u, "fail_count"));
		}
		if (jint(u, "locked_secs") > 0)
			hubfmt_span(jint(u, "locked_secs"), locked, sizeof locked);
		hubfmt_time(jint(u, "updated_at"), updated, sizeof updated);
		const char *row[] = {jstr(u, "user"),      state, left, fails, locked, updated,
				     jstr(u, "updated_by")};
		if (r == 0)
			r = hubfmt_table_add(&t, row);
		shown++;
	}
	if (r == 0 && user && !shown) {
		hubfmt_table_free(&t);
		printf("%s: not enrolled for MFA at the hub\n", user);
		return JITSUCTL_EXIT_FAIL;
	}
	return table_done(&t, r);
}

static int cmd_mfa_status(struct hub_ctx *x, const char *arg)
{
	char path[160];
	json_t *ans = NULL;
	snprintf(path, sizeof path, "/api/v1/mfa%s%s", arg ? "/" : "", arg ? arg : "");
	if (hub_call(x, "GET", path, NULL, 200, &ans) < 0)
		return JITSUCTL_EXIT_FAIL;
	/* One user's answer is shown as a list of one. */
	json_t *list = arg ? json_pack("[O]", ans) : json_incref(json_object_get(ans, "users"));
	int r = x->o->json ? print_json(ans) : print_mfa(list, arg);
	json_decref(list);
	json_decref(ans);
	return r;
}

static int cmd_mfa_reset(struct hub_ctx *x, const char *arg)
{
	char path[160];
	json_t *ans = NULL;
	snprintf(path, sizeof path, "/api/v1/mfa/%s/reset", arg);
	if (hub_call(x, "POST", path, json_object(), 200, &ans) < 0)
		return JITSUCTL_EXIT_FAIL;
	int r = JITSUCTL_EXIT_OK;
	if (x->o->json)
		r = print_json(ans);
	else
		printf("MFA enrollment of %s removed at the hub; they can enroll again with "
		       "`jitsu --enroll-mfa` on any endpoint\n",
		       arg);
	json_decref(ans);
	return r;
}

/* The response to a break-glass challenge, alone on stdout; the details,
 * for the admin reading it over the phone, on stderr. */
static int cmd_breakglass_respond(struct hub_ctx *x, const char *arg)
{
	char code[BREAKGLASS_CHALLENGE_CHARS + 1], resp[BREAKGLASS_RESPONSE_CHARS + 1];
	char shown[BREAKGLASS_GROUPED_MAX], asked[BREAKGLASS_GROUPED_MAX], name[256], until[64];
	json_t *ans = NULL;
	breakglass_parse(x->arg2, strlen(x->arg2), BREAKGLASS_CHALLENGE_CHARS, code);
	if (hub_call(x, "POST", "/api/v1/breakglass/respond",
		     json_pack("{s:s,s:s}", "endpoint", arg, "challenge", code), 200, &ans) < 0)
		return JITSUCTL_EXIT_FAIL;
	const char *r = jstr(ans, "response"), *id = jstr(ans, "endpoint_id");
	int rc = JITSUCTL_EXIT_OK;
	if (!r || !id || !is_id(id) ||
	    breakglass_parse(r, strlen(r), BREAKGLASS_RESPONSE_CHARS, resp) < 0 ||
	    breakglass_group(resp, shown, sizeof shown) < 0) {
		rc = malformed();
	} else if (x->o->json) {
		rc = print_json(ans);
	} else {
		hubfmt_escape(jstr(ans, "hostname"), name, sizeof name - 1);
		hubfmt_time(jint(ans, "valid_until"), until, sizeof until);
		breakglass_group(code, asked, sizeof asked);
		puts(shown);
		rc = fflush(stdout) == 0 ? JITSUCTL_EXIT_OK : JITSUCTL_EXIT_FAIL;
		fprintf(stderr,
			"jitsuctl: break-glass response for endpoint %s (%s), challenge %s; "
			"valid until %s; read it to the user\n",
			id, name, asked, until);
	}
	explicit_bzero(resp, sizeof resp);
	explicit_bzero(shown, sizeof shown);
	json_decref(ans);
	return rc;
}

static const struct hub_cmd hub_cmds[] = {
	{"token", "create", ARG_NONE, OPT_EXPIRES, 0, cmd_token_create},
	{"endpoints", NULL, ARG_NONE, 0, 0, cmd_endpoints},
	{"endpoint", "revoke", ARG_HOST, 0, 0, cmd_endpoint_revoke},
	{"requests", NULL, ARG_NONE, OPT_PENDING, 0, cmd_requests},
	{"approve", NULL, ARG_ID, OPT_NOTE, 0, cmd_approve},
	{"deny", NULL, ARG_ID, OPT_WHY, OPT_WHY, cmd_deny},
	{"admins", "add", ARG_NAME, OPT_ROLE, OPT_ROLE, cmd_admins_add},
	{"mfa", "status", ARG_NONE, 0, 0, cmd_mfa_status},
	{"mfa", "status", ARG_NAME, 0, 0, cmd_mfa_status},
	{"mfa", "reset", ARG_NAME, 0, 0, cmd_mfa_reset},
	{"breakglass", "respond", ARG_HOST_CHALLENGE, 0, 0, cmd_breakglass_respond},
	{"alerts", NULL, ARG_NONE, OPT_SINCE | OPT_KIND | OPT_LIMIT, 0, hub_cmd_alerts},
	{"audit", "lag", ARG_NONE, 0, 0, hub_cmd_audit_lag},
	{"audit", "search", ARG_NONE,
	 OPT_HOST | OPT_USER | OPT_EVENT | OPT_SINCE | OPT_UNTIL | OPT_LIMIT, 0,
	 hub_cmd_audit_search},
};

int jitsuctl_hub_main(int argc, char **argv, const char *statedir)
{
	struct hub_opts o = {0};
	struct hub_ctx x = {.o = &o};
	const char *arg = NULL, *arg2 = NULL;
	int r = parse_options(argc, argv, &o);
	if (r != 0)
		return r == -2 ? JITSUCTL_EXIT_USAGE : hub_usage(r > 0 ? stdout : stderr);
	if (jitsuctl_policy_wants(argc - optind, argv + optind)) {
		/* the command line first (x NULL: check only), then the hub */
		r = jitsuctl_policy_run(NULL, argc - optind, argv + optind, o.group, o.message,
					o.json, o.given & ~(OPT_GROUP | OPT_MESSAGE));
		if (r == JITSUCTL_EXIT_OK)
			r = setup(&x, &o);
		if (r == JITSUCTL_EXIT_OK)
			r = jitsuctl_policy_run(&x, argc - optind, argv + optind, o.group,
						o.message, o.json,
						o.given & ~(OPT_GROUP | OPT_MESSAGE));
		explicit_bzero(x.c.auth, sizeof x.c.auth);
		return r;
	}
	if (o.given & (OPT_GROUP | OPT_MESSAGE))
		return hub_usage(stderr);
	const struct hub_cmd *cmd = find_cmd(hub_cmds, sizeof hub_cmds / sizeof hub_cmds[0],
					     argc - optind, argv + optind, &arg, &arg2);
	if (!cmd)
		return hub_usage(stderr);
	if (check_cmd(cmd, &o, arg, arg2) < 0)
		return JITSUCTL_EXIT_USAGE;
	x.arg2 = arg2;
	r = setup(&x, &o);
	if (r == JITSUCTL_EXIT_OK)
		r = cmd->run(&x, arg);
	explicit_bzero(x.c.auth, sizeof x.c.auth);
	return r;
}

/* ---- for policy.c ---- */

struct hubclient *jitsuctl_hub_client(struct hub_ctx *x)
{
	return &x->c;
}

int jitsuctl_hub_call(struct hub_ctx *x, const char *method, const char *path, json_t *body,
		      long want, json_t **out)
{
	return hub_call(x, method, path, body, want, out);
}

int jitsuctl_hub_print_json(const json_t *j)
{
	return print_json(j);
}

int jitsuctl_hub_is_host(const char *s)
{
	return is_host(s);
}

int jitsuctl_hub_endpoint_id(struct hub_ctx *x, const char *host, char id[17])
{
	_Static_assert(HUB_ID_LEN + 1 == 17, "an endpoint id is 16 hex digits");
	return endpoint_id(x, host, id);
}
