/*
 * test_policy_stale.c: stale-while-revalidate with the front cache on: a
 * domain with an unexpired cached policy is answered at once while its TXT
 * id is re-checked in the background. Against the test DNS responder (which
 * holds a query unanswered while its name is set to DNS_DROP, and answers
 * the retry once the test sets it back) and an s_server policy host, with a
 * clock the test moves. Time never decides a test: every wait polls the
 * engine's counters with a deadline.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "policy/policy.h"
#include "tests/tap.h"
#include "tests/unit/policy_fixture.h"

#define TTL	60
#define ENFORCE	PFX_ENFORCE
#define TESTING	PFX_TESTING

static struct pfx	fx;

/* Look up; *inline_cb tells whether the callback ran inside policy_lookup. */
static void
lookup(struct policy *p, const char *domain, struct pfx_got *g, int *inline_cb)
{
	(void)pfx_start(&fx, p, domain, g);
	if (inline_cb != NULL)
		*inline_cb = g->done;
	pfx_run(&fx);
}

static uint64_t
mono_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static const char *
named(const char *what, const char *text)
{
	static char	buf[200];

	snprintf(buf, sizeof(buf), "%s: %s", what, text);
	return buf;
}

static void
zone(const char *domain, const char *id, const char *addr)
{
	char	txt[100];

	snprintf(txt, sizeof(txt), "v=STSv1; id=%s;", id);
	pfx_zone(&fx, domain, txt, addr);
}

/* (a) same id: answered before the TXT answer, then the entry is refreshed */
static void
test_same_id(struct policy *p)
{
	struct policy_stats	st0, st;
	struct pfx_got		g;
	int			inl, q;

	zone("a.test", "a1", "127.0.0.1");
	lookup(p, "a.test", &g, NULL);
	is_str(g.source, "fresh", "a: first lookup fetched");
	fx.now += TTL;				/* the decision's time to live is over */
	pfx_txt(&fx, "a.test", DNS_DROP);		/* the responder holds its answer */
	st0 = pfx_stats(p);
	lookup(p, "a.test", &g, &inl);
	st = pfx_stats(p);
	ok(g.done && !inl, "SWR: answered from the event loop, not inside policy_lookup");
	ok(strcmp(g.source, "cached") == 0 && strcmp(g.id, "a1") == 0 &&
	    strcmp(g.mode, "enforce") == 0 && g.type[0] == '\0',
	    "SWR: past the TTL the cached policy answers at once (S13 without waiting)");
	ok(st.revalidations == st0.revalidations + 1 &&
	    st.revalidations_done == st0.revalidations_done,
	    "SWR: the answer came while the TXT re-check was still unanswered");
	is_int(st.stale_answers, st0.stale_answers + 1, "SWR: counted as a stale answer");
	zone("a.test", "a1", "127.0.0.1");	/* release: the retry is answered */
	ok(pfx_settle(&fx, p), "SWR: the background re-check finishes");
	q = pfx_txt_queries(&fx, "a.test");
	fx.now += TTL - 1;
	st0 = pfx_stats(p);
	lookup(p, "a.test", &g, NULL);
	st = pfx_stats(p);
	ok(strcmp(g.id, "a1") == 0 && st.front_hits == st0.front_hits + 1 &&
	    pfx_txt_queries(&fx, "a.test") == q && st.revalidations == st0.revalidations,
	    "S20: same id: the re-check refreshed the front entry for a whole TTL");
	is_int(pfx_fetches(&fx, "a.test"), 1, "S20: same id: no fetch");
}

/* (b) id changed: the old policy at once, the new one after the fetch */
static void
test_new_id(struct policy *p)
{
	struct pfx_got	g;

	pfx_serve(&fx, ENFORCE);
	zone("b.test", "b1", "127.0.0.1");
	lookup(p, "b.test", &g, NULL);
	is_str(g.id, "b1", "b: first lookup fetched");
	fx.now += TTL;
	zone("b.test", "b2", "127.0.0.1");
	pfx_serve(&fx, TESTING);
	lookup(p, "b.test", &g, NULL);
	ok(strcmp(g.id, "b1") == 0 && strcmp(g.mode, "enforce") == 0 &&
	    strcmp(g.source, "cached") == 0, "SWR: new id published: the old policy at once");
	ok(pfx_settle(&fx, p), "SWR: the background re-check and fetch finish");
	lookup(p, "b.test", &g, NULL);
	ok(strcmp(g.id, "b2") == 0 && strcmp(g.mode, "testing") == 0,
	    "S20: after the background fetch the next lookup gets the new policy");
	is_int(pfx_fetches(&fx, "b.test"), 2, "S20: the new id fetched once");
	pfx_serve(&fx, ENFORCE);
}

