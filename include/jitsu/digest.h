/*
 * digest: SHA-256 for the hot path, and the one source of randomness.
 *
 * Hashing here uses nettle rather than OpenSSL's libcrypto: the client
 * (`jitsu -C`) and the policy loader need only SHA-256, and loading and
 * initialising libcrypto costs the client about 0.6 ms per run, a third of
 * the whole elevation budget. The daemon avoids libcrypto too: it keeps
 * about 3.3 MB resident once initialised, against a 4 MiB idle target for
 * all of jitsud, and every per-connection fork pays for its mappings. So
 * HMAC and PBKDF2 come from nettle (<nettle/hmac.h>, <nettle/pbkdf2.h>),
 * constant-time comparison from memeql_sec() (<nettle/memops.h>), wiping
 * from explicit_bzero(), and randomness from digest_random() below. Only
 * TLS (lib/hubclient.c, for jitsu-hubcall and jitsuctl) still links OpenSSL.
 */
#ifndef JITSU_DIGEST_H
#define JITSU_DIGEST_H

#include <nettle/sha2.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_SHA256_LEN 32

struct digest_sha256 {
	struct sha256_ctx ctx;
};

void digest_sha256_init(struct digest_sha256 *d);
void digest_sha256_update(struct digest_sha256 *d, const void *p, size_t n);
void digest_sha256_final(struct digest_sha256 *d, uint8_t out[DIGEST_SHA256_LEN]);

/* One-shot SHA-256 of n bytes. */
void digest_sha256(const void *p, size_t n, uint8_t out[DIGEST_SHA256_LEN]);

/*
 * Fills p with n bytes from the kernel CSPRNG: getrandom(2) with no flags,
 * which blocks until the pool is initialised, looping over short reads and
 * EINTR. There is no fallback (no /dev/urandom, no user-space generator).
 * Returns 0, or -errno with the contents of p unspecified.
 */
int digest_random(void *p, size_t n);

#endif
