/*
 * test_policy_persist.c: what the engine keeps in policy.db across a
 * restart (close the engine and the environment, reopen both on the same
 * directory): the start of a domain's tempfail period (Ours), and records
 * written by an older version still read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "policy/cache.h"
#include "tests/tap.h"
#include "tests/unit/policy_fixture.h"

#define BOUND	3600

static struct policy *
engine(struct pfx *fx)
{
	struct policy_params	 pp;
	struct policy		*p;

	pfx_params(fx, &pp);
	pp.tempfail_bound_s = BOUND;
	if ((p = policy_new(fx->base, fx->env, &pp)) == NULL) {
		printf("Bail out! policy_new failed\n");
		exit(1);
	}
	return p;
}

/* Close the engine and the environment, open both again. */
static struct policy *
restart(struct pfx *fx, struct policy *p)
{
	policy_free(p);
	if (pfx_env_reopen(fx) == -1) {
		printf("Bail out! cannot reopen the environment\n");
		exit(1);
	}
	return engine(fx);
}

struct seen {
	char	domain[64];
	int	found;
	char	id[40];
	uint64_t since, last;
};

/* policy_show and policy_list do not show it: read policy.db itself. */
static int
find_one(const char *domain, const struct cache_entry *e, void *arg)
{
	struct seen	*s = arg;

	if (strcmp(domain, s->domain) != 0)
		return 0;
	s->found = 1;
	snprintf(s->id, sizeof(s->id), "%s", e != NULL ? e->id : "?");
	s->since = e != NULL ? e->txt_fail_since : 0;
	s->last = e != NULL ? e->txt_fail_last : 0;
	return 1;
}

static int
find_cb(const struct policy_cached *c, void *arg)
{
	struct seen	*s = arg;

	if (strcmp(c->domain, s->domain) != 0)
		return 0;
	s->found = 1;
	snprintf(s->id, sizeof(s->id), "%s", c->corrupt ? "?" : c->id);
	s->since = c->txt_fail_since;
	return 1;
}

static struct seen
listed_all(struct policy *p, const char *domain)
{
	struct seen	s;

	memset(&s, 0, sizeof(s));
	snprintf(s.domain, sizeof(s.domain), "%s", domain);
	if (policy_list_all(p, find_cb, &s) == -1)
		diag("policy_list_all failed");
	return s;
}

static struct seen
listed(struct policy *p, const char *domain)
{
	struct seen	s;

	memset(&s, 0, sizeof(s));
	snprintf(s.domain, sizeof(s.domain), "%s", domain);
	(void)policy_list(p, find_cb, &s);
	return s;
}

/* The record itself, through a second handle on policy.db. */
static struct seen
stored(struct pfx *fx, const char *domain)
{
	struct seen	 s;
	struct cache	*c;

	memset(&s, 0, sizeof(s));
	snprintf(s.domain, sizeof(s.domain), "%s", domain);
	if ((c = cache_open(fx->env)) == NULL)
		diag("cannot open policy.db");
	else {
		(void)cache_iterate(c, find_one, &s);
		cache_close(c);
	}
	return s;
}

