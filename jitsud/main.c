/*
 * jitsud: the root daemon. It listens on a Unix socket and forks one
 * process per connection, so a slow request never blocks another and a
 * crash in one costs only that connection.
 *
 * main() reads top to bottom: options, policy, state directory, socket,
 * signals, readiness, then the accept loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jitsu/audit.h"
#include "jitsu/log.h"
#include "jitsu/proto.h"
#include "hubcall.h"
#include "jitsud.h"
#include "notify.h"
#include "policydoc.h"
#include "policysync.h"
#include "ship.h"
#include "privsep.h"
#include "sandbox.h"
#include "trail.h"

#define JITSUD_MAX_CONNECTIONS 1024
#define JITSUD_SPARES 2 /* connection processes forked ahead, waiting in accept */
/* How long a spare stops watching the listening socket when accept() finds
 * no descriptor left: the pending client stays queued, and polling on would
 * spin on it. */
#define JITSUD_ACCEPT_REST_MS 250

/* The default --privsep-user: see privsep.h. */
#define JITSUD_PRIVSEP_USER "_jitsu"

static void usage(FILE *f)
{
	fprintf(f, "usage: jitsud [-f] [-c policy] [-S socket] [-d statedir]\n"
		   "              [--audit-rotate SIZE] [--audit-keep N] [--privsep-user NAME]\n"
		   "              [--policy-interval SECONDS] [--hub-heartbeat SECONDS]\n"
		   "       jitsud -t [-c policy]\n"
		   "       jitsud [-d statedir] --enroll URL TOKEN [--fingerprint SHA256]\n"
		   "              [--group GROUP]\n");
}

/* "16M", "512k", "1G" or plain bytes; at least 64 KiB, at most 1 TiB. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	unsigned shift = 0;
	if (errno || end == s || s[0] == '-')
		return -1;
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'M')
		shift = 20;
	else if (*end == 'G')
		shift = 30;
	if (shift)
		end++;
	if (*end || v > (1ULL << 40) >> shift)
		return -1;
	*out = (uint64_t)v << shift;
	return *out >= 65536 ? 0 : -1;
}

/* A count of rotated files to keep: 0 (all) to 100000. */
static int parse_count(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > 100000)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static void print_policy_error(void *ctx, const char *file, unsigned line, const char *msg)
{
	(void)ctx;
	if (line)
		fprintf(stderr, "%s:%u: %s\n", file, line, msg);
	else
		fprintf(stderr, "%s: %s\n", file, msg);
}

static void log_policy_error(void *ctx, const char *file, unsigned line, const char *msg)
{
	(void)ctx;
	log_err("%s:%u: %s", file, line, msg);
}

/* Loads and canonicalises the policy; NULL on any error (already reported). */
static struct policy *load_policy(const char *path, policy_error_fn report)
{
	struct policy *p = NULL;
	int r = policy_load(path, 1, &p, report, NULL);
	if (r != 0)
		return NULL;
	if (policy_canonicalize(p) < 0) {
		policy_free(p);
		return NULL;
	}
	return p;
}

/*
 * Loads the NSS modules and the time zone once, here, so that every
 * connection process inherits them instead of loading them per request.
 */
static void warm_caches(void)
{
	gid_t groups[64];
	int n = 64;
	struct passwd *pw = getpwnam("root");
	if (pw)
		getgrouplist(pw->pw_name, pw->pw_gid, groups, &n);
	getgrgid(0);
	endpwent();
	endgrent();
	tzset();
}

/*
 * Looks the privsep user up and builds the children's seccomp filter. The
 * user must exist and must not be root.
 */
