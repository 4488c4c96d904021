/*
 * test_policy: the jitsu.conf(5) lexer, parser, evaluator, formatter and
 * loader, driven through the public interface only.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "jitsu/policy.h"

/* ---- helpers ---------------------------------------------------------- */

static void *xmalloc(size_t n)
{
	void *p = calloc(1, n);

	if (!p)
		abort(); /* so the compiler knows the result is never NULL */
	return p;
}

#define MAX_SEEN 16

struct errors {
	unsigned n;
	unsigned line[MAX_SEEN];
	char msg[MAX_SEEN][256];
	char file[64];
};

static void on_error(void *ctx, const char *file, unsigned line, const char *msg)
{
	struct errors *e = ctx;

	if (e->n < MAX_SEEN) {
		e->line[e->n] = line;
		snprintf(e->msg[e->n], sizeof e->msg[0], "%s", msg);
		snprintf(e->file, sizeof e->file, "%s", file);
	}
	e->n++;
}

static struct policy *parse_len(const char *text, size_t len)
{
	struct errors e = {0};
	struct policy *p = NULL;
	int rc = policy_parse(text, len, "test.conf", &p, on_error, &e);

	if (rc != 0)
		fprintf(stderr, "unexpected error %d: line %u: %s\n", rc, e.line[0], e.msg[0]);
	assert_int_equal(rc, 0);
	assert_int_equal(e.n, 0);
	assert_non_null(p);
	return p;
}

static struct policy *parse(const char *text)
{
	return parse_len(text, strlen(text));
}

/* Parses text that must fail; returns the error count, errors in *e. */
static int parse_bad_len(const char *text, size_t len, struct errors *e)
{
	struct policy *p = (struct policy *)1;
	int rc;

	memset(e, 0, sizeof *e);
	rc = policy_parse(text, len, "test.conf", &p, on_error, e);
	assert_true(rc > 0);
	assert_null(p);
	return rc;
}

static int parse_bad(const char *text, struct errors *e)
{
	return parse_bad_len(text, strlen(text), e);
}

/* Asserts that text fails with exactly one error at line containing want. */
static void expect_error(const char *text, unsigned line, const char *want)
{
	struct errors e;

	assert_int_equal(parse_bad(text, &e), 1);
	assert_int_equal(e.n, 1);
	if (!strstr(e.msg[0], want))
		fprintf(stderr, "for %s: got '%s', want '%s'\n", text, e.msg[0], want);
	assert_non_null(strstr(e.msg[0], want));
	assert_int_equal(e.line[0], line);
}

static struct policy_request request(void)
{
	struct policy_request r = {
		.user = "alice",
		.groups = NULL,
		.ngroups = 0,
		.target = "root",
		.cmd = "/usr/bin/apt",
		.args = NULL,
		.nargs = 0,
		.sha256 = NULL,
		.wday = 1,
		.minute = 600,
	};
	return r;
}

static struct policy_decision eval(const struct policy *p, const struct policy_request *req)
{
	struct policy_decision d;

	memset(&d, 0xa5, sizeof d);
	policy_eval(p, req, &d);
	return d;
}

/* Formats rule i of text and returns it in a static buffer. */
static const char *format_one(const char *text)
{
	static char buf[8192];
	struct policy *p = parse(text);
	int n;

	assert_int_equal(p->nrules, 1);
	n = policy_format_rule(&p->rules[0], buf, sizeof buf);
	assert_int_equal(n, (int)strlen(buf));
	policy_free(p);
	return buf;
}

/* ---- lexer ------------------------------------------------------------ */

static void lex_blanks_separate_words(void **state)
{
	struct policy *p = parse("  permit\t alice \t as   root  \n");

	assert_int_equal(p->nrules, 1);
	assert_string_equal(p->rules[0].ident, "alice");
	assert_string_equal(p->rules[0].target, "root");
	policy_free(p);
}

static void lex_double_quotes_group_a_word(void **state)
{
	struct policy *p = parse("permit alice cmd \"/opt/my tool\" args \"a b\" c\"d e\"f\n");
	const struct policy_rule *r = &p->rules[0];

	assert_string_equal(r->cmd, "/opt/my tool");
	assert_int_equal(r->nargs, 2);
	assert_string_equal(r->args[0], "a b");
	assert_string_equal(r->args[1], "cd ef");
	policy_free(p);
}

static void lex_escapes_inside_quotes(void **state)
{
	struct policy *p =
		parse("permit alice cmd /bin/echo args \"a\\\"b\" \"c\\\\d\" \"\\x\" \"#{}\"");
	const struct policy_rule *r = &p->rules[0];

	assert_int_equal(r->nargs, 4);
	assert_string_equal(r->args[0], "a\"b");
	assert_string_equal(r->args[1], "c\\d");
	assert_string_equal(r->args[2], "x");
	assert_string_equal(r->args[3], "#{}");
	policy_free(p);
}

static void lex_backslash_outside_quotes(void **state)
{
	struct policy *p = parse("permit alice cmd /bin/echo args a\\ b \\#x \\{ \\\"");
	const struct policy_rule *r = &p->rules[0];

	assert_int_equal(r->nargs, 4);
	assert_string_equal(r->args[0], "a b");
	assert_string_equal(r->args[1], "#x");
	assert_string_equal(r->args[2], "{");
	assert_string_equal(r->args[3], "\"");
	policy_free(p);
}

static void lex_comments(void **state)
{
	struct policy *p = parse("# a comment\n"
				 "permit alice # trailing \" unbalanced\n"
				 "   # indented comment\n"
				 "permit bob cmd /bin/echo args \"#not\" x#y\n");

	assert_int_equal(p->nrules, 2);
	assert_int_equal(p->rules[0].line, 2);
	assert_int_equal(p->rules[1].line, 4);
	assert_int_equal(p->rules[1].nargs, 2);
	assert_string_equal(p->rules[1].args[0], "#not");
	assert_string_equal(p->rules[1].args[1], "x");
	policy_free(p);
}

static void lex_comment_has_no_continuation(void **state)
{
	struct policy *p = parse("# comment \\\npermit alice\n");

	assert_int_equal(p->nrules, 1);
	assert_int_equal(p->rules[0].line, 2);
	policy_free(p);
}

static void lex_line_continuation(void **state)
{
	struct policy *p = parse("permit mfa \\\n  alice \\\n  cmd /bin/l\\\ns\n"
				 "permit bob\n");

	assert_int_equal(p->nrules, 2);
	assert_int_equal(p->rules[0].line, 1);
	assert_true(p->rules[0].reqs & POLICY_REQ_MFA);
	assert_string_equal(p->rules[0].cmd, "/bin/ls");
	assert_int_equal(p->rules[1].line, 5);
	policy_free(p);
}

