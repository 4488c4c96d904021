/* auth: token and credential making, hashing, parsing; see auth.h. */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "jitsu/digest.h"

static const char hexdigits[] = "0123456789abcdef";

static void to_hex(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdigits[p[i] >> 4];
		out[2 * i + 1] = hexdigits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int auth_random_hex(char *out, size_t n)
{
	unsigned char buf[64];
	size_t got = 0;

	if (n > sizeof buf)
		return -1;
	while (got < n) {
		ssize_t r = getrandom(buf + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	to_hex(buf, n, out);
	explicit_bzero(buf, sizeof buf);
	return 0;
}

int auth_new_id(char id[AUTH_ID_LEN + 1])
{
	return auth_random_hex(id, AUTH_ID_LEN / 2);
}

void auth_hash(const char *s, char out[AUTH_HASH_LEN + 1])
{
	uint8_t d[DIGEST_SHA256_LEN];
	digest_sha256(s, strlen(s), d);
	to_hex(d, sizeof d, out);
}

int auth_is_hex(const char *s, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++) {
		if (!s[i] || !strchr(hexdigits, s[i]))
			return 0;
	}
	return s[i] == '\0';
}

int auth_token_new(const char *kind, char token[AUTH_TOKEN_LEN + 1], char id[AUTH_ID_LEN + 1],
		   char hash[AUTH_HASH_LEN + 1])
{
	char secret[AUTH_SECRET_LEN + 1];

	if (strlen(kind) != 3 || auth_new_id(id) != 0 ||
	    auth_random_hex(secret, AUTH_SECRET_LEN / 2) != 0)
		return -1;
	snprintf(token, AUTH_TOKEN_LEN + 1, "%s_%s_%s", kind, id, secret);
	explicit_bzero(secret, sizeof secret);
	auth_hash(token, hash);
	return 0;
}

int auth_token_parse(const char *kind, const char *token, char id[AUTH_ID_LEN + 1],
		     char hash[AUTH_HASH_LEN + 1])
{
	if (!token || strlen(token) != AUTH_TOKEN_LEN || strncmp(token, kind, 3) != 0 ||
	    token[3] != '_' || token[4 + AUTH_ID_LEN] != '_' ||
	    !auth_is_hex(token + 5 + AUTH_ID_LEN, AUTH_SECRET_LEN))
		return -1;
	memcpy(id, token + 4, AUTH_ID_LEN);
	id[AUTH_ID_LEN] = '\0';
	if (!auth_is_hex(id, AUTH_ID_LEN))
		return -1;
	auth_hash(token, hash);
	return 0;
}

int auth_credential_new(char cred[AUTH_SECRET_LEN + 1], char hash[AUTH_HASH_LEN + 1])
{
	if (auth_random_hex(cred, AUTH_SECRET_LEN / 2) != 0)
		return -1;
	auth_hash(cred, hash);
	return 0;
}

/* "Endpoint <id>:<credential>" after the scheme and its space. */
static int parse_endpoint(const char *v, struct auth_claim *c)
{
	char cred[AUTH_SECRET_LEN + 1];

	if (strlen(v) != AUTH_ID_LEN + 1 + AUTH_SECRET_LEN || v[AUTH_ID_LEN] != ':')
		return -1;
	memcpy(c->id, v, AUTH_ID_LEN);
	c->id[AUTH_ID_LEN] = '\0';
	memcpy(cred, v + AUTH_ID_LEN + 1, AUTH_SECRET_LEN + 1);
	int ok = auth_is_hex(c->id, AUTH_ID_LEN) && auth_is_hex(cred, AUTH_SECRET_LEN);
	if (ok)
		auth_hash(cred, c->hash);
	explicit_bzero(cred, sizeof cred);
	return ok ? 0 : -1;
}

void auth_parse_header(const char *value, struct auth_claim *c)
{
	memset(c, 0, sizeof *c);
	if (!value) {
		c->scheme = AUTH_NONE;
		return;
	}
	/* The scheme is case-insensitive (RFC 9110); the rest is exact. */
	if (strncasecmp(value, "Bearer ", 7) == 0 &&
	    auth_token_parse(AUTH_TOKEN_USER, value + 7, c->id, c->hash) == 0)
		c->scheme = AUTH_BEARER;
	else if (strncasecmp(value, "Endpoint ", 9) == 0 && parse_endpoint(value + 9, c) == 0)
		c->scheme = AUTH_ENDPOINT;
	else {
		memset(c, 0, sizeof *c);
		c->scheme = AUTH_MALFORMED;
	}
}
