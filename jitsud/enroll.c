/*
 * enroll: `jitsud --enroll`: pin the hub, enroll with the token, store the
 * link root-only. Root only decides and writes: every network step is a
 * run of the jitsu-hubcall helper (hubcall.h) as the privsep user, under
 * its seccomp filter, and what it reports is validated here before
 * hub.conf is written.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "hubcall.h"
#include "hublink.h"
#include "jitsu/breakglass.h"

#define HUBLINK_FILE "hub.conf"
#define ENROLL_TIMEOUT_MS 15000L

/* The hub issues the endpoint id and credential as lowercase hex; they end
 * up in an Authorization header, so nothing else is taken. */
static int id_ok(const char *s)
{
	return s[0] && strspn(s, "0123456789abcdef") == strlen(s);
}

/* Writes hub.conf atomically: temp file, fsync, rename, fsync the dir. */
static int save(const char *statedir, const char *text, char *err, size_t errlen)
{
	char tmp[PATH_MAX], final[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s/%s.tmp", statedir, HUBLINK_FILE);
	snprintf(final, sizeof final, "%s/%s", statedir, HUBLINK_FILE);
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	size_t n = strlen(text);
	if (fd < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) < 0 || close(fd) < 0 ||
	    rename(tmp, final) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", final, strerror(errno));
		unlink(tmp);
		return -EIO;
	}
	int dfd = open(statedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* Reads a small system file that may be a symlink (os-release is one on
 * Debian): these are facts to report, not files to trust. */
static int read_link_ok(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	return (int)n;
}

/* PRETTY_NAME from os-release, or "Linux". */
static void os_name(char *out, size_t len)
{
	char buf[4096];
	int n = read_link_ok("/etc/os-release", buf, sizeof buf);
	snprintf(out, len, "Linux");
	const char *p = n > 0 ? strstr(buf, "PRETTY_NAME=\"") : NULL;
	if (p) {
		p += 13;
		size_t k = strcspn(p, "\"\n");
		snprintf(out, len, "%.*s", (int)(k < 127 ? k : 127), p);
	}
}

static json_t *enroll_body(const char *token, const char *group, char *err, size_t errlen)
{
	char host[256] = "", mid[64] = "", os[128];
	struct utsname u;
	int n = read_link_ok("/etc/machine-id", mid, sizeof mid);
	mid[n > 0 ? strcspn(mid, "\n") : 0] = '\0';
	if (strlen(mid) != 32 || gethostname(host, sizeof host - 1) < 0 || uname(&u) < 0) {
		snprintf(err, errlen,
			 "cannot read this machine's identity (/etc/machine-id, hostname)");
		return NULL;
	}
	os_name(os, sizeof os);
	json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "token", token, "hostname", host,
				 "machine_id", mid, "os", os, "kernel", u.release, "agent_version",
				 JITSU_VERSION);
	/* jitsud --enroll --group G: the endpoint's policy group. */
	if (body && group && group[0])
		json_object_set_new(body, "group", json_string(group));
	return body;
}

/* Shows the hub's fingerprint (seen by the helper) and asks, as ssh does;
 * no terminal, no. */
static int confirm_fingerprint(const char *url, char fp[HUBCLIENT_FP_LEN + 1], char *err,
			       size_t errlen)
{
	int r = hubcall_peer_fingerprint(url, fp, err, errlen);
	if (r < 0)
		return r;
	FILE *tty = fopen("/dev/tty", "r+e");
	if (!tty) {
		snprintf(err, errlen,
			 "the hub's certificate is %s; no terminal to confirm it: "
			 "give it with --fingerprint",
			 fp);
		return -EPERM;
	}
	fprintf(tty,
		"The hub's certificate SHA-256 fingerprint is\n  %s\n"
		"Compare it with what `jitsu-hub init` printed. Enroll with this hub (yes/no)? ",
		fp);
	fflush(tty);
	char answer[16] = "";
	if (!fgets(answer, sizeof answer, tty) || strcmp(answer, "yes\n") != 0) {
		fclose(tty);
		snprintf(err, errlen, "enrollment cancelled: fingerprint not confirmed");
		return -EPERM;
	}
	fclose(tty);
	return 0;
}

int hublink_enroll(const char *privsep_user, const char *statedir, const char *url,
		   const char *token, const char *fingerprint, const char *group, char *err,
		   size_t errlen)
{
	struct hublink l = {0};
	size_t blen = strlen(url);
	while (blen > 8 && url[blen - 1] == '/')
		blen--; /* "https://hub:8443/" names the same hub */
	if (blen >= sizeof l.url) {
		snprintf(err, errlen, "hub URL too long");
		return -EINVAL;
	}
	memcpy(l.url, url, blen);
	l.url[blen] = '\0';
	/* The network steps run as the privsep user, or not at all. */
	hubcall_quiet(); /* jitsud prints err */
	int r = hubcall_run_as_user(privsep_user, err, errlen);
	if (r < 0)
		return r;
	long status = 0;
	json_t *answer = NULL;
	r = fingerprint ? hubclient_fp_normalize(fingerprint, l.fingerprint)
			: confirm_fingerprint(l.url, l.fingerprint, err, errlen);
	if (r == -EINVAL && fingerprint)
		snprintf(err, errlen, "bad --fingerprint: expected SHA-256 as AB:CD:... or hex");
	if (r < 0)
		return r;
	json_t *body = enroll_body(token, group, err, errlen);
	if (!body)
		return -EIO;
	/* No endpoint id yet: the call goes without credentials. */
	r = hubcall(&l, "POST", "/api/v1/enroll", body, ENROLL_TIMEOUT_MS, -1, &status, &answer,
		    err, errlen);
	json_decref(body);
	if (r == 0 && status != 201)
		r = hubclient_error(status, answer, err, errlen);
	if (r == 0 &&
	    (hublink_copy_field(answer, "endpoint_id", l.endpoint_id, sizeof l.endpoint_id) ||
	     hublink_copy_field(answer, "credential", l.credential, sizeof l.credential) ||
	     !id_ok(l.endpoint_id) || !id_ok(l.credential))) {
		snprintf(err, errlen, "hub sent a malformed enrollment answer");
		r = -EPROTO;
	}
	/* The break-glass key (docs/breakglass.md): a hub too old to issue
	 * one leaves it out, and break-glass then refuses on this machine. */
	char bgkey[BREAKGLASS_KEY_HEX + 1] = "";
	uint8_t raw[BREAKGLASS_KEY_LEN];
	if (r == 0 && json_object_get(answer, "breakglass_key") &&
	    (hublink_copy_field(answer, "breakglass_key", bgkey, sizeof bgkey) ||
	     breakglass_key_from_hex(bgkey, raw) < 0)) {
		snprintf(err, errlen, "hub sent a malformed break-glass key");
		r = -EPROTO;
	}
	explicit_bzero(raw, sizeof raw);
	json_decref(answer);
	if (r < 0) {
		explicit_bzero(bgkey, sizeof bgkey);
		return r;
	}
	json_t *conf = json_pack("{s:s,s:s,s:s,s:s}", "url", l.url, "fingerprint", l.fingerprint,
				 "endpoint_id", l.endpoint_id, "credential", l.credential);
	int has_key = bgkey[0] != 0;
	if (conf && has_key)
		json_object_set_new(conf, "breakglass_key", json_string(bgkey));
	explicit_bzero(bgkey, sizeof bgkey);
	char *text = conf ? json_dumps(conf, JSON_INDENT(2)) : NULL;
	json_decref(conf);
	r = text ? save(statedir, text, err, errlen) : -ENOMEM;
	if (text)
		explicit_bzero(text, strlen(text));
	free(text);
	explicit_bzero(&l.credential, sizeof l.credential);
	if (r == 0)
		printf("enrolled: endpoint %s at %s (hub %s)\n", l.endpoint_id, l.url,
		       l.fingerprint);
	if (r == 0 && !has_key)
		printf("note: the hub issued no break-glass key: break-glass is unavailable "
		       "here\n");
	if (r == 0 && group && group[0])
		printf("policy group: %s\n", group);
	return r;
}