static void lex_crlf_line_endings(void **state)
{
	struct policy *p = parse("permit alice\r\n"
				 "permit bob cmd /bin/ls \\\r\n args -l\r\n"
				 "permit carol cmd /bin/a\rb\r\n");

	assert_int_equal(p->nrules, 3);
	assert_string_equal(p->rules[1].cmd, "/bin/ls");
	assert_int_equal(p->rules[1].nargs, 1);
	assert_string_equal(p->rules[1].args[0], "-l");
	assert_int_equal(p->rules[2].line, 4);
	/* a CR not before a LF is an ordinary byte */
	assert_string_equal(p->rules[2].cmd, "/bin/a\rb");
	policy_free(p);
}

static void lex_nul_byte_is_an_error(void **state)
{
	static const char text[] = "permit alice\npermit b\0b\n# c\0mment\npermit carol\n";
	struct errors e;

	assert_int_equal(parse_bad_len(text, sizeof text - 1, &e), 2);
	assert_int_equal(e.line[0], 2);
	assert_string_equal(e.msg[0], "NUL byte in policy");
	assert_int_equal(e.line[1], 3);
	assert_string_equal(e.msg[1], "NUL byte in policy");
}

static void lex_unterminated_quote(void **state)
{
	struct errors e;

	assert_int_equal(parse_bad("permit \"alice\npermit bob\npermit carol cmd \"/bin/x", &e), 2);
	assert_int_equal(e.line[0], 1);
	assert_string_equal(e.msg[0], "unterminated quote");
	assert_int_equal(e.line[1], 3);
	assert_string_equal(e.msg[1], "unterminated quote");
}

static void lex_backslash_at_end_of_file(void **state)
{
	expect_error("permit alice \\", 1, "backslash at end of file");
}

static void lex_token_length_limit(void **state)
{
	size_t n = strlen("permit alice cmd /") + POLICY_MAX_TOKEN + 2;
	char *text = xmalloc(n);
	struct policy *p;
	struct errors e;

	assert_non_null(text);
	/* exactly POLICY_MAX_TOKEN bytes is fine */
	snprintf(text, n, "permit alice cmd /%0*d", POLICY_MAX_TOKEN - 1, 0);
	p = parse(text);
	assert_int_equal(strlen(p->rules[0].cmd), POLICY_MAX_TOKEN);
	policy_free(p);
	/* one more is an error, and the next line is still read */
	snprintf(text, n, "permit alice cmd /%0*d", POLICY_MAX_TOKEN, 0);
	char *two = xmalloc(strlen(text) + 32);
	assert_non_null(two);
	sprintf(two, "%s\npermit\n", text);
	assert_int_equal(parse_bad(two, &e), 2);
	assert_int_equal(e.line[0], 1);
	assert_non_null(strstr(e.msg[0], "word too long"));
	assert_int_equal(e.line[1], 2);
	free(two);
	free(text);
}

static void lex_empty_quoted_word_is_a_word(void **state)
{
	struct policy *p = parse("permit alice cmd /bin/echo args \"\" \"\"\n");

	assert_int_equal(p->rules[0].nargs, 2);
	assert_string_equal(p->rules[0].args[0], "");
	policy_free(p);
	expect_error("permit \"\"", 1, "empty user name");
}

static void lex_quoted_keyword_is_a_name(void **state)
{
	struct policy *p = parse("permit \"as\" as \"cmd\"\npermit m\\fa\n");

	assert_string_equal(p->rules[0].ident, "as");
	assert_string_equal(p->rules[0].target, "cmd");
	assert_string_equal(p->rules[1].ident, "mfa");
	assert_int_equal(p->rules[1].reqs, 0);
	policy_free(p);
	expect_error("permit as root", 1, "expected a user or :group, got 'as'");
}

static void lex_newline_inside_quotes_needs_backslash(void **state)
{
	struct policy *p =
		parse("permit alice cmd /bin/echo args \"a\\\nb\" \"c\\\rd\"\npermit bob\n");

	assert_string_equal(p->rules[0].args[0], "a\nb");
	assert_string_equal(p->rules[0].args[1], "c\rd");
	assert_int_equal(p->rules[1].line, 3);
	policy_free(p);
}

static void lex_non_utf8_bytes_allowed(void **state)
{
	struct policy *p = parse("permit alice cmd /opt/\xff\xfe\x80 args \xc3\x28\n");

	assert_string_equal(p->rules[0].cmd, "/opt/\xff\xfe\x80");
	assert_string_equal(p->rules[0].args[0], "\xc3\x28");
	policy_free(p);
}

static void lex_braces_are_tokens(void **state)
{
	struct policy *p = parse("permit setenv{A=1 B=2}alice cmd /bin/x args \"{}\"\n");

	assert_int_equal(p->rules[0].nsetenv, 2);
	assert_string_equal(p->rules[0].ident, "alice");
	assert_string_equal(p->rules[0].args[0], "{}");
	policy_free(p);
	expect_error("permit alice cmd /bin/x args {}", 1, "unexpected '{'");
}

/* ---- parser ----------------------------------------------------------- */

static void parse_minimal_rule_defaults(void **state)
{
	struct policy *p = parse("\n\npermit alice");
	const struct policy_rule *r = &p->rules[0];

	assert_int_equal(p->nrules, 1);
	assert_int_equal(r->action, POLICY_PERMIT);
	assert_int_equal(r->reqs, 0);
	assert_int_equal(r->approvals, 1);
	assert_false(r->ident_is_group);
	assert_null(r->target);
	assert_null(r->cmd);
	assert_false(r->has_args);
	assert_false(r->has_hash);
	assert_int_equal(r->for_secs, 0);
	assert_false(r->has_hours);
	assert_int_equal(r->days_mask, 0);
	assert_int_equal(r->nsetenv, 0);
	assert_int_equal(r->line, 3);
	assert_string_equal(p->file, "test.conf");
	policy_free(p);
}

static void parse_group_identity(void **state)
{
	struct policy *p = parse("deny :wheel as root\n");

	assert_int_equal(p->rules[0].action, POLICY_DENY);
	assert_true(p->rules[0].ident_is_group);
	assert_string_equal(p->rules[0].ident, "wheel");
	policy_free(p);
	expect_error("permit :", 1, "empty group name");
}

