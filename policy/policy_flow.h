/*
 * policy_flow.h: the state of the lookup flow, shared by its two halves
 * inside policy/: policy.c (a lookup from TXT to fetch and its waiters) and
 * policy_recheck.c (what runs behind lookups: stale-while-revalidate and
 * the S14 refresh). Not part of the public API.
 */
#ifndef POLICY_POLICY_FLOW_H
#define POLICY_POLICY_FLOW_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <stdint.h>

#include "policy/cache.h"
#include "policy/policy.h"
#include "policy/policy_int.h"
#include "policy/sts_mx.h"
#include "policy/sts_txt.h"

#define POLICY_MAX_ADDRS	8

struct event;
struct fetcher;
struct policy_front;
struct tempfails;

struct waiter {
	TAILQ_ENTRY(waiter)	 entry;
	policy_on_result	 cb;
	void			*arg;
};

enum lookup_kind {
	LK_LOOKUP = 0,		/* policy_lookup, nothing usable cached: callers wait */
	LK_REVALIDATE,		/* policy_lookup answered from policy.db: re-check behind */
	LK_REFRESH,		/* S14: fetch if the id changed or half of max_age passed */
	LK_CHECK		/* policy_check: always fetch, no S11 back-off */
};

struct lookup {
	TAILQ_ENTRY(lookup)	 entry;		/* policy->lookups: all of them */
	TAILQ_ENTRY(lookup)	 qentry;	/* policy->waiting, when queued */
	int			 queued;	/* waits for a slot: nothing sent */
	int			 running;	/* holds a slot */
	int			 background;	/* nobody waits: REVALIDATE, REFRESH */
	struct policy		*p;
	char			 domain[STS_MX_NAMEBUF];
	char			 id[STS_TXT_ID_MAX + 1];	/* from TXT */
	int			 txt_failed;	/* the TXT query failed temporarily */
	enum lookup_kind	 kind;
	struct diag_run		*diag;		/* policy_diagnose: trace the steps */
	struct cache_entry	 cached;
	int			 have_entry;	/* cached holds a record */
	int			 usable;	/* ... with an unexpired policy */
	/* the record in policy.db as this lookup last read or wrote it */
	int			 seen_found;
	char			 seen_id[STS_TXT_ID_MAX + 1];
	uint64_t		 seen_fetched;
	uint64_t		 front_until;	/* > 0: remember the answer until then */
	int			 addr_pending;
	struct sockaddr_storage	 addrs[POLICY_MAX_ADDRS];
	size_t			 naddrs;
	TAILQ_HEAD(, waiter)	 waiters;
};

struct policy {
	struct event_base	*base;
	struct resolver		*res;
	struct fetcher		*fetch;
	struct cache		*cache;
	struct policy_front	*front;		/* NULL: off */
	struct event		*refresh_timer;
	unsigned		 recheck_s, tempfail_bound_s, backoff_s;
	uint64_t		(*clock)(void *);
	void			*clock_arg;
	TAILQ_HEAD(, lookup)	 lookups;	/* running or waiting, by domain */
	TAILQ_HEAD(, lookup)	 waiting;	/* over the cap, oldest first */
	TAILQ_HEAD(, lookup)	 waiting_bg;	/* ... background ones, after those */
	unsigned		 fetch_max;	/* lookups running at once */
	unsigned		 running;
	unsigned		 running_bg;	/* ... of them background */
	struct tempfails	*recheck_fails;	/* re-checks failing in a row */
	uint64_t		 rng;		/* xorshift state: back-off jitter */
	struct diag_runs	 diags;		/* policy_diagnose in flight */
	struct policy_stats	 stats;
};

/* policy.c: a lookup of a normalized domain, its TXT query sent. */
struct lookup	*policy_flow_start(struct policy *, const char *domain, enum lookup_kind);
/* The lookup of domain in flight, or NULL. */
struct lookup	*policy_flow_find(struct policy *, const char *domain);

/*
 * policy_store.c: a lookup's writes to policy.db. Each re-reads the record
 * first and is skipped when another lookup (policy check) or policy flush
 * changed it since this lookup read it: a newer policy is never undone.
 */
/* The record as the lookup read it (found: cache_get gave 0). */
void	policy_store_seen(struct lookup *, int found);
/* Replace the record with e, or delete it (e NULL). 0 written, 1 skipped, -1. */
int	policy_store_write(struct lookup *, const struct cache_entry *e);
/*
 * Ours: a TXT failure with nothing usable at now: the start of the
 * domain's tempfail period, a new one when the last failure is a bound old.
 */
uint64_t policy_store_txt_fail(struct lookup *, uint64_t now);
/* The TXT lookup answered: a tempfail period is over. */
void	policy_store_txt_clear(struct lookup *);

/*
 * policy_recheck.c. A lookup ends with r: keep it in the front cache when
 * it may be (docs/policy-cache.md).
 */
void	policy_recheck_remember(struct lookup *, const struct policy_result *);
/*
 * Stale-while-revalidate: answer a lookup of domain from an unexpired
 * policy in policy.db at once and re-check behind it unless inflight is a
 * lookup of domain already. 0: nothing usable, the caller waits.
 */
int	policy_recheck_stale(struct policy *, const char *domain, uint64_t now,
	    const struct lookup *inflight, policy_on_result, void *);
/*
 * Set up the re-checks: the back-off table and its jitter, and the timer
 * that re-checks every cached policy (S14). policy_free undoes it.
 */
void	policy_recheck_arm(struct policy *);

#endif
