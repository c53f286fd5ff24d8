/*
 * policy_recheck.c: what runs behind the lookups (policy_flow.h).
 *
 * With the front cache on (docs/policy-cache.md), a lookup whose domain has
 * an unexpired policy in policy.db never waits for DNS: it is answered from
 * that policy at once (stale-while-revalidate) and one re-check per domain
 * runs behind it, with the same rules as a lookup (S11, S13, S20); its
 * outcome goes into the front cache for the lookups after it. A re-check
 * that fails is retried no sooner than 30 s later, doubling with each
 * failure in a row up to an hour, less a random quarter at most
 * (tempfail_backoff), so a DNS server that stays down is not asked every
 * 30 s for every domain, and domains that failed together spread out.
 *
 * Every recheck_interval_s the TXT id of each cached policy is checked
 * again (S14): a changed id is fetched, and so is an unchanged one once half
 * its max_age has passed, so a policy in use never expires. The same walk
 * deletes records holding nothing but a tempfail period (Ours) that saw no
 * TXT failure for tempfail_bound_s: a domain whose DNS keeps failing and
 * that gets no more mail does not keep its record forever.
 */
#include <sys/queue.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "policy/cache.h"
#include "policy/front.h"
#include "policy/policy.h"
#include "policy/policy_flow.h"
#include "policy/policy_front.h"
#include "policy/policy_int.h"
#include "policy/tempfail.h"

/* xorshift64*: jitter only, nothing secret depends on it. */
static uint64_t
recheck_random(struct policy *p)
{
	p->rng ^= p->rng >> 12;
	p->rng ^= p->rng << 25;
	p->rng ^= p->rng >> 27;
	return p->rng * 2685821657736338717ULL;
}

#define RECHECK_RETRY_S	30	/* a stale answer: the re-check replaces it by then */
#define RECHECK_FAILS_MAX	4096	/* domains whose failing re-checks are counted */

/* --- stale-while-revalidate --- */

void
policy_recheck_remember(struct lookup *lk, const struct policy_result *r)
{
	struct policy	*p = lk->p;
	uint64_t	 now, until, wait;

	if (p->front == NULL)
		return;
	now = policy_int_now(p);
	if (lk->front_until != 0) {	/* confirmed by the TXT answer or a fetch */
		tempfail_clear(p->recheck_fails, lk->domain);
		front_put(policy_front_cache(p->front), r, now, lk->front_until);
		return;
	}
	if (lk->kind != LK_REVALIDATE || r->source != POLICY_SOURCE_CACHED)
		return;
	/* the re-check failed (TXT, fetch): the cached policy again, for a while */
	wait = tempfail_backoff(tempfail_note(p->recheck_fails, lk->domain, now),
	    recheck_random(p));
	log_debug("policy: %s: re-check failed, next one in %llu s", lk->domain,
	    (unsigned long long)wait);
	until = lk->cached.fetched + lk->cached.policy.max_age;
	if (now + wait < until)
		until = now + wait;
	front_put_until(policy_front_cache(p->front), r, now, until);
}

/*
 * An unexpired policy in policy.db answers at once (through the front
 * cache, so from the event loop, and the same for the lookups after it)
 * while the TXT id is re-checked behind it, unless a re-check or refresh of
 * the domain is in flight already.
 */