static void
test_restart(struct pfx *fx)
{
	struct policy	*p = engine(fx);
	struct pfx_got	 g;
	uint64_t	 t0 = fx->now;

	pfx_txt(fx, "s.test", DNS_SERVFAIL);
	pfx_lookup(fx, p, "s.test", &g);
	is_str(g.mode, "tempfail", "Ours: TXT SERVFAIL, nothing cached: defer");
	ok(stored(fx, "s.test").since == t0,
	    "Ours: the start of the tempfail period is in policy.db");
	ok(!listed(p, "s.test").found, "list: a tempfail period alone is no cached policy");
	ok(listed_all(p, "s.test").found && listed_all(p, "s.test").since == t0,
	    "list_all (flush --all): the period's record is there");
	fx->now += BOUND - 600;
	p = restart(fx, p);
	pfx_lookup(fx, p, "s.test", &g);
	is_str(g.mode, "tempfail", "restart: still deferring within the bound");
	is_int((long long)(stored(fx, "s.test").since - t0), 0,
	    "restart: the period still starts at the first failure");
	fx->now += 600;
	p = restart(fx, p);
	pfx_lookup(fx, p, "s.test", &g);
	ok(strcmp(g.mode, "absent") == 0 && strstr(g.reason, "failing for 3600 s") != NULL,
	    "restart: the bound counts from the first failure before the restarts");
	diag("%s", g.reason);

	/* an answer ends the period and the placeholder record with it */
	pfx_txt(fx, "s.test", DNS_NXDOMAIN);
	pfx_lookup(fx, p, "s.test", &g);
	is_str(g.mode, "absent", "S4: no TXT record: no policy");
	ok(!stored(fx, "s.test").found, "an answer ends the period: nothing left in policy.db");
	pfx_txt(fx, "s.test", DNS_SERVFAIL);
	fx->now += 100;
	pfx_lookup(fx, p, "s.test", &g);
	ok(strcmp(g.mode, "tempfail") == 0 && stored(fx, "s.test").since == fx->now,
	    "a new failure starts a new period");

	/* a record with a policy keeps it next to the period */
	pfx_zone(fx, "k.test", "v=STSv1; id=k1", "127.0.0.1");
	pfx_serve(fx, PFX_TESTING);		/* max_age 600 */
	pfx_lookup(fx, p, "k.test", &g);
	fx->now += 600;				/* S19: expired, nothing usable */
	pfx_txt(fx, "k.test", DNS_SERVFAIL);
	pfx_lookup(fx, p, "k.test", &g);
	is_str(g.mode, "tempfail", "Ours: expired policy, TXT failing: defer");
	p = restart(fx, p);
	ok(stored(fx, "k.test").since == fx->now && strcmp(listed(p, "k.test").id, "k1") == 0 &&
	    listed(p, "k.test").since == fx->now,
	    "restart: the period and the expired policy are both kept");
	pfx_zone(fx, "k.test", "v=STSv1; id=k1", "127.0.0.1");
	pfx_lookup(fx, p, "k.test", &g);
	ok(strcmp(g.source, "fresh") == 0 && stored(fx, "k.test").since == 0,
	    "an answer ends the period, the policy is fetched again");
	policy_free(p);
}

/* Version 1 (before txt_fail_since) and 2 (before txt_fail_last) still read. */
static void
test_old_record(void)
{
	static const char	 text[] = "version: STSv1\nmode: enforce\nmx: mail.d.test\n"
	    "max_age: 86400\n";
	struct cache_entry	 e, d;
	uint8_t			*buf, *v1;
	size_t			 len, at;

	memset(&e, 0, sizeof(e));
	if (sts_policy_parse(text, sizeof(text) - 1, &e.policy, NULL, 0) == -1)
		abort();
	snprintf(e.id, sizeof(e.id), "old1");
	snprintf(e.fail_id, sizeof(e.fail_id), "f2");
	e.fetched = 1700000000;
	e.fail_time = 1700000100;
	e.txt_fail_since = 1700000200;
	e.txt_fail_last = 1700000300;
	e.raw = xstrdup(text);
	e.rawlen = sizeof(text) - 1;
	if (cache_encode(&e, &buf, &len) == -1)
		abort();
	is_int(buf[0], CACHE_VERSION, "records are written as the current version");
	ok(cache_decode(buf, len, &d) == 0 && d.txt_fail_since == 1700000200 &&
	    d.txt_fail_last == 1700000300,
	    "version 3: the start and the last failure of the tempfail period are kept");
	cache_entry_free(&d);
	at = 1 + 1 + 8 + 4 + 8 + 1 + strlen(e.id) + 1 + strlen(e.fail_id) + 8;
	/* the same record as version 2 wrote it: no txt_fail_last */
	v1 = xmalloc(len - 8);
	memcpy(v1, buf, at + 8);
	memcpy(v1 + at + 8, buf + at + 16, len - at - 16);
	v1[0] = 2;
	ok(cache_decode(v1, len - 8, &d) == 0 && strcmp(d.id, "old1") == 0 &&
	    d.txt_fail_since == 1700000200 && d.txt_fail_last == 1700000200 &&
	    d.policy.nmx == 1 && d.rawlen == e.rawlen,
	    "version 2 records are still read, the last failure taken as the start");
	cache_entry_free(&d);
	ok(cache_decode(v1, len, &d) == -1, "version 2 with trailing bytes refused");
	/* ... and as version 1: neither time */
	memcpy(v1, buf, at);
	memcpy(v1 + at, buf + at + 16, len - at - 16);
	v1[0] = 1;
	ok(cache_decode(v1, len - 16, &d) == 0 && strcmp(d.id, "old1") == 0 &&
	    strcmp(d.fail_id, "f2") == 0 && d.fail_time == 1700000100 &&
	    d.txt_fail_since == 0 && d.txt_fail_last == 0 && d.policy.nmx == 1 &&
	    d.rawlen == e.rawlen,
	    "version 1 records are still read, with no tempfail period");
	cache_entry_free(&d);
	ok(cache_decode(v1, len - 8, &d) == -1, "version 1 with trailing bytes refused");
	free(v1);
	free(buf);
	cache_entry_free(&e);
}

