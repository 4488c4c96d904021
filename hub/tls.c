/* tls: key and certificate generation, installation, fingerprint; see tls.h. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SAN_MAX 2048

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
							  ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): tool bug llvm#40656
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int ssl_fail(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	ERR_error_string_n(e, buf, sizeof buf);
	set_err(err, errlen, "%s: %s", what, e ? buf : "failed");
	ERR_clear_error();
	return -1;
}

/* Opens path for a new file with mode; fails if it exists. */
static FILE *create_new(const char *path, mode_t mode, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	return f;
}

static int close_synced(FILE *f, const char *path, char *err, size_t errlen)
{
	int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
	if (fclose(f) != 0 || bad) {
		set_err(err, errlen, "%s: write failed", path);
		return -1;
	}
	return 0;
}

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	int ok = ext && X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* "DNS:localhost,IP:127.0.0.1,IP:::1" plus the extra names. */
static int san_text(char *buf, size_t size, const char *const *sans, size_t nsans)
{
	size_t off = (size_t)snprintf(buf, size, "DNS:localhost,IP:127.0.0.1,IP:::1");
	for (size_t i = 0; i < nsans; i++) {
		unsigned char a[16];
		int ip =
			inet_pton(AF_INET, sans[i], a) == 1 || inet_pton(AF_INET6, sans[i], a) == 1;
		static const char dns[] = "abcdefghijklmnopqrstuvwxyz"
					  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*";
		if (!ip && (!*sans[i] || sans[i][strspn(sans[i], dns)] != '\0'))
			return -1;
		int n = snprintf(buf + off, size - off, ",%s:%s", ip ? "IP" : "DNS", sans[i]);
		if (n < 0 || (size_t)n >= size - off)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static X509 *make_cert(EVP_PKEY *key, const char *san)
{
	X509 *x = X509_new();
	BIGNUM *serial = BN_new();
	X509_NAME *name = x ? X509_get_subject_name(x) : NULL;
	int ok = x && serial && name && X509_set_version(x, 2) &&
		 BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
		 BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) &&
		 X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
		 X509_gmtime_adj(X509_getm_notAfter(x), 86400L * TLS_DAYS) &&
		 X509_set_pubkey(x, key) &&
		 X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					    (const unsigned char *)"jitsu-hub", -1, -1, 0) &&
		 X509_set_issuer_name(x, name) &&
		 add_ext(x, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
		 add_ext(x, NID_key_usage, "critical,digitalSignature") == 0 &&
		 add_ext(x, NID_ext_key_usage, "serverAuth") == 0 &&
		 add_ext(x, NID_subject_key_identifier, "hash") == 0 &&
		 add_ext(x, NID_authority_key_identifier, "keyid:always") == 0 &&
		 add_ext(x, NID_subject_alt_name, san) == 0 && X509_sign(x, key, EVP_sha256()) > 0;
	BN_free(serial);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

int tls_generate(const char *cert_path, const char *key_path, const char *const *sans, size_t nsans,
		 char *err, size_t errlen)
{
	char san[SAN_MAX];
	int rc = -1;

	if (san_text(san, sizeof san, sans, nsans) != 0) {
		set_err(err, errlen, "invalid or too many subject alternative names");
		return -1;
	}
	EVP_PKEY *key = EVP_EC_gen("P-256");
	if (!key)
		return ssl_fail(err, errlen, "generating the key");
	X509 *x = make_cert(key, san);
	if (!x) {
		EVP_PKEY_free(key);
		return ssl_fail(err, errlen, "making the certificate");
	}
	FILE *kf = create_new(key_path, 0600, err, errlen);
	if (kf) {
		int ok = PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL);
		if (close_synced(kf, key_path, err, errlen) == 0 && ok) {
			FILE *cf = create_new(cert_path, 0644, err, errlen);
			ok = cf && PEM_write_X509(cf, x);
			if (cf && close_synced(cf, cert_path, err, errlen) == 0 && ok)
				rc = 0;
		}
	}
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

static X509 *load_cert(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (!x)
		ssl_fail(err, errlen, path);
	return x;
}

static EVP_PKEY *load_key(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (!k)
		ssl_fail(err, errlen, path);
	return k;
}

int tls_install(const char *src_cert, const char *src_key, const char *cert_path,
		const char *key_path, char *err, size_t errlen)
{
	int rc = -1;
	X509 *x = load_cert(src_cert, err, errlen);
	EVP_PKEY *k = x ? load_key(src_key, err, errlen) : NULL;

	if (k && X509_check_private_key(x, k) != 1)
		ssl_fail(err, errlen, "the certificate does not match the key");
	else if (k) {
		FILE *kf = create_new(key_path, 0600, err, errlen);
		int ok = kf && PEM_write_PrivateKey(kf, k, NULL, NULL, 0, NULL, NULL);
		if (kf && close_synced(kf, key_path, err, errlen) == 0 && ok) {
			FILE *cf = create_new(cert_path, 0644, err, errlen);
			ok = cf && PEM_write_X509(cf, x);
			if (cf && close_synced(cf, cert_path, err, errlen) == 0 && ok)
				rc = 0;
		}
	}
	EVP_PKEY_free(k);
	X509_free(x);
	return rc;
}

int tls_fingerprint(const char *cert_path, char out[TLS_FINGERPRINT_LEN + 1], char *err,
		    size_t errlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	X509 *x = load_cert(cert_path, err, errlen);

	if (!x)
		return -1;
	int ok = X509_digest(x, EVP_sha256(), md, &n) == 1 && n == 32;
	X509_free(x);
	if (!ok)
		return ssl_fail(err, errlen, "fingerprint");
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 3 * i, 4, i + 1 < n ? "%02X:" : "%02X", md[i]);
	return 0;
}

int tls_read_pem(const char *path, char **out, char *err, size_t errlen)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*out = NULL;
	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
	    sb.st_size > TLS_PEM_MAX) {
		set_err(err, errlen, "%s: not a readable PEM file of at most %d bytes", path,
			TLS_PEM_MAX);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char *buf = malloc((size_t)sb.st_size + 1);
	ssize_t n = buf ? read(fd, buf, (size_t)sb.st_size) : -1;
	close(fd);
	if (n != sb.st_size) {
		set_err(err, errlen, "%s: read failed", path);
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}
