/*
 * digest: SHA-256 for the hot path.
 *
 * Hashing here uses nettle rather than OpenSSL's libcrypto: the client
 * (`jitsu -C`) and the policy loader need only SHA-256, and loading and
 * initialising libcrypto costs the client about 0.6 ms per run, a third of
 * the whole elevation budget. Everything else (HMAC, randomness, sealing)
 * uses libcrypto in the daemon, where it is loaded once.
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

#endif
