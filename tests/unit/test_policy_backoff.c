/*
 * test_policy_backoff.c: the re-check behind a stale answer (front cache
 * on) backs off while it keeps failing: 30 s after the first failure,
 * doubling to an hour, less a random quarter at most. With the engine's
 * clock moved by the test; every wait polls the engine's counters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/tempfail.h"
#include "tests/tap.h"
#include "tests/unit/policy_fixture.h"

#define TTL	60

static struct policy *
engine(struct pfx *fx)
{
	struct policy_params	 pp;
	struct policy		*p;

	pfx_params(fx, &pp);
	pp.front_ttl_s = TTL;
	if ((p = policy_new(fx->base, fx->env, &pp)) == NULL) {
		printf("Bail out! policy_new failed\n");
		exit(1);
	}
	return p;
}

/* A lookup; 1 if it started a re-check. Waits for that re-check. */
static int
rechecked(struct pfx *fx, struct policy *p, const char *domain)
{
	struct pfx_got	g;
	uint64_t	before = pfx_stats(p).revalidations;

	pfx_lookup(fx, p, domain, &g);
	if (strcmp(g.source, "cached") != 0)
		diag("%s: answered %s %s", domain, g.mode, g.source);
	(void)pfx_settle(fx, p);
	return pfx_stats(p).revalidations != before;
}

/* Cache a policy for domain, then make its TXT lookups fail. */
static void
failing(struct pfx *fx, struct policy *p, const char *domain)
{
	struct pfx_got	g;

	pfx_zone(fx, domain, "v=STSv1; id=b1", "127.0.0.1");
	pfx_lookup(fx, p, domain, &g);		/* fetched, max_age 1 day */
	if (strcmp(g.source, "fresh") != 0)
		diag("%s: not fetched: %s", domain, g.reason);
	pfx_txt(fx, domain, DNS_SERVFAIL);
}

static void
test_arithmetic(void)
{
	static const unsigned	want[] = { 30, 60, 120, 240, 480, 960, 1920, 3600, 3600 };
	size_t			i;
	int			good = 1, spread = 1;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		good = good && tempfail_backoff((unsigned)i + 1, 0) == want[i];
		spread = spread && tempfail_backoff((unsigned)i + 1, 1023) ==
		    want[i] - want[i] / 4;
	}
	ok(good, "back-off: 30 s doubling to 1 h, at most");
	ok(spread, "back-off: the jitter takes off a quarter at most");
	is_int((long long)tempfail_backoff(1000000, 512), 3600 - 900 * 512 / 1023,
	    "back-off: many failures stay at the cap");
}

/* One domain failing again and again: each wait about doubles. */
static void
test_doubling(struct pfx *fx, struct policy *p)
{
	unsigned	base = TEMPFAIL_BACKOFF_MIN, k;
	int		early = 0, late = 0;

	failing(fx, p, "b.test");
	fx->now += TTL;
	ok(rechecked(fx, p, "b.test"), "past the TTL a lookup starts a re-check; it fails");
	for (k = 1; k <= 9; k++) {
		/* the k-th failure just happened at fx->now */
		fx->now += base - base / 4 - 1;
		if (rechecked(fx, p, "b.test"))
			early++;
		fx->now += base / 4 + 1;		/* base after the failure */
		if (!rechecked(fx, p, "b.test"))
			late++;
		diag("after failure %u: no re-check before %u s, one at %u s", k,
		    base - base / 4 - 1, base);
		base = base * 2 > TEMPFAIL_BACKOFF_MAX ? TEMPFAIL_BACKOFF_MAX : base * 2;
	}
	is_int(early, 0, "back-off: no re-check before 3/4 of the wait");
	is_int(late, 0, "back-off: a re-check once the wait (30 s doubling to 1 h) is over");

	/* an answer ends the streak: the next failure waits 30 s again */
	pfx_zone(fx, "b.test", "v=STSv1; id=b1", "127.0.0.1");
	fx->now += TEMPFAIL_BACKOFF_MAX;
	ok(rechecked(fx, p, "b.test"), "the re-check succeeds");
	pfx_txt(fx, "b.test", DNS_SERVFAIL);
	fx->now += TTL;
	ok(rechecked(fx, p, "b.test"), "past the TTL it fails again");
	fx->now += TEMPFAIL_BACKOFF_MIN;
	ok(rechecked(fx, p, "b.test"), "a success ends the streak: 30 s again");
}

/* Domains that failed together retry at different times. */
static void
test_jitter(struct pfx *fx, struct policy *p)
{
	char		dom[8][32];
	unsigned	wait[8], s;
	int		i, inrange = 1, distinct = 0, j;

	for (i = 0; i < 8; i++) {
		snprintf(dom[i], sizeof(dom[i]), "j%d.test", i);
		failing(fx, p, dom[i]);
	}
	fx->now += TTL;
	for (i = 0; i < 8; i++)
		(void)rechecked(fx, p, dom[i]);		/* all fail at once */
	for (i = 0; i < 8; i++)
		wait[i] = 0;
	for (s = 1; s <= TEMPFAIL_BACKOFF_MIN; s++) {
		fx->now++;
		for (i = 0; i < 8; i++)
			if (wait[i] == 0 && rechecked(fx, p, dom[i]))
				wait[i] = s;
	}
	for (i = 0; i < 8; i++) {
		inrange = inrange && wait[i] >= TEMPFAIL_BACKOFF_MIN * 3 / 4 &&
		    wait[i] <= TEMPFAIL_BACKOFF_MIN;
		for (j = 0; j < i && wait[j] != wait[i]; j++)
			;
		if (j == i)
			distinct++;
		diag("%s: re-checked %u s after the failure", dom[i], wait[i]);
	}
	ok(inrange, "jitter: every first retry between 23 and 30 s");
	ok(distinct > 1, "jitter: domains that failed together retry apart");
}

int
main(void)
{
	struct pfx	 fx;
	struct policy	*p;
	int		 rc;

	if ((rc = pfx_setup(&fx, "test_policy_backoff", "mta-sts.b.test mta-sts.j0.test "
	    "mta-sts.j1.test mta-sts.j2.test mta-sts.j3.test mta-sts.j4.test "
	    "mta-sts.j5.test mta-sts.j6.test mta-sts.j7.test")) != 0)
		return rc == 1 ? tap_done() : 1;
	test_arithmetic();
	p = engine(&fx);
	test_doubling(&fx, p);
	test_jitter(&fx, p);
	policy_free(p);
	pfx_teardown(&fx);
	return tap_done();
}
