/*
 * test_policy_diag.c: policy_diagnose() and policy_show(), the engine behind
 * "stsrelayctl policy check/show": the test DNS responder, an s_server
 * policy web server with a test CA, policy.db in a temporary environment.
 * Each step of the trace must say what the engine saw, and the verdict must
 * follow the rules it cites.
 */
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"
#include "tests/tap.h"
#include "tests/unit/policy_fixture.h"

static struct pfx	fx;

/* What one trace gave: a copy of the struct (the mx array is not kept). */
struct got {
	int			done;
	struct policy_diag	d;
	char			mx[256];
	char			res_mode[16], res_source[16], res_id[40];
};

static void
on_diag(const struct policy_diag *d, void *arg)
{
	struct got	*g = arg;
	size_t		 i;

	g->done = 1;
	g->d = *d;
	g->d.mx = NULL;
	g->d.result = NULL;
	g->mx[0] = '\0';
	for (i = 0; i < d->nmx; i++)
		snprintf(g->mx + strlen(g->mx), sizeof(g->mx) - strlen(g->mx), "%s%s",
		    i ? "," : "", d->mx[i]);
	snprintf(g->res_mode, sizeof(g->res_mode), "%s", policy_mode_name(d->result->mode));
	snprintf(g->res_source, sizeof(g->res_source), "%s",
	    policy_source_name(d->result->source));
	snprintf(g->res_id, sizeof(g->res_id), "%s", d->result->id);
	pfx_arrived(&fx);
}

static void
check(struct policy *p, const char *domain, struct got *g)
{
	memset(g, 0, sizeof(*g));
	if (policy_diagnose(p, domain, on_diag, g) == 0) {
		fx.pending++;
		pfx_run(&fx);
	}
	if (!g->done)
		diag("trace of %s did not finish", domain);
}

static void
zone(const char *name, int type, enum dns_behave b, const char *a1, const char *a2)
{
	const char	*ans[3] = { a1, a2, NULL };

	dns_responder_set(fx.dns, name, type, b, ans);
}

static void
serve(const char *text)
{
	pfx_serve(&fx, text);
}

#define ENFORCE	PFX_ENFORCE

static void
test_valid(struct policy *p)
{
	struct got	g;

	zone("_mta-sts.d.test", DNS_T_TXT, DNS_ANSWER, "txt:v=STSv1; |id=d1;",
	    "txt:v=spf1 -all");
	zone("mta-sts.d.test", DNS_T_A, DNS_ANSWER, "a:127.0.0.1", NULL);
	zone("d.test", DNS_T_MX, DNS_ANSWER, "mx:20:other.e.test", "mx:10:mail.d.test");
	zone("mail.d.test", DNS_T_A, DNS_ANSWER, "a:192.0.2.1", "a:192.0.2.2");
	zone("mail.d.test", DNS_T_AAAA, DNS_ANSWER, "aaaa:2001:db8::1", NULL);
	zone("other.e.test", DNS_T_A, DNS_ANSWER, "a:192.0.2.9", NULL);
	serve(ENFORCE);
	check(p, "D.Test.", &g);
	ok(g.done, "valid: the trace calls back");
	is_str(g.d.domain, "d.test", "S1: the normalized policy domain");
	is_str(g.d.input, "D.Test.", "the domain as asked is kept");
	is_str(g.d.txt_name, "_mta-sts.d.test", "S1, S2: the TXT name");
	is_int(g.d.ntxt, 2, "S4: both TXT records are reported");
	is_int(g.d.nsts, 1, "S4: one of them is STSv1");
	is_str(g.d.txt[0].text, "v=STSv1; id=d1;", "S3: the strings are joined with nothing");
	is_str(g.d.txt[0].id, "d1", "S5: the record's id");
	is_int(g.d.txt[1].sts, 0, "S4: the other record is not STSv1");
	is_str(g.d.id, "d1", "S4: the id chosen");
	ok(g.d.fetch_tried && g.d.fetch_ok, "S6: fetched");
	is_str(g.d.web.name, "mta-sts.d.test", "S6: the policy host");
	is_int(g.d.web.naddrs, 1, "the policy host's address");
	is_str(g.d.web.addrs[0], "127.0.0.1", "the policy host's address, formatted");
	ok(strstr(g.d.url, "https://mta-sts.d.test:") != NULL &&
	    strstr(g.d.url, "/.well-known/mta-sts.txt") != NULL, "S6: the URL");
	is_int(g.d.http_status, 200, "S8: HTTP status");
	is_str(g.d.content_type, "text/plain", "S9: the media type");
	is_int(g.d.size, strlen(ENFORCE), "the body size");
	is_str(g.d.result_type, "", "no RFC 8460 result type on success");
	ok(g.d.have_policy, "S15: parsed");
	is_str(policy_mode_name((enum policy_mode)g.d.mode), "enforce", "S15: mode");
	is_int(g.d.max_age, 86400, "S15: max_age");
	is_str(g.mx, "mail.d.test", "S15: mx patterns");
	is_int(g.d.nmxs, 2, "S23: both MX hosts");
	is_str(g.d.mxs[0].host.name, "mail.d.test", "S23: in preference order");
	is_int(g.d.mxs[0].pref, 10, "S23: with their preference");
	is_int(g.d.mxs[0].host.naddrs, 3, "MX addresses: A and AAAA");
	ok(g.d.mxs[0].match && !g.d.mxs[1].match, "S22: which MX hosts match");
	is_str(g.d.mxs[0].pattern, "mail.d.test", "S22: with which pattern");
	is_int(g.d.nmatch, 1, "S22: one match");
	ok(!g.d.before.present, "cache before: nothing");
	ok(g.d.after.present && g.d.after.fresh, "cache after: a fresh record");
	is_str(g.d.after.id, "d1", "cache after: the new id");
	is_str(g.res_source, "fresh", "the engine's answer: fresh");
	is_int(g.d.verdict, POLICY_DIAG_VALID, "verdict: valid (exit 0)");
	ok(strstr(g.d.summary, "1 of 2 MX hosts match") != NULL, "the summary counts matches");
}