/*
 * Ours: a tempfail period is over when no TXT failure was seen for the
 * bound; failures within it extend it; a restart keeps both times.
 */
static void
test_period_ends(struct pfx *fx)
{
	struct policy	*p = engine(fx);
	struct pfx_got	 g;
	uint64_t	 t0;

	pfx_txt(fx, "e.test", DNS_SERVFAIL);
	t0 = fx->now += 10;
	pfx_lookup(fx, p, "e.test", &g);
	fx->now += BOUND - 100;
	pfx_lookup(fx, p, "e.test", &g);
	ok(strcmp(g.mode, "tempfail") == 0 && stored(fx, "e.test").since == t0 &&
	    stored(fx, "e.test").last == fx->now,
	    "Ours: a failure within the period: same start, last failure recorded");
	p = restart(fx, p);
	ok(stored(fx, "e.test").since == t0 && stored(fx, "e.test").last == fx->now &&
	    listed_all(p, "e.test").since == t0,
	    "restart: the start and the last failure are both kept");
	fx->now += 200;		/* t0 + BOUND + 100: the last failure is recent */
	pfx_lookup(fx, p, "e.test", &g);
	ok(strcmp(g.mode, "absent") == 0 && stored(fx, "e.test").since == t0,
	    "Ours: failing ever since: no policy after the bound from the start");

	/* months later, one transient failure: a new period, deferred again */
	fx->now += BOUND;
	pfx_lookup(fx, p, "e.test", &g);
	ok(strcmp(g.mode, "tempfail") == 0 && stored(fx, "e.test").since == fx->now &&
	    stored(fx, "e.test").last == fx->now,
	    "Ours: no failure for a whole bound: a stale placeholder starts a new period");
	policy_free(p);
}

/* The S14 refresh deletes placeholders whose last failure is a bound old. */
static void
test_refresh_expires(struct pfx *fx)
{
	struct policy	*p = engine(fx);
	struct pfx_got	 g;

	pfx_txt(fx, "old.test", DNS_SERVFAIL);
	pfx_txt(fx, "new.test", DNS_SERVFAIL);
	fx->now += 10;
	pfx_lookup(fx, p, "old.test", &g);
	fx->now += BOUND / 2;
	pfx_lookup(fx, p, "new.test", &g);
	ok(stored(fx, "old.test").found && stored(fx, "new.test").found,
	    "two placeholders in policy.db");
	fx->now += BOUND / 2 - 1;
	(void)policy_refresh(p);
	ok(stored(fx, "old.test").found && stored(fx, "new.test").found,
	    "S14 walk: a placeholder whose last failure is within the bound stays");
	fx->now += 1;
	is_int(policy_refresh(p), 0, "S14 walk: no refresh lookup for a placeholder");
	ok(!stored(fx, "old.test").found,
	    "S14 walk: a placeholder with no failure for the bound is deleted");
	ok(stored(fx, "new.test").found && stored(fx, "new.test").since != 0,
	    "S14 walk: a fresh placeholder is kept");
	fx->now += BOUND;
	p = restart(fx, p);
	(void)policy_refresh(p);
	ok(!stored(fx, "new.test").found, "S14 walk after a restart: deleted in turn");
	policy_free(p);
}

int
main(void)
{
	struct pfx	fx;
	int		rc;

	if ((rc = pfx_setup(&fx, "test_policy_persist", "mta-sts.k.test")) != 0)
		return rc == 1 ? tap_done() : 1;
	test_old_record();
	test_restart(&fx);
	test_period_ends(&fx);
	test_refresh_expires(&fx);
	pfx_teardown(&fx);
	return tap_done();
}
