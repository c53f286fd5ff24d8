/*
 * test_policy_diag_front.c: the front cache of policy decisions (front.h,
 * policy_front.h): the table alone (validity, bound, invalidation, held
 * entries), the table of failing TXT lookups (tempfail.h), then the engine
 * with the front cache turned on, against the test DNS responder and an
 * s_server policy host, with a clock the test moves.
 */
#include <stdio.h>
#include <string.h>

#include "policy/front.h"
#include "policy/policy.h"
#include "policy/tempfail.h"
#include "tests/tap.h"
#include "tests/unit/policy_fixture.h"

static struct pfx	fx;

static void
mkresult(struct policy_result *r, const char *domain, const char *id)
{
	static const char *const mx[] = { "mail.d.test" };

	memset(r, 0, sizeof(*r));
	r->domain = domain;
	r->mode = POLICY_MODE_ENFORCE;
	r->source = POLICY_SOURCE_FRESH;
	r->mx = mx;
	r->nmx = 1;
	r->id = id;
	r->max_age = 600;
	r->result_type = "";
	r->reason = "";
}

static void
test_table(void)
{
	struct front		*f = front_new(2, 60);
	struct front_entry	*e, *held;
	struct policy_result	 r;

	mkresult(&r, "a.test", "1");
	front_put(f, &r, 1000, 1000 + 600);
	ok((e = front_get(f, "a.test", 1000)) != NULL, "front: a decision is found");
	is_str(front_result(e)->id, "1", "front: with its id");
	is_str(policy_source_name(front_result(e)->source), "cached",
	    "front: a fetched result is answered as cached");
	front_release(f, e);
	ok(front_get(f, "b.test", 1000) == NULL, "front: another domain is not found");
	ok(front_get(f, "a.test", 1060) == NULL, "front: gone when the TTL is over");
	is_int(front_count(f), 0, "front: an expired entry is dropped");
	front_put(f, &r, 1000, 1030);
	ok(front_get(f, "a.test", 1030) == NULL, "S19: never past the policy's expiry");
	front_put(f, &r, 1000, 1000);
	is_int(front_count(f), 0, "S19: an expired policy is not kept");
	front_put(f, &r, 1000, 2000);
	mkresult(&r, "b.test", "2");
	front_put(f, &r, 1000, 2000);
	held = front_get(f, "a.test", 1001);	/* a.test is now the most recent */
	mkresult(&r, "c.test", "3");
	front_put(f, &r, 1000, 2000);
	is_int(front_count(f), 2, "front: bounded in entries");
	ok(front_get(f, "b.test", 1001) == NULL, "front: the least recently used goes first");
	front_forget(f, "a.test");
	ok(front_get(f, "a.test", 1001) == NULL, "front: forget invalidates");
	is_str(front_result(held)->id, "1", "front: a held entry outlives its invalidation");
	front_release(f, held);
	mkresult(&r, "c.test", "4");
	front_put(f, &r, 1000, 2000);
	ok((e = front_get(f, "c.test", 1001)) != NULL && strcmp(front_result(e)->id, "4") == 0,
	    "front: a put replaces the domain's entry");
	front_release(f, e);
	front_put_until(f, &r, 1000, 1090);	/* longer than the TTL of 60 */
	ok((e = front_get(f, "c.test", 1089)) != NULL, "front: put_until keeps it until then");
	front_release(f, e);
	ok(front_get(f, "c.test", 1090) == NULL, "front: and not longer");
	front_put_until(f, &r, 1000, 1000);
	is_int(front_count(f), 0, "front: put_until in the past keeps nothing");
	front_clear(f);
	is_int(front_count(f), 0, "front: clear");
	front_free(f);
}

/* Ours: the table behind policy_tempfail_bound */
static void
test_tempfail(void)
{
	struct tempfails	*t = tempfail_new(2);

	is_int(tempfail_since(t, "a.test", 100), 100, "tempfail: the first failure");
	is_int(tempfail_since(t, "a.test", 200), 100, "tempfail: failing since then");
	tempfail_since(t, "b.test", 150);
	tempfail_since(t, "c.test", 160);
	is_int(tempfail_since(t, "a.test", 300), 300, "tempfail: bounded, the oldest goes");
	tempfail_clear(t, "c.test");
	is_int(tempfail_since(t, "c.test", 400), 400, "tempfail: an answer clears");
	is_int(tempfail_note(t, "c.test", 500), 1, "tempfail: failures counted from 1");
	is_int(tempfail_note(t, "c.test", 600), 2, "tempfail: one more");
	is_int(tempfail_since(t, "c.test", 700), 400, "tempfail: counting keeps the start");
	tempfail_clear(t, "c.test");
	is_int(tempfail_note(t, "c.test", 800), 1, "tempfail: an answer clears the count");
	tempfail_free(t);
}