static void parse_every_option(void **state)
{
	struct policy *p =
		parse("permit mfa approvals 3 reason nobreakglass for 1h30m hours 22:00-06:00 "
		      "days mon-fri hash "
		      "sha256:00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff "
		      "setenv { PATH=/bin -HOME EMPTY= } :ops as postgres cmd /usr/bin/psql args "
		      "-c \"select 1\"\n");
	const struct policy_rule *r = &p->rules[0];

	assert_int_equal(r->reqs, POLICY_REQ_MFA | POLICY_REQ_APPROVAL | POLICY_REQ_REASON);
	assert_int_equal(r->approvals, 3);
	assert_true(r->nobreakglass);
	assert_int_equal(r->for_secs, 5400);
	assert_true(r->has_hours);
	assert_int_equal(r->hours_from, 22 * 60);
	assert_int_equal(r->hours_to, 6 * 60);
	assert_int_equal(r->days_mask, 0x3e);
	assert_true(r->has_hash);
	assert_int_equal(r->hash[0], 0x00);
	assert_int_equal(r->hash[10], 0xaa);
	assert_int_equal(r->hash[31], 0xff);
	assert_int_equal(r->nsetenv, 3);
	assert_string_equal(r->setenv[0], "PATH=/bin");
	assert_string_equal(r->setenv[1], "-HOME");
	assert_string_equal(r->setenv[2], "EMPTY=");
	assert_string_equal(r->target, "postgres");
	assert_int_equal(r->nargs, 2);
	assert_string_equal(r->args[1], "select 1");
	policy_free(p);
}

static void parse_approval_options(void **state)
{
	struct policy *p = parse("permit approval alice\n"
				 "permit approvals 10 bob\n"
				 "permit approval approvals 2 carol\n"
				 "permit approvals 2 approval dave\n");

	assert_int_equal(p->rules[0].reqs, POLICY_REQ_APPROVAL);
	assert_int_equal(p->rules[0].approvals, 1);
	assert_int_equal(p->rules[1].reqs, POLICY_REQ_APPROVAL);
	assert_int_equal(p->rules[1].approvals, 10);
	assert_int_equal(p->rules[2].approvals, 2);
	assert_int_equal(p->rules[3].approvals, 2);
	policy_free(p);
	expect_error("permit approvals 0 alice", 1, "bad approvals");
	expect_error("permit approvals 11 alice", 1, "bad approvals");
	expect_error("permit approvals 99999999999999999999 alice", 1, "bad approvals");
	expect_error("permit approvals x alice", 1, "bad approvals");
	expect_error("permit approvals", 1, "option 'approvals' needs a value");
}

static void parse_hash_errors(void **state)
{
	const char *h = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char text[256];

	snprintf(text, sizeof text, "permit hash sha256:%.63s alice cmd /x", h);
	expect_error(text, 1, "bad hash: expected sha256:<64 hex digits>");
	snprintf(text, sizeof text, "permit hash sha256:%s0 alice cmd /x", h);
	expect_error(text, 1, "bad hash");
	snprintf(text, sizeof text, "permit hash sha256:%.63sg alice cmd /x", h);
	expect_error(text, 1, "bad hash");
	snprintf(text, sizeof text, "permit hash sha512:%s alice cmd /x", h);
	expect_error(text, 1, "bad hash");
	snprintf(text, sizeof text, "permit hash %s alice cmd /x", h);
	expect_error(text, 1, "bad hash");
	snprintf(text, sizeof text, "\npermit hash sha256:%s alice", h);
	expect_error(text, 2, "'hash' needs 'cmd'");
}

static void parse_durations(void **state)
{
	static const struct {
		const char *in;
		unsigned secs;
	} good[] = {
		{"90s", 90}, {"15m", 900},   {"2h", 7200},        {"1h30m", 5400},    {"1d", 86400},
		{"90", 90},  {"7d", 604800}, {"1d2h3m4s", 93784}, {"604800", 604800}, {"0h1s", 1},
	};
	static const char *const bad[] = {
		"0",    "0s",    "8d",   "604801", "6d24h1s", "99999999999999999999999s",
		"1h30", "30m1h", "1h1h", "h",      "1x",      "-5m",
		"1.5h", "1H",    "",
	};
	char text[128];

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		snprintf(text, sizeof text, "permit for %s alice", good[i].in);
		struct policy *p = parse(text);
		assert_int_equal(p->rules[0].for_secs, good[i].secs);
		policy_free(p);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "permit for \"%s\" alice", bad[i]);
		expect_error(text, 1, "duration");
	}
}

static void parse_hours_window(void **state)
{
	struct policy *p = parse("permit hours 09:00-17:30 a\npermit hours 00:00-24:00 b\n"
				 "permit hours 23:59-00:00 c\n");

	assert_int_equal(p->rules[0].hours_from, 540);
	assert_int_equal(p->rules[0].hours_to, 1050);
	assert_int_equal(p->rules[1].hours_to, 1440);
	assert_int_equal(p->rules[2].hours_from, 1439);
	policy_free(p);
	static const char *const bad[] = {
		"09:00-09:00", "24:00-01:00", "9:00-17:00",  "09:00-17:60",  "25:00-01:00",
		"09:00-24:01", "09:00",       "09:00_17:00", "09:00-17:00x", "aa:bb-cc:dd",
	};
	char text[128];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "permit hours %s alice", bad[i]);
		expect_error(text, 1, "bad hours");
	}
}

static void parse_days_spec(void **state)
{
	static const struct {
		const char *in;
		unsigned mask;
	} good[] = {
		{"mon-fri", 0x3e}, {"sat,sun", 0x41}, {"mon,wed-fri", 0x3a},
		{"fri-mon", 0x63}, {"SUN", 0x01},     {"Tue-Tue", 0x04},
		{"mon-sun", 0x7f}, {"sun-sat", 0x7f}, {"mon,mon", 0x02},
	};
	static const char *const bad[] = {
		"funday", "mon,", ",mon", "mon-", "mon-tue-wed", "monday", "mo", "mon,,tue",
	};
	char text[128];

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		snprintf(text, sizeof text, "permit days %s alice", good[i].in);
		struct policy *p = parse(text);
		assert_int_equal(p->rules[0].days_mask, good[i].mask);
		policy_free(p);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "permit days %s alice", bad[i]);
		expect_error(text, 1, "bad days");
	}
}

