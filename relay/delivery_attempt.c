/*
 * delivery_attempt.c: one recipient group at the addresses of its
 * candidates, in order. The TLS mode comes from the policy (S27-S29); in
 * testing mode and without a policy a failed handshake is retried in
 * plaintext at the same address (Ours, S28), never in enforce mode. A
 * session that fails before the message goes moves on to the next address,
 * then the next MX host. After a transaction a usable connection is kept
 * idle for delivery_idle_timeout and handed to the next group bound for the
 * same MX host, address and TLS mode.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/delivery_int.h"

static void	attempt_on_ready(struct smtpc_session *, const struct smtpc_outcome *, void *);

static void
idle_free(struct dlv_idle *di, int polite)
{
	struct delivery *d = di->d;

	TAILQ_REMOVE(&d->idle, di, entry);
	d->st.sessions_idle--;
	d->st.sessions_open--;
	if (polite)
		smtpc_quit(di->s);
	else
		smtpc_free(di->s);
	event_free(di->timer);
	free(di);
}

static void
idle_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct dlv_idle *di = arg;

	(void)fd;
	(void)what;
	log_debug("%s[%s]: idle connection closed", di->mx, smtpc_outcome(di->s)->addr);
	idle_free(di, 1);
}

/*
 * The kept connection to close for a new one: the oldest of a domain with
 * no work left, else the oldest of a domain with nothing waiting now, else
 * the oldest.
 */
static struct dlv_idle *
idle_victim(struct delivery *d)
{
	struct dlv_idle		*di, *idle_dom = NULL;
	struct dlv_domain	*dom;

	TAILQ_FOREACH(di, &d->idle, entry) {
		if ((dom = dlv_domain_find(d, di->domain)) == NULL)
			return di;
		if (idle_dom == NULL && dom->nwaiting == 0)
			idle_dom = di;
	}
	return idle_dom != NULL ? idle_dom : TAILQ_FIRST(&d->idle);
}

static void
idle_put(struct dlv_group *g, struct smtpc_session *s)
{
	struct delivery	*d = g->d;
	struct dlv_idle	*di;
	struct timeval	 tv;

	if (d->stopping || d->p.idle_ms == 0 || !smtpc_usable(s)) {
		d->st.sessions_open--;
		smtpc_quit(s);
		return;
	}
	if (d->st.sessions_idle >= d->p.concurrency)
		idle_free(idle_victim(d), 1);
	di = xcalloc(1, sizeof(*di));
	di->d = d;
	di->s = s;
	strutil_lcpy(di->mx, g->cands[g->cand].host, sizeof(di->mx));
	strutil_lcpy(di->domain, g->dom != NULL ? g->dom->name : "", sizeof(di->domain));
	di->addr = g->addrs[g->addr];
	di->mode = g->want;
	strutil_lcpy(di->violation, g->violation, sizeof(di->violation));
	if ((di->timer = evtimer_new(d->base, idle_on_timeout, di)) == NULL)
		fatalx("idle_put: evtimer_new failed");
	tv.tv_sec = d->p.idle_ms / 1000;
	tv.tv_usec = (d->p.idle_ms % 1000) * 1000;
	if (evtimer_add(di->timer, &tv) == -1)
		fatalx("idle_put: evtimer_add failed");
	TAILQ_INSERT_TAIL(&d->idle, di, entry);
	d->st.sessions_idle++;
}

/* An idle connection for this host, address and mode (the newest first). */
static struct smtpc_session *
idle_take(struct dlv_group *g)
{
	struct delivery		*d = g->d;
	struct dlv_idle		*di, *prev;
	const struct dlv_addr	*a = &g->addrs[g->addr];
	struct smtpc_session	*s;

	for (di = TAILQ_LAST(&d->idle, dlv_idle_head); di != NULL; di = prev) {
		prev = TAILQ_PREV(di, dlv_idle_head, entry);
		if (di->mode != g->want || strcmp(di->mx, g->cands[g->cand].host) != 0 ||
		    di->addr.len != a->len || memcmp(&di->addr.ss, &a->ss, a->len) != 0)
			continue;
		if (!smtpc_usable(di->s)) {
			idle_free(di, 0);
			continue;
		}
		s = di->s;
		if (g->violation[0] == '\0')
			strutil_lcpy(g->violation, di->violation, sizeof(g->violation));
		TAILQ_REMOVE(&d->idle, di, entry);
		d->st.sessions_idle--;
		event_free(di->timer);
		free(di);
		return s;
	}
	return NULL;
}

void
dlv_attempt_free_idle(struct delivery *d)
{
	while (!TAILQ_EMPTY(&d->idle))
		idle_free(TAILQ_FIRST(&d->idle), 0);
}

void
dlv_attempt_cancel(struct dlv_group *g)
{
	if (g->sess == NULL)
		return;
	smtpc_free(g->sess);
	g->sess = NULL;
	g->d->st.sessions_open--;
}

static void
attempt_connect(struct dlv_group *g, enum smtpc_tls_mode mode)
{
	struct delivery		*d = g->d;
	const struct dlv_addr	*a = &g->addrs[g->addr];

	dlv_transition(g, DLV_G_CONNECT);
	g->mode = mode;
	d->st.connections++;
	d->st.sessions_open++;
	g->sess = smtpc_connect(d->base, mode == SMTPC_TLS_PLAINTEXT ? NULL : d->tls, &d->sp,
	    (const struct sockaddr *)&a->ss, a->len, g->cands[g->cand].host, mode,
	    attempt_on_ready, g);
}

