/*
 * test_policy_cap.c: policy_fetch_concurrency. A burst of lookups of new
 * domains runs at most fetch_concurrency at once, the rest wait in FIFO
 * order, and a lookup of a domain already running or waiting joins it.
 * The policy host is slow: a listener in the test's loop that accepts each
 * connection, says nothing and hangs up HOLD_MS later, counting how many
 * connections are open at once.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "tests/tap.h"
#include "tests/unit/policy_fixture.h"

#define HOLD_MS	800	/* long enough for both slots to fill on a busy machine */
#define NDOM	5
#define CAP	2

struct slow_host {
	struct event_base	*base;
	int			 fd, port;
	struct event		*ev;
	int			 open, open_max, accepted;
};

struct held {
	struct slow_host	*h;
	int			 fd;
	struct event		*ev;
};

static void
on_hold_over(evutil_socket_t fd, short what, void *arg)
{
	struct held	*c = arg;

	close(c->fd);
	c->h->open--;
	event_free(c->ev);
	free(c);
}

static void
on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct slow_host	*h = arg;
	struct timeval		 tv = { 0, HOLD_MS * 1000 };
	struct held		*c;
	int			 s;

	if ((s = accept(fd, NULL, NULL)) == -1)
		return;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	c->h = h;
	c->fd = s;
	if ((c->ev = evtimer_new(h->base, on_hold_over, c)) == NULL)
		abort();
	evtimer_add(c->ev, &tv);
	h->accepted++;
	if (++h->open > h->open_max)
		h->open_max = h->open;
}

