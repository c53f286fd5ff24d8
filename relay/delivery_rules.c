/*
 * delivery_rules.c: the plain decisions of delivery (see delivery_rules.h).
 * No I/O, no state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/idna.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/delivery_rules.h"

int
dlv_rcpt_domain(const char *addr, char *out, size_t outlen)
{
	const char	*at = strrchr(addr, '@');
	size_t		 len;

	if (at == NULL || at[1] == '\0')
		return -1;
	if (strutil_lcpy(out, at + 1, outlen) >= outlen)
		return -1;
	len = strlen(out);
	if (len > 0 && out[len - 1] == '.')
		out[--len] = '\0';
	if (len == 0)
		return -1;
	strutil_lower(out);
	return 0;
}

void
dlv_split(struct dlv_split *sp, const char *const *rcpts, const unsigned char *todo,
    size_t n)
{
	char	dom[DLV_DOMAIN_MAX], alabel[DLV_DOMAIN_MAX];
	size_t	i, g, len;

	memset(sp, 0, sizeof(*sp));
	sp->group_of = xreallocarray(NULL, n > 0 ? n : 1, sizeof(*sp->group_of));
	for (i = 0; i < n; i++) {
		sp->group_of[i] = DLV_NO_GROUP;
		if (!todo[i] || dlv_rcpt_domain(rcpts[i], dom, sizeof(dom)) == -1)
			continue;
		/* S1: grouped by A-label; an invalid IDN keeps its name and bounces */
		if (idna_to_alabel(dom, alabel, sizeof(alabel), NULL) == 0) {
			/* a final U+3002 or U+FF0E became "." only now */
			if ((len = strlen(alabel)) > 1 && alabel[len - 1] == '.')
				alabel[len - 1] = '\0';
			strutil_lcpy(dom, alabel, sizeof(dom));
		}
		for (g = 0; g < sp->ngroups; g++)
			if (strcmp(sp->domains[g], dom) == 0)
				break;
		if (g == sp->ngroups) {
			sp->domains = xreallocarray(sp->domains, sp->ngroups + 1,
			    sizeof(*sp->domains));
			sp->domains[sp->ngroups++] = xstrdup(dom);
		}
		sp->group_of[i] = g;
	}
}

void
dlv_split_free(struct dlv_split *sp)
{
	size_t	g;

	for (g = 0; g < sp->ngroups; g++)
		free(sp->domains[g]);
	free(sp->domains);
	free(sp->group_of);
	memset(sp, 0, sizeof(*sp));
}

