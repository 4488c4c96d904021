/*
 * hubreply: jitsud's parser of what the jitsu-hubcall helper prints, one
 * JSON object: {"status":N,"answer":{...}} or {"error":"..."}.
 *
 * Why apart: it is where root reads the output of the process that ran
 * libcurl and OpenSSL on the network's bytes (docs/threat-model.md, trust
 * boundary 10), so it is small, pure and fuzzed (tests/fuzz/fuzz-hubreply.c).
 *
 * MUST rules:
 *  - The input is hostile: bounded by the caller (hubcall.c), parsed once,
 *    duplicate keys refused.
 *  - Success only for an object answer and an integer status in the range
 *    of an HTTP status (0, the fingerprint step's, to 999), and no "error"
 *    member; anything else is an error, never a partial answer.
 *  - A helper's error text is cut and has its control characters replaced
 *    before it goes into err (it ends up in logs and users' terminals).
 */
#ifndef JITSUD_HUBREPLY_H
#define JITSUD_HUBREPLY_H

#include <jansson.h>
#include <stddef.h>

/*
 * Parses len bytes of buf. Returns 0 with *status and *answer (the caller
 * decrefs), or -EPROTO with *answer NULL and a one-line reason in err
 * (the helper's own error text, or "jitsu-hubcall gave no answer").
 */
int hubreply_parse(const char *buf, size_t len, long *status, json_t **answer, char *err,
		   size_t errlen);

#endif
