/*
 * spawnfd: posix_spawn from a descriptor. The MUST rules are in
 * include/jitsu/spawnfd.h.
 */
#include "jitsu/spawnfd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <unistd.h>

int spawnfd(int exe_fd, char *const argv[], int chan, pid_t *pid)
{
	/* Both above the standard fds and the target 3, so that no dup2 of
	 * the file actions lands on either. */
	int moved = fcntl(chan, F_DUPFD_CLOEXEC, 10);
	if (moved < 0)
		return -errno;
	int exe = fcntl(exe_fd, F_DUPFD_CLOEXEC, 10);
	if (exe < 0) {
		int e = errno;
		close(moved);
		return -e;
	}
	/* The kernel resolves the path before close-on-exec closes exe. */
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", exe);
	char *envp[] = {NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	int e = posix_spawn_file_actions_init(&fa);
	if (e) {
		close(moved);
		close(exe);
		return -e;
	}
	e = posix_spawnattr_init(&at);
	if (e) {
		posix_spawn_file_actions_destroy(&fa);
		close(moved);
		close(exe);
		return -e;
	}
	e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
	if (!e)
		e = posix_spawn_file_actions_adddup2(&fa, 0, 1);
	if (!e)
		e = posix_spawn_file_actions_adddup2(&fa, 0, 2);
	if (!e)
		e = posix_spawn_file_actions_adddup2(&fa, moved, 3);
	if (!e)
		e = posix_spawnattr_setsigmask(&at, &none);
	if (!e)
		e = posix_spawnattr_setsigdefault(&at, &all);
	if (!e)
		e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (!e)
		e = posix_spawn(pid, path, &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(moved);
	close(exe);
	return -e;
}
