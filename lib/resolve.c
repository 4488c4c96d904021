/*
 * resolve: command lookup through the secure PATH, and the checks on the
 * opened binary. The MUST rules are in include/jitsu/resolve.h.
 */
#include "jitsu/resolve.h"

#include "jitsu/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int open_path(int dirfd, const char *name, struct resolved *r)
{
	int fd = openat(dirfd, name, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &r->st) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	r->fd = fd;
	return 0;
}

static int fd_realpath(int fd, char *out, size_t len)
{
	char link[64];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, out, len - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n >= len - 1)
		return -ENAMETOOLONG;
	out[n] = '\0';
	if (out[0] != '/' || strstr(out, " (deleted)"))
		return -ENOENT;
	return 0;
}

/* Opens name in each directory of the secure PATH; first hit wins. */
static int search_path(const char *name, struct resolved *r)
{
	char dir[64], full[PATH_MAX];
	const char *p = RESOLVE_SECURE_PATH;
	int last = -ENOENT;

	while (*p) {
		size_t n = strcspn(p, ":");
		if (n < sizeof dir) {
			memcpy(dir, p, n);
			dir[n] = '\0';
			if (snprintf(full, sizeof full, "%s/%s", dir, name) >= (int)sizeof full)
				return -ENAMETOOLONG;
			int e = open_path(AT_FDCWD, full, r);
			if (e == 0) {
				if (S_ISREG(r->st.st_mode))
					return 0;
				resolve_close(r);
				last = -EACCES;
			} else if (e != -ENOENT && e != -ENOTDIR) {
				last = e;
			}
		}
		p += n;
		if (*p == ':')
			p++;
	}
	return last;
}

int resolve_command(const char *name, int cwdfd, struct resolved *r, char *err, size_t errlen)
{
	int e;

	memset(r, 0, sizeof *r);
	r->fd = -1;
	if (!name[0] || strlen(name) >= PATH_MAX) {
		snprintf(err, errlen, "%s: bad command name", name[0] ? "command" : "(empty)");
		return -ENAMETOOLONG;
	}
	e = strchr(name, '/') ? open_path(cwdfd, name, r) : search_path(name, r);
	if (e == -ENOENT || e == -ENOTDIR) {
		snprintf(err, errlen, "%s: command not found", name);
		return -ENOENT;
	}
	if (e < 0) {
		snprintf(err, errlen, "%s: %s", name, strerror(-e));
		return e == -EACCES ? -EACCES : e;
	}
	if (!S_ISREG(r->st.st_mode) || !(r->st.st_mode & 0111)) {
		snprintf(err, errlen, "%s: not an executable file", name);
		resolve_close(r);
		return -EACCES;
	}
	e = fd_realpath(r->fd, r->path, sizeof r->path);
	if (e < 0) {
		snprintf(err, errlen, "%s: cannot resolve path: %s", name, strerror(-e));
		resolve_close(r);
		return e;
	}
	return 0;
}

static int unsafe_mode(const struct stat *st)
{
	return st->st_uid != 0 || (st->st_mode & (S_IWGRP | S_IWOTH));
}

/*
 * A directory others may write to is still safe when it is root's and
 * sticky (like /tmp): nobody else can rename or remove what root put in
 * it, and the next component down must be root's too.
 */
static int unsafe_dir(const struct stat *st)
{
	if (st->st_uid == 0 && (st->st_mode & S_ISVTX))
		return 0;
	return unsafe_mode(st);
}

int resolve_check_safe(const struct resolved *r, char *err, size_t errlen)
{
	struct stat st;

	/*
	 * The path read back from the fd is how the file looks from the
	 * mount namespace it was reached in: a caller in a namespace of its
	 * own could show any root-owned binary under a permitted name. Only
	 * a file that is the same inode at that path here is what the
	 * policy's path means.
	 */
	if (stat(r->path, &st) < 0 || st.st_dev != r->st.st_dev || st.st_ino != r->st.st_ino) {
		snprintf(err, errlen, "%s: refusing a binary that is not that file for jitsud",
			 r->path);
		return -EPERM;
	}
	if (unsafe_mode(&r->st)) {
		snprintf(err, errlen, "%s: refusing unsafe binary (%s)", r->path,
			 r->st.st_uid != 0 ? "not owned by root" : "writable by group or others");
		return -EPERM;
	}
	/* Every ancestor directory: a writable one would let its owner swap
	 * the name for the next request. */
	return resolve_check_ancestors(r->path, err, errlen);
}

int resolve_check_ancestors(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct stat st;
	if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir || dir[0] != '/') {
		snprintf(err, errlen, "%s: not an absolute path", path);
		return -EPERM;
	}
	for (char *slash = strrchr(dir, '/'); slash; slash = strrchr(dir, '/')) {
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(dir, &st) < 0) {
			snprintf(err, errlen, "%s: cannot check %s: %s", path, dir,
				 strerror(errno));
			return -EPERM;
		}
		if (unsafe_dir(&st)) {
			snprintf(err, errlen, "%s: refusing a file in unsafe directory %s", path,
				 dir);
			return -EPERM;
		}
		if (slash == dir)
			break;
	}
	return 0;
}

int resolve_sha256(const struct resolved *r, uint8_t out[32], int *is_script)
{
	char link[64];
	uint8_t buf[65536];
	struct stat st;
	int ret;

	snprintf(link, sizeof link, "/proc/self/fd/%d", r->fd);
	int fd = open(link, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_dev != r->st.st_dev || st.st_ino != r->st.st_ino) {
		close(fd);
		return -ESTALE;
	}
	struct digest_sha256 d;
	digest_sha256_init(&d);
	*is_script = 0;
	for (int first = 1;; first = 0) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		if (first && n >= 2 && buf[0] == '#' && buf[1] == '!')
			*is_script = 1;
		digest_sha256_update(&d, buf, (size_t)n);
	}
	digest_sha256_final(&d, out);
	ret = 0;
out:
	close(fd);
	return ret;
}

void resolve_close(struct resolved *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

void resolve_hex(const uint8_t *in, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * n] = '\0';
}