static int privsep_setup(struct jitsud_ctx *ctx)
{
	const char *name = ctx->cfg->privsep_user;
	if (!name || !name[0]) {
		log_err("--privsep-user needs a user name: refusing to start");
		return -1;
	}
	struct passwd *pw = getpwnam(name);
	if (!pw) {
		log_err("privsep user '%s' does not exist (create it: useradd --system "
			"--no-create-home --shell /usr/sbin/nologin %s): refusing to start",
			name, name);
		return -1;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		log_err("privsep user '%s' must not have uid or gid 0: refusing to start", name);
		return -1;
	}
	ctx->privsep_uid = pw->pw_uid;
	ctx->privsep_gid = pw->pw_gid;
	hubcall_run_as(pw->pw_uid, pw->pw_gid);
	char err[256];
	if (sandbox_prepare(err, sizeof err) < 0) {
		log_err("%s: refusing to start", err);
		return -1;
	}
#ifdef JITSU_VALGRIND_BUILD
	log_warn("built with -Dvalgrind=true: connection children may map executable memory; "
		 "for make valgrind only, not for use");
#endif
	return 0;
}

static int make_state_dir(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_err("cannot create state directory %s: %s", dir, strerror(errno));
		return -1;
	}
	struct stat st;
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077)) {
		log_err("state directory %s must be a root-owned directory with mode 0700", dir);
		return -1;
	}
	return 0;
}

/*
 * Binds the listening socket. A lock file beside it keeps a second daemon
 * from unlinking a live socket; a stale socket from a crash is replaced.
 */
