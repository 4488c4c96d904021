/* jitsuctl hub: tokens, endpoints and approvals at jitsu-hub; see hub.c. */
#ifndef JITSUCTL_HUB_H
#define JITSUCTL_HUB_H

/* jitsuctl hub [OPTIONS] COMMAND ...: returns the exit status (jitsuctl.h). */
int jitsuctl_hub_main(int argc, char **argv, const char *statedir);

#endif
