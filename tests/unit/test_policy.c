/*
 * test_policy.c: the lookup flow end to end: the test DNS responder, an
 * s_server policy web server with a test CA, policy.db in a temporary
 * Berkeley DB environment, and a clock the test moves (policy_fixture.h).
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "policy/policy.h"
#include "tests/tap.h"
#include "tests/unit/policy_fixture.h"

static struct pfx	fx;

static void
lookup(struct policy *p, const char *domain, struct pfx_got *g)
{
	pfx_lookup(&fx, p, domain, g);
}

static void
zone_domain(const char *domain, const char *txt, const char *addr)
{
	pfx_zone(&fx, domain, txt, addr);
}

static void
serve(const char *text)
{
	pfx_serve(&fx, text);
}

static int
fetches(const char *domain)
{
	return pfx_fetches(&fx, domain);
}

#define ENFORCE	PFX_ENFORCE
#define TESTING	PFX_TESTING

static void
test_basic(struct policy *p)
{
	struct pfx_got		 g, e1, e2, e3;

	struct policy_result	*kept = NULL;

	zone_domain("d.test", "v=STSv1; id=1", "127.0.0.1");
	serve(ENFORCE);
	memset(&g, 0, sizeof(g));
	g.keep = &kept;
	g.fx = &fx;
	fx.pending++;
	if (policy_lookup(p, "d.test", pfx_on_result, &g) == 0)
		pfx_run(&fx);
	ok(kept != NULL && kept->nmx == 1 && strcmp(kept->mx[0], "mail.d.test") == 0 &&
	    strcmp(kept->domain, "d.test") == 0 && kept->mode == POLICY_MODE_ENFORCE &&
	    policy_mx_allowed(kept, "mail.d.test") && !policy_mx_allowed(kept, "x.d.test"),
	    "policy_result_dup: the result outlives the callback");
	policy_result_free(kept);
	ok(strcmp(g.mode, "enforce") == 0 && strcmp(g.source, "fresh") == 0 &&
	    strcmp(g.id, "1") == 0 && strcmp(g.mx, "mail.d.test") == 0,
	    "S6, S15: policy fetched and applied");
	diag("%s %s id=%s mx=%s reason=%s", g.mode, g.source, g.id, g.mx, g.reason);
	ok(g.allow_mail && !g.allow_evil, "S22, S27: only the named MX is allowed");
	lookup(p, "D.TEST.", &g);
	ok(strcmp(g.source, "cached") == 0 && strcmp(g.mode, "enforce") == 0,
	    "S20: same id: the cached policy, no fetch");
	is_str(g.domain, "d.test", "S1: the domain is normalized (case, trailing dot)");
	is_int(fetches("d.test"), 1, "S20: one fetch for two lookups");

	/* coalescing: three lookups at once, one TXT query, one fetch */
	zone_domain("e.test", "v=STSv1; id=7", "127.0.0.1");
	memset(&e1, 0, sizeof(e1));
	memset(&e2, 0, sizeof(e2));
	memset(&e3, 0, sizeof(e3));
	e1.fx = e2.fx = e3.fx = &fx;
	policy_lookup(p, "e.test", pfx_on_result, &e1);
	policy_lookup(p, "E.test", pfx_on_result, &e2);
	policy_lookup(p, "e.test.", pfx_on_result, &e3);
	fx.pending = 3;
	pfx_run(&fx);
	ok(e1.done && e2.done && e3.done && strcmp(e1.source, "fresh") == 0 &&
	    strcmp(e3.source, "fresh") == 0, "coalescing: every waiter called back");
	is_int(dns_responder_count(fx.dns, "_mta-sts.e.test", DNS_T_TXT), 1,
	    "coalescing: one TXT query for three lookups");
	is_int(fetches("e.test"), 1, "coalescing: one fetch for three lookups");

	/* S1: a subdomain looks up its own record only */
	lookup(p, "sub.d.test", &g);
	is_int(dns_responder_count(fx.dns, "_mta-sts.sub.d.test", DNS_T_TXT), 1,
	    "S1: _mta-sts.sub.d.test queried");
	ok(strcmp(g.mode, "absent") == 0, "S1: the parent's policy is not used");
	ok(policy_lookup(p, "bad..name", pfx_on_result, &g) == -1,
	    "an invalid domain is refused");
	{
		char	 longname[260];
		size_t	 i;

		/* 250 octets: valid, but _mta-sts.<it> cannot exist */
		for (i = 0; i < 250; i++)
			longname[i] = (i % 50 == 49) ? '.' : 'a';
		longname[250] = '\0';
		longname[249] = 't';
		lookup(p, longname, &g);
		ok(g.done && strcmp(g.mode, "absent") == 0,
		    "S4: a domain too long for _mta-sts.<domain>: no policy");
	}
	ok(policy_lookup(p, "b\xc3\xbc" "cher.test", pfx_on_result, &g) == -1,
	    "a U-label domain is refused (callers convert to A-labels)");
}

