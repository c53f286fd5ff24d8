/*
 * test_control.c: the control socket in-process, on a temporary path, with
 * an in-memory queue: framing, errors, bounds, queue and status commands,
 * ordering, and answers that come after their client has gone.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/config.h"
#include "relay/control.h"
#include "relay/control_queue.h"
#include "relay/control_status.h"
#include "tests/tap.h"
#include "tests/unit/queue_double.h"

static struct event_base	*base;
static struct control		*ctl;
static struct queue		 q;
static char			 dir[] = "/tmp/test_control.XXXXXX";
static char			 sock[200];
static struct control_request	*late;		/* held by the test.late handler */

/* Run the event loop for a few milliseconds. */
static void
pump(void)
{
	struct timeval tv = { 0, 2000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static int
ctl_connect(void)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strutil_lcpy(sun.sun_path, sock, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		printf("Bail out! connect %s: %s\n", sock, strerror(errno));
		exit(1);
	}
	return fd;
}

/* Send everything, running the loop while the socket is full. */
static void
send_all(int fd, const char *p, size_t len)
{
	ssize_t		n;
	uint64_t	deadline = strutil_now_ms() + 10000;

	while (len > 0 && strutil_now_ms() < deadline) {
		if ((n = send(fd, p, len, MSG_NOSIGNAL)) > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n == -1 && errno != EAGAIN)
			return;
		else
			pump();
	}
}

static void
send_line(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
	send_all(fd, "\n", 1);
}

/* One answer line (without its newline), "" on EOF, NULL after 10 s. */
static char *
recv_line(int fd)
{
	static char	buf[1 << 20];
	static size_t	have;
	static int	have_fd = -1;
	char		*nl, *line;
	ssize_t		 n;
	uint64_t	 deadline = strutil_now_ms() + 10000;

	if (have_fd != fd)
		have = 0;
	have_fd = fd;
	while (strutil_now_ms() < deadline) {
		if ((nl = memchr(buf, '\n', have)) != NULL) {
			line = xstrndup(buf, (size_t)(nl - buf));
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have);
			return line;
		}
		n = recv(fd, buf + have, sizeof(buf) - have, 0);
		if (n == 0)
			return xstrdup("");
		if (n > 0)
			have += (size_t)n;
		else
			pump();
	}
	return NULL;
}

/* The next answer line as JSON (NULL if none). */
static json_t *
recv_json(int fd)
{
	char	*line = recv_line(fd);
	json_t	*o = line != NULL ? json_loads(line, 0, NULL) : NULL;

	free(line);
	return o;
}

/* Send one request line, parse its answer. */
static json_t *
ask_fd(int fd, const char *req)
{
	char	*line;
	json_t	*o;

	send_line(fd, req);
	if ((line = recv_line(fd)) == NULL)
		return NULL;
	o = json_loads(line, 0, NULL);
	free(line);
	return o;
}

static json_t *
ask(const char *req)
{
	int	fd = ctl_connect();
	json_t	*o = ask_fd(fd, req);

	close(fd);
	return o;
}

static const char *
jstr(const json_t *o, const char *path)
{
	json_t *v = json_object_get(o, path);

	return json_is_string(v) ? json_string_value(v) : "(missing)";
}

static int
is_ok(const json_t *o)
{
	return json_is_true(json_object_get(o, "ok"));
}

static void
want_error(const char *req, const char *err, const char *name)
{
	json_t *o = ask(req);

	if (o == NULL) {
		ok(0, name);
		diag("no answer to %s", req);
		return;
	}
	ok(!is_ok(o), name);
	is_str(jstr(o, "error"), err, name);
	json_decref(o);
}

static void
late_handler(struct control_request *req, const json_t *args, void *arg)
{
	late = req;
}

static void
sessions(void *arg, uint64_t *now, uint64_t *total)
{
	*now = 3;
	*total = 42;
}

static struct control *
start(char *err, size_t errlen)
{
	return control_new(base, sock, err, errlen);
}

