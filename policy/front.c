/*
 * front.c: the in-memory front of the policy cache (front.h): a chained
 * hash table of recent decisions with an LRU list, bounded in entries.
 */
#include <sys/queue.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "policy/front.h"

#define FRONT_DEFAULT_MAX	10000

struct front_entry {
	TAILQ_ENTRY(front_entry) lru;	/* most recently used first */
	struct front_entry	*next;	/* hash chain */
	uint32_t		 hash;
	int			 linked;	/* in the table */
	unsigned		 refs;		/* the table's and each holder's */
	uint64_t		 valid_until;
	struct policy_result	*r;
};

struct front {
	struct front_entry		**buckets;
	size_t				  nbuckets;	/* a power of 2 */
	size_t				  count, max;
	unsigned			  ttl_s;
	TAILQ_HEAD(front_lru, front_entry) lru;
};

/* FNV-1a */
static uint32_t
front_hash(const char *s)
{
	uint32_t	h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

struct front *
front_new(size_t max, unsigned ttl_s)
{
	struct front	*f;

	if (ttl_s == 0)
		fatalx("front_new: a front cache needs a time to live");
	f = xcalloc(1, sizeof(*f));
	f->max = max != 0 ? max : FRONT_DEFAULT_MAX;
	f->ttl_s = ttl_s;
	for (f->nbuckets = 16; f->nbuckets < f->max; f->nbuckets *= 2)
		;
	f->buckets = xcalloc(f->nbuckets, sizeof(*f->buckets));
	TAILQ_INIT(&f->lru);
	return f;
}

static void
entry_unref(struct front_entry *e)
{
	if (e->refs == 0)
		fatalx("entry_unref: entry without a reference");
	if (--e->refs > 0)
		return;
	policy_result_free(e->r);
	free(e);
}

/* Take e out of the table (holders keep it alive). */
static void
front_unlink(struct front *f, struct front_entry *e)
{
	struct front_entry	**pp;

	for (pp = &f->buckets[e->hash & (f->nbuckets - 1)]; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	TAILQ_REMOVE(&f->lru, e, lru);
	e->linked = 0;
	f->count--;
	entry_unref(e);
}

static struct front_entry *
front_find(struct front *f, const char *domain, uint32_t h)
{
	struct front_entry	*e;

	for (e = f->buckets[h & (f->nbuckets - 1)]; e != NULL; e = e->next)
		if (e->hash == h && strcmp(e->r->domain, domain) == 0)
			return e;
	return NULL;
}

struct front_entry *
front_get(struct front *f, const char *domain, uint64_t now)
{
	struct front_entry	*e;

	if ((e = front_find(f, domain, front_hash(domain))) == NULL)
		return NULL;
	if (now >= e->valid_until) {	/* S19: expired, or the TTL is over */
		front_unlink(f, e);
		return NULL;
	}
	if (TAILQ_FIRST(&f->lru) != e) {
		TAILQ_REMOVE(&f->lru, e, lru);
		TAILQ_INSERT_HEAD(&f->lru, e, lru);
	}
	e->refs++;
	return e;
}

const struct policy_result *
front_result(const struct front_entry *e)
{
	return e->r;
}

void
front_release(struct front *f, struct front_entry *e)
{
	entry_unref(e);
}

void
front_put(struct front *f, const struct policy_result *r, uint64_t now, uint64_t expires)
{
	front_put_until(f, r, now, now + f->ttl_s < expires ? now + f->ttl_s : expires);
}

void
front_put_until(struct front *f, const struct policy_result *r, uint64_t now,
    uint64_t until)
{
	struct front_entry	*e;
	uint32_t		 h = front_hash(r->domain);

	if ((e = front_find(f, r->domain, h)) != NULL)
		front_unlink(f, e);
	if (until <= now)
		return;
	while (f->count >= f->max)
		front_unlink(f, TAILQ_LAST(&f->lru, front_lru));
	e = xcalloc(1, sizeof(*e));
	e->r = policy_result_dup(r);
	if (e->r->source == POLICY_SOURCE_FRESH)
		e->r->source = POLICY_SOURCE_CACHED;
	e->hash = h;
	e->valid_until = until;
	e->refs = 1;
	e->linked = 1;
	e->next = f->buckets[h & (f->nbuckets - 1)];
	f->buckets[h & (f->nbuckets - 1)] = e;
	TAILQ_INSERT_HEAD(&f->lru, e, lru);
	f->count++;
}

void
front_forget(struct front *f, const char *domain)
{
	struct front_entry	*e;

	if ((e = front_find(f, domain, front_hash(domain))) != NULL)
		front_unlink(f, e);
}

void
front_clear(struct front *f)
{
	while (!TAILQ_EMPTY(&f->lru))
		front_unlink(f, TAILQ_FIRST(&f->lru));
}

size_t
front_count(const struct front *f)
{
	return f->count;
}

void
front_free(struct front *f)
{
	if (f == NULL)
		return;
	front_clear(f);
	free(f->buckets);
	free(f);
}
