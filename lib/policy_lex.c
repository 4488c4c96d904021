/*
 * policy_lex: splits policy text into words, braces and line ends.
 *
 * The rules follow OpenBSD doas parse.y, with the choices written down in
 * docs/policy-language.md:
 *  - blanks (space, tab) separate words; a newline ends a rule;
 *  - a CR right before a LF is part of the line end, everywhere;
 *  - `#` outside quotes starts a comment to the end of the line (no
 *    continuation inside comments);
 *  - outside quotes a backslash keeps the next byte literally, and a
 *    backslash-newline joins two lines;
 *  - inside double quotes a backslash keeps the next byte literally (this is
 *    how a word holds a `"`, a `\`, a CR or a newline); a bare newline or
 *    end of file inside quotes is an unterminated quote;
 *  - unquoted `{` and `}` are tokens of their own;
 *  - a NUL byte anywhere is an error.
 */
#include <stdio.h>
#include <string.h>

#include "jitsu/policy_lex.h"

#define LEX_STR(x) #x
#define LEX_XSTR(x) LEX_STR(x)

void policy_lex_init(struct policy_lexer *lx, const char *text, size_t len)
{
	lx->text = (const unsigned char *)text;
	lx->len = len;
	lx->pos = 0;
	lx->line = 1;
}

/* The byte at pos, with CR-LF read as LF; EOF at the end. */
static int lex_peek(const struct policy_lexer *lx)
{
	if (lx->pos >= lx->len)
		return EOF;
	if (lx->text[lx->pos] == '\r' && lx->pos + 1 < lx->len && lx->text[lx->pos + 1] == '\n')
		return '\n';
	return lx->text[lx->pos];
}

static int lex_getc(struct policy_lexer *lx)
{
	int c = lex_peek(lx);

	if (c == EOF)
		return EOF;
	if (c == '\n') {
		if (lx->text[lx->pos] == '\r')
			lx->pos++;
		lx->line++;
	}
	lx->pos++;
	return c;
}

static int lex_ends_word(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '#' || c == '{' || c == '}';
}

/* Keeps the first error of a word; the word is still read to its end. */
static void lex_fail(struct policy_token *t, unsigned line, const char *msg)
{
	if (t->type == POLICY_TOK_ERROR)
		return;
	t->type = POLICY_TOK_ERROR;
	t->line = line;
	t->err = msg;
}

static void lex_append(struct policy_lexer *lx, struct policy_token *t, int c)
{
	if (c == 0) {
		lex_fail(t, lx->line, "NUL byte in policy");
		return;
	}
	if (t->len >= POLICY_MAX_TOKEN) {
		lex_fail(t, t->line, "word too long (max " LEX_XSTR(POLICY_MAX_TOKEN) " bytes)");
		return;
	}
	t->text[t->len++] = (char)c;
}

/*
 * Reads one word starting at the current byte. Leaves the byte that ended
 * it (blank, newline, `#`, brace) unread, so a bad word never eats a line.
 */
static void lex_word(struct policy_lexer *lx, struct policy_token *t)
{
	unsigned qline = 0;
	int inq = 0;

	t->type = POLICY_TOK_WORD;
	for (;;) {
		int c = lex_peek(lx);

		if (c == EOF || (inq && c == '\n')) {
			if (inq)
				lex_fail(t, qline, "unterminated quote");
			break;
		}
		if (!inq && lex_ends_word(c))
			break;
		lex_getc(lx);
		if (c == '"') {
			inq = !inq;
			qline = lx->line;
			t->quoted = 1;
			continue;
		}
		if (c == '\\') {
			c = lex_getc(lx);
			if (c == EOF) {
				lex_fail(t, lx->line,
					 inq ? "unterminated quote" : "backslash at end of file");
				break;
			}
			if (c == '\n' && !inq)
				continue; /* line continuation */
			t->quoted = 1;
		}
		lex_append(lx, t, c);
	}
	t->text[t->len] = '\0';
}

/* Skips a comment up to (not including) its newline; NUL is still refused. */
static void lex_comment(struct policy_lexer *lx, struct policy_token *t)
{
	int c;

	while ((c = lex_peek(lx)) != EOF && c != '\n') {
		if (c == 0)
			lex_fail(t, lx->line, "NUL byte in policy");
		lex_getc(lx);
	}
}

void policy_lex_next(struct policy_lexer *lx, struct policy_token *t)
{
	for (;;) {
		int c = lex_peek(lx);

		t->type = POLICY_TOK_EOF;
		t->line = lx->line;
		t->quoted = 0;
		t->len = 0;
		t->err = NULL;
		t->text[0] = '\0';
		if (c == ' ' || c == '\t') {
			lex_getc(lx);
			continue;
		}
		switch (c) {
		case EOF: return;
		case '\n':
			lex_getc(lx);
			t->type = POLICY_TOK_EOL;
			return;
		case '#':
			lex_comment(lx, t);
			if (t->type == POLICY_TOK_ERROR)
				return;
			continue;
		case '{':
		case '}':
			lex_getc(lx);
			t->type = c == '{' ? POLICY_TOK_LBRACE : POLICY_TOK_RBRACE;
			return;
		}
		lex_word(lx, t);
		/* A lone backslash-newline between words is no word at all. */
		if (t->type == POLICY_TOK_WORD && t->len == 0 && !t->quoted)
			continue;
		return;
	}
}

int policy_lex_is_keyword(const struct policy_token *t, const char *kw)
{
	return t->type == POLICY_TOK_WORD && !t->quoted && strcmp(t->text, kw) == 0;
}