static void
test_socket(void)
{
	struct control	*other;
	struct stat	 st;
	char		 err[300], want[300];
	int		 fd;

	ok(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode), "socket: created");
	is_int(st.st_mode & 0777, 0600, "socket: mode 0600");
	snprintf(want, sizeof(want), "%s/run", dir);
	ok(stat(want, &st) == 0 && S_ISDIR(st.st_mode), "socket: missing folder created");
	is_int(st.st_mode & 0777, 0700, "socket: folder mode 0700");
	ok(control_chown(ctl, getuid(), getgid(), err, sizeof(err)) == 0,
	    "socket: control_chown to ourselves works");
	other = start(err, sizeof(err));
	ok(other == NULL, "socket: a second daemon on the same socket is refused");
	snprintf(want, sizeof(want), "%s: another stsrelayd answers on it", sock);
	is_str(other == NULL ? err : "", want, "socket: the refusal says why");

	/* A file that is not a socket is never removed. */
	snprintf(want, sizeof(want), "%s/file", dir);
	fd = open(want, O_CREAT | O_WRONLY, 0600);
	close(fd);
	other = control_new(base, want, err, sizeof(err));
	ok(other == NULL && strstr(err, "exists and is not a socket") != NULL,
	    "socket: a regular file in the way is refused");
	unlink(want);
}

static void
test_stale(void)
{
	struct sockaddr_un	 sun;
	struct control		*c;
	char			 err[300];
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/stale.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
		diag("bind: %s", strerror(errno));
	close(fd);	/* the file stays, nobody listens: a dead daemon's */
	c = control_new(base, sun.sun_path, err, sizeof(err));
	if (!ok(c != NULL, "socket: a stale socket of a dead daemon is replaced"))
		diag("%s", err);
	control_free(c);
	ok(access(sun.sun_path, F_OK) == -1, "socket: control_free removes the socket file");
}

static void
test_protocol(void)
{
	json_t	*o;
	char	*big;
	int	 fd;

	o = ask("{\"cmd\":\"help\"}");
	ok(o != NULL && is_ok(o) && json_array_size(json_object_get(o, "commands")) == 10,
	    "protocol: help lists the commands");
	json_decref(o);
	want_error("{\"cmd\":\"nope\"}", "unknown command: nope", "protocol: unknown command");
	want_error("[1,2]", "bad request: expected an object with a \"cmd\" string",
	    "protocol: an array is not a request");
	want_error("{\"id\":\"x\"}", "bad request: expected an object with a \"cmd\" string",
	    "protocol: a request without cmd");
	want_error("{\"cmd\":7}", "bad request: expected an object with a \"cmd\" string",
	    "protocol: a cmd that is not a string");
	o = ask("{\"cmd\": \"help\"");
	ok(o != NULL && !is_ok(o) && strncmp(jstr(o, "error"), "bad request: not JSON", 21) == 0,
	    "protocol: broken JSON answered, not fatal");
	json_decref(o);
	o = ask("{\"cmd\":\"help\",\"cmd\":\"status\"}");
	ok(o != NULL && strncmp(jstr(o, "error"), "bad request: not JSON: duplicate object key",
	    43) == 0, "protocol: duplicate keys refused");
	json_decref(o);

	/* Errors keep the connection; two requests in one write keep their order. */
	fd = ctl_connect();
	o = ask_fd(fd, "garbage");
	ok(o != NULL && !is_ok(o), "protocol: garbage answered");
	json_decref(o);
	send_line(fd, "{\"cmd\":\"queue.hold\"}\n{\"cmd\":\"help\"}");
	o = ask_fd(fd, "{\"cmd\":\"nope2\"}");
	is_str(o != NULL ? jstr(o, "error") : NULL, "queue.hold needs an \"id\"",
	    "protocol: pipelined requests answered in order (1)");
	json_decref(o);
	o = recv_json(fd);
	ok(o != NULL && is_ok(o), "protocol: pipelined requests answered in order (2)");
	json_decref(o);
	o = recv_json(fd);
	is_str(o != NULL ? jstr(o, "error") : NULL, "unknown command: nope2",
	    "protocol: pipelined requests answered in order (3)");
	json_decref(o);
	close(fd);

	/* A request over the bound is refused before its end arrives. */
	big = malloc(CONTROL_MAX_REQUEST + 4096);
	memset(big, 'x', CONTROL_MAX_REQUEST + 4096);
	fd = ctl_connect();
	send_all(fd, big, CONTROL_MAX_REQUEST + 4096);
	o = recv_json(fd);
	is_str(o != NULL ? jstr(o, "error") : NULL, "request too large",
	    "bounds: a request over 64 KiB is refused");
	json_decref(o);
	free(big);
	big = recv_line(fd);
	is_str(big, "", "bounds: and the connection is closed");
	close(fd);
	free(big);

	/* Half-closed clients (echo ... | nc -U) still get their answer. */
	fd = ctl_connect();
	send_line(fd, "{\"cmd\":\"help\"}");
	shutdown(fd, SHUT_WR);
	o = recv_json(fd);
	ok(o != NULL && is_ok(o), "protocol: a half-closed client gets its answer");
	json_decref(o);
	close(fd);
}

