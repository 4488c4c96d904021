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
 *  - An allow-list: any system call not named raises SIGSYS
 *    (SECCOMP_RET_TRAP) and never runs. The handler reports its number on
 *    the report fd and the whole process dies of SIGSYS, so a violation
 *    fails the call closed in jitsud, which logs the call by name. Code
 *    that took the helper over may catch SIGSYS itself; it only keeps
 *    itself alive, the refused call still does not run.
 *  - The list covers what one HTTPS call needs: files, read-only (NSS,
 *    resolv.conf, OpenSSL's configuration, CA files), sockets (TCP, UDP
 *    for DNS, Unix for nscd, netlink for the local addresses), polling,
 *    memory, threads (libcurl's resolver thread), time and randomness.
 *    Nothing that creates processes, files or listening sockets, or
 *    changes ids; bind fails with EACCES.
 *  - Installed after the request was read, before any network byte, for
 *    every network step: `jitsu-hubcall call` and `jitsu-hubcall
 *    fingerprint` (enrollment's first look at the hub).
 */
#ifndef JITSUD_HUBCALL_SANDBOX_H
#define JITSUD_HUBCALL_SANDBOX_H

#include <stddef.h>

/* The helper's descriptor for the filter's reports (a pipe jitsud reads):
 * 4 bytes, big-endian, the number of the system call refused. */
#define HUBCALL_REPORT_FD 3

/* Installs the SIGSYS reporter (to report_fd, or no report if -1) and the
 * filter on the calling process (all its threads, present and future).
 * Returns 0, or -errno with a one-line reason in err. */
int hubcall_sandbox(int report_fd, char *err, size_t errlen);

#endif
