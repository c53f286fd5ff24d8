/*
 * policy.c: the MTA-STS lookup flow (RFC 8461 sections 3-5).
 *
 *   TXT _mta-sts.<domain> --> compare the id with policy.db --> same id and
 *   still fresh: the cached policy (S20) --> else A/AAAA of mta-sts.<domain>
 *   --> HTTPS fetch --> parse --> store --> every waiter gets the result.
 *
 * Failures: a fetch that fails is remembered with its id so the same id is
 * not fetched again for backoff_s (S11); with an unexpired cached policy we
 * apply it (S13), without one we deliver as if there were no policy (S12).
 * A TXT lookup that fails temporarily with nothing cached defers (Ours) for
 * up to tempfail_bound_s per domain (the start of that period and its last
 * failure are kept in policy.db, so it outlives a restart; a bound with no
 * failure ends it), then counts as no policy; a DNS answer
 * that cannot be read or breaks our bounds counts as such a failure too, so
 * injected garbage cannot switch a domain to "no policy" at once. A missing TXT
 * record never deletes a cached policy (S4). Concurrent lookups of one
 * domain wait on the first one (one TXT query, one fetch). At most
 * fetch_max lookups run at once (a burst of mail to new domains must not
 * open thousands of fetches); the others wait for a slot in FIFO order,
 * already joinable by lookups of their domain. Every
 * recheck_interval_s the TXT id of each cached policy is checked again
 * (S14): a changed id is fetched, and so is an unchanged one once half its
 * max_age has passed, so a policy in use never expires; a failed refresh of
 * a policy other than mode none is logged as a warning.
 *
 * What runs behind the lookups (stale-while-revalidate with the front cache
 * on, and the S14 refresh) is in policy_recheck.c; what a lookup writes to
 * policy.db goes through policy_store.c, which never undoes a change made
 * by another lookup or policy flush since this one read the record.
 */
#include <sys/queue.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "policy/cache.h"
#include "policy/fetch.h"
#include "policy/policy.h"
#include "policy/policy_flow.h"
#include "policy/policy_front.h"
#include "policy/policy_int.h"
#include "policy/resolver.h"
#include "policy/sts_mx.h"
#include "policy/sts_policy.h"
#include "policy/sts_txt.h"
#include "policy/tempfail.h"

static void	lookup_admit(struct policy *);

static uint64_t
policy_now(struct policy *p)
{
	if (p->clock != NULL)
		return p->clock(p->clock_arg);
	return (uint64_t)time(NULL);
}

static enum policy_mode
mode_of(enum sts_mode m)
{
	switch (m) {
	case STS_MODE_ENFORCE:
		return POLICY_MODE_ENFORCE;
	case STS_MODE_TESTING:
		return POLICY_MODE_TESTING;
	case STS_MODE_NONE:
		return POLICY_MODE_NONE;
	}
	return POLICY_MODE_NONE;
}

/* policy.db changes for domain: the front cache must not answer from before. */
static void
front_invalidate(struct policy *p, const char *domain)
{
	if (p->front != NULL)
		front_forget(policy_front_cache(p->front), domain);
}

/* --- finishing a lookup --- */

static void
lookup_free(struct lookup *lk)
{
	struct waiter	*w;

	while ((w = TAILQ_FIRST(&lk->waiters)) != NULL) {
		TAILQ_REMOVE(&lk->waiters, w, entry);
		free(w);
	}
	if (lk->have_entry)
		cache_entry_free(&lk->cached);
	free(lk);
}

/* Hand r to every waiter, then forget the lookup. */
static void
lookup_finish(struct lookup *lk, struct policy_result *r)
{
	struct policy	*p = lk->p;
	struct waiter	*w;

	r->domain = lk->domain;
	r->txt_id = lk->id;
	r->txt_failed = lk->txt_failed;
	if (r->result_type == NULL)
		r->result_type = "";
	if (r->reason == NULL)
		r->reason = "";
	if (r->id == NULL)
		r->id = "";
	log_debug("policy: %s: mode=%s source=%s id=%s%s%s%s%s", lk->domain,
	    policy_mode_name(r->mode), policy_source_name(r->source), r->id,
	    r->result_type[0] ? " result=" : "", r->result_type,
	    r->reason[0] ? " reason=" : "", r->reason);
	TAILQ_REMOVE(&p->lookups, lk, entry);
	if (!lk->running)
		fatalx("lookup_finish: %s finished without running", lk->domain);
	lk->running = 0;
	p->running--;
	if (lk->background)
		p->running_bg--;
	if (lk->kind == LK_REVALIDATE)
		lk->p->stats.revalidations_done++;
	policy_recheck_remember(lk, r);
	while ((w = TAILQ_FIRST(&lk->waiters)) != NULL) {
		TAILQ_REMOVE(&lk->waiters, w, entry);
		w->cb(r, w->arg);
		free(w);
	}
	lookup_free(lk);
	lookup_admit(p);
}

