/*
 * test_policy_diag_front.c: the front cache of policy decisions (front.h,
 * policy_front.h): the table alone (validity, bound, invalidation, held
 * entries), the table of failing TXT lookups (tempfail.h), then the engine
 * with the front cache turned on, against the test DNS responder and an
 * s_server policy host, with a clock the test moves.
 */
#include <stdlib.h>
#include <string.h>

#include <db.h>
#include <event2/event.h>

#include "common/log.h"
#include "policy/front.h"
#include "policy/policy.h"
#include "policy/tempfail.h"
#include "tests/tap.h"
#include "tests/unit/test_fetch_server.h"
#include "tests/unit/test_resolver_dns.h"

#define POLICY_TEXT	"version: STSv1\nmode: enforce\nmx: mail.d.test\nmax_age: 86400\n"

static struct event_base	*base;
static struct dns_responder	*dns;
static struct https_lab		 lab;
static uint64_t			 now_s = 1700000000;
static int			 pending;

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
	tempfail_free(t);
}

/* --- the engine with the front cache on --- */

struct got {
	int	done;
	char	mode[16], source[16], id[40];
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
	if (--pending == 0)
		event_base_loopbreak(base);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(base);
}

/* Look up; *inline_cb tells whether the callback ran inside policy_lookup. */
static void
lookup(struct policy *p, const char *domain, struct got *g, int *inline_cb)
{
	struct timeval	 tv = { 30, 0 };
	struct event	*dl = evtimer_new(base, on_deadline, NULL);

	memset(g, 0, sizeof(*g));
	pending++;
	if (policy_lookup(p, domain, on_result, g) == -1)
		pending--;
	if (inline_cb != NULL)
		*inline_cb = g->done;
	if (pending > 0) {
		evtimer_add(dl, &tv);
		event_base_dispatch(base);
	}
	event_free(dl);
}

/* Wait (polling, 20 s at most) until no background re-check is in flight. */
static void
settle(struct policy *p)
{
	struct policy_stats	st;
	struct timeval		tv = { 0, 10000 };
	int			i;

	for (i = 0; i < 2000; i++) {
		policy_get_stats(p, &st);
		if (st.revalidations_done == st.revalidations)
			return;
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	diag("re-checks still in flight after the deadline");
}

static void
txt(const char *id)
{
	char		 t[64];
	const char	*ans[2] = { t, NULL };

	snprintf(t, sizeof(t), "txt:v=STSv1; id=%s;", id);
	dns_responder_set(dns, "_mta-sts.d.test", DNS_T_TXT, DNS_ANSWER, ans);
}

static int
txt_queries(void)
{
	return dns_responder_count(dns, "_mta-sts.d.test", DNS_T_TXT);
}

static void
test_engine(struct policy *p)
{
	struct got	g;
	int		q, inl;
	const char	*a[2] = { "a:127.0.0.1", NULL };

	dns_responder_set(dns, "mta-sts.d.test", DNS_T_A, DNS_ANSWER, a);
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
	now_s += 59;
	lookup(p, "d.test", &g, NULL);
	is_str(g.id, "one", "within the TTL a new id is not seen yet");
	now_s += 1;
	lookup(p, "d.test", &g, NULL);
	is_str(g.id, "one", "after the TTL: the cached policy at once, re-checked behind it");
	settle(p);
	is_int(txt_queries(), q + 1, "after the TTL: one TXT query");
	lookup(p, "d.test", &g, NULL);
	is_str(g.id, "two", "S20: the re-check fetched the new id; the next lookup has it");
	is_int(txt_queries(), q + 1, "the new policy is answered from memory");
	is_int(policy_forget(p, "d.test"), 0, "flush");
	lookup(p, "d.test", &g, NULL);
	is_int(txt_queries(), q + 2, "flush invalidates the front cache");
	is_str(g.source, "fresh", "flush: fetched again");
	dns_responder_set(dns, "_mta-sts.n.test", DNS_T_TXT, DNS_NXDOMAIN, NULL);
	lookup(p, "n.test", &g, NULL);
	q = dns_responder_count(dns, "_mta-sts.n.test", DNS_T_TXT);
	lookup(p, "n.test", &g, NULL);
	is_str(g.mode, "absent", "no policy: answered from memory too");
	is_int(dns_responder_count(dns, "_mta-sts.n.test", DNS_T_TXT), q,
	    "no policy: no TXT query within the TTL");
	dns_responder_set(dns, "_mta-sts.s.test", DNS_T_TXT, DNS_SERVFAIL, NULL);
	lookup(p, "s.test", &g, NULL);
	q = dns_responder_count(dns, "_mta-sts.s.test", DNS_T_TXT);
	lookup(p, "s.test", &g, NULL);
	is_str(g.mode, "tempfail", "Ours: a TXT failure defers");
	ok(dns_responder_count(dns, "_mta-sts.s.test", DNS_T_TXT) > q,
	    "Ours: a TXT failure is never answered from memory");
}

int
main(void)
{
	struct policy_params	 pp;
	struct netaddr_endpoint	 ep;
	struct policy		*p;
	struct policy_stats	 st;
	DB_ENV			*env;
	pid_t			 srv;
	int			 port;
	char			 envdir[128], cmd[200];

	log_init("test_policy_diag_front", LOG_DEST_STDERR, LOG_LVL_ERR);
	test_table();
	test_tempfail();
	base = event_base_new();
	if ((dns = dns_responder_start(base, &ep)) == NULL) {
		printf("Bail out! no DNS responder\n");
		return 1;
	}
	if (https_lab_setup(&lab, "mta-sts.d.test") == -1) {
		printf("# SKIP the engine part: cannot make test certificates\n");
		https_lab_cleanup(&lab);
		return tap_done();
	}
	if (https_lab_write(&lab, "www", POLICY_TEXT, strlen(POLICY_TEXT)) == -1 ||
	    (srv = https_lab_serve(&lab, "www", (port = https_lab_free_port()))) == -1) {
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
	memset(&pp, 0, sizeof(pp));
	pp.cainfo = lab.cafile;
	pp.dns = &ep;
	pp.ndns = 1;
	pp.dns_timeout_ms = 500;
	pp.policy_port = (unsigned)port;
	pp.fetch_timeout_s = 10;
	pp.front_ttl_s = 60;
	pp.clock = fake_clock;
	if ((p = policy_new(base, env, &pp)) == NULL) {
		printf("Bail out! policy_new failed\n");
		return 1;
	}
	test_engine(p);
	policy_get_stats(p, &st);
	is_int(st.front_hits, 4, "stats: front hits counted");
	policy_free(p);
	env->close(env, 0);
	https_lab_stop(srv);
	dns_responder_free(dns);
	event_base_free(base);
	https_lab_cleanup(&lab);
	return tap_done();
}