static void
verdict(struct dlv_verdict *v, enum queue_rcpt_state state, const char *result,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
verdict(struct dlv_verdict *v, enum queue_rcpt_state state, const char *result,
    const char *fmt, ...)
{
	va_list	ap;

	v->state = state;
	strutil_lcpy(v->result, result, sizeof(v->result));
	va_start(ap, fmt);
	vsnprintf(v->text, sizeof(v->text), fmt, ap);
	va_end(ap);
}

void
dlv_policy_tempfail(const struct policy_result *pol, struct dlv_verdict *v)
{
	verdict(v, QUEUE_RCPT_DEFERRED, pol->result_type != NULL ? pol->result_type : "",
	    "4.4.3 MTA-STS policy lookup failed temporarily%s%s",
	    pol->reason != NULL && pol->reason[0] != '\0' ? ": " : "",
	    pol->reason != NULL ? pol->reason : "");
}

/* The DNS answer alone: -1 with the verdict when it leaves no host. */
static int
plan_dns(const char *domain, const struct resolver_mx_result *mx, struct dlv_verdict *v)
{
	switch (mx->status) {
	case RESOLVER_OK:
		if (mx->null_mx) {
			verdict(v, QUEUE_RCPT_BOUNCED, "",
			    "5.1.10 %s does not accept mail (null MX)", domain);
			return -1;
		}
		return 0;
	case RESOLVER_NODATA:
		return 0;
	case RESOLVER_NXDOMAIN:
		verdict(v, QUEUE_RCPT_BOUNCED, "", "5.1.2 domain %s does not exist", domain);
		return -1;
	case RESOLVER_TEMPFAIL:
	case RESOLVER_MALFORMED:
		break;
	}
	verdict(v, QUEUE_RCPT_DEFERRED, "", "4.4.3 MX lookup of %s failed: %s", domain,
	    mx->error != NULL && mx->error[0] != '\0' ? mx->error :
	    resolver_strstatus(mx->status));
	return -1;
}

static void
add_cand(struct dlv_cand *c, size_t *n, const char *host, unsigned pref, int matches)
{
	size_t	len;

	if (*n == DLV_MAX_CANDS)
		return;
	strutil_lcpy(c[*n].host, host, sizeof(c[*n].host));
	len = strlen(c[*n].host);
	if (len > 0 && c[*n].host[len - 1] == '.')
		c[*n].host[len - 1] = '\0';
	strutil_lower(c[*n].host);
	c[*n].pref = pref;
	c[*n].matches = matches;
	(*n)++;
}

int
dlv_plan(const char *domain, const struct policy_result *pol,
    const struct resolver_mx_result *mx, struct dlv_cand *cands, size_t *ncands,
    struct dlv_verdict *v)
{
	size_t	i, nall = 0;
	int	m;

	*ncands = 0;
	memset(v, 0, sizeof(*v));
	if (pol->mode == POLICY_MODE_TEMPFAIL) {
		dlv_policy_tempfail(pol, v);
		return -1;
	}
	if (plan_dns(domain, mx, v) == -1)
		return -1;
	if (mx->status == RESOLVER_NODATA || mx->nmx == 0) {
		/* S23: no MX record, the domain itself is the host */
		m = policy_mx_allowed(pol, domain);
		nall = 1;
		if (m || pol->mode != POLICY_MODE_ENFORCE)
			add_cand(cands, ncands, domain, 0, m);
	} else {
		/* S23: preference order (the resolver sorts, stable) */
		for (i = 0; i < mx->nmx; i++) {
			if (mx->mx[i].host[0] == '\0')
				continue;
			nall++;
			m = policy_mx_allowed(pol, mx->mx[i].host);
			/* Ours: enforce never contacts a host the policy does not name */
			if (m || pol->mode != POLICY_MODE_ENFORCE)
				add_cand(cands, ncands, mx->mx[i].host, mx->mx[i].pref, m);
		}
	}
	if (*ncands > 0)
		return 0;
	if (pol->mode == POLICY_MODE_ENFORCE && nall > 0)
		verdict(v, QUEUE_RCPT_DEFERRED, "validation-failure",
		    "4.7.0 no MX host matches the MTA-STS policy of %s", domain);
	else
		verdict(v, QUEUE_RCPT_DEFERRED, "", "4.4.3 no usable MX host for %s", domain);
	return -1;
}

enum smtpc_tls_mode
dlv_tls_mode(enum policy_mode m)
{
	switch (m) {
	case POLICY_MODE_ENFORCE:
		return SMTPC_TLS_VERIFY;
	case POLICY_MODE_TESTING:
		return SMTPC_TLS_TESTING;
	case POLICY_MODE_ABSENT:
	case POLICY_MODE_NONE:
	case POLICY_MODE_TEMPFAIL:
		break;
	}
	return SMTPC_TLS_OPPORTUNISTIC;
}

int
dlv_retry_plaintext(const struct smtpc_outcome *o, enum policy_mode m)
{
	if (m == POLICY_MODE_ENFORCE || o->mode == SMTPC_TLS_VERIFY ||
	    o->mode == SMTPC_TLS_PLAINTEXT)
		return 0;
	return o->retry_plaintext;
}

void
dlv_session_verdict(const struct smtpc_outcome *o, struct dlv_verdict *v)
{
	const char	*enh = o->status.enhanced;
	char		 text[DLV_TEXT_MAX];

	smtpc_status_format(&o->status, text, sizeof(text));
	if (enh[0] == '\0')
		enh = "4.4.1";
	/* a session-level failure never bounces: the next attempt may work */
	if (o->status.code != 0 || enh[0] != '4')
		verdict(v, QUEUE_RCPT_DEFERRED, "", "4.4.2 %s said: %s",
		    o->relay, text);
	else
		strutil_lcpy(v->text, text, sizeof(v->text));
	v->state = QUEUE_RCPT_DEFERRED;
	strutil_lcpy(v->result, o->tls_result != TLS_CLIENT_OK ?
	    tls_client_result_name(o->tls_result) : "", sizeof(v->result));
}

enum queue_rcpt_state
dlv_rcpt_state(const struct smtpc_status *st)
{
	switch (st->kind) {
	case SMTPC_OK:
		return QUEUE_RCPT_DELIVERED;
	case SMTPC_PERM:
		return QUEUE_RCPT_BOUNCED;
	case SMTPC_TEMP:
		break;
	}
	return QUEUE_RCPT_DEFERRED;
}

const char *
dlv_tls_result(const struct smtpc_outcome *o, const char *violation)
{
	if (violation != NULL && violation[0] != '\0')
		return violation;
	if (o->tls_result != TLS_CLIENT_OK)
		return tls_client_result_name(o->tls_result);
	if (o->status.kind != SMTPC_OK && o->status.code == 0 &&
	    strcmp(o->status.enhanced, "4.4.1") == 0)
		return NULL;	/* no TLS session was even tried */
	return "success";
}

int
dlv_policy_changed(const struct policy_result *before, const struct policy_result *after)
{
	const char *a = before->id != NULL ? before->id : "";
	const char *b = after->id != NULL ? after->id : "";
	const char *t = after->txt_id != NULL ? after->txt_id : "";

	return strcmp(a, b) != 0 || before->mode != after->mode || after->txt_failed ||
	    (t[0] != '\0' && strcmp(a, t) != 0);
}
