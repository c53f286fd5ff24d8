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
#include "tests/unit/test_fetch_canned.h"
#include "tests/unit/test_fetch_server.h"

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

static struct https_lab	lab;

static int
setup(void)
{
	char	*big;
	int	 r;

	if (https_lab_setup(&lab, "mta-sts.d.test mta-sts.big.test mta-sts.bad.test "
	    "mta-sts.redir.test mta-sts.charset.test mta-sts.upper.test "
	    "mta-sts.html.test mta-sts.notype.test mta-sts.nf.test "
	    "mta-sts.biglen.test mta-sts.lf.test") == -1)
		return -1;
	if (https_lab_write(&lab, "good", "version: STSv1\r\nmode: enforce\r\n"
	    "mx: mail.d.test\r\nmax_age: 86400\r\n", 64) == -1 ||
	    https_lab_write(&lab, "bad", "version: STSv1\nmode: enfroce\n"
	    "max_age: 1\n", 41) == -1)
		return -1;
	big = malloc(70000);
	memcpy(big, "version: STSv1\nmode: none\nmax_age: 1\npad: ", 43);
	memset(big + 43, 'x', 70000 - 44);
	big[69999] = '\n';
	r = https_lab_write(&lab, "big", big, 70000);
	free(big);
	return r;
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

/* One fetch with these parameters, run to completion. */
static void
fetch_one(const struct fetch_params *p, const char *domain, struct got *g)
{
	struct fetcher	*f = fetch_new(base, p);

	query(f, domain, g);
	run();
	fetch_free(f);
}

static void
test_tls(int port)
{
	struct fetch_params	 p;
	struct fetcher		*f, *fother;
	struct got		 good, wrongname, untrusted;

	memset(&p, 0, sizeof(p));
	p.cainfo = lab.cafile;
	p.timeout_s = 10;
	p.port = (unsigned)port;
	f = fetch_new(base, &p);
	query(f, "d.test", &good);
	query(f, "e.test", &wrongname);	/* cert names mta-sts.d.test only */
	p.cainfo = lab.othercafile;
	fother = fetch_new(base, &p);
	query(fother, "d.test", &untrusted);
	run();
	fetch_free(fother);
	fetch_free(f);
	is_int(good.status, FETCH_OK, "S6: policy fetched over HTTPS from the given address");
	ok(good.mode == 2 && strcmp(good.mx, "mail.d.test") == 0 && good.http == 200,
	    "S15: fetched policy parsed (CRLF body)");
	is_int(wrongname.status, FETCH_WEBPKI_INVALID,
	    "S7: certificate for another name: sts-webpki-invalid");
	diag("wrong name: %s", wrongname.reason);
	is_int(untrusted.status, FETCH_WEBPKI_INVALID,
	    "S7: certificate from an untrusted CA: sts-webpki-invalid");
}

/* IPv6 addresses go to CURLOPT_RESOLVE in brackets; a bad entry fails the transfer. */
static void
test_v6_entry(int port)
{
	struct fetch_params	 p;
	struct fetcher		*f;
	struct sockaddr_storage	 ss[2];
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss[0];
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss[1];
	struct got		 g;

	memset(ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_addr = in6addr_loopback;	/* nobody listens there */
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(&p, 0, sizeof(p));
	p.cainfo = lab.cafile;
	p.timeout_s = 10;
	p.port = (unsigned)port;
	f = fetch_new(base, &p);
	memset(&g, 0, sizeof(g));
	if (fetch_query_policy(f, "d.test", ss, 2, on_policy, &g) == 0)
		pending++;
	run();
	fetch_free(f);
	is_int(g.status, FETCH_OK, "an IPv6 and an IPv4 address: the one that answers is used");
	diag("v6+v4: %s", g.reason);
}

static void
test_content(int bigport, int badport)
{
	struct fetch_params	p;
	struct got		big, bad;

	memset(&p, 0, sizeof(p));
	p.cainfo = lab.cafile;
	p.timeout_s = 10;
	p.port = (unsigned)bigport;
	fetch_one(&p, "big.test", &big);
	is_int(big.status, FETCH_FETCH_ERROR, "S10: body over 64 KiB: fetch error");
	ok(big.size <= 65536, "S10: no more than 64 KiB kept");
	diag("big: %s (size %zu)", big.reason, big.size);
	p.port = (unsigned)badport;
	fetch_one(&p, "bad.test", &bad);
	is_int(bad.status, FETCH_POLICY_INVALID, "S17: invalid policy: sts-policy-invalid");
	is_str(bad.reason, "line 2: mode: unknown value 'enfroce'", "  with the parser's reason");
}

#define POLICY_LF	"version: STSv1\nmode: enforce\nmx: mail.d.test\nmax_age: 86400\n"
#define HEAD_OK(type)	"HTTP/1.1 200 OK\r\n" type "Content-Length: 60\r\n" \
			"Connection: close\r\n\r\n" POLICY_LF

static const struct canned canned[] = {
	{ "mta-sts.redir.test", "HTTP/1.1 301 Moved Permanently\r\n"
	    "Location: https://mta-sts.d.test/.well-known/mta-sts.txt\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n" },
	{ "mta-sts.charset.test", HEAD_OK("Content-Type: text/plain; charset=utf-8\r\n") },
	{ "mta-sts.upper.test", HEAD_OK("Content-Type: TEXT/PLAIN\r\n") },
	{ "mta-sts.html.test", HEAD_OK("Content-Type: text/html\r\n") },
	{ "mta-sts.notype.test", HEAD_OK("") },
	{ "mta-sts.lf.test", HEAD_OK("Content-Type: text/plain\r\n") },
	{ "mta-sts.biglen.test", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 100000\r\nConnection: close\r\n\r\nversion: STSv1\n" },
	{ NULL, NULL }
};

/* Status codes, redirects and media types against canned responses. */
static void
test_canned(void)
{
	static const struct { const char *domain; enum fetch_status want;
	    long http; const char *name; } t[] = {
		{ "redir.test", FETCH_FETCH_ERROR, 301,
		    "S8: a redirect is not followed: sts-policy-fetch-error" },
		{ "nf.test", FETCH_FETCH_ERROR, 404, "S8: 404: sts-policy-fetch-error" },
		{ "charset.test", FETCH_OK, 200,
		    "S9: text/plain; charset=utf-8 accepted" },
		{ "upper.test", FETCH_OK, 200, "S9: TEXT/PLAIN accepted" },
		{ "html.test", FETCH_POLICY_INVALID, 200,
		    "S9: text/html: sts-policy-invalid" },
		{ "notype.test", FETCH_POLICY_INVALID, 200,
		    "S9, Ours: no Content-Type: sts-policy-invalid" },
		{ "lf.test", FETCH_OK, 200, "S16: LF-only policy fetched and parsed" },
		{ "biglen.test", FETCH_FETCH_ERROR, 200,
		    "S10: announced length over 64 KiB refused before the body" },
	};
	struct fetch_params	 p;
	struct fetcher		*f;
	struct got		 g[sizeof(t) / sizeof(t[0])];
	char			 cert[200], key[200], name[160];
	pid_t			 pid;
	size_t			 i;
	int			 port = https_lab_free_port();

	snprintf(cert, sizeof(cert), "%s/srv.pem", lab.dir);
	snprintf(key, sizeof(key), "%s/srv.key", lab.dir);
	if ((pid = canned_serve(cert, key, port, canned)) == -1) {
		ok(0, "canned HTTPS server started");
		return;
	}
	memset(&p, 0, sizeof(p));
	p.cainfo = lab.cafile;
	p.timeout_s = 10;
	p.port = (unsigned)port;
	f = fetch_new(base, &p);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		query(f, t[i].domain, &g[i]);
	run();
	fetch_free(f);
	https_lab_stop(pid);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		is_int(g[i].status, t[i].want, t[i].name);
		snprintf(name, sizeof(name), "  HTTP status %ld", t[i].http);
		if (t[i].domain[0] != 'b')	/* biglen: curl may stop before */
			is_int(g[i].http, t[i].http, name);
		if (g[i].status != t[i].want)
			diag("%s: %s", t[i].domain, g[i].reason);
	}
}

/* refused: a port nobody listens on; silent: accepts, never speaks */
static void
test_network(void)
{
	struct fetch_params	 p;
	struct fetcher		*f;
	struct got		 refused, silent;
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 lfd;

	memset(&p, 0, sizeof(p));
	p.cainfo = lab.cafile;
	p.timeout_s = 10;
	p.port = (unsigned)https_lab_free_port();
	fetch_one(&p, "d.test", &refused);
	is_int(refused.status, FETCH_FETCH_ERROR, "connection refused: fetch error");

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 4) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) == -1) {
		ok(0, "a silent listener");
		return;
	}
	p.port = ntohs(sin.sin_port);
	p.timeout_s = 1;
	fetch_one(&p, "d.test", &silent);
	close(lfd);
	is_int(silent.status, FETCH_FETCH_ERROR, "S10: a silent server times out: fetch error");
	diag("silent: %s", silent.reason);

	f = fetch_new(base, &p);
	ok(fetch_query_policy(f, "d.test", NULL, 0, on_policy, NULL) == -1,
	    "no address: refused (libcurl never resolves)");
	fetch_free(f);
}

int
main(void)
{
	pid_t	s1, s2, s3;
	int	port1, port2, port3;

	log_init("test_fetch", LOG_DEST_STDERR, LOG_LVL_WARN);
	signal(SIGPIPE, SIG_IGN);
	if (setup() == -1) {
		printf("1..0 # SKIP cannot make test certificates with openssl\n");
		https_lab_cleanup(&lab);
		return 0;
	}
	base = event_base_new();
	port1 = https_lab_free_port();
	s1 = https_lab_serve(&lab, "good", port1);
	port2 = https_lab_free_port();
	s2 = https_lab_serve(&lab, "big", port2);
	port3 = https_lab_free_port();
	s3 = https_lab_serve(&lab, "bad", port3);
	ok(s1 > 0 && s2 > 0 && s3 > 0, "three policy servers started");
	test_tls(port1);
	test_v6_entry(port1);
	test_content(port2, port3);
	test_canned();
	test_network();
	https_lab_stop(s1);
	https_lab_stop(s2);
	https_lab_stop(s3);
	event_base_free(base);
	https_lab_cleanup(&lab);
	return tap_done();
}
