/*
 * test_resolver.c: the c-ares glue against a tiny DNS responder living in
 * the same event loop (a UDP socket on 127.0.0.1, crafted answers).
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "policy/resolver.h"
#include "tests/tap.h"

enum behave { B_ANSWER, B_NXDOMAIN, B_SERVFAIL, B_REFUSED, B_DROP, B_GARBAGE };

#define T_A	1
#define T_CNAME	5
#define T_MX	15
#define T_TXT	16
#define T_AAAA	28

/* One zone entry: name, type, behaviour and raw answer records. */
struct zrec {
	const char	*name;
	int		 type;
	enum behave	 b;
	/* answers: "mx:10:host" "a:1.2.3.4" "aaaa:::1" "txt:s1|s2" "cname:target" */
	const char	*ans[8];
};

static const struct zrec zone[] = {
	{ "d.test", T_MX, B_ANSWER, { "mx:20:mx2.d.test", "mx:10:mx1.d.test.",
	    "mx:20:mx3.d.test", "mx:5:mx0.d.test" } },
	{ "null.test", T_MX, B_ANSWER, { "mx:0:" } },
	{ "nomx.test", T_MX, B_ANSWER, { NULL } },
	{ "gone.test", T_MX, B_NXDOMAIN, { NULL } },
	{ "fail.test", T_MX, B_SERVFAIL, { NULL } },
	{ "refused.test", T_MX, B_REFUSED, { NULL } },
	{ "slow.test", T_MX, B_DROP, { NULL } },
	{ "garbage.test", T_MX, B_GARBAGE, { NULL } },
	{ "mx1.d.test", T_A, B_ANSWER, { "a:127.0.0.10", "a:127.0.0.11" } },
	{ "mx1.d.test", T_AAAA, B_ANSWER, { "aaaa:::1" } },
	{ "_mta-sts.d.test", T_TXT, B_ANSWER, { "txt:v=spf1 -all",
	    "txt:v=STSv1; id=|2024|01", "txt:" } },
	{ "_mta-sts.alias.test", T_TXT, B_ANSWER, { "cname:_mta-sts.target.test",
	    "txt@_mta-sts.target.test:v=STSv1; id=viacname" } },
	{ "_mta-sts.none.test", T_TXT, B_NXDOMAIN, { NULL } },
	{ "_mta-sts.fail.test", T_TXT, B_SERVFAIL, { NULL } },
};

struct responder {
	int		 fd;
	struct event	*ev;
	int		 queries;
};

static int
put_name(unsigned char *p, const char *name)
{
	int	n = 0;

	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : strlen(name);

		p[n++] = (unsigned char)len;
		memcpy(p + n, name, len);
		n += (int)len;
		name += len;
		if (*name == '.')
			name++;
	}
	p[n++] = 0;
	return n;
}

static int
put_rr(unsigned char *p, const char *owner, int type, const unsigned char *rd,
    int rdlen)
{
	int	n;

	if (owner == NULL) {
		p[0] = 0xc0;		/* pointer to the question name */
		p[1] = 12;
		n = 2;
	} else
		n = put_name(p, owner);
	p[n++] = (unsigned char)(type >> 8);
	p[n++] = (unsigned char)type;
	p[n++] = 0; p[n++] = 1;				/* IN */
	p[n++] = 0; p[n++] = 0; p[n++] = 0; p[n++] = 60;	/* TTL */
	p[n++] = (unsigned char)(rdlen >> 8);
	p[n++] = (unsigned char)rdlen;
	memcpy(p + n, rd, (size_t)rdlen);
	return n + rdlen;
}

