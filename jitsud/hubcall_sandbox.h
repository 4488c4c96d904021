/*
 * hubcall_sandbox: the seccomp filter jitsu-hubcall puts on itself before
 * it talks to the hub.
 *
 * Why: the helper parses what the network sends (TLS, HTTP, JSON) with
 * libcurl, OpenSSL and jansson. It already runs as the privsep user with no new
 * privileges; the filter also takes away the kernel's wider surface from
 * code that a hostile hub might get to run there: no exec, no ptrace, no
 * namespaces, mounts, keyrings, BPF, io_uring, no signals to other
 * processes, and only the terminal ioctls stdio needs.
 *
 * MUST rules:
 *  - An allow-list: any system call not named is fatal for the whole
 *    process (SECCOMP_RET_KILL_PROCESS), so a violation fails the call
 *    closed in jitsud.
 *  - The list covers what one HTTPS call needs: files (NSS, resolv.conf,
 *    OpenSSL's configuration, CA files), sockets (TCP, UDP for DNS, Unix
 *    for nscd), polling, memory, threads (libcurl's resolver thread),
 *    time and randomness. Nothing that creates processes or changes ids.
 *  - Installed after the request was read, before any network byte, and
 *    only for `jitsu-hubcall call` (enrollment runs as root and writes
 *    the state directory; it is not filtered).
 */
#ifndef JITSUD_HUBCALL_SANDBOX_H
#define JITSUD_HUBCALL_SANDBOX_H

#include <stddef.h>

/* Installs the filter on the calling process (all its threads, present
 * and future). Returns 0, or -errno with a one-line reason in err. */
int hubcall_sandbox(char *err, size_t errlen);

#endif
