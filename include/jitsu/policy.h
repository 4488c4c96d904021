/*
 * policy: the jitsu.conf(5) language — lexer, parser, and a pure evaluator.
 *
 * MUST rules (the threat model of this module):
 *  - policy_parse() and policy_eval() do no I/O, touch no globals and never
 *    exit: tests and fuzzers call them directly on hostile bytes.
 *  - Every size is bounded (POLICY_MAX_*); input over a bound is an error with
 *    its file:line, never a truncation.
 *  - No match means deny. The last matching rule decides.
 *  - A rule that needs something this build cannot provide still parses; the
 *    caller fails closed on the requirement bits it cannot satisfy.
 *
 * Grammar (one rule per logical line; see jitsu.conf(5) for quoting):
 *   permit|deny [options] identity [as target] [cmd path [args [arg ...]]]
 *   identity: user | :group
 *   options:  mfa  approval  approvals N  reason  hash sha256:<hex>
 *             for <duration>  hours HH:MM-HH:MM  days mon-fri
 *             setenv { NAME=value ... }  nobreakglass
 */
#ifndef JITSU_POLICY_H
#define JITSU_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define POLICY_MAX_FILE (1024 * 1024) /* bytes in one policy file */
#define POLICY_MAX_RULES 4096
#define POLICY_MAX_TOKEN 4096 /* bytes in one word after unquoting */
#define POLICY_MAX_ARGS 256   /* words after `args` */
#define POLICY_MAX_SETENV 64  /* NAME=value pairs in one setenv block */
#define POLICY_MAX_ERRORS 100 /* the parser stops reporting after this */

enum policy_action { POLICY_DENY = 0, POLICY_PERMIT = 1 };

/* Requirement bits carried by a permit decision. */
#define POLICY_REQ_MFA 0x1u
#define POLICY_REQ_APPROVAL 0x2u
#define POLICY_REQ_REASON 0x4u

struct policy_rule {
	enum policy_action action;
	unsigned reqs;      /* POLICY_REQ_* */
	unsigned approvals; /* distinct approvers needed; 1 unless `approvals N` */
	int nobreakglass;   /* break-glass forbidden for this rule */
	char *ident;        /* user name, or group name when ident_is_group */
	int ident_is_group;
	char *target;    /* NULL: any target user (as in doas) */
	char *cmd;       /* NULL: any command; else an absolute path */
	char *cmd_canon; /* realpath of cmd, set by policy_canonicalize() */
	int has_args;    /* 1: args must equal exactly; 0: any args */
	char **args;
	size_t nargs;
	int has_hash;
	uint8_t hash[32];  /* pinned SHA-256 of the binary */
	unsigned for_secs; /* session time box; 0: not set */
	int has_hours;
	unsigned hours_from; /* minutes since local midnight, inclusive */
	unsigned hours_to;   /* exclusive; from > to wraps past midnight */
	unsigned days_mask;  /* bit d set: weekday d allowed (0 = Sunday); 0: any */
	char **setenv;       /* "NAME=value" strings */
	size_t nsetenv;
	unsigned line; /* line in the file where the rule starts */
};

struct policy {
	struct policy_rule *rules;
	size_t nrules;
	char *file;         /* the name given to policy_parse() */
	uint8_t sha256[32]; /* SHA-256 of the bytes parsed */
};

/* Called once per parse error, in file order. msg has no trailing newline. */
typedef void (*policy_error_fn)(void *ctx, const char *file, unsigned line, const char *msg);

/*
 * Parses len bytes of text (need not be NUL-terminated). file names the
 * source in error messages. On success returns 0 and stores a new policy in
 * *out (free with policy_free()). On syntax errors calls on_error for each
 * (if non-NULL), stores NULL and returns the number of errors (> 0).
 * Returns -ENOMEM on allocation failure, -EFBIG if len > POLICY_MAX_FILE.
 */
int policy_parse(const char *text, size_t len, const char *file, struct policy **out,
		 policy_error_fn on_error, void *ctx);

/*
 * Opens and reads path, then parses it. When trusted_only is set the opened
 * file must be a regular file owned by root and not group- or
 * world-writable (checked with fstat on the opened fd, symlinks refused):
 * otherwise it is rejected with one error naming why. I/O and permission
 * problems are reported through on_error with line 0 and return -errno (or
 * -EPERM for unsafe permissions); parse errors return their count as above.
 */
int policy_load(const char *path, int trusted_only, struct policy **out, policy_error_fn on_error,
		void *ctx);

/*
 * Fills cmd_canon of each rule with realpath(cmd) when that exists and
 * differs from cmd, so a rule naming /bin/true matches /usr/bin/true on a
 * merged-/usr system. Touches the file system; call it after loading, not
 * from evaluation. Returns 0 or -ENOMEM.
 */
int policy_canonicalize(struct policy *p);

void policy_free(struct policy *p);

/* What the evaluator is asked. All strings are NUL-terminated. */
struct policy_request {
	const char *user;          /* the caller's login name */
	const char *const *groups; /* names of all the caller's groups */
	size_t ngroups;
	const char *target;      /* target user name */
	const char *cmd;         /* resolved absolute path of the binary */
	const char *const *args; /* argv[1..]: arguments only */
	size_t nargs;
	const uint8_t *sha256; /* SHA-256 of the binary, or NULL if unknown */
	int wday;              /* local weekday, 0 = Sunday */
	unsigned minute;       /* local minutes since midnight, 0..1439 */
};

struct policy_decision {
	enum policy_action action;      /* POLICY_DENY when no rule matched */
	const struct policy_rule *rule; /* the deciding rule, or NULL */
	unsigned reqs;                  /* POLICY_REQ_* of the deciding permit rule */
};

/* Pure: evaluates req against p. Never fails; no match yields a deny. */
void policy_eval(const struct policy *p, const struct policy_request *req,
		 struct policy_decision *out);

/*
 * Pure: does rule r's identity apply to the caller (user name or one of the
 * groups)? Used by `jitsu -l` to list the caller's rules.
 */
int policy_rule_applies_to(const struct policy_rule *r, const char *user, const char *const *groups,
			   size_t ngroups);

/*
 * Writes rule r back as one line of policy text, quoted so that parsing it
 * again yields the same rule. Returns the length that would have been
 * written (as snprintf), or -1.
 */
int policy_format_rule(const struct policy_rule *r, char *buf, size_t len);

/*
 * Writes the `jitsu -C` line for d: "deny", or "permit" followed by the
 * requirements in the order mfa, approval, reason. Returns as snprintf.
 */
int policy_format_decision(const struct policy_decision *d, char *buf, size_t len);

#endif
