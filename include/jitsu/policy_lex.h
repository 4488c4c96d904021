/*
 * policy_lex: the word splitter of the jitsu.conf(5) language, used only by
 * policy.c. It turns bytes into words, braces and line ends, doas-style.
 *
 * MUST rules:
 *  - Never read past len; the text need not be NUL-terminated.
 *  - A word never holds more than POLICY_MAX_TOKEN bytes and never a NUL.
 *  - After an error token the lexer is still in step: the next call starts
 *    right after the bad word, so the parser can skip to the end of the line.
 */
#ifndef JITSU_POLICY_LEX_H
#define JITSU_POLICY_LEX_H

#include <stddef.h>

#include "jitsu/policy.h"

enum policy_tok {
	POLICY_TOK_EOF,
	POLICY_TOK_EOL,
	POLICY_TOK_WORD,
	POLICY_TOK_LBRACE,
	POLICY_TOK_RBRACE,
	POLICY_TOK_ERROR,
};

struct policy_token {
	enum policy_tok type;
	unsigned line;                   /* where the token starts (errors: where found) */
	int quoted;                      /* WORD: some quote or escape was used */
	size_t len;                      /* WORD: bytes in text */
	const char *err;                 /* ERROR: static message */
	char text[POLICY_MAX_TOKEN + 1]; /* WORD: NUL-terminated */
};

struct policy_lexer {
	const unsigned char *text;
	size_t len;
	size_t pos;
	unsigned line;
};

/* Starts lexing len bytes of text at line 1. */
void policy_lex_init(struct policy_lexer *lx, const char *text, size_t len);

/* Reads the next token into t. Never fails; problems come back as ERROR. */
void policy_lex_next(struct policy_lexer *lx, struct policy_token *t);

/* Is t a word spelt exactly as kw, with no quotes or escapes? */
int policy_lex_is_keyword(const struct policy_token *t, const char *kw);

#endif
