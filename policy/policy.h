/*
 * policy.h: the MTA-STS policy engine's public face (RFC 8461), the only
 * policy/ header relay/ includes. One lookup per recipient domain gives the
 * mode to apply and the allowed mx patterns; concurrent lookups of a domain
 * share one TXT query and one fetch; policies are cached in policy.db and
 * refreshed in the background.
 */
#ifndef POLICY_POLICY_H
#define POLICY_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include <db.h>

#include "common/netaddr.h"
#include "policy/policy_diag.h"
#include "policy/resolver.h"

struct event_base;
struct policy;

enum policy_mode {
	POLICY_MODE_ABSENT = 0,	/* no usable policy: deliver as without MTA-STS */
	POLICY_MODE_NONE,	/* S29: a policy of mode none: the same */
	POLICY_MODE_TESTING,	/* S28: deliver, log violations */
	POLICY_MODE_ENFORCE,	/* S27 */
	POLICY_MODE_TEMPFAIL	/* Ours: TXT lookup failed, nothing cached: defer */
};

enum policy_source {
	POLICY_SOURCE_NONE = 0,	/* no policy applied */
	POLICY_SOURCE_FRESH,	/* fetched for this lookup */
	POLICY_SOURCE_CACHED	/* from policy.db */
};

struct policy_result {
	const char		*domain;	/* normalized policy domain */
	enum policy_mode	 mode;
	enum policy_source	 source;
	const char *const	*mx;		/* patterns ("*.d.test"), nmx of them */
	size_t			 nmx;
	const char		*id;		/* policy id, "" if none */
	uint32_t		 max_age;
	/* on trouble (even when a cached policy is applied): */
	const char		*result_type;	/* RFC 8460 type, "" when none */
	const char		*reason;	/* human text, "" when none */
	/*
	 * What the TXT query behind this answer found (S21; policy_recheck's
	 * answers always have one; NULL or "" and 0 when none was sent):
	 */
	const char		*txt_id;	/* the id published, "" when none was read */
	int			 txt_failed;	/* the query failed temporarily */
};

typedef void (*policy_on_result)(const struct policy_result *, void *);

struct policy_params {
	const char			*cainfo;	/* CA bundle; NULL, "": system */
	const struct netaddr_endpoint	*dns;		/* ndns 0: system resolver */
	size_t				 ndns;
	unsigned			 dns_timeout_ms;	/* 0: 2000 */
	unsigned			 policy_port;	/* 0: 443 */
	unsigned			 fetch_timeout_s;	/* 0: 60 (max 60) */
	unsigned			 recheck_interval_s;	/* S14; 0: 3600 */
	unsigned			 tempfail_bound_s;	/* Ours; 0: 86400 */
	unsigned			 backoff_s;	/* S11; 0: 300 */
	/*
	 * Lookups running at once (TXT query, then any A/AAAA and fetch), 0: 32.
	 * Past it lookups (and re-checks) wait in a FIFO queue; a lookup of a
	 * domain that is queued or running already waits on that one.
	 */
	unsigned			 fetch_concurrency;
	/*
	 * Front cache (policy_front.h): a decision whose TXT id was just
	 * confirmed (or that found no policy) is reused from memory for
	 * front_ttl_s seconds without DNS or policy.db. After that, a domain
	 * with an unexpired policy in policy.db is answered from it at once
	 * while its TXT id is re-checked in the background (a failed re-check
	 * is retried after 30 s, doubling with each failure in a row up to
	 * 1 h, less a random quarter at most); only a domain without one
	 * waits for DNS.
	 * 0 turns all this off: every lookup queries the TXT record and waits.
	 * At most front_max domains (0: 10000). The daemon: policy_txt_recheck.
	 */
	unsigned			 front_ttl_s;
	size_t				 front_max;
	/* wall clock in unix seconds; NULL: time(3). Tests move it. */
	uint64_t			(*clock)(void *);
	void				*clock_arg;
};

/*
 * NULL on failure (logged). env: an open environment (policy.db goes there).
 * The daemon fills the parameters from its configuration: ca_bundle,
 * dns_servers, policy_port, policy_fetch_timeout, policy_recheck_interval,
 * policy_tempfail_bound, policy_fetch_backoff, policy_txt_recheck,
 * policy_fetch_concurrency.
 * Lookups run on base; BDB calls on policy.db are short and run there too.
 */
struct policy *policy_new(struct event_base *, DB_ENV *, const struct policy_params *);
/* Pending lookups are dropped without their callbacks. */
void	policy_free(struct policy *);

/*
 * Look up the policy of a recipient domain (A-label form; upper case and a
 * trailing dot are fine). Returns 0 and calls cb later from the event loop,
 * exactly once; -1 (no callback) when the domain is not a valid A-label
 * name. The result and everything it points to live only during cb. With
 * the front cache on, a domain with an unexpired cached policy is answered
 * without waiting for DNS (source CACHED; see front_ttl_s).
 */
