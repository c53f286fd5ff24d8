/*
 * test_delivery_dns.c: delivery's shared DNS answers (relay/delivery_dns.c)
 * against the test DNS responder: an answer is reused no longer than its
 * TTL allows (DLV_DNS_MS at most), a TTL of 0 is not reused, the addresses
 * of a host go by the smaller TTL of A and AAAA. The route functions the
 * answers go to are replaced here by recorders.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/strutil.h"
#include "policy/resolver.h"
#include "relay/delivery_int.h"
#include "tests/tap.h"
#include "tests/unit/test_resolver_dns.h"

static struct event_base	*base;

/* What the last answer handed to the route was. */
static struct {
	int			 nmx, naddr;	/* calls so far */
	enum resolver_status	 status;
	size_t			 n;
	int			 tempfail;
} seen;

void
dlv_route_on_mx(struct dlv_group *g, const struct resolver_mx_result *r)
{
	(void)g;
	seen.nmx++;
	seen.status = r->status;
	seen.n = r->nmx;
	event_base_loopbreak(base);
}

void
dlv_route_on_addrs(struct dlv_group *g, const struct dlv_addr *a, size_t n, int tempfail)
{
	(void)g;
	(void)a;
	seen.naddr++;
	seen.n = n;
	seen.tempfail = tempfail;
	event_base_loopbreak(base);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
	event_base_loopbreak(base);
}