static void
test_changes(struct policy *p)
{
	struct pfx_got	g;

	/* S20: a new id is fetched and replaces the cached policy */
	zone_domain("d.test", "v=STSv1; id=2", "127.0.0.1");
	serve(TESTING);
	lookup(p, "d.test", &g);
	ok(strcmp(g.mode, "testing") == 0 && strcmp(g.source, "fresh") == 0 &&
	    strcmp(g.id, "2") == 0, "S20: id changed: fetched and replaced");
	ok(g.allow_mail && !g.allow_evil, "S22: *.d.test allows mail.d.test");

	/* S4: no TXT record: the cached policy stays and applies */
	dns_responder_set(fx.dns, "_mta-sts.d.test", DNS_T_TXT, DNS_NXDOMAIN, NULL);
	lookup(p, "d.test", &g);
	ok(strcmp(g.mode, "testing") == 0 && strcmp(g.source, "cached") == 0,
	    "S4: a missing TXT record does not delete the cached policy");

	/* S13: TXT SERVFAIL with a cached policy: apply it */
	dns_responder_set(fx.dns, "_mta-sts.d.test", DNS_T_TXT, DNS_SERVFAIL, NULL);
	lookup(p, "d.test", &g);
	ok(strcmp(g.mode, "testing") == 0 && strcmp(g.source, "cached") == 0,
	    "S13: TXT failure with a cached policy: the cached one applies");

	/* S13, S17, S20: new id, invalid policy: keep the old one */
	zone_domain("d.test", "v=STSv1; id=3", "127.0.0.1");
	serve("version: STSv1\nmode: enfroce\nmax_age: 1\n");
	lookup(p, "d.test", &g);
	ok(strcmp(g.mode, "testing") == 0 && strcmp(g.source, "cached") == 0 &&
	    strcmp(g.id, "2") == 0, "S13, S20: invalid new policy: the old one applies");
	is_str(g.type, "sts-policy-invalid", "S17: reported as sts-policy-invalid");
	diag("reason: %s", g.reason);

	/* S4: nothing cached, no record / two records */
	lookup(p, "n.test", &g);
	ok(strcmp(g.mode, "absent") == 0 && strcmp(g.source, "none") == 0,
	    "S4: no TXT record, nothing cached: no policy");
	{
		const char *two[] = { "txt:v=STSv1; id=a", "txt:v=STSv1; id=b", NULL };

		dns_responder_set(fx.dns, "_mta-sts.two.test", DNS_T_TXT, DNS_ANSWER, two);
	}
	lookup(p, "two.test", &g);
	ok(strcmp(g.mode, "absent") == 0 && strstr(g.reason, "2 TXT records") != NULL,
	    "S4: two STSv1 records: no policy");
	ok(g.allow_evil, "S29: without a policy every MX is allowed");
}