static void
finish_with_policy(struct lookup *lk, const struct sts_policy *pol, const char *id,
    enum policy_source src, const char *type, const char *reason)
{
	struct policy_result	r;

	memset(&r, 0, sizeof(r));
	r.mode = mode_of(pol->mode);
	r.source = src;
	r.mx = (const char *const *)pol->mx;
	r.nmx = pol->nmx;
	r.id = id;
	r.max_age = pol->max_age;
	r.result_type = type;
	r.reason = reason;
	lookup_finish(lk, &r);
}

static void
finish_cached(struct lookup *lk, const char *type, const char *reason)
{
	finish_with_policy(lk, &lk->cached.policy, lk->cached.id,
	    POLICY_SOURCE_CACHED, type, reason);
}

static void
finish_without(struct lookup *lk, enum policy_mode mode, const char *type,
    const char *reason)
{
	struct policy_result	r;

	memset(&r, 0, sizeof(r));
	r.mode = mode;
	r.source = POLICY_SOURCE_NONE;
	r.result_type = type;
	r.reason = reason;
	lookup_finish(lk, &r);
}

/* --- S11, S12, S13, S14: a fetch that did not give a policy --- */

static void
fetch_failed(struct lookup *lk, const char *type, const char *reason, int record)
{
	struct policy		*p = lk->p;
	struct cache_entry	 placeholder;
	char			 why[400];

	if (record) {	/* S11: remember which id failed, and when */
		p->stats.fetch_failures++;
		if (!lk->have_entry) {
			memset(&placeholder, 0, sizeof(placeholder));
			lk->cached = placeholder;	/* id "": no policy */
			lk->have_entry = 1;
		}
		snprintf(lk->cached.fail_id, sizeof(lk->cached.fail_id), "%s", lk->id);
		lk->cached.fail_time = policy_now(p);
		(void)policy_store_write(lk, &lk->cached);
	}
	if (lk->kind == LK_REFRESH && lk->usable &&
	    lk->cached.policy.mode != STS_MODE_NONE)
		log_warnx("policy: %s: refresh of the %s policy failed: %s: %s",
		    lk->domain, sts_mode_name(lk->cached.policy.mode), type, reason);
	if (lk->usable) {
		snprintf(why, sizeof(why), "%s; cached policy id %s applied (S13)",
		    reason, lk->cached.id);
		finish_cached(lk, type, why);
	} else {
		snprintf(why, sizeof(why), "%s; no cached policy, delivering as "
		    "without MTA-STS (S12)", reason);
		finish_without(lk, POLICY_MODE_ABSENT, type, why);
	}
}

/* --- the fetch --- */

static void
policy_on_fetch(const struct fetch_outcome *o, void *arg)
{
	struct lookup		*lk = arg;
	struct policy		*p = lk->p;
	struct cache_entry	 e;
	char			 why[600];

	if (lk->diag != NULL)
		policy_diag_note_fetch(lk->diag, o);
	if (o->status != FETCH_OK) {
		snprintf(why, sizeof(why), "%s: %s%s%s", o->url, o->reason,
		    o->curl_error[0] ? ": " : "", o->curl_error);
		fetch_failed(lk, fetch_check_result_type(o->status), why, 1);
		return;
	}
	log_info("policy: %s: fetched id=%s mode=%s max_age=%u mx=%zu",
	    lk->domain, lk->id, sts_mode_name(o->policy->mode),
	    o->policy->max_age, o->policy->nmx);
	if (o->policy->max_age == 0) {
		/* Ours: apply to this delivery only; the old policy is superseded */
		(void)policy_store_write(lk, NULL);
	} else {
		memset(&e, 0, sizeof(e));
		snprintf(e.id, sizeof(e.id), "%s", lk->id);
		e.fetched = policy_now(p);
		e.policy = *o->policy;		/* borrowed for the put */
		e.raw = (char *)(uintptr_t)o->body;
		e.rawlen = o->size;
		(void)policy_store_write(lk, &e);	/* S20: replace */
		lk->front_until = e.fetched + o->policy->max_age;
	}
	finish_with_policy(lk, o->policy, lk->id, POLICY_SOURCE_FRESH, "",
	    o->policy->nmx_skipped > 0 ? o->policy->warning : "");
}

