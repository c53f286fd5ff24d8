/*
 * delivery_dns.c: the MX and address lookups of delivery, shared and kept.
 * Groups that need the same answer at the same time wait on one query (a
 * busy domain does not send a query per message), and an answer is reused
 * as long as its records' TTL allows, DLV_DNS_MS at most: an MX set (or
 * its absence, for the negative TTL of RFC 2308) only under the policy id
 * it was planned with, so a new policy always meets fresh MX records; the
 * addresses of a host for the smaller TTL of its A and AAAA answers. A TTL
 * of 0 means the answer serves the groups waiting for it and nobody after.
 * The 10 s cap bounds how long a changed MX set goes unseen whatever TTL
 * a zone publishes. Failures are never kept. Answers go to
 * delivery_route.c (dlv_route_on_mx, dlv_route_on_addrs), possibly before
 * dlv_dns_*() returns when the answer is kept.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/delivery_int.h"

TAILQ_HEAD(dlv_waiters, dlv_group);

/* How long an answer with this TTL (seconds) is kept: DLV_DNS_MS at most. */
static uint64_t
keep_ms(uint32_t ttl)
{
	if (ttl >= DLV_DNS_MS / 1000)
		return DLV_DNS_MS;
	return (uint64_t)ttl * 1000;
}

static void
entry_drop(struct delivery *d, struct dlv_dns *e)
{
	TAILQ_REMOVE(&d->dns, e, entry);
	d->ndns--;
	free(e);
}

static struct dlv_dns *
entry_find(struct delivery *d, const char *name, int is_mx, const char *id)
{
	struct dlv_dns	*e, *next;
	uint64_t	 now = strutil_now_ms();

	for (e = TAILQ_FIRST(&d->dns); e != NULL; e = next) {
		next = TAILQ_NEXT(e, entry);
		if (e->pending == 0 && e->expires_ms <= now) {
			entry_drop(d, e);
			continue;
		}
		if (e->is_mx == is_mx && strcmp(e->name, name) == 0 &&
		    strcmp(e->id, id) == 0)
			return e;
	}
	return NULL;
}

/* A new entry with g waiting on it. */
static struct dlv_dns *
entry_new(struct dlv_group *g, const char *name, int is_mx, const char *id, int pending)
{
	struct delivery	*d = g->d;
	struct dlv_dns	*e, *old;

	if (d->ndns >= DLV_DNS_MAX)
		TAILQ_FOREACH(old, &d->dns, entry)
			if (old->pending == 0) {	/* the oldest answer */
				entry_drop(d, old);
				break;
			}
	e = xcalloc(1, sizeof(*e));
	e->d = d;
	strutil_lcpy(e->name, name, sizeof(e->name));
	strutil_lcpy(e->id, id, sizeof(e->id));
	e->is_mx = is_mx;
	e->pending = pending;
	e->ttl = UINT32_MAX;
	TAILQ_INIT(&e->waiters);
	TAILQ_INSERT_TAIL(&e->waiters, g, dns_entry);
	TAILQ_INSERT_TAIL(&d->dns, e, entry);
	d->ndns++;
	return e;
}

/* The waiters of e, taken off it (e may go away while they run). */
static void
take_waiters(struct dlv_dns *e, struct dlv_waiters *w)
{
	struct dlv_group *g;

	TAILQ_INIT(w);
	while ((g = TAILQ_FIRST(&e->waiters)) != NULL) {
		TAILQ_REMOVE(&e->waiters, g, dns_entry);
		TAILQ_INSERT_TAIL(w, g, dns_entry);
	}
}

static void
dns_on_mx(const struct resolver_mx_result *r, void *arg)
{
	struct dlv_dns		*e = arg;
	struct dlv_waiters	 w;
	struct dlv_group	*g;
	size_t			 i;

	e->pending = 0;
	take_waiters(e, &w);
	if ((r->status == RESOLVER_OK || r->status == RESOLVER_NODATA) && !r->null_mx &&
	    keep_ms(r->ttl) > 0) {
		e->status = r->status;
		for (i = 0; i < r->nmx && e->nmx < DLV_MAX_CANDS; i++)
			e->mx[e->nmx++] = r->mx[i];
		e->ttl = r->ttl;
		e->expires_ms = strutil_now_ms() + keep_ms(r->ttl);
	} else
		entry_drop(e->d, e);
	while ((g = TAILQ_FIRST(&w)) != NULL) {
		TAILQ_REMOVE(&w, g, dns_entry);
		dlv_route_on_mx(g, r);
	}
}