/* --- the engine with the front cache on --- */

/* Look up; *inline_cb tells whether the callback ran inside policy_lookup. */
static void
lookup(struct policy *p, const char *domain, struct pfx_got *g, int *inline_cb)
{
	(void)pfx_start(&fx, p, domain, g);
	if (inline_cb != NULL)
		*inline_cb = g->done;
	pfx_run(&fx);
}

static void
txt(const char *id)
{
	char		 t[64];
	const char	*ans[2] = { t, NULL };

	snprintf(t, sizeof(t), "txt:v=STSv1; id=%s;", id);
	dns_responder_set(fx.dns, "_mta-sts.d.test", DNS_T_TXT, DNS_ANSWER, ans);
}

static int
txt_queries(void)
{
	return dns_responder_count(fx.dns, "_mta-sts.d.test", DNS_T_TXT);
}

static void
test_engine(struct policy *p)
{
	struct pfx_got	g;
	int		q, inl;
	const char	*a[2] = { "a:127.0.0.1", NULL };

	dns_responder_set(fx.dns, "mta-sts.d.test", DNS_T_A, DNS_ANSWER, a);
	txt("one");
	lookup(p, "d.test", &g, NULL);
	is_str(g.source, "fresh", "first lookup: fetched");
	q = txt_queries();
	lookup(p, "D.TEST.", &g, &inl);
	ok(g.done && !inl, "front hit: called back from the loop, not inside policy_lookup");
	is_str(g.id, "one", "front hit: the policy");
	is_str(g.source, "cached", "front hit: answered as cached");
	is_int(txt_queries(), q, "front hit: no TXT query");
	txt("two");
	fx.now += 59;
	lookup(p, "d.test", &g, NULL);
	is_str(g.id, "one", "within the TTL a new id is not seen yet");
	fx.now += 1;
	lookup(p, "d.test", &g, NULL);
	is_str(g.id, "one", "after the TTL: the cached policy at once, re-checked behind it");
	(void)pfx_settle(&fx, p);
	is_int(txt_queries(), q + 1, "after the TTL: one TXT query");
	lookup(p, "d.test", &g, NULL);
	is_str(g.id, "two", "S20: the re-check fetched the new id; the next lookup has it");
	is_int(txt_queries(), q + 1, "the new policy is answered from memory");
	is_int(policy_forget(p, "d.test"), 0, "flush");
	lookup(p, "d.test", &g, NULL);
	is_int(txt_queries(), q + 2, "flush invalidates the front cache");
	is_str(g.source, "fresh", "flush: fetched again");
	dns_responder_set(fx.dns, "_mta-sts.n.test", DNS_T_TXT, DNS_NXDOMAIN, NULL);
	lookup(p, "n.test", &g, NULL);
	q = dns_responder_count(fx.dns, "_mta-sts.n.test", DNS_T_TXT);
	lookup(p, "n.test", &g, NULL);
	is_str(g.mode, "absent", "no policy: answered from memory too");
	is_int(dns_responder_count(fx.dns, "_mta-sts.n.test", DNS_T_TXT), q,
	    "no policy: no TXT query within the TTL");
	dns_responder_set(fx.dns, "_mta-sts.s.test", DNS_T_TXT, DNS_SERVFAIL, NULL);
	lookup(p, "s.test", &g, NULL);
	q = dns_responder_count(fx.dns, "_mta-sts.s.test", DNS_T_TXT);
	lookup(p, "s.test", &g, NULL);
	is_str(g.mode, "tempfail", "Ours: a TXT failure defers");
	ok(dns_responder_count(fx.dns, "_mta-sts.s.test", DNS_T_TXT) > q,
	    "Ours: a TXT failure is never answered from memory");
}

int
main(void)
{
	struct policy_params	 pp;
	struct policy		*p;
	struct policy_stats	 st;
	int			 rc;

	test_table();
	test_tempfail();
	if ((rc = pfx_setup(&fx, "test_policy_diag_front", "mta-sts.d.test")) != 0)
		return rc == 1 ? tap_done() : 1;
	pfx_params(&fx, &pp);
	pp.front_ttl_s = 60;
	if ((p = policy_new(fx.base, fx.env, &pp)) == NULL) {
		printf("Bail out! policy_new failed\n");
		return 1;
	}
	test_engine(p);
	policy_get_stats(p, &st);
	is_int(st.front_hits, 4, "stats: front hits counted");
	policy_free(p);
	pfx_teardown(&fx);
	return tap_done();
}
