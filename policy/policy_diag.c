/*
 * policy_diag.c: the traced check behind "stsrelayctl policy check"
 * (policy_diag.h), and "policy show" and "policy list".
 *
 *   cache before --> policy check (TXT, A/AAAA, fetch, parse, store; the
 *   engine reports each step here) --> cache after --> MX of the domain
 *   --> A and AAAA of each MX host --> verdict --> callback.
 *
 * The trace never decides anything the engine does not: the TXT, fetch and
 * store steps are the engine's own, so what the admin reads is what a
 * delivery would get.
 */
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "policy/policy_int.h"
#include "policy/sts_mx.h"
#include "policy/sts_txt.h"

struct host_query {
	struct diag_run	*run;
	size_t		 i;		/* index in d.mxs */
};

struct diag_run {
	TAILQ_ENTRY(diag_run)	 entry;
	struct policy		*p;
	struct policy_diag	 d;
	struct policy_result	*result;
	struct host_query	 hq[POLICY_DIAG_MAX_MX];
	int			 pending;	/* MX address queries */
	uint64_t		 start_ms;
	policy_on_diag		 cb;
	void			*arg;
};

/* Printable form of any octets: \xNN for the rest, at most outlen - 1. */
static void
diag_escape(const char *in, size_t len, char *out, size_t outlen)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i, o = 0;
	unsigned char		 c;

	for (i = 0; i < len && o + 5 < outlen; i++) {
		c = (unsigned char)in[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			out[o++] = (char)c;
			continue;
		}
		out[o++] = '\\';
		if (c == '\\') {
			out[o++] = '\\';
			continue;
		}
		out[o++] = 'x';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
	}
	if (i < len && o + 3 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static void
diag_cache_snapshot(struct diag_run *run, struct policy_diag_cache *c)
{
	struct cache_entry	e;
	int			rc;

	memset(c, 0, sizeof(*c));
	rc = cache_get(policy_int_cache(run->p), run->d.domain, &e);
	if (rc == 1)
		return;
	c->present = 1;
	if (rc == -1) {
		c->corrupt = 1;
		return;
	}
	snprintf(c->id, sizeof(c->id), "%s", e.id);
	c->mode = e.id[0] == '\0' ? POLICY_MODE_ABSENT : policy_int_mode(e.policy.mode);
	c->fetched = e.fetched;
	c->max_age = e.policy.max_age;
	c->fresh = e.id[0] != '\0' && cache_entry_fresh(&e, policy_int_now(run->p));
	snprintf(c->fail_id, sizeof(c->fail_id), "%s", e.fail_id);
	c->fail_time = e.fail_time;
	cache_entry_free(&e);
}

/* --- the engine's steps --- */

void
policy_diag_note_txt(struct diag_run *run, const struct resolver_txt_result *r)
{
	struct policy_diag	*d = &run->d;
	struct sts_txt_string	 strs[RESOLVER_MAX_RECORDS];
	struct sts_txt_record	 recs[RESOLVER_MAX_RECORDS];
	struct sts_txt_result	 res;
	struct policy_diag_txt	*t;
	size_t			 i;

	d->txt_status = r->status;
	snprintf(d->txt_error, sizeof(d->txt_error), "%s", r->error != NULL ? r->error : "");
	if (r->status != RESOLVER_OK) {
		snprintf(d->txt_reason, sizeof(d->txt_reason), "no TXT record (%s)",
		    resolver_strstatus(r->status));
		return;
	}
	d->ntxt = r->ntxt;
	for (i = 0; i < r->ntxt && i < RESOLVER_MAX_RECORDS; i++) {
		strs[i].data = r->txt[i].data;
		strs[i].len = r->txt[i].len;
		recs[i].strings = &strs[i];
		recs[i].nstrings = 1;
		if (!sts_txt_is_candidate(r->txt[i].data, r->txt[i].len))
			continue;
		d->nsts++;
		if (i >= POLICY_DIAG_MAX_TXT)
			continue;
		t = &d->txt[i];
		t->sts = 1;
		if (sts_txt_parse_record(r->txt[i].data, r->txt[i].len, t->id,
		    t->error, sizeof(t->error)) == -1)
			t->id[0] = '\0';
	}
	for (i = 0; i < r->ntxt && i < POLICY_DIAG_MAX_TXT; i++) {
		d->txt[i].len = r->txt[i].len;
		diag_escape(r->txt[i].data, r->txt[i].len, d->txt[i].text,
		    sizeof(d->txt[i].text));
	}
	if (sts_txt_parse(recs, r->ntxt < RESOLVER_MAX_RECORDS ? r->ntxt :
	    RESOLVER_MAX_RECORDS, &res) == STS_TXT_OK)
		snprintf(d->id, sizeof(d->id), "%s", res.id);
	else
		snprintf(d->txt_reason, sizeof(d->txt_reason), "%s", res.reason);
}

static void
diag_host_addrs(struct policy_diag_host *h, const struct resolver_addr_result *r)
{
	size_t	i, len;

	for (i = 0; r->status == RESOLVER_OK && i < r->naddrs &&
	    h->naddrs < POLICY_DIAG_MAX_ADDRS; i++)
		netaddr_format_host((const struct sockaddr *)&r->addrs[i],
		    h->addrs[h->naddrs++], NETADDR_STRLEN);
	if (r->status == RESOLVER_OK)
		return;
	len = strlen(h->error);
	snprintf(h->error + len, sizeof(h->error) - len, "%s%s", len > 0 ? ", " : "",
	    resolver_strstatus(r->status));
}

void
policy_diag_note_addr(struct diag_run *run, const struct resolver_addr_result *r)
{
	struct policy_diag	*d = &run->d;

	d->fetch_tried = 1;
	if (snprintf(d->web.name, sizeof(d->web.name), "mta-sts.%s", d->domain) < 0)
		d->web.name[0] = '\0';
	diag_host_addrs(&d->web, r);
}

void
policy_diag_note_fetch(struct diag_run *run, const struct fetch_outcome *o)
{
	struct policy_diag	*d = &run->d;
	size_t			 i;

	d->fetch_tried = 1;
	snprintf(d->url, sizeof(d->url), "%s", o->url != NULL ? o->url : "");
	d->http_status = o->http_status;
	d->content_type_seen = o->content_type != NULL;
	diag_escape(o->content_type != NULL ? o->content_type : "",
	    o->content_type != NULL ? strlen(o->content_type) : 0,
	    d->content_type, sizeof(d->content_type));
	d->size = o->size;
	snprintf(d->curl_error, sizeof(d->curl_error), "%s",
	    o->curl_error != NULL ? o->curl_error : "");
	d->fetch_ok = o->status == FETCH_OK;
	snprintf(d->result_type, sizeof(d->result_type), "%s",
	    fetch_check_result_type(o->status));
	snprintf(d->fetch_reason, sizeof(d->fetch_reason), "%s",
	    o->reason != NULL && !d->fetch_ok ? o->reason : "");
	if (o->status == FETCH_POLICY_INVALID && o->http_status == 200 &&
	    fetch_check_content_type(o->content_type))
		snprintf(d->parse_error, sizeof(d->parse_error), "%s", d->fetch_reason);
	if (o->policy == NULL)
		return;
	d->have_policy = 1;
	d->mode = policy_int_mode(o->policy->mode);
	d->max_age = o->policy->max_age;
	d->max_age_published = o->policy->max_age_published;
	snprintf(d->policy_warning, sizeof(d->policy_warning), "%s", o->policy->warning);
	d->nmx = o->policy->nmx;
	d->mx = xreallocarray(NULL, d->nmx + 1, sizeof(*d->mx));
	for (i = 0; i < d->nmx; i++)
		d->mx[i] = xstrdup(o->policy->mx[i]);
}

/* --- the verdict --- */

/* What a delivery does now, from the engine's answer. */
static void
diag_consequence(const struct policy_result *r, char *buf, size_t len)
{
	if (r->source == POLICY_SOURCE_CACHED)
		snprintf(buf, len, "the cached policy id %s (mode %s) is applied (S13)",
		    r->id, policy_mode_name(r->mode));
	else if (r->mode == POLICY_MODE_TEMPFAIL)
		snprintf(buf, len, "nothing cached: mail to the domain is deferred "
		    "(up to policy_tempfail_bound)");
	else
		snprintf(buf, len, "nothing cached: mail is delivered as without MTA-STS");
}

static void
diag_verdict_policy(struct policy_diag *d)
{
	if (d->null_mx) {
		d->verdict = POLICY_DIAG_VALID;
		snprintf(d->summary, sizeof(d->summary), "valid policy id %s (mode %s), "
		    "but the domain has a null MX: it takes no mail", d->id,
		    policy_mode_name(d->mode));
	} else if (d->mode == POLICY_MODE_ENFORCE && d->nmxs > 0 && d->nmatch == 0) {
		d->verdict = POLICY_DIAG_ERROR;
		snprintf(d->summary, sizeof(d->summary), "valid enforce policy id %s, but "
		    "none of the %zu MX hosts matches its mx patterns: mail to the domain "
		    "is deferred (S27)", d->id, d->nmxs);
	} else {
		d->verdict = POLICY_DIAG_VALID;
		snprintf(d->summary, sizeof(d->summary), "valid policy id %s: mode %s, "
		    "max_age %u, %zu of %zu MX hosts match%s", d->id, policy_mode_name(d->mode),
		    d->max_age, d->nmatch, d->nmxs,
		    d->mode == POLICY_MODE_TESTING && d->nmatch < d->nmxs ?
		    " (testing: mail is delivered anyway, violations are logged, S28)" : "");
	}
}

static void
diag_verdict(struct diag_run *run)
{
	struct policy_diag	*d = &run->d;
	char			 then[200];

	diag_consequence(run->result, then, sizeof(then));
	if (d->txt_status == RESOLVER_TEMPFAIL || d->txt_status == RESOLVER_MALFORMED) {
		d->verdict = POLICY_DIAG_ERROR;
		snprintf(d->summary, sizeof(d->summary), "TXT lookup of %s failed (%s%s%s); %s",
		    d->txt_name, resolver_strstatus(d->txt_status), d->txt_error[0] ? ": " : "",
		    d->txt_error, then);
	} else if (d->nsts == 0) {
		d->verdict = POLICY_DIAG_NONE;
		snprintf(d->summary, sizeof(d->summary), "no MTA-STS policy: no v=STSv1 TXT "
		    "record at %s; %s", d->txt_name, run->result->source ==
		    POLICY_SOURCE_CACHED ? "the cached policy still applies until it "
		    "expires (S4)" : "mail is delivered as without MTA-STS");
	} else if (d->id[0] == '\0') {
		d->verdict = POLICY_DIAG_ERROR;
		snprintf(d->summary, sizeof(d->summary), "unusable TXT record: %s (S4, S5); %s",
		    d->txt_reason, then);
	} else if (!d->fetch_ok) {
		d->verdict = POLICY_DIAG_ERROR;
		snprintf(d->summary, sizeof(d->summary), "policy id %s announced but not "
		    "obtained: %s: %s%s%s; %s", d->id, d->result_type[0] ? d->result_type :
		    "sts-policy-fetch-error", d->fetch_tried ? d->fetch_reason : "no fetch",
		    d->curl_error[0] ? ": " : "", d->curl_error, then);
	} else
		diag_verdict_policy(d);
}

static void
diag_free(struct diag_run *run)
{
	size_t	i;

	for (i = 0; i < run->d.nmx; i++)
		free(run->d.mx[i]);
	free(run->d.mx);
	policy_result_free(run->result);
	free(run);
}

static void
diag_finish(struct diag_run *run)
{
	struct policy_diag	*d = &run->d;

	if (d->web.naddrs > 0)
		d->web.error[0] = '\0';
	d->elapsed_ms = strutil_now_ms() - run->start_ms;
	diag_verdict(run);
	log_info("policy: check %s: %s: %s", d->domain, policy_diag_verdict_name(d->verdict),
	    d->summary);
	TAILQ_REMOVE(policy_int_diags(run->p), run, entry);
	run->cb(d, run->arg);
	diag_free(run);
}

/* --- the MX hosts --- */

static void
diag_on_mx_addr(const struct resolver_addr_result *r, void *arg)
{
	struct host_query	*hq = arg;
	struct diag_run		*run = hq->run;

	diag_host_addrs(&run->d.mxs[hq->i].host, r);
	if (--run->pending > 0)
		return;
	for (hq = run->hq; hq < run->hq + run->d.nmxs; hq++)
		if (run->d.mxs[hq->i].host.naddrs > 0)
			run->d.mxs[hq->i].host.error[0] = '\0';
	diag_finish(run);
}

/* S22 against the policy the engine applies (fresh or cached). */
static void
diag_match(struct diag_run *run, struct policy_diag_mx *m)
{
	const struct policy_result	*r = run->result;
	size_t				 i;

	if (r->mode != POLICY_MODE_ENFORCE && r->mode != POLICY_MODE_TESTING)
		return;
	for (i = 0; i < r->nmx; i++) {
		if (sts_mx_match(r->mx[i], m->host.name)) {
			m->match = 1;
			snprintf(m->pattern, sizeof(m->pattern), "%s", r->mx[i]);
			run->d.nmatch++;
			return;
		}
	}
}

static void
diag_add_mx(struct diag_run *run, unsigned pref, const char *host)
{
	struct policy_diag_mx	*m = &run->d.mxs[run->d.nmxs];

	m->pref = pref;
	snprintf(m->host.name, sizeof(m->host.name), "%s", host);
	run->hq[run->d.nmxs].run = run;
	run->hq[run->d.nmxs].i = run->d.nmxs;
	run->d.nmxs++;
	diag_match(run, m);
}

static void
diag_on_mx(const struct resolver_mx_result *r, void *arg)
{
	struct diag_run		*run = arg;
	struct policy_diag	*d = &run->d;
	struct resolver		*res = policy_resolver(run->p);
	size_t			 i;

	d->mx_status = r->status;
	snprintf(d->mx_error, sizeof(d->mx_error), "%s", r->error != NULL ? r->error : "");
	d->null_mx = r->null_mx;
	d->nmxs_total = r->nmx;
	for (i = 0; r->status == RESOLVER_OK && i < r->nmx && i < POLICY_DIAG_MAX_MX; i++)
		diag_add_mx(run, r->mx[i].pref, r->mx[i].host);
	if (r->status == RESOLVER_NODATA) {	/* S23: implicit MX */
		diag_add_mx(run, 0, d->domain);
		d->nmxs_total = 1;
	}
	if (d->nmxs == 0) {
		diag_finish(run);
		return;
	}
	run->pending = (int)(2 * d->nmxs);
	for (i = 0; i < d->nmxs; i++)
		if (resolver_query_a(res, d->mxs[i].host.name, diag_on_mx_addr,
		    &run->hq[i]) == -1 || resolver_query_aaaa(res, d->mxs[i].host.name,
		    diag_on_mx_addr, &run->hq[i]) == -1)
			fatalx("diag_on_mx: resolver refused a query");
}

static void
diag_on_check(const struct policy_result *r, void *arg)
{
	struct diag_run	*run = arg;

	run->result = policy_result_dup(r);
	run->d.result = run->result;
	diag_cache_snapshot(run, &run->d.after);
	if (resolver_query_mx(policy_resolver(run->p), run->d.domain, diag_on_mx,
	    run) == -1)
		fatalx("diag_on_check: resolver refused a query");
}

/* --- API --- */

int
policy_diagnose(struct policy *p, const char *domain, policy_on_diag cb, void *arg)
{
	struct diag_run	*run;
	char		 norm[STS_MX_NAMEBUF];

	if (cb == NULL || policy_int_normalize(domain, norm) == -1)
		return -1;
	run = xcalloc(1, sizeof(*run));
	run->p = p;
	run->cb = cb;
	run->arg = arg;
	run->start_ms = strutil_now_ms();
	diag_escape(domain, strlen(domain), run->d.input, sizeof(run->d.input));
	snprintf(run->d.domain, sizeof(run->d.domain), "%s", norm);
	snprintf(run->d.txt_name, sizeof(run->d.txt_name), "_mta-sts.%s", norm);
	run->d.now = policy_int_now(p);
	diag_cache_snapshot(run, &run->d.before);
	TAILQ_INSERT_TAIL(policy_int_diags(p), run, entry);
	policy_int_check(p, norm, run, diag_on_check, run);
	return 0;
}

void
policy_diag_free_all(struct policy *p)
{
	struct diag_runs	*runs = policy_int_diags(p);
	struct diag_run		*run;

	while ((run = TAILQ_FIRST(runs)) != NULL) {
		TAILQ_REMOVE(runs, run, entry);
		diag_free(run);
	}
}

const char *
policy_diag_verdict_name(enum policy_diag_verdict v)
{
	switch (v) {
	case POLICY_DIAG_VALID:
		return "valid";
	case POLICY_DIAG_ERROR:
		return "error";
	case POLICY_DIAG_NONE:
		return "none";
	}
	return "unknown";
}

/* A record of policy.db as "policy show" and "policy list" give it. */
static void
diag_cached(struct policy *p, const char *domain, const struct cache_entry *e,
    struct policy_cached *c)
{
	memset(c, 0, sizeof(*c));
	c->domain = domain;
	c->corrupt = e == NULL;
	if (e == NULL)
		return;
	c->id = e->id;
	c->mode = e->id[0] == '\0' ? POLICY_MODE_ABSENT : policy_int_mode(e->policy.mode);
	c->mx = (const char *const *)e->policy.mx;
	c->nmx = e->policy.nmx;
	c->fetched = e->fetched;
	c->max_age = e->policy.max_age;
	c->text = e->raw;
	c->fail_id = e->fail_id;
	c->fail_time = e->fail_time;
	c->fail_retry = e->fail_id[0] != '\0' ? e->fail_time + policy_int_backoff(p) : 0;
	c->txt_fail_since = e->txt_fail_since;
}

int
policy_show(struct policy *p, const char *domain,
    void (*fn)(const struct policy_cached *, void *), void *arg)
{
	struct cache_entry	e;
	struct policy_cached	c;
	char			norm[STS_MX_NAMEBUF];
	int			rc;

	if (policy_int_normalize(domain, norm) == -1)
		return -1;
	if ((rc = cache_get(policy_int_cache(p), norm, &e)) == 1)
		return 1;
	if (rc == 0 && cache_entry_period_only(&e)) {
		cache_entry_free(&e);
		return 1;
	}
	diag_cached(p, norm, rc == 0 ? &e : NULL, &c);
	fn(&c, arg);
	if (rc == 0)
		cache_entry_free(&e);
	return 0;
}

struct list_ctx {
	struct policy	*p;
	int	(*fn)(const struct policy_cached *, void *);
	void	*arg;
	int	 all;	/* the tempfail-period placeholders too */
};

static int
list_one(const char *domain, const struct cache_entry *e, void *arg)
{
	struct list_ctx		*ctx = arg;
	struct policy_cached	 c;

	if (!ctx->all && e != NULL && cache_entry_period_only(e))
		return 0;
	diag_cached(ctx->p, domain, e, &c);
	return ctx->fn(&c, ctx->arg);
}

int
policy_list(struct policy *p, int (*fn)(const struct policy_cached *, void *),
    void *arg)
{
	struct list_ctx	ctx = { p, fn, arg, 0 };

	return cache_iterate(policy_int_cache(p), list_one, &ctx);
}

int
policy_list_all(struct policy *p, int (*fn)(const struct policy_cached *, void *),
    void *arg)
{
	struct list_ctx	ctx = { p, fn, arg, 1 };

	return cache_iterate(policy_int_cache(p), list_one, &ctx);
}