static void parse_setenv_errors(void **state)
{
	expect_error("permit setenv { 1A=x } alice", 1, "bad setenv entry '1A=x'");
	expect_error("permit setenv { A-B=x } alice", 1, "bad setenv entry");
	expect_error("permit setenv { =x } alice", 1, "bad setenv entry");
	expect_error("permit setenv { - } alice", 1, "bad setenv entry");
	expect_error("permit setenv { -A=1 } alice", 1, "bad setenv entry");
	expect_error("permit setenv { NAME } alice", 1, "bad setenv entry");
	expect_error("permit setenv { A=1 -A } alice", 1, "duplicate setenv name");
	expect_error("permit setenv A=1 alice", 1, "expected '{' after 'setenv'");
	expect_error("permit setenv { A=1\npermit bob", 1,
		     "expected '}' to close 'setenv', got end of line");
	expect_error("permit setenv { A=1 { B=2 } } alice", 1, "got '{'");

	char text[2048] = "permit setenv {";
	for (int i = 0; i <= POLICY_MAX_SETENV; i++)
		snprintf(text + strlen(text), sizeof text - strlen(text), " V%d=x", i);
	strcat(text, " } alice");
	expect_error(text, 1, "too many setenv entries");

	struct policy *p = parse("permit setenv { } alice\npermit setenv { \"A=x y\" _b9= } bob\n");
	assert_int_equal(p->rules[0].nsetenv, 0);
	assert_string_equal(p->rules[1].setenv[0], "A=x y");
	policy_free(p);
}

static void parse_duplicate_option(void **state)
{
	expect_error("permit mfa reason mfa alice", 1, "duplicate option 'mfa'");
	expect_error("permit days mon days tue alice", 1, "duplicate option 'days'");
	expect_error("permit setenv { } setenv { } alice", 1, "duplicate option 'setenv'");
}

static void parse_deny_rejects_permit_options(void **state)
{
	static const char *const opts[] = {
		"mfa",    "approval",       "approvals 2",  "reason",
		"for 1h", "setenv { A=1 }", "nobreakglass",
	};
	char text[128], want[64];

	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
		snprintf(text, sizeof text, "deny %s alice", opts[i]);
		snprintf(want, sizeof want, "option '%.*s' makes no sense with deny",
			 (int)strcspn(opts[i], " "), opts[i]);
		expect_error(text, 1, want);
	}
	struct policy *p = parse("deny hours 22:00-06:00 days sat,sun hash sha256:"
				 "0000000000000000000000000000000000000000000000000000000000000000 "
				 "alice cmd /bin/sh\n");
	assert_true(p->rules[0].has_hours && p->rules[0].has_hash && p->rules[0].days_mask);
	policy_free(p);
}

static void parse_args_need_cmd(void **state)
{
	expect_error("permit alice args foo", 1, "'args' needs 'cmd'");
	expect_error("permit alice as root args", 1, "'args' needs 'cmd'");
}

static void parse_cmd_must_be_absolute(void **state)
{
	expect_error("permit alice cmd ls", 1, "command path 'ls' is not absolute");
	expect_error("permit alice cmd \"\"", 1, "is not absolute");
	expect_error("permit alice cmd", 1, "expected a command path after 'cmd', got end of file");
	expect_error("permit alice cmd /bin/ls -l", 1, "missing 'args'");
}

static void parse_args_exact_and_zero(void **state)
{
	struct policy *p = parse("permit alice cmd /bin/ls args\npermit bob cmd /bin/ls\n"
				 "permit carol cmd /bin/ls args as cmd args mfa\n");

	assert_true(p->rules[0].has_args);
	assert_int_equal(p->rules[0].nargs, 0);
	assert_false(p->rules[1].has_args);
	/* keywords after `args` are plain arguments */
	assert_int_equal(p->rules[2].nargs, 4);
	assert_string_equal(p->rules[2].args[3], "mfa");
	policy_free(p);
}

static void parse_too_many_args(void **state)
{
	char *text = xmalloc(16 * (POLICY_MAX_ARGS + 2));
	size_t n;

	assert_non_null(text);
	n = (size_t)sprintf(text, "permit a cmd /x args");
	for (int i = 0; i < POLICY_MAX_ARGS; i++)
		n += (size_t)sprintf(text + n, " %d", i);
	struct policy *p = parse(text);
	assert_int_equal(p->rules[0].nargs, POLICY_MAX_ARGS);
	policy_free(p);
	strcpy(text + n, " one-more");
	expect_error(text, 1, "too many args");
	free(text);
}

static void parse_structural_errors(void **state)
{
	expect_error("allow alice", 1, "expected 'permit' or 'deny', got 'allow'");
	expect_error("Permit alice", 1, "expected 'permit' or 'deny'");
	expect_error("{ permit alice", 1, "got '{'");
	expect_error("permit nopass alice", 1, "unknown option 'nopass'");
	expect_error("permit", 1, "expected a user or :group, got end of file");
	expect_error("permit mfa\n", 1, "expected a user or :group, got end of line");
	expect_error("permit alice mfa", 1, "option 'mfa' must come before the user or group");
	expect_error("permit alice as", 1, "expected a target user after 'as'");
	expect_error("permit alice as \"\"", 1, "expected a target user after 'as'");
	expect_error("permit alice as root as bob", 1, "unexpected 'as'");
	expect_error("permit alice cmd /x args a }", 1, "unexpected '}'");
}

static void parse_many_errors_all_reported(void **state)
{
	struct errors e;
	const char *text = "permit alice\n"
			   "permit bogus alice\n"
			   "# fine\n"
			   "deny mfa bob\n"
			   "permit carol \\\n"
			   "  cmd relative\n"
			   "permit dave cmd /bin/ls args \"open\n"
			   "permit erin\n";

	assert_int_equal(parse_bad(text, &e), 4);
	assert_int_equal(e.n, 4);
	assert_int_equal(e.line[0], 2);
	assert_string_equal(e.msg[0], "unknown option 'bogus'");
	assert_int_equal(e.line[1], 4);
	assert_string_equal(e.msg[1], "option 'mfa' makes no sense with deny");
	assert_int_equal(e.line[2], 6);
	assert_int_equal(e.line[3], 7);
	assert_string_equal(e.msg[3], "unterminated quote");
	assert_string_equal(e.file, "test.conf");
}

static void parse_error_reports_are_capped(void **state)
{
	size_t n = 200;
	char *text = xmalloc(n * 8 + 1);
	struct errors e;

	assert_non_null(text);
	text[0] = '\0';
	for (size_t i = 0; i < n; i++)
		strcat(text, "bogus\n");
	assert_int_equal(parse_bad(text, &e), (int)n);
	assert_int_equal(e.n, POLICY_MAX_ERRORS);
	free(text);
}

