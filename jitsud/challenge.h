/*
 * challenge: MFA conversations with the client. See challenge.c.
 */
#ifndef JITSUD_CHALLENGE_H
#define JITSUD_CHALLENGE_H

#include "session.h"

/* Asks for an MFA code (three tries). 0 when it checks out; otherwise
 * the user has been refused with a reason and -1 is returned. */
int challenge_mfa(struct session *s);

/* PROTO_REQ_ENROLL: begins an enrollment, shows it (the QR code drawn
 * here, as flags ask), confirms a code and hands out the recovery codes. */
void challenge_enroll(struct session *s, uint32_t flags);

/* PROTO_REQ_MFA_STATUS: the caller's enrollment and lockout state. */
void challenge_status(struct session *s);

#endif
