/*
 * envbuild: allow-list environment construction. The MUST rules are in
 * include/jitsu/envbuild.h.
 */
#include "jitsu/envbuild.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitsu/resolve.h"

#define ENV_MAX_VALUE 256

static int all_in(const char *s, const char *set, size_t max)
{
	size_t n = strlen(s);
	return n <= max && strspn(s, set) == n;
}

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/* As sudo's tz_is_safe: a zone name, or a path under the zoneinfo tree. */
static int tz_safe(const char *v)
{
	const char *zoneinfo = "/usr/share/zoneinfo/";
	if (*v == ':')
		v++;
	if (!*v || strlen(v) >= ENV_MAX_VALUE)
		return 0;
	if (*v == '/' && strncmp(v, zoneinfo, strlen(zoneinfo)) != 0)
		return 0;
	if (strstr(v, ".."))
		return 0;
	return all_in(v, ALNUM "/_+-.,:<>", ENV_MAX_VALUE);
}

static int lc_name(const char *name, size_t n)
{
	if (n < 4 || n > 32 || strncmp(name, "LC_", 3) != 0)
		return 0;
	for (size_t i = 3; i < n; i++)
		if (!((name[i] >= 'A' && name[i] <= 'Z') || name[i] == '_'))
			return 0;
	return 1;
}

int envbuild_allowed(const char *entry)
{
	const char *eq = strchr(entry, '=');
	if (!eq)
		return 0;
	size_t n = (size_t)(eq - entry);
	const char *v = eq + 1;

	if ((n == 4 && !strncmp(entry, "TERM", 4)) || (n == 9 && !strncmp(entry, "COLORTERM", 9)))
		return *v && all_in(v, ALNUM "._+-", 64);
	if ((n == 4 && !strncmp(entry, "LANG", 4)) || lc_name(entry, n))
		return all_in(v, ALNUM "._@-", 64);
	if (n == 8 && !strncmp(entry, "LANGUAGE", 8))
		return all_in(v, ALNUM "._@:-", 128);
	if (n == 2 && !strncmp(entry, "TZ", 2))
		return tz_safe(v);
	if (n == 8 && !strncmp(entry, "NO_COLOR", 8))
		return all_in(v, ALNUM, 16);
	return 0;
}

struct env {
	char **v;
	size_t n;
};

static size_t name_len(const char *e)
{
	const char *eq = strchr(e, '=');
	return eq ? (size_t)(eq - e) : strlen(e);
}

static void env_unset(struct env *e, const char *name, size_t nl)
{
	for (size_t i = 0; i < e->n; i++) {
		if (name_len(e->v[i]) == nl && !strncmp(e->v[i], name, nl) && e->v[i][nl] == '=') {
			free(e->v[i]);
			memmove(&e->v[i], &e->v[i + 1], (e->n - i) * sizeof *e->v);
			e->n--;
			return;
		}
	}
}

/* Adds entry (copied), replacing any entry of the same name. */
static int env_put(struct env *e, const char *entry)
{
	env_unset(e, entry, name_len(entry));
	if (e->n >= ENVBUILD_MAX)
		return -E2BIG;
	char *c = strdup(entry);
	if (!c)
		return -ENOMEM;
	e->v[e->n++] = c;
	e->v[e->n] = NULL;
	return 0;
}

static int env_putf(struct env *e, const char *name, const char *value)
{
	char buf[4096];
	if (snprintf(buf, sizeof buf, "%s=%s", name, value) >= (int)sizeof buf)
		return -E2BIG;
	return env_put(e, buf);
}

static int env_fixed(struct env *e, const struct envbuild_target *t)
{
	char uid[32];
	snprintf(uid, sizeof uid, "%u", (unsigned)t->caller_uid);
	int r = 0;
	r = r ? r : env_putf(e, "HOME", t->home);
	r = r ? r : env_putf(e, "USER", t->user);
	r = r ? r : env_putf(e, "LOGNAME", t->user);
	r = r ? r : env_putf(e, "SHELL", t->shell);
	r = r ? r : env_putf(e, "PATH", RESOLVE_SECURE_PATH);
	r = r ? r : env_putf(e, "JITSU_USER", t->caller);
	r = r ? r : env_putf(e, "JITSU_UID", uid);
	return r;
}

int envbuild(const char *const *offered, size_t n, const struct envbuild_target *t,
	     char *const *set, size_t n_set, char ***out)
{
	struct env e = {calloc(ENVBUILD_MAX + 1, sizeof(char *)), 0};
	int r = 0;

	*out = NULL;
	if (!e.v)
		return -ENOMEM;
	for (size_t i = 0; i < n && !r; i++)
		if (envbuild_allowed(offered[i]))
			r = env_put(&e, offered[i]);
	if (!r)
		r = env_fixed(&e, t);
	for (size_t i = 0; i < n_set && !r; i++) {
		if (set[i][0] == '-')
			env_unset(&e, set[i] + 1, strlen(set[i] + 1));
		else if (strchr(set[i], '='))
			r = env_put(&e, set[i]);
	}
	if (r) {
		envbuild_free(e.v);
		return r;
	}
	*out = e.v;
	return 0;
}

void envbuild_free(char **env)
{
	if (!env)
		return;
	for (char **p = env; *p; p++)
		free(*p);
	free(env);
}
