/*
 * delivery_route.c: where a recipient group may go. The domain's MTA-STS
 * policy (policy_lookup, S1), its MX hosts in preference order or the
 * implicit MX (S23), filtered by the policy (S22; enforce never contacts a
 * host the policy does not name), then the addresses of each candidate in
 * turn (IPv4 first). Before a group's bounce stands, a policy applied from
 * the cache is looked up again (S21). Positive MX and address answers are
 * reused for DLV_DNS_MS (an MX set only under the same policy id), so that
 * a busy domain does not cost three queries a message.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/delivery_int.h"

static void	start_host(struct dlv_group *);
static void	addrs_done(struct dlv_group *, int cached);
static void	route_plan(struct dlv_group *, const struct resolver_mx_result *);
static void	route_on_mx(const struct resolver_mx_result *, void *);

static struct dlv_dns *
dns_find(struct delivery *d, const char *name, int is_mx, const char *id)
{
	struct dlv_dns	*e, *next;
	uint64_t	 now = strutil_now_ms();

	for (e = TAILQ_FIRST(&d->dns); e != NULL; e = next) {
		next = TAILQ_NEXT(e, entry);
		if (e->expires_ms <= now) {
			TAILQ_REMOVE(&d->dns, e, entry);
			d->ndns--;
			free(e);
			continue;
		}
		if (e->is_mx == is_mx && strcmp(e->name, name) == 0 &&
		    (!is_mx || strcmp(e->id, id) == 0))
			return e;
	}
	return NULL;
}

static struct dlv_dns *
dns_add(struct delivery *d, const char *name, int is_mx, const char *id)
{
	struct dlv_dns *e;

	if ((e = dns_find(d, name, is_mx, id)) != NULL)
		return e;
	if (d->ndns >= DLV_DNS_MAX) {
		e = TAILQ_FIRST(&d->dns);	/* the oldest */
		TAILQ_REMOVE(&d->dns, e, entry);
		d->ndns--;
		free(e);
	}
	e = xcalloc(1, sizeof(*e));
	strutil_lcpy(e->name, name, sizeof(e->name));
	strutil_lcpy(e->id, id != NULL ? id : "", sizeof(e->id));
	e->is_mx = is_mx;
	e->expires_ms = strutil_now_ms() + DLV_DNS_MS;
	TAILQ_INSERT_TAIL(&d->dns, e, entry);
	d->ndns++;
	return e;
}

void
dlv_route_free_dns(struct delivery *d)
{
	struct dlv_dns *e;

	while ((e = TAILQ_FIRST(&d->dns)) != NULL) {
		TAILQ_REMOVE(&d->dns, e, entry);
		free(e);
	}
	d->ndns = 0;
}

static void
mx_keep(struct dlv_group *g, const struct resolver_mx_result *r)
{
	struct dlv_dns	*e;
	size_t		 i;

	if ((r->status != RESOLVER_OK && r->status != RESOLVER_NODATA) || r->null_mx)
		return;
	e = dns_add(g->d, g->dom->name, 1, g->pol->id);
	e->status = r->status;
	e->nmx = 0;
	for (i = 0; i < r->nmx && e->nmx < DLV_MAX_CANDS; i++)
		e->mx[e->nmx++] = r->mx[i];
}

/* A kept MX answer: 0 after handling it, -1 when there is none. */
static int
mx_cached(struct dlv_group *g)
{
	struct dlv_dns			*e;
	struct resolver_mx_result	 r;

	if ((e = dns_find(g->d, g->dom->name, 1, g->pol->id)) == NULL)
		return -1;
	memset(&r, 0, sizeof(r));
	r.status = e->status;
	r.error = "";
	r.mx = e->mx;
	r.nmx = e->nmx;
	route_plan(g, &r);
	return 0;
}

/* A group-level verdict: every recipient takes it. */
static void
route_fail(struct dlv_group *g, const struct dlv_verdict *v)
{
	dlv_set_all(g, v, NULL);
	dlv_log_verdict(g, v);
	dlv_fail_backlog(g, v);
	dlv_route_finish(g);
}

