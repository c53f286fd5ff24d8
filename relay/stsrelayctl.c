/*
 * stsrelayctl: administer a running stsrelayd through its control socket.
 *
 *   stsrelayctl [-s socket] [-f config] [-o key=value] [-t seconds] [--json] COMMAND
 *
 * Commands are rows of ctl_cmds[]: the words typed, the control request
 * they become, their arguments and how the answer is printed. A new daemon
 * command (policy ...) is one more row.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <jansson.h>

#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/config.h"
#include "relay/ctl_print.h"

#define CTL_MAX_ANSWER	(256 * 1024 * 1024)	/* a queue.cat of a large message */
#define CTL_MAX_OVR	64

enum ctl_out {
	CTL_OUT_STATUS,
	CTL_OUT_LIST,
	CTL_OUT_SHOW,
	CTL_OUT_CAT,
	CTL_OUT_DONE,
	CTL_OUT_TLS,
	CTL_OUT_CONFIG,		/* no daemon: print the configuration */
	CTL_OUT_POLICY_CHECK,	/* exits 0 valid, 2 no policy, 1 error */
	CTL_OUT_POLICY_SHOW,
	CTL_OUT_POLICY_LIST,
	CTL_OUT_POLICY_FLUSH
};

struct ctl_cmd {
	const char	*words;		/* as typed */
	const char	*request;	/* control command */
	int		 minargs, maxargs;
	const char	*usage;		/* of the arguments */
	enum ctl_out	 out;
	const char	*verb;		/* CTL_OUT_DONE: what was done */
	const char	*help;
};

static const struct ctl_cmd ctl_cmds[] = {
	{ "status", "status", 0, 0, "", CTL_OUT_STATUS, NULL,
	  "version, uptime, listeners, queue and session counts" },
	{ "queue list", "queue.list", 0, 0, "", CTL_OUT_LIST, NULL,
	  "the queue, like mailq (! marks a held message)" },
	{ "queue show", "queue.show", 1, 1, " ID", CTL_OUT_SHOW, NULL,
	  "a message's envelope, recipients and headers" },
	{ "queue cat", "queue.cat", 1, 1, " ID", CTL_OUT_CAT, NULL,
	  "the whole stored message" },
	{ "queue delete", "queue.delete", 1, 1, " ID", CTL_OUT_DONE, "deleted",
	  "remove a message without a bounce" },
	{ "queue hold", "queue.hold", 1, 1, " ID", CTL_OUT_DONE, "held",
	  "stop delivery attempts of a message" },
	{ "queue release", "queue.release", 1, 1, " ID", CTL_OUT_DONE, "released",
	  "let a held message be delivered again" },
	{ "queue flush", "queue.flush", 0, 1, " [ID]", CTL_OUT_DONE, "flushed",
	  "attempt delivery now: every message not held, or one" },
	{ "tls counts", "tls.counts", 0, 1, " [DAY]", CTL_OUT_TLS, NULL,
	  "TLS report counters of a UTC day (default today)" },
	{ "config", NULL, 0, 0, "", CTL_OUT_CONFIG, NULL,
	  "check the configuration file and print every effective value" },
	{ "policy check", "policy.check", 1, 1, " DOMAIN", CTL_OUT_POLICY_CHECK, NULL,
	  "resolve a domain's MTA-STS policy now, step by step" },
	{ "policy show", "policy.show", 1, 1, " DOMAIN", CTL_OUT_POLICY_SHOW, NULL,
	  "a domain's cached policy, its age and last failure" },
	{ "policy list", "policy.list", 0, 0, "", CTL_OUT_POLICY_LIST, NULL,
	  "every cached policy, one line each" },
	{ "policy flush", "policy.flush", 1, 1, " DOMAIN|--all", CTL_OUT_POLICY_FLUSH, NULL,
	  "forget a domain's cached policy, or all of them" },
};

#define CTL_NCMDS	(sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

struct ctl_opts {
	const char	*socket;
	const char	*config;
	char		*ovr[CTL_MAX_OVR];
	size_t		 novr;
	int		 json;
	int		 timeout;	/* seconds */
	int		 timeout_set;	/* -t given */
};