static int open_listener(const char *path, int *lockfd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char lock[sizeof sa.sun_path + 8];

	if (strlen(path) >= sizeof sa.sun_path) {
		log_err("socket path too long: %s", path);
		return -1;
	}
	snprintf(lock, sizeof lock, "%s.lock", path);
	*lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*lockfd < 0 || flock(*lockfd, LOCK_EX | LOCK_NB) < 0) {
		log_err("cannot lock %s: %s (is another jitsud running?)", lock, strerror(errno));
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	unlink(path);
	mode_t old = umask(0);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	/* Anyone may connect; the policy decides what they get. */
	if (r < 0 || chmod(path, 0666) < 0 || listen(fd, SOMAXCONN) < 0) {
		log_err("cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int setup_signals(sigset_t *old)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, old) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

struct daemon_state {
	struct jitsud_ctx ctx;
	struct policy *policy;
	int listen_fd, sig_fd, lock_fd, tick_fd;
	sigset_t old_mask;
	unsigned children; /* connection processes alive, spare or busy */
	pid_t spare[JITSUD_SPARES];
	int ctl_r, ctl_w;   /* spares exit when ctl_w closes (reload, stop) */
	int busy_r, busy_w; /* a spare writes its pid here when it takes a client */
	int stopping;
	struct policysync sync; /* the hub's policy, fetched in a child */
	struct shipper ship;    /* the audit shipper, on an enrolled endpoint */
};

static void replenish(struct daemon_state *d);
static int new_generation(struct daemon_state *d);

static void reload(struct daemon_state *d)
{
	notify_send("RELOADING=1");
	char version[JITSUD_POLICY_VERSION_MAX];
	struct policy *p = policysync_load(d->ctx.cfg, log_policy_error, version, sizeof version);
	if (!p) {
		log_err("policy reload failed: keeping the policy in force");
		trail_daemon(&d->ctx, AUDIT_EV_RELOAD, json_pack("{s:s}", "result", "failed"));
	} else {
		policy_free(d->policy);
		d->policy = p;
		d->ctx.policy = p;
		memcpy(d->ctx.policy_version, version, sizeof version);
		/* Spares hold the old policy: retire them before the reload is
		 * recorded, so that no client that came after the record is
		 * decided by the old policy; fork new ones before saying we
		 * are ready. */
		if (new_generation(d) < 0)
			log_err("pipe: %s", strerror(errno));
		log_info("policy reloaded: %zu rules from %s", p->nrules, p->file);
		trail_daemon(&d->ctx, AUDIT_EV_RELOAD, json_pack("{s:s}", "result", "ok"));
		replenish(d);
	}
	shipper_start(&d->ship, d->ctx.cfg); /* enrolled since the start? */
	tzset();
	notify_send("READY=1");
}

static void forget_spare(struct daemon_state *d, pid_t pid)
{
	for (int i = 0; i < JITSUD_SPARES; i++)
		if (d->spare[i] == pid)
			d->spare[i] = 0;
}

static void handle_signals(struct daemon_state *d)
{
	struct signalfd_siginfo si;
	pid_t pid;
	int status, fetched = 0;
	while (read(d->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
		switch (si.ssi_signo) {
		case SIGHUP:
			reload(d);
			policysync_start(&d->sync);
			break;
		case SIGTERM:
		case SIGINT: d->stopping = 1; break;
		case SIGCHLD:
			while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
				int f = policysync_reaped(&d->sync, pid, status);
				fetched |= f == 2;
				if (f || shipper_reaped(&d->ship, pid))
					continue;
				forget_spare(d, pid);
				if (d->children)
					d->children--;
			}
			break;
		}
	}
	if (fetched) /* the hub's policy changed: enforce it as a reload would */
		reload(d);
}

/*
 * A spare connection process: it waits for a client, tells the main
 * process it is busy (so that a new spare is forked while it works), and
 * serves that one client. Forking ahead keeps fork() off the request's
 * path. It looks at the control pipe before accepting, so that after a
 * reload or a stop no spare of the old generation takes a new client.
 */
/*
 * A spare can be retired by a reload after its poll saw a client and before
 * its accept took one: the policy it holds was then replaced, and the
 * client came after the reload was recorded. It takes the policy in force
 * from where the main process took it (policysync_load reads the same
 * files), or, if that fails, sends the client away with one line. Returns
 * 0 to serve the client, -1 when it was sent away.
 */
static int retired_meanwhile(struct daemon_state *d, int client)
{
	struct pollfd ctl = {d->ctl_r, POLLIN, 0};
	if (poll(&ctl, 1, 0) <= 0)
		return 0;
	char version[JITSUD_POLICY_VERSION_MAX];
	struct policy *p = policysync_load(d->ctx.cfg, log_policy_error, version, sizeof version);
	if (!p) {
		proto_send_error(client, PROTO_E_BUSY, "jitsud is reloading its policy: try again");
		close(client);
		return -1;
	}
	d->policy = p; /* the old one goes with this process */
	d->ctx.policy = p;
	memcpy(d->ctx.policy_version, version, sizeof version);
	return 0;
}

static void spare_main(struct daemon_state *d)
{
	close(d->sig_fd);
	close(d->lock_fd);
	close(d->tick_fd);
	close(policysync_fd(&d->sync));
	close(d->busy_r);
	close(d->ctl_w);
	sigprocmask(SIG_SETMASK, &d->old_mask, NULL);
	/* Whatever a request will need first is done now, while idle: first
	 * the unprivileged child of the pair (privsep.h), before anything
	 * else is loaded here. */
	char err[512];
	struct privsep_child child;
	int e = privsep_spawn(&d->ctx, &child);
	if (e < 0) {
		log_err("cannot start the unprivileged child: %s", strerror(-e));
		sleep(1); /* not a fork loop */
		_exit(1);
	}
	if (audit_attach(d->ctx.audit, err, sizeof err) < 0)
		log_err("%s", err);
	warm_caches();
	int resting = 0, told = 0;
	for (;;) {
		struct pollfd p[3] = {{d->ctl_r, POLLIN, 0},
				      {resting ? -1 : d->listen_fd, POLLIN, 0},
				      {child.chan, POLLIN, 0}};
		if (poll(p, 3, resting ? JITSUD_ACCEPT_REST_MS : -1) < 0 && errno != EINTR)
			_exit(1);
		resting = 0;
		if (p[0].revents) {
			/* Retired: take the child along rather than orphan it. */
			kill(child.pid, SIGKILL);
			waitpid(child.pid, NULL, 0);
			_exit(0);
		}
		if (p[2].revents) {
			/* The child died before any client: this pair is useless. */
			int st = 0;
			waitpid(child.pid, &st, 0);
			log_err("unprivileged child %d ended while idle (status 0x%x)",
				(int)child.pid, (unsigned)st);
			sleep(1);
			_exit(1);
		}
		if (!(p[1].revents & POLLIN))
			continue;
		int c = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0 &&
		    (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
			if (!told)
				log_err("cannot accept a connection: %s: retrying every %d ms",
					strerror(errno), JITSUD_ACCEPT_REST_MS);
			told = resting = 1;
			continue;
		}
		if (c < 0)
			continue; /* another spare was faster */
		if (retired_meanwhile(d, c) < 0)
			_exit(0);
		pid_t me = getpid();
		if (write(d->busy_w, &me, sizeof me) != (ssize_t)sizeof me)
			_exit(1);
		close(d->listen_fd);
		close(d->ctl_r);
		close(d->busy_w);
		session_serve(c, &child, &d->ctx);
		_exit(0);
	}
}

/* Forks spares until JITSUD_SPARES wait, within the connection limit. */
static void replenish(struct daemon_state *d)
{
	for (int i = 0; i < JITSUD_SPARES && !d->stopping; i++) {
		if (d->spare[i] || d->children >= JITSUD_MAX_CONNECTIONS)
			continue;
		pid_t pid = fork();
		if (pid == 0)
			spare_main(d);
		if (pid < 0) {
			log_err("fork: %s", strerror(errno));
			return;
		}
		d->spare[i] = pid;
		d->children++;
	}
}

/* Spares that took a client are spares no more. */
static void take_busy(struct daemon_state *d)
{
	pid_t pids[64];
	ssize_t n = read(d->busy_r, pids, sizeof pids);
	for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof(pid_t); i++)
		forget_spare(d, pids[i]);
}

/* Retires the spares of the current generation (they exit when they see
 * the pipe close) and, unless stopping, opens the next one. */
static int new_generation(struct daemon_state *d)
{
	int p[2];
	if (d->ctl_w >= 0) {
		close(d->ctl_w);
		close(d->ctl_r);
		d->ctl_w = d->ctl_r = -1;
	}
	for (int i = 0; i < JITSUD_SPARES; i++)
		d->spare[i] = 0;
	if (d->stopping)
		return 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	d->ctl_r = p[0];
	d->ctl_w = p[1];
	return 0;
}

/* Seals an ended epoch and erases its key; re-arms for the next one. */
static void tick(struct daemon_state *d)
{
	uint64_t expirations;
	unsigned next = 60;
	char err[512];
	if (read(d->tick_fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
		return;
	if (audit_tick(d->ctx.audit, &next, err, sizeof err) < 0)
		log_err("%s", err);
	struct itimerspec its = {.it_value = {next ? next : 1, 0}};
	timerfd_settime(d->tick_fd, 0, &its, NULL);
}

static int serve(struct daemon_state *d)
{
	while (!d->stopping) {
		struct pollfd p[4] = {{d->busy_r, POLLIN, 0},
				      {d->sig_fd, POLLIN, 0},
				      {d->tick_fd, POLLIN, 0},
				      {policysync_fd(&d->sync), POLLIN, 0}};
		replenish(d);
		if (poll(p, 4, shipper_timeout_ms(&d->ship)) < 0) {
			if (errno == EINTR)
				continue;
			log_err("poll: %s", strerror(errno));
			return -1;
		}
		if (p[1].revents)
			handle_signals(d);
		if (p[2].revents)
			tick(d);
		if (p[0].revents)
			take_busy(d);
		if (p[3].revents)
			policysync_timer(&d->sync);
		shipper_tick(&d->ship, d->ctx.cfg);
	}
	return 0;
}

/* jitsud --enroll URL TOKEN [--fingerprint FP]: join a hub, then exit. */
static int enroll_main(const struct jitsud_config *cfg, int argc, char **argv,
		       const char *fingerprint, const char *group)
{
	char err[512];
	if (argc != 2) {
		usage(stderr);
		return JITSUD_EXIT_CONFIG;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "jitsud: --enroll must run as root\n");
		return JITSUD_EXIT_SYSTEM;
	}
	log_init("jitsud", 1);
	if (make_state_dir(cfg->state_dir) < 0)
		return JITSUD_EXIT_SYSTEM;
	/* "-" reads the token from stdin, keeping it out of ps. */
	char token[512];
	if (!strcmp(argv[1], "-")) {
		if (!fgets(token, sizeof token, stdin)) {
			fprintf(stderr, "jitsud: no enrollment token on stdin\n");
			return JITSUD_EXIT_CONFIG;
		}
		token[strcspn(token, "\r\n")] = '\0';
	} else {
		snprintf(token, sizeof token, "%s", argv[1]);
	}
	if (hublink_enroll(cfg->privsep_user, cfg->state_dir, argv[0], token, fingerprint, group,
			   err, sizeof err) == 0)
		return JITSUD_EXIT_OK;
	fprintf(stderr, "jitsud: enrollment failed: %s\n", err);
	return JITSUD_EXIT_CONFIG;
}

int main(int argc, char **argv)
{
	struct jitsud_config cfg = {
		.policy_path = JITSU_SYSCONFDIR "/jitsu/policy.conf",
		.socket_path = "/run/jitsu/jitsud.sock",
		.state_dir = "/var/lib/jitsu",
		.privsep_user = JITSUD_PRIVSEP_USER,
	};
	static const struct option longopts[] = {
		{"audit-rotate", required_argument, NULL, 'R'},
		{"audit-keep", required_argument, NULL, 'K'},
		{"hub-heartbeat", required_argument, NULL, 'B'},
		{"enroll", no_argument, NULL, 'E'},
		{"fingerprint", required_argument, NULL, 'F'},
		{"policy-interval", required_argument, NULL, 'P'},
		{"group", required_argument, NULL, 'G'},
		{"privsep-user", required_argument, NULL, 'U'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int test_only = 0, enroll = 0, opt;
	const char *fingerprint = NULL, *group = NULL;

	while ((opt = getopt_long(argc, argv, "fc:S:d:thV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'R':
			if (parse_size(optarg, &cfg.audit_rotate) < 0) {
				fprintf(stderr, "jitsud: bad --audit-rotate size: %s\n", optarg);
				return JITSUD_EXIT_CONFIG;
			}
			break;
		case 'K':
			if (parse_count(optarg, &cfg.audit_keep) < 0) {
				fprintf(stderr, "jitsud: bad --audit-keep count: %s\n", optarg);
				return JITSUD_EXIT_CONFIG;
			}
			break;
		case 'P':
			if (parse_count(optarg, &cfg.policy_interval) < 0 || !cfg.policy_interval ||
			    cfg.policy_interval > POLICYSYNC_INTERVAL_MAX) {
				fprintf(stderr, "jitsud: bad --policy-interval: 1 to %d seconds\n",
					POLICYSYNC_INTERVAL_MAX);
				return JITSUD_EXIT_CONFIG;
			}
			break;
		case 'B':
			if (parse_count(optarg, &cfg.hub_heartbeat) < 0 || cfg.hub_heartbeat < 1 ||
			    cfg.hub_heartbeat > 3600) {
				fprintf(stderr, "jitsud: bad --hub-heartbeat: 1 to 3600 seconds\n");
				return JITSUD_EXIT_CONFIG;
			}
			break;
		case 'E': enroll = 1; break;
		case 'F': fingerprint = optarg; break;
		case 'G':
			group = optarg;
			if (!policydoc_group_ok(group)) {
				fprintf(stderr, "jitsud: bad --group: a name of 1 to 64 of "
						"[A-Za-z0-9_.-], not starting with . or -\n");
				return JITSUD_EXIT_CONFIG;
			}
			break;
		case 'U': cfg.privsep_user = optarg; break;
		case 'f': cfg.foreground = 1; break;
		case 'c': cfg.policy_path = optarg; break;
		case 'S': cfg.socket_path = optarg; break;
		case 'd': cfg.state_dir = optarg; break;
		case 't': test_only = 1; break;
		case 'V': printf("jitsud %s\n", JITSU_VERSION); return JITSUD_EXIT_OK;
		case 'h': usage(stdout); return JITSUD_EXIT_OK;
		default: usage(stderr); return JITSUD_EXIT_CONFIG;
		}
	}
	if (enroll)
		return enroll_main(&cfg, argc - optind, argv + optind, fingerprint, group);
	if (optind != argc || fingerprint || group) {
		usage(stderr);
		return JITSUD_EXIT_CONFIG;
	}

	if (test_only) {
		/* An enrolled endpoint in a policy group enforces the hub's
		 * cached policy; then only that one must be valid. */
		int hub = policysync_test(&cfg);
		struct policy *p = load_policy(cfg.policy_path, print_policy_error);
		if (p)
			printf("%s: OK, %zu rules%s\n", cfg.policy_path, p->nrules,
			       hub > 0 ? " (not enforced: the hub's policy is)" : "");
		policy_free(p);
		return hub < 0 || (!p && hub == 0) ? JITSUD_EXIT_CONFIG : JITSUD_EXIT_OK;
	}

	log_init("jitsud", cfg.foreground);
	if (geteuid() != 0) {
		log_err("must run as root");
		return JITSUD_EXIT_SYSTEM;
	}
	struct daemon_state d = {.ctx.cfg = &cfg,
				 .listen_fd = -1,
				 .lock_fd = -1,
				 .tick_fd = -1,
				 .ctl_r = -1,
				 .ctl_w = -1};
	if (policysync_init(&d.sync, &cfg) < 0)
		return JITSUD_EXIT_SYSTEM;
	d.policy = policysync_load(&cfg, cfg.foreground ? print_policy_error : log_policy_error,
				   d.ctx.policy_version, sizeof d.ctx.policy_version);
	if (!d.policy) {
		log_err("cannot load policy %s: refusing to start", cfg.policy_path);
		return JITSUD_EXIT_CONFIG;
	}
	d.ctx.policy = d.policy;
	if (privsep_setup(&d.ctx) < 0)
		return JITSUD_EXIT_CONFIG;
	if (gethostname(d.ctx.hostname, sizeof d.ctx.hostname - 1) < 0)
		strcpy(d.ctx.hostname, "localhost");
	warm_caches();
	char err[512];
	if (make_state_dir(cfg.state_dir) < 0)
		return JITSUD_EXIT_SYSTEM;
	/* No trail, no daemon: nothing may run unrecorded. */
	if (trail_open(&d.ctx, err, sizeof err) < 0) {
		log_err("%s: refusing to start", err);
		return JITSUD_EXIT_SYSTEM;
	}
	d.tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	int busy[2];
	if (d.tick_fd < 0 || pipe2(busy, O_CLOEXEC | O_NONBLOCK) < 0 || new_generation(&d) < 0)
		return JITSUD_EXIT_SYSTEM;
	d.busy_r = busy[0];
	d.busy_w = busy[1];
	d.listen_fd = open_listener(cfg.socket_path, &d.lock_fd);
	d.sig_fd = setup_signals(&d.old_mask);
	if (d.listen_fd < 0 || d.sig_fd < 0)
		return JITSUD_EXIT_SYSTEM;

	log_info("started: %zu rules from %s, listening on %s", d.policy->nrules, d.policy->file,
		 cfg.socket_path);
	trail_daemon(&d.ctx, AUDIT_EV_DAEMON_START, NULL);
	tick(&d);
	replenish(&d);
	policysync_start(&d.sync);
	shipper_start(&d.ship, &cfg);
	notify_send("READY=1");
	int r = serve(&d);

	/* Running commands go on in their own processes; only new requests
	 * are refused from here. */
	notify_send("STOPPING=1");
	policysync_stop(&d.sync);
	shipper_stop(&d.ship);
	new_generation(&d);
	close(d.listen_fd);
	unlink(cfg.socket_path);
	trail_daemon(&d.ctx, AUDIT_EV_DAEMON_STOP, NULL);
	if (audit_seal_now(d.ctx.audit, err, sizeof err) < 0)
		log_err("%s", err);
	audit_close(d.ctx.audit);
	log_info("stopped");
	policy_free(d.policy);
	return r < 0 ? JITSUD_EXIT_SYSTEM : JITSUD_EXIT_OK;
}
