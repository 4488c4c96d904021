/*
 * notify: the sd_notify(3) readiness protocol, spoken directly.
 *
 * jitsud does not link libsystemd for this: it would map libgcrypt,
 * liblzma, libzstd, liblz4 and libcap (over 2 MiB of resident pages and a
 * slower fork for every connection) to send one datagram. sd_notify(3)
 * documents the protocol as stable and invites exactly this: one datagram
 * of "KEY=value" lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a
 * path, or an abstract name starting with '@').
 */
#ifndef JITSUD_NOTIFY_H
#define JITSUD_NOTIFY_H

/* Sends state (e.g. "READY=1") if $NOTIFY_SOCKET is set. Returns 1 when
 * sent, 0 when there is no socket to tell, or -errno. */
int notify_send(const char *state);

#endif
