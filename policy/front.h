/*
 * front.h: the in-memory front of the policy cache: recent decisions by
 * domain, so that a lookup whose answer is already known (same TXT id,
 * unexpired policy, or no policy at all) touches neither DNS nor policy.db.
 *
 * Bounded (least recently used entries go first), every entry valid until
 * the earlier of its time to live and its policy's expiry (S19), and
 * invalidated by the engine whenever policy.db changes for its domain
 * (store, delete, flush). Entries are reference counted so a decision
 * queued for a callback survives its invalidation. No I/O.
 */
#ifndef POLICY_FRONT_H
#define POLICY_FRONT_H

#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

struct front;
struct front_entry;

/* max entries (0: 10000); ttl_s: how long a decision is reused (> 0). */
struct front	*front_new(size_t max, unsigned ttl_s);
void		 front_free(struct front *);

/*
 * The decision for a normalized domain still valid at now, held for the
 * caller (front_release it), or NULL.
 */
struct front_entry *front_get(struct front *, const char *domain, uint64_t now);
const struct policy_result *front_result(const struct front_entry *);
void		 front_release(struct front *, struct front_entry *);

/*
 * Remember r (a copy) for r->domain, valid until min(now + ttl, expires).
 * A result from a fetch is remembered as CACHED.
 */
void		 front_put(struct front *, const struct policy_result *, uint64_t now,
		    uint64_t expires);
/*
 * Remember r (a copy) until exactly `until`, whatever the time to live: an
 * answer given while its TXT id is re-checked, or after a re-check failed
 * (the retry back-off). Nothing is kept when until <= now.
 */
void		 front_put_until(struct front *, const struct policy_result *,
		    uint64_t now, uint64_t until);
void		 front_forget(struct front *, const char *domain);
void		 front_clear(struct front *);
size_t		 front_count(const struct front *);

#endif