int
policy_recheck_stale(struct policy *p, const char *domain, uint64_t now,
    const struct lookup *inflight, policy_on_result cb, void *arg)
{
	struct cache_entry	e;
	struct policy_result	r;
	uint64_t		until;
	char			why[200];
	int			usable;

	if (cache_get(p->cache, domain, &e) != 0)
		return 0;
	if ((usable = e.id[0] != '\0' && cache_entry_fresh(&e, now))) {
		memset(&r, 0, sizeof(r));
		r.domain = domain;
		r.mode = policy_int_mode(e.policy.mode);
		r.source = POLICY_SOURCE_CACHED;
		r.mx = (const char *const *)e.policy.mx;
		r.nmx = e.policy.nmx;
		r.id = e.id;
		r.max_age = e.policy.max_age;
		r.result_type = r.reason = "";
		if (e.fail_id[0] != '\0' && strcmp(e.fail_id, e.id) != 0 &&
		    now >= e.fail_time && now - e.fail_time < p->backoff_s) {
			/* what a re-check would say while S11 holds the new id back */
			snprintf(why, sizeof(why), "fetch of id %s failed %llu s ago; "
			    "cached policy id %s applied (S13)", e.fail_id,
			    (unsigned long long)(now - e.fail_time), e.id);
			r.result_type = "sts-policy-fetch-error";
			r.reason = why;
		}
		until = e.fetched + e.policy.max_age;
		if (now + RECHECK_RETRY_S < until)
			until = now + RECHECK_RETRY_S;	/* a re-check replaces it */
		front_put_until(policy_front_cache(p->front), &r, now, until);
	}
	cache_entry_free(&e);
	if (!usable || !policy_front_answer(p->front, domain, now, cb, arg))
		return 0;
	p->stats.stale_answers++;
	if (inflight == NULL)
		(void)policy_flow_start(p, domain, LK_REVALIDATE);
	return 1;
}

/* --- S14: background refresh --- */

struct refresh_walk {
	struct policy	*p;
	uint64_t	 now;
	char		**stale;	/* placeholders to delete after the walk */
	size_t		 nstale;
};

static int
refresh_one(const char *domain, const struct cache_entry *e, void *arg)
{
	struct refresh_walk	*w = arg;
	struct policy		*p = w->p;

	if (e == NULL || policy_flow_find(p, domain) != NULL)
		return 0;
	if (cache_entry_period_only(e)) {
		/* Ours: no TXT failure for a whole bound: the period is over */
		if (cache_entry_period_over(e, w->now, p->tempfail_bound_s)) {
			w->stale = xreallocarray(w->stale, w->nstale + 1,
			    sizeof(*w->stale));
			w->stale[w->nstale++] = xstrdup(domain);
		}
		return 0;
	}
	if (e->id[0] != '\0')
		(void)policy_flow_start(p, domain, LK_REFRESH);
	return 0;
}

int
policy_refresh(struct policy *p)
{
	struct refresh_walk	 w;
	struct lookup		*lk;
	size_t			 i;
	int			 before = 0, after = 0;

	memset(&w, 0, sizeof(w));
	w.p = p;
	w.now = policy_int_now(p);
	TAILQ_FOREACH(lk, &p->lookups, entry)
		before++;
	(void)cache_iterate(p->cache, refresh_one, &w);
	/* deleted once the cursor is closed, which holds the pages locked */
	for (i = 0; i < w.nstale; i++) {
		if (cache_delete(p->cache, w.stale[i]) == 0)
			log_info("policy: %s: tempfail period over, its record "
			    "deleted", w.stale[i]);
		free(w.stale[i]);
	}
	free(w.stale);
	TAILQ_FOREACH(lk, &p->lookups, entry)
		after++;
	return after - before;
}

static void
policy_on_refresh_timer(evutil_socket_t fd, short what, void *arg)
{
	struct policy	*p = arg;
	struct timeval	 tv = { (time_t)p->recheck_s, 0 };
	int		 n;

	n = policy_refresh(p);
	log_debug("policy: refreshing %d cached policies", n);
	if (evtimer_add(p->refresh_timer, &tv) == -1)
		fatalx("policy_on_refresh_timer: evtimer_add failed");
}

void
policy_recheck_arm(struct policy *p)
{
	struct timeval	tv = { (time_t)p->recheck_s, 0 };

	p->recheck_fails = tempfail_new(RECHECK_FAILS_MAX);
	p->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)p;
	if (p->rng == 0)
		p->rng = 0x9e3779b97f4a7c15ULL;

	if ((p->refresh_timer = evtimer_new(p->base, policy_on_refresh_timer, p)) == NULL ||
	    evtimer_add(p->refresh_timer, &tv) == -1)
		fatalx("policy_recheck_arm: cannot arm the refresh timer");
}
