/*
 * policy_front.c: front cache hits delivered from the event loop
 * (policy_front.h). The queue is a growing ring of (callback, argument,
 * held entry); one event drains what was queued before it ran, so a
 * callback that looks up again is answered on the next turn of the loop.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "policy/policy_front.h"

struct ready {
	policy_on_result	 cb;
	void			*arg;
	struct front_entry	*e;
};

struct policy_front {
	struct front	*cache;
	struct event	*ev;
	struct ready	*ring;
	size_t		 cap, head, len;	/* cap is a power of 2 */
};

static void
pf_grow(struct policy_front *pf)
{
	struct ready	*n;
	size_t		 i;

	n = xreallocarray(NULL, pf->cap * 2, sizeof(*n));
	for (i = 0; i < pf->len; i++)
		n[i] = pf->ring[(pf->head + i) & (pf->cap - 1)];
	free(pf->ring);
	pf->ring = n;
	pf->head = 0;
	pf->cap *= 2;
}

static void
pf_on_ready(evutil_socket_t fd, short what, void *arg)
{
	struct policy_front	*pf = arg;
	struct ready		 r;
	size_t			 n = pf->len;

	while (n-- > 0 && pf->len > 0) {
		r = pf->ring[pf->head];
		pf->head = (pf->head + 1) & (pf->cap - 1);
		pf->len--;
		r.cb(front_result(r.e), r.arg);
		front_release(pf->cache, r.e);
	}
	if (pf->len > 0)
		event_active(pf->ev, EV_TIMEOUT, 0);
}

struct policy_front *
policy_front_new(struct event_base *base, size_t max, unsigned ttl_s)
{
	struct policy_front	*pf = xcalloc(1, sizeof(*pf));

	pf->cache = front_new(max, ttl_s);
	pf->cap = 64;
	pf->ring = xreallocarray(NULL, pf->cap, sizeof(*pf->ring));
	if ((pf->ev = event_new(base, -1, 0, pf_on_ready, pf)) == NULL)
		fatalx("policy_front_new: event_new failed");
	return pf;
}

void
policy_front_free(struct policy_front *pf)
{
	if (pf == NULL)
		return;
	while (pf->len > 0) {
		front_release(pf->cache, pf->ring[pf->head].e);
		pf->head = (pf->head + 1) & (pf->cap - 1);
		pf->len--;
	}
	event_free(pf->ev);
	free(pf->ring);
	front_free(pf->cache);
	free(pf);
}

int
policy_front_answer(struct policy_front *pf, const char *domain, uint64_t now,
    policy_on_result cb, void *arg)
{
	struct front_entry	*e;
	struct ready		*r;

	if ((e = front_get(pf->cache, domain, now)) == NULL)
		return 0;
	if (pf->len == pf->cap)
		pf_grow(pf);
	r = &pf->ring[(pf->head + pf->len) & (pf->cap - 1)];
	r->cb = cb;
	r->arg = arg;
	r->e = e;
	if (pf->len++ == 0)
		event_active(pf->ev, EV_TIMEOUT, 0);
	return 1;
}

struct front *
policy_front_cache(struct policy_front *pf)
{
	return pf->cache;
}
