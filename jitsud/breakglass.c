/*
 * breakglass: `jitsu --break-glass -r REASON CMD` when the hub is out of
 * reach. jitsud shows a fresh challenge; an admin who can reach the hub
 * runs `jitsuctl breakglass respond HOST CHALLENGE` and reads the response
 * back; the response is an HMAC (lib/breakglass.c) keyed by the secret the
 * hub gave this endpoint at enrollment (hub.conf).
 *
 * MUST rules:
 *  - Break-glass never turns a deny into a permit, never waives a reason
 *    (it needs one even when the rule does not) and is refused outright by
 *    a rule with `nobreakglass`. It stands in only for what needs the hub:
 *    approval. Local MFA is still asked.
 *  - The challenge is made here, per request, and lives only in this
 *    connection's process: a response is good for this one command.
 *  - A response is consumed in the durable store (<statedir>/breakglass,
 *    root-only) before the command runs; a store that cannot be read or
 *    written refuses (fail closed), and a consumed challenge is refused.
 *  - Every outcome is an audit record "breakglass" (granted or refused);
 *    a grant that cannot be recorded refuses. The key and the typed
 *    response never reach the trail or the log, and are wiped after use.
 */
#include "breakglass.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hubcall.h"
#include "hublink.h"
#include "jitsu/audit.h"
#include "jitsu/breakglass.h"
#include "jitsu/log.h"
#include "trail.h"

#define BREAKGLASS_DIRNAME "breakglass"
#define BREAKGLASS_USED "used"
#define BREAKGLASS_LINE 40 /* "CHALLENGE WINDOW\n" with room */
#define BREAKGLASS_STORE_MAX (BREAKGLASS_USED_MAX * BREAKGLASS_LINE)

int breakglass_asked(const struct session *s)
{
	return (s->req.flags & PROTO_EXEC_F_BREAKGLASS) != 0;
}

/* One "breakglass" record. window 0: none known. Returns append's result. */
static int record(struct session *s, const char *outcome, const char *challenge, uint64_t window,
		  const char *why)
{
	char err[256], rule[PATH_MAX + 16] = "", shown[BREAKGLASS_GROUPED_MAX] = "";
	if (s->decision.rule)
		snprintf(rule, sizeof rule, "%s:%u", s->ctx->policy->file, s->decision.rule->line);
	if (challenge && challenge[0])
		breakglass_group(challenge, shown, sizeof shown);
	json_t *f = json_object();
	if (!f)
		return -ENOMEM;
	json_object_set_new(f, "outcome", json_string(outcome));
	json_object_set_new(f, "challenge", json_string(shown));
	json_object_set_new(f, "window", window ? json_integer((json_int_t)window) : json_null());
	json_object_set_new(f, "rule", audit_record_str(rule));
	json_object_set_new(f, "reason", audit_record_str(s->req.reason));
	json_object_set_new(f, "binary", audit_record_str(s->bin.path));
	if (why)
		json_object_set_new(f, "why", audit_record_str(why));
	return trail_event(s, AUDIT_EV_BREAKGLASS, f, err, sizeof err);
}

/* Records the refusal and refuses the user with the same words. */
static int refuse(struct session *s, const char *challenge, uint64_t window, const char *why)
{
	record(s, "refused", challenge, window, why);
	session_refuse(s, PROTO_E_DENIED, "break-glass refused: %s", why);
	return -1;
}

void breakglass_refused_deny(struct session *s)
{
	record(s, "refused", NULL, 0, "the policy denies this command");
}

/*
 * The endpoint id and break-glass key from hub.conf: 0, -ENOENT (not
 * enrolled), -ENOKEY (enrolled before break-glass existed), or -errno with
 * err.
 */
