/*
 * delivery_log.c: one key=value line per attempt and recipient group,
 * starting with the queue id, as mail administrators grep them:
 *   ID: to=<a@d.test>,<b@d.test> relay=mx.d.test[127.0.0.2]:25 delay=0.42
 *     tls=TLSv1.3 cipher=... verified=yes policy=enforce source=fresh
 *     status=sent (250 2.0.0 Ok)
 * and the RFC 8460 counters (queue_tls_count) of every session. Only
 * addresses, host names and reply texts are logged, never credentials.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/delivery_int.h"

#define TO_MAX	1024	/* the to= list; longer ones end in ",..." */
#define LINE_MAX_LEN	8192	/* one log line (log.c cuts longer ones too) */

static const char *
state_word(enum queue_rcpt_state st)
{
	switch (st) {
	case QUEUE_RCPT_DELIVERED:
		return "sent";
	case QUEUE_RCPT_BOUNCED:
		return "bounced";
	case QUEUE_RCPT_DEFERRED:
	case QUEUE_RCPT_PENDING:
		break;
	}
	return "deferred";
}

static void
to_add(char *to, const char *rcpt)
{
	char one[DLV_DOMAIN_MAX + 80];

	snprintf(one, sizeof(one), "%s<%s>", to[0] != '\0' ? "," : "", rcpt);
	if (strlen(to) + strlen(one) + 5 >= TO_MAX) {
		if (strstr(to, ",...") == NULL)
			strutil_lcat(to, ",...", TO_MAX);
		return;
	}
	strutil_lcat(to, one, TO_MAX);
}

/* " domain=xn--..." when a recipient gave its domain in another form (IDNA) */
static const char *
domain_field(const struct dlv_group *g, char *buf, size_t len)
{
	char	dom[DLV_DOMAIN_MAX];
	size_t	i;

	for (i = 0; i < g->nrcpts; i++)
		if (dlv_rcpt_domain(g->rcpts[i], dom, sizeof(dom)) == 0 &&
		    strcmp(dom, g->dom->name) != 0) {
			snprintf(buf, len, " domain=%s", g->dom->name);
			return buf;
		}
	return "";
}

static void
policy_fields(const struct dlv_group *g, char *buf, size_t len)
{
	char	df[DLV_DOMAIN_MAX + 16];

	if (g->pol == NULL) {
		snprintf(buf, len, "policy=unknown%s", domain_field(g, df, sizeof(df)));
		return;
	}
	snprintf(buf, len, "policy=%s source=%s%s%s%s", policy_mode_name(g->pol->mode),
	    policy_source_name(g->pol->source), g->violation[0] != '\0' ? " violation=" : "",
	    g->violation, domain_field(g, df, sizeof(df)));
}

static double
delay_of(const struct dlv_group *g)
{
	return (double)(strutil_now_ms() - g->msg->start_ms) / 1000.0;
}

/*
 * A bounce under a cached policy waits for S21's re-check: its line is held
 * and logged only if the bounce stands, so the log never says "bounced" for
 * a recipient that is then deferred.
 */
static void
emit(struct dlv_group *g, enum queue_rcpt_state st, const char *line)
{
	size_t	old, len;

	if (st != QUEUE_RCPT_BOUNCED || !dlv_route_will_recheck(g)) {
		log_info("%s", line);
		return;
	}
	old = g->held_log != NULL ? strlen(g->held_log) : 0;
	len = strlen(line);
	g->held_log = xreallocarray(g->held_log, old + len + 2, 1);
	memcpy(g->held_log + old, line, len);
	memcpy(g->held_log + old + len, "\n", 2);
}

