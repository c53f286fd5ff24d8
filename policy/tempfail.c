/*
 * tempfail.c: the domains whose TXT lookups are failing, and since when
 * (tempfail.h): a list in insertion order, so the oldest goes first when
 * the table is full.
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

uint64_t
tempfail_since(struct tempfails *t, const char *domain, uint64_t now)
{
	struct tempfail	*f;

	TAILQ_FOREACH(f, &t->list, entry)
		if (strcmp(f->domain, domain) == 0)
			return f->since;
	if (t->n == t->max) {
		f = TAILQ_FIRST(&t->list);
		TAILQ_REMOVE(&t->list, f, entry);
	} else {
		f = xcalloc(1, sizeof(*f));
		t->n++;
	}
	snprintf(f->domain, sizeof(f->domain), "%s", domain);
	f->since = now;
	TAILQ_INSERT_TAIL(&t->list, f, entry);
	return now;
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
