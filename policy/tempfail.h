/*
 * tempfail.h: since when has the TXT lookup of a domain been failing? The
 * engine defers a domain with nothing cached for tempfail_bound_s after its
 * first failure (Ours), then treats it as having no policy. A small table
 * bounded in domains (the oldest entry goes first). No I/O.
 */
#ifndef POLICY_TEMPFAIL_H
#define POLICY_TEMPFAIL_H

#include <stddef.h>
#include <stdint.h>

struct tempfails;

struct tempfails *tempfail_new(size_t max);
void		 tempfail_free(struct tempfails *);
/* When lookups of domain started failing; now (remembered) if they had not. */
uint64_t	 tempfail_since(struct tempfails *, const char *domain, uint64_t now);
/* A lookup of domain got an answer: forget its failures. */
void		 tempfail_clear(struct tempfails *, const char *domain);

#endif
