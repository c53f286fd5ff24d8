/*
 * test_control_ctl.c: the stsrelayctl program against a control socket
 * served in this process (with the in-memory queue): its human output, its
 * --json output and its exit codes.
 */
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/strutil.h"
#include "relay/config.h"
#include "relay/control.h"
#include "relay/control_queue.h"
#include "relay/control_status.h"
#include "tests/tap.h"
#include "tests/unit/queue_double.h"

static struct event_base	*base;
static struct queue		 q;
static char			 dir[] = "/tmp/test_control_ctl.XXXXXX";
static char			 sock[200], ctl[512];
static char			 out[65536], err[4096];

static void
pump(void)
{
	struct timeval tv = { 0, 2000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void
drain(int fd, char *buf, size_t size, size_t *len)
{
	ssize_t n;

	while (*len + 1 < size && (n = read(fd, buf + *len, size - 1 - *len)) > 0)
		*len += (size_t)n;
	buf[*len] = '\0';
}

/* Run stsrelayctl -s SOCK args... while serving the socket; exit status. */
static int
run(const char *first, ...)
{
	const char	*argv[16];
	int		 po[2], pe[2], n = 0, status = -1;
	size_t		 lo = 0, le = 0;
	pid_t		 pid;
	uint64_t	 deadline = strutil_now_ms() + 20000;
	va_list		 ap;

	argv[n++] = ctl;
	argv[n++] = "-s";
	argv[n++] = sock;
	va_start(ap, first);
	for (argv[n] = first; argv[n] != NULL && n < 15; argv[++n] = va_arg(ap, const char *))
		;
	va_end(ap);
	if (pipe2(po, O_NONBLOCK) == -1 || pipe2(pe, O_NONBLOCK) == -1 || (pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execv(ctl, (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	while (strutil_now_ms() < deadline) {
		drain(po[0], out, sizeof(out), &lo);
		drain(pe[0], err, sizeof(err), &le);
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		pump();
	}
	drain(po[0], out, sizeof(out), &lo);
	drain(pe[0], err, sizeof(err), &le);
	close(po[0]);
	close(pe[0]);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
has(const char *text, const char *want, const char *name)
{
	if (!ok(strstr(text, want) != NULL, name)) {
		diag("want \"%s\" in:", want);
		diag("%s", text);
	}
}

static void
sessions(void *arg, uint64_t *now, uint64_t *total)
{
	*now = 1;
	*total = 7;
}

static void
test_ctl(void)
{
	json_t *o;

	is_int(run("status", NULL), 0, "ctl status: exit 0");
	has(out, "stsrelayd " PACKAGE_VERSION ", pid ", "ctl status: version and pid");
	has(out, "listening: 127.0.0.1:2525\n", "ctl status: listeners");
	has(out, "queue:      2 messages, 4 recipients pending, 1 held", "ctl status: queue counts");
	has(out, "sessions:   1 open, 7 since start", "ctl status: sessions");

	is_int(run("queue", "list", NULL), 0, "ctl queue list: exit 0");
	has(out, "-Queue ID-", "ctl queue list: mailq header");
	has(out, "0AAAAAAAAAAA1 ", "ctl queue list: a message not held");
	has(out, "0AAAAAAAAAAA2!", "ctl queue list: ! marks a held message");
	has(out, "<>\n", "ctl queue list: the null sender as <>");
	has(out, "    deferred    3 attempts bob@example.com  (4.7.5 certificate not trusted)\n",
	    "ctl queue list: recipient line with state, attempts, reason");
	has(out, "\n-- 1 KiB in 2 messages\n", "ctl queue list: total line");

	q.msgs[0].reason = "5.0.0 \x1b[31mred";
	is_int(run("queue", "list", NULL), 0, "ctl queue list: exit 0 (escape in a reason)");
	has(out, "(5.0.0 ?[31mred)\n", "ctl queue list: control characters never reach the terminal");
	q.msgs[0].reason = NULL;

	is_int(run("queue", "show", "0AAAAAAAAAAA1", NULL), 0, "ctl queue show: exit 0");
	has(out, "sender:       <alice@example.org>\n", "ctl queue show: sender");
	has(out, "\nSubject: hi\nFrom: alice@example.org\n", "ctl queue show: headers as lines");
	ok(strstr(out, "\nbody\n") == NULL, "ctl queue show: headers only, no body");

	is_int(run("queue", "cat", "0AAAAAAAAAAA1", NULL), 0, "ctl queue cat: exit 0");
	is_str(out, "Subject: hi\nFrom: alice@example.org\n\nbody\n", "ctl queue cat: the message");
	is_int(run("queue", "cat", "0AAAAAAAAAAA2", NULL), 0, "ctl queue cat: 8-bit message");
	is_str(out, "Subject: \xff\n\n\xff", "ctl queue cat: bytes kept (sent as base64)");

	is_int(run("queue", "hold", "NOPE", NULL), 1, "ctl: no such message exits 1");
	is_str(err, "stsrelayctl: no such message: NOPE\n", "ctl: no such message says so");
	is_int(run("queue", "release", "0AAAAAAAAAAA2", NULL), 0, "ctl queue release: exit 0");
	is_str(out, "0AAAAAAAAAAA2: released\n", "ctl queue release: says what it did");
	ok(!q.msgs[1].held, "ctl queue release: released");
	is_int(run("queue", "flush", NULL), 0, "ctl queue flush: exit 0");
	ok(q.flushed_all == 1, "ctl queue flush: the queue was flushed");
	is_int(run("queue", "delete", "0AAAAAAAAAAA2", NULL), 0, "ctl queue delete: exit 0");
	ok(!q.msgs[1].used, "ctl queue delete: deleted");

	is_int(run("--json", "queue", "list", NULL), 0, "ctl --json: exit 0");
	o = json_loads(out, 0, NULL);
	ok(o != NULL && json_is_true(json_object_get(o, "ok")) &&
	    json_array_size(json_object_get(o, "messages")) == 1, "ctl --json: the daemon's JSON");
	json_decref(o);
	is_int(run("--json", "queue", "show", "NOPE", NULL), 1, "ctl --json: an error exits 1");
	has(out, "\"ok\":false", "ctl --json: an error as JSON");
	is_int(run("queue", NULL), 64, "ctl: an incomplete command is a usage error");
	is_int(run("queue", "hold", NULL), 64, "ctl: a missing ID is a usage error");
	is_int(run("queue", "hold", "a", "b", NULL), 64, "ctl: an extra argument is a usage error");
}

#define B1	"Subject: hi\r\nFrom: alice@example.org\r\n\r\nbody\r\n"
#define B2	"Subject: \xff\r\n\r\n\xff"

int
main(void)
{
	struct config	 cfg;
	struct control	*c;
	const char	*top = getenv("top_builddir");
	char		 e[300];

	signal(SIGPIPE, SIG_IGN);
	log_init("test_control_ctl", LOG_DEST_STDERR, LOG_LVL_WARN);
	snprintf(ctl, sizeof(ctl), "%s/stsrelayctl", top != NULL ? top : ".");
	if (access(ctl, X_OK) != 0) {
		printf("1..0 # SKIP %s not built\n", ctl);
		return 0;
	}
	if (mkdtemp(dir) == NULL || (base = event_base_new()) == NULL ||
	    config_load(&cfg, NULL, NULL, 0, e, sizeof(e)) != 0) {
		printf("Bail out! setup\n");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/control.sock", dir);
	tq_add(&q, "0AAAAAAAAAAA1", "alice@example.org", "bob@example.com",
	    B1, strlen(B1));
	tq_add(&q, "0AAAAAAAAAAA2", "", "dave@example.com", B2, strlen(B2));
	q.msgs[1].held = 1;
	if ((c = control_new(base, sock, e, sizeof(e))) == NULL) {
		printf("Bail out! control_new: %s\n", e);
		return 1;
	}
	control_queue_register(c, &q);
	control_status_register(c, &cfg, &q, sessions, NULL);
	test_ctl();
	control_free(c);
	config_free(&cfg);
	event_base_free(base);
	rmdir(dir);
	return tap_done();
}
