/*
 * delivery.c: the scheduler of the delivery orchestrator. Due messages are
 * taken from the queue (at most DLV_INTAKE x concurrency in memory), their
 * recipients to try are grouped by domain (S1), and the groups run under a
 * global and a per-domain limit, round robin over the domains, so that a
 * slow or dead domain holds only its own share. When every group of a
 * message is over, its results go to the queue in one attempt.
 *
 * Messages held in memory are bounded too: a domain where nothing has been
 * done for DLV_SLOW_MS (a tarpit that accepts connections and never
 * answers) keeps only per_domain deliveries waiting; the others are
 * deferred without an attempt, so that such a domain never fills the
 * memory meant for all of them. A timer looks every DLV_TICK_MS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/delivery_int.h"

#define TAKE_BATCH	64

static const char *const gstate_names[DLV_G_COUNT] = {
	"wait", "policy", "mx", "addr", "connect", "send", "recheck", "done"
};

const char *
dlv_strstate(enum dlv_gstate s)
{
	if ((unsigned)s >= DLV_G_COUNT)
		fatalx("dlv_strstate: bad state %d", (int)s);
	return gstate_names[s];
}

void
dlv_transition(struct dlv_group *g, enum dlv_gstate to)
{
	if ((unsigned)to >= DLV_G_COUNT)
		fatalx("dlv_transition: bad state %d", (int)to);
	log_debug("%s: %s: %s -> %s", g->msg->id, g->dom->name, dlv_strstate(g->state),
	    dlv_strstate(to));
	g->state = to;
}

/*
 * The bucket of a domain name (FNV-1a). The intake can hold messages for
 * thousands of domains: a walk of the list per message cost their number.
 */
static struct dlv_domain **
domain_bucket(struct delivery *d, const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name != '\0'; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return &d->dom_hash[h % DLV_DOM_HASH];
}

struct dlv_domain *
dlv_domain_find(struct delivery *d, const char *name)
{
	struct dlv_domain *dom;

	for (dom = *domain_bucket(d, name); dom != NULL; dom = dom->hnext)
		if (strcmp(dom->name, name) == 0)
			return dom;
	return NULL;
}

static struct dlv_domain *
domain_get(struct delivery *d, const char *name)
{
	struct dlv_domain **b, *dom;

	if ((dom = dlv_domain_find(d, name)) != NULL)
		return dom;
	dom = xcalloc(1, sizeof(*dom));
	dom->progress_ms = strutil_now_ms();
	strutil_lcpy(dom->name, name, sizeof(dom->name));
	TAILQ_INIT(&dom->waiting);
	TAILQ_INSERT_TAIL(&d->domains, dom, entry);
	b = domain_bucket(d, dom->name);
	dom->hnext = *b;
	*b = dom;
	return dom;
}

static void
domain_put(struct delivery *d, struct dlv_domain *dom)
{
	struct dlv_domain **p;

	if (dom->active > 0 || dom->nwaiting > 0)
		return;
	for (p = domain_bucket(d, dom->name); *p != dom; p = &(*p)->hnext)
		if (*p == NULL)
			fatalx("domain_put: %s not in its bucket", dom->name);
	*p = dom->hnext;
	TAILQ_REMOVE(&d->domains, dom, entry);
	free(dom);
}

static void
kick(struct delivery *d)
{
	if (!d->stopping)
		event_active(d->ev_pump, EV_TIMEOUT, 0);
}

/* dom may start one more group now? */
static int
can_start(const struct delivery *d, const struct dlv_domain *dom)
{
	return d->active < d->p.concurrency && dom->nwaiting > 0 &&
	    dom->active < d->p.per_domain;
}

