/*
 * tempfail.c: the domains whose lookups are failing, since when and how
 * often (tempfail.h): a list in insertion order, so the oldest goes first
 * when the table is full; and the back-off after n failures.
 */
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "policy/sts_mx.h"
#include "policy/tempfail.h"

struct tempfail {
	TAILQ_ENTRY(tempfail)	 entry;
	char			 domain[STS_MX_NAMEBUF];
	uint64_t		 since;
	unsigned		 n;		/* failures in a row */
};

struct tempfails {
	TAILQ_HEAD(, tempfail)	 list;
	size_t			 n, max;
};

struct tempfails *
tempfail_new(size_t max)
{
	struct tempfails	*t = xcalloc(1, sizeof(*t));

	TAILQ_INIT(&t->list);
	t->max = max > 0 ? max : 1;
	return t;
}

void
tempfail_free(struct tempfails *t)
{
	struct tempfail	*f;

	if (t == NULL)
		return;
	while ((f = TAILQ_FIRST(&t->list)) != NULL) {
		TAILQ_REMOVE(&t->list, f, entry);
		free(f);
	}
	free(t);
}

/* The entry of domain, made (failing since now, no failure yet) if none. */
static struct tempfail *
tempfail_get(struct tempfails *t, const char *domain, uint64_t now)
{
	struct tempfail	*f;

	TAILQ_FOREACH(f, &t->list, entry)
		if (strcmp(f->domain, domain) == 0)
			return f;
	if (t->n == t->max) {
		f = TAILQ_FIRST(&t->list);
		TAILQ_REMOVE(&t->list, f, entry);
		memset(f, 0, sizeof(*f));
	} else {
		f = xcalloc(1, sizeof(*f));
		t->n++;
	}
	snprintf(f->domain, sizeof(f->domain), "%s", domain);
	f->since = now;
	TAILQ_INSERT_TAIL(&t->list, f, entry);
	return f;
}

uint64_t
tempfail_since(struct tempfails *t, const char *domain, uint64_t now)
{
	return tempfail_get(t, domain, now)->since;
}

unsigned
tempfail_note(struct tempfails *t, const char *domain, uint64_t now)
{
	struct tempfail	*f = tempfail_get(t, domain, now);

	if (f->n < UINT32_MAX)
		f->n++;
	return f->n;
}

uint64_t
tempfail_backoff(unsigned n, uint64_t rnd)
{
	uint64_t	wait = TEMPFAIL_BACKOFF_MIN;

	while (n-- > 1 && wait < TEMPFAIL_BACKOFF_MAX)
		wait *= 2;
	if (wait > TEMPFAIL_BACKOFF_MAX)
		wait = TEMPFAIL_BACKOFF_MAX;
	return wait - (wait / 4) * (rnd % 1024) / 1023;
}

void
tempfail_clear(struct tempfails *t, const char *domain)
{
	struct tempfail	*f;

	TAILQ_FOREACH(f, &t->list, entry) {
		if (strcmp(f->domain, domain) == 0) {
			TAILQ_REMOVE(&t->list, f, entry);
			free(f);
			t->n--;
			return;
		}
	}
}