/* S11, S13 behind a stale answer: a failed fetch of the new id */
static void
test_new_id_fails(struct policy *p)
{
	struct policy_stats	st0;
	struct pfx_got		g;
	int			n;

	zone("f.test", "f1", "127.0.0.1");
	lookup(p, "f.test", &g, NULL);
	fx.now += TTL;
	zone("f.test", "f2", "127.0.0.2");	/* nobody serves the new policy */
	lookup(p, "f.test", &g, NULL);
	is_str(g.id, "f1", "f: the old policy at once");
	ok(pfx_settle(&fx, p), "f: the background fetch fails");
	n = pfx_fetches(&fx, "f.test");
	lookup(p, "f.test", &g, NULL);
	ok(strcmp(g.id, "f1") == 0 && strcmp(g.type, "sts-policy-fetch-error") == 0 &&
	    strstr(g.reason, "S13") != NULL,
	    "S13, S20: new policy failed: the old one applies, the failure reported");
	fx.now += 31;
	st0 = pfx_stats(p);
	lookup(p, "f.test", &g, NULL);
	ok(strcmp(g.id, "f1") == 0 && strcmp(g.type, "sts-policy-fetch-error") == 0,
	    "S13: the stale answer reports the failed fetch while S11 holds");
	ok(pfx_settle(&fx, p) && pfx_stats(p).revalidations == st0.revalidations + 1 &&
	    pfx_fetches(&fx, "f.test") == n, "S11: re-checked, but the failed id is not fetched again");
	fx.now += 300;
	zone("f.test", "f2", "127.0.0.1");
	lookup(p, "f.test", &g, NULL);
	ok(pfx_settle(&fx, p), "f: after the back-off the re-check fetches again");
	lookup(p, "f.test", &g, NULL);
	ok(strcmp(g.id, "f2") == 0 && g.type[0] == '\0', "S11, S20: fetched after the back-off");
}

/* (c) the re-check fails: cached answers at once, re-checks rate-limited */
static void
test_failing(struct policy *p, const char *domain, enum dns_behave how,
    const char *what)
{
	struct policy_stats	st0, st;
	struct pfx_got		g;
	uint64_t		t0, t1;
	int			i, q, all = 1;

	zone(domain, "c1", "127.0.0.1");
	lookup(p, domain, &g, NULL);
	fx.now += TTL;
	pfx_txt(&fx, domain, how);
	st0 = pfx_stats(p);
	t0 = mono_us();
	lookup(p, domain, &g, NULL);
	t1 = mono_us();
	for (i = 0; i < 5; i++) {	/* the re-check is still in flight */
		lookup(p, domain, &g, NULL);
		all = all && strcmp(g.id, "c1") == 0 && strcmp(g.source, "cached") == 0;
	}
	st = pfx_stats(p);
	ok(all && st.revalidations == st0.revalidations + 1 &&
	    st.stale_answers == st0.stale_answers + 1,
	    named(what, "the cached policy at once, one re-check in flight"));
	ok(pfx_settle(&fx, p), named(what, "the re-check gives up"));
	diag("%s: stale answer after %llu us; the re-check ended after %llu us", what,
	    (unsigned long long)(t1 - t0), (unsigned long long)(mono_us() - t0));
	st = pfx_stats(p);
	ok(st.txt_tempfails > st0.txt_tempfails, named(what, "counted as a TXT failure"));
	q = pfx_txt_queries(&fx, domain);
	for (i = 0; i < 10; i++) {
		fx.now += 2;
		lookup(p, domain, &g, NULL);
		all = all && strcmp(g.id, "c1") == 0 && strcmp(g.source, "cached") == 0;
	}
	ok(all && strstr(g.reason, "TXT lookup failed") != NULL,
	    named(what, "S13: lookups keep getting the cached policy"));
	ok(pfx_txt_queries(&fx, domain) == q && pfx_stats(p).revalidations == st0.revalidations + 1,
	    named(what, "no TXT query within 30 s of a failed re-check"));
	fx.now += 10;			/* 30 s after the failure */
	st0 = pfx_stats(p);
	lookup(p, domain, &g, NULL);
	ok(strcmp(g.id, "c1") == 0 && pfx_stats(p).revalidations == st0.revalidations + 1,
	    named(what, "after 30 s the next lookup re-checks again, answered at once"));
	zone(domain, "c1", "127.0.0.1");
	ok(pfx_settle(&fx, p), named(what, "that re-check finishes"));
}

/* (d) S19: an expired cached policy gives no stale answer */
static void
test_expired(struct policy *p)
{
	struct policy_stats	st0;
	struct pfx_got		g;
	int			i, q;

	pfx_serve(&fx, TESTING);				/* max_age 600 */
	zone("x.test", "x1", "127.0.0.1");
	lookup(p, "x.test", &g, NULL);
	fx.now += 600;				/* S19: expired */
	pfx_txt(&fx, "x.test", DNS_DROP);
	st0 = pfx_stats(p);
	q = pfx_txt_queries(&fx, "x.test");
	(void)pfx_start(&fx, p, "x.test", &g);
	for (i = 0; i < 2000 && pfx_txt_queries(&fx, "x.test") == q; i++)
		pfx_spin(&fx, 10);
	pfx_spin(&fx, 10);
	ok(pfx_txt_queries(&fx, "x.test") > q && !g.done,
	    "S19: expired: the lookup waits for the TXT answer");
	zone("x.test", "x1", "127.0.0.1");	/* release */
	pfx_run(&fx);
	ok(g.done && strcmp(g.source, "fresh") == 0 && strcmp(g.id, "x1") == 0,
	    "S19: expired: fetched again before the answer");
	is_int(pfx_stats(p).stale_answers, st0.stale_answers, "S19: no stale answer");
	pfx_serve(&fx, ENFORCE);
}

