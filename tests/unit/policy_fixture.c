/*
 * policy_fixture.c: the shared set-up of the policy engine tests
 * (policy_fixture.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "tests/tap.h"
#include "tests/unit/policy_fixture.h"

static int
env_open(struct pfx *fx)
{
	if (db_env_create(&fx->env, 0) != 0)
		return -1;
	if (fx->env->open(fx->env, fx->envdir, DB_CREATE | DB_INIT_TXN |
	    DB_INIT_LOG | DB_INIT_LOCK | DB_INIT_MPOOL | DB_RECOVER, 0600) != 0) {
		fx->env->close(fx->env, 0);
		fx->env = NULL;
		return -1;
	}
	return 0;
}

int
pfx_setup(struct pfx *fx, const char *progname, const char *names)
{
	char	cmd[200];

	memset(fx, 0, sizeof(*fx));
	fx->now = 1700000000;
	fx->srv = -1;
	log_init(progname, LOG_DEST_STDERR, LOG_LVL_ERR);
	fx->base = event_base_new();
	if (fx->base == NULL ||
	    (fx->dns = dns_responder_start(fx->base, &fx->ep)) == NULL) {
		printf("Bail out! no DNS responder\n");
		return -1;
	}
	if (https_lab_setup(&fx->lab, names) == -1) {
		printf("# SKIP cannot make test certificates with openssl\n");
		https_lab_cleanup(&fx->lab);
		return 1;
	}
	pfx_serve(fx, PFX_ENFORCE);
	fx->port = https_lab_free_port();
	if ((fx->srv = https_lab_serve(&fx->lab, "www", fx->port)) == -1) {
		printf("Bail out! cannot start openssl s_server\n");
		return -1;
	}
	snprintf(fx->envdir, sizeof(fx->envdir), "%s/env", fx->lab.dir);
	snprintf(cmd, sizeof(cmd), "mkdir %s", fx->envdir);
	if (system(cmd) != 0 || env_open(fx) == -1) {
		printf("Bail out! cannot open a Berkeley DB environment\n");
		return -1;
	}
	return 0;
}

void
pfx_teardown(struct pfx *fx)
{
	if (fx->env != NULL)
		fx->env->close(fx->env, 0);
	if (fx->srv != -1)
		https_lab_stop(fx->srv);
	dns_responder_free(fx->dns);
	event_base_free(fx->base);
	https_lab_cleanup(&fx->lab);
}

int
pfx_env_reopen(struct pfx *fx)
{
	if (fx->env != NULL && fx->env->close(fx->env, 0) != 0)
		diag("closing the environment failed");
	fx->env = NULL;
	return env_open(fx);
}

uint64_t
pfx_clock(void *arg)
{
	struct pfx	*fx = arg;

	return fx->now;
}

void
pfx_params(struct pfx *fx, struct policy_params *pp)
{
	memset(pp, 0, sizeof(*pp));
	pp->cainfo = fx->lab.cafile;
	pp->dns = &fx->ep;
	pp->ndns = 1;
	pp->dns_timeout_ms = 500;
	pp->policy_port = (unsigned)fx->port;
	pp->fetch_timeout_s = 10;
	pp->clock = pfx_clock;
	pp->clock_arg = fx;
}

void
pfx_zone(struct pfx *fx, const char *domain, const char *txt, const char *addr)
{
	char		 name[300], t[300], a[64];
	const char	*ans[2] = { t, NULL }, *aans[2] = { a, NULL };

	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	snprintf(t, sizeof(t), "txt:%s", txt);
	dns_responder_set(fx->dns, name, DNS_T_TXT, DNS_ANSWER, ans);
	snprintf(name, sizeof(name), "mta-sts.%s", domain);
	snprintf(a, sizeof(a), "a:%s", addr);
	dns_responder_set(fx->dns, name, DNS_T_A, DNS_ANSWER, aans);
}

void
pfx_txt(struct pfx *fx, const char *domain, enum dns_behave b)
{
	char	name[300];

	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	dns_responder_set(fx->dns, name, DNS_T_TXT, b, NULL);
}

int
pfx_txt_queries(struct pfx *fx, const char *domain)
{
	char	name[300];

	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	return dns_responder_count(fx->dns, name, DNS_T_TXT);
}

int
pfx_fetches(struct pfx *fx, const char *domain)
{
	char	name[300];

	snprintf(name, sizeof(name), "mta-sts.%s", domain);
	return dns_responder_count(fx->dns, name, DNS_T_A);
}

void
pfx_serve(struct pfx *fx, const char *text)
{
	if (https_lab_write(&fx->lab, "www", text, strlen(text)) == -1)
		diag("cannot write the policy file");
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct pfx	*fx = arg;

	diag("deadline reached with %d callbacks pending", fx->pending);
	event_base_loopbreak(fx->base);
}

void
pfx_run(struct pfx *fx)
{
	struct timeval	 tv = { 30, 0 };
	struct event	*dl;

	if (fx->pending <= 0)
		return;
	if ((dl = evtimer_new(fx->base, on_deadline, fx)) == NULL)
		fatalx("pfx_run: evtimer_new");
	evtimer_add(dl, &tv);
	event_base_dispatch(fx->base);
	event_free(dl);
}

void
pfx_spin(struct pfx *fx, unsigned ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(fx->base, &tv);
	event_base_dispatch(fx->base);
}

void
pfx_arrived(struct pfx *fx)
{
	if (--fx->pending == 0)
		event_base_loopbreak(fx->base);
}

void
pfx_on_result(const struct policy_result *r, void *arg)
{
	struct pfx_got	*g = arg;
	size_t		 i;

	g->done = 1;
	snprintf(g->domain, sizeof(g->domain), "%s", r->domain);
	snprintf(g->mode, sizeof(g->mode), "%s", policy_mode_name(r->mode));
	snprintf(g->source, sizeof(g->source), "%s", policy_source_name(r->source));
	snprintf(g->id, sizeof(g->id), "%s", r->id);
	snprintf(g->type, sizeof(g->type), "%s", r->result_type);
	snprintf(g->reason, sizeof(g->reason), "%s", r->reason);
	g->max_age = r->max_age;
	g->mx[0] = '\0';
	for (i = 0; i < r->nmx; i++)
		snprintf(g->mx + strlen(g->mx), sizeof(g->mx) - strlen(g->mx), "%s%s",
		    i ? "," : "", r->mx[i]);
	g->allow_mail = policy_mx_allowed(r, "MAIL.d.test.");
	g->allow_evil = policy_mx_allowed(r, "mail.evil.test");
	if (g->keep != NULL) {
		*g->keep = policy_result_dup(r);
		g->keep = NULL;
	}
	if (g->fx != NULL)
		pfx_arrived(g->fx);
}

static int
start_one(struct pfx *fx, struct policy *p, const char *domain, struct pfx_got *g,
    int check)
{
	memset(g, 0, sizeof(*g));
	g->fx = fx;
	fx->pending++;
	if ((check ? policy_check(p, domain, pfx_on_result, g) :
	    policy_lookup(p, domain, pfx_on_result, g)) == -1) {
		fx->pending--;
		return -1;
	}
	return 0;
}

int
pfx_start(struct pfx *fx, struct policy *p, const char *domain, struct pfx_got *g)
{
	return start_one(fx, p, domain, g, 0);
}

static void
start(struct pfx *fx, struct policy *p, const char *domain, struct pfx_got *g,
    int check)
{
	if (start_one(fx, p, domain, g, check) == -1)
		return;
	pfx_run(fx);
	if (!g->done)
		diag("lookup of %s did not finish", domain);
}

void
pfx_lookup(struct pfx *fx, struct policy *p, const char *domain, struct pfx_got *g)
{
	start(fx, p, domain, g, 0);
}

void
pfx_check(struct pfx *fx, struct policy *p, const char *domain, struct pfx_got *g)
{
	start(fx, p, domain, g, 1);
}

struct policy_stats
pfx_stats(struct policy *p)
{
	struct policy_stats	st;

	policy_get_stats(p, &st);
	return st;
}

int
pfx_settle(struct pfx *fx, struct policy *p)
{
	struct policy_stats	st;
	int			i;

	for (i = 0; i < 2000; i++) {
		st = pfx_stats(p);
		if (st.revalidations_done == st.revalidations)
			return 1;
		pfx_spin(fx, 10);
	}
	diag("re-checks still in flight after the deadline");
	return 0;
}
