/*
 * jitsu: the client. It is not setuid and holds no privilege: it asks
 * jitsud to run a command, passes its stdin, stdout, stderr and working
 * directory as file descriptors, relays the terminal, and exits with the
 * command's status.
 *
 *   jitsu [-S socket] [-u user] [-r reason] [--] command [arg ...]
 *   jitsu -l
 *   jitsu -C policyfile [-u user] [--] command [arg ...]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "jitsu/envbuild.h"
#include "jitsu/policy.h"
#include "jitsu/proto.h"
#include "jitsu/resolve.h"

#define JITSU_DEFAULT_SOCKET "/run/jitsu/jitsud.sock"

extern char **environ;

enum client_mode { MODE_EXEC, MODE_LIST, MODE_CHECK, MODE_ENROLL, MODE_MFA_STATUS };

struct options {
	enum client_mode mode;
	const char *socket;
	const char *target;
	const char *reason;
	const char *check_file;
	int breakglass; /* --break-glass: docs/breakglass.md */
	char **argv;
	int argc;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: jitsu [-S socket] [-u user] [-r reason] [--] command [arg ...]\n"
		   "       jitsu --break-glass -r reason [-S socket] [-u user] [--] command "
		   "[arg ...]\n"
		   "       jitsu -l [-S socket]\n"
		   "       jitsu -C policyfile [-u user] [--] command [arg ...]\n"
		   "       jitsu --enroll-mfa | --mfa-status [-S socket]\n");
}

