/*
 * privsep: privilege separation of a connection. Each connection process
 * (root, forked ahead as a spare) has an unprivileged child, forked ahead
 * with it (the spare pair). The child owns the client
 * socket and is the client's proxy: it reads and decodes every client
 * message (proto_recv, proto_exec_decode, with all their caps), checks
 * it, and forwards a compact re-encoding over a socketpair (the channel)
 * to the root session, the client's descriptors passed on by SCM_RIGHTS.
 * What the root session says to the client goes out through the child.
 * The internal messages and the states that allow them are the closed
 * table of include/jitsu/privsep_msg.h.
 *
 * MUST rules:
 *  - The child runs as the privsep user (jitsud --privsep-user, default
 *    _jitsu), with no groups, no capabilities, PR_SET_NO_NEW_PRIVS, not
 *    dumpable, under the seccomp allow-list of sandbox.h. It is forked
 *    from the spare before the spare touches anything of a client, drops
 *    root and installs the filter before it reads its first byte, and
 *    keeps no descriptor but the channel (and /dev/null as 0, 1, 2).
 *  - The root session never reads the client socket. It takes the
 *    caller's identity from SO_PEERCRED on the accepted socket before the
 *    child gets it, and keeps a copy only to write a last error if the
 *    child dies.
 *  - A message outside the table kills the child and ends that
 *    connection; a dead child ends only that connection, never the daemon.
 */
#ifndef JITSUD_PRIVSEP_H
#define JITSUD_PRIVSEP_H

#include <sys/types.h>

#include "jitsud.h"

#define PRIVSEP_CHAN_FD 3 /* the channel, in the child */

/* One unprivileged child, forked ahead of its client. */
struct privsep_child {
	pid_t pid;
	int chan; /* the root end of the channel */
};

/*
 * Forks the child, which drops to the privsep user and waits for its
 * client on the channel. Returns 0, or -errno with nothing left behind.
 */
int privsep_spawn(const struct jitsud_ctx *ctx, struct privsep_child *c);

/* Hands the accepted client socket to the child (it keeps its own copy). */
int privsep_hand_client(const struct privsep_child *c, int client);

#endif
