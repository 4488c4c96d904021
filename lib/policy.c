/*
 * policy: parser, loader, evaluator and formatter of jitsu.conf(5).
 *
 * MUST rules (see also include/jitsu/policy.h):
 *  - The parser turns text into plain structs and nothing else; every error
 *    is reported with its line and the rest of the file is still checked.
 *  - A rule is stored only when its whole line parsed: a half-read rule
 *    must never grant anything.
 *  - policy_eval() is a loop over the rules with no I/O; the last match wins
 *    and no match is a deny.
 *  - policy_load() trusts only what fstat says about the opened fd.
 *  - policy_format_rule() output parses back to the same rule, byte for byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jitsu/policy.h"

#include "jitsu/digest.h"
#include "jitsu/resolve.h"
#include "jitsu/policy_lex.h"

#define FOR_MAX_SECS (7u * 24 * 60 * 60)
#define APPROVALS_MAX 10u /* the hub API's limit (docs/hub-api.md) */
#define DAY_MINUTES (24u * 60)

/* Parse results inside this file: 0, SYNTAX (already reported) or -ENOMEM. */
#define SYNTAX (-1)

struct parser {
	struct policy_lexer lx;
	struct policy_token tok;
	const char *file;
	policy_error_fn on_error;
	void *ctx;
	unsigned nerrors;
};

struct option_def {
	const char *name;
	int deny_ok; /* a match condition, so it means something on deny */
	int (*parse)(struct parser *ps, struct policy_rule *r);
};

static const char *const day_names[7] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat",
};

/* ---- small helpers ---------------------------------------------------- */