static void
policy_on_addr(const struct resolver_addr_result *r, void *arg)
{
	struct lookup	*lk = arg;
	char		 why[300];
	size_t		 i;

	if (lk->diag != NULL)
		policy_diag_note_addr(lk->diag, r);
	for (i = 0; r->status == RESOLVER_OK && i < r->naddrs &&
	    lk->naddrs < POLICY_MAX_ADDRS; i++)
		lk->addrs[lk->naddrs++] = r->addrs[i];
	if (--lk->addr_pending > 0)
		return;
	if (lk->naddrs == 0) {
		snprintf(why, sizeof(why), "mta-sts.%s: no address", lk->domain);
		fetch_failed(lk, "sts-policy-fetch-error", why, 1);
		return;
	}
	if (fetch_query_policy(lk->p->fetch, lk->domain, lk->addrs, lk->naddrs,
	    policy_on_fetch, lk) == -1)
		fetch_failed(lk, "sts-policy-fetch-error", "cannot start the fetch", 1);
}

static void
start_fetch(struct lookup *lk)
{
	struct policy	*p = lk->p;
	uint64_t	 now = policy_now(p);
	char		 name[STS_MX_NAMEBUF + 16], why[200];

	/* S11: the same id failed recently: do not fetch it again yet */
	if (lk->kind != LK_CHECK && lk->have_entry &&
	    strcmp(lk->cached.fail_id, lk->id) == 0 && now >= lk->cached.fail_time &&
	    now - lk->cached.fail_time < p->backoff_s) {
		snprintf(why, sizeof(why), "fetch of id %s failed %llu s ago, not "
		    "retried before %u s (S11)", lk->id,
		    (unsigned long long)(now - lk->cached.fail_time), p->backoff_s);
		p->stats.backoffs++;
		fetch_failed(lk, "sts-policy-fetch-error", why, 0);
		return;
	}
	p->stats.fetches++;
	snprintf(name, sizeof(name), "mta-sts.%s", lk->domain);
	lk->addr_pending = 2;
	if (resolver_query_a(p->res, name, policy_on_addr, lk) == -1 ||
	    resolver_query_aaaa(p->res, name, policy_on_addr, lk) == -1)
		fatalx("start_fetch: resolver refused a valid name");
}

/* --- the TXT record --- */

static void
txt_failed(struct lookup *lk, const struct resolver_txt_result *r)
{
	struct policy	*p = lk->p;
	uint64_t	 now = policy_now(p), since;
	char		 why[300];

	p->stats.txt_tempfails++;
	if (lk->usable) {	/* S13 */
		snprintf(why, sizeof(why), "TXT lookup failed (%s); cached policy "
		    "applied", r->error != NULL ? r->error : "?");
		finish_cached(lk, "", why);
		return;
	}
	since = policy_store_txt_fail(lk, now);
	if (since > now)		/* the clock stepped back */
		since = now;
	if (now - since >= p->tempfail_bound_s) {
		snprintf(why, sizeof(why), "TXT lookup failing for %llu s (%s); "
		    "treated as no policy", (unsigned long long)(now - since),
		    r->error != NULL ? r->error : "?");
		finish_without(lk, POLICY_MODE_ABSENT, "", why);
		return;
	}
	snprintf(why, sizeof(why), "TXT lookup failed (%s), nothing cached: "
	    "deferring", r->error != NULL ? r->error : "?");
	finish_without(lk, POLICY_MODE_TEMPFAIL, "", why);
}

/* The id from the TXT records, or -1 with a reason (S3-S5). */
static int
txt_id(const struct resolver_txt_result *r, char *id, char *why, size_t whylen)
{
	struct sts_txt_string	 strs[RESOLVER_MAX_RECORDS];
	struct sts_txt_record	 recs[RESOLVER_MAX_RECORDS];
	struct sts_txt_result	 res;
	size_t			 i;

	if (r->status != RESOLVER_OK) {
		snprintf(why, whylen, "no TXT record (%s)",
		    resolver_strstatus(r->status));
		return -1;
	}
	for (i = 0; i < r->ntxt && i < RESOLVER_MAX_RECORDS; i++) {
		strs[i].data = r->txt[i].data;
		strs[i].len = r->txt[i].len;
		recs[i].strings = &strs[i];
		recs[i].nstrings = 1;
	}
	if (sts_txt_parse(recs, i, &res) != STS_TXT_OK) {
		snprintf(why, whylen, "%s", res.reason);
		return -1;
	}
	memcpy(id, res.id, sizeof(res.id));
	return 0;
}