static void
test_failures(struct policy *p)
{
	struct pfx_got	g;
	int		n;

	/* S12: TXT valid, fetch fails, nothing cached: no policy */
	zone_domain("f.test", "v=STSv1; id=1", "127.0.0.2");	/* nobody there */
	lookup(p, "f.test", &g);
	ok(strcmp(g.mode, "absent") == 0 && strstr(g.reason, "S12") != NULL,
	    "S12: fetch failed, nothing cached: deliver as without a policy");
	is_str(g.type, "sts-policy-fetch-error", "S12: reported as sts-policy-fetch-error");
	n = fetches("f.test");
	lookup(p, "f.test", &g);
	ok(strstr(g.reason, "S11") != NULL && fetches("f.test") == n,
	    "S11: the same id is not fetched again within 5 minutes");
	fx.now += 301;
	lookup(p, "f.test", &g);
	is_int(fetches("f.test"), n + 1, "S11: fetched again after 5 minutes");

	/* Ours: TXT SERVFAIL, nothing cached: defer, then after the bound none */
	dns_responder_set(fx.dns, "_mta-sts.s.test", DNS_T_TXT, DNS_SERVFAIL, NULL);
	lookup(p, "s.test", &g);
	is_str(g.mode, "tempfail", "Ours: TXT SERVFAIL with nothing cached defers");
	ok(!policy_mx_allowed(&(struct policy_result){ .mode = POLICY_MODE_TEMPFAIL },
	    "mail.d.test"), "Ours: a deferred lookup allows no MX");
	fx.now += 3599;
	lookup(p, "s.test", &g);
	is_str(g.mode, "tempfail", "Ours: still deferring within the bound");
	fx.now += 2;
	lookup(p, "s.test", &g);
	is_str(g.mode, "absent", "Ours: past the bound: treated as no policy");
}

static void
test_ages(struct policy *p)
{
	struct pfx_got	g;

	/* Ours: max_age 0: applied once, never cached */
	zone_domain("z.test", "v=STSv1; id=1", "127.0.0.1");
	serve("version: STSv1\nmode: enforce\nmx: mail.d.test\nmax_age: 0\n");
	lookup(p, "z.test", &g);
	ok(strcmp(g.mode, "enforce") == 0 && strcmp(g.source, "fresh") == 0,
	    "Ours: max_age 0 policy applied");
	lookup(p, "z.test", &g);
	ok(strcmp(g.source, "fresh") == 0 && fetches("z.test") == 2,
	    "Ours: max_age 0 policy not cached");

	/* S19: expired: fetched again even with the same id */
	zone_domain("h.test", "v=STSv1; id=1", "127.0.0.1");
	serve(TESTING);
	lookup(p, "h.test", &g);
	fx.now += 599;
	lookup(p, "h.test", &g);
	is_str(g.source, "cached", "S19: valid while now - fetched < max_age");
	fx.now += 1;
	lookup(p, "h.test", &g);
	ok(strcmp(g.source, "fresh") == 0 && fetches("h.test") == 2,
	    "S19: expired at max_age: fetched again");

	/* Ours: max_age above the cap */
	zone_domain("c.test", "v=STSv1; id=1", "127.0.0.1");
	serve("version: STSv1\nmode: enforce\nmx: mail.d.test\nmax_age: 99999999\n");
	lookup(p, "c.test", &g);
	is_int(g.max_age, 31557600, "Ours: max_age capped at 31557600");
}

static int
list_cb(const struct policy_cached *c, void *arg)
{
	char	*buf = arg;

	snprintf(buf + strlen(buf), 1024 - strlen(buf), "%s%s:%s:%s:%s",
	    buf[0] ? "," : "", c->domain, c->corrupt ? "?" : c->id,
	    policy_mode_name(c->mode), c->corrupt ? "?" : c->fail_id);
	return 0;
}

static void
test_admin(struct policy *p)
{
	struct pfx_got	 g;
	char		 list[1024] = "";
	int		 n;

	ok(policy_resolver(p) != NULL, "the engine's resolver is shared");
	is_int(policy_list(p, list_cb, list), 0, "policy_list");
	ok(strstr(list, "d.test:2:testing:3") != NULL,
	    "list: the cached policy, with the id whose fetch failed (S11)");
	ok(strstr(list, "f.test::absent:1") != NULL,
	    "list: a failure kept without a policy");
	diag("%s", list);

	/* check: fetches although the id is unchanged, and ignores S11 */
	zone_domain("e.test", "v=STSv1; id=7", "127.0.0.1");
	serve(ENFORCE);
	n = fetches("e.test");
	pfx_check(&fx, p, "e.test", &g);
	ok(strcmp(g.source, "fresh") == 0 && fetches("e.test") == n + 1,
	    "check: fetched although the cached id is the same");
	lookup(p, "f.test", &g);		/* fails, recorded now */
	n = fetches("f.test");
	pfx_check(&fx, p, "f.test", &g);
	is_int(fetches("f.test"), n + 1, "check: the S11 back-off does not apply");

	is_int(policy_forget(p, "E.TEST."), 0, "flush: cached policy forgotten");
	is_int(policy_forget(p, "e.test"), 1, "flush: nothing left to forget");
	lookup(p, "e.test", &g);
	is_str(g.source, "fresh", "flush: the next lookup fetches");
}