/*
 * A client that sends requests and never reads its answers: the daemon stops
 * reading its requests once CONTROL_MAX_OUTPUT of answers wait, instead of
 * piling up answers without bound; it goes on when the client reads.
 */
static void
test_never_reads(void)
{
	static const char	 req[] = "{\"cmd\":\"help\"}\n";
	const size_t		 cap = 4 * 1024 * 1024;
	size_t			 sent = 0, want, got = 0, idle = 0;
	ssize_t			 n;
	json_t			*o;
	char			 buf[64 * sizeof(req)];
	size_t			 i;
	int			 fd;

	for (i = 0; i < 64; i++)
		memcpy(buf + i * (sizeof(req) - 1), req, sizeof(req) - 1);
	fd = ctl_connect();
	while (sent < cap && idle < 200) {
		n = send(fd, buf + sent % (sizeof(req) - 1), 64 * (sizeof(req) - 1) -
		    sent % (sizeof(req) - 1), MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			idle = 0;
		} else {
			idle++;
			pump();
		}
	}
	ok(sent < cap / 2, "bounds: a client that never reads cannot make the daemon read "
	    "(and answer) without end");
	if (sent >= cap / 2)
		diag("the daemon took %zu bytes of requests from a client that reads nothing", sent);
	want = sent / (sizeof(req) - 1);
	while (got < want && (o = recv_json(fd)) != NULL) {
		if (!is_ok(o)) {
			json_decref(o);
			break;
		}
		got++;
		json_decref(o);
	}
	is_int(got, want, "bounds: once the client reads, every request is answered");
	close(fd);
}