/* With an unchanged id: fetch anyway? */
static int
must_fetch(struct lookup *lk)
{
	uint64_t	now = policy_now(lk->p);

	if (lk->kind == LK_CHECK)
		return 1;
	if (lk->kind == LK_REFRESH)	/* S14: renew before it expires */
		return now >= lk->cached.fetched &&
		    now - lk->cached.fetched >= lk->cached.policy.max_age / 2;
	return 0;
}

static void
policy_on_txt(const struct resolver_txt_result *r, void *arg)
{
	struct lookup	*lk = arg;
	struct policy	*p = lk->p;
	char		 why[200];

	if (lk->diag != NULL)
		policy_diag_note_txt(lk->diag, r);
	if (cache_get(p->cache, lk->domain, &lk->cached) == 0) {
		lk->have_entry = 1;
		lk->usable = lk->cached.id[0] != '\0' &&
		    cache_entry_fresh(&lk->cached, policy_now(p));
	}
	policy_store_seen(lk, lk->have_entry);
	if (r->status == RESOLVER_TEMPFAIL || r->status == RESOLVER_MALFORMED) {
		lk->txt_failed = 1;
		txt_failed(lk, r);
		return;
	}
	policy_store_txt_clear(lk);
	if (txt_id(r, lk->id, why, sizeof(why)) == -1) {
		/* S4: no (new) policy; a cached one stays and applies */
		if (lk->usable) {
			lk->front_until = lk->cached.fetched + lk->cached.policy.max_age;
			finish_cached(lk, "", why);
		} else {
			lk->front_until = UINT64_MAX;	/* no policy: the TTL alone */
			finish_without(lk, POLICY_MODE_ABSENT, "", why);
		}
		return;
	}
	if (lk->usable && strcmp(lk->cached.id, lk->id) == 0 && !must_fetch(lk)) {
		p->stats.cache_hits++;
		lk->front_until = lk->cached.fetched + lk->cached.policy.max_age;
		finish_cached(lk, "", "");	/* S20: same id, no fetch */
		return;
	}
	start_fetch(lk);
}

/* --- lookups --- */

struct lookup *
policy_flow_find(struct policy *p, const char *domain)
{
	struct lookup	*lk;

	TAILQ_FOREACH(lk, &p->lookups, entry)
		if (strcmp(lk->domain, domain) == 0)
			return lk;
	return NULL;
}

/* Send the TXT query of a lookup: it holds one of the fetch_max slots. */
static void
lookup_run(struct lookup *lk)
{
	struct policy	*p = lk->p;
	char		 name[STS_MX_NAMEBUF + 16];

	lk->running = 1;
	if (lk->background)
		p->running_bg++;
	if (++p->running > p->stats.running_max)
		p->stats.running_max = p->running;
	p->stats.txt_queries++;
	snprintf(name, sizeof(name), "_mta-sts.%s", lk->domain);	/* S1, S2 */
	if (resolver_query_txt(p->res, name, policy_on_txt, lk) == -1)
		fatalx("lookup_run: resolver refused a valid name");
}

/*
 * Background lookups (re-checks behind a stale answer, the S14 refresh of
 * every cached policy) leave a quarter of the slots, at least one, to
 * lookups somebody waits for: the hourly refresh of many domains with slow
 * name servers must not hold up mail to a new domain or a policy check.
 */
static unsigned
bg_max(const struct policy *p)
{
	unsigned keep = p->fetch_max / 4 > 0 ? p->fetch_max / 4 : 1;

	return p->fetch_max > keep ? p->fetch_max - keep : 1;
}

