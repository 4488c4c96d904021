/*
 * spawn: fork a monitor, drop to the target user, fork the command and
 * exec the verified fd. The MUST rules are in spawn.h.
 *
 * Why a monitor: a command that leads its own session has a parent (the
 * connection process) outside that session, so its process group is
 * orphaned, and the kernel discards SIGTSTP, SIGTTIN and SIGTTOU for
 * orphaned groups: Ctrl-Z would do nothing. So, as sudo does, a small
 * monitor leads the new session, and the command runs in a process group
 * of its own inside it, in the terminal's foreground. When the command
 * stops, the monitor stops itself, which its parent sees and tells the
 * client; when the monitor is continued, it gives the terminal back to the
 * command and continues it. The monitor mirrors the command's exit.
 *
 * Without a terminal there is no session to lead: the command is forked
 * directly, in a process group of its own inside jitsud's session (its
 * parent is in the same session, so the group is not orphaned and a
 * forwarded SIGTSTP stops it), and it drops any controlling terminal
 * jitsud itself may have (jitsud -f started from a shell).
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* Reports errno to the connection process and exits; async-signal-safe. */
static void child_fail(int err_fd)
{
	int e = errno ? errno : EINVAL;
	ssize_t w = write(err_fd, &e, sizeof e);
	(void)w;
	_exit(127);
}

static void child_stdio(const struct spawn_req *r, int err_fd)
{
	int high[3];
	/* Move the sources out of 0..2 first so dup2 cannot clobber one. */
	for (int i = 0; i < 3; i++)
		if ((high[i] = fcntl(r->stdio[i], F_DUPFD_CLOEXEC, 10)) < 0)
			child_fail(err_fd);
	for (int i = 0; i < 3; i++)
		if (dup2(high[i], i) < 0)
			child_fail(err_fd);
}

static void child_drop(const struct spawn_req *r, int err_fd)
{
	if (setgroups((size_t)r->ngroups, r->groups) < 0 || setresgid(r->gid, r->gid, r->gid) < 0 ||
	    setresuid(r->uid, r->uid, r->uid) < 0)
		child_fail(err_fd);
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != r->uid ||
	    eu != r->uid || su != r->uid || rg != r->gid || eg != r->gid || sg != r->gid) {
		errno = EPERM;
		child_fail(err_fd);
	}
}

/* The command: waits at the gate, then becomes the verified binary. */
static void command_run(const struct spawn_req *r, int gate, int err_fd)
{
	sigset_t none;
	char go;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setpgid(0, 0);
	if (read(gate, &go, 1) != 1)
		_exit(125);
	/* Everything but 0..2 closes on exec; a script's interpreter needs
	 * its fd to open /dev/fd/N. */
	if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		child_fail(err_fd);
	if (r->is_script && fcntl(r->exec_fd, F_SETFD, 0) < 0)
		child_fail(err_fd);
	execveat(r->exec_fd, "", r->argv, r->envp, AT_EMPTY_PATH);
	child_fail(err_fd);
}

/* Ends the monitor the way the command ended. */
static void mirror_exit(int st)
{
	if (WIFSIGNALED(st)) {
		sigset_t one;
		sigemptyset(&one);
		sigaddset(&one, WTERMSIG(st));
		signal(WTERMSIG(st), SIG_DFL);
		kill(getpid(), WTERMSIG(st));
		sigprocmask(SIG_UNBLOCK, &one, NULL);
		_exit(128 + WTERMSIG(st));
	}
	_exit(WEXITSTATUS(st));
}

/* Gives the terminal to the command's group; the monitor leads the session. */
static void foreground(int ctty, pid_t cmd)
{
	if (ctty >= 0)
		tcsetpgrp(ctty, cmd);
}

/* Waits for the command; stops and continues with it. Never returns. */
static void monitor_loop(pid_t cmd, int ctty)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGCONT);
	sigaddset(&set, SIGTTOU);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (;;) {
		int st, sig = sigwaitinfo(&set, NULL);
		if (sig == SIGCONT) {
			foreground(ctty, cmd);
			kill(-cmd, SIGCONT);
			continue;
		}
		if (sig != SIGCHLD)
			continue;
		while (waitpid(cmd, &st, WNOHANG | WUNTRACED) == cmd) {
			if (!WIFSTOPPED(st))
				mirror_exit(st);
			/* The connection process sees this and suspends the client. */
			kill(getpid(), SIGSTOP);
		}
	}
}