/* The first waiting group of dom starts (its route may finish at once). */
static void
start_one(struct delivery *d, struct dlv_domain *dom)
{
	struct dlv_group *g;

	g = TAILQ_FIRST(&dom->waiting);
	TAILQ_REMOVE(&dom->waiting, g, entry);
	dom->nwaiting--;
	dom->active++;
	d->active++;
	d->st.attempts++;
	g->start_ms = strutil_now_ms();
	TAILQ_REMOVE(&d->domains, dom, entry);	/* fairness */
	TAILQ_INSERT_TAIL(&d->domains, dom, entry);
	dlv_route_start(g);
}

/*
 * Connection reuse comes first: a domain that has a connection kept idle
 * and groups waiting starts the next one on it, up to DLV_REUSE_BURST in a
 * row and for DLV_REUSE_MS at most (a slow server must not keep the others
 * waiting long). Without this, with more domains at work than kept
 * connections, the round robin came back to a domain only after its
 * connection had been closed for others: 1.8 messages per TLS handshake
 * with 200 domains. The names are copied first so that the walk does not
 * depend on the idle list staying as it is while groups start (routes
 * answer from the loop today, never inside dlv_route_start).
 */
static void
schedule_reuse(struct delivery *d)
{
	struct dlv_idle		*di;
	struct dlv_domain	*dom;
	char			(*names)[DLV_DOMAIN_MAX];
	size_t			 n = 0, i;
	uint64_t		 now;

	if (d->st.sessions_idle == 0)
		return;
	now = strutil_now_ms();
	names = xreallocarray(NULL, d->st.sessions_idle, sizeof(*names));
	TAILQ_FOREACH_REVERSE(di, &d->idle, dlv_idle_head, entry)
		if (n < d->st.sessions_idle)
			memcpy(names[n++], di->domain, sizeof(names[0]));
	for (i = 0; i < n && d->active < d->p.concurrency; i++) {
		if ((dom = dlv_domain_find(d, names[i])) == NULL || !can_start(d, dom) ||
		    dom->streak >= DLV_REUSE_BURST ||
		    (dom->streak > 0 && now - dom->streak_ms >= DLV_REUSE_MS))
			continue;
		if (dom->streak++ == 0)
			dom->streak_ms = now;
		start_one(d, dom);
	}
	free(names);
}

/* Start waiting groups, round robin over the domains, within the limits. */
static void
schedule(struct delivery *d)
{
	struct dlv_domain	*dom, *next;
	int			 started = 1;

	schedule_reuse(d);
	while (started && d->active < d->p.concurrency) {
		started = 0;
		for (dom = TAILQ_FIRST(&d->domains); dom != NULL; dom = next) {
			next = TAILQ_NEXT(dom, entry);
			if (d->active >= d->p.concurrency)
				break;
			if (!can_start(d, dom))
				continue;
			dom->streak = 0;
			started = 1;
			start_one(d, dom);
		}
	}
}

static void
group_free(struct dlv_group *g)
{
	dlv_attempt_cancel(g);
	dlv_log_release(g, 0);
	policy_result_free(g->pol);
	free(g->rcpt_idx);
	free(g->rcpts);
	free(g);
}

static void
msg_free(struct delivery *d, struct dlv_msg *m)
{
	size_t i;

	TAILQ_REMOVE(&d->msgs, m, entry);
	d->nmsgs--;
	for (i = 0; i < m->ngroups; i++)
		group_free(m->groups[i]);
	free(m->groups);
	if (m->info != NULL) {
		for (i = 0; i < m->info->nrcpts; i++) {
			free(m->reasons[i]);
			free(m->remotes[i]);
		}
		queue_info_free(m->info);
	}
	free(m->reasons);
	free(m->remotes);
	free(m->res);
	free(m->recorded);
	if (m->body != NULL)
		evbuffer_free(m->body);
	free(m);
}

