/*
 * jitsuctl policy: central policy management at jitsu-hub (docs/hub.md,
 * "Central policy"); the hub session comes from hub.c, with its options.
 *
 *   policy push --group G [--message TEXT] FILE   a new version (validated by the hub)
 *   policy history --group G                      the versions, newest first
 *   policy show --group G [V]                     a version's text (default the newest)
 *   policy diff --group G V1 V2                   unified diff from V1 to V2
 *   policy rollback --group G V [--message TEXT]  a new version with V's text
 *   endpoint tag HOST GROUP                       put an endpoint in its one group
 *   endpoint untag HOST                           take it out (it uses its local file)
 *   (HOST: an endpoint id, or the hostname of exactly one endpoint not revoked)
 *
 * MUST rules:
 *  - What the hub sends reaches the terminal escaped (hubfmt_escape) or,
 *    for policy text, filtered (policytext_safe).
 *  - Group names, ids and version numbers go into a URL path only after
 *    their shape was checked here (an endpoint id also after it came
 *    back from the hub's list).
 *  - A refused push prints each of the hub's parse errors as one
 *    "FILE:LINE: message" line, and says that the current version stays.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub.h"
#include "hubfmt.h"
#include "jitsu/hubclient.h"
#include "jitsuctl.h"
#include "policytext.h"

#define POLICY_TEXT_MAX 61440 /* the hub's cap */
#define POLICY_MSG_MAX 1024
#define VERSION_MAX (1LL << 53)

struct pol {
	struct hub_ctx *x;
	const char *group, *message;
	int json;
};

int jitsuctl_policy_wants(int n, char **w)
{
	return n >= 1 &&
	       (!strcmp(w[0], "policy") || (n >= 2 && !strcmp(w[0], "endpoint") &&
					    (!strcmp(w[1], "tag") || !strcmp(w[1], "untag"))));
}

static int usage(const char *why)
{
	fprintf(stderr,
		"jitsuctl policy: %s\n"
		"usage: jitsuctl policy push --group G [--message TEXT] FILE\n"
		"       jitsuctl policy history --group G\n"
		"       jitsuctl policy show --group G [VERSION]\n"
		"       jitsuctl policy diff --group G V1 V2\n"
		"       jitsuctl policy rollback --group G VERSION [--message TEXT]\n"
		"       jitsuctl endpoint tag HOST GROUP\n"
		"       jitsuctl endpoint untag HOST\n",
		why);
	return JITSUCTL_EXIT_USAGE;
}

/* [A-Za-z0-9_][A-Za-z0-9_.-]{0,63}, as the hub names groups. */
static int is_group(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");
	return n == strlen(s) && n >= 1 && n <= 64 && s[0] != '.' && s[0] != '-';
}

static int is_id(const char *s)
{
	return strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16;
}

/* A version number: 1 to 2^53, decimal digits only. */
static int parse_version(const char *s, long long *v)
{
	char *end;
	if (s[0] < '1' || s[0] > '9' || strlen(s) > 16)
		return -1;
	*v = strtoll(s, &end, 10);
	return *end || *v < 1 || *v > VERSION_MAX ? -1 : 0;
}

static int is_utf8(const char *s)
{
	json_t *j = json_string(s);
	json_decref(j);
	return j != NULL;
}

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int malformed(void)
{
	fprintf(stderr, "jitsuctl: the hub sent a malformed answer\n");
	return JITSUCTL_EXIT_FAIL;
}

/* ---- push ---- */