static void parse_messages_are_sanitised(void **state)
{
	struct errors e;

	parse_bad("allow\x1b[2J\xff", &e);
	assert_string_equal(e.msg[0], "expected 'permit' or 'deny', got 'allow?[2J?'");
	char text[200];
	memset(text, 'x', sizeof text);
	text[sizeof text - 1] = '\0';
	parse_bad(text, &e);
	assert_true(strlen(e.msg[0]) < 100);
	assert_non_null(strstr(e.msg[0], "...'"));
}

static void parse_too_big_and_empty(void **state)
{
	struct policy *p = (struct policy *)1;
	char *big = xmalloc(POLICY_MAX_FILE + 1);

	assert_non_null(big);
	assert_int_equal(policy_parse(big, POLICY_MAX_FILE + 1, "big", &p, NULL, NULL), -EFBIG);
	assert_null(p);
	free(big);
	p = parse("");
	assert_int_equal(p->nrules, 0);
	policy_free(p);
	p = parse_len(NULL, 0);
	policy_free(p);
	p = parse("# only\n\n   \t\n# comments\n");
	assert_int_equal(p->nrules, 0);
	policy_free(p);
}

static void parse_too_many_rules(void **state)
{
	size_t n = POLICY_MAX_RULES + 1;
	char *text = xmalloc(n * 10 + 1);
	struct errors e;

	assert_non_null(text);
	text[0] = '\0';
	for (size_t i = 0; i < n; i++)
		strcpy(text + i * 9, "permit a\n");
	struct policy *p = parse_len(text, (n - 1) * 9);
	assert_int_equal(p->nrules, POLICY_MAX_RULES);
	policy_free(p);
	assert_int_equal(parse_bad(text, &e), 1);
	assert_int_equal(e.line[0], n);
	assert_non_null(strstr(e.msg[0], "too many rules"));
	free(text);
}

static void parse_records_sha256(void **state)
{
	const char *text = "permit alice\n";
	uint8_t want[32];
	unsigned len = 0;
	struct policy *p = parse(text);

	assert_int_equal(EVP_Digest(text, strlen(text), want, &len, EVP_sha256(), NULL), 1);
	assert_memory_equal(p->sha256, want, 32);
	policy_free(p);
	policy_free(NULL);
}

/* ---- evaluator -------------------------------------------------------- */

static void eval_no_match_denies(void **state)
{
	struct policy *p = parse("permit bob\n");
	struct policy_request req = request();
	struct policy_decision d = eval(p, &req);

	assert_int_equal(d.action, POLICY_DENY);
	assert_null(d.rule);
	assert_int_equal(d.reqs, 0);
	policy_free(p);
	p = parse("");
	d = eval(p, &req);
	assert_int_equal(d.action, POLICY_DENY);
	policy_free(p);
}

static void eval_last_match_wins(void **state)
{
	struct policy *p = parse("permit alice\ndeny alice cmd /usr/bin/apt\npermit :x\n"
				 "permit mfa alice cmd /usr/bin/apt args update\n");
	struct policy_request req = request();
	struct policy_decision d = eval(p, &req);

	assert_int_equal(d.action, POLICY_DENY);
	assert_ptr_equal(d.rule, &p->rules[1]);
	req.cmd = "/bin/ls";
	d = eval(p, &req);
	assert_int_equal(d.action, POLICY_PERMIT);
	assert_ptr_equal(d.rule, &p->rules[0]);
	static const char *const args[] = {"update"};
	req.cmd = "/usr/bin/apt";
	req.args = args;
	req.nargs = 1;
	d = eval(p, &req);
	assert_ptr_equal(d.rule, &p->rules[3]);
	assert_int_equal(d.reqs, POLICY_REQ_MFA);
	policy_free(p);
}

/* The deciding rule carries nobreakglass to jitsud (jitsud/breakglass.c):
 * only the last match counts, and the option is not a requirement bit. */
static void eval_nobreakglass_from_the_deciding_rule(void **state)
{
	struct policy *p =
		parse("permit approval nobreakglass alice\n"
		      "permit approval alice cmd /usr/bin/apt\n"
		      "permit approval nobreakglass alice cmd /usr/bin/apt args update\n");
	struct policy_request req = request();
	struct policy_decision d = eval(p, &req);

	assert_ptr_equal(d.rule, &p->rules[1]);
	assert_false(d.rule->nobreakglass);
	assert_int_equal(d.reqs, POLICY_REQ_APPROVAL);
	static const char *const args[] = {"update"};
	req.args = args;
	req.nargs = 1;
	d = eval(p, &req);
	assert_ptr_equal(d.rule, &p->rules[2]);
	assert_true(d.rule->nobreakglass);
	assert_int_equal(d.reqs, POLICY_REQ_APPROVAL);
	req.cmd = "/bin/ls";
	req.nargs = 0;
	d = eval(p, &req);
	assert_ptr_equal(d.rule, &p->rules[0]);
	assert_true(d.rule->nobreakglass);
	policy_free(p);
	/* Only on permit rules; and once. */
	expect_error("deny nobreakglass alice\n", 1, "makes no sense with deny");
	expect_error("permit nobreakglass nobreakglass alice\n", 1, "duplicate option");
}

static void eval_group_rules(void **state)
{
	struct policy *p = parse("permit reason :wheel\n");
	static const char *const groups[] = {"users", "wheel"};
	struct policy_request req = request();

	assert_int_equal(eval(p, &req).action, POLICY_DENY);
	req.groups = groups;
	req.ngroups = 1;
	assert_int_equal(eval(p, &req).action, POLICY_DENY);
	req.ngroups = 2;
	assert_int_equal(eval(p, &req).action, POLICY_PERMIT);
	assert_int_equal(eval(p, &req).reqs, POLICY_REQ_REASON);
	/* a user named like the group is not in it */
	req.user = "wheel";
	req.ngroups = 0;
	assert_int_equal(eval(p, &req).action, POLICY_DENY);
	assert_true(policy_rule_applies_to(&p->rules[0], "x", groups, 2));
	assert_false(policy_rule_applies_to(&p->rules[0], "wheel", NULL, 0));
	policy_free(p);
}

static void eval_target(void **state)
{
	struct policy *p = parse("permit alice as postgres\npermit bob\n");
	struct policy_request req = request();

	assert_int_equal(eval(p, &req).action, POLICY_DENY);
	req.target = "postgres";
	assert_int_equal(eval(p, &req).action, POLICY_PERMIT);
	req.user = "bob";
	req.target = "anyone";
	assert_int_equal(eval(p, &req).action, POLICY_PERMIT);
	policy_free(p);
}