static void __attribute__((noreturn))
usage(FILE *fp, int status)
{
	size_t	i;
	char	line[80];

	fprintf(fp, "usage: stsrelayctl [-s socket] [-f config] [-o key=value] "
	    "[-t seconds] [--json] command\n\ncommands:\n");
	for (i = 0; i < CTL_NCMDS; i++) {
		snprintf(line, sizeof(line), "%s%s", ctl_cmds[i].words, ctl_cmds[i].usage);
		fprintf(fp, "  %-20s %s\n", line, ctl_cmds[i].help);
	}
	fprintf(fp, "\nThe socket is control_socket of the configuration (default %s).\n",
	    SYSCONFDIR "/stsrelay.conf");
	exit(status);
}

static void __attribute__((noreturn, format(printf, 2, 3)))
die(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "stsrelayctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

/* Does argv start with the command's words? Returns how many it uses. */
static int
ctl_match(const struct ctl_cmd *c, int argc, char **argv)
{
	char		 words[64], *w, *save = NULL;
	int		 n = 0;

	strutil_lcpy(words, c->words, sizeof(words));
	for (w = strtok_r(words, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
		if (n >= argc || strcmp(argv[n], w) != 0)
			return 0;
		n++;
	}
	return n;
}

static const struct ctl_cmd *
ctl_find(int argc, char **argv, int *used)
{
	size_t	i;
	int	n, best = 0;
	const struct ctl_cmd *found = NULL;

	for (i = 0; i < CTL_NCMDS; i++)
		if ((n = ctl_match(&ctl_cmds[i], argc, argv)) > best) {
			best = n;
			found = &ctl_cmds[i];
		}
	if (found == NULL) {
		fprintf(stderr, "stsrelayctl: unknown command: %s%s%s\n", argv[0],
		    argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
		usage(stderr, EX_USAGE);
	}
	if (argc - best < found->minargs || argc - best > found->maxargs) {
		fprintf(stderr, "usage: stsrelayctl [options] %s%s\n", found->words, found->usage);
		exit(EX_USAGE);
	}
	*used = best;
	return found;
}

static void
ctl_load_config(const struct ctl_opts *o, struct config *cfg)
{
	char		 err[600];
	const char	*path = o->config;

	if (path == NULL && access(SYSCONFDIR "/stsrelay.conf", F_OK) == 0)
		path = SYSCONFDIR "/stsrelay.conf";
	if (config_load(cfg, path, o->ovr, o->novr, err, sizeof(err)) == -1)
		die(EX_CONFIG, "%s", err);
}

static int
ctl_connect(const char *path, int timeout)
{
	struct sockaddr_un	sun;
	struct timeval		tv = { timeout, 0 };
	int			fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strutil_lcpy(sun.sun_path, path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path))
		die(EX_USAGE, "%s: path too long for a UNIX socket", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die(EX_OSERR, "socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		die(EX_OSERR, "setsockopt: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		e = errno;
		if (e == ENOENT || e == ECONNREFUSED)
			die(EX_UNAVAILABLE, "cannot connect to %s: is stsrelayd running? (%s)",
			    path, strerror(e));
		die(e == EACCES ? EX_NOPERM : EX_UNAVAILABLE, "cannot connect to %s: %s",
		    path, strerror(e));
	}
	return fd;
}

static void
ctl_send(int fd, const char *path, const char *line)
{
	size_t	len = strlen(line), off = 0;
	ssize_t	n;

	while (off < len) {
		if ((n = send(fd, line + off, len - off, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			die(errno == EAGAIN ? EX_TEMPFAIL : EX_IOERR, "send to %s: %s", path,
			    errno == EAGAIN ? "timed out" : strerror(errno));
		}
		off += (size_t)n;
	}
}

/* Read up to the first newline, within the time limit; returns the line. */
static char *
ctl_recv(int fd, const char *path, int timeout)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	char		*buf = NULL, *nl;
	size_t		 have = 0, cap = 0;
	ssize_t		 n;
	uint64_t	 deadline = strutil_now_ms() + (uint64_t)timeout * 1000, now;

	for (;;) {
		if (have == cap) {
			if (cap >= CTL_MAX_ANSWER)
				die(EX_PROTOCOL, "answer from %s too large", path);
			cap = cap == 0 ? 65536 : cap * 2;
			buf = xreallocarray(buf, cap + 1, 1);
		}
		if ((now = strutil_now_ms()) >= deadline)
			die(EX_TEMPFAIL, "no answer from stsrelayd on %s within %d s", path, timeout);
		if (poll(&pfd, 1, (int)(deadline - now)) == -1) {
			if (errno == EINTR)
				continue;
			die(EX_OSERR, "poll: %s", strerror(errno));
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if ((n = recv(fd, buf + have, cap - have, 0)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die(EX_IOERR, "read from %s: %s", path, strerror(errno));
		}
		if (n == 0)
			die(EX_PROTOCOL, "stsrelayd closed the connection without an answer");
		if ((nl = memchr(buf + have, '\n', (size_t)n)) != NULL) {
			*nl = '\0';
			return buf;
		}
		have += (size_t)n;
	}
}

/*
 * The human form of an answer. Everything but the message of queue cat goes
 * through a filter: control characters (an escape sequence in a remote
 * server's reply text) never reach the terminal.
 */
static int
ctl_print(const struct ctl_cmd *c, const json_t *ans)
{
	char	*buf = NULL, *p;
	size_t	 len = 0;
	FILE	*fp;
	int	 r = 0;

	if (c->out == CTL_OUT_CAT)
		return ctl_print_cat(ans, stdout);
	if ((fp = open_memstream(&buf, &len)) == NULL)
		die(EX_OSERR, "open_memstream: %s", strerror(errno));
	switch (c->out) {
	case CTL_OUT_STATUS:
		r = ctl_print_status(ans, fp);
		break;
	case CTL_OUT_LIST:
		r = ctl_print_list(ans, fp);
		break;
	case CTL_OUT_SHOW:
		r = ctl_print_show(ans, fp);
		break;
	case CTL_OUT_POLICY_CHECK:
		r = ctl_print_policy_check(ans, fp);
		break;
	case CTL_OUT_POLICY_SHOW:
		r = ctl_print_policy_show(ans, fp);
		break;
	case CTL_OUT_POLICY_LIST:
		r = ctl_print_policy_list(ans, fp);
		break;
	case CTL_OUT_POLICY_FLUSH:
		r = ctl_print_policy_flush(ans, fp);
		break;
	case CTL_OUT_TLS:
		r = ctl_print_tls(ans, fp);
		break;
	default:
		r = ctl_print_done(ans, c->verb, fp);
		break;
	}
	if (fclose(fp) != 0)
		die(EX_OSERR, "open_memstream: %s", strerror(errno));
	for (p = buf; p < buf + len; p++)
		if (((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
			*p = '?';
	fwrite(buf, 1, len, stdout);
	free(buf);
	return r;
}

/* One request, one answer: the exit status. */
static int
ctl_run(const struct ctl_opts *o, const char *path, const struct ctl_cmd *c,
    const char *arg)
{
	json_t	*req, *ans;
	char	*line, *answer;
	int	 fd, r = 0;

	if ((req = json_pack("{s:s}", "cmd", c->request)) == NULL)
		die(EX_SOFTWARE, "cannot build the request");
	if (arg != NULL && c->out == CTL_OUT_POLICY_FLUSH && strcmp(arg, "--all") == 0) {
		if (json_object_set_new(req, "all", json_true()) != 0)
			die(EX_SOFTWARE, "cannot build the request");
	} else if (arg != NULL && json_object_set_new(req, strncmp(c->request, "policy.",
	    7) == 0 ? "domain" : "id", json_string(arg)) != 0)
		die(EX_SOFTWARE, "cannot build the request");
	if ((line = json_dumps(req, JSON_COMPACT)) == NULL)
		die(EX_SOFTWARE, "cannot build the request");
	json_decref(req);
	fd = ctl_connect(path, o->timeout);
	ctl_send(fd, path, line);
	ctl_send(fd, path, "\n");
	free(line);
	answer = ctl_recv(fd, path, o->timeout);
	close(fd);
	if ((ans = json_loads(answer, 0, NULL)) == NULL || !json_is_object(ans))
		die(EX_PROTOCOL, "stsrelayd answered something that is not a JSON object");
	if (o->json)
		printf("%s\n", answer);
	free(answer);
	if (!json_is_true(json_object_get(ans, "ok"))) {
		if (!o->json) {
			json_t *e = json_object_get(ans, "error");

			fprintf(stderr, "stsrelayctl: %s\n", json_is_string(e) ?
			    json_string_value(e) : "failed");
		}
		json_decref(ans);
		return 1;
	}
	if (!o->json)
		r = ctl_print(c, ans);
	if (r != -1 && c->out == CTL_OUT_POLICY_CHECK)
		r = ctl_policy_exit(ans);	/* docs/stsrelayctl.8 */
	json_decref(ans);
	if (r == -1)
		die(EX_PROTOCOL, "stsrelayd's answer lacks what %s needs (another version?)",
		    c->words);
	return r;
}

static void
ctl_options(int argc, char **argv, struct ctl_opts *o)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	uint64_t	t;
	int		ch;

	memset(o, 0, sizeof(*o));
	o->timeout = 30;
	while ((ch = getopt_long(argc, argv, "+f:ho:s:t:jV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			o->config = optarg;
			break;
		case 'o':
			if (o->novr == CTL_MAX_OVR)
				die(EX_USAGE, "too many -o options");
			o->ovr[o->novr++] = optarg;
			break;
		case 's':
			o->socket = optarg;
			break;
		case 't':
			if (strutil_parse_duration(optarg, &t) != 0 || t == 0 || t > 3600)
				die(EX_USAGE, "-t %s: expected a duration from 1s to 1h", optarg);
			o->timeout = (int)t;
			o->timeout_set = 1;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'V':
			printf("stsrelayctl %s\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			usage(stdout, 0);
		default:
			usage(stderr, EX_USAGE);
		}
	}
}

/*
 * "--json" may also follow the command ("queue list --json", as admins type
 * it): take it out of the operands. Returns the operands left.
 */
static int
ctl_take_json(int argc, char **argv, struct ctl_opts *o)
{
	int i, n = 0;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			o->json = 1;
		else
			argv[n++] = argv[i];
	}
	return n;
}

int
main(int argc, char **argv)
{
	struct ctl_opts		 o;
	struct config		 cfg;
	const struct ctl_cmd	*c;
	char			*path;
	int			 used, r;

	ctl_options(argc, argv, &o);
	argc -= optind;
	argv += optind;
	argc = ctl_take_json(argc, argv, &o);
	if (argc == 0) {
		fprintf(stderr, "stsrelayctl: no command given\n");
		usage(stderr, EX_USAGE);
	}
	c = ctl_find(argc, argv, &used);
	if (c->out == CTL_OUT_CONFIG) {
		ctl_load_config(&o, &cfg);
		config_print(&cfg, stdout);
		config_free(&cfg);
		if (fflush(stdout) != 0 || ferror(stdout))
			die(EX_IOERR, "write to standard output failed");
		return 0;
	}
	if (o.socket != NULL)
		path = xstrdup(o.socket);
	else {
		ctl_load_config(&o, &cfg);
		path = xstrdup(cfg.control_socket);
		config_free(&cfg);
	}
	if (c->out == CTL_OUT_POLICY_CHECK && !o.timeout_set)
		o.timeout = 150;	/* DNS, a fetch of up to 60 s (S10), MX hosts */
	r = ctl_run(&o, path, c, argc > used ? argv[used] : NULL);
	free(path);
	if (fflush(stdout) != 0 || ferror(stdout))
		die(EX_IOERR, "write to standard output failed");
	return r;
}