static void
test_none(struct policy *p)
{
	struct got	g;

	check(p, "nx.test", &g);
	is_int(g.d.txt_status, RESOLVER_NXDOMAIN, "NXDOMAIN is reported");
	is_int(g.d.verdict, POLICY_DIAG_NONE, "no TXT record: verdict none (exit 2)");
	ok(!g.d.fetch_tried, "S4: no fetch without a TXT record");
	zone("_mta-sts.two.test", DNS_T_TXT, DNS_ANSWER, "txt:v=STSv1; id=a;",
	    "txt:v=STSv1; id=b;");
	check(p, "two.test", &g);
	is_int(g.d.nsts, 2, "S4: two STSv1 records");
	is_str(g.d.id, "", "S4: no id from two records");
	is_int(g.d.verdict, POLICY_DIAG_ERROR, "S4: two STSv1 records: verdict error");
	zone("_mta-sts.bad.test", DNS_T_TXT, DNS_ANSWER, "txt:v=STSv1; id=a_b;", NULL);
	check(p, "bad.test", &g);
	ok(g.d.txt[0].sts && g.d.txt[0].error[0] != '\0', "S5: the malformed record's defect");
	is_int(g.d.verdict, POLICY_DIAG_ERROR, "S5: malformed record: verdict error");
}

static void
test_invalid(struct policy *p)
{
	struct got	g;

	zone("_mta-sts.e.test", DNS_T_TXT, DNS_ANSWER, "txt:v=STSv1; id=e1;", NULL);
	zone("mta-sts.e.test", DNS_T_A, DNS_ANSWER, "a:127.0.0.1", NULL);
	zone("e.test", DNS_T_MX, DNS_ANSWER, NULL, NULL);	/* NODATA */
	zone("e.test", DNS_T_A, DNS_ANSWER, "a:192.0.2.5", NULL);
	serve("version: STSv1\nmax_age: 600\nmode: enfroce\nmx: e.test\n");
	check(p, "e.test", &g);
	is_str(g.d.parse_error, "line 3: mode: unknown value 'enfroce'",
	    "S17: the exact parse error");
	is_str(g.d.result_type, "sts-policy-invalid", "S17: sts-policy-invalid");
	ok(!g.d.have_policy, "S17: no policy");
	is_int(g.d.verdict, POLICY_DIAG_ERROR, "S17: verdict error");
	ok(g.d.after.present && g.d.after.id[0] == '\0' && strcmp(g.d.after.fail_id, "e1") == 0,
	    "S11: the failed id is remembered");
	is_int(g.d.mx_status, RESOLVER_NODATA, "S23: no MX record");
	is_int(g.d.nmxs, 1, "S23: implicit MX");
	is_str(g.d.mxs[0].host.name, "e.test", "S23: the domain itself is the host");
	ok(strstr(g.d.summary, "delivered as without MTA-STS") != NULL,
	    "S12: the summary says what delivery does");
	serve(ENFORCE);
}

