/*
 * trail: jitsud's audit records. The MUST rules are in trail.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jitsu/audit.h"
#include "jitsu/log.h"
#include "jitsu/resolve.h"
#include "ship.h"
#include "trail.h"

#define TRAIL_LINE 4096

/* The shipper's place: retention keeps what the hub does not have yet. */
static uint64_t unshipped(const void *arg)
{
	const struct jitsud_config *cfg = arg;
	return ship_hold_seq(cfg->state_dir);
}

int trail_open(struct jitsud_ctx *ctx, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct audit_opts o = {
		.max_file_size = ctx->cfg->audit_rotate,
		.keep_files = ctx->cfg->audit_keep,
		.hold = unshipped,
		.hold_arg = ctx->cfg,
	};
	snprintf(dir, sizeof dir, "%s/audit", ctx->cfg->state_dir);
	return audit_open(dir, &o, &ctx->audit, err, errlen);
}

/* Appends and mirrors one record; fields is consumed. */
static int append(struct audit_log *l, const char *event, json_t *fields, unsigned flags, char *err,
		  size_t errlen)
{
	uint64_t seq = 0;
	if (!fields)
		return -ENOMEM;
	int r = audit_append_flags(l, event, fields, flags, &seq, err, errlen);
	if (r == 0) {
		char line[TRAIL_LINE];
		json_object_set_new(fields, "event", json_string(event));
		json_object_set_new(fields, "seq", json_integer((json_int_t)seq));
		audit_record_format(fields, line, sizeof line);
		log_info("audit %s", line);
	} else {
		log_err("%s", err);
	}
	json_decref(fields);
	return r;
}

void trail_daemon(struct jitsud_ctx *ctx, const char *event, json_t *extra)
{
	char err[512];
	json_t *f = extra ? extra : json_object();
	if (f) {
		char hex[65];
		resolve_hex(ctx->policy->sha256, sizeof ctx->policy->sha256, hex);
		json_object_set_new(f, "policy", audit_record_str(ctx->policy->file));
		json_object_set_new(f, "policy_sha256", json_string(hex));
		json_object_set_new(f, "policy_version", json_string(ctx->policy_version));
		json_object_set_new(f, "daemon_pid", json_integer(getpid()));
		json_object_set_new(f, "version", json_string(JITSU_VERSION));
	}
	append(ctx->audit, event, f, 0, err, sizeof err);
}

/* Who asked, and the policy that answers them, for every session record:
 * a connection process keeps the policy it was forked with to its end. */
static json_t *who(const struct session *s)
{
	json_t *f = json_object();
	if (!f)
		return NULL;
	json_object_set_new(f, "user", audit_record_str(s->peer.user));
	json_object_set_new(f, "uid", json_integer(s->peer.uid));
	json_object_set_new(f, "client_pid", json_integer(s->peer.pid));
	json_object_set_new(f, "policy_version", json_string(s->ctx->policy_version));
	return f;
}

/* Fails closed: the user learns why the command will not run. */
static int closed(struct session *s, int r, const char *err)
{
	if (r < 0) {
		s->audit_failed = 1;
		session_refuse(s, PROTO_E_INTERNAL, "audit trail unavailable, refusing to run: %s",
			       err);
	}
	return r;
}

int trail_request(struct session *s)
{
	char err[512], cwd[PATH_MAX], link[64], tty[PATH_MAX] = "";
	json_t *f = who(s);
	if (!f)
		return closed(s, -ENOMEM, "out of memory");
	snprintf(link, sizeof link, "/proc/self/fd/%d", s->fds[3]);
	ssize_t n = readlink(link, cwd, sizeof cwd - 1);
	cwd[n > 0 ? n : 0] = '\0';
	if (s->tty_fd >= 0 && ttyname_r(s->tty_fd, tty, sizeof tty) != 0)
		tty[0] = '\0';
	json_object_set_new(f, "target",
			    audit_record_str(s->req.target[0] ? s->req.target : "root"));
	json_object_set_new(f, "argv",
			    audit_record_argv((int)s->req.argc, (char *const *)s->req.argv));
	json_object_set_new(f, "cwd", audit_record_str(cwd));
	json_object_set_new(f, "tty", audit_record_str(tty));
	json_object_set_new(f, "reason", audit_record_str(s->req.reason));
	return closed(s,
		      append(s->ctx->audit, AUDIT_EV_REQUEST, f, AUDIT_DEFER_SYNC, err, sizeof err),
		      err);
}

int trail_decision(struct session *s, const char *why)
{
	char err[512], rule[PATH_MAX + 16], hex[65];
	json_t *f = who(s);
	const struct policy *p = s->ctx->policy;
	int permit = !why && s->decision.action == POLICY_PERMIT;
	if (!f)
		return closed(s, -ENOMEM, "out of memory");
	json_object_set_new(f, "decision",
			    json_string(why      ? "refused"
					: permit ? "permit"
						 : "deny"));
	if (why)
		json_object_set_new(f, "why", audit_record_str(why));
	if (!why && s->decision.rule) {
		snprintf(rule, sizeof rule, "%s:%u", p->file, s->decision.rule->line);
		json_object_set_new(f, "rule", audit_record_str(rule));
	}
	if (s->bin.path[0]) {
		json_object_set_new(f, "binary", audit_record_str(s->bin.path));
		if (s->sha256_hex[0])
			json_object_set_new(f, "binary_sha256", json_string(s->sha256_hex));
	}
	resolve_hex(p->sha256, sizeof p->sha256, hex);
	json_object_set_new(f, "policy_sha256", json_string(hex));
	int r = append(s->ctx->audit, AUDIT_EV_DECISION, f, permit ? AUDIT_DEFER_SYNC : 0, err,
		       sizeof err);
	return permit ? closed(s, r, err) : r;
}

int trail_refused(struct session *s, const char *why)
{
	char err[512];
	json_t *f = who(s);
	if (f)
		json_object_set_new(f, "why", audit_record_str(why));
	return append(s->ctx->audit, "refused", f, 0, err, sizeof err);
}

int trail_event(struct session *s, const char *event, json_t *fields, char *err, size_t errlen)
{
	json_t *f = who(s);
	if (f && fields)
		json_object_update(f, fields);
	json_decref(fields);
	return append(s->ctx->audit, event, f, 0, err, errlen);
}

int trail_mfa(struct session *s, const char *event, const char *detail)
{
	char err[512];
	json_t *f = who(s);
	if (f && detail)
		json_object_set_new(f, "detail", audit_record_str(detail));
	return append(s->ctx->audit, event, f, 0, err, sizeof err);
}

int trail_start(struct session *s, pid_t pid)
{
	char err[512];
	json_t *f = who(s);
	if (!f)
		return closed(s, -ENOMEM, "out of memory");
	json_object_set_new(f, "pid", json_integer(pid));
	json_object_set_new(f, "target", audit_record_str(s->target.user));
	json_object_set_new(f, "binary", audit_record_str(s->bin.path));
	return closed(s, append(s->ctx->audit, AUDIT_EV_START, f, 0, err, sizeof err), err);
}

int trail_exit(struct session *s, pid_t pid, int signalled, int value, int64_t duration_us)
{
	char err[512];
	json_t *f = who(s);
	if (!f)
		return -ENOMEM;
	json_object_set_new(f, "pid", json_integer(pid));
	json_object_set_new(f, signalled ? "signal" : "status", json_integer(value));
	json_object_set_new(f, "duration_us", json_integer(duration_us));
	return append(s->ctx->audit, AUDIT_EV_EXIT, f, 0, err, sizeof err);
}
