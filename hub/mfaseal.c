/* mfaseal: the hub's MFA states sealed at rest; see mfaseal.h. */
#include "mfaseal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEAL_MAGIC "jitsu-mfa-sealed 1 "
#define USER_MAX 64
#define KEY_TEXT_LEN (2 * MFASEAL_KEY_LEN + 1) /* hex and '\n' */

static const char hexdigits[] = "0123456789abcdef";

/* What a sealed text holds: its additional data starts with aad (its NUL
 * the separator before the owner's name), so a text of one purpose never
 * opens as another; what names it in errors. */
struct purpose {
	const char *aad;
	const char *what;
};
static const struct purpose MFA_STATE = {"jitsu-mfa-state", "MFA state"};
static const struct purpose BREAKGLASS_KEY = {"jitsu-breakglass-key", "break-glass key"};

static void to_hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdigits[p[i] >> 4];
		out[2 * i + 1] = hexdigits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int nibble(char c)
{
	const char *p = c ? strchr(hexdigits, c) : NULL;
	return p ? (int)(p - hexdigits) : -1;
}

/* Exactly 2n lower-case hex digits at s into out. 0 or -1. */
static int from_hex(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = nibble(s[2 * i]), lo = hi < 0 ? -1 : nibble(s[2 * i + 1]);
		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void mfaseal_key_wipe(struct mfaseal_key *k)
{
	if (k)
		OPENSSL_cleanse(k, sizeof *k);
}

static void key_id(struct mfaseal_key *k)
{
	uint8_t d[SHA256_DIGEST_LENGTH];
	SHA256(k->key, sizeof k->key, d);
	to_hex(d, MFASEAL_ID_LEN / 2, k->id);
}

void mfaseal_key_from(struct mfaseal_key *k, const uint8_t raw[MFASEAL_KEY_LEN])
{
	memcpy(k->key, raw, MFASEAL_KEY_LEN);
	key_id(k);
}

/* Makes path with a new key, whole or not at all: written to a temporary
 * file (0600, synced), then linked in place, which fails with -EEXIST if
 * another process made it first. */
static int key_create(const char *path, char *err, size_t errlen)
{
	uint8_t key[MFASEAL_KEY_LEN];
	char text[KEY_TEXT_LEN + 1], tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	if (RAND_bytes(key, sizeof key) != 1) {
		snprintf(err, errlen, "%s: no randomness", path);
		return -EIO;
	}
	to_hex(key, sizeof key, text);
	OPENSSL_cleanse(key, sizeof key);
	text[KEY_TEXT_LEN - 1] = '\n';
	text[KEY_TEXT_LEN] = '\0';
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int r = fd < 0 ? -errno : 0;
	if (r == 0 && (write(fd, text, KEY_TEXT_LEN) != KEY_TEXT_LEN || fsync(fd) != 0))
		r = -EIO;
	if (fd >= 0)
		close(fd);
	OPENSSL_cleanse(text, sizeof text);
	if (r == 0 && link(tmp, path) != 0)
		r = -errno;
	if (fd >= 0)
		unlink(tmp);
	if (r < 0 && r != -EEXIST)
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(-r));
	return r;
}

int mfaseal_key_load(const char *path, int create, struct mfaseal_key *k, char *err, size_t errlen)
{
	char text[KEY_TEXT_LEN + 2];
	struct stat st;

	memset(k, 0, sizeof *k);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT && create) {
		int r = key_create(path, err, errlen);
		if (r < 0 && r != -EEXIST) /* -EEXIST: another process made it first */
			return r;
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	}
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path,
			 e == ELOOP ? "is a symbolic link" : strerror(e));
		return -e;
	}
	ssize_t n = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	    !(st.st_mode & 077))
		n = read(fd, text, sizeof text);
	else
		snprintf(err, errlen,
			 "%s: refused: it must be a regular file of the hub's user without group "
			 "or other permissions (chmod 600)",
			 path);
	close(fd);
	int r = n < 0 ? -EPERM : 0;
	if (r == 0 && (n != KEY_TEXT_LEN || text[KEY_TEXT_LEN - 1] != '\n' ||
		       from_hex(text, MFASEAL_KEY_LEN, k->key) != 0)) {
		snprintf(err, errlen, "%s: not a key (64 lower-case hex digits and a newline)",
			 path);
		r = -EBADMSG;
	}
	OPENSSL_cleanse(text, sizeof text);
	if (r == 0)
		key_id(k);
	else
		mfaseal_key_wipe(k);
	return r;
}

