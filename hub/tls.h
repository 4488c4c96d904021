/*
 * tls: the hub's TLS material at rest. `jitsu-hub init` makes a P-256 key
 * and a self-signed certificate here (OpenSSL), or installs a provided
 * pair; `serve` reads the PEM texts and hands them to libmicrohttpd
 * (GnuTLS). Clients pin the certificate by its SHA-256 fingerprint.
 *
 * MUST rules:
 *  - The private key is written with O_EXCL and mode 0600, never over an
 *    existing file, and never printed or logged.
 *  - A provided certificate is used only if it parses and matches the key.
 *  - PEM files are read with a size bound.
 */
#ifndef JITSU_HUB_TLS_H
#define JITSU_HUB_TLS_H

#include <stddef.h>

#define TLS_FINGERPRINT_LEN 95 /* 32 bytes as "AB:CD:...", like openssl x509 -fingerprint */
#define TLS_PEM_MAX 65536
#define TLS_DAYS 3650

/* Writes a new key (key_path) and a self-signed certificate (cert_path)
 * for CN jitsu-hub with subjectAltNames localhost, 127.0.0.1, ::1 and the
 * nsans extra names (IP addresses or DNS names). 0 or -1 with err. */
int tls_generate(const char *cert_path, const char *key_path, const char *const *sans, size_t nsans,
		 char *err, size_t errlen);
/* Copies a provided certificate and key to cert_path and key_path after
 * checking they parse and belong together. 0 or -1 with err. */
int tls_install(const char *src_cert, const char *src_key, const char *cert_path,
		const char *key_path, char *err, size_t errlen);
/* The certificate's SHA-256 fingerprint, uppercase hex pairs joined by ':'. */
int tls_fingerprint(const char *cert_path, char out[TLS_FINGERPRINT_LEN + 1], char *err,
		    size_t errlen);
/* Reads a PEM file (at most TLS_PEM_MAX bytes) into a malloc'd string. */
int tls_read_pem(const char *path, char **out, char *err, size_t errlen);

#endif