int client_error_exit(unsigned code)
{
	switch (code) {
	case PROTO_E_DENIED: return JITSU_EXIT_DENIED;
	case PROTO_E_NOTFOUND: return JITSU_EXIT_NOTFOUND;
	case PROTO_E_NOEXEC: return JITSU_EXIT_NOEXEC;
	case PROTO_E_USAGE: return JITSU_EXIT_USAGE;
	case PROTO_E_BUSY: return JITSU_EXIT_UNREACHABLE;
	case PROTO_E_INTERNAL: return JITSU_EXIT_INTERNAL;
	}
	return JITSU_EXIT_PROTOCOL;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"enroll-mfa", no_argument, NULL, 'E'},  {"mfa-status", no_argument, NULL, 'M'},
		{"break-glass", no_argument, NULL, 'B'}, {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},     {NULL, 0, NULL, 0},
	};
	int c, modes = 0;
	o->socket = getenv("JITSU_SOCKET");
	if (!o->socket || !o->socket[0])
		o->socket = JITSU_DEFAULT_SOCKET;
	/* '+': stop at the command, so its own options are left alone. */
	while ((c = getopt_long(argc, argv, "+S:u:r:C:lhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'S': o->socket = optarg; break;
		case 'u': o->target = optarg; break;
		case 'r': o->reason = optarg; break;
		case 'B': o->breakglass = 1; break;
		case 'C':
			o->check_file = optarg;
			o->mode = MODE_CHECK;
			modes++;
			break;
		case 'l':
			o->mode = MODE_LIST;
			modes++;
			break;
		case 'E':
			o->mode = MODE_ENROLL;
			modes++;
			break;
		case 'M':
			o->mode = MODE_MFA_STATUS;
			modes++;
			break;
		case 'V': printf("jitsu %s\n", JITSU_VERSION); exit(0);
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	o->argv = argv + optind;
	o->argc = argc - optind;
	if (modes > 1 || (o->target && !o->target[0]))
		return -1;
	if (o->breakglass && (o->mode != MODE_EXEC || !o->reason || !o->reason[0])) {
		fprintf(stderr, "jitsu: --break-glass needs a reason (-r REASON) and a command\n");
		return -1;
	}
	int wants_command = o->mode == MODE_EXEC || o->mode == MODE_CHECK;
	return wants_command == (o->argc > 0) ? 0 : -1;
}

static void print_policy_error(void *ctx, const char *file, unsigned line, const char *msg)
{
	(void)ctx;
	fprintf(stderr, line ? "%s:%u: %s\n" : "%s:%.0u%s\n", file, line, msg);
}

/* The calling user's name and group names, from this process's credentials. */
static int own_identity(char *user, size_t ulen, char ***names, size_t *n)
{
	struct passwd *pw = getpwuid(getuid());
	gid_t gids[1024];
	int ng = getgroups(1024, gids);
	if (!pw || ng < 0 || strlen(pw->pw_name) >= ulen)
		return -1;
	snprintf(user, ulen, "%s", pw->pw_name);
	*names = calloc((size_t)ng + 2, sizeof(char *));
	if (!*names)
		return -1;
	*n = 0;
	for (int i = -1; i < ng; i++) {
		struct group *g = getgrgid(i < 0 ? getgid() : gids[i]);
		if (g && ((*names)[*n] = strdup(g->gr_name)))
			(*n)++;
	}
	return 0;
}

/* jitsu -C: evaluates a policy file for the caller; runs nothing. */
static int check_policy(const struct options *o)
{
	struct policy *p = NULL;
	if (policy_load(o->check_file, 0, &p, print_policy_error, NULL) != 0)
		return JITSU_EXIT_USAGE;
	policy_canonicalize(p);

	struct resolved bin;
	char err[PATH_MAX + 64], user[256];
	uint8_t hash[32];
	int is_script, have_hash = 0;
	char **groups = NULL;
	size_t ngroups = 0;
	if (resolve_command(o->argv[0], AT_FDCWD, &bin, err, sizeof err) < 0) {
		fprintf(stderr, "jitsu: %s\n", err);
		policy_free(p);
		return JITSU_EXIT_NOTFOUND;
	}
	have_hash = resolve_sha256(&bin, hash, &is_script) == 0;
	if (own_identity(user, sizeof user, &groups, &ngroups) < 0) {
		fprintf(stderr, "jitsu: cannot determine who you are\n");
		return JITSU_EXIT_INTERNAL;
	}
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	struct policy_request req = {
		.user = user,
		.groups = (const char *const *)groups,
		.ngroups = ngroups,
		.target = o->target ? o->target : "root",
		.cmd = bin.path,
		.args = (const char *const *)o->argv + 1,
		.nargs = (size_t)o->argc - 1,
		.sha256 = have_hash ? hash : NULL,
		.wday = tm.tm_wday,
		.minute = (unsigned)(tm.tm_hour * 60 + tm.tm_min),
	};
	struct policy_decision d;
	char line[128];
	policy_eval(p, &req, &d);
	policy_format_decision(&d, line, sizeof line);
	puts(line);
	for (size_t i = 0; i < ngroups; i++)
		free(groups[i]);
	free(groups);
	resolve_close(&bin);
	policy_free(p);
	return d.action == POLICY_PERMIT ? 0 : JITSU_EXIT_DENIED;
}

static int connect_daemon(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "jitsu: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "jitsu: cannot reach jitsud at %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int send_request(int sock, const struct options *o)
{
	const char *env[PROTO_MAX_ENV];
	uint32_t envc = 0;
	for (char **e = environ; *e && envc < PROTO_MAX_ENV; e++)
		if (envbuild_allowed(*e))
			env[envc++] = *e;
	struct winsize ws = {0};
	ioctl(STDIN_FILENO, TIOCGWINSZ, &ws);
	struct proto_exec x = {
		.target = o->target ? o->target : "",
		.reason = o->reason ? o->reason : "",
		.flags = o->breakglass ? PROTO_EXEC_F_BREAKGLASS : 0,
		.argc = (uint32_t)o->argc,
		.argv = (const char **)o->argv,
		.envc = envc,
		.env = env,
		.rows = ws.ws_row,
		.cols = ws.ws_col,
	};
	struct proto_buf b;
	proto_buf_init(&b);
	if (proto_exec_encode(&b, &x) < 0) {
		if (b.err == -E2BIG)
			fprintf(stderr, "jitsu: too many arguments: at most %d\n",
				PROTO_MAX_ARGS - 1);
		else
			fprintf(stderr, "jitsu: %s\n",
				b.err == -EMSGSIZE ? "argument list too long" : "out of memory");
		proto_buf_free(&b);
		return JITSU_EXIT_USAGE;
	}
	int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0) {
		fprintf(stderr, "jitsu: cannot open the current directory: %s\n", strerror(errno));
		proto_buf_free(&b);
		return JITSU_EXIT_USAGE;
	}
	int fds[4] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, cwd};
	int r = proto_send(sock, PROTO_REQ_EXEC, b.data, b.len, fds, 4);
	close(cwd);
	proto_buf_free(&b);
	if (r < 0) {
		fprintf(stderr, "jitsu: cannot send the request: %s\n", strerror(-r));
		return JITSU_EXIT_PROTOCOL;
	}
	return 0;
}

/* Contract in client.h. */
void client_printable(char *s)
{
	for (unsigned char *p = (unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
		else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			p[0] = p[1] = '?'; /* U+0080..U+009F in UTF-8 */
	}
}

/*
 * A status line that replaces itself on a terminal (and clears with ""),
 * or one line per update elsewhere.
 */
static int status_shown;

static void show_status(const char *s)
{
	if (isatty(STDERR_FILENO)) {
		fprintf(stderr, s[0] ? "\r\033[Kjitsu: %s" : "\r\033[K", s);
		status_shown = s[0] != 0;
	} else if (s[0]) {
		fprintf(stderr, "jitsu: %s\n", s);
	}
}

/* Shows an enrollment once: the QR code, the URI and the key by hand. */
static int show_otpauth(const struct proto_msg *m)
{
	struct proto_reader r;
	char *uri = NULL, *secret = NULL, *qr = NULL;
	int ret = -1;
	proto_reader_init(&r, m->payload, m->len);
	if (proto_get_str(&r, PROTO_MAX_SHORT, &uri) < 0 ||
	    proto_get_str(&r, PROTO_MAX_SHORT, &secret) < 0 ||
	    proto_get_str(&r, PROTO_MAX_PAYLOAD, &qr) < 0 || proto_reader_done(&r) < 0) {
		fprintf(stderr, "jitsu: protocol error: bad enrollment message\n");
		ret = JITSU_EXIT_PROTOCOL;
	} else {
		printf("Scan this QR code with your authenticator app:\n\n");
		fputs(qr, stdout);
		printf("\n%s\nor enter this key by hand: %s\n\n", uri, secret);
		fflush(stdout);
	}
	free(qr);
	if (uri)
		explicit_bzero(uri, strlen(uri));
	if (secret)
		explicit_bzero(secret, strlen(secret));
	free(uri);
	free(secret);
	return ret;
}

/* Answers a PROTO_PROMPT; -1 to go on, or an exit code. */
static int answer_prompt(int sock, const char *prompt, int echo)
{
	char line[PROTO_MAX_SHORT];
	if (prompt_read(prompt, echo, line, sizeof line) < 0) {
		fprintf(stderr, "jitsu: no answer: %s\n", prompt);
		proto_send(sock, PROTO_CANCEL, NULL, 0, NULL, 0);
		return JITSU_EXIT_DENIED;
	}
	int r = proto_send_str(sock, PROTO_ANSWER, line);
	explicit_bzero(line, sizeof line);
	return r < 0 ? JITSU_EXIT_PROTOCOL : -1;
}

/* Waits for the daemon's answer to a request; relays once it started. */
static int converse(int sock)
{
	for (;;) {
		struct proto_msg m;
		uint32_t code;
		char *s = NULL;
		int r;
		if (proto_recv(sock, &m, 1) < 0) {
			show_status("");
			fprintf(stderr, "jitsu: jitsud closed the connection\n");
			return JITSU_EXIT_PROTOCOL;
		}
		if (status_shown && m.type != PROTO_STATUS)
			show_status("");
		if (m.type == PROTO_STARTED && proto_decode_u32(&m, &code) == 0) {
			int master = m.nfds ? m.fds[0] : -1;
			m.nfds = 0;
			proto_msg_free(&m);
			return relay_run(sock, master);
		}
		if (m.type == PROTO_NOTICE && proto_decode_str(&m, PROTO_MAX_SHORT, &s) == 0) {
			client_printable(s);
			fprintf(stderr, "jitsu: %s\n", s);
			r = -1;
		} else if (m.type == PROTO_STATUS &&
			   proto_decode_str(&m, PROTO_MAX_SHORT, &s) == 0) {
			client_printable(s);
			show_status(s);
			r = -1;
		} else if (m.type == PROTO_TEXT &&
			   proto_decode_str(&m, PROTO_MAX_SHORT * 8, &s) == 0) {
			fputs(s, stdout);
			r = 0;
		} else if (m.type == PROTO_OTPAUTH) {
			r = show_otpauth(&m);
		} else if (m.type == PROTO_PROMPT &&
			   proto_decode_u32_str(&m, PROTO_MAX_SHORT, &code, &s) == 0) {
			client_printable(s);
			r = answer_prompt(sock, s, (int)code);
		} else if (m.type == PROTO_ERROR && proto_decode_error(&m, &code, &s) == 0) {
			client_printable(s);
			fprintf(stderr, "jitsu: %s\n", s);
			r = client_error_exit(code);
		} else {
			fprintf(stderr, "jitsu: protocol error: unexpected %s\n",
				proto_type_name(m.type));
			r = JITSU_EXIT_PROTOCOL;
		}
		free(s);
		proto_msg_free(&m);
		if (r >= 0)
			return r;
	}
}

/* Sends an empty request of type t and holds the conversation. */
static int simple_request(int sock, uint8_t t)
{
	if (proto_send(sock, t, NULL, 0, NULL, 0) < 0) {
		fprintf(stderr, "jitsu: jitsud closed the connection\n");
		return JITSU_EXIT_PROTOCOL;
	}
	return converse(sock);
}

/* A closed 0, 1 or 2 would be reused by the next open(); fill the gap. */
static void sanitize_stdio(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			_exit(JITSU_EXIT_INTERNAL);
}

static int enroll(int sock)
{
	uint32_t flags = isatty(STDOUT_FILENO) ? PROTO_ENROLL_F_ANSI : 0;
	if (proto_send_u32(sock, PROTO_REQ_ENROLL, flags) < 0) {
		fprintf(stderr, "jitsu: jitsud closed the connection\n");
		return JITSU_EXIT_PROTOCOL;
	}
	return converse(sock);
}

int main(int argc, char **argv)
{
	struct options o = {0};
	sanitize_stdio();
	if (argc < 1 || parse_options(argc, argv, &o) < 0) {
		usage(stderr);
		return JITSU_EXIT_USAGE;
	}
	if (o.mode == MODE_CHECK)
		return check_policy(&o);

	int sock = connect_daemon(o.socket);
	if (sock < 0)
		return JITSU_EXIT_UNREACHABLE;
	if (o.mode == MODE_LIST)
		return simple_request(sock, PROTO_REQ_LIST);
	if (o.mode == MODE_ENROLL)
		return enroll(sock);
	if (o.mode == MODE_MFA_STATUS)
		return simple_request(sock, PROTO_REQ_MFA_STATUS);
	int r = send_request(sock, &o);
	if (r != 0)
		return r;
	r = converse(sock);
	relay_restore();
	return r;
}