/* AES-256-GCM one shot over the additional data of pu and user; enc 1
 * seals, 0 opens (the tag checked by the final step). 0 or -1. */
static int gcm(int enc, const struct mfaseal_key *k, const struct purpose *pu, const char *user,
	       const uint8_t *nonce, const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok = c != NULL;

	ok = ok && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1;
	ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, MFASEAL_NONCE_LEN, NULL) == 1;
	ok = ok && EVP_CipherInit_ex(c, NULL, NULL, k->key, nonce, enc) == 1;
	ok = ok && EVP_CipherUpdate(c, NULL, &n, (const uint8_t *)pu->aad,
				    (int)strlen(pu->aad) + 1) == 1; /* with its NUL */
	ok = ok && EVP_CipherUpdate(c, NULL, &n, (const uint8_t *)user, (int)strlen(user)) == 1;
	ok = ok && EVP_CipherUpdate(c, out, &n, in, (int)len) == 1;
	if (!enc)
		ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, MFASEAL_TAG_LEN, tag) == 1;
	ok = ok && EVP_CipherFinal_ex(c, out + n, &n) == 1;
	if (enc)
		ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, MFASEAL_TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

static int seal(const struct mfaseal_key *k, const struct purpose *pu, const char *user,
		const char *plain, size_t len, char **out)
{
	uint8_t nonce[MFASEAL_NONCE_LEN], tag[MFASEAL_TAG_LEN], *ct;
	*out = NULL;
	if (len == 0 || len > MFASEAL_PLAIN_MAX || strlen(user) > USER_MAX)
		return -EINVAL;
	size_t size = sizeof SEAL_MAGIC + MFASEAL_ID_LEN + 1 + 2 * MFASEAL_NONCE_LEN + 1 + 2 * len +
		      1 + 2 * MFASEAL_TAG_LEN + 1;
	char *s = malloc(size);
	if (!s || !(ct = malloc(len))) {
		free(s);
		return -ENOMEM;
	}
	int r = RAND_bytes(nonce, sizeof nonce) == 1 &&
				gcm(1, k, pu, user, nonce, (const uint8_t *)plain, len, ct, tag) ==
					0
			? 0
			: -EIO;
	if (r == 0) {
		char *p = s + snprintf(s, size, "%s%s ", SEAL_MAGIC, k->id);
		to_hex(nonce, sizeof nonce, p);
		p += 2 * sizeof nonce;
		*p++ = ' ';
		to_hex(ct, len, p);
		p += 2 * len;
		*p++ = ' ';
		to_hex(tag, sizeof tag, p);
		*out = s;
	} else {
		free(s);
	}
	OPENSSL_cleanse(ct, len);
	free(ct);
	return r;
}

/* Splits the fields after the magic; checks their exact shapes. */
static int parse_sealed(const char *s, const char **id, const char **nonce, const char **ct,
			size_t *ctlen, const char **tag)
{
	size_t n = strlen(s);
	if (n < sizeof SEAL_MAGIC - 1 || memcmp(s, SEAL_MAGIC, sizeof SEAL_MAGIC - 1) != 0)
		return -1;
	*id = s + sizeof SEAL_MAGIC - 1;
	*nonce = *id + MFASEAL_ID_LEN + 1;
	*ct = *nonce + 2 * MFASEAL_NONCE_LEN + 1;
	if ((size_t)(*ct - s) + 2 + 1 + 2 * MFASEAL_TAG_LEN > n)
		return -1;
	const char *sp = strchr(*ct, ' ');
	if (!sp || (*nonce)[-1] != ' ' || (*ct)[-1] != ' ')
		return -1;
	*ctlen = (size_t)(sp - *ct);
	*tag = sp + 1;
	if (*ctlen == 0 || *ctlen % 2 || *ctlen / 2 > MFASEAL_PLAIN_MAX ||
	    strlen(*tag) != 2 * MFASEAL_TAG_LEN)
		return -1;
	*ctlen /= 2;
	return 0;
}