static int
file_contains(const char *path, const char *needle)
{
	char	 buf[8192];
	size_t	 n;
	FILE	*f = fopen(path, "r");

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strstr(buf, needle) != NULL;
}

static void
test_refresh(struct policy *p)
{
	struct pfx_got	g;
	char		logfile[200];
	int		n;

	zone_domain("g.test", "v=STSv1; id=1", "127.0.0.1");
	serve("version: STSv1\nmode: enforce\nmx: mail.d.test\nmax_age: 1000\n");
	lookup(p, "g.test", &g);
	serve("version: STSv1\nmode: enforce\nmx: mail.d.test\nmax_age: 2000\n");
	n = fetches("g.test");
	ok(policy_refresh(p) >= 1, "S14: re-check started for the cached policies");
	lookup(p, "g.test", &g);	/* joins the re-check in flight */
	ok(strcmp(g.source, "cached") == 0 && g.max_age == 1000 && fetches("g.test") == n,
	    "S14: same id, young policy: TXT re-checked, no fetch");
	fx.now += 500;
	policy_refresh(p);
	lookup(p, "g.test", &g);
	ok(strcmp(g.source, "fresh") == 0 && g.max_age == 2000,
	    "S14: half of max_age passed: fetched again although the id is the same");

	/* a failed refresh of an enforce policy is a warning in the log */
	snprintf(logfile, sizeof(logfile), "%s/log", fx.lab.dir);
	if (freopen(logfile, "w", stderr) == NULL)
		diag("cannot capture the log");
	log_set_level(LOG_LVL_WARN);
	zone_domain("g.test", "v=STSv1; id=2", "127.0.0.1");
	serve("version: STSv1\nmode: enforce\n");
	policy_refresh(p);
	lookup(p, "g.test", &g);
	fflush(stderr);
	ok(strcmp(g.source, "cached") == 0 && strcmp(g.id, "1") == 0,
	    "S13: failed refresh: the cached policy stays");
	ok(file_contains(logfile, "policy: g.test: refresh of the enforce policy failed"),
	    "S14: the failed refresh of an enforce policy is logged as a warning");
}

static void
test_stats(struct policy *p)
{
	struct policy_stats	st;

	/* 2 joined the e.test lookup, 3 joined a re-check; 2 checks */
	policy_get_stats(p, &st);
	ok(st.coalesced == 5 && st.lookups >= 30 && st.cache_hits >= 3 &&
	    st.fetches >= 10 && st.fetch_failures >= 3 && st.backoffs == 1 &&
	    st.txt_tempfails >= 4 && st.rechecks >= 3 &&
	    st.txt_queries == st.lookups - st.coalesced + st.rechecks + 2,
	    "stats: the counters add up");
	diag("lookups=%llu coalesced=%llu txt=%llu tempfail=%llu hits=%llu fetches=%llu "
	    "failures=%llu backoffs=%llu rechecks=%llu",
	    (unsigned long long)st.lookups, (unsigned long long)st.coalesced,
	    (unsigned long long)st.txt_queries, (unsigned long long)st.txt_tempfails,
	    (unsigned long long)st.cache_hits, (unsigned long long)st.fetches,
	    (unsigned long long)st.fetch_failures, (unsigned long long)st.backoffs,
	    (unsigned long long)st.rechecks);
}

int
main(void)
{
	struct policy_params	 pp;
	struct policy		*p;
	int			 rc;

	if ((rc = pfx_setup(&fx, "test_policy", "mta-sts.d.test mta-sts.e.test "
	    "mta-sts.f.test mta-sts.z.test mta-sts.h.test mta-sts.c.test "
	    "mta-sts.g.test")) != 0)
		return rc == 1 ? tap_done() : 1;
	pfx_params(&fx, &pp);
	pp.tempfail_bound_s = 3600;
	if ((p = policy_new(fx.base, fx.env, &pp)) == NULL) {
		printf("Bail out! policy_new failed\n");
		return 1;
	}
	test_basic(p);
	test_changes(p);
	test_failures(p);
	test_ages(p);
	test_admin(p);
	test_refresh(p);
	test_stats(p);
	policy_free(p);
	pfx_teardown(&fx);
	return tap_done();
}