/* Every group is over: one attempt in the queue. */
static void
msg_finish(struct delivery *d, struct dlv_msg *m)
{
	struct queue_rcpt_result	*out;
	enum queue_status		 st;
	size_t				 i, n = 0;

	out = xreallocarray(NULL, m->info->nrcpts + 1, sizeof(*out));
	for (i = 0; i < m->info->nrcpts; i++) {
		if (m->res[i].state == QUEUE_RCPT_PENDING || m->recorded[i])
			continue;
		out[n] = m->res[i];
		out[n].reason = m->reasons[i];
		out[n].remote_mta = m->remotes[i];
		switch (out[n].state) {
		case QUEUE_RCPT_DELIVERED:
			d->st.delivered++;
			break;
		case QUEUE_RCPT_DEFERRED:
			d->st.deferred++;
			break;
		default:
			d->st.bounced++;
			break;
		}
		n++;
	}
	st = queue_record_attempt(d->q, m->id, out, n, time(NULL));
	if (st != QUEUE_OK && st != QUEUE_ENOENT)	/* ENOENT: deleted, logged there */
		log_warnx("%s: cannot record the attempt: %s", m->id, queue_strstatus(st));
	d->st.messages++;
	free(out);
	msg_free(d, m);
}

/*
 * A group is over while others of its message go on (a slow domain): its
 * delivered recipients go to the spool now, so a crash before the message's
 * attempt ends does not deliver them again.
 */
static void
record_delivered(struct delivery *d, struct dlv_msg *m, struct dlv_group *g)
{
	struct queue_rcpt_result	*out;
	enum queue_status		 st;
	size_t				 i, r, n = 0;

	out = xreallocarray(NULL, g->nrcpts + 1, sizeof(*out));
	for (i = 0; i < g->nrcpts; i++) {
		r = g->rcpt_idx[i];
		if (m->res[r].state != QUEUE_RCPT_DELIVERED || m->recorded[r])
			continue;
		out[n] = m->res[r];
		out[n].reason = m->reasons[r];
		out[n].remote_mta = m->remotes[r];
		n++;
	}
	if (n > 0 && (st = queue_record_delivered(d->q, m->id, out, n)) == QUEUE_OK) {
		for (i = 0; i < g->nrcpts; i++) {
			r = g->rcpt_idx[i];
			if (m->res[r].state == QUEUE_RCPT_DELIVERED && !m->recorded[r]) {
				m->recorded[r] = 1;
				d->st.delivered++;
			}
		}
	}
	/* otherwise (deleted, storage trouble) they go with the attempt */
	free(out);
}

void
dlv_group_done(struct dlv_group *g)
{
	struct delivery		*d = g->d;
	struct dlv_msg		*m = g->msg;
	struct dlv_domain	*dom = g->dom;

	if (m->left > 1)
		record_delivered(d, m, g);
	dlv_attempt_cancel(g);
	dlv_transition(g, DLV_G_DONE);
	dom->progress_ms = strutil_now_ms();
	dom->active--;
	d->active--;
	g->dom = NULL;
	domain_put(d, dom);
	if (--m->left == 0)
		msg_finish(d, m);
	kick(d);
}

/* A waiting group of dom takes v without an attempt. */
static void
defer_waiting(struct delivery *d, struct dlv_domain *dom, struct dlv_group *w,
    const struct dlv_verdict *v)
{
	TAILQ_REMOVE(&dom->waiting, w, entry);
	dom->nwaiting--;
	dom->active++;
	d->active++;
	w->start_ms = strutil_now_ms();
	dlv_set_all(w, v, NULL);
	dlv_log_verdict(w, v);
	dlv_group_done(w);
}

/*
 * The group failed as a whole before any server took a recipient: the
 * groups of the same domain waiting behind it would meet the same fate, so
 * they are deferred at once with the same reason (a dead domain does not
 * keep messages in memory for its timeouts).
 */
void
dlv_fail_backlog(struct dlv_group *g, const struct dlv_verdict *v)
{
	struct delivery		*d = g->d;
	struct dlv_domain	*dom = g->dom;
	struct dlv_group	*w;

	if (v->state != QUEUE_RCPT_DEFERRED)
		return;
	while ((w = TAILQ_FIRST(&dom->waiting)) != NULL)
		defer_waiting(d, dom, w, v);
}

