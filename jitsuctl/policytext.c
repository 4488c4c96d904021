/*
 * policytext: line diff and safe printing. The MUST rules are in
 * policytext.h.
 *
 * The diff is the longest common subsequence of lines, by dynamic
 * programming over what remains after the common head and tail are taken
 * off (policy versions usually differ in a few lines, so that middle is
 * small), then cut into hunks with POLICYTEXT_CONTEXT lines around each
 * change, as GNU diff -u prints them.
 */
#include "policytext.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct line {
	const char *s;
	size_t len; /* with its '\n', if it has one */
};

struct lines {
	struct line *v;
	size_t n;
};

enum op_kind { OP_SAME, OP_DEL, OP_ADD };

struct op {
	enum op_kind kind;
	size_t a, b; /* line index in a (SAME, DEL) and in b (SAME, ADD) */
};

struct out {
	char *s;
	size_t len, cap;
	int failed;
};

static int split(const char *t, struct lines *l)
{
	size_t cap = 16;
	l->n = 0;
	l->v = malloc(cap * sizeof *l->v);
	if (!l->v)
		return -1;
	while (*t) {
		const char *nl = strchr(t, '\n');
		size_t len = nl ? (size_t)(nl - t) + 1 : strlen(t);
		if (l->n == cap) {
			struct line *g = realloc(l->v, 2 * cap * sizeof *g);
			if (!g) {
				free(l->v);
				l->v = NULL;
				return -1;
			}
			l->v = g;
			cap *= 2;
		}
		l->v[l->n++] = (struct line){t, len};
		t += len;
	}
	return 0;
}

static int same(const struct line *x, const struct line *y)
{
	return x->len == y->len && memcmp(x->s, y->s, x->len) == 0;
}

/* The edit script from a to b into ops (room for a.n + b.n). Returns the
 * number of ops, or -1 when out of memory. */
static long script(const struct lines *a, const struct lines *b, struct op *ops)
{
	size_t head = 0, tail = 0, k = 0;
	while (head < a->n && head < b->n && same(&a->v[head], &b->v[head]))
		head++;
	while (tail < a->n - head && tail < b->n - head &&
	       same(&a->v[a->n - 1 - tail], &b->v[b->n - 1 - tail]))
		tail++;
	size_t n = a->n - head - tail, m = b->n - head - tail;
	uint32_t *t = NULL;
	if (n && m && (uint64_t)(n + 1) * (m + 1) <= POLICYTEXT_DIFF_CELLS) {
		t = calloc((n + 1) * (m + 1), sizeof *t);
		if (!t)
			return -1;
		/* t[i][j]: LCS length of a's middle from i and b's from j. */
		for (size_t i = n; i-- > 0;)
			for (size_t j = m; j-- > 0;)
				t[i * (m + 1) + j] =
					same(&a->v[head + i], &b->v[head + j])
						? t[(i + 1) * (m + 1) + j + 1] + 1
					: t[(i + 1) * (m + 1) + j] >= t[i * (m + 1) + j + 1]
						? t[(i + 1) * (m + 1) + j]
						: t[i * (m + 1) + j + 1];
	}
	for (size_t i = 0; i < head; i++)
		ops[k++] = (struct op){OP_SAME, i, i};
	size_t i = 0, j = 0;
	while (i < n || j < m) {
		if (t && i < n && j < m && same(&a->v[head + i], &b->v[head + j])) {
			ops[k++] = (struct op){OP_SAME, head + i, head + j};
			i++, j++;
		} else if (i < n &&
			   (j == m || !t || t[(i + 1) * (m + 1) + j] >= t[i * (m + 1) + j + 1])) {
			ops[k++] = (struct op){OP_DEL, head + i, head + j};
			i++;
		} else {
			ops[k++] = (struct op){OP_ADD, head + i, head + j};
			j++;
		}
	}
	for (size_t x = 0; x < tail; x++)
		ops[k++] = (struct op){OP_SAME, a->n - tail + x, b->n - tail + x};
	free(t);
	return (long)k;
}

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (o->failed || n < 0)
		return;
	if (o->len + (size_t)n + 1 > o->cap) {
		size_t cap = (o->len + (size_t)n + 1) * 2;
		char *g = realloc(o->s, cap);
		if (!g) {
			o->failed = 1;
			return;
		}
		o->s = g;
		o->cap = cap;
	}
	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
	vsnprintf(o->s + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	o->len += (size_t)n;
}