static void
route_on_invalid(evutil_socket_t fd, short what, void *arg)
{
	struct dlv_group	*g = arg;
	struct dlv_verdict	 v;

	(void)fd;
	(void)what;
	memset(&v, 0, sizeof(v));
	v.state = QUEUE_RCPT_BOUNCED;
	snprintf(v.text, sizeof(v.text), "5.1.2 %s is not a valid domain name", g->dom->name);
	route_fail(g, &v);
}

static void
route_on_policy(const struct policy_result *r, void *arg)
{
	struct dlv_group	*g = arg;
	struct dlv_verdict	 v;

	g->pol = policy_result_dup(r);
	if (r->mode == POLICY_MODE_TEMPFAIL) {
		dlv_policy_tempfail(r, &v);
		route_fail(g, &v);
		return;
	}
	if (mx_cached(g) == 0)
		return;
	dlv_transition(g, DLV_G_MX);
	if (resolver_query_mx(g->d->res, g->dom->name, route_on_mx, g) == -1)
		fatalx("route_on_policy: resolver_query_mx refused %s", g->dom->name);
}

static void
route_on_mx(const struct resolver_mx_result *r, void *arg)
{
	struct dlv_group *g = arg;

	mx_keep(g, r);
	route_plan(g, r);
}

/* The candidates from an MX answer, then the first of them. */
static void
route_plan(struct dlv_group *g, const struct resolver_mx_result *r)
{
	struct dlv_verdict v;

	if (dlv_plan(g->dom->name, g->pol, r, g->cands, &g->ncands, &v) == -1) {
		route_fail(g, &v);
		return;
	}
	g->cand = 0;
	start_host(g);
}

void
dlv_route_start(struct dlv_group *g)
{
	struct timeval tv = { 0, 0 };

	dlv_transition(g, DLV_G_POLICY);
	if (policy_lookup(g->d->pol, g->dom->name, route_on_policy, g) == 0)
		return;
	if (event_base_once(g->d->base, -1, EV_TIMEOUT, route_on_invalid, g, &tv) == -1)
		fatalx("dlv_route_start: event_base_once failed");
}

/* Both address answers are in (or were kept): IPv4 first, then try them. */
static void
addrs_done(struct dlv_group *g, int cached)
{
	struct dlv_addr	 tmp[DLV_MAX_ADDRS];
	struct dlv_dns	*e;
	size_t		 i, n = 0;

	for (i = 0; i < g->naddrs; i++)
		if (g->addrs[i].ss.ss_family == AF_INET)
			tmp[n++] = g->addrs[i];
	for (i = 0; i < g->naddrs; i++)
		if (g->addrs[i].ss.ss_family != AF_INET)
			tmp[n++] = g->addrs[i];
	memcpy(g->addrs, tmp, n * sizeof(tmp[0]));
	if (!cached && g->naddrs > 0 && !g->addr_tempfail) {
		e = dns_add(g->d, g->cands[g->cand].host, 0, NULL);
		memcpy(e->addrs, g->addrs, n * sizeof(g->addrs[0]));
		e->naddrs = n;
	}
	if (g->naddrs == 0) {
		memset(&g->last, 0, sizeof(g->last));
		g->last.state = QUEUE_RCPT_DEFERRED;
		snprintf(g->last.text, sizeof(g->last.text), g->addr_tempfail ?
		    "4.4.3 address lookup of %s failed" : "4.4.4 %s has no address",
		    g->cands[g->cand].host);
		dlv_route_next_host(g);
		return;
	}
	g->addr = 0;
	dlv_attempt_next(g);
}

