/*
 * jitsuctl mfa: the administrator's view of MFA enrollments.
 *
 *   jitsuctl mfa status USER   enrolled or not, recovery codes left, lockout
 *   jitsuctl mfa reset USER    forget USER's enrollment (also a corrupt one),
 *                              so USER can enroll again with jitsu --enroll-mfa
 *
 * MUST rules:
 *  - Runs as root only: the store is root's, and a reset disables a factor.
 *  - USER is resolved with getpwnam(3); a decimal uid is accepted only when
 *    no such user name exists (to clean up after a deleted account).
 *  - Prints no secret: the state has one, the output never shows it.
 *
 * In fleet mode (STATEDIR/hub.conf exists) MFA is the hub's, so both
 * commands run at the hub, as `jitsuctl hub mfa ...` (hub.c), with the
 * hub settings of any hub command; the local store is not used.
 *
 * Exit status (jitsuctl.h): JITSUCTL_EXIT_OK, JITSUCTL_EXIT_FAIL (not
 * enrolled, store error, not root, no such user), JITSUCTL_EXIT_USAGE.
 */
#include "jitsuctl.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hub.h"
#include "jitsu/audit.h"
#include "jitsu/mfastore.h"

static int usage(void)
{
	fprintf(stderr, "usage: jitsuctl mfa status USER\n"
			"       jitsuctl mfa reset USER\n");
	return JITSUCTL_EXIT_USAGE;
}

/* Resolves USER to a uid and a display name; returns 0 or -ENOENT. */
static int resolve_user(const char *user, uid_t *uid, char *name, size_t namelen)
{
	struct passwd *pw = getpwnam(user);
	if (pw) {
		*uid = pw->pw_uid;
		snprintf(name, namelen, "%s", pw->pw_name);
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long v = strtoul(user, &end, 10);
	if (user[0] < '0' || user[0] > '9' || *end || errno || v >= (uid_t)-1)
		return -ENOENT;
	*uid = (uid_t)v;
	snprintf(name, namelen, "#%lu", v);
	return 0;
}

static int do_status(const char *dir, uid_t uid, const char *name)
{
	struct mfastore_status st;
	char err[512];

	int rc = mfastore_status(dir, uid, time(NULL), &st, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "jitsuctl mfa: %s: %s\n", name, err);
		return JITSUCTL_EXIT_FAIL;
	}
	printf("user: %s (uid %u)\n", name, (unsigned)uid);
	const char *state = "not enrolled";
	if (st.enrolled)
		state = "enrolled";
	else if (st.pending)
		state = "enrollment pending";
	printf("mfa: %s\n", state);
	if (!st.enrolled)
		return JITSUCTL_EXIT_OK;
	printf("recovery codes left: %u of %d\n", st.recovery_left, MFASTORE_RECOVERY_CODES);
	printf("consecutive failures: %u\n", st.fail_count);
	if (st.locked_secs)
		printf("lockout: locked for %u more seconds (level %u)\n", st.locked_secs,
		       st.lockout_level);
	else if (st.lockout_level)
		printf("lockout: not locked (level %u since the last success)\n", st.lockout_level);
	else
		printf("lockout: none\n");
	return JITSUCTL_EXIT_OK;
}

/* The administrator behind this root shell: the kernel's login uid. */
static long login_uid(void)
{
	char buf[32] = "";
	FILE *f = fopen("/proc/self/loginuid", "re");
	if (f) {
		if (!fgets(buf, sizeof buf, f))
			buf[0] = '\0';
		fclose(f);
	}
	char *end;
	long v = strtol(buf, &end, 10);
	return end != buf && v >= 0 && v < 4294967295L ? v : -1;
}

/*
 * Records the reset before doing it: a reset that cannot be recorded does
 * not happen.
 */
static int record_reset(const char *statedir, uid_t uid, const char *name)
{
	char adir[4096], err[512];
	struct audit_log *l = NULL;
	long admin = login_uid();
	snprintf(adir, sizeof adir, "%s/audit", statedir);
	json_t *f = json_pack("{s:o,s:I,s:I,s:I}", "user", audit_record_str(name), "uid",
			      (json_int_t)uid, "admin_uid", (json_int_t)getuid(), "admin_login_uid",
			      (json_int_t)admin);
	int r = f ? audit_open(adir, NULL, &l, err, sizeof err) : -ENOMEM;
	if (r == 0)
		r = audit_append(l, "mfa_reset", f, NULL, err, sizeof err);
	if (r < 0)
		fprintf(stderr, "jitsuctl mfa: cannot record the reset, not resetting: %s\n",
			f ? err : "out of memory");
	json_decref(f);
	audit_close(l);
	return r;
}

static int do_reset(const char *statedir, const char *dir, uid_t uid, const char *name)
{
	char err[512];
	struct mfastore_status st;

	int rc = mfastore_status(dir, uid, time(NULL), &st, err, sizeof err);
	if (rc == -ENOENT || (rc == 0 && !st.enrolled && !st.pending)) {
		fprintf(stderr, "jitsuctl mfa: %s is not enrolled; nothing to reset\n", name);
		return JITSUCTL_EXIT_FAIL;
	}
	if (record_reset(statedir, uid, name) < 0)
		return JITSUCTL_EXIT_FAIL;
	rc = mfastore_reset(dir, uid, err, sizeof err);
	if (rc < 0 && rc != -ENOENT) {
		fprintf(stderr, "jitsuctl mfa: %s: %s\n", name, err);
		return JITSUCTL_EXIT_FAIL;
	}
	printf("MFA enrollment of %s (uid %u) removed; they can enroll again with "
	       "`jitsu --enroll-mfa`\n",
	       name, (unsigned)uid);
	return JITSUCTL_EXIT_OK;
}

/* Fleet mode: `jitsuctl hub mfa ARGS...`. */
static int at_hub(int argc, char **argv, const char *statedir)
{
	char *v[5] = {"hub"};
	if (argc < 2 || argc > 4)
		return usage();
	for (int i = 0; i < argc; i++)
		v[i + 1] = argv[i];
	fprintf(stderr, "jitsuctl mfa: this machine is enrolled in a hub; MFA is the hub's\n");
	return jitsuctl_hub_main(argc + 1, v, statedir);
}

int jitsuctl_mfa_main(int argc, char **argv, const char *statedir)
{
	char dir[4096], name[256];
	uid_t uid;

	if (statedir && snprintf(dir, sizeof dir, "%s/hub.conf", statedir) < (int)sizeof dir &&
	    access(dir, F_OK) == 0)
		return at_hub(argc, argv, statedir);
	if (argc != 3 || !statedir ||
	    (strcmp(argv[1], "status") != 0 && strcmp(argv[1], "reset") != 0))
		return usage();
	if (geteuid() != 0) {
		fprintf(stderr, "jitsuctl mfa: must be run as root\n");
		return JITSUCTL_EXIT_FAIL;
	}
	if (resolve_user(argv[2], &uid, name, sizeof name) < 0) {
		fprintf(stderr, "jitsuctl mfa: no such user: %s\n", argv[2]);
		return JITSUCTL_EXIT_FAIL;
	}
	if (snprintf(dir, sizeof dir, "%s/%s", statedir, MFASTORE_DIRNAME) >= (int)sizeof dir) {
		fprintf(stderr, "jitsuctl mfa: state directory path too long\n");
		return JITSUCTL_EXIT_FAIL;
	}
	if (strcmp(argv[1], "status") == 0)
		return do_status(dir, uid, name);
	return do_reset(statedir, dir, uid, name);
}