/* Appends a copy of s to the string vector *v of *n entries. */
static int strv_push(char ***v, size_t *n, const char *s)
{
	char *copy = strdup(s);

	if (!copy)
		return -ENOMEM;
	/* Capacity is the next power of two, so grow at 0 and at powers of two. */
	if ((*n & (*n - 1)) == 0) {
		size_t cap = *n ? *n * 2 : 1;
		char **nv = realloc(*v, cap * sizeof *nv);

		if (!nv) {
			free(copy);
			return -ENOMEM;
		}
		*v = nv;
	}
	(*v)[(*n)++] = copy;
	return 0;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void rule_clear(struct policy_rule *r)
{
	free(r->ident);
	free(r->target);
	free(r->cmd);
	free(r->cmd_canon);
	strv_free(r->args, r->nargs);
	strv_free(r->setenv, r->nsetenv);
	memset(r, 0, sizeof *r);
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Writes s into buf as 'text' for a message: cut short, unprintables as '?'. */
static const char *msg_word(const char *s, char *buf, size_t len)
{
	size_t n = 0, i;

	buf[n++] = '\'';
	for (i = 0; s[i] && n + 5 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == 40) {
			memcpy(buf + n, "...", 3);
			n += 3;
			break;
		}
		buf[n++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	buf[n++] = '\'';
	buf[n] = '\0';
	return buf;
}

/* ---- value parsers (pure) --------------------------------------------- */

/* Reads a decimal number in [lo, hi]; 0 or -1. */
static int parse_number(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	unsigned long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (!is_digit(*s))
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > hi)
			return -1;
	}
	if (v < lo)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Reads sha256:<64 hex digits> (hex in any case). */
static int parse_hash(const char *s, uint8_t hash[32])
{
	static const char prefix[] = "sha256:";

	if (strncmp(s, prefix, sizeof prefix - 1) != 0)
		return -1;
	s += sizeof prefix - 1;
	if (strlen(s) != 64)
		return -1;
	for (size_t i = 0; i < 32; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		hash[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/*
 * Reads a duration: a bare number of seconds, or number+unit groups with
 * units d, h, m, s in that order, each at most once ("1h30m").
 * Returns 0, -1 on bad syntax, -2 when zero or above 7 days.
 */
static int parse_duration(const char *s, unsigned *out)
{
	static const char units[] = "dhms";
	static const unsigned long long mult[] = {86400, 3600, 60, 1};
	unsigned long long total = 0;
	size_t next_unit = 0;

	if (!*s)
		return -1;
	while (*s) {
		unsigned long long n = 0;
		const char *u;

		if (!is_digit(*s))
			return -1;
		for (; is_digit(*s); s++) {
			n = n * 10 + (unsigned long long)(*s - '0');
			if (n > FOR_MAX_SECS)
				return -2;
		}
		if (!*s && next_unit == 0)
			u = units + 3; /* a bare number is seconds */
		else if (!*s || !(u = strchr(units + next_unit, *s)))
			return -1;
		else
			s++;
		total += n * mult[u - units];
		if (total > FOR_MAX_SECS)
			return -2;
		next_unit = (size_t)(u - units) + 1;
	}
	if (total == 0)
		return -2;
	*out = (unsigned)total;
	return 0;
}

/* Reads HH:MM; max_minutes bounds the result (1439 or 1440 for 24:00). */
static int parse_hhmm(const char *s, unsigned max_minutes, unsigned *out)
{
	unsigned h, m;

	if (!is_digit(s[0]) || !is_digit(s[1]) || s[2] != ':' || !is_digit(s[3]) || !is_digit(s[4]))
		return -1;
	h = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
	m = (unsigned)(s[3] - '0') * 10 + (unsigned)(s[4] - '0');
	if (m > 59 || h * 60 + m > max_minutes)
		return -1;
	*out = h * 60 + m;
	return 0;
}

/* Reads HH:MM-HH:MM; from == to is refused (an empty or ambiguous window). */
static int parse_hours(const char *s, unsigned *from, unsigned *to)
{
	if (strlen(s) != 11 || s[5] != '-')
		return -1;
	if (parse_hhmm(s, DAY_MINUTES - 1, from) < 0 || parse_hhmm(s + 6, DAY_MINUTES, to) < 0 ||
	    *from == *to)
		return -1;
	return 0;
}

/* Day name of exactly n bytes, any case; 0 = Sunday, or -1. */
static int day_index(const char *s, size_t n)
{
	if (n != 3)
		return -1;
	for (int d = 0; d < 7; d++) {
		size_t i;

		for (i = 0; i < 3; i++) {
			char c = s[i];

			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			if (c != day_names[d][i])
				break;
		}
		if (i == 3)
			return d;
	}
	return -1;
}

/* Reads a comma list of days and day ranges (ranges may wrap: fri-mon). */
static int parse_days(const char *s, unsigned *mask)
{
	*mask = 0;
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);
		const char *dash = memchr(s, '-', n);
		int a, b;

		if (dash) {
			a = day_index(s, (size_t)(dash - s));
			b = day_index(dash + 1, n - (size_t)(dash - s) - 1);
		} else {
			a = b = day_index(s, n);
		}
		if (a < 0 || b < 0)
			return -1;
		for (int d = a;; d = (d + 1) % 7) {
			*mask |= 1u << d;
			if (d == b)
				break;
		}
		if (!comma)
			return 0;
		s = comma + 1;
	}
}

/* NAME=value or -NAME, NAME as [A-Za-z_][A-Za-z0-9_]*; returns NAME's length or 0. */
static size_t setenv_name_len(const char *s)
{
	size_t i;

	if (*s == '-')
		s++;
	for (i = 0; s[i]; i++) {
		char c = s[i];
		int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';

		if (!alpha && !(i > 0 && is_digit(c)))
			break;
	}
	return i;
}

static int setenv_entry_ok(const char *s)
{
	size_t n = setenv_name_len(s);

	if (n == 0)
		return 0;
	if (s[0] == '-')
		return s[n + 1] == '\0';
	return s[n] == '=';
}

static const char *setenv_name(const char *s)
{
	return s[0] == '-' ? s + 1 : s;
}

/* ---- parser plumbing -------------------------------------------------- */

static void parse_next(struct parser *ps)
{
	policy_lex_next(&ps->lx, &ps->tok);
}

/* Describes the current token for a message. */
static const char *tok_desc(const struct policy_token *t, char *buf, size_t len)
{
	switch (t->type) {
	case POLICY_TOK_EOF: return "end of file";
	case POLICY_TOK_EOL: return "end of line";
	case POLICY_TOK_LBRACE: return "'{'";
	case POLICY_TOK_RBRACE: return "'}'";
	default: return msg_word(t->text, buf, len);
	}
}

/*
 * Reports one error at line. A lexer error at the current token wins: it is
 * the real cause of whatever the grammar did not expect. Returns SYNTAX.
 */
static int parse_fail_at(struct parser *ps, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int parse_fail_at(struct parser *ps, unsigned line, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (ps->tok.type == POLICY_TOK_ERROR) {
		snprintf(msg, sizeof msg, "%s", ps->tok.err);
		line = ps->tok.line;
	} else {
		va_start(ap, fmt);
		// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
	}
	ps->nerrors++;
	if (ps->on_error && ps->nerrors <= POLICY_MAX_ERRORS)
		ps->on_error(ps->ctx, ps->file, line, msg);
	return SYNTAX;
}

#define parse_fail(ps, ...) parse_fail_at((ps), (ps)->tok.line, __VA_ARGS__)

/* Moves to the value after an option keyword; it must be a word. */
static const char *parse_value(struct parser *ps, const char *opt)
{
	char d[64];

	parse_next(ps);
	if (ps->tok.type != POLICY_TOK_WORD) {
		parse_fail(ps, "option '%s' needs a value, got %s", opt,
			   tok_desc(&ps->tok, d, sizeof d));
		return NULL;
	}
	return ps->tok.text;
}

/* ---- options ---------------------------------------------------------- */

static int opt_mfa(struct parser *ps, struct policy_rule *r)
{
	r->reqs |= POLICY_REQ_MFA;
	parse_next(ps);
	return 0;
}

static int opt_approval(struct parser *ps, struct policy_rule *r)
{
	r->reqs |= POLICY_REQ_APPROVAL; /* approvals stays 1 or what `approvals N` set */
	parse_next(ps);
	return 0;
}

static int opt_approvals(struct parser *ps, struct policy_rule *r)
{
	const char *v = parse_value(ps, "approvals");

	if (!v)
		return SYNTAX;
	if (parse_number(v, 1, APPROVALS_MAX, &r->approvals) < 0)
		return parse_fail(ps, "bad approvals: expected a number from 1 to %u",
				  APPROVALS_MAX);
	r->reqs |= POLICY_REQ_APPROVAL;
	parse_next(ps);
	return 0;
}

static int opt_reason(struct parser *ps, struct policy_rule *r)
{
	r->reqs |= POLICY_REQ_REASON;
	parse_next(ps);
	return 0;
}

static int opt_nobreakglass(struct parser *ps, struct policy_rule *r)
{
	r->nobreakglass = 1;
	parse_next(ps);
	return 0;
}

static int opt_hash(struct parser *ps, struct policy_rule *r)
{
	const char *v = parse_value(ps, "hash");

	if (!v)
		return SYNTAX;
	if (parse_hash(v, r->hash) < 0)
		return parse_fail(ps, "bad hash: expected sha256:<64 hex digits>");
	r->has_hash = 1;
	parse_next(ps);
	return 0;
}

static int opt_for(struct parser *ps, struct policy_rule *r)
{
	char d[64];
	const char *v = parse_value(ps, "for");
	int rc;

	if (!v)
		return SYNTAX;
	rc = parse_duration(v, &r->for_secs);
	if (rc == -2)
		return parse_fail(ps, "duration %s out of range (more than 0, at most 7d)",
				  msg_word(v, d, sizeof d));
	if (rc < 0)
		return parse_fail(ps, "bad duration %s: expected e.g. 90s, 15m, 1h30m or 1d",
				  msg_word(v, d, sizeof d));
	parse_next(ps);
	return 0;
}

static int opt_hours(struct parser *ps, struct policy_rule *r)
{
	char d[64];
	const char *v = parse_value(ps, "hours");

	if (!v)
		return SYNTAX;
	if (parse_hours(v, &r->hours_from, &r->hours_to) < 0)
		return parse_fail(ps, "bad hours %s: expected HH:MM-HH:MM, two different times",
				  msg_word(v, d, sizeof d));
	r->has_hours = 1;
	parse_next(ps);
	return 0;
}

static int opt_days(struct parser *ps, struct policy_rule *r)
{
	char d[64];
	const char *v = parse_value(ps, "days");

	if (!v)
		return SYNTAX;
	if (parse_days(v, &r->days_mask) < 0)
		return parse_fail(ps, "bad days %s: expected e.g. mon-fri or sat,sun",
				  msg_word(v, d, sizeof d));
	parse_next(ps);
	return 0;
}

static int setenv_has(const struct policy_rule *r, const char *entry)
{
	const char *name = setenv_name(entry);
	size_t n = setenv_name_len(entry);

	for (size_t i = 0; i < r->nsetenv; i++) {
		const char *other = setenv_name(r->setenv[i]);

		if (setenv_name_len(r->setenv[i]) == n && memcmp(other, name, n) == 0)
			return 1;
	}
	return 0;
}

static int opt_setenv(struct parser *ps, struct policy_rule *r)
{
	char d[64];

	parse_next(ps);
	if (ps->tok.type != POLICY_TOK_LBRACE)
		return parse_fail(ps, "expected '{' after 'setenv', got %s",
				  tok_desc(&ps->tok, d, sizeof d));
	for (parse_next(ps); ps->tok.type == POLICY_TOK_WORD; parse_next(ps)) {
		const char *e = ps->tok.text;

		if (!setenv_entry_ok(e))
			return parse_fail(ps, "bad setenv entry %s: expected NAME=value or -NAME",
					  msg_word(e, d, sizeof d));
		if (setenv_has(r, e))
			return parse_fail(ps, "duplicate setenv name in %s",
					  msg_word(e, d, sizeof d));
		if (r->nsetenv >= POLICY_MAX_SETENV)
			return parse_fail(ps, "too many setenv entries (max %d)",
					  POLICY_MAX_SETENV);
		if (strv_push(&r->setenv, &r->nsetenv, e) < 0)
			return -ENOMEM;
	}
	if (ps->tok.type != POLICY_TOK_RBRACE)
		return parse_fail(ps, "expected '}' to close 'setenv', got %s",
				  tok_desc(&ps->tok, d, sizeof d));
	parse_next(ps);
	return 0;
}

static const struct option_def options[] = {
	{"mfa", 0, opt_mfa},
	{"approval", 0, opt_approval},
	{"approvals", 0, opt_approvals},
	{"reason", 0, opt_reason},
	{"hash", 1, opt_hash},
	{"for", 0, opt_for},
	{"hours", 1, opt_hours},
	{"days", 1, opt_days},
	{"setenv", 0, opt_setenv},
	{"nobreakglass", 0, opt_nobreakglass},
};

#define NOPTIONS (sizeof options / sizeof options[0])

static const struct option_def *find_option(const struct policy_token *t)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (policy_lex_is_keyword(t, options[i].name))
			return &options[i];
	return NULL;
}

static int is_keyword_text(const char *s)
{
	static const char *const words[] = {"permit", "deny", "as", "cmd", "args"};

	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strcmp(s, words[i]) == 0)
			return 1;
	for (size_t i = 0; i < NOPTIONS; i++)
		if (strcmp(s, options[i].name) == 0)
			return 1;
	return 0;
}

/* An unquoted keyword cannot be a user, group or target name. */
static int is_reserved(const struct policy_token *t)
{
	return t->type == POLICY_TOK_WORD && !t->quoted && is_keyword_text(t->text);
}

static int parse_option(struct parser *ps, struct policy_rule *r, const struct option_def *opt,
			unsigned *seen)
{
	unsigned bit = 1u << (opt - options);

	if (*seen & bit)
		return parse_fail(ps, "duplicate option '%s'", opt->name);
	if (r->action == POLICY_DENY && !opt->deny_ok)
		return parse_fail(ps, "option '%s' makes no sense with deny", opt->name);
	*seen |= bit;
	return opt->parse(ps, r);
}

/* ---- rules ------------------------------------------------------------ */

static int parse_ident(struct parser *ps, struct policy_rule *r)
{
	struct policy_token *t = &ps->tok;
	const char *name = t->text;
	char d[64];
	unsigned line = t->line;
	int plain = !t->quoted;

	if (t->type != POLICY_TOK_WORD || is_reserved(t))
		return parse_fail(ps, "expected a user or :group, got %s",
				  tok_desc(t, d, sizeof d));
	if (name[0] == ':') {
		r->ident_is_group = 1;
		name++;
	}
	if (!*name)
		return parse_fail(ps, r->ident_is_group ? "empty group name" : "empty user name");
	r->ident = strdup(name);
	if (!r->ident)
		return -ENOMEM;
	msg_word(t->text, d, sizeof d);
	parse_next(ps);
	/* Two plain words before as/cmd: the first was meant as an option. */
	if (plain && t->type == POLICY_TOK_WORD && !is_reserved(t))
		return parse_fail_at(ps, line, "unknown option %s", d);
	return 0;
}

static int parse_args(struct parser *ps, struct policy_rule *r)
{
	r->has_args = 1;
	for (parse_next(ps); ps->tok.type == POLICY_TOK_WORD; parse_next(ps)) {
		if (r->nargs >= POLICY_MAX_ARGS)
			return parse_fail(ps, "too many args (max %d)", POLICY_MAX_ARGS);
		if (strv_push(&r->args, &r->nargs, ps->tok.text) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int parse_cmd(struct parser *ps, struct policy_rule *r)
{
	char d[64];

	parse_next(ps);
	if (ps->tok.type != POLICY_TOK_WORD)
		return parse_fail(ps, "expected a command path after 'cmd', got %s",
				  tok_desc(&ps->tok, d, sizeof d));
	if (ps->tok.text[0] != '/')
		return parse_fail(ps, "command path %s is not absolute",
				  msg_word(ps->tok.text, d, sizeof d));
	r->cmd = strdup(ps->tok.text);
	if (!r->cmd)
		return -ENOMEM;
	parse_next(ps);
	if (policy_lex_is_keyword(&ps->tok, "args"))
		return parse_args(ps, r);
	if (ps->tok.type == POLICY_TOK_WORD)
		return parse_fail(ps, "unexpected %s after the command (missing 'args'?)",
				  msg_word(ps->tok.text, d, sizeof d));
	return 0;
}

/* [as target] [cmd path [args ...]] and the end of the line. */
static int parse_tail(struct parser *ps, struct policy_rule *r)
{
	struct policy_token *t = &ps->tok;
	char d[64];
	int rc;

	if (policy_lex_is_keyword(t, "as")) {
		parse_next(ps);
		if (t->type != POLICY_TOK_WORD || is_reserved(t) || !t->text[0])
			return parse_fail(ps, "expected a target user after 'as', got %s",
					  tok_desc(t, d, sizeof d));
		r->target = strdup(t->text);
		if (!r->target)
			return -ENOMEM;
		parse_next(ps);
	}
	if (policy_lex_is_keyword(t, "args"))
		return parse_fail(ps, "'args' needs 'cmd'");
	if (policy_lex_is_keyword(t, "cmd") && (rc = parse_cmd(ps, r)) != 0)
		return rc;
	if (t->type == POLICY_TOK_EOL || t->type == POLICY_TOK_EOF)
		return 0;
	if (find_option(t))
		return parse_fail(ps, "option '%s' must come before the user or group", t->text);
	return parse_fail(ps, "unexpected %s", tok_desc(t, d, sizeof d));
}

/* permit|deny [options] identity [as target] [cmd path [args ...]] */
static int parse_rule(struct parser *ps, struct policy_rule *r)
{
	const struct option_def *opt;
	unsigned seen = 0;
	int rc;

	r->line = ps->tok.line;
	r->action = policy_lex_is_keyword(&ps->tok, "permit") ? POLICY_PERMIT : POLICY_DENY;
	r->approvals = 1;
	parse_next(ps);
	while ((opt = find_option(&ps->tok)) != NULL)
		if ((rc = parse_option(ps, r, opt, &seen)) != 0)
			return rc;
	if ((rc = parse_ident(ps, r)) != 0 || (rc = parse_tail(ps, r)) != 0)
		return rc;
	if (r->has_hash && !r->cmd)
		return parse_fail_at(ps, r->line, "'hash' needs 'cmd'");
	return 0;
}

static int rules_push(struct policy *p, struct policy_rule *r)
{
	size_t n = p->nrules;

	if ((n & (n - 1)) == 0) {
		size_t cap = n ? n * 2 : 1;
		struct policy_rule *nr = realloc(p->rules, cap * sizeof *nr);

		if (!nr)
			return -ENOMEM;
		p->rules = nr;
	}
	p->rules[p->nrules++] = *r;
	memset(r, 0, sizeof *r);
	return 0;
}

/* One logical line holding a rule; on SYNTAX the caller skips the rest. */
static int parse_line(struct parser *ps, struct policy *p)
{
	struct policy_rule r;
	char d[64];
	int rc;

	memset(&r, 0, sizeof r);
	if (!policy_lex_is_keyword(&ps->tok, "permit") && !policy_lex_is_keyword(&ps->tok, "deny"))
		return parse_fail(ps, "expected 'permit' or 'deny', got %s",
				  tok_desc(&ps->tok, d, sizeof d));
	rc = parse_rule(ps, &r);
	if (rc == 0 && p->nrules >= POLICY_MAX_RULES)
		rc = parse_fail_at(ps, r.line, "too many rules (max %d)", POLICY_MAX_RULES);
	if (rc == 0)
		rc = rules_push(p, &r);
	rule_clear(&r);
	return rc;
}

static int parse_all(struct parser *ps, struct policy *p)
{
	parse_next(ps);
	while (ps->tok.type != POLICY_TOK_EOF) {
		int rc;

		if (ps->tok.type == POLICY_TOK_EOL) {
			parse_next(ps);
			continue;
		}
		rc = parse_line(ps, p);
		if (rc == -ENOMEM)
			return rc;
		while (rc == SYNTAX && ps->tok.type != POLICY_TOK_EOL &&
		       ps->tok.type != POLICY_TOK_EOF)
			parse_next(ps);
	}
	return 0;
}

int policy_parse(const char *text, size_t len, const char *file, struct policy **out,
		 policy_error_fn on_error, void *ctx)
{
	struct parser *ps;
	struct policy *p;
	int rc;

	*out = NULL;
	if (len > POLICY_MAX_FILE)
		return -EFBIG;
	if (!text)
		text = "";
	if (!file)
		file = "(policy)";
	p = calloc(1, sizeof *p);
	ps = calloc(1, sizeof *ps); /* holds a POLICY_MAX_TOKEN buffer */
	if (!p || !ps || !(p->file = strdup(file))) {
		free(ps);
		policy_free(p);
		return -ENOMEM;
	}
	digest_sha256(text, len, p->sha256);
	policy_lex_init(&ps->lx, text, len);
	ps->file = p->file;
	ps->on_error = on_error;
	ps->ctx = ctx;
	rc = parse_all(ps, p);
	if (rc == 0 && ps->nerrors)
		rc = ps->nerrors > INT_MAX ? INT_MAX : (int)ps->nerrors;
	free(ps);
	if (rc != 0) {
		policy_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nrules; i++)
		rule_clear(&p->rules[i]);
	free(p->rules);
	free(p->file);
	free(p);
}

/* ---- loading ---------------------------------------------------------- */

__attribute__((format(printf, 5, 6))) static int
load_fail(const char *path, policy_error_fn on_error, void *ctx, int rc, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (on_error)
		on_error(ctx, path, 0, msg);
	return rc;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash && slash[1] ? slash + 1 : path;
}

/* A writable directory above the policy would let its owner swap the file:
 * checked on the real path of the opened file, as for binaries. */
static int check_dirs(const char *path, int fd, policy_error_fn on_error, void *ctx)
{
	char link[64], real[PATH_MAX], err[PATH_MAX + 128];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, real, sizeof real - 1);
	if (n <= 0 || (size_t)n >= sizeof real - 1)
		return load_fail(path, on_error, ctx, -EPERM, "cannot read the policy's real path");
	real[n] = '\0';
	if (resolve_check_ancestors(real, err, sizeof err) < 0)
		return load_fail(path, on_error, ctx, -EPERM, "%s", err);
	return 0;
}

/* Opens path without following a final symlink and checks what fstat says. */
static int load_open(const char *path, int trusted_only, policy_error_fn on_error, void *ctx,
		     int *fdp)
{
	const char *name = base_name(path);
	struct stat st;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		if (errno == ELOOP)
			return load_fail(path, on_error, ctx, rc, "%s is a symbolic link", name);
		return load_fail(path, on_error, ctx, rc, "%s", strerror(-rc));
	}
	if (fstat(fd, &st) < 0)
		rc = load_fail(path, on_error, ctx, -errno, "fstat: %s", strerror(errno));
	else if (!S_ISREG(st.st_mode))
		rc = load_fail(path, on_error, ctx, -EINVAL, "%s is not a regular file", name);
	else if (trusted_only && st.st_uid != 0)
		rc = load_fail(path, on_error, ctx, -EPERM, "%s is not owned by root", name);
	else if (trusted_only && (st.st_mode & 022))
		rc = load_fail(path, on_error, ctx, -EPERM, "%s is writable by group or others",
			       name);
	else if (st.st_size > POLICY_MAX_FILE)
		rc = load_fail(path, on_error, ctx, -EFBIG, "%s is too big (max %d bytes)", name,
			       POLICY_MAX_FILE);
	else if (trusted_only)
		rc = check_dirs(path, fd, on_error, ctx);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	*fdp = fd;
	return 0;
}

/* Reads all of fd, at most POLICY_MAX_FILE bytes; 0 or -errno (-EFBIG). */
static int load_read(int fd, char **out, size_t *outlen)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t got;

		if (n == cap) {
			char *nb = cap > POLICY_MAX_FILE ? NULL : realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				return cap > POLICY_MAX_FILE ? -EFBIG : -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int rc = -errno;

			free(buf);
			return rc;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n > POLICY_MAX_FILE) {
		free(buf);
		return -EFBIG;
	}
	*out = buf;
	*outlen = n;
	return 0;
}

int policy_load(const char *path, int trusted_only, struct policy **out, policy_error_fn on_error,
		void *ctx)
{
	char *text = NULL;
	size_t len = 0;
	int fd = -1, rc;

	*out = NULL;
	rc = load_open(path, trusted_only, on_error, ctx, &fd);
	if (rc < 0)
		return rc;
	rc = load_read(fd, &text, &len);
	close(fd);
	if (rc == -EFBIG)
		return load_fail(path, on_error, ctx, rc, "%s is too big (max %d bytes)",
				 base_name(path), POLICY_MAX_FILE);
	if (rc < 0)
		return load_fail(path, on_error, ctx, rc, "read: %s", strerror(-rc));
	rc = policy_parse(text, len, path, out, on_error, ctx);
	free(text);
	return rc;
}

int policy_canonicalize(struct policy *p)
{
	for (size_t i = 0; i < p->nrules; i++) {
		struct policy_rule *r = &p->rules[i];
		char *real;

		free(r->cmd_canon);
		r->cmd_canon = NULL;
		if (!r->cmd)
			continue;
		errno = 0;
		real = realpath(r->cmd, NULL);
		if (!real && errno == ENOMEM)
			return -ENOMEM;
		if (real && strcmp(real, r->cmd) != 0)
			r->cmd_canon = real;
		else
			free(real);
	}
	return 0;
}

/* ---- evaluation ------------------------------------------------------- */

int policy_rule_applies_to(const struct policy_rule *r, const char *user, const char *const *groups,
			   size_t ngroups)
{
	if (!r->ident)
		return 0;
	if (!r->ident_is_group)
		return user && strcmp(r->ident, user) == 0;
	for (size_t i = 0; i < ngroups; i++)
		if (groups && groups[i] && strcmp(r->ident, groups[i]) == 0)
			return 1;
	return 0;
}

static int cmd_matches(const struct policy_rule *r, const struct policy_request *req)
{
	if (!r->cmd)
		return 1;
	if (!req->cmd)
		return 0;
	return strcmp(r->cmd, req->cmd) == 0 ||
	       (r->cmd_canon && strcmp(r->cmd_canon, req->cmd) == 0);
}

static int args_match(const struct policy_rule *r, const struct policy_request *req)
{
	if (!r->has_args)
		return 1;
	if (req->nargs != r->nargs || (req->nargs && !req->args))
		return 0;
	for (size_t i = 0; i < r->nargs; i++)
		if (!req->args[i] || strcmp(r->args[i], req->args[i]) != 0)
			return 0;
	return 1;
}

/* Out-of-range weekdays or minutes never match a rule with a window. */
static int time_matches(const struct policy_rule *r, const struct policy_request *req)
{
	if (r->days_mask && (req->wday < 0 || req->wday > 6 || !(r->days_mask & (1u << req->wday))))
		return 0;
	if (!r->has_hours)
		return 1;
	if (req->minute >= DAY_MINUTES)
		return 0;
	if (r->hours_from < r->hours_to)
		return req->minute >= r->hours_from && req->minute < r->hours_to;
	return req->minute >= r->hours_from || req->minute < r->hours_to;
}

static int rule_matches(const struct policy_rule *r, const struct policy_request *req)
{
	if (!policy_rule_applies_to(r, req->user, req->groups, req->ngroups))
		return 0;
	if (r->target && (!req->target || strcmp(r->target, req->target) != 0))
		return 0;
	if (!cmd_matches(r, req) || !args_match(r, req))
		return 0;
	if (r->has_hash && (!req->sha256 || memcmp(r->hash, req->sha256, sizeof r->hash) != 0))
		return 0;
	return time_matches(r, req);
}

void policy_eval(const struct policy *p, const struct policy_request *req,
		 struct policy_decision *out)
{
	const struct policy_rule *last = NULL;

	for (size_t i = 0; p && i < p->nrules; i++)
		if (rule_matches(&p->rules[i], req))
			last = &p->rules[i];
	out->rule = last;
	out->action = last ? last->action : POLICY_DENY;
	out->reqs = last && last->action == POLICY_PERMIT ? last->reqs : 0;
}

/* ---- formatting ------------------------------------------------------- */

/* An snprintf-like sink: counts every byte, stores what fits. */
struct fmt {
	char *buf;
	size_t len;
	size_t pos;
};

static void fmt_putc(struct fmt *f, char c)
{
	if (f->len && f->pos < f->len - 1)
		f->buf[f->pos] = c;
	f->pos++;
}

static void fmt_str(struct fmt *f, const char *s)
{
	while (*s)
		fmt_putc(f, *s++);
}

static int fmt_end(struct fmt *f)
{
	if (f->len)
		f->buf[f->pos < f->len ? f->pos : f->len - 1] = '\0';
	return f->pos > INT_MAX ? -1 : (int)f->pos;
}

static int word_needs_quotes(const char *s, int keyword_matters)
{
	if (!*s || (keyword_matters && is_keyword_text(s)))
		return 1;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c == 0x7f || strchr("\"\\#{}", c))
			return 1;
	}
	return 0;
}

