/*
 * qr: renders a string (the otpauth:// enrollment URI) as a QR code drawn
 * with UTF-8 half blocks, two module rows per text line, for the terminal.
 *
 * The symbol is encoded by libqrencode (8-bit mode, case-sensitive, error
 * correction level L: the smallest symbol, so a URI fits on an 80x24
 * terminal) with a quiet zone of QR_QUIET modules on every side.
 *
 * Colours: a scanner needs dark modules on a light background. A plain
 * terminal draws glyphs in its foreground colour, which is dark on a light
 * theme and light on a dark one, so the caller picks:
 *  - QR_ANSI (recommended on a tty): each line sets black on white with SGR
 *    and resets at its end, so the code scans whatever the terminal theme;
 *  - no flag: dark modules are drawn as glyphs (light-background terminal);
 *  - QR_INVERT: light modules are drawn as glyphs (dark-background terminal);
 *    ignored with QR_ANSI.
 */
#ifndef JITSU_QR_H
#define JITSU_QR_H

#include <stddef.h>

#define QR_QUIET 2        /* quiet zone, modules */
#define QR_INPUT_MAX 1024 /* longest string qr_render() encodes */

#define QR_ANSI 0x1u   /* explicit black-on-white colours */
#define QR_INVERT 0x2u /* draw light modules (for a plain dark terminal) */

struct qr_text {
	char *text;       /* NUL-terminated UTF-8, every line ends in '\n' */
	size_t len;       /* bytes in text, without the NUL */
	unsigned modules; /* symbol width in modules, without the quiet zone */
	unsigned cols;    /* glyphs per line: modules + 2 * QR_QUIET */
	unsigned lines;   /* text lines: (cols + 1) / 2 */
};

/*
 * Encodes s (1..QR_INPUT_MAX bytes) and draws it into *out with flags
 * (QR_ANSI, QR_INVERT). Returns 0, -EINVAL for an empty or too long string
 * or unknown flags, -ERANGE if the data does not fit a QR symbol, or
 * -ENOMEM. On success the caller frees with qr_text_free(), which also wipes
 * the text (it holds the TOTP secret).
 */
int qr_render(const char *s, unsigned flags, struct qr_text *out);

/* Wipes and frees out->text; safe on a zeroed or already freed struct. */
void qr_text_free(struct qr_text *out);

#endif
