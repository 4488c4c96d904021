/*
 * auth: jitsu-hub's secrets. Makes API tokens, enrollment tokens and
 * endpoint credentials from the kernel's random generator, hashes them for
 * storage, and parses the Authorization header. Pure apart from
 * getrandom(2); the lookups and role checks that use these are in api.c.
 *
 * Formats (docs/hub-api.md):
 *   API token         jhu_<id>_<secret>       id 16, secret 64 lowercase hex
 *   enrollment token  jhe_<id>_<secret>
 *   endpoint          Authorization: Endpoint <endpoint-id>:<credential>
 *                     credential 64 lowercase hex
 * The stored hash is SHA-256 of the whole token or credential text, as 64
 * lowercase hex.
 *
 * MUST rules:
 *  - Secrets come only from getrandom(2); a short or failed read is an
 *    error, never a weaker token.
 *  - Parsers accept exactly the formats above (lengths, alphabet, one
 *    space after the scheme); anything else is malformed.
 *  - Callers wipe token and credential buffers (explicit_bzero) after use
 *    and never log them; nothing here logs.
 */
#ifndef JITSU_HUB_AUTH_H
#define JITSU_HUB_AUTH_H

#include <stddef.h>

#define AUTH_ID_LEN 16
#define AUTH_SECRET_LEN 64
#define AUTH_HASH_LEN 64
#define AUTH_TOKEN_LEN (4 + AUTH_ID_LEN + 1 + AUTH_SECRET_LEN) /* jhu_<id>_<secret> */
#define AUTH_TOKEN_USER "jhu"
#define AUTH_TOKEN_ENROLL "jhe"

enum auth_scheme {
	AUTH_NONE = 0,  /* no Authorization header */
	AUTH_BEARER,    /* a user's API token */
	AUTH_ENDPOINT,  /* an endpoint's id and credential */
	AUTH_MALFORMED, /* present but not one of the above */
};

/* What an Authorization header names: the id to look up and the hash of
 * the secret part to compare. */
struct auth_claim {
	enum auth_scheme scheme;
	char id[AUTH_ID_LEN + 1];
	char hash[AUTH_HASH_LEN + 1];
};

/* n random bytes as 2n lowercase hex digits plus NUL into out. 0 or -1. */
int auth_random_hex(char *out, size_t n);
/* A fresh random id (AUTH_ID_LEN hex digits). 0 or -1. */
int auth_new_id(char id[AUTH_ID_LEN + 1]);
/* SHA-256 of the text s as lowercase hex. */
void auth_hash(const char *s, char out[AUTH_HASH_LEN + 1]);

/* A new token "<kind>_<id>_<secret>" (kind AUTH_TOKEN_USER or _ENROLL),
 * its id and hash. 0 or -1. */
int auth_token_new(const char *kind, char token[AUTH_TOKEN_LEN + 1], char id[AUTH_ID_LEN + 1],
		   char hash[AUTH_HASH_LEN + 1]);
/* Splits a token of that kind into id and hash. 0, or -1 if malformed. */
int auth_token_parse(const char *kind, const char *token, char id[AUTH_ID_LEN + 1],
		     char hash[AUTH_HASH_LEN + 1]);
/* A new endpoint credential and its hash. 0 or -1. */
int auth_credential_new(char cred[AUTH_SECRET_LEN + 1], char hash[AUTH_HASH_LEN + 1]);

/* Parses an Authorization header value (NULL: none) into claim. */
void auth_parse_header(const char *value, struct auth_claim *claim);

/* 1 if s is exactly n lowercase hex digits. */
int auth_is_hex(const char *s, size_t n);

#endif
