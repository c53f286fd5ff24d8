/*
 * policy_store.c: what a lookup writes to policy.db (policy_flow.h).
 *
 * A lookup reads the domain's record when its TXT query answers and writes
 * back later: the failed fetch (S11), the policy it fetched (S20), its
 * tempfail period (Ours). Meanwhile another lookup of the domain may have
 * run (policy check always fetches) or policy flush removed the record.
 * So every write re-reads the record first and is skipped when it is not
 * the one this lookup saw (found or not, id, fetch time): the newer state
 * stays. What the lookup answers its callers does not change.
 *
 * The tempfail period: txt_fail_since is its start, txt_fail_last the last
 * failure. A period is over when no failure was seen for tempfail_bound_s:
 * the next failure starts a new one (and the S14 refresh deletes a record
 * holding nothing but such a period, policy_recheck.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "policy/cache.h"
#include "policy/front.h"
#include "policy/policy_flow.h"
#include "policy/policy_front.h"
#include "policy/policy_int.h"

void
policy_store_seen(struct lookup *lk, int found)
{
	lk->seen_found = found;
	snprintf(lk->seen_id, sizeof(lk->seen_id), "%s", found ? lk->cached.id : "");
	lk->seen_fetched = found ? lk->cached.fetched : 0;
}

/* Is the record in policy.db still the one the lookup saw? */
static int
store_unchanged(struct lookup *lk)
{
	struct cache_entry	now;
	int			rc, same;

	if ((rc = cache_get(lk->p->cache, lk->domain, &now)) == -1)
		return 1;	/* unreadable: a write replaces it */
	if (rc == 1)
		return !lk->seen_found;
	same = lk->seen_found && strcmp(now.id, lk->seen_id) == 0 &&
	    now.fetched == lk->seen_fetched;
	cache_entry_free(&now);
	return same;
}

int
policy_store_write(struct lookup *lk, const struct cache_entry *e)
{
	struct policy	*p = lk->p;
	int		 rc;

	if (!store_unchanged(lk)) {
		log_debug("policy: %s: changed in policy.db since this lookup "
		    "read it: not %s", lk->domain, e != NULL ? "replaced" : "deleted");
		return 1;
	}
	if (p->front != NULL)
		front_forget(policy_front_cache(p->front), lk->domain);
	if (e == NULL)
		rc = cache_delete(p->cache, lk->domain) == -1 ? -1 : 0;
	else
		rc = cache_put(p->cache, lk->domain, e);
	if (rc == 0) {
		lk->seen_found = e != NULL;
		snprintf(lk->seen_id, sizeof(lk->seen_id), "%s", e != NULL ? e->id : "");
		lk->seen_fetched = e != NULL ? e->fetched : 0;
	}
	return rc;
}

uint64_t
policy_store_txt_fail(struct lookup *lk, uint64_t now)
{
	struct policy	*p = lk->p;

	if (!lk->have_entry) {
		memset(&lk->cached, 0, sizeof(lk->cached));	/* id "": no policy */
		lk->have_entry = 1;
	}
	if (cache_entry_period_over(&lk->cached, now, p->tempfail_bound_s)) {
		if (lk->cached.txt_fail_since != 0)
			log_info("policy: %s: no TXT failure for %u s: a new tempfail "
			    "period starts", lk->domain, p->tempfail_bound_s);
		lk->cached.txt_fail_since = now;
	}
	lk->cached.txt_fail_last = now;
	(void)policy_store_write(lk, &lk->cached);
	return lk->cached.txt_fail_since;
}

void
policy_store_txt_clear(struct lookup *lk)
{
	if (!lk->have_entry || lk->cached.txt_fail_since == 0)
		return;
	lk->cached.txt_fail_since = lk->cached.txt_fail_last = 0;
	if (lk->cached.id[0] == '\0' && lk->cached.fail_id[0] == '\0') {
		/* the record only held the period: gone with it */
		(void)policy_store_write(lk, NULL);
		cache_entry_free(&lk->cached);
		lk->have_entry = 0;
		return;
	}
	(void)policy_store_write(lk, &lk->cached);
}
