/*
 * test_policy_recheck.c: policy_recheck (S21), with the front cache on:
 * where policy_lookup answers a recent decision from memory, policy_recheck
 * always asks DNS for the TXT id and fetches a new policy, so a permanent
 * failure never stands on a decision older than the published id. Against
 * the test DNS responder and an s_server policy host.
 */
#include <stdlib.h>
#include <string.h>

#include <db.h>
#include <event2/event.h>

#include "common/log.h"
#include "policy/policy.h"
#include "tests/tap.h"
#include "tests/unit/test_fetch_server.h"
#include "tests/unit/test_resolver_dns.h"

#define ENFORCE	"version: STSv1\nmode: enforce\nmx: mail.r.test\nmax_age: 86400\n"
#define TESTING	"version: STSv1\nmode: testing\nmx: *.r.test\nmax_age: 86400\n"

static struct event_base	*base;
static struct dns_responder	*dns;
static struct https_lab		 lab;
static int			 pending;

struct got {
	int	done;
	char	mode[16], source[16], id[40];
};

static void
on_result(const struct policy_result *r, void *arg)
{
	struct got	*g = arg;

	g->done = 1;
	snprintf(g->mode, sizeof(g->mode), "%s", policy_mode_name(r->mode));
	snprintf(g->source, sizeof(g->source), "%s", policy_source_name(r->source));
	snprintf(g->id, sizeof(g->id), "%s", r->id);
	if (--pending == 0)
		event_base_loopbreak(base);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(base);
}

/* fn (policy_lookup or policy_recheck), then the loop until it answered. */
static void
ask(int (*fn)(struct policy *, const char *, policy_on_result, void *),
    struct policy *p, const char *domain, struct got *g, int *inline_cb)
{
	struct timeval	 tv = { 30, 0 };
	struct event	*dl;

	memset(g, 0, sizeof(*g));
	pending++;
	if (fn(p, domain, on_result, g) == -1) {
		pending--;
		return;
	}
	if (inline_cb != NULL)
		*inline_cb = g->done;
	dl = evtimer_new(base, on_deadline, NULL);
	evtimer_add(dl, &tv);
	if (pending > 0)
		event_base_dispatch(base);
	event_free(dl);
}

static void
publish(const char *id)
{
	char		 t[100];
	const char	*ans[2] = { t, NULL }, *aans[2] = { "a:127.0.0.1", NULL };

	snprintf(t, sizeof(t), "txt:v=STSv1; id=%s;", id);
	dns_responder_set(dns, "_mta-sts.r.test", DNS_T_TXT, DNS_ANSWER, ans);
	dns_responder_set(dns, "mta-sts.r.test", DNS_T_A, DNS_ANSWER, aans);
}

static void
serve(const char *text)
{
	if (https_lab_write(&lab, "www", text, strlen(text)) == -1)
		diag("cannot write the policy file");
}

static int
txt_queries(void)
{
	return dns_responder_count(dns, "_mta-sts.r.test", DNS_T_TXT);
}

static int
fetches(void)
{
	return dns_responder_count(dns, "mta-sts.r.test", DNS_T_A);
}

static void
test_recheck(struct policy *p)
{
	struct got	g;
	int		q, inl, called;

	publish("r1");
	serve(ENFORCE);
	ask(policy_lookup, p, "r.test", &g, NULL);
	is_str(g.id, "r1", "first lookup: policy r1 fetched");
	q = txt_queries();
	ask(policy_lookup, p, "r.test", &g, NULL);
	ok(strcmp(g.id, "r1") == 0 && txt_queries() == q,
	    "policy_lookup: the decision from memory, no TXT query");

	/* the domain moves: new id, new policy */
	publish("r2");
	serve(TESTING);
	ask(policy_lookup, p, "r.test", &g, NULL);
	is_str(g.id, "r1", "policy_lookup: still r1 from memory (why S21 needs more)");
	ask(policy_recheck, p, "r.test", &g, &inl);
	ok(g.done && !inl, "policy_recheck answers from the event loop");
	ok(txt_queries() == q + 1, "S21: policy_recheck asks DNS for the TXT id");
	is_str(g.id, "r2", "S21: policy_recheck sees the new id r2");
	is_str(g.mode, "testing", "S21: ... and the new policy, fetched");
	is_int(fetches(), 2, "S21: one fetch for the new id");
	ask(policy_lookup, p, "r.test", &g, NULL);
	is_str(g.id, "r2", "the lookups after it get r2");

	/* unchanged id: a TXT query, no fetch */
	q = txt_queries();
	ask(policy_recheck, p, "r.test", &g, NULL);
	ok(strcmp(g.id, "r2") == 0 && strcmp(g.source, "cached") == 0 &&
	    txt_queries() == q + 1 && fetches() == 2,
	    "S21: same id: the cached policy after a TXT query, no fetch");

	memset(&g, 0, sizeof(g));
	called = policy_recheck(p, "bad..name", on_result, &g);
	is_int(called, -1, "an invalid domain is refused");
}

int
main(void)
{
	struct netaddr_endpoint	 ep;
	struct policy_params	 pp;
	struct policy		*p;
	DB_ENV			*env;
	pid_t			 srv;
	int			 port;
	char			 envdir[128], cmd[200];

	log_init("test_policy_recheck", LOG_DEST_STDERR, LOG_LVL_ERR);
	base = event_base_new();
	if ((dns = dns_responder_start(base, &ep)) == NULL) {
		printf("Bail out! no DNS responder\n");
		return 1;
	}
	if (https_lab_setup(&lab, "mta-sts.r.test") == -1) {
		printf("1..0 # SKIP cannot make test certificates with openssl\n");
		https_lab_cleanup(&lab);
		return 0;
	}
	serve(ENFORCE);
	if ((srv = https_lab_serve(&lab, "www", (port = https_lab_free_port()))) == -1) {
		printf("Bail out! cannot start openssl s_server\n");
		return 1;
	}
	snprintf(envdir, sizeof(envdir), "%s/env", lab.dir);
	snprintf(cmd, sizeof(cmd), "mkdir %s", envdir);
	if (system(cmd) != 0 || db_env_create(&env, 0) != 0 ||
	    env->open(env, envdir, DB_CREATE | DB_INIT_TXN | DB_INIT_LOG |
	    DB_INIT_LOCK | DB_INIT_MPOOL | DB_RECOVER, 0600) != 0) {
		printf("Bail out! cannot open a Berkeley DB environment\n");
		return 1;
	}
	memset(&pp, 0, sizeof(pp));
	pp.cainfo = lab.cafile;
	pp.dns = &ep;
	pp.ndns = 1;
	pp.policy_port = (unsigned)port;
	pp.fetch_timeout_s = 10;
	pp.front_ttl_s = 3600;
	if ((p = policy_new(base, env, &pp)) == NULL) {
		printf("Bail out! policy_new failed\n");
		return 1;
	}
	test_recheck(p);
	policy_free(p);
	env->close(env, 0);
	https_lab_stop(srv);
	dns_responder_free(dns);
	event_base_free(base);
	https_lab_cleanup(&lab);
	return tap_done();
}
