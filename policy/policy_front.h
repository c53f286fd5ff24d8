/*
 * policy_front.h: answering policy_lookup() from the front cache (front.h)
 * on the event loop: a hit is queued and every queued answer is delivered
 * by one event, so a lookup never calls back from inside policy_lookup()
 * and a hit costs no allocation.
 */
#ifndef POLICY_POLICY_FRONT_H
#define POLICY_POLICY_FRONT_H

#include <stddef.h>
#include <stdint.h>

#include "policy/front.h"
#include "policy/policy.h"

struct event_base;
struct policy_front;

struct policy_front *policy_front_new(struct event_base *, size_t max, unsigned ttl_s);
/* Queued answers are dropped without their callbacks. */
void	policy_front_free(struct policy_front *);
/* 1: a valid decision for the normalized domain was queued for cb; 0: none. */
int	policy_front_answer(struct policy_front *, const char *domain, uint64_t now,
	    policy_on_result, void *);
struct front *policy_front_cache(struct policy_front *);

#endif
