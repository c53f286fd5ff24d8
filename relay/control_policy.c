/*
 * control_policy.c: the MTA-STS policy commands of the control socket, on
 * top of policy/policy.h only: policy.check (asynchronous: it answers when
 * the traced resolution is done), policy.show, policy.list, policy.flush.
 * A domain may be given in U-label form (bücher.example): the policy
 * engine gets its A-label form (RFC 8461 4.1), the answer both.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/idna.h"
#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/config.h"
#include "relay/control.h"
#include "relay/control_policy.h"

#define CP_S(s)	control_json_string(s)

#define CP_CHECKS_MAX	64	/* policy.check in progress at once */

/* A policy.check in progress, and the domain as the administrator typed it. */
struct cp_check {
	struct control_request	*req;
	int			 used;
	int			 converted;	/* input was not in A-label form */
	char			 input[256];
};

struct cp {
	struct policy	*policy;
	struct cp_check	 checks[CP_CHECKS_MAX];
};

static void
cp_set(json_t *o, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(o, key, v) == -1)
		fatalx("cp_set: cannot build the answer (%s)", key);
}

static json_t *
cp_object(void)
{
	json_t	*o;

	if ((o = json_object()) == NULL)
		fatalx("cp_object: out of memory");
	return o;
}

static json_t *
cp_array(void)
{
	json_t	*a;

	if ((a = json_array()) == NULL)
		fatalx("cp_array: out of memory");
	return a;
}

static json_t *
cp_strings(const char *const *v, size_t n)
{
	json_t	*a = cp_array();
	size_t	 i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, CP_S(v[i]));
	return a;
}

/* --- policy.check --- */

static json_t *
cp_host_json(const struct policy_diag_host *h)
{
	json_t	*o = cp_object(), *a = cp_array();
	size_t	 i;

	for (i = 0; i < h->naddrs; i++)
		json_array_append_new(a, CP_S(h->addrs[i]));
	cp_set(o, "name", CP_S(h->name));
	cp_set(o, "addresses", a);
	cp_set(o, "error", CP_S(h->error));
	return o;
}

static json_t *
cp_dcache_json(const struct policy_diag_cache *c)
{
	json_t	*o;

	if (!c->present)
		return json_null();
	o = cp_object();
	cp_set(o, "corrupt", json_boolean(c->corrupt));
	cp_set(o, "id", CP_S(c->id));
	cp_set(o, "mode", CP_S(policy_mode_name((enum policy_mode)c->mode)));
	cp_set(o, "fetched", json_integer((json_int_t)c->fetched));
	cp_set(o, "max_age", json_integer((json_int_t)c->max_age));
	cp_set(o, "expires", json_integer(c->id[0] ? (json_int_t)(c->fetched + c->max_age) : 0));
	cp_set(o, "fresh", json_boolean(c->fresh));
	cp_set(o, "fail_id", CP_S(c->fail_id));
	cp_set(o, "fail_time", json_integer((json_int_t)c->fail_time));
	return o;
}

static json_t *
cp_txt_json(const struct policy_diag *d)
{
	json_t	*o = cp_object(), *recs = cp_array(), *r;
	size_t	 i;

	for (i = 0; i < d->ntxt && i < POLICY_DIAG_MAX_TXT; i++) {
		r = cp_object();
		cp_set(r, "text", CP_S(d->txt[i].text));
		cp_set(r, "length", json_integer((json_int_t)d->txt[i].len));
		cp_set(r, "sts", json_boolean(d->txt[i].sts));
		cp_set(r, "id", CP_S(d->txt[i].id));
		cp_set(r, "error", CP_S(d->txt[i].error));
		json_array_append_new(recs, r);
	}
	cp_set(o, "name", CP_S(d->txt_name));
	cp_set(o, "status", CP_S(resolver_strstatus((enum resolver_status)d->txt_status)));
	cp_set(o, "error", CP_S(d->txt_error));
	cp_set(o, "records", recs);
	cp_set(o, "count", json_integer((json_int_t)d->ntxt));
	cp_set(o, "sts_count", json_integer((json_int_t)d->nsts));
	cp_set(o, "id", CP_S(d->id));
	cp_set(o, "reason", CP_S(d->txt_reason));
	return o;
}

static json_t *
cp_fetch_json(const struct policy_diag *d)
{
	json_t	*o;

	if (!d->fetch_tried)
		return json_null();
	o = cp_object();
	cp_set(o, "host", cp_host_json(&d->web));
	cp_set(o, "url", CP_S(d->url));
	cp_set(o, "http_status", json_integer(d->http_status));
	cp_set(o, "content_type", d->content_type_seen ? CP_S(d->content_type) : json_null());
	cp_set(o, "size", json_integer((json_int_t)d->size));
	cp_set(o, "ok", json_boolean(d->fetch_ok));
	cp_set(o, "result_type", CP_S(d->result_type));
	cp_set(o, "error", CP_S(d->fetch_reason));
	cp_set(o, "curl_error", CP_S(d->curl_error));
	return o;
}

