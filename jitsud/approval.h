/* approval: the hub round trip of a rule with `approval`; see approval.c. */
#ifndef JITSUD_APPROVAL_H
#define JITSUD_APPROVAL_H

#include "session.h"

/* Submits the request to the hub and waits for people to decide. 0 when
 * approved; otherwise the user was refused with a reason and -1 returns. */
int approval_require(struct session *s);

#endif