static void
route_on_addr(const struct resolver_addr_result *r, void *arg)
{
	struct dlv_group	*g = arg;
	struct dlv_addr		*a;
	size_t			 i;

	if (r->status == RESOLVER_TEMPFAIL || r->status == RESOLVER_MALFORMED)
		g->addr_tempfail = 1;
	for (i = 0; r->status == RESOLVER_OK && i < r->naddrs; i++) {
		if (g->naddrs == DLV_MAX_ADDRS)
			break;
		a = &g->addrs[g->naddrs++];
		memcpy(&a->ss, &r->addrs[i], sizeof(a->ss));
		if (a->ss.ss_family == AF_INET) {
			((struct sockaddr_in *)&a->ss)->sin_port = htons(g->d->p.port);
			a->len = sizeof(struct sockaddr_in);
		} else {
			((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(g->d->p.port);
			a->len = sizeof(struct sockaddr_in6);
		}
	}
	if (--g->addr_pending == 0)
		addrs_done(g, 0);
}

static void
start_host(struct dlv_group *g)
{
	struct dlv_verdict	v;
	struct dlv_dns		*e;
	const char		*host;

	if (g->cand >= g->ncands) {
		v = g->last;
		if (v.text[0] == '\0') {
			v.state = QUEUE_RCPT_DEFERRED;
			strutil_lcpy(v.text, "4.4.1 no MX host could be reached", sizeof(v.text));
		}
		route_fail(g, &v);
		return;
	}
	host = g->cands[g->cand].host;
	dlv_transition(g, DLV_G_ADDR);
	g->naddrs = 0;
	g->addr_tempfail = 0;
	if ((e = dns_find(g->d, host, 0, NULL)) != NULL) {
		memcpy(g->addrs, e->addrs, e->naddrs * sizeof(e->addrs[0]));
		g->naddrs = e->naddrs;
		addrs_done(g, 1);
		return;
	}
	g->addr_pending = 2;
	if (resolver_query_a(g->d->res, host, route_on_addr, g) == -1 ||
	    resolver_query_aaaa(g->d->res, host, route_on_addr, g) == -1)
		fatalx("start_host: the resolver refused %s", host);
}

void
dlv_route_next_host(struct dlv_group *g)
{
	g->cand++;
	start_host(g);
}

/* S21: the policy again; a changed id turns this group's bounces into deferrals. */
static void
route_on_recheck(const struct policy_result *r, void *arg)
{
	struct dlv_group	*g = arg;
	struct dlv_msg		*m = g->msg;
	char			 text[DLV_TEXT_MAX];
	size_t			 i, ri;

	if (!dlv_policy_changed(g->pol, r)) {
		dlv_group_done(g);
		return;
	}
	log_info("%s: S21: the MTA-STS policy of %s changed (id %s -> %s): "
	    "deferring instead of bouncing", m->id, g->dom->name, g->pol->id, r->id);
	for (i = 0; i < g->nrcpts; i++) {
		ri = g->rcpt_idx[i];
		if (m->res[ri].state != QUEUE_RCPT_BOUNCED)
			continue;
		snprintf(text, sizeof(text), "4.7.0 MTA-STS policy changed, will retry: %s",
		    m->reasons[ri] != NULL ? m->reasons[ri] : "");
		dlv_set_rcpt(g, i, QUEUE_RCPT_DEFERRED, text, m->remotes[ri]);
	}
	dlv_group_done(g);
}

void
dlv_route_finish(struct dlv_group *g)
{
	struct dlv_msg	*m = g->msg;
	size_t		 i;
	int		 bounced = 0;

	for (i = 0; i < g->nrcpts; i++)
		if (m->res[g->rcpt_idx[i]].state == QUEUE_RCPT_BOUNCED)
			bounced = 1;
	if (!bounced || g->pol == NULL || g->pol->source != POLICY_SOURCE_CACHED ||
	    (g->pol->mode != POLICY_MODE_ENFORCE && g->pol->mode != POLICY_MODE_TESTING)) {
		dlv_group_done(g);
		return;
	}
	dlv_transition(g, DLV_G_RECHECK);
	if (policy_lookup(g->d->pol, g->dom->name, route_on_recheck, g) == -1)
		dlv_group_done(g);
}