/* A slot is free: waited-for lookups first, each queue oldest first. */
static void
lookup_admit(struct policy *p)
{
	struct lookup	*lk;

	while (p->running < p->fetch_max && (lk = TAILQ_FIRST(&p->waiting)) != NULL) {
		TAILQ_REMOVE(&p->waiting, lk, qentry);
		lk->queued = 0;
		lookup_run(lk);
	}
	while (p->running < p->fetch_max && p->running_bg < bg_max(p) &&
	    (lk = TAILQ_FIRST(&p->waiting_bg)) != NULL) {
		TAILQ_REMOVE(&p->waiting_bg, lk, qentry);
		lk->queued = 0;
		lookup_run(lk);
	}
}

/* Somebody waits for a background lookup still queued: it goes with the others. */
static void
lookup_promote(struct lookup *lk)
{
	struct policy	*p = lk->p;

	if (!lk->background || !lk->queued)
		return;
	TAILQ_REMOVE(&p->waiting_bg, lk, qentry);
	lk->background = 0;
	TAILQ_INSERT_TAIL(&p->waiting, lk, qentry);
	lookup_admit(p);
}

/*
 * A lookup joins p->lookups at once, so lookups of the same domain find it
 * and wait on it (coalescing) whether it runs or waits for a slot.
 */
struct lookup *
policy_flow_start(struct policy *p, const char *domain, enum lookup_kind kind)
{
	struct lookup	*lk;

	lk = xcalloc(1, sizeof(*lk));
	lk->p = p;
	lk->kind = kind;
	if (kind == LK_REFRESH)
		p->stats.rechecks++;
	if (kind == LK_REVALIDATE)
		p->stats.revalidations++;
	snprintf(lk->domain, sizeof(lk->domain), "%s", domain);
	TAILQ_INIT(&lk->waiters);
	TAILQ_INSERT_TAIL(&p->lookups, lk, entry);
	lk->background = kind == LK_REVALIDATE || kind == LK_REFRESH;
	if (p->running < p->fetch_max && TAILQ_EMPTY(&p->waiting) &&
	    (!lk->background || (p->running_bg < bg_max(p) && TAILQ_EMPTY(&p->waiting_bg))))
		lookup_run(lk);
	else {
		p->stats.queued++;
		lk->queued = 1;
		if (lk->background)
			TAILQ_INSERT_TAIL(&p->waiting_bg, lk, qentry);
		else
			TAILQ_INSERT_TAIL(&p->waiting, lk, qentry);
	}
	return lk;
}

static int
normalize(const char *domain, char *norm)
{
	const char	*why = "";

	if (domain == NULL || sts_mx_domain_normalize(domain, strlen(domain),
	    norm, STS_MX_NAMEBUF, &why) == -1) {
		log_warnx("policy: invalid domain refused: %s", why);
		return -1;
	}
	return 0;
}

static void
add_waiter(struct lookup *lk, policy_on_result cb, void *arg)
{
	struct waiter	*w;

	w = xcalloc(1, sizeof(*w));
	w->cb = cb;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&lk->waiters, w, entry);
}

int
policy_lookup(struct policy *p, const char *domain, policy_on_result cb, void *arg)
{
	struct lookup	*lk;
	char		 norm[STS_MX_NAMEBUF];
	uint64_t	 now;

	if (cb == NULL || normalize(domain, norm) == -1)
		return -1;
	p->stats.lookups++;
	now = policy_now(p);
	if (p->front != NULL && policy_front_answer(p->front, norm, now, cb, arg)) {
		p->stats.front_hits++;
		return 0;
	}
	lk = policy_flow_find(p, norm);
	if (p->front != NULL && (lk == NULL || lk->kind != LK_LOOKUP) &&
	    policy_recheck_stale(p, norm, now, lk, cb, arg))
		return 0;
	if (lk == NULL)
		lk = policy_flow_start(p, norm, LK_LOOKUP);
	else
		p->stats.coalesced++;
	add_waiter(lk, cb, arg);
	lookup_promote(lk);
	return 0;
}

/*
 * S21: the TXT id looked up again, never answered from memory or from
 * policy.db alone (a decision there may predate a new id by up to the front
 * cache's time to live); joins a lookup of the domain in flight.
 */
int
policy_recheck(struct policy *p, const char *domain, policy_on_result cb, void *arg)
{
	struct lookup	*lk;
	char		 norm[STS_MX_NAMEBUF];

	if (cb == NULL || normalize(domain, norm) == -1)
		return -1;
	p->stats.lookups++;
	if ((lk = policy_flow_find(p, norm)) == NULL)
		lk = policy_flow_start(p, norm, LK_LOOKUP);
	else
		p->stats.coalesced++;
	add_waiter(lk, cb, arg);
	lookup_promote(lk);
	return 0;
}