static void
test_queue(void)
{
	json_t		*o, *m, *r;
	const char	*b64;

	o = ask("{\"cmd\":\"queue.list\"}");
	ok(o != NULL && is_ok(o), "queue.list answers");
	is_int(json_integer_value(json_object_get(o, "count")), 2, "queue.list: two messages");
	m = json_array_get(json_object_get(o, "messages"), 0);
	is_str(jstr(m, "id"), "0AAAAAAAAAAA1", "queue.list: first id");
	is_str(jstr(m, "sender"), "alice@example.org", "queue.list: sender");
	r = json_array_get(json_object_get(m, "recipients"), 0);
	is_str(jstr(r, "state"), "deferred", "queue.list: recipient state");
	is_int(json_integer_value(json_object_get(r, "attempts")), 3, "queue.list: attempts");
	is_str(jstr(r, "last_reason"), "4.7.5 certificate not trusted", "queue.list: last reason");
	json_decref(o);

	o = ask("{\"cmd\":\"queue.show\",\"id\":\"0AAAAAAAAAAA1\"}");
	is_str(jstr(o, "headers"), "Subject: hi\r\nFrom: alice@example.org\r\n",
	    "queue.show: the header section only");
	is_str(jstr(o, "helo"), "client.example", "queue.show: where it came from");
	json_decref(o);
	o = ask("{\"cmd\":\"queue.cat\",\"id\":\"0AAAAAAAAAAA1\"}");
	is_str(jstr(o, "message"), "Subject: hi\r\nFrom: alice@example.org\r\n\r\nbody\r\n",
	    "queue.cat: the whole message");
	json_decref(o);
	o = ask("{\"cmd\":\"queue.cat\",\"id\":\"0AAAAAAAAAAA2\"}");
	b64 = jstr(o, "message_base64");
	is_str(b64, "U3ViamVjdDog/w0KDQr/", "queue.cat: 8-bit that is not UTF-8 comes as base64");
	json_decref(o);

	want_error("{\"cmd\":\"queue.show\",\"id\":\"NOPE\"}", "no such message: NOPE",
	    "queue.show: no such message");
	want_error("{\"cmd\":\"queue.hold\"}", "queue.hold needs an \"id\"", "queue.hold: id needed");
	o = ask("{\"cmd\":\"queue.hold\",\"id\":\"0AAAAAAAAAAA1\"}");
	ok(is_ok(o) && q.msgs[0].held, "queue.hold holds");
	json_decref(o);
	o = ask("{\"cmd\":\"queue.list\"}");
	m = json_array_get(json_object_get(o, "messages"), 0);
	ok(json_is_true(json_object_get(m, "held")), "queue.list: held shown");
	json_decref(o);
	o = ask("{\"cmd\":\"queue.release\",\"id\":\"0AAAAAAAAAAA1\"}");
	ok(is_ok(o) && !q.msgs[0].held, "queue.release releases");
	json_decref(o);
	o = ask("{\"cmd\":\"queue.flush\"}");
	ok(is_ok(o) && q.flushed_all == 1, "queue.flush without id flushes all");
	json_decref(o);
	o = ask("{\"cmd\":\"queue.flush\",\"id\":\"0AAAAAAAAAAA2\"}");
	ok(is_ok(o) && q.msgs[1].flushed == 1, "queue.flush with id flushes one");
	json_decref(o);
	want_error("{\"cmd\":\"queue.flush\",\"id\":\"NOPE\"}", "no such message: NOPE",
	    "queue.flush: no such message");
	o = ask("{\"cmd\":\"queue.delete\",\"id\":\"0AAAAAAAAAAA2\"}");
	ok(is_ok(o) && !q.msgs[1].used, "queue.delete deletes");
	json_decref(o);
	want_error("{\"cmd\":\"queue.delete\",\"id\":\"0AAAAAAAAAAA2\"}",
	    "no such message: 0AAAAAAAAAAA2", "queue.delete: a second time, no such message");
	q.msgs[0].sender = "b\xff" "ad@example.org";
	o = ask("{\"cmd\":\"queue.list\"}");
	m = json_array_get(json_object_get(o, "messages"), 0);
	is_str(jstr(m, "sender"), "b?ad@example.org",
	    "queue.list: an address that is not UTF-8 is shown, not fatal");
	json_decref(o);
	q.msgs[0].sender = "alice@example.org";
	q.broken = 1;
	want_error("{\"cmd\":\"queue.list\"}", "queue: temporary storage failure",
	    "queue.list: a storage failure is reported");
	q.broken = 0;
}

static void
test_status(void)
{
	json_t *o = ask("{\"cmd\":\"status\"}");

	ok(o != NULL && is_ok(o), "status answers");
	is_str(jstr(o, "version"), PACKAGE_VERSION, "status: version");
	is_int(json_integer_value(json_object_get(o, "pid")), getpid(), "status: pid");
	is_str(json_string_value(json_array_get(json_object_get(o, "listen"), 0)),
	    "127.0.0.1:2525", "status: listeners from the configuration");
	is_int(json_integer_value(json_object_get(json_object_get(o, "queue"), "messages")), 1,
	    "status: queue counts");
	is_int(json_integer_value(json_object_get(json_object_get(o, "sessions"), "total")), 42,
	    "status: session counts from the daemon");
	json_decref(o);
}

static int
wait_clients(size_t n)
{
	uint64_t deadline = strutil_now_ms() + 10000;

	while (control_nclients(ctl) != n && strutil_now_ms() < deadline)
		pump();
	return control_nclients(ctl) == n;
}

