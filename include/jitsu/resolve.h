/*
 * resolve: finds the binary a request names, opens it, and decides whether
 * it is safe to run as root.
 *
 * MUST rules:
 *  - A bare name is searched only in RESOLVE_SECURE_PATH, never the caller's
 *    PATH. A name with a slash is opened relative to the caller's cwd fd.
 *  - What is checked is what runs: the binary is opened once (O_PATH), the
 *    checks and the hash use that open file, and the daemon executes that
 *    fd with execveat(AT_EMPTY_PATH). No path is looked up twice.
 *  - The path checked and matched is the daemon's: the opened file must be
 *    the same inode at that path in jitsud's own mount namespace.
 *  - Safe means: a regular file with an execute bit, owned by root, not
 *    writable by group or others, in directories that are all owned by root
 *    and not writable by group or others, unless sticky (as /tmp is: then
 *    nobody but root can rename or remove root's entries in it).
 */
#ifndef JITSU_RESOLVE_H
#define JITSU_RESOLVE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define RESOLVE_SECURE_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct resolved {
	int fd;              /* O_PATH, close-on-exec; -1 when empty */
	struct stat st;      /* fstat of fd */
	char path[PATH_MAX]; /* absolute path without symlinks (from the fd) */
};

/*
 * Finds and opens name with the calling process's current credentials
 * (the daemon switches to the caller's before calling, so nobody can probe
 * paths they could not reach themselves). Returns 0 and fills *r, or
 * -ENOENT (not found), -EACCES (found but not an executable regular file),
 * -ENAMETOOLONG, or another -errno. err gets a one-line reason.
 */
int resolve_command(const char *name, int cwdfd, struct resolved *r, char *err, size_t errlen);

/* Checks the MUST rules for safety on r. Returns 0 or -EPERM with a reason. */
int resolve_check_safe(const struct resolved *r, char *err, size_t errlen);

/*
 * Checks that every directory above the absolute path is owned by root and
 * not writable by group or others (unless root's and sticky). Returns 0 or
 * -EPERM with a reason.
 */
int resolve_check_ancestors(const char *path, char *err, size_t errlen);

/*
 * Computes the SHA-256 of the opened file, reading through a fresh
 * read-only open of the same inode (checked by dev/ino). Sets *is_script
 * when the file starts with "#!". Returns 0 or -errno.
 */
int resolve_sha256(const struct resolved *r, uint8_t out[32], int *is_script);

void resolve_close(struct resolved *r);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void resolve_hex(const uint8_t *in, size_t n, char *out);

#endif