/*
 * Writes a blank and then prefix+s as one word that the lexer reads back
 * unchanged: bare when safe, else in double quotes with `"`, `\`, CR and
 * LF escaped by a backslash. prefix is plain text (":" for a group).
 */
static void fmt_word(struct fmt *f, const char *prefix, const char *s, int keyword_matters)
{
	fmt_putc(f, ' ');
	if (!word_needs_quotes(s, keyword_matters && !*prefix)) {
		fmt_str(f, prefix);
		fmt_str(f, s);
		return;
	}
	fmt_putc(f, '"');
	fmt_str(f, prefix);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\' || *s == '\n' || *s == '\r')
			fmt_putc(f, '\\');
		fmt_putc(f, *s);
	}
	fmt_putc(f, '"');
}

static void fmt_duration(struct fmt *f, unsigned secs)
{
	static const unsigned mult[] = {86400, 3600, 60, 1};
	static const char units[] = "dhms";
	char num[16];

	for (size_t i = 0; i < 4; i++) {
		if (secs < mult[i])
			continue;
		snprintf(num, sizeof num, "%u%c", secs / mult[i], units[i]);
		fmt_str(f, num);
		secs %= mult[i];
	}
}

/* Days in the order mon..sun; runs of three or more become ranges. */
static void fmt_days(struct fmt *f, unsigned mask)
{
	const char *sep = "";
	int i = 0;

	/* Position i runs mon (0) .. sun (6), which is weekday (i + 1) % 7. */
	while (i < 7) {
		int j = i;

		if (!(mask & (1u << ((i + 1) % 7)))) {
			i++;
			continue;
		}
		while (j < 6 && (mask & (1u << ((j + 2) % 7))))
			j++;
		fmt_str(f, sep);
		sep = ",";
		if (j - i >= 2) {
			fmt_str(f, day_names[(i + 1) % 7]);
			fmt_putc(f, '-');
			fmt_str(f, day_names[(j + 1) % 7]);
		} else {
			for (int k = i; k <= j; k++) {
				fmt_str(f, k == i ? "" : ",");
				fmt_str(f, day_names[(k + 1) % 7]);
			}
		}
		i = j + 1;
	}
}