/* Run the loop until *calls passes before, or 10 s. 0: it did. */
static int
wait_call(const int *calls, int before)
{
	struct timeval	 tv = { 10, 0 };
	struct event	*dl;
	int		 expired = 0;

	if ((dl = evtimer_new(base, on_deadline, &expired)) == NULL ||
	    evtimer_add(dl, &tv) == -1)
		return -1;
	while (*calls == before && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(dl);
	return *calls > before ? 0 : -1;
}

/*
 * One MX lookup for g. 1: answered at once from a kept answer; 0: answered
 * from the network; -1: no answer.
 */
static int
lookup_mx(struct dlv_group *g)
{
	int	before = seen.nmx;

	dlv_dns_mx(g);
	if (seen.nmx > before)
		return 1;
	return wait_call(&seen.nmx, before) == 0 ? 0 : -1;
}

static int
lookup_addr(struct dlv_group *g, const char *host)
{
	int	before = seen.naddr;

	dlv_dns_addr(g, host);
	if (seen.naddr > before)
		return 1;
	return wait_call(&seen.naddr, before) == 0 ? 0 : -1;
}

/* The kept entry for name, or NULL. */
static struct dlv_dns *
kept(struct delivery *d, const char *name)
{
	struct dlv_dns	*e;

	TAILQ_FOREACH(e, &d->dns, entry)
		if (strcmp(e->name, name) == 0 && !e->pending)
			return e;
	return NULL;
}

struct fixture {
	struct delivery		d;
	struct dlv_domain	dom;
	struct policy_result	pol;
	struct dlv_group	g;
};

static void
group_for(struct fixture *f, const char *domain)
{
	strutil_lcpy(f->dom.name, domain, sizeof(f->dom.name));
	memset(&f->g, 0, sizeof(f->g));
	f->g.d = &f->d;
	f->g.dom = &f->dom;
	f->g.pol = &f->pol;
}

/*
 * TTL 3: reused while the 3 s last, asked again after. The lookups are
 * polled every 50 ms; every one answered from the kept answer must come
 * before the answer's arrival + 3 s (the bound does not depend on the
 * machine's speed), and a fresh query must come within a deadline.
 */
static void
test_ttl3(struct fixture *f, struct dns_responder *r)
{
	uint64_t	t0, t1, last_kept = 0, now;
	int		rc, reused = 0, fresh = 0;

	group_for(f, "ttl3.test");
	t0 = strutil_now_ms();
	rc = lookup_mx(&f->g);
	t1 = strutil_now_ms();
	is_int(rc, 0, "TTL 3: the first lookup asks the DNS");
	is_int(seen.status, RESOLVER_OK, "TTL 3: the answer is OK");
	ok(kept(&f->d, "ttl3.test") != NULL &&
	    kept(&f->d, "ttl3.test")->expires_ms >= t0 + 3000 &&
	    kept(&f->d, "ttl3.test")->expires_ms <= t1 + 3000,
	    "TTL 3: the answer is kept for 3 s from its arrival");
	while (!fresh && strutil_now_ms() < t1 + 10000) {
		now = strutil_now_ms();
		rc = lookup_mx(&f->g);
		if (rc == 1) {
			reused++;
			last_kept = now;
		} else
			fresh = rc == 0;
		if (!fresh) {
			struct timeval tv = { 0, 50000 };

			event_base_loopexit(base, &tv);
			event_base_dispatch(base);
		}
	}
	ok(reused > 0, "TTL 3: lookups within the 3 s reuse the answer");
	ok(last_kept < t1 + 3000, "TTL 3: the answer is never reused after its 3 s");
	ok(fresh && strutil_now_ms() >= t0 + 3000,
	    "TTL 3: after 3 s the DNS is asked again");
	is_int(dns_responder_count(r, "ttl3.test", DNS_T_MX), 2,
	    "TTL 3: two queries in all");
}

static void
test_ttl0_and_cap(struct fixture *f, struct dns_responder *r)
{
	uint64_t	t1;
	int		a, b;

	group_for(f, "ttl0.test");
	a = lookup_mx(&f->g);
	b = lookup_mx(&f->g);
	ok(a == 0 && b == 0, "TTL 0: each lookup asks the DNS");
	is_int(dns_responder_count(r, "ttl0.test", DNS_T_MX), 2, "TTL 0: two queries");
	ok(kept(&f->d, "ttl0.test") == NULL, "TTL 0: nothing kept");

	group_for(f, "long.test");
	is_int(lookup_mx(&f->g), 0, "TTL 3600: asked");
	t1 = strutil_now_ms();
	ok(kept(&f->d, "long.test") != NULL &&
	    kept(&f->d, "long.test")->expires_ms <= t1 + DLV_DNS_MS,
	    "TTL 3600: kept DLV_DNS_MS (10 s) at most");
	is_int(lookup_mx(&f->g), 1, "TTL 3600: the next lookup reuses it");

	f->pol.id = "id2";
	is_int(lookup_mx(&f->g), 0, "a new policy id meets a fresh MX answer");
	f->pol.id = "id1";

	group_for(f, "neg.test");
	is_int(lookup_mx(&f->g), 0, "NODATA with an SOA: asked");
	is_int(seen.status, RESOLVER_NODATA, "NODATA with an SOA: NODATA");
	is_int(lookup_mx(&f->g), 1, "RFC 2308: NODATA reused for its negative TTL");
	group_for(f, "nosoa.test");
	lookup_mx(&f->g);
	is_int(lookup_mx(&f->g), 0, "RFC 2308: NODATA without an SOA is not reused");
}

static void
test_addrs(struct fixture *f, struct dns_responder *r)
{
	uint64_t	t0, t1;
	struct dlv_dns	*e;

	group_for(f, "d.test");
	t0 = strutil_now_ms();
	is_int(lookup_addr(&f->g, "h.ttl.test"), 0, "addresses: asked");
	t1 = strutil_now_ms();
	is_int((int)seen.n, 2, "addresses: one A, one AAAA");
	e = kept(&f->d, "h.ttl.test");
	ok(e != NULL && e->expires_ms >= t0 + 2000 && e->expires_ms <= t1 + 2000,
	    "addresses: A of TTL 5, AAAA of TTL 2: kept 2 s");
	is_int(lookup_addr(&f->g, "h.ttl.test"), 1, "addresses: reused meanwhile");

	is_int(lookup_addr(&f->g, "h0.ttl.test"), 0, "address of TTL 0: asked");
	is_int(lookup_addr(&f->g, "h0.ttl.test"), 0, "address of TTL 0: asked again");
	is_int(dns_responder_count(r, "h0.ttl.test", DNS_T_A), 2, "address of TTL 0: two queries");
	is_int(lookup_addr(&f->g, "v4only.ttl.test"), 0, "A only, NODATA for AAAA (no SOA)");
	ok(kept(&f->d, "v4only.ttl.test") == NULL,
	    "RFC 2308: the AAAA NODATA without an SOA cannot be kept, so neither is the A");
}

static const struct {
	const char	*name;
	int		 type;
	const char	*ans[3];
} zone[] = {
	{ "ttl3.test", DNS_T_MX, { "ttl=3;mx:10:mx.ttl3.test" } },
	{ "ttl0.test", DNS_T_MX, { "ttl=0;mx:10:mx.ttl0.test" } },
	{ "long.test", DNS_T_MX, { "ttl=3600;mx:10:mx.long.test" } },
	{ "neg.test", DNS_T_MX, { "soa:300:300" } },
	{ "nosoa.test", DNS_T_MX, { NULL } },
	{ "h.ttl.test", DNS_T_A, { "ttl=5;a:127.0.0.5" } },
	{ "h.ttl.test", DNS_T_AAAA, { "ttl=2;aaaa:::1" } },
	{ "h0.ttl.test", DNS_T_A, { "ttl=0;a:127.0.0.6" } },
	{ "h0.ttl.test", DNS_T_AAAA, { "soa:60:60" } },
	{ "v4only.ttl.test", DNS_T_A, { "ttl=60;a:127.0.0.7" } },
	{ "v4only.ttl.test", DNS_T_AAAA, { NULL } },
};

int
main(void)
{
	struct dns_responder	*r;
	struct netaddr_endpoint	 ep;
	struct resolver_params	 p;
	struct fixture		 f;
	size_t			 i;

	log_init("test_delivery_dns", LOG_DEST_STDERR, LOG_LVL_WARN);
	base = event_base_new();
	if ((r = dns_responder_start(base, &ep)) == NULL) {
		printf("Bail out! cannot start the DNS responder\n");
		return 1;
	}
	for (i = 0; i < sizeof(zone) / sizeof(zone[0]); i++)
		dns_responder_set(r, zone[i].name, zone[i].type, DNS_ANSWER, zone[i].ans);
	memset(&p, 0, sizeof(p));
	p.servers = &ep;
	p.nservers = 1;
	p.timeout_ms = 1000;
	p.tries = 2;
	memset(&f, 0, sizeof(f));
	f.d.base = base;
	f.d.p.port = 25;
	TAILQ_INIT(&f.d.dns);
	f.pol.id = "id1";
	if ((f.d.res = resolver_new(base, &p)) == NULL) {
		printf("Bail out! resolver_new failed\n");
		return 1;
	}
	test_ttl0_and_cap(&f, r);
	test_addrs(&f, r);
	test_ttl3(&f, r);
	dlv_dns_free(&f.d);
	resolver_free(f.d.res);
	dns_responder_free(r);
	event_base_free(base);
	return tap_done();
}
