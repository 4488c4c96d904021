/*
 * breakglass: elevation when the hub cannot be reached, on a response code
 * an admin reads over the phone (docs/breakglass.md). See breakglass.c.
 */
#ifndef JITSUD_BREAKGLASS_H
#define JITSUD_BREAKGLASS_H

#include "session.h"

#define BREAKGLASS_ANSWER_TIMEOUT 600 /* seconds to phone an admin and type the code */
_Static_assert(BREAKGLASS_ANSWER_TIMEOUT <= SESSION_PROMPT_TIMEOUT_MAX,
	       "the privsep child must wait as long as a break-glass prompt");
#define BREAKGLASS_TRIES 3       /* responses per challenge */
#define BREAKGLASS_USED_MAX 4096 /* consumed challenges remembered at once */
#define BREAKGLASS_PROBE_MS 5000 /* the hub has this long to show it answers */

/* Did the client ask for break-glass (jitsu --break-glass)? */
int breakglass_asked(const struct session *s);

/* Is this machine in a fleet (<statedir>/hub.conf exists), so that MFA is
 * verified by the hub and break-glass stands in for it too? */
int breakglass_fleet(const struct session *s);

/*
 * Checked after a permit, before any requirement: break-glass needs a
 * reason, a rule without `nobreakglass` and, where the rule needs the hub,
 * a key in hub.conf and a hub that does not answer (one call, at most
 * BREAKGLASS_PROBE_MS). 0, or the user was refused (and the refusal recorded)
 * and -1 is returned.
 */
int breakglass_admit(struct session *s);

/*
 * Stands in for the hub's approval: shows a fresh challenge, reads up to
 * BREAKGLASS_TRIES responses, consumes the challenge in the durable store
 * and records the outcome. 0 when the command may run; otherwise the user
 * was refused and -1 is returned.
 */
int breakglass_require(struct session *s);

/* Records that break-glass was asked for a command the policy denies. */
void breakglass_refused_deny(struct session *s);

#endif