static void
test_late(void)
{
	json_t	*o;
	char	*line, err[300];
	int	 fd, fds[CONTROL_MAX_CLIENTS], i;

	/* An answer after a while, with a request queued behind it. */
	fd = ctl_connect();
	send_line(fd, "{\"cmd\":\"test.late\"}\n{\"cmd\":\"help\"}");
	while (late == NULL)
		pump();
	pump();
	ok(recv(fd, err, 1, MSG_DONTWAIT) == -1, "late: nothing is answered before the first");
	control_reply(late, json_pack("{s:i}", "n", 1));
	late = NULL;
	o = json_loads(line = recv_line(fd), 0, NULL);
	is_int(json_integer_value(json_object_get(o, "n")), 1, "late: the late answer arrives");
	json_decref(o);
	free(line);
	o = json_loads(line = recv_line(fd), 0, NULL);
	ok(o != NULL && json_object_get(o, "commands") != NULL, "late: then the one behind it");
	json_decref(o);
	free(line);
	close(fd);

	/* The client leaves before the answer: it is dropped safely. */
	fd = ctl_connect();
	send_line(fd, "{\"cmd\":\"test.late\"}");
	while (late == NULL)
		pump();
	close(fd);
	pump();
	control_reply_error(late, "too late");
	late = NULL;
	ok(wait_clients(0), "late: an answer to a client that left is dropped");

	/* Too many clients at once. */
	for (i = 0; i < CONTROL_MAX_CLIENTS; i++)
		fds[i] = ctl_connect();
	ok(wait_clients(CONTROL_MAX_CLIENTS), "bounds: 16 control clients at once");
	fd = ctl_connect();
	o = json_loads(line = recv_line(fd), 0, NULL);
	is_str(o != NULL ? jstr(o, "error") : NULL, "too many control connections",
	    "bounds: the 17th is turned away");
	json_decref(o);
	free(line);
	close(fd);
	for (i = 0; i < CONTROL_MAX_CLIENTS; i++)
		close(fds[i]);
	ok(wait_clients(0), "bounds: closed clients are freed");

	/* The daemon shuts down while an answer is pending. */
	fd = ctl_connect();
	send_line(fd, "{\"cmd\":\"test.late\"}");
	while (late == NULL)
		pump();
	control_free(ctl);
	ctl = NULL;
	control_reply(late, NULL);
	late = NULL;
	ok(1, "late: an answer after control_free is dropped safely");
	close(fd);
}

#define B1	"Subject: hi\r\nFrom: alice@example.org\r\n\r\nbody\r\n"
#define B2	"Subject: \xff\r\n\r\n\xff"

int
main(void)
{
	struct config	cfg;
	char		err[300];

	signal(SIGPIPE, SIG_IGN);
	log_init("test_control", LOG_DEST_STDERR, LOG_LVL_WARN);
	if (mkdtemp(dir) == NULL || (base = event_base_new()) == NULL ||
	    config_load(&cfg, NULL, NULL, 0, err, sizeof(err)) != 0) {
		printf("Bail out! setup\n");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/run/control.sock", dir);
	tq_add(&q, "0AAAAAAAAAAA1", "alice@example.org", "bob@example.com",
	    B1, strlen(B1));
	tq_add(&q, "0AAAAAAAAAAA2", "", "dave@example.com", B2, strlen(B2));
	if ((ctl = start(err, sizeof(err))) == NULL) {
		printf("Bail out! control_new: %s\n", err);
		return 1;
	}
	control_queue_register(ctl, &q);
	control_status_register(ctl, &cfg, &q, sessions, NULL);
	control_register(ctl, "test.late", late_handler, NULL);
	ok(control_register(ctl, "status", late_handler, NULL) == -1,
	    "register: a command is registered once");
	test_socket();
	test_stale();
	test_protocol();
	test_never_reads();
	test_queue();
	test_status();
	test_late();
	config_free(&cfg);
	event_base_free(base);
	snprintf(err, sizeof(err), "%s/run", dir);
	rmdir(err);
	rmdir(dir);
	return tap_done();
}