static void
test_tempfail(struct policy *p)
{
	struct got	g;

	zone("_mta-sts.d.test", DNS_T_TXT, DNS_SERVFAIL, NULL, NULL);
	check(p, "d.test", &g);
	is_int(g.d.txt_status, RESOLVER_TEMPFAIL, "S13: SERVFAIL is reported");
	is_str(g.res_source, "cached", "S13: the cached policy is applied");
	is_str(g.res_id, "d1", "S13: the cached id");
	is_int(g.d.verdict, POLICY_DIAG_ERROR, "S13: verdict error");
	ok(strstr(g.d.summary, "cached policy id d1 (mode enforce) is applied (S13)") != NULL,
	    "S13: the summary says the cached policy applies");
	zone("_mta-sts.f.test", DNS_T_TXT, DNS_SERVFAIL, NULL, NULL);
	check(p, "f.test", &g);
	is_str(g.res_mode, "tempfail", "Ours: nothing cached: defer");
	ok(strstr(g.d.summary, "deferred") != NULL, "Ours: the summary says deferred");
}

struct shown {
	int	calls;
	char	id[40], mode[16], fail_id[40], text[200];
	size_t	nmx;
};

static void
on_show(const struct policy_cached *c, void *arg)
{
	struct shown	*s = arg;

	s->calls++;
	snprintf(s->id, sizeof(s->id), "%s", c->id);
	snprintf(s->mode, sizeof(s->mode), "%s", policy_mode_name(c->mode));
	snprintf(s->fail_id, sizeof(s->fail_id), "%s", c->fail_id);
	snprintf(s->text, sizeof(s->text), "%s", c->text != NULL ? c->text : "");
	s->nmx = c->nmx;
}

static void
test_show(struct policy *p)
{
	struct shown	s;

	memset(&s, 0, sizeof(s));
	is_int(policy_show(p, "D.TEST.", on_show, &s), 0, "show: a cached domain");
	is_int(s.calls, 1, "show: one call");
	is_str(s.id, "d1", "show: id");
	is_str(s.mode, "enforce", "show: mode");
	is_int(s.nmx, 1, "show: mx");
	is_str(s.text, ENFORCE, "show: the text as fetched");
	memset(&s, 0, sizeof(s));
	is_int(policy_show(p, "e.test", on_show, &s), 0, "show: a domain with only a failure");
	is_str(s.id, "", "show: no id");
	is_str(s.fail_id, "e1", "show: the failed id");
	is_int(policy_show(p, "never.test", on_show, &s), 1, "show: not cached gives 1");
	is_int(policy_show(p, "not a name", on_show, &s), -1, "show: a bad name gives -1");
	is_int(policy_diagnose(p, "not a name", on_diag, NULL), -1,
	    "diagnose: a bad name gives -1 and no callback");
	is_int(policy_forget(p, "e.test"), 0, "forget still works");
	is_int(policy_show(p, "e.test", on_show, &s), 1, "show: forgotten");
}

/* A trace in flight when the engine is freed: no callback, nothing leaks. */
static void
test_free_pending(const struct policy_params *pp)
{
	struct policy	*q;
	struct got	 g;

	memset(&g, 0, sizeof(g));
	q = policy_new(fx.base, fx.env, pp);
	ok(q != NULL && policy_diagnose(q, "d.test", on_diag, &g) == 0,
	    "a second engine starts a trace");
	policy_free(q);
	ok(!g.done, "policy_free drops a trace in flight without its callback");
}

int
main(void)
{
	struct policy_params	 pp;
	struct policy		*p;
	int			 rc;

	if ((rc = pfx_setup(&fx, "test_policy_diag", "mta-sts.d.test mta-sts.e.test")) != 0)
		return rc == 1 ? tap_done() : 1;
	pfx_params(&fx, &pp);
	pp.clock = NULL;	/* the trace reports real times */
	if ((p = policy_new(fx.base, fx.env, &pp)) == NULL) {
		printf("Bail out! policy_new failed\n");
		return 1;
	}
	test_valid(p);
	test_none(p);
	test_invalid(p);
	test_tempfail(p);
	test_show(p);
	test_free_pending(&pp);
	policy_free(p);
	pfx_teardown(&fx);
	return tap_done();
}