int	policy_lookup(struct policy *, const char *domain, policy_on_result, void *);

/*
 * S21: like policy_lookup, but the TXT id is always looked up (and a new
 * policy fetched) before cb runs: never answered from the front cache or
 * from policy.db alone. For a permanent failure under a cached policy,
 * which must not stand on a decision older than the current TXT record.
 */
int	policy_recheck(struct policy *, const char *domain, policy_on_result, void *);

/* A copy that outlives the callback (delivery keeps it for the attempt). */
struct policy_result *policy_result_dup(const struct policy_result *);
void	policy_result_free(struct policy_result *);

/*
 * S22: may mail go to MX host mx_host under this result? ENFORCE and
 * TESTING: 1 only if it matches one of the mx patterns (for TESTING the
 * caller delivers anyway and logs the violation, S28). ABSENT, NONE: 1.
 * TEMPFAIL: 0 (defer).
 */
int	policy_mx_allowed(const struct policy_result *, const char *mx_host);

/*
 * S14: re-check every cached policy now (the timer does this every
 * recheck_interval_s): TXT id again, fetch when it changed or half of
 * max_age has passed. Returns how many re-checks were started.
 */
int	policy_refresh(struct policy *);

/*
 * For "stsrelayctl policy check": like policy_lookup but always fetches
 * (ignoring the cached id and the S11 back-off) and stores what it gets.
 */
int	policy_check(struct policy *, const char *domain, policy_on_result, void *);

/* "policy flush": forget the cached policy. 0, 1 if none was cached, -1. */
int	policy_forget(struct policy *, const char *domain);

/*
 * "policy show/list": every record of policy.db, in domain order, but for
 * those that only keep when a domain's TXT lookup started failing (Ours:
 * the tempfail period, nothing cached; policy_forget ends it).
 */
struct policy_cached {
	const char		*domain;
	int			 corrupt;	/* the record could not be read */
	const char		*id;		/* "" when only a failure is kept */
	enum policy_mode	 mode;		/* ABSENT when id is "" */
	const char *const	*mx;
	size_t			 nmx;
	uint64_t		 fetched;	/* unix seconds */
	uint32_t		 max_age;	/* expires at fetched + max_age */
	const char		*text;		/* the policy as fetched */
	const char		*fail_id;	/* S11: last failed id, "" if none */
	uint64_t		 fail_time;
	uint64_t		 fail_retry;	/* S11: fail_id not fetched before */
	uint64_t		 txt_fail_since;	/* Ours: TXT failing since, 0: not */
};
/* Stops when fn returns non-zero and returns that; -1 on a database error. */
int	policy_list(struct policy *, int (*fn)(const struct policy_cached *, void *),
	    void *);
/* The same with the tempfail-period records too (id "", txt_fail_since set). */
int	policy_list_all(struct policy *, int (*fn)(const struct policy_cached *, void *),
	    void *);

/* Counters since policy_new, for "stsrelayctl status" and benchmarks. */
struct policy_stats {
	uint64_t	lookups;	/* policy_lookup calls */
	uint64_t	coalesced;	/* ... that joined a lookup in flight */
	uint64_t	txt_queries;	/* TXT lookups started (lookups, re-checks) */
	uint64_t	txt_tempfails;	/* TXT lookups that failed temporarily */
	uint64_t	cache_hits;	/* same id, unexpired: no fetch (S20) */
	uint64_t	fetches;	/* policy fetches started */
	uint64_t	fetch_failures;	/* ... that gave no valid policy */
	uint64_t	backoffs;	/* fetches skipped by the S11 back-off */
	uint64_t	rechecks;	/* S14 re-checks started */
	uint64_t	front_hits;	/* lookups answered from memory (front cache) */
	/* stale-while-revalidate (front cache on) */
	uint64_t	stale_answers;	/* lookups answered from policy.db at once */
	uint64_t	revalidations;	/* ... TXT re-checks started behind them */
	uint64_t	revalidations_done;	/* ... and finished, whatever the outcome */
	/* the fetch_concurrency cap */
	uint64_t	queued;		/* lookups that waited for a slot */
	uint64_t	running_max;	/* most lookups running at once */
};
void	policy_get_stats(struct policy *, struct policy_stats *);

/*
 * The engine's DNS resolver, for the MX, A and AAAA lookups of delivery
 * (policy/resolver.h), so one DNS configuration governs everything.
 */
struct resolver *policy_resolver(struct policy *);

const char *policy_mode_name(enum policy_mode);	/* "enforce", ... "absent" */
const char *policy_source_name(enum policy_source);

#endif
