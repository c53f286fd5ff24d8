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
#include "tests/unit/test_resolver_dns.h"

/* One zone entry: name, type, behaviour and raw answer records. */
struct zrec {
	const char	*name;
	int		 type;
	enum dns_behave	 b;
	/* answers: "mx:10:host" "a:1.2.3.4" "aaaa:::1" "txt:s1|s2" "cname:target" */
	const char	*ans[9];
};

static const struct zrec zone[] = {
	{ "d.test", DNS_T_MX, DNS_ANSWER, { "mx:20:mx2.d.test", "mx:10:mx1.d.test.",
	    "mx:20:mx3.d.test", "mx:5:mx0.d.test" } },
	{ "null.test", DNS_T_MX, DNS_ANSWER, { "mx:0:" } },
	{ "nomx.test", DNS_T_MX, DNS_ANSWER, { NULL } },
	{ "gone.test", DNS_T_MX, DNS_NXDOMAIN, { NULL } },
	{ "fail.test", DNS_T_MX, DNS_SERVFAIL, { NULL } },
	{ "refused.test", DNS_T_MX, DNS_REFUSED, { NULL } },
	{ "slow.test", DNS_T_MX, DNS_DROP, { NULL } },
	{ "garbage.test", DNS_T_MX, DNS_GARBAGE, { NULL } },
	{ "mx1.d.test", DNS_T_A, DNS_ANSWER, { "a:127.0.0.10", "a:127.0.0.11" } },
	{ "mx1.d.test", DNS_T_AAAA, DNS_ANSWER, { "aaaa:::1" } },
	{ "_mta-sts.d.test", DNS_T_TXT, DNS_ANSWER, { "txt:v=spf1 -all",
	    "txt:v=STSv1; id=|2024|01", "txt:" } },
	{ "_mta-sts.alias.test", DNS_T_TXT, DNS_ANSWER, { "cname:_mta-sts.target.test",
	    "txt@_mta-sts.target.test:v=STSv1; id=viacname" } },
	{ "_mta-sts.none.test", DNS_T_TXT, DNS_NXDOMAIN, { NULL } },
	{ "_mta-sts.fail.test", DNS_T_TXT, DNS_SERVFAIL, { NULL } },
	/* TTLs */
	{ "ttl3.test", DNS_T_MX, DNS_ANSWER, { "ttl=3;mx:10:mx.ttl3.test" } },
	{ "ttlmin.test", DNS_T_MX, DNS_ANSWER, { "ttl=300;mx:10:a.ttlmin.test",
	    "ttl=7;mx:20:b.ttlmin.test", "ttl=60;mx:30:c.ttlmin.test" } },
	{ "ttl0.test", DNS_T_MX, DNS_ANSWER, { "ttl=0;mx:10:mx.ttl0.test" } },
	{ "ttlbig.test", DNS_T_MX, DNS_ANSWER, { "ttl=2147483648;mx:10:mx.ttlbig.test" } },
	{ "ttlcname.test", DNS_T_MX, DNS_ANSWER, { "ttl=4;cname:mx.ttlcname.test",
	    "ttl=50;mx:10:x.ttlcname.test" } },
	{ "negttl.test", DNS_T_MX, DNS_ANSWER, { "soa:30:20" } },
	{ "h.ttl.test", DNS_T_A, DNS_ANSWER, { "ttl=9;a:127.0.0.5", "ttl=5;a:127.0.0.6" } },
	{ "h.ttl.test", DNS_T_AAAA, DNS_ANSWER, { "ttl=4;aaaa:::1" } },
	{ "h0.ttl.test", DNS_T_A, DNS_ANSWER, { "ttl=0;a:127.0.0.7" } },
};

/* --- the tests --- */

static struct event_base	*base;
static int			 pending;