/*
 * A domain where nothing has been done for DLV_SLOW_MS keeps per_domain
 * deliveries waiting (the oldest); the others are deferred now.
 */
static void
shed_slow(struct delivery *d)
{
	struct dlv_domain	*dom;
	struct dlv_group	*w;
	struct dlv_verdict	 v;
	uint64_t		 now = strutil_now_ms();

	TAILQ_FOREACH(dom, &d->domains, entry) {
		if (dom->active == 0 || dom->nwaiting <= d->p.per_domain ||
		    now - dom->progress_ms < DLV_SLOW_MS)
			continue;
		memset(&v, 0, sizeof(v));
		v.state = QUEUE_RCPT_DEFERRED;
		snprintf(v.text, sizeof(v.text), "4.4.5 no delivery to %s done for %u s, "
		    "not tried now", dom->name, DLV_SLOW_MS / 1000);
		log_info("%s: stuck for %u s: deferring %zu waiting deliveries", dom->name,
		    DLV_SLOW_MS / 1000, dom->nwaiting - d->p.per_domain);
		while (dom->nwaiting > d->p.per_domain) {
			w = TAILQ_LAST(&dom->waiting, dlv_group_head);
			defer_waiting(d, dom, w, &v);
		}
	}
}

void
dlv_set_rcpt(struct dlv_group *g, size_t i, enum queue_rcpt_state state, const char *text,
    const char *remote)
{
	struct dlv_msg	*m = g->msg;
	size_t		 r = g->rcpt_idx[i];
	char		*t, *rm;

	/* copies first: text or remote may be the recipient's current ones */
	t = text != NULL ? xstrdup(text) : NULL;
	rm = remote != NULL && remote[0] != '\0' ? xstrdup(remote) : NULL;
	m->res[r].rcpt = r;
	m->res[r].state = state;
	free(m->reasons[r]);
	free(m->remotes[r]);
	m->reasons[r] = t;
	m->remotes[r] = rm;
}

void
dlv_set_all(struct dlv_group *g, const struct dlv_verdict *v, const char *remote)
{
	size_t i;

	for (i = 0; i < g->nrcpts; i++)
		dlv_set_rcpt(g, i, v->state, v->text, remote);
}

struct evbuffer *
dlv_body(struct dlv_group *g)
{
	struct dlv_msg		*m = g->msg;
	enum queue_status	 st;

	if (m->body != NULL)
		return m->body;
	if ((m->body = evbuffer_new()) == NULL)
		fatalx("dlv_body: evbuffer_new failed");
	if ((st = queue_body(g->d->q, m->id, m->body)) != QUEUE_OK) {
		log_warnx("%s: cannot read the body: %s", m->id, queue_strstatus(st));
		evbuffer_free(m->body);
		m->body = NULL;
	}
	return m->body;
}

static struct dlv_group *
group_new(struct delivery *d, struct dlv_msg *m, const struct dlv_split *sp, size_t gi)
{
	struct dlv_group	*g = xcalloc(1, sizeof(*g));
	size_t			 i;

	g->d = d;
	g->msg = m;
	g->rcpt_idx = xreallocarray(NULL, m->info->nrcpts, sizeof(*g->rcpt_idx));
	g->rcpts = xreallocarray(NULL, m->info->nrcpts, sizeof(*g->rcpts));
	for (i = 0; i < m->info->nrcpts; i++) {
		if (sp->group_of[i] != gi)
			continue;
		g->rcpt_idx[g->nrcpts] = i;
		g->rcpts[g->nrcpts++] = m->info->rcpts[i].addr;
	}
	g->dom = domain_get(d, sp->domains[gi]);
	TAILQ_INSERT_TAIL(&g->dom->waiting, g, entry);
	g->dom->nwaiting++;
	g->smsg.sender = m->info->sender;
	g->smsg.rcpts = g->rcpts;
	g->smsg.nrcpts = g->nrcpts;
	g->smsg.size = m->info->size;
	g->smsg.id = m->id;
	if (m->info->flags & QUEUE_F_8BITMIME)
		g->smsg.flags |= SMTPC_MSG_8BIT;
	if (m->info->flags & QUEUE_F_SMTPUTF8)
		g->smsg.flags |= SMTPC_MSG_SMTPUTF8;
	return g;
}

