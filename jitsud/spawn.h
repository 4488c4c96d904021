/*
 * spawn: the privileged exec, in doas order.
 *
 * MUST rules:
 *  - The child gets exactly the fds named in struct spawn_req as 0, 1 and 2;
 *    every other fd is closed on exec. The user's own terminal is never
 *    among them: the caller substitutes the pty slave for any tty.
 *  - Groups, then gid, then uid are set, and each call is checked; a
 *    failure kills the child before exec.
 *  - The command execs the verified fd (execveat AT_EMPTY_PATH), never a path.
 *  - The monitor between the connection process and the command runs with
 *    the target's credentials and holds no fd of the connection process.
 *  - It waits at a gate until the parent has recorded the start, so nothing
 *    runs that was not logged first.
 */
#ifndef JITSUD_SPAWN_H
#define JITSUD_SPAWN_H

#include <sys/types.h>

struct spawn_req {
	int exec_fd;   /* the verified binary (O_PATH) */
	int is_script; /* keep exec_fd open across exec for the interpreter */
	char *const *argv;
	char *const *envp;
	int stdio[3]; /* installed as fds 0, 1, 2 */
	int ctty;     /* pty slave to make the controlling tty, or -1 */
	int cwd_fd;
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* the target's supplementary groups */
	int ngroups;
};

struct spawn {
	pid_t pid;   /* the monitor, which mirrors the command's stops and exit */
	pid_t cmd;   /* the command, leader of its own process group */
	int gate_fd; /* parent's end: one byte releases the child */
	int err_fd;  /* parent's end: EOF means exec succeeded, else an errno */
};

/* Forks the monitor and through it the command, which stops at the gate.
 * Returns 0, or -errno; when s->pid > 0 the monitor must still be reaped. */
int spawn_start(const struct spawn_req *r, struct spawn *s);

/*
 * Opens the gate and waits for the exec. Returns 0 when the command is
 * running, or the positive errno of the failed step (the child has then
 * exited with 127 and must still be reaped).
 */
int spawn_release(struct spawn *s);

/* Closes the gate without releasing: the child exits unrun. */
void spawn_abort(struct spawn *s);

#endif