struct got {
	enum resolver_status	status;
	unsigned long		ttl;
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
	g->ttl = r->ttl;
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
	g->ttl = r->ttl;
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

static void
qmx(struct resolver *res, const char *name, struct got *g)
{
	memset(g, 0, sizeof(*g));
	if (resolver_query_mx(res, name, on_mx, g) == 0)
		pending++;
}

static void
qaddr(int (*fn)(struct resolver *, const char *, resolver_on_addr, void *),
    struct resolver *res, const char *name, struct got *g)
{
	memset(g, 0, sizeof(*g));
	if (fn(res, name, on_addr, g) == 0)
		pending++;
}

static void
qtxt(struct resolver *res, const char *name, struct got *g)
{
	memset(g, 0, sizeof(*g));
	if (resolver_query_txt(res, name, on_txt, g) == 0)
		pending++;
}

static void
test_answers(struct resolver *res, struct dns_responder *r)
{
	struct got	mx, nullmx, nomx, gone, fail, refused, slow, garbage,
			a, aaaa, txt, alias, txtnone, txtfail, unknown, badname;

	qmx(res, "d.test", &mx);
	qmx(res, "null.test", &nullmx);
	qmx(res, "nomx.test", &nomx);
	qmx(res, "gone.test", &gone);
	qmx(res, "fail.test", &fail);
	qmx(res, "refused.test", &refused);
	qmx(res, "slow.test", &slow);
	qmx(res, "garbage.test", &garbage);
	qaddr(resolver_query_a, res, "mx1.d.test", &a);
	qaddr(resolver_query_aaaa, res, "MX1.D.TEST.", &aaaa);
	qtxt(res, "_mta-sts.d.test", &txt);
	qtxt(res, "_mta-sts.alias.test", &alias);
	qtxt(res, "_mta-sts.none.test", &txtnone);
	qtxt(res, "_mta-sts.fail.test", &txtfail);
	qaddr(resolver_query_a, res, "unknown.test", &unknown);
	qaddr(resolver_query_a, res, "bad..name", &badname);
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
	is_str(resolver_strstatus(unknown.status), "nxdomain", "unknown name");
	is_str(resolver_strstatus(badname.status), "nxdomain",
	    "a malformed name is NXDOMAIN (from the loop)");
	ok(dns_responder_count(r, NULL, 0) >= 14, "the responder saw the queries");
}

/* The TTL of each answer: how long delivery may reuse it. */
static void
test_ttls(struct resolver *res)
{
	struct got	t3, tmin, t0, tbig, tcname, neg, nosoa, gone, a, aaaa, a0, fail;

	pending = 0;
	qmx(res, "ttl3.test", &t3);
	qmx(res, "ttlmin.test", &tmin);
	qmx(res, "ttl0.test", &t0);
	qmx(res, "ttlbig.test", &tbig);
	qmx(res, "ttlcname.test", &tcname);
	qmx(res, "negttl.test", &neg);
	qmx(res, "nomx.test", &nosoa);
	qmx(res, "gone.test", &gone);
	qmx(res, "fail.test", &fail);
	qaddr(resolver_query_a, res, "h.ttl.test", &a);
	qaddr(resolver_query_aaaa, res, "h.ttl.test", &aaaa);
	qaddr(resolver_query_a, res, "h0.ttl.test", &a0);
	run();
	is_int(pending, 0, "TTL: every callback ran");
	is_str(resolver_strstatus(t3.status), "ok", "TTL: MX of TTL 3 answered");
	is_int((int)t3.ttl, 3, "TTL: an MX answer of TTL 3 says 3");
	is_int((int)tmin.ttl, 7, "TTL: MX records of TTL 300, 7, 60: the smallest");
	is_str(resolver_strstatus(t0.status), "ok", "TTL: MX of TTL 0 answered");
	is_int((int)t0.ttl, 0, "TTL: an MX of TTL 0 says 0");
	is_str(resolver_strstatus(tbig.status), "ok", "TTL: MX of TTL 2^31 answered");
	is_int((int)tbig.ttl, 0, "RFC 2181 8: a TTL with the top bit set counts as 0");
	is_str(resolver_strstatus(tcname.status), "ok", "TTL: MX through a CNAME answered");
	is_int((int)tcname.ttl, 4, "TTL: a CNAME of TTL 4 before an MX of TTL 50: 4");
	is_str(resolver_strstatus(neg.status), "nodata", "RFC 2308: NODATA with an SOA");
	is_int((int)neg.ttl, 20, "RFC 2308 5: NODATA, SOA TTL 30 and MINIMUM 20: 20");
	is_int((int)nosoa.ttl, 0, "RFC 2308 5: NODATA without an SOA is not to be kept: 0");
	is_int((int)gone.ttl, 0, "TTL: NXDOMAIN: 0");
	is_int((int)fail.ttl, 0, "TTL: SERVFAIL: 0");
	is_str(a.text, "127.0.0.5,127.0.0.6", "TTL: A records of TTL 9 and 5 answered");
	is_int((int)a.ttl, 5, "TTL: A records of TTL 9 and 5: 5");
	is_str(aaaa.text, "::1", "TTL: an AAAA record of TTL 4 answered");
	is_int((int)aaaa.ttl, 4, "TTL: an AAAA record of TTL 4: 4");
	is_int((int)a0.ttl, 0, "TTL: an A record of TTL 0: 0");
}

/* A raw MX answer for d.test: header, question, one MX record. */
static size_t
raw_mx(unsigned char *p, unsigned rdlen_claimed)
{
	static const unsigned char head[] = {
		0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
		1, 'd', 4, 't', 'e', 's', 't', 0, 0, 15, 0, 1,
		0xc0, 12, 0, 15, 0, 1, 0, 0, 0, 3 };
	static const unsigned char rdata[] = { 0, 10, 2, 'm', 'x', 0xc0, 12 };
	size_t n = sizeof(head);

	memcpy(p, head, n);
	p[n++] = (unsigned char)(rdlen_claimed >> 8);
	p[n++] = (unsigned char)rdlen_claimed;
	memcpy(p + n, rdata, sizeof(rdata));
	return n + sizeof(rdata);
}

static void
on_raw_mx(const struct resolver_mx_result *r, void *arg)
{
	struct got	*g = arg;

	g->status = r->status;
	g->ttl = r->ttl;
	g->done = 1;
	snprintf(g->text, sizeof(g->text), "%s", r->nmx > 0 ? r->mx[0].host : "");
}

/* Answers parsed as they come, without the network. */
static void
test_raw_ttl(void)
{
	unsigned char	buf[128];
	struct got	g;
	size_t		n, cut;
	int		crashed = 0;

	memset(&g, 0, sizeof(g));
	n = raw_mx(buf, 7);
	resolver_parse_answer(RESOLVER_TYPE_MX, buf, (int)n, (void *)on_raw_mx, &g);
	is_str(resolver_strstatus(g.status), "ok", "TTL: a raw MX answer parsed");
	is_str(g.text, "mx.d.test", "TTL: its MX host");
	is_int((int)g.ttl, 3, "TTL: its TTL, 3");
	memset(&g, 0, sizeof(g));
	n = raw_mx(buf, 40);	/* the record claims 40 octets, 7 follow */
	resolver_parse_answer(RESOLVER_TYPE_MX, buf, (int)n, (void *)on_raw_mx, &g);
	is_str(resolver_strstatus(g.status), "malformed",
	    "an MX record running past the end of the answer is MALFORMED, not a crash");
	is_int((int)g.ttl, 0, "TTL: a MALFORMED answer has TTL 0");
	/* every truncation of the good answer: an answer, never a crash */
	n = raw_mx(buf, 7);
	for (cut = 0; cut < n; cut++) {
		memset(&g, 0, sizeof(g));
		resolver_parse_answer(RESOLVER_TYPE_MX, buf, (int)cut, (void *)on_raw_mx, &g);
		if (!g.done || g.status == RESOLVER_OK)
			crashed = 1;
	}
	ok(!crashed, "TTL: each truncation of an MX answer is refused, none taken as OK");
}

/* A server that does not listen: connection refused or timeout. */
static void
test_unreachable(struct resolver_params p, const struct netaddr_endpoint *ep)
{
	struct netaddr_endpoint	 dead = *ep;
	struct resolver		*res2;
	struct got		 g;
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd;

	/* a port that was just free: bind, learn it, close */
	memcpy(&sin, &ep->ss, sizeof(sin));
	sin.sin_port = 0;
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		ok(0, "a free UDP port");
		return;
	}
	close(fd);
	memcpy(&dead.ss, &sin, sizeof(sin));
	p.servers = &dead;
	res2 = resolver_new(base, &p);
	pending = 0;
	qmx(res2, "d.test", &g);
	run();
	is_str(resolver_strstatus(g.status), "tempfail", "an unreachable server is TEMPFAIL");
	/* freeing with a query in flight drops it without a callback */
	memset(&g, 0, sizeof(g));
	resolver_query_mx(res2, "slow.test", on_mx, &g);
	resolver_free(res2);
	ok(!g.done, "resolver_free drops pending queries silently");
}

int
main(void)
{
	struct dns_responder	*r;
	struct netaddr_endpoint	 ep;
	struct resolver_params	 p;
	struct resolver		*res;
	size_t			 i;

	log_init("test_resolver", LOG_DEST_STDERR, LOG_LVL_WARN);
	base = event_base_new();
	if ((r = dns_responder_start(base, &ep)) == NULL) {
		printf("Bail out! cannot start the DNS responder\n");
		return 1;
	}
	for (i = 0; i < sizeof(zone) / sizeof(zone[0]); i++)
		dns_responder_set(r, zone[i].name, zone[i].type, zone[i].b,
		    (const char *const *)zone[i].ans);
	memset(&p, 0, sizeof(p));
	p.servers = &ep;
	p.nservers = 1;
	p.timeout_ms = 300;
	p.tries = 1;
	if ((res = resolver_new(base, &p)) == NULL) {
		printf("Bail out! resolver_new failed\n");
		return 1;
	}
	test_answers(res, r);
	test_ttls(res);
	test_raw_ttl();
	test_unreachable(p, &ep);
	resolver_free(res);
	dns_responder_free(r);
	event_base_free(base);
	return tap_done();
}