static json_t *
cp_policy_json(const struct policy_diag *d)
{
	json_t	*o;

	if (!d->have_policy)
		return json_null();
	o = cp_object();
	cp_set(o, "mode", CP_S(policy_mode_name((enum policy_mode)d->mode)));
	cp_set(o, "max_age", json_integer((json_int_t)d->max_age));
	cp_set(o, "max_age_published", json_integer((json_int_t)d->max_age_published));
	cp_set(o, "mx", cp_strings((const char *const *)d->mx, d->nmx));
	cp_set(o, "warning", CP_S(d->policy_warning));
	return o;
}

static json_t *
cp_mx_json(const struct policy_diag *d)
{
	json_t	*o = cp_object(), *hosts = cp_array(), *h;
	size_t	 i;

	for (i = 0; i < d->nmxs; i++) {
		h = cp_host_json(&d->mxs[i].host);
		cp_set(h, "preference", json_integer(d->mxs[i].pref));
		cp_set(h, "match", json_boolean(d->mxs[i].match));
		cp_set(h, "pattern", CP_S(d->mxs[i].pattern));
		json_array_append_new(hosts, h);
	}
	cp_set(o, "status", CP_S(resolver_strstatus((enum resolver_status)d->mx_status)));
	cp_set(o, "error", CP_S(d->mx_error));
	cp_set(o, "null_mx", json_boolean(d->null_mx));
	cp_set(o, "implicit", json_boolean(d->mx_status == RESOLVER_NODATA));
	cp_set(o, "hosts", hosts);
	cp_set(o, "count", json_integer((json_int_t)d->nmxs_total));
	cp_set(o, "matching", json_integer((json_int_t)d->nmatch));
	return o;
}

static json_t *
cp_result_json(const struct policy_result *r)
{
	json_t	*o = cp_object();

	cp_set(o, "mode", CP_S(policy_mode_name(r->mode)));
	cp_set(o, "source", CP_S(policy_source_name(r->source)));
	cp_set(o, "id", CP_S(r->id));
	cp_set(o, "mx", cp_strings(r->mx, r->nmx));
	cp_set(o, "max_age", json_integer((json_int_t)r->max_age));
	cp_set(o, "result_type", CP_S(r->result_type));
	cp_set(o, "reason", CP_S(r->reason));
	return o;
}

static void
cp_on_diag(const struct policy_diag *d, void *arg)
{
	struct cp_check		*c = arg;
	struct control_request	*req = c->req;
	json_t			*o = cp_object();

	cp_set(o, "domain", CP_S(d->domain));
	cp_set(o, "input", CP_S(c->converted ? c->input : d->input));
	c->used = 0;
	cp_set(o, "time", json_integer((json_int_t)d->now));
	cp_set(o, "elapsed_ms", json_integer((json_int_t)d->elapsed_ms));
	cp_set(o, "cache_before", cp_dcache_json(&d->before));
	cp_set(o, "txt", cp_txt_json(d));
	cp_set(o, "fetch", cp_fetch_json(d));
	cp_set(o, "policy", cp_policy_json(d));
	cp_set(o, "parse_error", CP_S(d->parse_error));
	cp_set(o, "cache_after", cp_dcache_json(&d->after));
	cp_set(o, "result", cp_result_json(d->result));
	cp_set(o, "mx", cp_mx_json(d));
	cp_set(o, "verdict", CP_S(policy_diag_verdict_name(d->verdict)));
	cp_set(o, "exit", json_integer((json_int_t)d->verdict));
	cp_set(o, "summary", CP_S(d->summary));
	control_reply(req, o);
}

/*
 * The "domain" argument, in A-label form in buf when it has U-labels (an
 * ASCII name is passed as typed: the engine reports its own
 * normalisation), or an error answer and NULL.
 */
static const char *
cp_domain(struct control_request *req, const json_t *args, char *buf, size_t len)
{
	const char	*d = control_arg_string(args, "domain");
	const char	*err = NULL;

	if (d == NULL || *d == '\0') {
		control_reply_error(req, "%s needs a \"domain\"", control_request_cmd(req));
		return NULL;
	}
	if (!idna_needs_library(d))
		return d;
	if (idna_to_alabel(d, buf, len, &err) == -1) {
		control_reply_error(req, "not a valid domain name: %.255s (IDNA: %s)", d,
		    err != NULL ? err : "conversion failed");
		return NULL;
	}
	return buf;
}

