/*
 * log: one place for jitsud's diagnostics. To syslog (LOG_AUTHPRIV, which
 * the journal also collects) or, in the foreground, to stderr.
 */
#ifndef JITSU_LOG_H
#define JITSU_LOG_H

/* ident names the program; to_stderr selects stderr over syslog. */
void log_init(const char *ident, int to_stderr);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