static void eval_exact_args(void **state)
{
	struct policy *p = parse("permit alice cmd /usr/bin/apt args update \"\"\n"
				 "permit bob cmd /usr/bin/apt args\n"
				 "permit carol cmd /usr/bin/apt\n");
	static const char *const two[] = {"update", ""};
	static const char *const other[] = {"update", " "};
	struct policy_request req = request();

	req.args = two;
	req.nargs = 2;
	assert_int_equal(eval(p, &req).action, POLICY_PERMIT);
	req.nargs = 1;
	assert_int_equal(eval(p, &req).action, POLICY_DENY);
	req.args = other;
	req.nargs = 2;
	assert_int_equal(eval(p, &req).action, POLICY_DENY);
	req.user = "bob";
	assert_int_equal(eval(p, &req).action, POLICY_DENY);
	req.nargs = 0;
	assert_int_equal(eval(p, &req).action, POLICY_PERMIT);
	req.user = "carol";
	req.nargs = 2;
	assert_int_equal(eval(p, &req).action, POLICY_PERMIT);
	req.cmd = "/usr/bin/apt-get";
	assert_int_equal(eval(p, &req).action, POLICY_DENY);
	policy_free(p);
}

static void eval_hash_pinning(void **state)
{
	struct policy *p = parse("permit hash sha256:"
				 "ABababababababababababababababababababababababababababababababab "
				 "alice cmd /usr/bin/apt\n");
	uint8_t good[32], bad[32];
	struct policy_request req = request();

	memset(good, 0xab, sizeof good);
	memcpy(bad, good, sizeof bad);
	bad[31] ^= 1;
	assert_int_equal(eval(p, &req).action, POLICY_DENY); /* NULL: unknown */
	req.sha256 = bad;
	assert_int_equal(eval(p, &req).action, POLICY_DENY);
	req.sha256 = good;
	assert_int_equal(eval(p, &req).action, POLICY_PERMIT);
	policy_free(p);
}

static void eval_hours(void **state)
{
	struct policy *p = parse("permit hours 09:00-17:00 alice\npermit hours 22:00-06:00 bob\n"
				 "permit hours 12:00-24:00 carol\n");
	struct policy_request req = request();
	static const struct {
		const char *user;
		unsigned minute;
		int ok;
	} cases[] = {
		{"alice", 539, 0}, {"alice", 540, 1},  {"alice", 1019, 1}, {"alice", 1020, 0},
		{"bob", 1319, 0},  {"bob", 1320, 1},   {"bob", 1439, 1},   {"bob", 0, 1},
		{"bob", 359, 1},   {"bob", 360, 0},    {"bob", 600, 0},    {"carol", 1439, 1},
		{"carol", 719, 0}, {"carol", 1440, 0}, {"bob", 5000, 0},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		req.user = cases[i].user;
		req.minute = cases[i].minute;
		assert_int_equal(eval(p, &req).action, cases[i].ok ? POLICY_PERMIT : POLICY_DENY);
	}
	policy_free(p);
}

static void eval_days(void **state)
{
	struct policy *p = parse("permit days mon-fri alice\npermit days fri-mon bob\n"
				 "permit carol\n");
	struct policy_request req = request();
	static const int alice[7] = {0, 1, 1, 1, 1, 1, 0};
	static const int bob[7] = {1, 1, 0, 0, 0, 1, 1};

	for (int d = 0; d < 7; d++) {
		req.wday = d;
		req.user = "alice";
		assert_int_equal(eval(p, &req).action, alice[d] ? POLICY_PERMIT : POLICY_DENY);
		req.user = "bob";
		assert_int_equal(eval(p, &req).action, bob[d] ? POLICY_PERMIT : POLICY_DENY);
	}
	req.wday = 7;
	assert_int_equal(eval(p, &req).action, POLICY_DENY);
	req.wday = -1;
	assert_int_equal(eval(p, &req).action, POLICY_DENY);
	req.user = "carol"; /* no days: any day, even a strange one */
	assert_int_equal(eval(p, &req).action, POLICY_PERMIT);
	policy_free(p);
}

static void eval_reqs_bits(void **state)
{
	struct policy *p = parse("permit mfa approvals 2 reason alice\n"
				 "deny hours 00:00-24:00 bob\n");
	struct policy_request req = request();
	struct policy_decision d = eval(p, &req);

	assert_int_equal(d.action, POLICY_PERMIT);
	assert_int_equal(d.reqs, POLICY_REQ_MFA | POLICY_REQ_APPROVAL | POLICY_REQ_REASON);
	assert_int_equal(d.rule->approvals, 2);
	req.user = "bob";
	d = eval(p, &req);
	assert_int_equal(d.action, POLICY_DENY);
	assert_ptr_equal(d.rule, &p->rules[1]);
	assert_int_equal(d.reqs, 0);
	policy_free(p);
}

/* ---- temp files ------------------------------------------------------- */

static char tmpdir[64];

