/*
 * test_fetch.c: the policy fetch end to end against `openssl s_server -WWW`
 * on 127.0.0.1 with a CA made at test time (S6-S10, S17).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "policy/fetch.h"
#include "tests/tap.h"

static char		 dir[] = "/tmp/test_fetch.XXXXXX";
static struct event_base *base;

struct got {
	int			 done;
	enum fetch_status	 status;
	long			 http;
	char			 reason[256];
	char			 mx[256];
	size_t			 size;
	int			 mode;
};

static int	pending;

static void
on_policy(const struct fetch_outcome *o, void *arg)
{
	struct got	*g = arg;

	g->done = 1;
	g->status = o->status;
	g->http = o->http_status;
	g->size = o->size;
	snprintf(g->reason, sizeof(g->reason), "%s%s%s", o->reason,
	    o->curl_error[0] ? ": " : "", o->curl_error);
	if (o->policy != NULL) {
		g->mode = (int)o->policy->mode;
		snprintf(g->mx, sizeof(g->mx), "%s", o->policy->nmx ? o->policy->mx[0] : "");
	}
	if (--pending == 0)
		event_base_loopbreak(base);
}

static int
free_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd, port;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		return -1;
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static int
can_connect(int port)
{
	struct sockaddr_in	sin;
	int			fd, r;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return 0;
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return r == 0;
}

/* s_server -WWW serving docroot; returns its pid once it accepts. */
static pid_t
start_server(const char *docroot, int port)
{
	char		 accept[64];
	pid_t		 pid;
	struct timespec	 ts = { 0, 20 * 1000 * 1000 };
	int		 i;

	snprintf(accept, sizeof(accept), "127.0.0.1:%d", port);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		if (chdir(docroot) == -1)
			_exit(127);
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		execlp("openssl", "openssl", "s_server", "-accept", accept, "-cert",
		    "../srv.pem", "-key", "../srv.key", "-WWW", "-quiet", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 500; i++) {		/* up to 10 s */
		if (can_connect(port))
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		nanosleep(&ts, NULL);
	}
	return pid;
}

static int
write_file(const char *path, const char *text, size_t len)
{
	FILE	*f = fopen(path, "w");

	if (f == NULL || fwrite(text, 1, len, f) != len)
		return -1;
	return fclose(f);
}

static int
setup(void)
{
	char	 cmd[2048], path[512], *big;
	size_t	 i;

	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "(cd %s && "
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout ca.key -out ca.pem -days 2 -subj /CN=fetch-test-ca && "
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout other.key -out other.pem -days 2 -subj /CN=other-ca && "
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout srv.key -out srv.csr -subj /CN=mta-sts.d.test && "
	    "printf 'subjectAltName=DNS:mta-sts.d.test,DNS:mta-sts.big.test,"
	    "DNS:mta-sts.bad.test\\n' > ext && "
	    "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	    "-days 2 -extfile ext -out srv.pem && "
	    "mkdir -p good/.well-known big/.well-known bad/.well-known) >/dev/null 2>&1",
	    dir);
	if (system(cmd) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/good/.well-known/mta-sts.txt", dir);
	if (write_file(path, "version: STSv1\r\nmode: enforce\r\nmx: mail.d.test\r\n"
	    "max_age: 86400\r\n", 64) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/bad/.well-known/mta-sts.txt", dir);
	if (write_file(path, "version: STSv1\nmode: enfroce\nmax_age: 1\n", 41) == -1)
		return -1;
	big = malloc(70000);
	memcpy(big, "version: STSv1\nmode: none\nmax_age: 1\npad: ", 43);
	for (i = 43; i < 69999; i++)
		big[i] = 'x';
	big[69999] = '\n';
	snprintf(path, sizeof(path), "%s/big/.well-known/mta-sts.txt", dir);
	i = (size_t)write_file(path, big, 70000);
	free(big);
	return (int)i;
}

static void
cleanup(void)
{
	char	cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	diag("deadline reached with %d fetches pending", pending);
	event_base_loopbreak(base);
}

static void
query(struct fetcher *f, const char *domain, struct got *g)
{
	struct sockaddr_storage	ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	memset(g, 0, sizeof(*g));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fetch_query_policy(f, domain, &ss, 1, on_policy, g) == 0)
		pending++;
}

static void
run(void)
{
	struct timeval	 tv = { 30, 0 };
	struct event	*dl = evtimer_new(base, on_deadline, NULL);

	evtimer_add(dl, &tv);
	event_base_dispatch(base);
	event_free(dl);
}

