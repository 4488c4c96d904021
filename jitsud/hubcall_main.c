/*
 * jitsu-hubcall: jitsud's hub client, as a program of its own (see
 * hubcall.h for why).
 *
 *   jitsu-hubcall call
 *       reads one JSON request on stdin: {"url","fingerprint","auth",
 *       "method","path","body"?,"timeout_ms"}; makes the call with the hub
 *       pinned; writes {"status":N,"answer":{...}} or {"error":"..."} on
 *       stdout. An empty "auth" sends no Authorization (enrollment).
 *   jitsu-hubcall fingerprint
 *       reads {"url"}; completes a TLS handshake with the hub (within
 *       5 s), trusting nothing, and answers {"status":0,"answer":
 *       {"fingerprint":"AB:CD:..."}}: jitsud --enroll shows it to be
 *       confirmed before it pins it.
 *
 * jitsud runs it as its privsep user (--privsep-user), also for
 * enrollment; in both modes it confines itself with seccomp once the
 * request is read (hubcall_sandbox.h), reporting a refused system call on
 * HUBCALL_REPORT_FD when that is a pipe.
 *
 * Exit status: 0 answered (whatever the hub said), 1 failed, 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hubcall_sandbox.h"
#include "jitsu/hubclient.h"

#define CALL_MAX_INPUT (2 * 1024 * 1024)

static int reply_error(const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (t)
		puts(t);
	free(t);
	json_decref(o);
	return 1;
}

static int read_request(json_t **req)
{
	char *buf = malloc(CALL_MAX_INPUT + 1);
	size_t len = 0;
	ssize_t n;
	if (!buf)
		return -ENOMEM;
	while (len < CALL_MAX_INPUT && (n = read(0, buf + len, CALL_MAX_INPUT - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	*req = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	explicit_bzero(buf, len);
	free(buf);
	return json_is_object(*req) ? 0 : -EINVAL;
}

static const char *str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

/* The report pipe jitsud gives, or -1 (run by hand: no report). */
static int report_fd(void)
{
	struct stat st;
	return fstat(HUBCALL_REPORT_FD, &st) == 0 && S_ISFIFO(st.st_mode) ? HUBCALL_REPORT_FD : -1;
}

/* Writes {"status":status,"answer":answer} (stealing answer). */
static int reply(long status, json_t *answer)
{
	json_t *o = json_pack("{s:I,s:o}", "status", (json_int_t)status, "answer", answer);
	char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!t)
		return reply_error("out of memory");
	puts(t);
	free(t);
	return 0;
}

static int fingerprint_main(void)
{
	json_t *req = NULL;
	char err[512], fp[HUBCLIENT_FP_LEN + 1];
	if (read_request(&req) < 0) {
		json_decref(req);
		return reply_error("malformed request to jitsu-hubcall");
	}
	if (hubcall_sandbox(report_fd(), err, sizeof err) < 0) {
		json_decref(req);
		return reply_error(err);
	}
	int r = hubclient_peer_fingerprint(str(req, "url"), fp, err, sizeof err);
	json_decref(req);
	if (r < 0)
		return reply_error(err);
	return reply(0, json_pack("{s:s}", "fingerprint", fp));
}

static int call_main(void)
{
	json_t *req = NULL, *answer = NULL;
	char err[512];
	long status = 0;
	struct hubclient c = {.cancel_fd = -1};
	if (read_request(&req) < 0) {
		json_decref(req);
		return reply_error("malformed request to jitsu-hubcall");
	}
	c.url = str(req, "url");
	c.timeout_ms = (long)json_integer_value(json_object_get(req, "timeout_ms"));
	snprintf(c.auth, sizeof c.auth, "%s", str(req, "auth"));
	if (hubclient_fp_normalize(str(req, "fingerprint"), c.fingerprint) < 0) {
		json_decref(req);
		return reply_error("no valid hub fingerprint in the hub link");
	}
	/* Everything is in hand: from here on, only what one call needs. */
	if (hubcall_sandbox(report_fd(), err, sizeof err) < 0) {
		explicit_bzero(c.auth, sizeof c.auth);
		json_decref(req);
		return reply_error(err);
	}
	int r = hubclient_call(&c, str(req, "method"), str(req, "path"),
			       json_object_get(req, "body"), &status, &answer, err, sizeof err);
	explicit_bzero(c.auth, sizeof c.auth);
	json_decref(req);
	if (r < 0)
		return reply_error(err);
	return reply(status, answer);
}

int main(int argc, char **argv)
{
	/* Run as jitsud's privsep user, shared with its connection children:
	 * no other process of that user may attach to us and read the
	 * endpoint credential that arrives on stdin next. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return reply_error("cannot make jitsu-hubcall undumpable");
	if (argc == 2 && !strcmp(argv[1], "call"))
		return call_main();
	if (argc == 2 && !strcmp(argv[1], "fingerprint"))
		return fingerprint_main();
	fprintf(stderr, "usage: jitsu-hubcall call|fingerprint < request\n");
	return 2;
}