static int
slow_host_start(struct slow_host *h, struct event_base *base)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);

	memset(h, 0, sizeof(*h));
	h->base = base;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((h->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(h->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(h->fd, 64) == -1 ||
	    getsockname(h->fd, (struct sockaddr *)&sin, &len) == -1)
		return -1;
	h->port = ntohs(sin.sin_port);
	if ((h->ev = event_new(base, h->fd, EV_READ | EV_PERSIST, on_accept, h)) == NULL ||
	    event_add(h->ev, NULL) == -1)
		return -1;
	return 0;
}

static void
slow_host_stop(struct slow_host *h)
{
	event_free(h->ev);
	close(h->fd);
}

static void
test_cap(struct pfx *fx, struct slow_host *h)
{
	struct policy_params	 pp;
	struct policy_stats	 st;
	struct policy		*p;
	struct pfx_got		 g[NDOM], again_first, again_last;
	char			 dom[NDOM][32];
	int			 started[NDOM], poll, i, n, most = 0, fifo = 1, all = 1;

	pfx_params(fx, &pp);
	pp.policy_port = (unsigned)h->port;
	pp.fetch_concurrency = CAP;
	if ((p = policy_new(fx->base, fx->env, &pp)) == NULL) {
		printf("Bail out! policy_new failed\n");
		exit(1);
	}
	for (i = 0; i < NDOM; i++) {
		snprintf(dom[i], sizeof(dom[i]), "slow%d.test", i);
		pfx_zone(fx, dom[i], "v=STSv1; id=1", "127.0.0.1");
		started[i] = -1;
		(void)pfx_start(fx, p, dom[i], &g[i]);
	}
	/* a lookup of a running domain and one of a waiting domain join them */
	(void)pfx_start(fx, p, dom[0], &again_first);
	(void)pfx_start(fx, p, dom[NDOM - 1], &again_last);

	/* poll: which lookups have sent their TXT query, how many run at once */
	for (poll = 0; poll < 3000 && fx->pending > 0; poll++) {
		pfx_spin(fx, 5);
		for (i = 0, n = 0; i < NDOM; i++) {
			if (started[i] == -1 && pfx_txt_queries(fx, dom[i]) > 0)
				started[i] = poll;
			if (started[i] != -1 && !g[i].done)
				n++;
		}
		if (n > most)
			most = n;
	}
	for (i = 0; i < NDOM; i++) {
		all = all && g[i].done && strcmp(g[i].mode, "absent") == 0 &&
		    strcmp(g[i].type, "sts-policy-fetch-error") == 0;
		if (i > 0 && (started[i] == -1 || started[i] < started[i - 1]))
			fifo = 0;
		diag("%s: TXT sent at poll %d, %s (%s)", dom[i], started[i], g[i].mode,
		    g[i].reason);
	}
	st = pfx_stats(p);
	ok(h->open_max <= CAP, "cap 2: at most 2 fetches in flight at the policy host");
	is_int(h->open_max, CAP, "cap 2: the 2 slots are used at once");
	is_int(h->accepted, NDOM, "cap 2: every domain is fetched once");
	ok(most <= CAP && st.running_max == CAP,
	    "cap 2: at most 2 lookups running at any time");
	ok(all, "cap 2: all 5 lookups complete (S12: a failed fetch, no policy)");
	ok(fifo, "cap 2: waiting lookups start in the order they came (FIFO)");
	is_int((int)st.queued, NDOM - CAP, "cap 2: 3 lookups waited for a slot");
	ok(again_first.done && again_last.done && st.coalesced == 2,
	    "coalescing: lookups of a running and of a waiting domain join them");
	ok(pfx_txt_queries(fx, dom[0]) == 1 && pfx_txt_queries(fx, dom[NDOM - 1]) == 1,
	    "coalescing: one TXT query per domain");
	policy_free(p);
}

/*
 * The S14 refresh of many cached domains whose name servers do not answer
 * must not hold up a lookup somebody waits for: with cap 4, background
 * lookups take at most 3 slots; a lookup joining a queued refresh takes it
 * to the waited-for queue. Every check reads counters updated before the
 * call returns, so none depends on timing (the TXT timeout is 5 s).
 */
#define NBG	6
static void
test_background(struct pfx *fx)
{
	struct policy_params	 pp;
	struct policy_stats	 a, b;
	struct policy		*p;
	struct pfx_got		 g, n1, n2, j[NBG];
	char			 dom[NBG][32];
	int			 i, started, poll;

	pfx_params(fx, &pp);
	pp.fetch_concurrency = 4;
	pp.dns_timeout_ms = 5000;
	if ((p = policy_new(fx->base, fx->env, &pp)) == NULL) {
		printf("Bail out! policy_new failed\n");
		exit(1);
	}
	for (i = 0; i < NBG; i++) {
		snprintf(dom[i], sizeof(dom[i]), "bg%d.test", i);
		pfx_zone(fx, dom[i], "v=STSv1; id=1", "127.0.0.1");
		/*
		 * Polled, not pfx_lookup: a loop exit the polls above left
		 * armed (pfx_spin ended early by the last callback) would end
		 * pfx_run before the lookup is done.
		 */
		(void)pfx_start(fx, p, dom[i], &g);
		for (poll = 0; poll < 4000 && !g.done; poll++)
			pfx_spin(fx, 5);
		if (strcmp(g.mode, "enforce") != 0)
			diag("%s: %s (%s)", dom[i], g.mode, g.reason);
	}
	for (i = 0; i < NBG; i++)
		pfx_txt(fx, dom[i], DNS_DROP);
	pfx_txt(fx, "new1.test", DNS_NXDOMAIN);
	pfx_txt(fx, "new2.test", DNS_NXDOMAIN);

	a = pfx_stats(p);
	started = policy_refresh(p);
	b = pfx_stats(p);
	is_int(started, NBG, "S14: a refresh of each of the 6 cached policies");
	ok(b.txt_queries - a.txt_queries == 3 && b.queued - a.queued == 3,
	    "cap 4: background lookups take 3 slots, the other 3 wait");

	a = b;
	(void)pfx_start(fx, p, "new1.test", &n1);
	b = pfx_stats(p);
	ok(b.txt_queries - a.txt_queries == 1 && b.queued == a.queued,
	    "a lookup for mail to a new domain runs at once beside the refresh burst");
	(void)pfx_start(fx, p, "new2.test", &n2);
	for (poll = 0; poll < 2000 && !(n1.done && n2.done); poll++)
		pfx_spin(fx, 5);
	b = pfx_stats(p);
	ok(n1.done && n2.done && b.txt_tempfails == 0,
	    "a second one waits only for the first, never behind queued refreshes");

	a = b;
	for (i = 0; i < NBG; i++)
		(void)pfx_start(fx, p, dom[i], &j[i]);
	b = pfx_stats(p);
	ok(b.coalesced - a.coalesced == NBG && b.txt_queries - a.txt_queries == 1,
	    "lookups join the refreshes; one waiting refresh, now waited for, runs at once");
	policy_free(p);
	fx->pending = 0;	/* the refreshes' callers were dropped with the engine */
}

/* A queued lookup that is dropped by policy_free costs nothing. */
static void
test_free_queued(struct pfx *fx, struct slow_host *h)
{
	struct policy_params	 pp;
	struct policy		*p;
	struct pfx_got		 g[4];
	int			 i;

	pfx_params(fx, &pp);
	pp.policy_port = (unsigned)h->port;
	pp.fetch_concurrency = 1;
	if ((p = policy_new(fx->base, fx->env, &pp)) == NULL) {
		printf("Bail out! policy_new failed\n");
		exit(1);
	}
	pfx_txt(fx, "held1.test", DNS_DROP);	/* never answered */
	pfx_txt(fx, "held2.test", DNS_DROP);
	for (i = 0; i < 4; i++) {
		memset(&g[i], 0, sizeof(g[i]));
		(void)policy_lookup(p, i % 2 ? "held1.test" : "held2.test",
		    pfx_on_result, &g[i]);
	}
	pfx_spin(fx, 20);
	policy_free(p);
	ok(!g[0].done && !g[1].done && !g[2].done && !g[3].done,
	    "policy_free drops running and waiting lookups without their callbacks");
}

int
main(void)
{
	struct pfx		fx;
	struct slow_host	h;
	int			rc;

	if ((rc = pfx_setup(&fx, "test_policy_cap",
	    "mta-sts.d.test mta-sts.bg0.test mta-sts.bg1.test mta-sts.bg2.test "
	    "mta-sts.bg3.test mta-sts.bg4.test mta-sts.bg5.test")) != 0)
		return rc == 1 ? tap_done() : 1;
	if (slow_host_start(&h, fx.base) == -1) {
		printf("Bail out! cannot listen on 127.0.0.1\n");
		return 1;
	}
	test_cap(&fx, &h);
	test_free_queued(&fx, &h);
	test_background(&fx);
	slow_host_stop(&h);
	pfx_teardown(&fx);
	return tap_done();
}
