/*
 * sandbox: how a jitsud process gives up root for good, and the seccomp
 * allow-list of the unprivileged connection child (privsep.h).
 *
 * MUST rules:
 *  - sandbox_drop() leaves no way back: every uid and gid is the target's,
 *    no supplementary groups, an empty capability bounding set,
 *    PR_SET_NO_NEW_PRIVS, and the process is not dumpable (no process of
 *    the same user may ptrace it or read its memory).
 *  - The filter allows only the system calls the child's loop needs; any
 *    other raises SIGSYS, whose handler reports the call's number on the
 *    report fd as one PS_SECCOMP frame and exits. The call never runs.
 *  - Descriptors cannot be created except by receiving them; memory can
 *    never be made executable; no signal can be sent (an abort() shows as
 *    a refused tgkill).
 *  - The one exception is a build for make valgrind (-Dvalgrind=true,
 *    never installed): it also allows executable mappings and
 *    rt_sigtimedwait, which valgrind calls itself inside the child.
 */
#ifndef JITSUD_SANDBOX_H
#define JITSUD_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

/* Drops from root to uid:gid as above. Returns 0 or -errno. */
int sandbox_drop(uid_t uid, gid_t gid);

/* Compiles the filter once, in the daemon at start (a child then only
 * installs it). Returns 0, or -errno with a reason in err. */
int sandbox_prepare(char *err, size_t errlen);

/* Installs the SIGSYS reporter (to report_fd) and the filter (compiling it
 * first if sandbox_prepare() was not called). Returns 0 or -errno; the
 * caller must not go on without it. */
int sandbox_seccomp(int report_fd);

/* The name of syscall nr on this architecture into buf ("#nr" if unknown),
 * for the log. */
void sandbox_syscall_name(int nr, char *buf, size_t len);

#endif
