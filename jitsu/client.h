/*
 * The jitsu client's internals: exit codes and the terminal relay.
 */
#ifndef JITSU_CLIENT_H
#define JITSU_CLIENT_H

#include <stddef.h>
#include <stdint.h>

/* Fixed exit codes of jitsu's own errors (jitsu(1)). The command's own
 * status passes through unchanged; 128+N when signal N killed it. */
#define JITSU_EXIT_DENIED 1
#define JITSU_EXIT_USAGE 64       /* EX_USAGE */
#define JITSU_EXIT_UNREACHABLE 69 /* EX_UNAVAILABLE: jitsud not running */
#define JITSU_EXIT_INTERNAL 71    /* EX_OSERR: jitsud failed */
#define JITSU_EXIT_PROTOCOL 76    /* EX_PROTOCOL */
#define JITSU_EXIT_NOEXEC 126
#define JITSU_EXIT_NOTFOUND 127

/*
 * Runs the conversation after PROTO_STARTED until PROTO_EXIT: relays the
 * pty master (or -1 when no terminal is involved) to and from this
 * process's terminal, forwards signals, follows window size changes and
 * suspends with the command. Returns the exit code for jitsu to exit with.
 * The terminal mode is restored on every path out.
 */
int relay_run(int sock, int master);

/* Restores the terminal if relay_run left raw mode on (for fatal paths). */
void relay_restore(void);

/*
 * Asks prompt and reads one line into buf (NUL-terminated, at most len-1
 * bytes kept): on the controlling terminal, with echo off unless echo is
 * set, else from stdin. Returns 0, or -1 when nothing could be read.
 */
int prompt_read(const char *prompt, int echo, char *buf, size_t len);

/*
 * Makes text from jitsud safe to print on the user's terminal, in place:
 * C0 and C1 control characters and DEL become '?'. Messages can quote what
 * a user or the hub supplied; none of it may move the cursor, retitle the
 * window or split one error into two lines.
 */
void client_printable(char *s);

/* Maps a PROTO_ERROR class to jitsu's exit code. */
int client_error_exit(unsigned code);

#endif