static void put_line(struct out *o, char mark, const struct line *l)
{
	int nl = l->len && l->s[l->len - 1] == '\n';
	put(o, "%c%.*s%s", mark, (int)(l->len - (size_t)nl), l->s,
	    nl ? "\n" : "\n\\ No newline at end of file\n");
}

/* "start,count" as diff -u writes a range (first is 0-based). */
static void put_range(struct out *o, char sign, size_t first, size_t count)
{
	if (count == 1)
		put(o, "%c%zu", sign, first + 1);
	else
		put(o, "%c%zu,%zu", sign, count ? first + 1 : first, count);
}

/* One hunk: ops[from, to). */
static void put_hunk(struct out *o, const struct op *ops, size_t from, size_t to,
		     const struct lines *a, const struct lines *b)
{
	size_t na = 0, nb = 0, fa = ops[from].a, fb = ops[from].b;
	for (size_t k = from; k < to; k++) {
		na += ops[k].kind != OP_ADD;
		nb += ops[k].kind != OP_DEL;
	}
	put(o, "@@ ");
	put_range(o, '-', fa, na);
	put(o, " ");
	put_range(o, '+', fb, nb);
	put(o, " @@\n");
	for (size_t k = from; k < to; k++) {
		if (ops[k].kind == OP_SAME)
			put_line(o, ' ', &a->v[ops[k].a]);
		else if (ops[k].kind == OP_DEL)
			put_line(o, '-', &a->v[ops[k].a]);
		else
			put_line(o, '+', &b->v[ops[k].b]);
	}
}

/* Cuts the script into hunks: changes closer than 2 * context share one. */
static void put_hunks(struct out *o, const struct op *ops, size_t n, const struct lines *a,
		      const struct lines *b)
{
	size_t k = 0;
	while (k < n) {
		while (k < n && ops[k].kind == OP_SAME)
			k++;
		if (k == n)
			return;
		size_t from = k > POLICYTEXT_CONTEXT ? k - POLICYTEXT_CONTEXT : 0, end = k;
		for (;;) {
			while (end < n && ops[end].kind != OP_SAME)
				end++;
			size_t run = 0;
			while (end + run < n && ops[end + run].kind == OP_SAME)
				run++;
			if (end + run == n || run > 2 * POLICYTEXT_CONTEXT) {
				size_t to =
					end + (run < POLICYTEXT_CONTEXT ? run : POLICYTEXT_CONTEXT);
				put_hunk(o, ops, from, to, a, b);
				k = end + run;
				break;
			}
			end += run;
		}
	}
}

char *policytext_diff(const char *a, const char *la, const char *b, const char *lb)
{
	struct lines x = {0}, y = {0};
	struct out o = {0};
	struct op *ops = NULL;
	long n = -1;
	if (split(a, &x) == 0 && split(b, &y) == 0 &&
	    (ops = calloc(x.n + y.n + 1, sizeof *ops)) != NULL)
		n = script(&x, &y, ops);
	if (n >= 0) {
		put(&o, "%s", "");
		int changed = 0;
		for (long k = 0; k < n; k++)
			changed |= ops[k].kind != OP_SAME;
		if (changed) {
			put(&o, "--- %s\n+++ %s\n", la, lb);
			put_hunks(&o, ops, (size_t)n, &x, &y);
		}
	}
	free(ops);
	free(x.v);
	free(y.v);
	if (n < 0 || o.failed) {
		free(o.s);
		return NULL;
	}
	return o.s;
}

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
	if (n == 0 || s[0] >= 0xf5)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((n == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (n == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
	    (n == 4 && s[0] == 0xf0 && s[1] < 0x90) || (n == 4 && s[0] == 0xf4 && s[1] >= 0x90))
		return 0; /* overlong, surrogate, or past U+10FFFF */
	return n;
}

void policytext_safe(char *s)
{
	unsigned char *p = (unsigned char *)s;
	while (*p) {
		if (*p < 0x80) {
			if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f)
				*p = '?';
			p++;
			continue;
		}
		size_t n = utf8_len(p);
		if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) /* C1 controls */
			n = 0;
		if (n == 0) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}