static void fmt_options(struct fmt *f, const struct policy_rule *r)
{
	char num[40];

	if (r->reqs & POLICY_REQ_MFA)
		fmt_str(f, " mfa");
	if ((r->reqs & POLICY_REQ_APPROVAL) && r->approvals <= 1)
		fmt_str(f, " approval");
	if ((r->reqs & POLICY_REQ_APPROVAL) && r->approvals > 1) {
		snprintf(num, sizeof num, " approvals %u", r->approvals);
		fmt_str(f, num);
	}
	if (r->reqs & POLICY_REQ_REASON)
		fmt_str(f, " reason");
	if (r->nobreakglass)
		fmt_str(f, " nobreakglass");
	if (r->has_hash) {
		fmt_str(f, " hash sha256:");
		for (size_t i = 0; i < sizeof r->hash; i++) {
			snprintf(num, sizeof num, "%02x", r->hash[i]);
			fmt_str(f, num);
		}
	}
	if (r->for_secs) {
		fmt_str(f, " for ");
		fmt_duration(f, r->for_secs);
	}
	if (r->has_hours) {
		snprintf(num, sizeof num, " hours %02u:%02u-%02u:%02u", r->hours_from / 60,
			 r->hours_from % 60, r->hours_to / 60, r->hours_to % 60);
		fmt_str(f, num);
	}
	if (r->days_mask) {
		fmt_str(f, " days ");
		fmt_days(f, r->days_mask);
	}
}

