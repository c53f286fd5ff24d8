/*
 * test_policy_stale.c: stale-while-revalidate with the front cache on: a
 * domain with an unexpired cached policy is answered at once while its TXT
 * id is re-checked in the background. Against the test DNS responder (which
 * holds a query unanswered while its name is set to DNS_DROP, and answers
 * the retry once the test sets it back) and an s_server policy host, with a
 * clock the test moves. Time never decides a test: every wait polls the
 * engine's counters with a deadline.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <db.h>
#include <event2/event.h>

#include "common/log.h"
#include "policy/policy.h"
#include "tests/tap.h"
#include "tests/unit/test_fetch_server.h"
#include "tests/unit/test_resolver_dns.h"

#define TTL	60
#define ENFORCE	"version: STSv1\nmode: enforce\nmx: mail.d.test\nmax_age: 86400\n"
#define TESTING	"version: STSv1\nmode: testing\nmx: *.d.test\nmax_age: 600\n"

static struct event_base	*base;
static struct dns_responder	*dns;
static struct https_lab		 lab;
static uint64_t			 now_s = 1700000000;
static int			 pending;

struct got {
	int	done;
	char	mode[16], source[16], id[40], type[64], reason[300];
};

static uint64_t
fake_clock(void *arg)
{
	return now_s;
}

static void
on_result(const struct policy_result *r, void *arg)
{
	struct got	*g = arg;

	g->done = 1;
	snprintf(g->mode, sizeof(g->mode), "%s", policy_mode_name(r->mode));
	snprintf(g->source, sizeof(g->source), "%s", policy_source_name(r->source));
	snprintf(g->id, sizeof(g->id), "%s", r->id);
	snprintf(g->type, sizeof(g->type), "%s", r->result_type);
	snprintf(g->reason, sizeof(g->reason), "%s", r->reason);
	if (--pending == 0)
		event_base_loopbreak(base);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(base);
}

/* Run the loop until every callback came (30 s deadline). */
static void
run(void)
{
	struct timeval	 tv = { 30, 0 };
	struct event	*dl = evtimer_new(base, on_deadline, NULL);

	evtimer_add(dl, &tv);
	if (pending > 0)
		event_base_dispatch(base);
	event_free(dl);
}

/* Look up; *inline_cb tells whether the callback ran inside policy_lookup. */
static void
lookup(struct policy *p, const char *domain, struct got *g, int *inline_cb)
{
	memset(g, 0, sizeof(*g));
	pending++;
	if (policy_lookup(p, domain, on_result, g) == -1)
		pending--;
	if (inline_cb != NULL)
		*inline_cb = g->done;
	run();
}