static void
cp_check(struct control_request *req, const json_t *args, void *arg)
{
	struct cp	*cp = arg;
	struct cp_check	*c = NULL;
	const char	*domain, *input;
	char		 alabel[256];
	size_t		 i;

	if ((domain = cp_domain(req, args, alabel, sizeof(alabel))) == NULL)
		return;
	for (i = 0; i < CP_CHECKS_MAX && c == NULL; i++)
		if (!cp->checks[i].used)
			c = &cp->checks[i];
	if (c == NULL) {
		control_reply_error(req, "too many policy checks in progress, try again");
		return;
	}
	input = control_arg_string(args, "domain");
	c->req = req;
	c->converted = domain != input;
	strutil_lcpy(c->input, input, sizeof(c->input));
	c->used = 1;
	if (policy_diagnose(cp->policy, domain, cp_on_diag, c) == -1) {
		c->used = 0;
		control_reply_error(req, "not a valid domain name: %.255s", input);
	}
}

/* --- policy.show, policy.list --- */

static json_t *
cp_cached_json(const struct policy_cached *c, int full)
{
	json_t		*o = cp_object();
	uint64_t	 now = (uint64_t)time(NULL), exp;

	cp_set(o, "domain", CP_S(c->domain));
	cp_set(o, "corrupt", json_boolean(c->corrupt));
	if (c->corrupt)
		return o;
	exp = c->id[0] != '\0' ? c->fetched + c->max_age : 0;
	cp_set(o, "id", CP_S(c->id));
	cp_set(o, "mode", CP_S(policy_mode_name(c->mode)));
	cp_set(o, "mx", cp_strings(c->mx, c->nmx));
	cp_set(o, "fetched", json_integer((json_int_t)c->fetched));
	cp_set(o, "age", json_integer(c->fetched != 0 && now > c->fetched ?
	    (json_int_t)(now - c->fetched) : 0));
	cp_set(o, "max_age", json_integer((json_int_t)c->max_age));
	cp_set(o, "expires", json_integer((json_int_t)exp));
	cp_set(o, "fresh", json_boolean(exp != 0 && now < exp));
	cp_set(o, "fail_id", CP_S(c->fail_id));
	cp_set(o, "fail_time", json_integer((json_int_t)c->fail_time));
	cp_set(o, "fail_retry", json_integer((json_int_t)c->fail_retry));
	cp_set(o, "backoff", json_boolean(c->fail_retry > now));
	if (full)
		cp_set(o, "text", CP_S(c->text != NULL ? c->text : ""));
	return o;
}

static void
cp_show_one(const struct policy_cached *c, void *arg)
{
	json_t	**out = arg;

	*out = cp_cached_json(c, 1);
}

static void
cp_show(struct control_request *req, const json_t *args, void *arg)
{
	struct cp	*cp = arg;
	const char	*domain;
	json_t		*o = NULL;
	char		 alabel[256];
	int		 rc;

	if ((domain = cp_domain(req, args, alabel, sizeof(alabel))) == NULL)
		return;
	rc = policy_show(cp->policy, domain, cp_show_one, &o);
	if (rc == 0 && o != NULL)
		control_reply(req, o);
	else if (rc == 1)
		control_reply_error(req, "no cached policy for %.255s", domain);
	else
		control_reply_error(req, "cannot read the policy cache for %.255s", domain);
}

struct cp_list {
	json_t	*a;
	size_t	 n;
	int	 truncated;
};

static int
cp_list_one(const struct policy_cached *c, void *arg)
{
	struct cp_list	*l = arg;

	if (l->n >= CONTROL_POLICY_LIST_MAX) {
		l->truncated = 1;
		return 1;
	}
	json_array_append_new(l->a, cp_cached_json(c, 0));
	l->n++;
	return 0;
}

static void
cp_list(struct control_request *req, const json_t *args, void *arg)
{
	struct cp	*cp = arg;
	struct cp_list	 l;
	json_t		*o;

	memset(&l, 0, sizeof(l));
	l.a = cp_array();
	if (policy_list(cp->policy, cp_list_one, &l) == -1) {
		json_decref(l.a);
		control_reply_error(req, "cannot read the policy cache");
		return;
	}
	o = cp_object();
	cp_set(o, "policies", l.a);
	cp_set(o, "count", json_integer((json_int_t)l.n));
	cp_set(o, "truncated", json_boolean(l.truncated));
	control_reply(req, o);
}

/* --- policy.flush --- */

struct cp_flush {
	char	**domains;
	int	 *period;	/* only a tempfail period, no policy */
	size_t	  n, cap;
};

static int
cp_flush_collect(const struct policy_cached *c, void *arg)
{
	struct cp_flush	*f = arg;

	if (f->n == f->cap) {
		f->cap = f->cap == 0 ? 16 : f->cap * 2;
		f->domains = xreallocarray(f->domains, f->cap, sizeof(*f->domains));
		f->period = xreallocarray(f->period, f->cap, sizeof(*f->period));
	}
	f->period[f->n] = !c->corrupt && c->id[0] == '\0' && c->fail_id[0] == '\0' &&
	    c->txt_fail_since != 0;
	f->domains[f->n++] = xstrdup(c->domain);
	return 0;
}