/* (e) many lookups of one domain at once start one re-check */
static void
test_coalesce(struct policy *p)
{
	struct policy_stats	st0, st;
	struct pfx_got		g[20];
	int			i, q, all = 1;

	zone("e.test", "e1", "127.0.0.1");
	lookup(p, "e.test", &g[0], NULL);
	fx.now += TTL;
	q = pfx_txt_queries(&fx, "e.test");
	st0 = pfx_stats(p);
	for (i = 0; i < 20; i++) {
		(void)pfx_start(&fx, p, i % 2 ? "E.TEST." : "e.test", &g[i]);
	}
	pfx_run(&fx);
	ok(pfx_settle(&fx, p), "coalescing: the re-check finishes");
	st = pfx_stats(p);
	for (i = 0; i < 20; i++)
		all = all && g[i].done && strcmp(g[i].id, "e1") == 0;
	ok(all, "coalescing: twenty lookups answered with the cached policy");
	is_int(st.revalidations - st0.revalidations, 1, "coalescing: one re-check");
	is_int(pfx_txt_queries(&fx, "e.test") - q, 1, "coalescing: one TXT query");
	is_int(st.stale_answers - st0.stale_answers, 1,
	    "coalescing: one answer from policy.db, the rest from memory");

	/* an S14 refresh in flight: a lookup does not start another re-check */
	fx.now += TTL;
	st0 = pfx_stats(p);
	pfx_txt(&fx, "e.test", DNS_DROP);
	ok(policy_refresh(p) >= 1, "S14: refresh started");
	lookup(p, "e.test", &g[0], NULL);
	st = pfx_stats(p);
	ok(strcmp(g[0].id, "e1") == 0 && st.revalidations == st0.revalidations,
	    "S14: a refresh in flight: answered at once, no second re-check");
	zone("e.test", "e1", "127.0.0.1");
}

/* With the front cache off every lookup still waits for the TXT answer. */
static void
test_off(struct policy *p)
{
	struct pfx_got	g;
	uint64_t	t0;

	zone("o.test", "o1", "127.0.0.1");
	lookup(p, "o.test", &g, NULL);
	pfx_txt(&fx, "o.test", DNS_SERVFAIL);
	lookup(p, "o.test", &g, NULL);
	ok(strcmp(g.id, "o1") == 0 && strstr(g.reason, "TXT lookup failed") != NULL,
	    "front cache off: S13 after the TXT answer, as before");
	pfx_txt(&fx, "o.test", DNS_DROP);
	t0 = mono_us();
	lookup(p, "o.test", &g, NULL);
	diag("front cache off, DNS silent: the lookup waited %llu us",
	    (unsigned long long)(mono_us() - t0));
	ok(strcmp(g.id, "o1") == 0 && strstr(g.reason, "TXT lookup failed") != NULL,
	    "front cache off, DNS silent: S13 only after the TXT timeout");
	is_int(pfx_stats(p).stale_answers, 0, "front cache off: no stale answers");
}

static struct policy *
engine(unsigned ttl)
{
	struct policy_params	pp;

	pfx_params(&fx, &pp);
	pp.dns_timeout_ms = 1000;	/* the test releases a held query well within it */
	pp.front_ttl_s = ttl;
	return policy_new(fx.base, fx.env, &pp);
}

int
main(void)
{
	struct policy	*p;
	int		 rc;

	if ((rc = pfx_setup(&fx, "test_policy_stale", "mta-sts.a.test mta-sts.b.test "
	    "mta-sts.f.test mta-sts.c.test mta-sts.t.test mta-sts.x.test "
	    "mta-sts.e.test mta-sts.o.test")) != 0)
		return rc == 1 ? tap_done() : 1;
	if ((p = engine(TTL)) == NULL) {
		printf("Bail out! policy_new failed\n");
		return 1;
	}
	test_same_id(p);
	test_new_id(p);
	test_new_id_fails(p);
	test_failing(p, "c.test", DNS_SERVFAIL, "SERVFAIL");
	test_failing(p, "t.test", DNS_DROP, "timeout");
	test_expired(p);
	test_coalesce(p);
	policy_free(p);
	if ((p = engine(0)) == NULL) {
		printf("Bail out! policy_new failed\n");
		return 1;
	}
	test_off(p);
	policy_free(p);
	pfx_teardown(&fx);
	return tap_done();
}