/* The recipients to try now: pending or deferred. */
static unsigned char *
msg_todo(const struct queue_msg_info *info)
{
	unsigned char	*todo = xcalloc(info->nrcpts + 1, 1);
	size_t		 i;

	for (i = 0; i < info->nrcpts; i++)
		todo[i] = info->rcpts[i].state == QUEUE_RCPT_PENDING ||
		    info->rcpts[i].state == QUEUE_RCPT_DEFERRED;
	return todo;
}

static void
msg_load(struct delivery *d, const char *id)
{
	struct queue_msg_info	*info;
	struct dlv_msg		*m;
	struct dlv_split	 sp;
	const char		**addrs;
	unsigned char		*todo;
	enum queue_status	 st;
	size_t			 i, n;

	if ((st = queue_info(d->q, id, &info)) != QUEUE_OK) {
		if (st == QUEUE_ENOENT)
			queue_record_attempt(d->q, id, NULL, 0, time(NULL));
		else if (queue_release_claim(d->q, id) != QUEUE_OK)
			log_warnx("%s: cannot give the claim back", id);
		log_warnx("%s: cannot read the message: %s", id, queue_strstatus(st));
		return;
	}
	m = xcalloc(1, sizeof(*m));
	m->d = d;
	m->info = info;
	m->start_ms = strutil_now_ms();
	strutil_lcpy(m->id, id, sizeof(m->id));
	n = info->nrcpts + 1;
	m->res = xcalloc(n, sizeof(*m->res));
	m->recorded = xcalloc(n, sizeof(*m->recorded));
	m->reasons = xcalloc(n, sizeof(*m->reasons));
	m->remotes = xcalloc(n, sizeof(*m->remotes));
	TAILQ_INSERT_TAIL(&d->msgs, m, entry);
	d->nmsgs++;
	todo = msg_todo(info);
	addrs = xreallocarray(NULL, n, sizeof(*addrs));
	for (i = 0; i < info->nrcpts; i++)
		addrs[i] = info->rcpts[i].addr;
	dlv_split(&sp, addrs, todo, info->nrcpts);
	free(addrs);
	for (i = 0; i < info->nrcpts; i++)
		if (todo[i] && sp.group_of[i] == DLV_NO_GROUP) {
			m->res[i].rcpt = i;
			m->res[i].state = QUEUE_RCPT_BOUNCED;
			m->reasons[i] = xstrdup("5.1.3 bad recipient address syntax");
			log_info("%s: to=<%s> status=bounced (5.1.3 bad recipient address "
			    "syntax)", id, info->rcpts[i].addr);
		}
	free(todo);
	m->ngroups = m->left = sp.ngroups;
	m->groups = xcalloc(sp.ngroups + 1, sizeof(*m->groups));
	for (i = 0; i < sp.ngroups; i++)
		m->groups[i] = group_new(d, m, &sp, i);
	dlv_split_free(&sp);
	if (m->ngroups == 0)
		msg_finish(d, m);
}

/*
 * Take due messages while there is room in memory. A nearly full intake
 * waits until a quarter of it is free: each take walks the schedule past
 * the messages already claimed, so taking one at a time would cost the
 * square of the intake.
 */
