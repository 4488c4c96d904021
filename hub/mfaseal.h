/*
 * mfaseal: the hub's MFA states at rest, sealed with AES-256-GCM under a
 * key kept in a file beside hub.conf (mfa_key, default DIR/mfa.key), so a
 * copy of the database alone (a dump, a backup, a replica, a reader of
 * the tables) holds no usable TOTP secret. The trust model is in
 * docs/hub.md: whoever holds the key file and the database can read every
 * secret; the hub's host is trusted.
 *
 * Sealed text, one line, fields separated by one space:
 *   jitsu-mfa-sealed 1 <key id: 16 hex> <nonce: 24 hex> <ciphertext: hex>
 *       <tag: 32 hex>
 * The additional data is "jitsu-mfa-state\0" followed by the user name, so
 * a state moved to another user's row does not open. Endpoints' break-glass
 * keys (docs/breakglass.md) are sealed the same way under the same key,
 * with "jitsu-breakglass-key\0" and the endpoint id: neither kind opens as
 * the other, nor as another endpoint's.
 *
 * MUST rules:
 *  - The key file is trusted only if fstat on the opened fd (no symlink)
 *    shows a regular file owned by the hub's uid with no group or other
 *    permission, holding exactly 64 lower-case hex digits and a newline.
 *    It is created (0600, O_EXCL) only by the caller's choice.
 *  - A fresh random nonce per seal; the tag is checked before any
 *    plaintext is returned. Anything that does not parse exactly, or does
 *    not authenticate, is an error: never a default, never "not enrolled".
 *  - Keys and plaintexts are wiped after use; errors never carry them.
 */
#ifndef JITSU_HUB_MFASEAL_H
#define JITSU_HUB_MFASEAL_H

#include <stddef.h>
#include <stdint.h>

#define MFASEAL_KEY_LEN 32
#define MFASEAL_ID_LEN 16 /* hex digits of the key id */
#define MFASEAL_NONCE_LEN 12
#define MFASEAL_TAG_LEN 16
#define MFASEAL_PLAIN_MAX 4096 /* a state text (MFASTORE_FILE_MAX) */
#define MFASEAL_KEY_FILE "mfa.key"

struct mfaseal_key {
	uint8_t key[MFASEAL_KEY_LEN];
	char id[MFASEAL_ID_LEN + 1]; /* SHA-256 of the key, first 8 bytes: names it, safely */
};

/* Loads the key from path; with create, a missing file is made with a new
 * random key first. 0, or -errno with err naming the file and the reason. */
int mfaseal_key_load(const char *path, int create, struct mfaseal_key *k, char *err, size_t errlen);

/* Sets *k to the raw key bytes and their id (tests and the fuzzer). */
void mfaseal_key_from(struct mfaseal_key *k, const uint8_t raw[MFASEAL_KEY_LEN]);

/* Seals len bytes of plain for user into *out (malloc'd text). 0 or -errno. */
int mfaseal_seal(const struct mfaseal_key *k, const char *user, const char *plain, size_t len,
		 char **out);

/*
 * Opens a sealed text for user into *plain (malloc'd, NUL-terminated,
 * *len bytes; the caller wipes and frees it). Returns 0; -EBADMSG if it
 * does not parse; -EKEYREJECTED if it was sealed under another key (err
 * names both ids); -EACCES if it does not authenticate; -ENOMEM.
 */
int mfaseal_open(const struct mfaseal_key *k, const char *user, const char *sealed, char **plain,
		 size_t *len, char *err, size_t errlen);

#define MFASEAL_BREAKGLASS_HEX 64 /* a break-glass key: 32 bytes in hex */

/* Seals endpoint_id's break-glass key (64 hex digits) into *out
 * (malloc'd text). 0 or -errno. */
int mfaseal_seal_breakglass(const struct mfaseal_key *k, const char *endpoint_id, const char *hex,
			    char **out);

/* Opens endpoint_id's sealed break-glass key into hex. Errors as
 * mfaseal_open(), and -EBADMSG for a plaintext that is not 64 hex digits;
 * hex is then "". */
int mfaseal_open_breakglass(const struct mfaseal_key *k, const char *endpoint_id,
			    const char *sealed, char hex[MFASEAL_BREAKGLASS_HEX + 1], char *err,
			    size_t errlen);

void mfaseal_key_wipe(struct mfaseal_key *k);

#endif