static int load_key(const char *statedir, char id[17], uint8_t key[BREAKGLASS_KEY_LEN], char *err,
		    size_t errlen)
{
	char buf[8192], hex[BREAKGLASS_KEY_HEX + 1] = "";
	int dfd = open(statedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -ENOENT;
	int n = hublink_read_small(dfd, "hub.conf", buf, sizeof buf, 1);
	close(dfd);
	if (n < 0) {
		snprintf(err, errlen, "%s/hub.conf is unusable: %s", statedir, strerror(-n));
		return n;
	}
	json_t *o = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	explicit_bzero(buf, sizeof buf);
	int bad = !json_is_object(o) || hublink_copy_field(o, "endpoint_id", id, 17) ||
		  strlen(id) != 16;
	int r = 0;
	if (!bad && !json_object_get(o, "breakglass_key"))
		r = -ENOKEY;
	else if (bad || hublink_copy_field(o, "breakglass_key", hex, sizeof hex) ||
		 breakglass_key_from_hex(hex, key) < 0)
		r = -EBADMSG;
	explicit_bzero(hex, sizeof hex);
	json_decref(o); /* jansson frees its own copy unwiped, as for the credential */
	if (r == -EBADMSG)
		snprintf(err, errlen, "%s/hub.conf is malformed", statedir);
	return r;
}

/* Reads the key (into key, or only to check it when key is NULL); 0, or
 * the user was refused and -1 is returned. */
static int key_or_refuse(struct session *s, char id[17], uint8_t *key)
{
	char err[512] = "";
	uint8_t probe[BREAKGLASS_KEY_LEN];
	int r = load_key(s->ctx->cfg->state_dir, id, key ? key : probe, err, sizeof err);
	explicit_bzero(probe, sizeof probe);
	if (r == -ENOENT)
		return refuse(s, NULL, 0, "this machine is not enrolled in a hub");
	if (r == -ENOKEY)
		return refuse(s, NULL, 0,
			      "this machine was enrolled before break-glass existed and has no "
			      "key: re-enroll it (jitsud --enroll)");
	if (r < 0)
		return refuse(s, NULL, 0, err);
	return 0;
}

int breakglass_fleet(const struct session *s)
{
	char path[PATH_MAX];
	struct stat st;
	int n = snprintf(path, sizeof path, "%s/hub.conf", s->ctx->cfg->state_dir);
	/* Anything but a clear "absent" counts as enrolled: the hub's MFA then
	 * refuses on the broken link, which fails closed. */
	return n < 0 || (size_t)n >= sizeof path || lstat(path, &st) == 0 || errno != ENOENT;
}

/*
 * Break-glass is for a hub that cannot be reached: with the hub answering,
 * one admin's phone call would otherwise stand in for its N-of-M approval
 * and its no-self-approval rule. 1 only when the hub answered this
 * endpoint's authenticated call (pinned TLS) with 200; a failure, a
 * timeout or any other answer leaves break-glass open (its own code is
 * still needed).
 */
static int hub_answers(struct session *s)
{
	struct hublink l;
	json_t *answer = NULL;
	long status = 0;
	char err[512];

	if (hublink_load(s->ctx->cfg->state_dir, &l, err, sizeof err) < 0)
		return 0;
	session_notice(s, "break-glass: checking that the hub cannot be reached...");
	int r = hubcall(&l, "GET", "/api/v1/whoami", NULL, BREAKGLASS_PROBE_MS, s->sock, &status,
			&answer, err, sizeof err);
	json_decref(answer);
	explicit_bzero(&l, sizeof l);
	return r == 0 && status == 200;
}

int breakglass_admit(struct session *s)
{
	char id[17];
	if (!s->req.reason[0])
		return refuse(s, NULL, 0,
			      "a reason is required: use jitsu --break-glass -r REASON");
	if (s->decision.rule && s->decision.rule->nobreakglass)
		return refuse(s, NULL, 0, "the rule forbids it (nobreakglass)");
	if (!(s->decision.reqs & POLICY_REQ_APPROVAL) &&
	    !((s->decision.reqs & POLICY_REQ_MFA) && breakglass_fleet(s))) {
		session_notice(s, "break-glass not needed: this rule does not need the hub");
		return 0;
	}
	/* Before any MFA prompt: a machine without a key cannot do it. */
	if (key_or_refuse(s, id, NULL) < 0)
		return -1;
	if (hub_answers(s))
		return refuse(s, NULL, 0,
			      "the hub can be reached: ask it (run the command without "
			      "--break-glass)");
	return 0;
}

/* Opens (creating) <statedir>/breakglass: a root-owned 0700 directory. */
static int store_dir(const char *statedir, char *err, size_t errlen)
{
	struct stat st;
	int sfd = open(statedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0) {
		snprintf(err, errlen, "%s: %s", statedir, strerror(errno));
		return -errno;
	}
	if (mkdirat(sfd, BREAKGLASS_DIRNAME, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s/%s: %s", statedir, BREAKGLASS_DIRNAME,
			 strerror(errno));
		close(sfd);
		return -EIO;
	}
	int dfd = openat(sfd, BREAKGLASS_DIRNAME, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(sfd);
	if (dfd < 0 || fstat(dfd, &st) < 0 || st.st_uid != 0 || (st.st_mode & 077)) {
		snprintf(err, errlen, "%s/%s must be a directory only root can use", statedir,
			 BREAKGLASS_DIRNAME);
		if (dfd >= 0)
			close(dfd);
		return -EPERM;
	}
	return dfd;
}

/*
 * Keeps the lines of text still within their acceptance (window + 1 >=
 * now's window) in out; -EEXIST if challenge is among them, -EBADMSG for
 * a line that is not "CHALLENGE WINDOW". *count gets the lines kept.
 */
static int store_filter(char *text, const char *challenge, uint64_t now_w, char *out, size_t outlen,
			size_t *count)
{
	size_t used = 0;
	*count = 0;
	out[0] = '\0';
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char c[BREAKGLASS_CHALLENGE_CHARS + 1], *end;
		if (strlen(line) < BREAKGLASS_CHALLENGE_CHARS + 2 ||
		    line[BREAKGLASS_CHALLENGE_CHARS] != ' ' ||
		    breakglass_parse(line, BREAKGLASS_CHALLENGE_CHARS, BREAKGLASS_CHALLENGE_CHARS,
				     c) < 0)
			return -EBADMSG;
		errno = 0;
		unsigned long long w = strtoull(line + BREAKGLASS_CHALLENGE_CHARS + 1, &end, 10);
		if (errno || *end || line[BREAKGLASS_CHALLENGE_CHARS + 1] == '-')
			return -EBADMSG;
		if (w + BREAKGLASS_ACCEPT_WINDOWS <= now_w)
			continue; /* its response is refused as expired anyway */
		if (!strcmp(c, challenge))
			return -EEXIST;
		int n = snprintf(out + used, outlen - used, "%s %llu\n", c, w);
		if (n < 0 || (size_t)n >= outlen - used)
			return -ENOSPC;
		used += (size_t)n;
		(*count)++;
	}
	return 0;
}

/* Rewrites <dir>/used with text: temp file, fsync, rename, fsync the dir. */
static int store_write(int dfd, const char *text, char *err, size_t errlen)
{
	size_t n = strlen(text);
	unlinkat(dfd, BREAKGLASS_USED ".tmp", 0);
	int fd = openat(dfd, BREAKGLASS_USED ".tmp",
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) < 0 || close(fd) < 0 ||
	    renameat(dfd, BREAKGLASS_USED ".tmp", dfd, BREAKGLASS_USED) < 0 || fsync(dfd) < 0) {
		snprintf(err, errlen, "cannot record the used challenge: %s", strerror(errno));
		return -EIO;
	}
	return 0;
}