/*
 * The monitor: a new session on the pty (if any), the command's stdio,
 * cwd and credentials, then the command forked at its gate. Its pid goes
 * to the connection process before the gate can open.
 */
static void monitor_run(const struct spawn_req *r, int gate, int err_fd, int pid_fd)
{
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	if (setsid() < 0)
		child_fail(err_fd);
	if (r->ctty >= 0 && ioctl(r->ctty, TIOCSCTTY, 0) < 0)
		child_fail(err_fd);
	child_stdio(r, err_fd);
	if (fchdir(r->cwd_fd) < 0)
		child_fail(err_fd);
	child_drop(r, err_fd);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, NULL); /* no exit lost before the loop */
	pid_t cmd = fork();
	if (cmd < 0)
		child_fail(err_fd);
	if (cmd == 0)
		command_run(r, gate, err_fd);
	setpgid(cmd, cmd); /* also done by the child: whichever runs first */
	foreground(r->ctty, cmd);
	if (write(pid_fd, &cmd, sizeof cmd) != (ssize_t)sizeof cmd)
		_exit(127);
	/* The monitor keeps nothing of the connection process: no socket, no
	 * audit files, no pipes, not even the command's stdio. Its terminal
	 * it reaches again as /dev/tty. */
	int has_tty = r->ctty >= 0;
	syscall(SYS_close_range, 0, ~0U, 0);
	monitor_loop(cmd, has_tty ? open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC) : -1);
}

/* Leaves whatever controlling terminal was inherited. */
static void drop_ctty(void)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0) {
		ioctl(fd, TIOCNOTTY);
		close(fd);
	}
}

/* The command without a terminal: no monitor, no new session. */
static void direct_run(const struct spawn_req *r, int gate, int err_fd)
{
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	if (setpgid(0, 0) < 0)
		child_fail(err_fd);
	drop_ctty();
	child_stdio(r, err_fd);
	if (fchdir(r->cwd_fd) < 0)
		child_fail(err_fd);
	child_drop(r, err_fd);
	command_run(r, gate, err_fd);
}

int spawn_start(const struct spawn_req *r, struct spawn *s)
{
	int gate[2], errp[2], pidp[2];

	if (pipe2(gate, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(errp, O_CLOEXEC) < 0 || pipe2(pidp, O_CLOEXEC) < 0) {
		int e = -errno;
		close(gate[0]);
		close(gate[1]);
		return e;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(gate[1]);
		close(errp[0]);
		close(pidp[0]);
		if (r->ctty < 0)
			direct_run(r, gate[0], errp[1]);
		monitor_run(r, gate[0], errp[1], pidp[1]);
	}
	int e = pid < 0 ? -errno : 0;
	close(gate[0]);
	close(errp[1]);
	close(pidp[1]);
	s->pid = pid;
	s->cmd = -1;
	s->gate_fd = pid < 0 ? (close(gate[1]), -1) : gate[1];
	s->err_fd = pid < 0 ? (close(errp[0]), -1) : errp[0];
	if (pid > 0 && r->ctty < 0) {
		setpgid(pid, pid); /* also done by the child: whichever runs first */
		s->cmd = pid;
	} else if (pid > 0 && read(pidp[0], &s->cmd, sizeof s->cmd) != (ssize_t)sizeof s->cmd) {
		/* The monitor failed before the command existed: its errno. */
		int child_errno = 0;
		s->cmd = -1;
		e = read(errp[0], &child_errno, sizeof child_errno) ==
					    (ssize_t)sizeof child_errno &&
				    child_errno > 0
			    ? -child_errno
			    : -ECHILD;
	}
	close(pidp[0]);
	if (e < 0)
		spawn_abort(s);
	return e;
}

int spawn_release(struct spawn *s)
{
	int e = 0;
	ssize_t n;

	do
		n = write(s->gate_fd, "x", 1);
	while (n < 0 && errno == EINTR);
	close(s->gate_fd);
	s->gate_fd = -1;
	do
		n = read(s->err_fd, &e, sizeof e);
	while (n < 0 && errno == EINTR);
	close(s->err_fd);
	s->err_fd = -1;
	if (n == 0)
		return 0;
	return n == (ssize_t)sizeof e && e > 0 ? e : EIO;
}

void spawn_abort(struct spawn *s)
{
	if (s->gate_fd >= 0)
		close(s->gate_fd);
	if (s->err_fd >= 0)
		close(s->err_fd);
	s->gate_fd = s->err_fd = -1;
}