int
policy_check(struct policy *p, const char *domain, policy_on_result cb, void *arg)
{
	char	norm[STS_MX_NAMEBUF];

	if (cb == NULL || normalize(domain, norm) == -1)
		return -1;
	add_waiter(policy_flow_start(p, norm, LK_CHECK), cb, arg);
	return 0;
}

/* --- for the diagnostic trace (policy_int.h) --- */

void
policy_int_check(struct policy *p, const char *norm, struct diag_run *run,
    policy_on_result cb, void *arg)
{
	struct lookup	*lk;

	lk = policy_flow_start(p, norm, LK_CHECK);
	lk->diag = run;
	add_waiter(lk, cb, arg);
}

int
policy_int_normalize(const char *domain, char *norm)
{
	return normalize(domain, norm);
}

enum policy_mode
policy_int_mode(enum sts_mode m)
{
	return mode_of(m);
}

struct cache *
policy_int_cache(struct policy *p)
{
	return p->cache;
}

uint64_t
policy_int_backoff(struct policy *p)
{
	return p->backoff_s;
}

uint64_t
policy_int_now(struct policy *p)
{
	return policy_now(p);
}

struct diag_runs *
policy_int_diags(struct policy *p)
{
	return &p->diags;
}

int
policy_forget(struct policy *p, const char *domain)
{
	char	norm[STS_MX_NAMEBUF];
	int	rc;

	if (normalize(domain, norm) == -1)
		return -1;
	front_invalidate(p, norm);
	tempfail_clear(p->recheck_fails, norm);
	if ((rc = cache_delete(p->cache, norm)) == 0)
		log_info("policy: %s: cached policy forgotten", norm);
	return rc;
}

void
policy_get_stats(struct policy *p, struct policy_stats *st)
{
	*st = p->stats;
}

struct resolver *
policy_resolver(struct policy *p)
{
	return p->res;
}

/* --- life cycle --- */

struct policy *
policy_new(struct event_base *base, DB_ENV *env, const struct policy_params *pp)
{
	struct resolver_params	 rp;
	struct fetch_params	 fp;
	struct policy		*p;

	p = xcalloc(1, sizeof(*p));
	p->base = base;
	p->recheck_s = pp->recheck_interval_s ? pp->recheck_interval_s : 3600;
	p->tempfail_bound_s = pp->tempfail_bound_s ? pp->tempfail_bound_s : 86400;
	p->backoff_s = pp->backoff_s ? pp->backoff_s : 300;
	p->clock = pp->clock;
	p->clock_arg = pp->clock_arg;
	TAILQ_INIT(&p->lookups);
	TAILQ_INIT(&p->waiting);
	TAILQ_INIT(&p->waiting_bg);
	p->fetch_max = pp->fetch_concurrency ? pp->fetch_concurrency : 32;
	TAILQ_INIT(&p->diags);
	memset(&rp, 0, sizeof(rp));
	rp.servers = pp->dns;
	rp.nservers = pp->ndns;
	rp.timeout_ms = pp->dns_timeout_ms;
	memset(&fp, 0, sizeof(fp));
	fp.cainfo = pp->cainfo;
	fp.port = pp->policy_port;
	fp.timeout_s = pp->fetch_timeout_s;
	if (pp->front_ttl_s > 0)
		p->front = policy_front_new(base, pp->front_max, pp->front_ttl_s);
	if ((p->res = resolver_new(base, &rp)) == NULL ||
	    (p->fetch = fetch_new(base, &fp)) == NULL ||
	    (p->cache = cache_open(env)) == NULL) {
		policy_free(p);
		return NULL;
	}
	policy_recheck_arm(p);
	return p;
}

void
policy_free(struct policy *p)
{
	struct lookup	*lk;

	if (p == NULL)
		return;
	resolver_free(p->res);		/* pending callbacks are dropped */
	fetch_free(p->fetch);
	while ((lk = TAILQ_FIRST(&p->lookups)) != NULL) {
		TAILQ_REMOVE(&p->lookups, lk, entry);
		lookup_free(lk);
	}
	policy_diag_free_all(p);
	policy_front_free(p->front);
	tempfail_free(p->recheck_fails);
	if (p->refresh_timer != NULL)
		event_free(p->refresh_timer);
	cache_close(p->cache);
	free(p);
}