static int tmp_setup(void **state)
{
	strcpy(tmpdir, "/tmp/test_policy.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int tmp_teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name)
{
	static char path[4][128];
	static int i;

	i = (i + 1) % 4;
	snprintf(path[i], sizeof path[i], "%s/%s", tmpdir, name);
	return path[i];
}

static const char *write_file(const char *name, const char *text, mode_t mode)
{
	const char *path = tmp_path(name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static void eval_cmd_canon(void **state)
{
	const char *real = write_file("real-tool", "", 0755);
	const char *lnk = tmp_path("link-tool");
	char text[512];

	assert_int_equal(symlink(real, lnk), 0);
	snprintf(text, sizeof text,
		 "permit alice cmd %s\npermit bob cmd %s\n"
		 "permit carol cmd /nonexistent/x\n",
		 lnk, real);
	struct policy *p = parse(text);
	struct policy_request req = request();

	assert_int_equal(policy_canonicalize(p), 0);
	assert_string_equal(p->rules[0].cmd_canon, real);
	assert_null(p->rules[1].cmd_canon); /* same path */
	assert_null(p->rules[2].cmd_canon); /* does not resolve */
	req.cmd = real;
	assert_int_equal(eval(p, &req).action, POLICY_PERMIT);
	req.cmd = lnk;
	assert_int_equal(eval(p, &req).action, POLICY_PERMIT);
	assert_int_equal(policy_canonicalize(p), 0); /* idempotent, no leak */
	policy_free(p);
}

/* ---- formatter -------------------------------------------------------- */

static void format_canonical_text(void **state)
{
	assert_string_equal(
		format_one("permit reason mfa :wheel as root cmd /usr/bin/apt args update"),
		"permit mfa reason :wheel as root cmd /usr/bin/apt args update");
	assert_string_equal(format_one("deny  alice"), "deny alice");
	assert_string_equal(format_one("permit approvals 1 a"), "permit approval a");
	assert_string_equal(format_one("permit for 5400 setenv{A=1 -B} days fri-mon approvals 3 "
				       "hours 22:00-06:00 nobreakglass a cmd /x args"),
			    "permit approvals 3 nobreakglass for 1h30m hours 22:00-06:00 "
			    "days mon,fri-sun setenv { A=1 -B } a cmd /x args");
	assert_string_equal(format_one("permit days sun,mon,tue,wed,thu a"),
			    "permit days mon-thu,sun a");
	assert_string_equal(format_one("permit days mon,tue,thu a"), "permit days mon,tue,thu a");
	assert_string_equal(
		format_one("permit for 7d hash sha256:"
			   "ABababababababababababababababababababababababababababababababab "
			   "a cmd /x"),
		"permit hash sha256:"
		"abababababababababababababababababababababababababababababababab "
		"for 7d a cmd /x");
}

static void format_quotes_what_needs_it(void **state)
{
	assert_string_equal(
		format_one("permit \"mfa\" as \"as\" cmd \"/a b\" args \"\" mfa \"a\\\"b\" "
			   "\"#\" \"{\" \"c\\\\d\" \"x\\\ny\""),
		"permit \"mfa\" as \"as\" cmd \"/a b\" args \"\" mfa \"a\\\"b\" \"#\" \"{\" "
		"\"c\\\\d\" \"x\\\ny\"");
	assert_string_equal(format_one("permit \":odd group\""), "permit \":odd group\"");
	assert_string_equal(format_one("permit setenv { \"A=x y\" } a"),
			    "permit setenv { \"A=x y\" } a");
}

static void round_trip(const char *text)
{
	struct policy *p = parse(text), *q;
	char buf[8192];

	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_rule *a = &p->rules[i], *b;
		int n = policy_format_rule(a, buf, sizeof buf);

		assert_true(n > 0 && (size_t)n < sizeof buf);
		q = parse(buf);
		assert_int_equal(q->nrules, 1);
		b = &q->rules[0];
		assert_int_equal(a->action, b->action);
		assert_int_equal(a->reqs, b->reqs);
		assert_int_equal(a->approvals, b->approvals);
		assert_int_equal(a->nobreakglass, b->nobreakglass);
		assert_string_equal(a->ident, b->ident);
		assert_int_equal(a->ident_is_group, b->ident_is_group);
		assert_true(a->target ? b->target && !strcmp(a->target, b->target) : !b->target);
		assert_true(a->cmd ? b->cmd && !strcmp(a->cmd, b->cmd) : !b->cmd);
		assert_int_equal(a->has_args, b->has_args);
		assert_int_equal(a->nargs, b->nargs);
		for (size_t j = 0; j < a->nargs; j++)
			assert_string_equal(a->args[j], b->args[j]);
		assert_memory_equal(a->hash, b->hash, 32);
		assert_int_equal(a->for_secs, b->for_secs);
		assert_int_equal(a->hours_from, b->hours_from);
		assert_int_equal(a->hours_to, b->hours_to);
		assert_int_equal(a->days_mask, b->days_mask);
		assert_int_equal(a->nsetenv, b->nsetenv);
		for (size_t j = 0; j < a->nsetenv; j++)
			assert_string_equal(a->setenv[j], b->setenv[j]);
		policy_free(q);
	}
	policy_free(p);
}

static void format_round_trips(void **state)
{
	round_trip("permit mfa approvals 4 reason nobreakglass for 93784 hours 23:59-00:00 "
		   "days tue,sat hash "
		   "sha256:0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef "
		   "setenv { A=\"1 2\" -B C=\\\\ D=\"\\\"\" } :grp as \"root\" cmd /bin/sh args -c "
		   "\"x; y\"\n"
		   "deny days sun \"permit\" cmd /a args \"\" \" \" \"\\\r\" \"\\\r\\\n\" \"\t\" "
		   "\"\x01\x7f\xff\"\n"
		   "permit \"a\\\nb\" as \"c\\\rd\" cmd \"/\\\"\\\\#{}\" args \"{\" \"}\" \"#\" "
		   "\\#\n");
}

static void format_snprintf_semantics(void **state)
{
	struct policy *p = parse("permit mfa alice as root\n");
	char small[8];
	struct policy_decision d = {POLICY_PERMIT, NULL, POLICY_REQ_MFA};
	int n;

	n = policy_format_rule(&p->rules[0], NULL, 0);
	assert_int_equal(n, (int)strlen("permit mfa alice as root"));
	memset(small, 'x', sizeof small);
	assert_int_equal(policy_format_rule(&p->rules[0], small, sizeof small), n);
	assert_string_equal(small, "permit ");
	assert_int_equal(policy_format_decision(&d, small, sizeof small), 10);
	assert_string_equal(small, "permit ");
	policy_free(p);
}

static void format_decisions(void **state)
{
	static const struct {
		enum policy_action a;
		unsigned reqs;
		const char *want;
	} cases[] = {
		{POLICY_DENY, 0, "deny"},
		{POLICY_DENY, POLICY_REQ_MFA, "deny"},
		{POLICY_PERMIT, 0, "permit"},
		{POLICY_PERMIT, POLICY_REQ_REASON | POLICY_REQ_MFA, "permit mfa reason"},
		{POLICY_PERMIT, 7, "permit mfa approval reason"},
		{POLICY_PERMIT, POLICY_REQ_APPROVAL, "permit approval"},
	};
	char buf[64];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct policy_decision d = {cases[i].a, NULL, cases[i].reqs};

		assert_int_equal(policy_format_decision(&d, buf, sizeof buf),
				 strlen(cases[i].want));
		assert_string_equal(buf, cases[i].want);
	}
}

/* ---- loader ----------------------------------------------------------- */

static int load(const char *path, int trusted, struct errors *e, struct policy **p)
{
	memset(e, 0, sizeof *e);
	return policy_load(path, trusted, p, on_error, e);
}

static void load_trusted_file(void **state)
{
	const char *path = write_file("ok.conf", "permit alice\nbogus\n", 0644);
	struct policy *p = NULL;
	struct errors e;

	assert_int_equal(chown(path, 0, 0), 0);
	assert_int_equal(load(path, 1, &e, &p), 1);
	assert_int_equal(e.line[0], 2);
	assert_string_equal(e.file, path);
	path = write_file("ok.conf", "permit alice\n", 0600);
	assert_int_equal(load(path, 1, &e, &p), 0);
	assert_int_equal(p->nrules, 1);
	assert_string_equal(p->file, path);
	policy_free(p);
}

static void load_refuses_writable_file(void **state)
{
	const char *path = write_file("ww.conf", "permit alice\n", 0666);
	struct policy *p = (struct policy *)1;
	struct errors e;

	assert_int_equal(load(path, 1, &e, &p), -EPERM);
	assert_null(p);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.line[0], 0);
	assert_string_equal(e.msg[0], "ww.conf is writable by group or others");
	chmod(path, 0620);
	assert_int_equal(load(path, 1, &e, &p), -EPERM);
	/* untrusted loading (jitsud -t on a draft) accepts it */
	assert_int_equal(load(path, 0, &e, &p), 0);
	policy_free(p);
}

static void load_refuses_non_root_owner(void **state)
{
	const char *path = write_file("nobody.conf", "permit alice\n", 0644);
	struct policy *p = NULL;
	struct errors e;

	if (geteuid() != 0)
		skip();
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(load(path, 1, &e, &p), -EPERM);
	assert_null(p);
	assert_string_equal(e.msg[0], "nobody.conf is not owned by root");
}

static void load_refuses_symlink(void **state)
{
	const char *real = write_file("real.conf", "permit alice\n", 0644);
	const char *lnk = tmp_path("link.conf");
	struct policy *p = NULL;
	struct errors e;

	assert_int_equal(symlink(real, lnk), 0);
	assert_int_equal(load(lnk, 1, &e, &p), -ELOOP);
	assert_null(p);
	assert_string_equal(e.msg[0], "link.conf is a symbolic link");
	assert_int_equal(load(lnk, 0, &e, &p), -ELOOP);
}

static void load_refuses_directory_and_missing(void **state)
{
	const char *dir = tmp_path("dir.conf");
	struct policy *p = NULL;
	struct errors e;

	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(load(dir, 1, &e, &p), -EINVAL);
	assert_string_equal(e.msg[0], "dir.conf is not a regular file");
	assert_int_equal(load(tmp_path("missing.conf"), 1, &e, &p), -ENOENT);
	assert_int_equal(e.n, 1);
	assert_null(p);
}

static void load_refuses_too_big(void **state)
{
	const char *path = write_file("big.conf", "", 0644);
	struct policy *p = NULL;
	struct errors e;

	assert_int_equal(truncate(path, POLICY_MAX_FILE + 1), 0);
	assert_int_equal(load(path, 1, &e, &p), -EFBIG);
	assert_non_null(strstr(e.msg[0], "big.conf is too big"));
	assert_null(p);
	/* exactly the limit is fine (all NULs here, so a parse error) */
	assert_int_equal(truncate(path, POLICY_MAX_FILE), 0);
	assert_int_equal(load(path, 1, &e, &p), 1);
	assert_string_equal(e.msg[0], "NUL byte in policy");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lex_blanks_separate_words),
		cmocka_unit_test(lex_double_quotes_group_a_word),
		cmocka_unit_test(lex_escapes_inside_quotes),
		cmocka_unit_test(lex_backslash_outside_quotes),
		cmocka_unit_test(lex_comments),
		cmocka_unit_test(lex_comment_has_no_continuation),
		cmocka_unit_test(lex_line_continuation),
		cmocka_unit_test(lex_crlf_line_endings),
		cmocka_unit_test(lex_nul_byte_is_an_error),
		cmocka_unit_test(lex_unterminated_quote),
		cmocka_unit_test(lex_backslash_at_end_of_file),
		cmocka_unit_test(lex_token_length_limit),
		cmocka_unit_test(lex_empty_quoted_word_is_a_word),
		cmocka_unit_test(lex_quoted_keyword_is_a_name),
		cmocka_unit_test(lex_newline_inside_quotes_needs_backslash),
		cmocka_unit_test(lex_non_utf8_bytes_allowed),
		cmocka_unit_test(lex_braces_are_tokens),
		cmocka_unit_test(parse_minimal_rule_defaults),
		cmocka_unit_test(parse_group_identity),
		cmocka_unit_test(parse_every_option),
		cmocka_unit_test(parse_approval_options),
		cmocka_unit_test(parse_hash_errors),
		cmocka_unit_test(parse_durations),
		cmocka_unit_test(parse_hours_window),
		cmocka_unit_test(parse_days_spec),
		cmocka_unit_test(parse_setenv_errors),
		cmocka_unit_test(parse_duplicate_option),
		cmocka_unit_test(parse_deny_rejects_permit_options),
		cmocka_unit_test(parse_args_need_cmd),
		cmocka_unit_test(parse_cmd_must_be_absolute),
		cmocka_unit_test(parse_args_exact_and_zero),
		cmocka_unit_test(parse_too_many_args),
		cmocka_unit_test(parse_structural_errors),
		cmocka_unit_test(parse_many_errors_all_reported),
		cmocka_unit_test(parse_error_reports_are_capped),
		cmocka_unit_test(parse_messages_are_sanitised),
		cmocka_unit_test(parse_too_big_and_empty),
		cmocka_unit_test(parse_too_many_rules),
		cmocka_unit_test(parse_records_sha256),
		cmocka_unit_test(eval_no_match_denies),
		cmocka_unit_test(eval_last_match_wins),
		cmocka_unit_test(eval_nobreakglass_from_the_deciding_rule),
		cmocka_unit_test(eval_group_rules),
		cmocka_unit_test(eval_target),
		cmocka_unit_test(eval_exact_args),
		cmocka_unit_test(eval_hash_pinning),
		cmocka_unit_test(eval_hours),
		cmocka_unit_test(eval_days),
		cmocka_unit_test(eval_reqs_bits),
		cmocka_unit_test(eval_cmd_canon),
		cmocka_unit_test(format_canonical_text),
		cmocka_unit_test(format_quotes_what_needs_it),
		cmocka_unit_test(format_round_trips),
		cmocka_unit_test(format_snprintf_semantics),
		cmocka_unit_test(format_decisions),
		cmocka_unit_test(load_trusted_file),
		cmocka_unit_test(load_refuses_writable_file),
		cmocka_unit_test(load_refuses_non_root_owner),
		cmocka_unit_test(load_refuses_symlink),
		cmocka_unit_test(load_refuses_directory_and_missing),
		cmocka_unit_test(load_refuses_too_big),
	};

	return cmocka_run_group_tests(tests, tmp_setup, tmp_teardown);
}
