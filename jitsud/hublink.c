/*
 * hublink: enrollment into a jitsu-hub and the stored link. The MUST
 * rules are in hublink.h.
 */
#include "hublink.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define HUBLINK_FILE "hub.conf"
#define HUBLINK_MAX 8192

int hublink_read_small(int dirfd, const char *name, char *buf, size_t len, int strict)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (strict && (st.st_uid != 0 || (st.st_mode & 077)))) {
		close(fd);
		return -EPERM;
	}
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	return (int)n;
}

int hublink_copy_field(json_t *o, const char *key, char *out, size_t len)
{
	const char *v = json_string_value(json_object_get(o, key));
	if (!v || strlen(v) >= len)
		return -1;
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

int hublink_load(const char *statedir, struct hublink *l, char *err, size_t errlen)
{
	char buf[HUBLINK_MAX];
	int dfd = open(statedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -ENOENT;
	int n = hublink_read_small(dfd, HUBLINK_FILE, buf, sizeof buf, 1);
	close(dfd);
	if (n == -ENOENT)
		return -ENOENT;
	if (n < 0) {
		snprintf(err, errlen, "%s/%s is unusable: %s", statedir, HUBLINK_FILE,
			 strerror(-n));
		return n;
	}
	json_t *o = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	explicit_bzero(buf, sizeof buf);
	int bad = !json_is_object(o) || hublink_copy_field(o, "url", l->url, sizeof l->url) ||
		  hublink_copy_field(o, "fingerprint", l->fingerprint, sizeof l->fingerprint) ||
		  hublink_copy_field(o, "endpoint_id", l->endpoint_id, sizeof l->endpoint_id) ||
		  hublink_copy_field(o, "credential", l->credential, sizeof l->credential);
	json_decref(o);
	if (bad) {
		snprintf(err, errlen, "%s/%s is malformed", statedir, HUBLINK_FILE);
		return -EBADMSG;
	}
	return 0;
}