/*
 * Consumes challenge (answered for window w) in the durable store, under
 * an exclusive lock: -EEXIST if it was consumed already.
 */
static int store_claim(const char *statedir, const char *challenge, uint64_t w, char *err,
		       size_t errlen)
{
	int dfd = store_dir(statedir, err, errlen);
	if (dfd < 0)
		return dfd;
	char *text = malloc(BREAKGLASS_STORE_MAX + 1), *out = malloc(BREAKGLASS_STORE_MAX + 1);
	size_t count = 0;
	int r = text && out ? 0 : -ENOMEM;
	if (r == 0 && flock(dfd, LOCK_EX) < 0)
		r = -errno;
	if (r == 0) {
		r = hublink_read_small(dfd, BREAKGLASS_USED, text, BREAKGLASS_STORE_MAX + 1, 1);
		if (r == -ENOENT)
			text[0] = '\0';
		r = r == -ENOENT ? 0 : r;
	}
	if (r >= 0)
		r = store_filter(text, challenge, breakglass_window(time(NULL)), out,
				 BREAKGLASS_STORE_MAX + 1, &count);
	if (r == 0 && count >= BREAKGLASS_USED_MAX)
		r = -ENOSPC;
	if (r == 0) {
		size_t used = strlen(out);
		snprintf(out + used, BREAKGLASS_STORE_MAX + 1 - used, "%s %llu\n", challenge,
			 (unsigned long long)w);
		r = store_write(dfd, out, err, errlen);
	} else if (r != -EEXIST) {
		snprintf(err, errlen, "%s/%s/%s is unusable: %s", statedir, BREAKGLASS_DIRNAME,
			 BREAKGLASS_USED, strerror(-r));
	}
	free(text);
	free(out);
	close(dfd); /* releases the lock */
	return r;
}