int
main(void)
{
	struct fetch_params	 p;
	struct fetcher		*f, *fother, *fdead;
	struct got		 good, big, bad, wrongname, untrusted, refused, silent;
	pid_t			 s1, s2, s3;
	int			 port1, port2, port3, lfd;
	char			 cafile[600], otherfile[600], root[600];
	struct sockaddr_in	 sin;

	log_init("test_fetch", LOG_DEST_STDERR, LOG_LVL_WARN);
	signal(SIGPIPE, SIG_IGN);
	if (setup() == -1) {
		printf("1..0 # SKIP cannot make test certificates with openssl\n");
		cleanup();
		return 0;
	}
	base = event_base_new();
	port1 = free_port();
	snprintf(root, sizeof(root), "%s/good", dir);
	s1 = start_server(root, port1);
	port2 = free_port();
	snprintf(root, sizeof(root), "%s/big", dir);
	s2 = start_server(root, port2);
	port3 = free_port();
	snprintf(root, sizeof(root), "%s/bad", dir);
	s3 = start_server(root, port3);
	ok(s1 > 0 && s2 > 0 && s3 > 0, "three policy servers started");
	snprintf(cafile, sizeof(cafile), "%s/ca.pem", dir);
	snprintf(otherfile, sizeof(otherfile), "%s/other.pem", dir);

	memset(&p, 0, sizeof(p));
	p.cainfo = cafile;
	p.timeout_s = 10;
	p.port = (unsigned)port1;
	f = fetch_new(base, &p);
	query(f, "d.test", &good);
	query(f, "e.test", &wrongname);	/* cert names mta-sts.d.test only */
	p.cainfo = otherfile;
	fother = fetch_new(base, &p);
	query(fother, "d.test", &untrusted);
	run();
	is_int(good.status, FETCH_OK, "S6: policy fetched over HTTPS from the given address");
	diag("good: %s", good.reason);
	ok(good.mode == 2 && strcmp(good.mx, "mail.d.test") == 0 && good.http == 200,
	    "S15: fetched policy parsed (CRLF body)");
	is_int(wrongname.status, FETCH_WEBPKI_INVALID,
	    "S7: certificate for another name: sts-webpki-invalid");
	diag("wrong name: %s", wrongname.reason);
	is_int(untrusted.status, FETCH_WEBPKI_INVALID,
	    "S7: certificate from an untrusted CA: sts-webpki-invalid");
	fetch_free(fother);
	fetch_free(f);

	p.cainfo = cafile;
	p.port = (unsigned)port2;
	f = fetch_new(base, &p);
	query(f, "big.test", &big);
	run();
	fetch_free(f);
	is_int(big.status, FETCH_FETCH_ERROR, "S10: body over 64 KiB: fetch error");
	ok(big.size <= 65536, "S10: no more than 64 KiB kept");
	diag("big: %s (size %zu)", big.reason, big.size);

	p.port = (unsigned)port3;
	f = fetch_new(base, &p);
	query(f, "bad.test", &bad);
	run();
	fetch_free(f);
	is_int(bad.status, FETCH_POLICY_INVALID, "S17: invalid policy: sts-policy-invalid");
	is_str(bad.reason, "line 2: mode: unknown value 'enfroce'", "  with the parser's reason");

	/* refused: a port nobody listens on; silent: accepts, never speaks */
	p.port = (unsigned)free_port();
	fdead = fetch_new(base, &p);
	query(fdead, "d.test", &refused);
	run();
	fetch_free(fdead);
	is_int(refused.status, FETCH_FETCH_ERROR, "connection refused: fetch error");

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	bind(lfd, (struct sockaddr *)&sin, sizeof(sin));
	listen(lfd, 4);
	{
		socklen_t len = sizeof(sin);

		getsockname(lfd, (struct sockaddr *)&sin, &len);
	}
	p.port = ntohs(sin.sin_port);
	p.timeout_s = 1;
	fdead = fetch_new(base, &p);
	query(fdead, "d.test", &silent);
	run();
	fetch_free(fdead);
	close(lfd);
	is_int(silent.status, FETCH_FETCH_ERROR, "S10: a silent server times out: fetch error");
	diag("silent: %s", silent.reason);

	ok(fetch_query_policy(fdead = fetch_new(base, &p), "d.test", NULL, 0,
	    on_policy, NULL) == -1, "no address: refused (libcurl never resolves)");
	fetch_free(fdead);

	kill(s1, SIGTERM);
	kill(s2, SIGTERM);
	kill(s3, SIGTERM);
	waitpid(s1, NULL, 0);
	waitpid(s2, NULL, 0);
	waitpid(s3, NULL, 0);
	event_base_free(base);
	cleanup();
	return tap_done();
}
