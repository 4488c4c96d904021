/*
 * hublink: this endpoint's membership in a jitsu-hub: enrollment
 * (`jitsud --enroll`), and the stored link (<statedir>/hub.conf, root-only)
 * that approval requests use.
 *
 * MUST rules:
 *  - The hub is pinned at enrollment: by the fingerprint the admin gave,
 *    or by the one shown and confirmed on a terminal, as ssh does. Without
 *    either, enrollment refuses.
 *  - Enrollment talks to the hub only through jitsu-hubcall, as the
 *    privsep user under its seccomp filter, like every other hub call.
 *  - hub.conf holds the endpoint credential: written atomically, 0600, in
 *    the 0700 state directory; read back only if it is a regular root-owned
 *    0600 file.
 */
#ifndef JITSUD_HUBLINK_H
#define JITSUD_HUBLINK_H

#include <stddef.h>

#include <jansson.h>

#include "jitsu/hubclient.h"

struct hublink {
	char url[512];
	char fingerprint[HUBCLIENT_FP_LEN + 1];
	char endpoint_id[17];
	char credential[65];
};

/* Reads <statedir>/hub.conf. Returns 0, -ENOENT when not enrolled, or
 * -errno with err when the file is unusable. */
int hublink_load(const char *statedir, struct hublink *l, char *err, size_t errlen);

/* Reads a small file name under dirfd (at most len-1 bytes, NUL-added);
 * strict: it must be root-owned and not accessible to group or others.
 * Returns the length or -errno. */
int hublink_read_small(int dirfd, const char *name, char *buf, size_t len, int strict);

/* Copies string member key of o into out; -1 if missing or too long. */
int hublink_copy_field(json_t *o, const char *key, char *out, size_t len);

/*
 * jitsud --enroll: enrolls this machine with token at url (into policy
 * group if not NULL) and stores the link. fingerprint may be NULL: then
 * the hub's is shown and must be confirmed on the terminal. Every network
 * step runs in jitsu-hubcall as privsep_user, which must exist (no
 * fallback to root or nobody); root validates the answer and writes
 * hub.conf. Prints progress on stdout. Returns 0 or -errno with err.
 */
int hublink_enroll(const char *privsep_user, const char *statedir, const char *url,
		   const char *token, const char *fingerprint, const char *group, char *err,
		   size_t errlen);

#endif