/* Shows the challenge and reads responses. 0 with *w the answered window,
 * or -1 after refusing. */
static int converse(struct session *s, const char *id, const uint8_t *key, const char *challenge,
		    uint64_t *w)
{
	char shown[BREAKGLASS_GROUPED_MAX], answer[256];
	breakglass_group(challenge, shown, sizeof shown);
	session_notice(s,
		       "break-glass: read this to an admin who can reach the hub:\n"
		       "    host %s (endpoint %s)  challenge %s\n"
		       "  they run: jitsuctl breakglass respond %s %s",
		       s->ctx->hostname, id, shown, id, shown);
	for (int i = 0; i < BREAKGLASS_TRIES; i++) {
		if (session_ask_within(s, "jitsu: break-glass response: ", 1, answer, sizeof answer,
				       BREAKGLASS_ANSWER_TIMEOUT) < 0)
			return refuse(s, challenge, breakglass_window(time(NULL)),
				      "no response given");
		uint64_t got = 0;
		enum breakglass_verdict v = breakglass_verify(key, challenge, id, answer,
							      strlen(answer), time(NULL), &got);
		explicit_bzero(answer, sizeof answer);
		if (v == BREAKGLASS_OK) {
			*w = got;
			return 0;
		}
		const char *why = breakglass_verdict_name(v);
		record(s, "refused", challenge, got ? got : breakglass_window(time(NULL)), why);
		log_warn("breakglass: user=%s %s for challenge %s", s->peer.user, why, shown);
		session_notice(s, "%s%s", why,
			       v == BREAKGLASS_EARLY ? ": check this machine's clock" : "");
	}
	session_refuse(s, PROTO_E_DENIED, "break-glass refused: %d wrong responses",
		       BREAKGLASS_TRIES);
	return -1;
}

int breakglass_require(struct session *s)
{
	char id[17] = "", err[512] = "", challenge[BREAKGLASS_CHALLENGE_CHARS + 1];
	uint8_t key[BREAKGLASS_KEY_LEN];
	uint64_t w = 0;

	if (key_or_refuse(s, id, key) < 0)
		return -1;
	if (breakglass_challenge_new(challenge) < 0) {
		explicit_bzero(key, sizeof key);
		return refuse(s, NULL, 0, "no randomness for a challenge");
	}
	int r = converse(s, id, key, challenge, &w);
	explicit_bzero(key, sizeof key);
	if (r < 0)
		return -1;
	r = store_claim(s->ctx->cfg->state_dir, challenge, w, err, sizeof err);
	if (r == -EEXIST)
		return refuse(s, challenge, w, "this challenge was used already");
	if (r < 0) {
		log_err("breakglass: %s", err);
		return refuse(s, challenge, w, err);
	}
	if (record(s, "granted", challenge, w, NULL) < 0) {
		s->audit_failed = 1;
		session_refuse(s, PROTO_E_INTERNAL,
			       "audit trail unavailable, refusing to run under break-glass");
		return -1;
	}
	log_warn("breakglass: user=%s granted %s (challenge consumed)", s->peer.user, s->bin.path);
	return 0;
}