static int open_sealed(const struct mfaseal_key *k, const struct purpose *pu, const char *user,
		       const char *sealed, char **plain, size_t *len, char *err, size_t errlen)
{
	const char *id, *nonce_hex, *ct_hex, *tag_hex;
	uint8_t nonce[MFASEAL_NONCE_LEN], tag[MFASEAL_TAG_LEN], idb[MFASEAL_ID_LEN / 2], *ct;
	size_t n;

	*plain = NULL;
	*len = 0;
	if (strlen(user) > USER_MAX ||
	    parse_sealed(sealed, &id, &nonce_hex, &ct_hex, &n, &tag_hex) ||
	    from_hex(id, sizeof idb, idb) || from_hex(nonce_hex, sizeof nonce, nonce) ||
	    from_hex(tag_hex, sizeof tag, tag)) {
		snprintf(err, errlen, "not a sealed %s", pu->what);
		return -EBADMSG;
	}
	if (memcmp(id, k->id, MFASEAL_ID_LEN) != 0) {
		snprintf(err, errlen, "sealed under key %.16s, and this hub's key is %s", id,
			 k->id);
		return -EKEYREJECTED;
	}
	char *p = malloc(n + 1);
	if (!p || !(ct = malloc(n))) {
		free(p);
		return -ENOMEM;
	}
	int r = from_hex(ct_hex, n, ct) == 0 ? 0 : -EBADMSG;
	if (r == 0 && gcm(0, k, pu, user, nonce, ct, n, (uint8_t *)p, tag) != 0)
		r = -EACCES;
	OPENSSL_cleanse(ct, n);
	free(ct);
	if (r < 0) {
		OPENSSL_cleanse(p, n + 1);
		free(p);
		if (r == -EBADMSG)
			snprintf(err, errlen, "not a sealed %s", pu->what);
		else
			snprintf(err, errlen, "the sealed %s does not authenticate", pu->what);
		return r;
	}
	p[n] = '\0';
	*plain = p;
	*len = n;
	return 0;
}

int mfaseal_seal(const struct mfaseal_key *k, const char *user, const char *plain, size_t len,
		 char **out)
{
	return seal(k, &MFA_STATE, user, plain, len, out);
}

int mfaseal_open(const struct mfaseal_key *k, const char *user, const char *sealed, char **plain,
		 size_t *len, char *err, size_t errlen)
{
	return open_sealed(k, &MFA_STATE, user, sealed, plain, len, err, errlen);
}

int mfaseal_seal_breakglass(const struct mfaseal_key *k, const char *endpoint_id, const char *hex,
			    char **out)
{
	if (strlen(hex) != MFASEAL_BREAKGLASS_HEX) {
		*out = NULL;
		return -EINVAL;
	}
	return seal(k, &BREAKGLASS_KEY, endpoint_id, hex, MFASEAL_BREAKGLASS_HEX, out);
}

int mfaseal_open_breakglass(const struct mfaseal_key *k, const char *endpoint_id,
			    const char *sealed, char hex[MFASEAL_BREAKGLASS_HEX + 1], char *err,
			    size_t errlen)
{
	char *plain = NULL;
	size_t n = 0;
	hex[0] = '\0';
	int r = open_sealed(k, &BREAKGLASS_KEY, endpoint_id, sealed, &plain, &n, err, errlen);
	if (r < 0)
		return r;
	int ok = n == MFASEAL_BREAKGLASS_HEX;
	for (size_t i = 0; ok && i < n; i++)
		ok = nibble(plain[i]) >= 0;
	if (ok)
		memcpy(hex, plain, n + 1);
	else
		snprintf(err, errlen, "the sealed break-glass key is not 64 hex digits");
	OPENSSL_cleanse(plain, n);
	free(plain);
	return ok ? 0 : -EBADMSG;
}