void
dlv_log_release(struct dlv_group *g, int print)
{
	char	*p, *nl;

	if (g->held_log == NULL)
		return;
	for (p = g->held_log; print && (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		*nl = '\0';
		log_info("%s", p);
	}
	free(g->held_log);
	g->held_log = NULL;
}

void
dlv_log_verdict(struct dlv_group *g, const struct dlv_verdict *v)
{
	char	to[TO_MAX] = "", pf[520], line[LINE_MAX_LEN];
	size_t	i;

	if (log_get_level() < LOG_LVL_INFO)
		return;		/* not formatted for nothing */
	for (i = 0; i < g->nrcpts; i++)
		to_add(to, g->rcpts[i]);
	policy_fields(g, pf, sizeof(pf));
	snprintf(line, sizeof(line), "%s: to=%s relay=%s delay=%.2f %s%s%s status=%s (%s)",
	    g->msg->id, to, g->last_relay[0] != '\0' ? g->last_relay : "none", delay_of(g), pf,
	    v->result[0] != '\0' ? " result=" : "", v->result, state_word(v->state), v->text);
	emit(g, v->state, line);
}

static void
log_line(struct dlv_group *g, const struct smtpc_outcome *o, const char *to,
    enum queue_rcpt_state st, const char *text)
{
	char pf[520], line[LINE_MAX_LEN];

	policy_fields(g, pf, sizeof(pf));
	snprintf(line, sizeof(line), "%s: to=%s relay=%s delay=%.2f tls=%s cipher=%s "
	    "verified=%s %s status=%s (%s)",
	    g->msg->id, to, o->relay, delay_of(g), o->tls ? o->tls_version : "none",
	    o->tls ? o->tls_cipher : "-", o->verified ? "yes" : "no", pf, state_word(st), text);
	emit(g, st, line);
}

void
dlv_log_sent(struct dlv_group *g, const struct smtpc_outcome *o, const struct smtpc_result *res)
{
	struct dlv_msg	*m = g->msg;
	char		 to[TO_MAX] = "", one[TO_MAX];
	const char	*sent_text = NULL;
	size_t		 i, ri;

	if (log_get_level() < LOG_LVL_INFO)
		return;		/* not formatted for nothing */
	for (i = 0; i < g->nrcpts && i < res->nrcpts; i++) {
		ri = g->rcpt_idx[i];
		if (m->res[ri].state != QUEUE_RCPT_DELIVERED)
			continue;
		to_add(to, g->rcpts[i]);
		if (sent_text == NULL)
			sent_text = m->reasons[ri];
	}
	if (sent_text != NULL)
		log_line(g, o, to, QUEUE_RCPT_DELIVERED, sent_text);
	for (i = 0; i < g->nrcpts && i < res->nrcpts; i++) {
		ri = g->rcpt_idx[i];
		if (m->res[ri].state == QUEUE_RCPT_DELIVERED)
			continue;
		one[0] = '\0';
		to_add(one, g->rcpts[i]);
		log_line(g, o, one, m->res[ri].state, m->reasons[ri] != NULL ? m->reasons[ri] : "");
	}
}

static void
count_write(struct delivery *d, const struct queue_tls_event *ev, uint64_t n)
{
	enum queue_status st;

	if ((st = queue_tls_count(d->q, ev, n)) != QUEUE_OK)
		log_debug("%s: TLS counter not kept: %s", ev->policy_domain,
		    queue_strstatus(st));
}

void
dlv_log_flush_counts(struct delivery *d)
{
	struct queue_tls_event	 ev;
	struct dlv_tally	*t;
	size_t			 i;

	for (i = 0; i < d->ntally; i++) {
		t = &d->tally[i];
		memset(&ev, 0, sizeof(ev));
		ev.when = t->when;
		ev.policy_domain = t->domain;
		ev.policy_type = t->type;
		ev.mx_host = t->mx;
		ev.result = t->result;
		count_write(d, &ev, t->n);
	}
	d->ntally = 0;
}

/*
 * One more for the counter of ev. Counters are added up in memory and
 * written once this turn of the event loop is over: one transaction for
 * the sessions of a busy moment rather than one each.
 */
static void
count_add(struct delivery *d, const struct queue_tls_event *ev)
{
	struct dlv_tally	*t;
	size_t			 i;

	if (strlen(ev->policy_domain) >= sizeof(t->domain) ||
	    strlen(ev->mx_host) >= sizeof(t->mx) || strlen(ev->result) >= sizeof(t->result)) {
		count_write(d, ev, 1);	/* the queue refuses it or keeps it as it is */
		return;
	}
	for (i = 0; i < d->ntally; i++) {
		t = &d->tally[i];
		if (t->type == ev->policy_type && t->when / 86400 == ev->when / 86400 &&
		    strcmp(t->domain, ev->policy_domain) == 0 &&
		    strcmp(t->mx, ev->mx_host) == 0 && strcmp(t->result, ev->result) == 0) {
			t->n++;
			return;
		}
	}
	if (d->ntally == DLV_TALLY_MAX)
		dlv_log_flush_counts(d);
	t = &d->tally[d->ntally++];
	strutil_lcpy(t->domain, ev->policy_domain, sizeof(t->domain));
	strutil_lcpy(t->mx, ev->mx_host, sizeof(t->mx));
	strutil_lcpy(t->result, ev->result, sizeof(t->result));
	t->type = ev->policy_type;
	t->when = ev->when;
	t->n = 1;
	if (d->ev_tally != NULL && !event_pending(d->ev_tally, EV_TIMEOUT, NULL))
		event_active(d->ev_tally, EV_TIMEOUT, 0);
}

void
dlv_log_count(struct dlv_group *g, const struct smtpc_outcome *o)
{
	struct queue_tls_event	 ev;
	const char		*result = dlv_tls_result(o, g->violation);

	if (result == NULL || g->pol == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.when = time(NULL);
	ev.policy_domain = g->dom->name;
	ev.policy_type = g->pol->mode == POLICY_MODE_ABSENT ? QUEUE_TLS_NO_POLICY : QUEUE_TLS_STS;
	ev.mx_host = o->mx_host;
	ev.result = result;
	count_add(g->d, &ev);
}

/*
 * R2: trouble with the policy itself (a failed fetch, an invalid policy)
 * counts once per delivery, with no MX host: as "sts" when a cached policy
 * still applies, else as "no-policy-found".
 */
void
dlv_log_policy_count(struct dlv_group *g)
{
	struct queue_tls_event	 ev;

	if (g->pol == NULL || g->pol->result_type == NULL || g->pol->result_type[0] == '\0')
		return;
	memset(&ev, 0, sizeof(ev));
	ev.when = time(NULL);
	ev.policy_domain = g->dom->name;
	ev.policy_type = g->pol->source == POLICY_SOURCE_NONE ? QUEUE_TLS_NO_POLICY :
	    QUEUE_TLS_STS;
	ev.mx_host = "";
	ev.result = g->pol->result_type;
	count_add(g->d, &ev);
}