static void
cp_flush_all(struct control_request *req, struct cp *cp)
{
	struct cp_flush	f;
	size_t		i, done = 0, periods = 0;
	int		rc;

	memset(&f, 0, sizeof(f));
	/* every record: "flush --all" also ends tempfail periods */
	rc = policy_list_all(cp->policy, cp_flush_collect, &f);
	for (i = 0; i < f.n; i++) {
		if (rc != -1 && policy_forget(cp->policy, f.domains[i]) == 0) {
			if (f.period[i])
				periods++;
			else
				done++;
		}
		free(f.domains[i]);
	}
	free(f.domains);
	free(f.period);
	if (rc == -1) {
		control_reply_error(req, "cannot read the policy cache");
		return;
	}
	log_info("control: %zu cached policies forgotten, %zu tempfail periods ended",
	    done, periods);
	control_reply(req, json_pack("{s:s, s:I, s:I}", "domain", "all policies",
	    "count", (json_int_t)done, "periods", (json_int_t)periods));
}

static void
cp_seen(const struct policy_cached *c, void *arg)
{
	(void)c;
	*(int *)arg = 1;
}

static void
cp_flush(struct control_request *req, const json_t *args, void *arg)
{
	struct cp	*cp = arg;
	const char	*domain;
	char		 alabel[256];
	int		 rc, policy = 0;

	if (json_is_true(json_object_get(args, "all"))) {
		cp_flush_all(req, cp);
		return;
	}
	if ((domain = cp_domain(req, args, alabel, sizeof(alabel))) == NULL)
		return;
	/* policy_show skips a record that only keeps a tempfail period */
	(void)policy_show(cp->policy, domain, cp_seen, &policy);
	if ((rc = policy_forget(cp->policy, domain)) == 1)
		control_reply_error(req, "no cached policy for %.255s", domain);
	else if (rc == -1)
		control_reply_error(req, "cannot forget the policy of %.255s", domain);
	else
		control_reply(req, json_pack("{s:o, s:I, s:I}", "domain", CP_S(domain),
		    "count", (json_int_t)policy, "periods", (json_int_t)!policy));
}

void
control_policy_register(struct control *ctl, struct policy *policy)
{
	struct cp	*cp = xcalloc(1, sizeof(*cp));

	cp->policy = policy;
	if (control_register(ctl, "policy.check", cp_check, cp) == -1 ||
	    control_register(ctl, "policy.show", cp_show, cp) == -1 ||
	    control_register(ctl, "policy.list", cp_list, cp) == -1 ||
	    control_register(ctl, "policy.flush", cp_flush, cp) == -1)
		fatalx("control_policy_register: policy commands registered twice");
	control_adopt(ctl, cp);
}

void
control_policy_params(const struct config *cfg, struct policy_params *pp)
{
	memset(pp, 0, sizeof(*pp));
	pp->cainfo = cfg->ca_bundle;
	pp->dns = cfg->dns_servers;
	pp->ndns = cfg->ndns_servers;
	pp->policy_port = (unsigned)cfg->policy_port;
	pp->fetch_timeout_s = (unsigned)cfg->policy_fetch_timeout;
	pp->recheck_interval_s = (unsigned)cfg->policy_recheck_interval;
	pp->tempfail_bound_s = (unsigned)cfg->policy_tempfail_bound;
	pp->backoff_s = (unsigned)cfg->policy_fetch_backoff;
	/* docs/policy-cache.md: decisions reused from memory, then re-checked behind */
	pp->front_ttl_s = (unsigned)cfg->policy_txt_recheck;
	pp->fetch_concurrency = (unsigned)cfg->policy_fetch_concurrency;
}

json_t *
control_policy_json(struct policy *p)
{
	struct policy_stats	 st;
	json_t			*o;

	policy_get_stats(p, &st);
	o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "lookups", (json_int_t)st.lookups, "coalesced", (json_int_t)st.coalesced,
	    "revalidations", (json_int_t)st.revalidations,
	    "front_hits", (json_int_t)st.front_hits, "cache_hits", (json_int_t)st.cache_hits,
	    "stale_answers", (json_int_t)st.stale_answers,
	    "txt_queries", (json_int_t)st.txt_queries, "txt_tempfails", (json_int_t)st.txt_tempfails,
	    "fetches", (json_int_t)st.fetches, "fetch_failures", (json_int_t)st.fetch_failures,
	    "backoffs", (json_int_t)st.backoffs, "queued", (json_int_t)st.queued,
	    "running_max", (json_int_t)st.running_max);
	if (o == NULL)
		fatalx("control_policy_json: json_pack failed");
	return o;
}
