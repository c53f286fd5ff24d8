/*
 * queue_retry.h: retry and expiry arithmetic, pure code without I/O or
 * clocks (the caller passes the time and the random numbers), so that it is
 * table-tested.
 */
#ifndef QUEUE_QUEUE_RETRY_H
#define QUEUE_QUEUE_RETRY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define QUEUE_RETRY_JITTER_PCT	10		/* +-10% of the interval */
#define QUEUE_RETRY_DEFAULT	300		/* with an empty schedule */
#define QUEUE_RETRY_MAX		(366 * 86400)	/* longest interval used */

/*
 * The interval after the attempts-th attempt (1 after the first): entry
 * attempts - 1 of the schedule, the last entry repeating. An empty schedule
 * gives QUEUE_RETRY_DEFAULT; 0 attempts count as 1; entries are capped at
 * QUEUE_RETRY_MAX and raised to at least 1 s.
 */
uint64_t queue_retry_interval(const uint64_t *sched, size_t n,
	    uint32_t attempts);

/*
 * The next attempt time: now + interval, moved by up to jitter_pct percent
 * either way according to rnd (any 64-bit value; the same rnd gives the same
 * time), never earlier than now + 1. When the message would have expired by
 * then (arrival + lifetime, lifetime 0 meaning never), the time is pulled
 * in to the expiry time so that the last attempt happens at expiry, but
 * never before now + 1.
 */
time_t	queue_retry_next(time_t now, uint64_t interval, unsigned jitter_pct,
	    uint64_t rnd, time_t arrival, uint64_t lifetime);

/* 1 when a message that arrived at arrival has outlived lifetime at now. */
int	queue_retry_expired(time_t arrival, time_t now, uint64_t lifetime);

/* A step of a small PRNG (xorshift64*) for the jitter; *state never 0. */
uint64_t queue_retry_rand(uint64_t *state);

#endif