/* "mx1.d.test[127.0.0.2]" for the queue's Remote-MTA. */
static void
remote_of(const struct smtpc_outcome *o, char *buf, size_t len)
{
	char *p;

	strutil_lcpy(buf, o->relay, len);
	if ((p = strrchr(buf, ']')) != NULL)
		p[1] = '\0';
}

static void
attempt_on_sent(struct smtpc_session *s, const struct smtpc_result *res, void *arg)
{
	struct dlv_group		*g = arg;
	struct delivery			*d = g->d;
	const struct smtpc_outcome	*o = smtpc_outcome(s);
	char				 text[DLV_TEXT_MAX], remote[340];
	size_t				 i;

	d->st.transactions++;
	if (o->tls)
		d->st.tls_transactions++;
	remote_of(o, remote, sizeof(remote));
	for (i = 0; i < g->nrcpts && i < res->nrcpts; i++) {
		smtpc_status_format(&res->rcpts[i].status, text, sizeof(text));
		dlv_set_rcpt(g, i, dlv_rcpt_state(&res->rcpts[i].status), text, remote);
	}
	/* a plaintext retry was counted with its failed handshake */
	if (g->mode != SMTPC_TLS_PLAINTEXT)
		dlv_log_count(g, o);
	dlv_log_sent(g, o, res);
	g->sess = NULL;
	idle_put(g, s);
	dlv_route_finish(g);
}

/* reused: the session came from the idle connections, not just made. */
static void
attempt_send(struct dlv_group *g, int reused)
{
	struct dlv_verdict v;

	dlv_transition(g, DLV_G_SEND);
	if ((g->smsg.body = dlv_body(g)) == NULL) {
		memset(&v, 0, sizeof(v));
		v.state = QUEUE_RCPT_DEFERRED;
		strutil_lcpy(v.text, "4.3.0 cannot read the message from the spool",
		    sizeof(v.text));
		idle_put(g, g->sess);
		g->sess = NULL;
		dlv_set_all(g, &v, NULL);
		dlv_log_verdict(g, &v);
		dlv_route_finish(g);
		return;
	}
	if (smtpc_send(g->sess, &g->smsg, attempt_on_sent, g) == -1) {
		dlv_attempt_cancel(g);
		if (reused) {	/* a kept connection that went away meanwhile */
			attempt_connect(g, g->want);
			return;
		}
		/* a session just made refuses: the next address, never a loop */
		log_warnx("%s: the SMTP client refused to send on a new session", g->msg->id);
		memset(&g->last, 0, sizeof(g->last));
		g->last.state = QUEUE_RCPT_DEFERRED;
		strutil_lcpy(g->last.text, "4.3.0 the SMTP client could not send the message",
		    sizeof(g->last.text));
		g->addr++;
		dlv_attempt_next(g);
	}
}

/* The session failed before the message could go. */
static void
attempt_failed(struct dlv_group *g, struct smtpc_session *s, const struct smtpc_outcome *o)
{
	struct delivery	*d = g->d;
	int		 retry = dlv_retry_plaintext(o, g->pol->mode);

	dlv_log_count(g, o);
	if (g->want == SMTPC_TLS_TESTING && o->tls_result != TLS_CLIENT_OK &&
	    g->violation[0] == '\0')
		strutil_lcpy(g->violation, tls_client_result_name(o->tls_result),
		    sizeof(g->violation));
	g->sess = NULL;
	d->st.sessions_open--;
	if (o->status.code != 0)
		g->contacted = 1;
	dlv_session_verdict(o, &g->last);
	strutil_lcpy(g->last_relay, o->relay, sizeof(g->last_relay));
	log_info("%s: relay=%s mode=%s failed: %s%s", g->msg->id, o->relay,
	    smtpc_mode_name(o->mode), g->last.text, retry ? "; again without TLS" : "");
	smtpc_free(s);
	if (retry) {
		attempt_connect(g, SMTPC_TLS_PLAINTEXT);
		return;
	}
	g->addr++;
	dlv_attempt_next(g);
}

static void
attempt_on_ready(struct smtpc_session *s, const struct smtpc_outcome *o, void *arg)
{
	struct dlv_group *g = arg;

	if (o->status.kind != SMTPC_OK) {
		attempt_failed(g, s, o);
		return;
	}
	if (o->tls)
		g->d->st.handshakes++;
	if (g->want == SMTPC_TLS_TESTING && !o->verified && g->violation[0] == '\0') {
		strutil_lcpy(g->violation, o->tls_result != TLS_CLIENT_OK ?
		    tls_client_result_name(o->tls_result) : "validation-failure",
		    sizeof(g->violation));
		log_info("%s: relay=%s policy violation %s (%s), testing mode: delivering anyway",
		    g->msg->id, o->relay, g->violation, o->tls_detail);
	}
	attempt_send(g, 0);
}

void
dlv_attempt_next(struct dlv_group *g)
{
	const struct dlv_cand *c;

	if (g->addr >= g->naddrs) {
		dlv_route_next_host(g);
		return;
	}
	c = &g->cands[g->cand];
	g->want = dlv_tls_mode(g->pol->mode);
	g->violation[0] = '\0';
	if (!c->matches && g->pol->mode == POLICY_MODE_TESTING) {
		/* S28: deliver anyway, report it */
		strutil_lcpy(g->violation, "validation-failure", sizeof(g->violation));
		log_info("%s: policy violation: MX %s is not in the MTA-STS policy of %s, "
		    "testing mode: delivering anyway", g->msg->id, c->host, g->dom->name);
	}
	if ((g->sess = idle_take(g)) != NULL) {
		g->d->st.reused++;
		g->mode = g->want;
		attempt_send(g, 1);
		return;
	}
	attempt_connect(g, g->want);
}
