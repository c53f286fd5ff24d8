/*
 * delivery_route.c: where a recipient group may go. The domain's MTA-STS
 * policy (policy_lookup, S1), its MX hosts in preference order or the
 * implicit MX (S23), filtered by the policy (S22; enforce never contacts a
 * host the policy does not name), then the addresses of each candidate in
 * turn (IPv4 first). Before a group's bounce stands, a policy applied from
 * the cache is looked up again (S21). The lookups themselves are in
 * delivery_dns.c. Every lookup uses the domain's A-label form (RFC 8461
 * 4.1); a recipient domain that is not valid IDNA bounces 5.1.2.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/idna.h"
#include "common/log.h"
#include "common/strutil.h"
#include "relay/delivery_int.h"

static void	start_host(struct dlv_group *);

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
	char			 alabel[DLV_DOMAIN_MAX];
	const char		*err = NULL;

	(void)fd;
	(void)what;
	memset(&v, 0, sizeof(v));
	v.state = QUEUE_RCPT_BOUNCED;
	if (idna_needs_library(g->dom->name) &&
	    idna_to_alabel(g->dom->name, alabel, sizeof(alabel), &err) == -1)
		snprintf(v.text, sizeof(v.text), "5.1.2 bad destination system address: "
		    "the domain is not a valid internationalized domain name (%s)",
		    err != NULL ? err : "IDNA conversion failed");
	else
		snprintf(v.text, sizeof(v.text), "5.1.2 %s is not a valid domain name",
		    g->dom->name);
	route_fail(g, &v);
}

/*
 * The group's domain is in A-label form already (dlv_split) unless it is
 * not valid IDNA: then no lookup is made at all.
 */
static int
route_domain_ok(const struct dlv_group *g)
{
	char		 alabel[DLV_DOMAIN_MAX];
	const char	*err;

	if (!idna_needs_library(g->dom->name))
		return 1;
	if (idna_to_alabel(g->dom->name, alabel, sizeof(alabel), &err) == -1)
		return 0;
	return strcmp(alabel, g->dom->name) == 0;
}

static void
route_on_policy(const struct policy_result *r, void *arg)
{
	struct dlv_group	*g = arg;
	struct dlv_verdict	 v;

	g->pol = policy_result_dup(r);
	dlv_log_policy_count(g);
	if (r->mode == POLICY_MODE_TEMPFAIL) {
		dlv_policy_tempfail(r, &v);
		route_fail(g, &v);
		return;
	}
	dlv_transition(g, DLV_G_MX);
	dlv_dns_mx(g);
}

/* The candidates from an MX answer, then the first of them. */
void
dlv_route_on_mx(struct dlv_group *g, const struct resolver_mx_result *r)
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
	if (route_domain_ok(g) &&
	    policy_lookup(g->d->pol, g->dom->name, route_on_policy, g) == 0)
		return;
	if (event_base_once(g->d->base, -1, EV_TIMEOUT, route_on_invalid, g, &tv) == -1)
		fatalx("dlv_route_start: event_base_once failed");
}

/* The current candidate's addresses (IPv4 first): try them. */
void
dlv_route_on_addrs(struct dlv_group *g, const struct dlv_addr *a, size_t n, int tempfail)
{
	if (n > DLV_MAX_ADDRS)
		n = DLV_MAX_ADDRS;
	memcpy(g->addrs, a, n * sizeof(a[0]));
	g->naddrs = n;
	if (n == 0) {
		memset(&g->last, 0, sizeof(g->last));
		g->last.state = QUEUE_RCPT_DEFERRED;
		snprintf(g->last.text, sizeof(g->last.text), tempfail ?
		    "4.4.3 address lookup of %s failed" : "4.4.4 %s has no address",
		    g->cands[g->cand].host);
		dlv_route_next_host(g);
		return;
	}
	g->addr = 0;
	dlv_attempt_next(g);
}

static void
start_host(struct dlv_group *g)
{
	struct dlv_verdict v;

	if (g->cand >= g->ncands) {
		v = g->last;
		if (v.text[0] == '\0') {
			v.state = QUEUE_RCPT_DEFERRED;
			strutil_lcpy(v.text, "4.4.1 no MX host could be reached", sizeof(v.text));
		}
		route_fail(g, &v);
		return;
	}
	dlv_transition(g, DLV_G_ADDR);
	g->naddrs = 0;
	dlv_dns_addr(g, g->cands[g->cand].host);
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
		dlv_log_release(g, 1);	/* the bounces stand */
		dlv_group_done(g);
		return;
	}
	dlv_log_release(g, 0);
	if (r->txt_failed)
		log_info("%s: S21: the MTA-STS TXT record of %s could not be read again: "
		    "deferring instead of bouncing", m->id, g->dom->name);
	else
		log_info("%s: S21: the MTA-STS policy of %s changed (id %s -> %s%s): "
		    "deferring instead of bouncing", m->id, g->dom->name, g->pol->id,
		    r->txt_id != NULL && r->txt_id[0] != '\0' ? r->txt_id : r->id,
		    strcmp(r->id, g->pol->id) == 0 ? ", not fetched yet" : "");
	for (i = 0; i < g->nrcpts; i++) {
		ri = g->rcpt_idx[i];
		if (m->res[ri].state != QUEUE_RCPT_BOUNCED)
			continue;
		snprintf(text, sizeof(text), "4.7.0 MTA-STS policy changed, will retry: %s",
		    m->reasons[ri] != NULL ? m->reasons[ri] : "");
		dlv_set_rcpt(g, i, QUEUE_RCPT_DEFERRED, text, m->remotes[ri]);
		/* the bounce line held at the 5xx was dropped: this one stands */
		log_info("%s: to=<%s> relay=%s policy=%s id=%s status=deferred (%s)", m->id,
		    g->rcpts[i], m->remotes[ri] != NULL ? m->remotes[ri] : "none",
		    policy_mode_name(r->mode), r->id, text);
	}
	dlv_group_done(g);
}

int
dlv_route_will_recheck(const struct dlv_group *g)
{
	struct dlv_msg	*m = g->msg;
	size_t		 i;
	int		 bounced = 0;

	for (i = 0; i < g->nrcpts; i++)
		if (m->res[g->rcpt_idx[i]].state == QUEUE_RCPT_BOUNCED)
			bounced = 1;
	return bounced && g->pol != NULL && g->pol->source == POLICY_SOURCE_CACHED &&
	    (g->pol->mode == POLICY_MODE_ENFORCE || g->pol->mode == POLICY_MODE_TESTING);
}

void
dlv_route_finish(struct dlv_group *g)
{
	if (!dlv_route_will_recheck(g)) {
		dlv_log_release(g, 1);
		dlv_group_done(g);
		return;
	}
	dlv_transition(g, DLV_G_RECHECK);
	if (policy_recheck(g->d->pol, g->dom->name, route_on_recheck, g) == -1) {
		dlv_log_release(g, 1);
		dlv_group_done(g);
	}
}
