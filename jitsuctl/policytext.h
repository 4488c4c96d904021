/*
 * policytext: what `jitsuctl policy` does with policy text that needs no
 * hub: a unified line diff of two versions and the filter that makes text
 * from the hub safe to print.
 *
 * MUST rules:
 *  - Pure: no I/O, no globals, never exits; unit-tested directly.
 *  - Bounded: the diff's table is capped at POLICYTEXT_DIFF_CELLS; past it
 *    the changed middle is shown as removed then added (still a correct
 *    diff, only not the shortest).
 *  - Nothing from the hub drives a terminal: policytext_safe() replaces
 *    every control character but tab and newline (C0, DEL, C1 in UTF-8)
 *    and every byte that is not valid UTF-8 with '?'.
 */
#ifndef JITSUCTL_POLICYTEXT_H
#define JITSUCTL_POLICYTEXT_H

#include <stddef.h>

#define POLICYTEXT_CONTEXT 3                     /* lines of context around a change */
#define POLICYTEXT_DIFF_CELLS (8u * 1024 * 1024) /* lines(a) x lines(b) compared at most */

/*
 * A unified diff (as `diff -u`, without its time stamps) from text a,
 * labelled la, to text b, labelled lb. Returns a malloc'd string, "" when
 * the texts are equal, or NULL when out of memory.
 */
char *policytext_diff(const char *a, const char *la, const char *b, const char *lb);

/* Replaces, in place, what could drive a terminal (MUST rules). */
void policytext_safe(char *s);

#endif
