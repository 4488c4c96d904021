/* digest: SHA-256 through nettle and randomness through getrandom(2); see
 * include/jitsu/digest.h for why. */
#include "jitsu/digest.h"

#include <errno.h>
#include <sys/random.h>

void digest_sha256_init(struct digest_sha256 *d)
{
	sha256_init(&d->ctx);
}

void digest_sha256_update(struct digest_sha256 *d, const void *p, size_t n)
{
	sha256_update(&d->ctx, n, p);
}

void digest_sha256_final(struct digest_sha256 *d, uint8_t out[DIGEST_SHA256_LEN])
{
	sha256_digest(&d->ctx, DIGEST_SHA256_LEN, out);
}

void digest_sha256(const void *p, size_t n, uint8_t out[DIGEST_SHA256_LEN])
{
	struct digest_sha256 d;
	digest_sha256_init(&d);
	digest_sha256_update(&d, p, n);
	digest_sha256_final(&d, out);
}

int digest_random(void *p, size_t n)
{
	uint8_t *b = p;
	while (n > 0) {
		ssize_t r = getrandom(b, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}
