/*
 * cache.h: the MTA-STS policy cache (S19, S20, S11) in a Berkeley DB btree,
 * policy.db, inside an environment the caller opened (the daemon's spool
 * environment). Key: the policy domain (A-label, lowercase). Value: a
 * versioned record, decoded with explicit length checks; a corrupt record
 * is an error, never a crash.
 */
#ifndef POLICY_CACHE_H
#define POLICY_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <db.h>

#include "policy/sts_policy.h"
#include "policy/sts_txt.h"

#define CACHE_DBNAME	"policy.db"

struct cache_entry {
	char			 id[STS_TXT_ID_MAX + 1];	/* TXT id of the policy */
	uint64_t		 fetched;	/* unix time of the fetch */
	struct sts_policy	 policy;	/* mode, capped max_age, mx */
	char			*raw;		/* policy text as fetched */
	size_t			 rawlen;
	/* S11: the last failed fetch, for the id that failed */
	char			 fail_id[STS_TXT_ID_MAX + 1];
	uint64_t		 fail_time;
	/* Ours: the TXT lookup has failed since then with nothing usable; 0: not */
	uint64_t		 txt_fail_since;
	/* ... and it failed last at this time (the period ends a bound later) */
	uint64_t		 txt_fail_last;
};

struct cache;

/* Open (creating) CACHE_DBNAME in env; NULL on failure (logged). */
struct cache *cache_open(DB_ENV *env);
void	cache_close(struct cache *);

/* 0 found (free with cache_entry_free), 1 not found, -1 error or corrupt. */
int	cache_get(struct cache *, const char *domain, struct cache_entry *);
/* 0 or -1. Replaces any record of the domain. */
int	cache_put(struct cache *, const char *domain, const struct cache_entry *);
/* 0 deleted, 1 not found, -1 error. */
int	cache_delete(struct cache *, const char *domain);
/*
 * Calls fn for each record in key order; a corrupt record is passed with
 * entry NULL (so "policy list" can show it). Stops when fn returns non-zero
 * and returns that value; -1 on a database error.
 */
int	cache_iterate(struct cache *,
	    int (*fn)(const char *domain, const struct cache_entry *, void *), void *);

void	cache_entry_free(struct cache_entry *);
/*
 * Does the record hold nothing but a tempfail period (no policy, no failed
 * fetch)? Such a record is bookkeeping, not a cached policy.
 */
int	cache_entry_period_only(const struct cache_entry *);
/*
 * Ours: is the record's tempfail period over at now, no TXT failure seen
 * for bound seconds (or none at all)? A clock step back: not over.
 */
int	cache_entry_period_over(const struct cache_entry *, uint64_t now,
	    uint64_t bound);
/* S19: is the cached policy still valid at time now (unix seconds)? */
int	cache_entry_fresh(const struct cache_entry *, uint64_t now);

/*
 * The record format, exposed for tests and fuzzing. Records are written as
 * CACHE_VERSION; older versions (from 1) are still read.
 */
#define CACHE_VERSION	3
int	cache_encode(const struct cache_entry *, uint8_t **buf, size_t *len);
int	cache_decode(const uint8_t *, size_t, struct cache_entry *);

#endif