int policy_format_rule(const struct policy_rule *r, char *buf, size_t len)
{
	struct fmt f = {buf, len, 0};

	if (!r->ident)
		return -1;
	fmt_str(&f, r->action == POLICY_PERMIT ? "permit" : "deny");
	fmt_options(&f, r);
	if (r->nsetenv) {
		fmt_str(&f, " setenv {");
		for (size_t i = 0; i < r->nsetenv; i++)
			fmt_word(&f, "", r->setenv[i], 0);
		fmt_str(&f, " }");
	}
	fmt_word(&f, r->ident_is_group ? ":" : "", r->ident, 1);
	if (r->target) {
		fmt_str(&f, " as");
		fmt_word(&f, "", r->target, 1);
	}
	if (r->cmd) {
		fmt_str(&f, " cmd");
		fmt_word(&f, "", r->cmd, 1);
	}
	if (r->cmd && r->has_args) {
		fmt_str(&f, " args");
		for (size_t i = 0; i < r->nargs; i++)
			fmt_word(&f, "", r->args[i], 0);
	}
	return fmt_end(&f);
}

int policy_format_decision(const struct policy_decision *d, char *buf, size_t len)
{
	unsigned reqs = d->action == POLICY_PERMIT ? d->reqs : 0;

	if (d->action != POLICY_PERMIT)
		return snprintf(buf, len, "deny");
	return snprintf(buf, len, "permit%s%s%s", (reqs & POLICY_REQ_MFA) ? " mfa" : "",
			(reqs & POLICY_REQ_APPROVAL) ? " approval" : "",
			(reqs & POLICY_REQ_REASON) ? " reason" : "");
}
