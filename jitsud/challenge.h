/*
 * challenge: MFA conversations with the client. See challenge.c.
 */
#ifndef JITSUD_CHALLENGE_H
#define JITSUD_CHALLENGE_H

#include "hublink.h"
#include "jitsu/mfastore.h"
#include "session.h"

/* Asks for an MFA code (three tries). 0 when it checks out; otherwise
 * the user has been refused with a reason and -1 is returned. */
int challenge_mfa(struct session *s);

/* PROTO_REQ_ENROLL: begins an enrollment, shows it (the QR code drawn
 * here, as flags ask), confirms a code and hands out the recovery codes. */
void challenge_enroll(struct session *s, uint32_t flags);

/* PROTO_REQ_MFA_STATUS: the caller's enrollment and lockout state. */
void challenge_status(struct session *s);

/* Shows the recovery codes to the client, once. */
void challenge_send_recovery_codes(struct session *s, const struct mfastore_recovery_codes *c);

/* ---- fleet mode: MFA at the hub (challenge_hub.c) ---- */

/* Whether MFA is the hub's: 1 (the link is in *l; wipe l->credential),
 * 0 when this machine is not enrolled in a hub, -1 when it is but the
 * link or the user name is unusable (the user has been refused). */
int challenge_hub_link(struct session *s, struct hublink *l);
/* challenge_mfa(), enroll and status, with the state at the hub. */
int challenge_hub_mfa(struct session *s, const struct hublink *l);
void challenge_hub_enroll(struct session *s, const struct hublink *l, uint32_t flags);
void challenge_hub_status(struct session *s, const struct hublink *l);

#endif