static void
pump(struct delivery *d)
{
	char	ids[TAKE_BATCH][QUEUE_ID_MAX];
	size_t	max = d->p.concurrency * DLV_INTAKE, room, n, i;

	shed_slow(d);
	if (d->nmsgs > 0 && max - d->nmsgs < max / 4) {
		schedule(d);
		return;
	}
	while (!d->stopping && d->nmsgs < max) {
		room = max - d->nmsgs;
		if (room > TAKE_BATCH)
			room = TAKE_BATCH;
		n = queue_take_due(d->q, time(NULL), ids, room);
		for (i = 0; i < n; i++)
			msg_load(d, ids[i]);
		schedule(d);
		if (n < room)
			break;
	}
	schedule(d);
}

static void
dlv_on_pump(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pump(arg);
}

static void
dlv_on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pump(arg);
}

static void
dlv_on_tally(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dlv_log_flush_counts(arg);
}

static void
dlv_on_ready(void *arg)
{
	pump(arg);
}

struct delivery *
delivery_new(struct event_base *base, struct queue *q, struct policy *pol,
    struct tls_client *tls, const struct delivery_params *p)
{
	struct delivery	*d = xcalloc(1, sizeof(*d));
	struct timeval	 tv;
	size_t		 i;

	d->base = base;
	d->q = q;
	d->pol = pol;
	d->res = policy_resolver(pol);
	d->tls = tls;
	d->p = *p;
	if (d->p.port == 0)
		d->p.port = 25;
	if (d->p.concurrency == 0)
		d->p.concurrency = 100;
	if (d->p.per_domain == 0)
		d->p.per_domain = 10;
	smtpc_params_default(&d->sp);
	d->sp.helo_name = d->p.helo_name;
	if (d->p.timeout_ms != 0)
		for (i = 0; i < SMTPC_TO_COUNT; i++)
			d->sp.timeout_ms[i] = d->p.timeout_ms;
	/* our idle timer closes kept connections; the client's must not first */
	d->sp.timeout_ms[SMTPC_TO_IDLE] = d->p.idle_ms + 60 * 1000;
	TAILQ_INIT(&d->msgs);
	TAILQ_INIT(&d->domains);
	TAILQ_INIT(&d->idle);
	TAILQ_INIT(&d->dns);
	if ((d->ev_pump = event_new(base, -1, 0, dlv_on_pump, d)) == NULL ||
	    (d->ev_tick = event_new(base, -1, EV_PERSIST, dlv_on_tick, d)) == NULL ||
	    (d->ev_tally = event_new(base, -1, 0, dlv_on_tally, d)) == NULL)
		fatalx("delivery_new: event_new failed");
	tv.tv_sec = DLV_TICK_MS / 1000;
	tv.tv_usec = (DLV_TICK_MS % 1000) * 1000;
	if (event_add(d->ev_tick, &tv) == -1)
		fatalx("delivery_new: event_add failed");
	queue_set_on_ready(q, dlv_on_ready, d);
	return d;
}

void
delivery_free(struct delivery *d)
{
	struct dlv_msg		*m;
	struct dlv_domain	*dom;

	if (d == NULL)
		return;
	d->stopping = 1;
	queue_set_on_ready(d->q, NULL, NULL);
	while ((m = TAILQ_FIRST(&d->msgs)) != NULL) {
		if (queue_release_claim(d->q, m->id) != QUEUE_OK)
			log_debug("%s: no claim to give back", m->id);
		msg_free(d, m);
	}
	while ((dom = TAILQ_FIRST(&d->domains)) != NULL) {
		TAILQ_REMOVE(&d->domains, dom, entry);
		free(dom);
	}
	dlv_attempt_free_idle(d);
	dlv_dns_free(d);
	dlv_log_flush_counts(d);	/* failures of the sessions just closed included */
	event_free(d->ev_pump);
	event_free(d->ev_tick);
	event_free(d->ev_tally);
	free(d);
}

void
delivery_stats(const struct delivery *d, struct delivery_stats *st)
{
	*st = d->st;
	st->in_flight = d->nmsgs;
	st->groups_active = d->active;
}
