/*
 * hubfmt: the pure text helpers of `jitsuctl hub` (hub.c): durations and
 * the config file's text in; times, spans, escaped strings and tables out. No I/O except
 * hubfmt_table_print, no globals; the unit test (tests/unit/
 * test_jitsuctl_hub.c) drives them directly.
 *
 * MUST rules:
 *  - Whatever came from the hub reaches a terminal only through
 *    hubfmt_escape: every byte outside printable ASCII becomes \xNN and a
 *    backslash \\, so a hostile string cannot drive the terminal or pass
 *    for another (no control characters, no bidi overrides, no C1 codes).
 *  - Every output is bounded: cells are cut to a column's maximum width.
 */
#ifndef JITSUCTL_HUBFMT_H
#define JITSUCTL_HUBFMT_H

#include <stdio.h>

#define HUBFMT_MAX_COLS 8
#define HUBFMT_DURATION_MAX (10L * 365 * 86400) /* ten years */

/*
 * Parses a duration: a decimal number of seconds, optionally followed by
 * one unit letter s, m, h or d ("90s", "15m", "1h", "2d", "30"), from 1 s
 * to HUBFMT_DURATION_MAX. Returns 0 with *secs, or -EINVAL.
 */
int hubfmt_duration(const char *s, long *secs);

/*
 * Parses a point in time T for searches, given now (Unix seconds): Unix
 * seconds (digits only, "1700000000"), a UTC date and time
 * "YYYY-MM-DD[THH:MM[:SS]][Z]", or a duration ago ("30m", "2h", "7d",
 * "90s", as hubfmt_duration). Returns 0 with *t (Unix seconds, >= 0), or
 * -EINVAL.
 */
int hubfmt_when(const char *s, long long now, long long *t);

/*
 * Copies in (NULL reads as "-") into out, escaped as the MUST rule says,
 * cut to at most max characters; a cut string ends in "...". out must
 * hold max + 1 bytes; max >= 4. Returns the length written.
 */
size_t hubfmt_escape(const char *in, char *out, size_t max);

/* A Unix time as "2026-11-29 21:30Z" (UTC), or "-" for t <= 0. */
void hubfmt_time(long long t, char *out, size_t len);

/* A span of seconds, short: "45s", "14m32s", "2h05m", "3d04h"; "0s" if <= 0. */
void hubfmt_span(long long secs, char *out, size_t len);

/* The settings of jitsuctl.conf; "" where not set. */
struct hubfmt_conf {
	char url[512];
	char token[256];
	char fingerprint[128];
	char cacert[4096];
};

/*
 * Parses the text of jitsuctl.conf (modified in place) into conf, which
 * starts zeroed: "key = value" lines with keys hub, token, fingerprint and
 * cacert, blank lines and "#" comment lines. An unknown or repeated key, a
 * line without "=", an empty or too long value is an error. Returns 0, or
 * -EINVAL with "<line>: why" in err.
 */
int hubfmt_conf_parse(char *text, struct hubfmt_conf *conf, char *err, size_t errlen);

struct hubfmt_col {
	const char *name; /* header, printed as is */
	size_t max;       /* widest a cell may be (>= 4), cut beyond */
};

/* Rows of escaped cells, laid out in columns when printed. */
struct hubfmt_table {
	const struct hubfmt_col *cols;
	size_t ncols;
	size_t nrows, cap;
	size_t width[HUBFMT_MAX_COLS];
	char **cells; /* nrows * ncols, each malloc'd */
};

/* Starts an empty table of ncols (<= HUBFMT_MAX_COLS) columns. 0 or -EINVAL. */
int hubfmt_table_init(struct hubfmt_table *t, const struct hubfmt_col *cols, size_t ncols);

/* Adds one row of ncols raw strings (NULL shows "-"), escaped and cut
 * here. Returns 0 or -ENOMEM. */
int hubfmt_table_add(struct hubfmt_table *t, const char *const *cells);

/* Prints the header and the rows, columns two spaces apart, the last one
 * unpadded. Returns 0, or -EIO if f failed. */
int hubfmt_table_print(const struct hubfmt_table *t, FILE *f);

/* Frees the cells; the table can be initialised again. */
void hubfmt_table_free(struct hubfmt_table *t);

#endif
