/*
 * tempfail.h: domains whose lookups keep failing: since when, and how many
 * times in a row. The engine backs off the re-checks behind stale answers
 * with it (policy_recheck.c). A small table bounded in domains (the oldest
 * entry goes first), and the back-off arithmetic. No I/O.
 */
#ifndef POLICY_TEMPFAIL_H
#define POLICY_TEMPFAIL_H

#include <stddef.h>
#include <stdint.h>

#define TEMPFAIL_BACKOFF_MIN	30	/* seconds: after the first failure */
#define TEMPFAIL_BACKOFF_MAX	3600	/* ... doubling up to this */

struct tempfails;

struct tempfails *tempfail_new(size_t max);
void		 tempfail_free(struct tempfails *);
/* When lookups of domain started failing; now (remembered) if they had not. */
uint64_t	 tempfail_since(struct tempfails *, const char *domain, uint64_t now);
/* One more failure of domain (remembered from now if new): failures in a row. */
unsigned	 tempfail_note(struct tempfails *, const char *domain, uint64_t now);
/* A lookup of domain got an answer: forget its failures. */
void		 tempfail_clear(struct tempfails *, const char *domain);

/*
 * The wait after the n-th failure in a row (n >= 1): TEMPFAIL_BACKOFF_MIN
 * doubling to TEMPFAIL_BACKOFF_MAX, less a jitter of up to a quarter drawn
 * from rnd (any value), so domains that failed together do not retry
 * together. Never more than the nominal wait, never less than 3/4 of it.
 */
uint64_t	 tempfail_backoff(unsigned n, uint64_t rnd);

#endif
