/*
 * fuzz-policy: feeds arbitrary bytes to policy_parse(). When they parse,
 * checks three properties and abort()s when one fails:
 *  - a request built from a rule's own fields is decided by that rule or a
 *    later one (a rule always matches what it describes);
 *  - policy_format_rule() agrees with itself on the length it reports;
 *  - the formatted text parses back to an equal rule set (round trip).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jitsu/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static int strv_eq(char **a, char **b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!str_eq(a[i], b[i]))
			return 0;
	return 1;
}

/* Equal as rules: every field but line and cmd_canon. */
static int rule_eq(const struct policy_rule *a, const struct policy_rule *b)
{
	return a->action == b->action && a->reqs == b->reqs && a->approvals == b->approvals &&
	       a->nobreakglass == b->nobreakglass && str_eq(a->ident, b->ident) &&
	       a->ident_is_group == b->ident_is_group && str_eq(a->target, b->target) &&
	       str_eq(a->cmd, b->cmd) && a->has_args == b->has_args && a->nargs == b->nargs &&
	       strv_eq(a->args, b->args, a->nargs) && a->has_hash == b->has_hash &&
	       memcmp(a->hash, b->hash, sizeof a->hash) == 0 && a->for_secs == b->for_secs &&
	       a->has_hours == b->has_hours && a->hours_from == b->hours_from &&
	       a->hours_to == b->hours_to && a->days_mask == b->days_mask &&
	       a->nsetenv == b->nsetenv && strv_eq(a->setenv, b->setenv, a->nsetenv);
}

/* Builds the request that rule i describes and checks that it is decided
 * by rule i or a later rule. */
static void check_self_match(const struct policy *p, size_t i)
{
	const struct policy_rule *r = &p->rules[i];
	const char *groups[1] = {r->ident};
	struct policy_request req = {
		.user = r->ident_is_group ? "fuzz-nobody-\x01" : r->ident,
		.groups = groups,
		.ngroups = r->ident_is_group ? 1 : 0,
		.target = r->target ? r->target : "root",
		.cmd = r->cmd ? r->cmd : "/fuzz/any",
		.args = r->has_args ? (const char *const *)r->args : NULL,
		.nargs = r->has_args ? r->nargs : 0,
		.sha256 = r->has_hash ? r->hash : NULL,
		.wday = 0,
		.minute = r->has_hours ? r->hours_from : 0,
	};
	struct policy_decision d;

	while (r->days_mask && !(r->days_mask & (1u << req.wday)))
		req.wday++;
	policy_eval(p, &req, &d);
	if (!d.rule || d.rule < r || d.action != d.rule->action)
		abort();
	if (d.action == POLICY_PERMIT ? d.reqs != d.rule->reqs : d.reqs != 0)
		abort();
}

static void eval_fixed(const struct policy *p)
{
	static const char *const groups[] = {"wheel", "adm"};
	static const char *const args[] = {"update", ""};
	static const uint8_t zero[32];
	struct policy_request req = {
		.user = "alice",
		.groups = groups,
		.ngroups = 2,
		.target = "root",
		.cmd = "/usr/bin/apt",
		.args = args,
		.nargs = 1,
		.sha256 = zero,
		.wday = 3,
		.minute = 600,
	};
	struct policy_decision d;
	char buf[64];

	policy_eval(p, &req, &d);
	if (policy_format_decision(&d, buf, sizeof buf) <= 0)
		abort();
	req.nargs = 2;
	req.sha256 = NULL;
	req.minute = 1439;
	policy_eval(p, &req, &d);
	if (!d.rule && (d.action != POLICY_DENY || d.reqs != 0))
		abort();
}

/* Formats every rule, one per line, into a new buffer; exact lengths checked. */
static char *format_all(const struct policy *p, size_t *outlen)
{
	size_t total = 0;
	char *text = NULL;

	for (size_t i = 0; i < p->nrules; i++) {
		int n = policy_format_rule(&p->rules[i], NULL, 0);
		char *nt;

		if (n < 0 || !(nt = realloc(text, total + (size_t)n + 2)))
			abort();
		text = nt;
		if (policy_format_rule(&p->rules[i], text + total, (size_t)n + 1) != n ||
		    strlen(text + total) != (size_t)n)
			abort();
		total += (size_t)n;
		text[total++] = '\n';
	}
	*outlen = total;
	return text;
}

static void check_round_trip(const struct policy *p)
{
	struct policy *q = NULL;
	size_t len = 0;
	char *text = format_all(p, &len);

	if (policy_parse(text ? text : "", len, "formatted", &q, NULL, NULL) != 0)
		abort();
	if (q->nrules != p->nrules)
		abort();
	for (size_t i = 0; i < p->nrules; i++)
		if (!rule_eq(&p->rules[i], &q->rules[i]))
			abort();
	policy_free(q);
	free(text);
}

static void count_error(void *ctx, const char *file, unsigned line, const char *msg)
{
	unsigned *n = ctx;

	if (!file || !msg || !*msg || line == 0)
		abort();
	(*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy *p = NULL;
	unsigned reported = 0;
	int rc;

	rc = policy_parse((const char *)data, size, "fuzz", &p, count_error, &reported);
	if (rc > 0 && (p || reported == 0 || reported > POLICY_MAX_ERRORS ||
		       (rc <= POLICY_MAX_ERRORS && reported != (unsigned)rc)))
		abort();
	if (rc != 0)
		return 0;
	if (!p)
		abort();
	for (size_t i = 0; i < p->nrules && i < 64; i++)
		check_self_match(p, i);
	eval_fixed(p);
	check_round_trip(p);
	policy_free(p);
	return 0;
}
