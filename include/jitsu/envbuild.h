/*
 * envbuild: the elevated command's environment, built from an allow-list.
 *
 * MUST rules:
 *  - Only names on the allow-list pass from the caller (TERM, COLORTERM,
 *    LANG, LANGUAGE, LC_*, TZ, NO_COLOR), and only with values of a safe
 *    shape: nothing that could name a file to load (no '/' in locale
 *    names, TZ only as a zone name or under /usr/share/zoneinfo).
 *  - LD_*, PATH and everything else offered by the caller is dropped.
 *  - HOME, USER, LOGNAME and SHELL are the target user's; PATH is the
 *    secure path. The policy rule's setenv entries are applied last.
 *  - Pure: no I/O, no globals.
 */
#ifndef JITSU_ENVBUILD_H
#define JITSU_ENVBUILD_H

#include <stddef.h>
#include <sys/types.h>

#define ENVBUILD_MAX 256 /* entries in a built environment */

struct envbuild_target {
	const char *user; /* target user name */
	const char *home;
	const char *shell;
	const char *caller; /* the caller's login name, for JITSU_USER */
	uid_t caller_uid;
};

/* 1 if "NAME=value" may pass from the caller, else 0. */
int envbuild_allowed(const char *entry);

/*
 * Builds a NULL-terminated environment: the allowed entries of offered (n
 * of them; a later duplicate replaces an earlier one), then the fixed
 * target entries, then setenv (n_set "NAME=value" to set or "-NAME" to
 * remove). Returns 0 and a new array in *out (free with envbuild_free), or
 * -ENOMEM, or -E2BIG past ENVBUILD_MAX entries.
 */
int envbuild(const char *const *offered, size_t n, const struct envbuild_target *t,
	     char *const *set, size_t n_set, char ***out);

void envbuild_free(char **env);

#endif