static struct policy_stats
stats(struct policy *p)
{
	struct policy_stats	st;

	policy_get_stats(p, &st);
	return st;
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

/* Run the loop for about 10 ms. */
static void
spin(void)
{
	struct timeval	tv = { 0, 10000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Every background re-check finished? Polls for up to 20 s. */
static int
settle(struct policy *p)
{
	struct policy_stats	st;
	int			i;

	for (i = 0; i < 2000; i++) {
		st = stats(p);
		if (st.revalidations_done == st.revalidations)
			return 1;
		spin();
	}
	diag("re-checks still in flight after the deadline");
	return 0;
}

static void
zone(const char *domain, const char *id, const char *addr)
{
	char		 name[300], t[300], a[64];
	const char	*ans[2] = { t, NULL }, *aans[2] = { a, NULL };

	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	snprintf(t, sizeof(t), "txt:v=STSv1; id=%s;", id);
	dns_responder_set(dns, name, DNS_T_TXT, DNS_ANSWER, ans);
	snprintf(name, sizeof(name), "mta-sts.%s", domain);
	snprintf(a, sizeof(a), "a:%s", addr);
	dns_responder_set(dns, name, DNS_T_A, DNS_ANSWER, aans);
}

static void
txt_behave(const char *domain, enum dns_behave b)
{
	char	name[300];

	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	dns_responder_set(dns, name, DNS_T_TXT, b, NULL);
}

static int
txt_queries(const char *domain)
{
	char	name[300];

	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	return dns_responder_count(dns, name, DNS_T_TXT);
}

static int
fetches(const char *domain)
{
	char	name[300];

	snprintf(name, sizeof(name), "mta-sts.%s", domain);
	return dns_responder_count(dns, name, DNS_T_A);
}

static void
serve(const char *text)
{
	if (https_lab_write(&lab, "www", text, strlen(text)) == -1)
		diag("cannot write the policy file");
}

/* (a) same id: answered before the TXT answer, then the entry is refreshed */
static void
test_same_id(struct policy *p)
{
	struct policy_stats	st0, st;
	struct got		g;
	int			inl, q;

	zone("a.test", "a1", "127.0.0.1");
	lookup(p, "a.test", &g, NULL);
	is_str(g.source, "fresh", "a: first lookup fetched");
	now_s += TTL;				/* the decision's time to live is over */
	txt_behave("a.test", DNS_DROP);		/* the responder holds its answer */
	st0 = stats(p);
	lookup(p, "a.test", &g, &inl);
	st = stats(p);
	ok(g.done && !inl, "SWR: answered from the event loop, not inside policy_lookup");
	ok(strcmp(g.source, "cached") == 0 && strcmp(g.id, "a1") == 0 &&
	    strcmp(g.mode, "enforce") == 0 && g.type[0] == '\0',
	    "SWR: past the TTL the cached policy answers at once (S13 without waiting)");
	ok(st.revalidations == st0.revalidations + 1 &&
	    st.revalidations_done == st0.revalidations_done,
	    "SWR: the answer came while the TXT re-check was still unanswered");
	is_int(st.stale_answers, st0.stale_answers + 1, "SWR: counted as a stale answer");
	zone("a.test", "a1", "127.0.0.1");	/* release: the retry is answered */
	ok(settle(p), "SWR: the background re-check finishes");
	q = txt_queries("a.test");
	now_s += TTL - 1;
	st0 = stats(p);
	lookup(p, "a.test", &g, NULL);
	st = stats(p);
	ok(strcmp(g.id, "a1") == 0 && st.front_hits == st0.front_hits + 1 &&
	    txt_queries("a.test") == q && st.revalidations == st0.revalidations,
	    "S20: same id: the re-check refreshed the front entry for a whole TTL");
	is_int(fetches("a.test"), 1, "S20: same id: no fetch");
}

/* (b) id changed: the old policy at once, the new one after the fetch */
static void
test_new_id(struct policy *p)
{
	struct got	g;

	serve(ENFORCE);
	zone("b.test", "b1", "127.0.0.1");
	lookup(p, "b.test", &g, NULL);
	is_str(g.id, "b1", "b: first lookup fetched");
	now_s += TTL;
	zone("b.test", "b2", "127.0.0.1");
	serve(TESTING);
	lookup(p, "b.test", &g, NULL);
	ok(strcmp(g.id, "b1") == 0 && strcmp(g.mode, "enforce") == 0 &&
	    strcmp(g.source, "cached") == 0, "SWR: new id published: the old policy at once");
	ok(settle(p), "SWR: the background re-check and fetch finish");
	lookup(p, "b.test", &g, NULL);
	ok(strcmp(g.id, "b2") == 0 && strcmp(g.mode, "testing") == 0,
	    "S20: after the background fetch the next lookup gets the new policy");
	is_int(fetches("b.test"), 2, "S20: the new id fetched once");
	serve(ENFORCE);
}

/* S11, S13 behind a stale answer: a failed fetch of the new id */
static void
test_new_id_fails(struct policy *p)
{
	struct policy_stats	st0;
	struct got		g;
	int			n;

	zone("f.test", "f1", "127.0.0.1");
	lookup(p, "f.test", &g, NULL);
	now_s += TTL;
	zone("f.test", "f2", "127.0.0.2");	/* nobody serves the new policy */
	lookup(p, "f.test", &g, NULL);
	is_str(g.id, "f1", "f: the old policy at once");
	ok(settle(p), "f: the background fetch fails");
	n = fetches("f.test");
	lookup(p, "f.test", &g, NULL);
	ok(strcmp(g.id, "f1") == 0 && strcmp(g.type, "sts-policy-fetch-error") == 0 &&
	    strstr(g.reason, "S13") != NULL,
	    "S13, S20: new policy failed: the old one applies, the failure reported");
	now_s += 31;
	st0 = stats(p);
	lookup(p, "f.test", &g, NULL);
	ok(strcmp(g.id, "f1") == 0 && strcmp(g.type, "sts-policy-fetch-error") == 0,
	    "S13: the stale answer reports the failed fetch while S11 holds");
	ok(settle(p) && stats(p).revalidations == st0.revalidations + 1 &&
	    fetches("f.test") == n, "S11: re-checked, but the failed id is not fetched again");
	now_s += 300;
	zone("f.test", "f2", "127.0.0.1");
	lookup(p, "f.test", &g, NULL);
	ok(settle(p), "f: after the back-off the re-check fetches again");
	lookup(p, "f.test", &g, NULL);
	ok(strcmp(g.id, "f2") == 0 && g.type[0] == '\0', "S11, S20: fetched after the back-off");
}

/* (c) the re-check fails: cached answers at once, re-checks rate-limited */
static void
test_failing(struct policy *p, const char *domain, enum dns_behave how,
    const char *what)
{
	struct policy_stats	st0, st;
	struct got		g;
	uint64_t		t0, t1;
	int			i, q, all = 1;

	zone(domain, "c1", "127.0.0.1");
	lookup(p, domain, &g, NULL);
	now_s += TTL;
	txt_behave(domain, how);
	st0 = stats(p);
	t0 = mono_us();
	lookup(p, domain, &g, NULL);
	t1 = mono_us();
	for (i = 0; i < 5; i++) {	/* the re-check is still in flight */
		lookup(p, domain, &g, NULL);
		all = all && strcmp(g.id, "c1") == 0 && strcmp(g.source, "cached") == 0;
	}
	st = stats(p);
	ok(all && st.revalidations == st0.revalidations + 1 &&
	    st.stale_answers == st0.stale_answers + 1,
	    named(what, "the cached policy at once, one re-check in flight"));
	ok(settle(p), named(what, "the re-check gives up"));
	diag("%s: stale answer after %llu us; the re-check ended after %llu us", what,
	    (unsigned long long)(t1 - t0), (unsigned long long)(mono_us() - t0));
	st = stats(p);
	ok(st.txt_tempfails > st0.txt_tempfails, named(what, "counted as a TXT failure"));
	q = txt_queries(domain);
	for (i = 0; i < 10; i++) {
		now_s += 2;
		lookup(p, domain, &g, NULL);
		all = all && strcmp(g.id, "c1") == 0 && strcmp(g.source, "cached") == 0;
	}
	ok(all && strstr(g.reason, "TXT lookup failed") != NULL,
	    named(what, "S13: lookups keep getting the cached policy"));
	ok(txt_queries(domain) == q && stats(p).revalidations == st0.revalidations + 1,
	    named(what, "no TXT query within 30 s of a failed re-check"));
	now_s += 10;			/* 30 s after the failure */
	st0 = stats(p);
	lookup(p, domain, &g, NULL);
	ok(strcmp(g.id, "c1") == 0 && stats(p).revalidations == st0.revalidations + 1,
	    named(what, "after 30 s the next lookup re-checks again, answered at once"));
	zone(domain, "c1", "127.0.0.1");
	ok(settle(p), named(what, "that re-check finishes"));
}

/* (d) S19: an expired cached policy gives no stale answer */
static void
test_expired(struct policy *p)
{
	struct policy_stats	st0;
	struct got		g;
	int			i, q;

	serve(TESTING);				/* max_age 600 */
	zone("x.test", "x1", "127.0.0.1");
	lookup(p, "x.test", &g, NULL);
	now_s += 600;				/* S19: expired */
	txt_behave("x.test", DNS_DROP);
	st0 = stats(p);
	q = txt_queries("x.test");
	memset(&g, 0, sizeof(g));
	pending++;
	policy_lookup(p, "x.test", on_result, &g);
	for (i = 0; i < 2000 && txt_queries("x.test") == q; i++)
		spin();
	spin();
	ok(txt_queries("x.test") > q && !g.done,
	    "S19: expired: the lookup waits for the TXT answer");
	zone("x.test", "x1", "127.0.0.1");	/* release */
	run();
	ok(g.done && strcmp(g.source, "fresh") == 0 && strcmp(g.id, "x1") == 0,
	    "S19: expired: fetched again before the answer");
	is_int(stats(p).stale_answers, st0.stale_answers, "S19: no stale answer");
	serve(ENFORCE);
}

/* (e) many lookups of one domain at once start one re-check */
static void
test_coalesce(struct policy *p)
{
	struct policy_stats	st0, st;
	struct got		g[20];
	int			i, q, all = 1;

	zone("e.test", "e1", "127.0.0.1");
	lookup(p, "e.test", &g[0], NULL);
	now_s += TTL;
	q = txt_queries("e.test");
	st0 = stats(p);
	for (i = 0; i < 20; i++) {
		memset(&g[i], 0, sizeof(g[i]));
		pending++;
		if (policy_lookup(p, i % 2 ? "E.TEST." : "e.test", on_result, &g[i]) == -1)
			pending--;
	}
	run();
	ok(settle(p), "coalescing: the re-check finishes");
	st = stats(p);
	for (i = 0; i < 20; i++)
		all = all && g[i].done && strcmp(g[i].id, "e1") == 0;
	ok(all, "coalescing: twenty lookups answered with the cached policy");
	is_int(st.revalidations - st0.revalidations, 1, "coalescing: one re-check");
	is_int(txt_queries("e.test") - q, 1, "coalescing: one TXT query");
	is_int(st.stale_answers - st0.stale_answers, 1,
	    "coalescing: one answer from policy.db, the rest from memory");

	/* an S14 refresh in flight: a lookup does not start another re-check */
	now_s += TTL;
	st0 = stats(p);
	txt_behave("e.test", DNS_DROP);
	ok(policy_refresh(p) >= 1, "S14: refresh started");
	lookup(p, "e.test", &g[0], NULL);
	st = stats(p);
	ok(strcmp(g[0].id, "e1") == 0 && st.revalidations == st0.revalidations,
	    "S14: a refresh in flight: answered at once, no second re-check");
	zone("e.test", "e1", "127.0.0.1");
}

/* With the front cache off every lookup still waits for the TXT answer. */
static void
test_off(struct policy *p)
{
	struct got	g;
	uint64_t	t0;

	zone("o.test", "o1", "127.0.0.1");
	lookup(p, "o.test", &g, NULL);
	txt_behave("o.test", DNS_SERVFAIL);
	lookup(p, "o.test", &g, NULL);
	ok(strcmp(g.id, "o1") == 0 && strstr(g.reason, "TXT lookup failed") != NULL,
	    "front cache off: S13 after the TXT answer, as before");
	txt_behave("o.test", DNS_DROP);
	t0 = mono_us();
	lookup(p, "o.test", &g, NULL);
	diag("front cache off, DNS silent: the lookup waited %llu us",
	    (unsigned long long)(mono_us() - t0));
	ok(strcmp(g.id, "o1") == 0 && strstr(g.reason, "TXT lookup failed") != NULL,
	    "front cache off, DNS silent: S13 only after the TXT timeout");
	is_int(stats(p).stale_answers, 0, "front cache off: no stale answers");
}

static struct policy *
engine(DB_ENV *env, struct netaddr_endpoint *ep, int port, unsigned ttl)
{
	struct policy_params	pp;

	memset(&pp, 0, sizeof(pp));
	pp.cainfo = lab.cafile;
	pp.dns = ep;
	pp.ndns = 1;
	pp.dns_timeout_ms = 1000;	/* the test releases a held query well within it */
	pp.policy_port = (unsigned)port;
	pp.fetch_timeout_s = 10;
	pp.front_ttl_s = ttl;
	pp.clock = fake_clock;
	return policy_new(base, env, &pp);
}

int
main(void)
{
	struct netaddr_endpoint	 ep;
	struct policy		*p;
	DB_ENV			*env;
	pid_t			 srv;
	int			 port;
	char			 envdir[128], cmd[200];

	log_init("test_policy_stale", LOG_DEST_STDERR, LOG_LVL_ERR);
	base = event_base_new();
	if ((dns = dns_responder_start(base, &ep)) == NULL) {
		printf("Bail out! no DNS responder\n");
		return 1;
	}
	if (https_lab_setup(&lab, "mta-sts.a.test mta-sts.b.test mta-sts.f.test "
	    "mta-sts.c.test mta-sts.t.test mta-sts.x.test mta-sts.e.test "
	    "mta-sts.o.test") == -1) {
		printf("1..0 # SKIP cannot make test certificates with openssl\n");
		https_lab_cleanup(&lab);
		return 0;
	}
	serve(ENFORCE);
	if ((srv = https_lab_serve(&lab, "www", (port = https_lab_free_port()))) == -1) {
		printf("Bail out! cannot start openssl s_server\n");
		return 1;
	}
	snprintf(envdir, sizeof(envdir), "%s/env", lab.dir);
	snprintf(cmd, sizeof(cmd), "mkdir %s", envdir);
	if (system(cmd) != 0 || db_env_create(&env, 0) != 0 ||
	    env->open(env, envdir, DB_CREATE | DB_INIT_TXN | DB_INIT_LOG |
	    DB_INIT_LOCK | DB_INIT_MPOOL | DB_RECOVER, 0600) != 0) {
		printf("Bail out! cannot open a Berkeley DB environment\n");
		return 1;
	}
	if ((p = engine(env, &ep, port, TTL)) == NULL) {
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
	if ((p = engine(env, &ep, port, 0)) == NULL) {
		printf("Bail out! policy_new failed\n");
		return 1;
	}
	test_off(p);
	policy_free(p);
	env->close(env, 0);
	https_lab_stop(srv);
	dns_responder_free(dns);
	event_base_free(base);
	https_lab_cleanup(&lab);
	return tap_done();
}