/* Encode one answer spec; returns the RR length written at p. */
static int
put_answer(unsigned char *p, const char *spec)
{
	unsigned char	 rd[600];
	const char	*owner = NULL, *v;
	char		 buf[300];
	int		 rdlen = 0;

	if (strncmp(spec, "mx:", 3) == 0) {
		int pref = atoi(spec + 3);

		v = strchr(spec + 3, ':') + 1;
		rd[0] = (unsigned char)(pref >> 8);
		rd[1] = (unsigned char)pref;
		rdlen = 2 + put_name(rd + 2, v);
		return put_rr(p, NULL, T_MX, rd, rdlen);
	}
	if (strncmp(spec, "a:", 2) == 0) {
		inet_pton(AF_INET, spec + 2, rd);
		return put_rr(p, NULL, T_A, rd, 4);
	}
	if (strncmp(spec, "aaaa:", 5) == 0) {
		inet_pton(AF_INET6, spec + 5, rd);
		return put_rr(p, NULL, T_AAAA, rd, 16);
	}
	if (strncmp(spec, "cname:", 6) == 0) {
		rdlen = put_name(rd, spec + 6);
		return put_rr(p, NULL, T_CNAME, rd, rdlen);
	}
	/* txt:s1|s2 or txt@owner:s1|s2 */
	if (spec[3] == '@') {
		v = strchr(spec, ':');
		snprintf(buf, sizeof(buf), "%.*s", (int)(v - spec - 4), spec + 4);
		owner = buf;
	} else
		v = spec + 3;
	v++;
	for (;;) {
		const char *bar = strchr(v, '|');
		size_t len = bar ? (size_t)(bar - v) : strlen(v);

		rd[rdlen++] = (unsigned char)len;
		memcpy(rd + rdlen, v, len);
		rdlen += (int)len;
		if (bar == NULL)
			break;
		v = bar + 1;
	}
	return put_rr(p, owner, T_TXT, rd, rdlen);
}

/* Read the question name (no compression in queries) into name. */
static int
get_question(const unsigned char *q, int len, char *name, size_t nlen, int *type)
{
	int	i = 12;
	size_t	o = 0;

	while (i < len && q[i] != 0) {
		int l = q[i++];

		if (i + l > len || o + (size_t)l + 2 > nlen)
			return -1;
		if (o > 0)
			name[o++] = '.';
		memcpy(name + o, q + i, (size_t)l);
		o += (size_t)l;
		i += l;
	}
	name[o] = '\0';
	if (i + 5 > len)
		return -1;
	*type = (q[i + 1] << 8) | q[i + 2];
	return i + 5;		/* end of the question */
}

static void
responder_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct responder	*r = arg;
	struct sockaddr_storage	 from;
	socklen_t		 fromlen = sizeof(from);
	unsigned char		 q[512], a[4096];
	char			 name[256];
	int			 len, qend, type, n, an = 0, rcode = 0;
	size_t			 i, j;

	if ((len = (int)recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from,
	    &fromlen)) < 12)
		return;
	r->queries++;
	if ((qend = get_question(q, len, name, sizeof(name), &type)) == -1)
		return;
	memcpy(a, q, (size_t)qend);
	n = qend;
	for (i = 0; i < sizeof(zone) / sizeof(zone[0]); i++) {
		if (strcasecmp(zone[i].name, name) != 0 || zone[i].type != type)
			continue;
		if (zone[i].b == B_DROP)
			return;
		if (zone[i].b == B_GARBAGE) {
			a[3] = 0; a[7] = 5;	/* claims 5 answers, has none */
			a[2] = 0x81; a[5] = 1; a[9] = a[11] = 0;
			sendto(fd, a, (size_t)n, 0, (struct sockaddr *)&from, fromlen);
			return;
		}
		rcode = zone[i].b == B_NXDOMAIN ? 3 : zone[i].b == B_SERVFAIL ? 2 :
		    zone[i].b == B_REFUSED ? 5 : 0;
		for (j = 0; j < 8 && zone[i].ans[j] != NULL; j++) {
			n += put_answer(a + n, zone[i].ans[j]);
			an++;
		}
		break;
	}
	if (i == sizeof(zone) / sizeof(zone[0]))
		rcode = 3;
	a[2] = 0x81;			/* QR, RD */
	a[3] = (unsigned char)(0x80 | rcode);	/* RA */
	a[4] = 0; a[5] = 1;
	a[6] = (unsigned char)(an >> 8); a[7] = (unsigned char)an;
	a[8] = a[9] = a[10] = a[11] = 0;	/* no authority, no additional */
	sendto(fd, a, (size_t)n, 0, (struct sockaddr *)&from, fromlen);
}