void
dlv_dns_mx(struct dlv_group *g)
{
	struct dlv_dns			*e;
	struct resolver_mx_result	 r;
	const char			*id = g->pol->id != NULL ? g->pol->id : "";

	if ((e = entry_find(g->d, g->dom->name, 1, id)) == NULL) {
		e = entry_new(g, g->dom->name, 1, id, 1);
		if (resolver_query_mx(g->d->res, e->name, dns_on_mx, e) == -1)
			fatalx("dlv_dns_mx: the resolver refused %s", e->name);
		return;
	}
	if (e->pending) {
		TAILQ_INSERT_TAIL(&e->waiters, g, dns_entry);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.status = e->status;
	r.error = "";
	r.mx = e->mx;
	r.nmx = e->nmx;
	dlv_route_on_mx(g, &r);
}

static void
dns_on_addr(const struct resolver_addr_result *r, void *arg)
{
	struct dlv_dns		*e = arg;
	struct dlv_waiters	 w;
	struct dlv_group	*g;
	struct dlv_addr		 a[DLV_MAX_ADDRS], *x;
	size_t			 i, n = 0;
	int			 tempfail;

	if (r->status == RESOLVER_TEMPFAIL || r->status == RESOLVER_MALFORMED)
		e->tempfail = 1;
	/* kept for the smaller TTL of both answers; NXDOMAIN and failures: 0 */
	if (r->status != RESOLVER_OK && r->status != RESOLVER_NODATA)
		e->ttl = 0;
	else if (r->ttl < e->ttl)
		e->ttl = r->ttl;
	for (i = 0; r->status == RESOLVER_OK && i < r->naddrs; i++) {
		if (e->naddrs == DLV_MAX_ADDRS)
			break;
		x = &e->addrs[e->naddrs++];
		memcpy(&x->ss, &r->addrs[i], sizeof(x->ss));
		if (x->ss.ss_family == AF_INET) {
			((struct sockaddr_in *)&x->ss)->sin_port = htons(e->d->p.port);
			x->len = sizeof(struct sockaddr_in);
		} else {
			((struct sockaddr_in6 *)&x->ss)->sin6_port = htons(e->d->p.port);
			x->len = sizeof(struct sockaddr_in6);
		}
	}
	if (--e->pending > 0)
		return;
	/* IPv4 first */
	for (i = 0; i < e->naddrs; i++)
		if (e->addrs[i].ss.ss_family == AF_INET)
			a[n++] = e->addrs[i];
	for (i = 0; i < e->naddrs; i++)
		if (e->addrs[i].ss.ss_family != AF_INET)
			a[n++] = e->addrs[i];
	memcpy(e->addrs, a, n * sizeof(a[0]));
	tempfail = e->tempfail;
	take_waiters(e, &w);
	if (n > 0 && !tempfail && keep_ms(e->ttl) > 0)
		e->expires_ms = strutil_now_ms() + keep_ms(e->ttl);
	else
		entry_drop(e->d, e);
	while ((g = TAILQ_FIRST(&w)) != NULL) {
		TAILQ_REMOVE(&w, g, dns_entry);
		dlv_route_on_addrs(g, a, n, tempfail);
	}
}

void
dlv_dns_addr(struct dlv_group *g, const char *host)
{
	struct dlv_dns	*e;

	if ((e = entry_find(g->d, host, 0, "")) == NULL) {
		e = entry_new(g, host, 0, "", 2);
		if (resolver_query_a(g->d->res, e->name, dns_on_addr, e) == -1 ||
		    resolver_query_aaaa(g->d->res, e->name, dns_on_addr, e) == -1)
			fatalx("dlv_dns_addr: the resolver refused %s", e->name);
		return;
	}
	if (e->pending) {
		TAILQ_INSERT_TAIL(&e->waiters, g, dns_entry);
		return;
	}
	dlv_route_on_addrs(g, e->addrs, e->naddrs, 0);
}

void
dlv_dns_free(struct delivery *d)
{
	struct dlv_dns *e;

	while ((e = TAILQ_FIRST(&d->dns)) != NULL)
		entry_drop(d, e);
}