/* Reads FILE whole (a regular file, at most the hub's cap). */
static char *read_file(const char *path, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	char *buf = NULL;
	if (fd < 0) {
		fprintf(stderr, "jitsuctl: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > POLICY_TEXT_MAX) {
		fprintf(stderr, "jitsuctl: %s: must be a regular file of at most %d bytes\n", path,
			POLICY_TEXT_MAX);
	} else if ((buf = malloc((size_t)st.st_size + 1)) != NULL) {
		ssize_t n = read(fd, buf, (size_t)st.st_size + 1);
		if (n != st.st_size) {
			fprintf(stderr, "jitsuctl: %s: cannot read it whole\n", path);
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
			*len = (size_t)n;
		}
	}
	close(fd);
	return buf;
}

/* The hub's parse errors, one "FILE:LINE: message" line each. */
static void print_parse_errors(const char *file, const json_t *answer)
{
	const json_t *errs = json_object_get(json_object_get(answer, "error"), "errors");
	char f[256], msg[512];
	size_t i, n = 0;
	json_t *e;
	hubfmt_escape(file, f, sizeof f - 1);
	json_array_foreach(errs, i, e)
	{
		hubfmt_escape(jstr(e, "message"), msg, sizeof msg - 1);
		fprintf(stderr, "%s:%lld: %s\n", f,
			(long long)json_integer_value(json_object_get(e, "line")), msg);
		n++;
	}
	fprintf(stderr,
		"jitsuctl: the hub refused the policy (%zu error%s); the current version "
		"is unchanged\n",
		n, n == 1 ? "" : "s");
}

/* Prints "group G: version N (sha256 ...)" for a new version. */
static int print_version(const struct pol *p, const json_t *v, const char *what)
{
	char g[80], sha[80];
	if (p->json)
		return jitsuctl_hub_print_json(v);
	if (!json_is_integer(json_object_get(v, "version")))
		return malformed();
	hubfmt_escape(jstr(v, "group"), g, sizeof g - 1);
	hubfmt_escape(jstr(v, "sha256"), sha, sizeof sha - 1);
	printf("group %s: version %lld %s (sha256 %.12s)\n", g,
	       (long long)json_integer_value(json_object_get(v, "version")), what, sha);
	return fflush(stdout) == 0 ? JITSUCTL_EXIT_OK : JITSUCTL_EXIT_FAIL;
}

static int cmd_push(struct pol *p, const char *file)
{
	char path[128], err[512], shown[600];
	size_t len = 0;
	long status = 0;
	json_t *ans = NULL;
	char *text = read_file(file, &len);
	if (!text)
		return JITSUCTL_EXIT_FAIL;
	json_t *t = json_stringn(text, len);
	free(text);
	if (!t) {
		fprintf(stderr, "jitsuctl: %s: a policy must be UTF-8 text without NUL bytes\n",
			file);
		return JITSUCTL_EXIT_FAIL;
	}
	json_t *body = json_pack("{s:o}", "text", t);
	if (body && p->message)
		json_object_set_new(body, "message", json_string(p->message));
	snprintf(path, sizeof path, "/api/v1/policy/%s", p->group);
	int r = hubclient_call(jitsuctl_hub_client(p->x), "POST", path, body, &status, &ans, err,
			       sizeof err);
	json_decref(body);
	if (r == 0 && status == 422) {
		if (p->json)
			jitsuctl_hub_print_json(ans);
		else
			print_parse_errors(file, ans);
		json_decref(ans);
		return JITSUCTL_EXIT_FAIL;
	}
	if (r == 0 && status != 201)
		r = hubclient_error(status, ans, err, sizeof err);
	if (r < 0) {
		json_decref(ans);
		hubfmt_escape(err, shown, sizeof shown - 1);
		fprintf(stderr, "jitsuctl: %s\n", shown);
		return JITSUCTL_EXIT_FAIL;
	}
	r = print_version(p, ans, "pushed");
	json_decref(ans);
	return r;
}

/* ---- reading ---- */

static int get_version(struct pol *p, long long v, json_t **out)
{
	char path[160];
	if (v > 0)
		snprintf(path, sizeof path, "/api/v1/policy/%s?version=%lld", p->group, v);
	else
		snprintf(path, sizeof path, "/api/v1/policy/%s", p->group);
	if (jitsuctl_hub_call(p->x, "GET", path, NULL, 200, out) < 0)
		return -1;
	if (!jstr(*out, "text")) {
		json_decref(*out);
		*out = NULL;
		malformed();
		return -1;
	}
	return 0;
}

static int cmd_show(struct pol *p, long long v)
{
	json_t *ans = NULL;
	if (get_version(p, v, &ans) < 0)
		return JITSUCTL_EXIT_FAIL;
	int r = JITSUCTL_EXIT_OK;
	if (p->json) {
		r = jitsuctl_hub_print_json(ans);
	} else {
		char *text = strdup(jstr(ans, "text"));
		if (!text)
			r = JITSUCTL_EXIT_FAIL;
		else {
			policytext_safe(text);
			fputs(text, stdout);
			r = fflush(stdout) == 0 ? JITSUCTL_EXIT_OK : JITSUCTL_EXIT_FAIL;
		}
		free(text);
	}
	json_decref(ans);
	return r;
}

static int cmd_diff(struct pol *p, long long v1, long long v2)
{
	json_t *a = NULL, *b = NULL;
	char la[96], lb[96];
	if (get_version(p, v1, &a) < 0 || get_version(p, v2, &b) < 0) {
		json_decref(a);
		return JITSUCTL_EXIT_FAIL;
	}
	snprintf(la, sizeof la, "%s:%lld", p->group, v1);
	snprintf(lb, sizeof lb, "%s:%lld", p->group, v2);
	char *d = policytext_diff(jstr(a, "text"), la, jstr(b, "text"), lb);
	json_decref(a);
	json_decref(b);
	if (!d) {
		fprintf(stderr, "jitsuctl: out of memory\n");
		return JITSUCTL_EXIT_FAIL;
	}
	policytext_safe(d);
	fputs(d, stdout);
	free(d);
	return fflush(stdout) == 0 ? JITSUCTL_EXIT_OK : JITSUCTL_EXIT_FAIL;
}

static int print_history(const json_t *list)
{
	static const struct hubfmt_col cols[] = {
		{"VERSION", 12}, {"PUSHED", 17},      {"BY", 32},
		{"SHA256", 12},  {"ROLLBACK OF", 11}, {"MESSAGE", 60},
	};
	struct hubfmt_table t = {0};
	size_t i;
	json_t *v;
	int r = json_is_array(list) ? hubfmt_table_init(&t, cols, 6) : -EINVAL;
	json_array_foreach(list, i, v)
	{
		char ver[24], when[32], sha[13] = "", rb[24] = "-";
		const json_t *rbv = json_object_get(v, "rollback_of");
		snprintf(ver, sizeof ver, "%lld",
			 (long long)json_integer_value(json_object_get(v, "version")));
		hubfmt_time((long long)json_integer_value(json_object_get(v, "pushed_at")), when,
			    sizeof when);
		snprintf(sha, sizeof sha, "%s", jstr(v, "sha256") ? jstr(v, "sha256") : "-");
		if (json_is_integer(rbv))
			snprintf(rb, sizeof rb, "%lld", (long long)json_integer_value(rbv));
		const char *row[] = {ver, when, jstr(v, "pushed_by"), sha, rb, jstr(v, "message")};
		if (r == 0)
			r = hubfmt_table_add(&t, row);
	}
	if (r == 0)
		r = hubfmt_table_print(&t, stdout);
	hubfmt_table_free(&t);
	if (r == -EINVAL)
		return malformed();
	return r == 0 ? JITSUCTL_EXIT_OK : JITSUCTL_EXIT_FAIL;
}

static int cmd_history(struct pol *p)
{
	char path[128];
	json_t *ans = NULL;
	snprintf(path, sizeof path, "/api/v1/policy/%s/versions", p->group);
	if (jitsuctl_hub_call(p->x, "GET", path, NULL, 200, &ans) < 0)
		return JITSUCTL_EXIT_FAIL;
	int r = p->json ? jitsuctl_hub_print_json(ans)
			: print_history(json_object_get(ans, "versions"));
	json_decref(ans);
	return r;
}

/* ---- changes ---- */

static int cmd_rollback(struct pol *p, long long v)
{
	char path[128], what[64];
	json_t *ans = NULL;
	json_t *body = json_pack("{s:I}", "version", (json_int_t)v);
	if (body && p->message)
		json_object_set_new(body, "message", json_string(p->message));
	snprintf(path, sizeof path, "/api/v1/policy/%s/rollback", p->group);
	if (jitsuctl_hub_call(p->x, "POST", path, body, 201, &ans) < 0)
		return JITSUCTL_EXIT_FAIL;
	snprintf(what, sizeof what, "created with the text of version %lld", v);
	int r = print_version(p, ans, what);
	json_decref(ans);
	return r;
}

/* host: an endpoint id or the hostname of one endpoint, resolved as
 * `endpoint revoke` does (hub.c). */
static int cmd_tag(struct pol *p, const char *host, const char *group)
{
	char path[96], g[80], id[17];
	json_t *ans = NULL;
	if (jitsuctl_hub_endpoint_id(p->x, host, id) < 0 || !is_id(id))
		return JITSUCTL_EXIT_FAIL;
	snprintf(path, sizeof path, "/api/v1/endpoints/%s/group", id);
	int r = group ? jitsuctl_hub_call(p->x, "POST", path, json_pack("{s:s}", "group", group),
					  200, &ans)
		      : jitsuctl_hub_call(p->x, "DELETE", path, NULL, 200, &ans);
	if (r < 0)
		return JITSUCTL_EXIT_FAIL;
	if (p->json) {
		r = jitsuctl_hub_print_json(ans);
	} else {
		const char *now = jstr(ans, "group");
		hubfmt_escape(now, g, sizeof g - 1);
		printf("endpoint %s: %s%s\n", id, now ? "policy group " : "no policy group",
		       now ? g : "");
		r = fflush(stdout) == 0 ? JITSUCTL_EXIT_OK : JITSUCTL_EXIT_FAIL;
	}
	json_decref(ans);
	return r;
}

static int run_endpoint(struct pol *p, int n, char **w)
{
	int tag = !strcmp(w[1], "tag");
	if (p->group || p->message)
		return usage("--group and --message do not go with endpoint tag|untag");
	if (n != (tag ? 4 : 3) || !jitsuctl_hub_is_host(w[2]))
		return usage(tag ? "endpoint tag HOST GROUP (HOST: a hostname or an endpoint id)"
				 : "endpoint untag HOST (HOST: a hostname or an endpoint id)");
	if (tag && !is_group(w[3]))
		return usage("GROUP must be a name: [A-Za-z0-9_][A-Za-z0-9_.-]{0,63}");
	return p->x ? cmd_tag(p, w[2], tag ? w[3] : NULL) : 0;
}

int jitsuctl_policy_run(struct hub_ctx *x, int n, char **w, const char *group, const char *message,
			int json, unsigned other_opts)
{
	struct pol p = {.x = x, .group = group, .message = message, .json = json};
	long long v1 = 0, v2 = 0;
	if (other_opts)
		return usage("an option that does not go with this command");
	if (!strcmp(w[0], "endpoint"))
		return run_endpoint(&p, n, w);
	if (n < 2)
		return usage("which policy command?");
	const char *sub = w[1];
	if (!group || !is_group(group))
		return usage("--group G is required (G: [A-Za-z0-9_][A-Za-z0-9_.-]{0,63})");
	if (message && (strlen(message) > POLICY_MSG_MAX || !is_utf8(message)))
		return usage("--message must be UTF-8 text of at most 1024 bytes");
	if (message && strcmp(sub, "push") != 0 && strcmp(sub, "rollback") != 0)
		return usage("--message goes with push and rollback only");
	if (!strcmp(sub, "push") && n == 3)
		return x ? cmd_push(&p, w[2]) : 0;
	if (!strcmp(sub, "history") && n == 2)
		return x ? cmd_history(&p) : 0;
	if (!strcmp(sub, "show") && (n == 2 || (n == 3 && parse_version(w[2], &v1) == 0)))
		return x ? cmd_show(&p, v1) : 0;
	if (!strcmp(sub, "diff") && n == 4 && parse_version(w[2], &v1) == 0 &&
	    parse_version(w[3], &v2) == 0)
		return x ? cmd_diff(&p, v1, v2) : 0;
	if (!strcmp(sub, "rollback") && n == 3 && parse_version(w[2], &v1) == 0)
		return x ? cmd_rollback(&p, v1) : 0;
	return usage("unknown command or wrong arguments (VERSION: a number from 1)");
}