static int
responder_start(struct event_base *base, struct responder *r,
    struct netaddr_endpoint *ep)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((r->fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
	    bind(r->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(r->fd, (struct sockaddr *)&sin, &len) == -1)
		return -1;
	memcpy(&ep->ss, &sin, sizeof(sin));
	ep->len = sizeof(sin);
	r->ev = event_new(base, r->fd, EV_READ | EV_PERSIST, responder_on_read, r);
	return r->ev == NULL ? -1 : event_add(r->ev, NULL);
}

/* --- the tests --- */

static struct event_base	*base;
static int			 pending;

struct got {
	enum resolver_status	status;
	int			null_mx;
	char			text[512];
	int			done;
};

static void
finish(struct got *g)
{
	g->done = 1;
	if (--pending == 0)
		event_base_loopbreak(base);
}

static void
on_mx(const struct resolver_mx_result *r, void *arg)
{
	struct got	*g = arg;
	size_t		 i;

	g->status = r->status;
	g->null_mx = r->null_mx;
	for (i = 0; i < r->nmx; i++)
		snprintf(g->text + strlen(g->text), sizeof(g->text) - strlen(g->text),
		    "%s%u:%s", i ? "," : "", r->mx[i].pref, r->mx[i].host);
	finish(g);
}

static void
on_addr(const struct resolver_addr_result *r, void *arg)
{
	struct got	*g = arg;
	char		 buf[NETADDR_STRLEN];
	size_t		 i;

	g->status = r->status;
	for (i = 0; i < r->naddrs; i++) {
		netaddr_format_host((const struct sockaddr *)&r->addrs[i], buf, sizeof(buf));
		snprintf(g->text + strlen(g->text), sizeof(g->text) - strlen(g->text),
		    "%s%s", i ? "," : "", buf);
	}
	finish(g);
}

static void
on_txt(const struct resolver_txt_result *r, void *arg)
{
	struct got	*g = arg;
	size_t		 i;

	g->status = r->status;
	for (i = 0; i < r->ntxt; i++)
		snprintf(g->text + strlen(g->text), sizeof(g->text) - strlen(g->text),
		    "%s[%.*s]", i ? "," : "", (int)r->txt[i].len, r->txt[i].data);
	finish(g);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	diag("deadline reached with %d lookups pending", pending);
	event_base_loopbreak(base);
}

static void
run(void)
{
	struct timeval	 tv = { 20, 0 };
	struct event	*dl = evtimer_new(base, on_deadline, NULL);

	evtimer_add(dl, &tv);
	event_base_dispatch(base);
	event_free(dl);
}

int
main(void)
{
	struct responder	 r;
	struct netaddr_endpoint	 ep;
	struct resolver_params	 p;
	struct resolver		*res;
	struct got		 mx, nullmx, nomx, gone, fail, refused, slow, garbage,
				 a, aaaa, txt, alias, txtnone, txtfail, notincache, badname;

	log_init("test_resolver", LOG_DEST_STDERR, LOG_LVL_WARN);
	base = event_base_new();
	memset(&r, 0, sizeof(r));
	if (responder_start(base, &r, &ep) == -1) {
		printf("Bail out! cannot start the DNS responder\n");
		return 1;
	}
	memset(&p, 0, sizeof(p));
	p.servers = &ep;
	p.nservers = 1;
	p.timeout_ms = 300;
	p.tries = 1;
	if ((res = resolver_new(base, &p)) == NULL) {
		printf("Bail out! resolver_new failed\n");
		return 1;
	}
#define Q(fn, name, g, cb) do { memset(&g, 0, sizeof(g)); \
	if (fn(res, name, cb, &g) == 0) pending++; } while (0)
	Q(resolver_query_mx, "d.test", mx, on_mx);
	Q(resolver_query_mx, "null.test", nullmx, on_mx);
	Q(resolver_query_mx, "nomx.test", nomx, on_mx);
	Q(resolver_query_mx, "gone.test", gone, on_mx);
	Q(resolver_query_mx, "fail.test", fail, on_mx);
	Q(resolver_query_mx, "refused.test", refused, on_mx);
	Q(resolver_query_mx, "slow.test", slow, on_mx);
	Q(resolver_query_mx, "garbage.test", garbage, on_mx);
	Q(resolver_query_a, "mx1.d.test", a, on_addr);
	Q(resolver_query_aaaa, "MX1.D.TEST.", aaaa, on_addr);
	Q(resolver_query_txt, "_mta-sts.d.test", txt, on_txt);
	Q(resolver_query_txt, "_mta-sts.alias.test", alias, on_txt);
	Q(resolver_query_txt, "_mta-sts.none.test", txtnone, on_txt);
	Q(resolver_query_txt, "_mta-sts.fail.test", txtfail, on_txt);
	Q(resolver_query_a, "unknown.test", notincache, on_addr);
	Q(resolver_query_a, "bad..name", badname, on_addr);
	is_int(pending, 16, "all queries accepted");
	ok(!mx.done && !badname.done, "no callback runs inside resolver_query_*");
	run();
	is_int(pending, 0, "every callback ran");

	is_str(resolver_strstatus(mx.status), "ok", "S23: MX answer ok");
	is_str(mx.text, "5:mx0.d.test,10:mx1.d.test,20:mx2.d.test,20:mx3.d.test",
	    "S23: MX sorted by preference (stable), trailing dot dropped");
	ok(nullmx.status == RESOLVER_OK && nullmx.null_mx && nullmx.text[0] == '\0',
	    "S23: null MX (MX 0 .) detected");
	is_str(resolver_strstatus(nomx.status), "nodata",
	    "S23: no MX record is NODATA (caller uses the implicit MX)");
	is_str(resolver_strstatus(gone.status), "nxdomain", "NXDOMAIN classified");
	is_str(resolver_strstatus(fail.status), "tempfail", "SERVFAIL is TEMPFAIL");
	is_str(resolver_strstatus(refused.status), "tempfail", "REFUSED is TEMPFAIL");
	is_str(resolver_strstatus(slow.status), "tempfail", "timeout is TEMPFAIL");
	is_str(resolver_strstatus(garbage.status), "malformed", "garbage is MALFORMED");
	is_str(a.text, "127.0.0.10,127.0.0.11", "A records");
	is_str(aaaa.text, "::1", "AAAA record (name case and trailing dot ignored)");
	is_str(txt.text, "[v=spf1 -all],[v=STSv1; id=202401],[]",
	    "S3: TXT strings joined, records kept separate");
	is_str(alias.text, "[v=STSv1; id=viacname]", "S2: TXT through a CNAME");
	is_str(resolver_strstatus(txtnone.status), "nxdomain", "S4: no TXT: NXDOMAIN");
	is_str(resolver_strstatus(txtfail.status), "tempfail", "TXT SERVFAIL: TEMPFAIL");
	is_str(resolver_strstatus(notincache.status), "nxdomain", "unknown name");
	ok(badname.status != RESOLVER_OK, "a malformed name fails (from the loop)");
	ok(r.queries >= 14, "the responder saw the queries");

	/* a server that does not listen: connection refused or timeout */
	{
		struct netaddr_endpoint	 dead = ep;
		struct resolver		*res2;
		struct got		 g;

		struct sockaddr_in	 sin;
		socklen_t		 len = sizeof(sin);
		int			 fd;

		/* a port that was just free: bind, learn it, close */
		memcpy(&sin, &ep.ss, sizeof(sin));
		sin.sin_port = 0;
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		bind(fd, (struct sockaddr *)&sin, sizeof(sin));
		getsockname(fd, (struct sockaddr *)&sin, &len);
		close(fd);
		memcpy(&dead.ss, &sin, sizeof(sin));
		p.servers = &dead;
		res2 = resolver_new(base, &p);
		pending = 0;
		memset(&g, 0, sizeof(g));
		if (resolver_query_mx(res2, "d.test", on_mx, &g) == 0)
			pending++;
		run();
		is_str(resolver_strstatus(g.status), "tempfail",
		    "an unreachable server is TEMPFAIL");
		/* freeing with a query in flight drops it without a callback */
		memset(&g, 0, sizeof(g));
		resolver_query_mx(res2, "slow.test", on_mx, &g);
		resolver_free(res2);
		ok(!g.done, "resolver_free drops pending queries silently");
	}
	resolver_free(res);
	event_free(r.ev);
	close(r.fd);
	event_base_free(base);
	return tap_done();
}
