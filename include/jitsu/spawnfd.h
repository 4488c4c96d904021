/*
 * spawnfd: starts a program from an open file descriptor with posix_spawn
 * (a vfork: the caller's page tables are not copied, so it stays cheap in a
 * large process), with a clean signal state and only the descriptors asked
 * for.
 *
 * MUST rules:
 *  - The new program gets /dev/null as 0, 1 and 2, chan as 3, and nothing
 *    else: every other descriptor of the caller must be close-on-exec.
 *  - Every signal is at its default and none is blocked in the new program.
 *  - The environment is empty.
 */
#ifndef JITSU_SPAWNFD_H
#define JITSU_SPAWNFD_H

#include <sys/types.h>

/* Runs the program open (O_RDONLY, not O_PATH) at exe_fd with argv. Returns 0
 * with *pid, or -errno. */
int spawnfd(int exe_fd, char *const argv[], int chan, pid_t *pid);

#endif
