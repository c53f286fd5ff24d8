/*
 * test_policy_race.c: a lookup's writes to policy.db never undo what
 * happened to the record while it ran. A lookup's fetch goes to a policy
 * host that holds the connection (a listener on 127.0.0.2, the fixture's
 * port) until the test hangs up; meanwhile a policy check stores a newer
 * policy, or policy flush removes the record, then the held fetch fails.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "policy/cache.h"
#include "tests/tap.h"
#include "tests/unit/policy_fixture.h"

/* Accepts connections and holds them until held_host_hangup. */
struct held_host {
	int		 fd, conn;
	struct event	*ev;
};

static void
on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct held_host	*h = arg;
	int			 s;

	if ((s = accept(fd, NULL, NULL)) == -1)
		return;
	if (h->conn != -1)
		close(h->conn);
	h->conn = s;
}

static int
held_host_start(struct held_host *h, struct event_base *base, int port)
{
	struct sockaddr_in	sin;
	int			one = 1;

	h->conn = -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, "127.0.0.2", &sin.sin_addr) != 1 ||
	    (h->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(h->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(h->fd, 8) == -1)
		return -1;
	if ((h->ev = event_new(base, h->fd, EV_READ | EV_PERSIST, on_accept, h)) == NULL ||
	    event_add(h->ev, NULL) == -1)
		return -1;
	return 0;
}

static void
held_host_hangup(struct held_host *h)
{
	if (h->conn != -1)
		close(h->conn);
	h->conn = -1;
}

static void
held_host_stop(struct held_host *h)
{
	held_host_hangup(h);
	event_free(h->ev);
	close(h->fd);
}

/* The record of domain through a second handle; 0 found, 1 not, -1. */
static int
stored(struct pfx *fx, const char *domain, struct cache_entry *e)
{
	struct cache	*c;
	int		 rc;

	if ((c = cache_open(fx->env)) == NULL)
		return -1;
	rc = cache_get(c, domain, e);
	cache_close(c);
	return rc;
}

/*
 * A lookup of domain (cached policy id 1 at 127.0.0.1) sees id 2 at the
 * held host and fetches it; returns once the host holds its connection.
 */
static int
start_held(struct pfx *fx, struct policy *p, struct held_host *h,
    const char *domain, struct pfx_got *g)
{
	int	poll;

	pfx_zone(fx, domain, "v=STSv1; id=1", "127.0.0.1");
	pfx_serve(fx, PFX_ENFORCE);
	pfx_lookup(fx, p, domain, g);
	if (strcmp(g->id, "1") != 0)
		diag("%s: first fetch: %s %s", domain, g->mode, g->reason);
	fx->now += 100;
	pfx_zone(fx, domain, "v=STSv1; id=2", "127.0.0.2");
	memset(g, 0, sizeof(*g));
	if (policy_lookup(p, domain, pfx_on_result, g) == -1)
		return -1;
	for (poll = 0; poll < 2000 && h->conn == -1 && !g->done; poll++)
		pfx_spin(fx, 5);
	return h->conn != -1 && !g->done ? 0 : -1;
}

static void
finish_held(struct pfx *fx, struct held_host *h, struct pfx_got *g)
{
	int	poll;

	held_host_hangup(h);
	for (poll = 0; poll < 4000 && !g->done; poll++)
		pfx_spin(fx, 5);
}

static void
test_check_meanwhile(struct pfx *fx, struct policy *p, struct held_host *h)
{
	struct cache_entry	e;
	struct pfx_got		g, c;

	if (start_held(fx, p, h, "r.test", &g) == -1) {
		ok(0, "the lookup's fetch is held");
		return;
	}
	pfx_zone(fx, "r.test", "v=STSv1; id=3", "127.0.0.1");
	pfx_serve(fx, PFX_TESTING);
	fx->now += 10;
	pfx_check(fx, p, "r.test", &c);
	ok(strcmp(c.source, "fresh") == 0 && strcmp(c.id, "3") == 0,
	    "policy check meanwhile: id 3 fetched and stored");
	finish_held(fx, h, &g);
	ok(g.done && strcmp(g.id, "1") == 0 && strcmp(g.type, "sts-policy-fetch-error") == 0,
	    "S13: the held lookup's fetch failed, its callers get the policy it read");
	ok(stored(fx, "r.test", &e) == 0 && strcmp(e.id, "3") == 0 &&
	    e.fail_id[0] == '\0' && e.policy.mode == STS_MODE_TESTING,
	    "policy.db keeps the newer policy: the failed lookup wrote nothing over it");
	cache_entry_free(&e);
}

static void
test_flush_meanwhile(struct pfx *fx, struct policy *p, struct held_host *h)
{
	struct cache_entry	e;
	struct pfx_got		g;

	if (start_held(fx, p, h, "f.test", &g) == -1) {
		ok(0, "the lookup's fetch is held");
		return;
	}
	is_int(policy_forget(p, "f.test"), 0, "policy flush meanwhile");
	finish_held(fx, h, &g);
	ok(g.done && strcmp(g.type, "sts-policy-fetch-error") == 0,
	    "the held lookup's fetch failed");
	is_int(stored(fx, "f.test", &e), 1,
	    "policy flush stands: the failed lookup did not put the record back");
}

int
main(void)
{
	struct pfx		 fx;
	struct held_host	 h;
	struct policy_params	 pp;
	struct policy		*p;
	int			 rc;

	if ((rc = pfx_setup(&fx, "test_policy_race", "mta-sts.r.test mta-sts.f.test")) != 0)
		return rc == 1 ? tap_done() : 1;
	if (held_host_start(&h, fx.base, fx.port) == -1) {
		printf("Bail out! cannot listen on 127.0.0.2:%d\n", fx.port);
		return 1;
	}
	pfx_params(&fx, &pp);
	if ((p = policy_new(fx.base, fx.env, &pp)) == NULL) {
		printf("Bail out! policy_new failed\n");
		return 1;
	}
	test_check_meanwhile(&fx, p, &h);
	test_flush_meanwhile(&fx, p, &h);
	policy_free(p);
	held_host_stop(&h);
	pfx_teardown(&fx);
	return tap_done();
}
