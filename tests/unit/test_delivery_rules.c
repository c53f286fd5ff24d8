/*
 * test_delivery_rules.c: the plain decisions of delivery: recipient groups
 * per domain (S1), the MX candidates a policy allows and their order (S22,
 * S23, S27, Ours), and what sessions and replies mean for the queue.
 */
#include <stdio.h>
#include <string.h>

#include "relay/delivery_rules.h"
#include "tests/tap.h"

static void
test_domain(void)
{
	char	d[DLV_DOMAIN_MAX];

	ok(dlv_rcpt_domain("a@D.Test", d, sizeof(d)) == 0 && strcmp(d, "d.test") == 0,
	    "S1: the policy domain is the recipient domain, lower case");
	ok(dlv_rcpt_domain("a@sub.d.test.", d, sizeof(d)) == 0 && strcmp(d, "sub.d.test") == 0,
	    "S1: a subdomain stays itself (never the parent), trailing dot dropped");
	ok(dlv_rcpt_domain("\"a@b\"@e.test", d, sizeof(d)) == 0 && strcmp(d, "e.test") == 0,
	    "S1: the domain follows the last @");
	ok(dlv_rcpt_domain("nodomain", d, sizeof(d)) == -1, "an address without @ has no domain");
	ok(dlv_rcpt_domain("a@", d, sizeof(d)) == -1, "an empty domain is none");
	ok(dlv_rcpt_domain("a@d.test", d, 4) == -1, "a domain that does not fit is refused");
}

static void
test_split(void)
{
	const char *rcpts[] = { "a@d.test", "b@E.test", "c@D.TEST", "done@d.test", "bad",
	    "f@e.test" };
	unsigned char todo[] = { 1, 1, 1, 0, 1, 1 };
	struct dlv_split sp;

	dlv_split(&sp, rcpts, todo, 6);
	is_int(sp.ngroups, 2, "S1: one group per recipient domain");
	is_str(sp.domains[0], "d.test", "groups in first-seen order, lower case");
	is_str(sp.domains[1], "e.test", "second group");
	ok(sp.group_of[0] == 0 && sp.group_of[2] == 0, "domains compared without case");
	ok(sp.group_of[1] == 1 && sp.group_of[5] == 1, "second domain's recipients together");
	ok(sp.group_of[3] == DLV_NO_GROUP, "a recipient not to try is in no group");
	ok(sp.group_of[4] == DLV_NO_GROUP, "a recipient without domain is in no group");
	dlv_split_free(&sp);
	dlv_split(&sp, rcpts, todo, 0);
	is_int(sp.ngroups, 0, "no recipients, no groups");
	dlv_split_free(&sp);
}

static void
test_split_idn(void)
{
	const char *rcpts[] = { "u@b\xc3\xbc" "cher.example", "v@XN--BCHER-KVA.example",
	    "w@B\xc3\x9c" "CHER.example", "x@\xe2\x98\x83.example",
	    "y@b\xc3\xbc" "cher.example\xe3\x80\x82", "z@xn--ls8h.la" };
	unsigned char todo[] = { 1, 1, 1, 1, 1, 1 };
	struct dlv_split sp;

	dlv_split(&sp, rcpts, todo, 6);
	is_int(sp.group_of[1], sp.group_of[0], "S1: a U-label domain and its A-label are one group");
	is_str(sp.domains[0], "xn--bcher-kva.example", "S1: the group's domain is the A-label");
	ok(sp.group_of[0] == 0 && sp.group_of[1] == 0 && sp.group_of[2] == 0,
	    "U-label, upper case A-label and upper case U-label together");
	is_str(sp.ngroups > 1 ? sp.domains[1] : "", "\xe2\x98\x83.example",
	    "a domain that is not valid IDNA keeps its name (bounced 5.1.2 later)");
	ok(sp.group_of[3] == 1, "... in a group of its own, never DLV_NO_GROUP (5.1.3)");
	ok(sp.group_of[4] == 0, "a final ideographic full stop is a final dot: the same group");
	is_str(sp.ngroups > 2 ? sp.domains[2] : "", "xn--ls8h.la",
	    "an ASCII A-label IDNA2008 disallows is kept as written (RFC 5891 5.3)");
	is_int(sp.ngroups, 3, "three groups in all");
	dlv_split_free(&sp);
}

static struct policy_result
pol(enum policy_mode mode, const char *const *mx, size_t nmx)
{
	struct policy_result r;

	memset(&r, 0, sizeof(r));
	r.domain = "d.test";
	r.mode = mode;
	r.source = POLICY_SOURCE_FRESH;
	r.mx = mx;
	r.nmx = nmx;
	r.id = "id1";
	r.result_type = "";
	r.reason = "";
	return r;
}

static struct resolver_mx_result
mxr(enum resolver_status st, const struct resolver_mx *mx, size_t n, int null_mx)
{
	struct resolver_mx_result r;

	memset(&r, 0, sizeof(r));
	r.status = st;
	r.mx = mx;
	r.nmx = n;
	r.null_mx = null_mx;
	r.error = "";
	return r;
}

static void
test_plan(void)
{
	static const struct resolver_mx mx3[] = { { "mx1.d.test", 10 }, { "evil.e.test", 20 },
	    { "MX2.d.test.", 30 } };
	static const char *const only1[] = { "mx1.d.test" };
	static const char *const wild[] = { "*.d.test" };
	static const char *const other[] = { "mx9.d.test" };
	struct resolver_mx_result	r;
	struct policy_result		p;
	struct dlv_cand			c[DLV_MAX_CANDS];
	struct dlv_verdict		v;
	size_t				n;

	r = mxr(RESOLVER_OK, mx3, 3, 0);
	p = pol(POLICY_MODE_ABSENT, NULL, 0);
	ok(dlv_plan("d.test", &p, &r, c, &n, &v) == 0 && n == 3, "no policy: every MX host");
	ok(strcmp(c[0].host, "mx1.d.test") == 0 && strcmp(c[2].host, "mx2.d.test") == 0,
	    "S23: preference order kept, names lower case without the final dot");
	p = pol(POLICY_MODE_ENFORCE, wild, 1);
	ok(dlv_plan("d.test", &p, &r, c, &n, &v) == 0 && n == 2, "S22: *.d.test keeps 2 of 3");
	ok(strcmp(c[0].host, "mx1.d.test") == 0 && strcmp(c[1].host, "mx2.d.test") == 0,
	    "Ours: enforce never lists a host the policy does not name");
	p = pol(POLICY_MODE_ENFORCE, only1, 1);
	ok(dlv_plan("d.test", &p, &r, c, &n, &v) == 0 && n == 1 && c[0].matches,
	    "enforce: only the named host");
	p = pol(POLICY_MODE_TESTING, only1, 1);
	ok(dlv_plan("d.test", &p, &r, c, &n, &v) == 0 && n == 3, "S28: testing tries every host");
	ok(c[0].matches && !c[1].matches && !c[2].matches, "S28: testing marks the violations");
	p = pol(POLICY_MODE_ENFORCE, other, 1);
	ok(dlv_plan("d.test", &p, &r, c, &n, &v) == -1 && n == 0, "enforce: no host matches");
	ok(v.state == QUEUE_RCPT_DEFERRED && strncmp(v.text, "4.7.0 ", 6) == 0,
	    "Ours: no MX matches the policy defers 4.7.0");
	p = pol(POLICY_MODE_NONE, other, 1);
	ok(dlv_plan("d.test", &p, &r, c, &n, &v) == 0 && n == 3, "S29: mode none is no policy");

	r = mxr(RESOLVER_NODATA, NULL, 0, 0);
	p = pol(POLICY_MODE_ABSENT, NULL, 0);
	ok(dlv_plan("d.test", &p, &r, c, &n, &v) == 0 && n == 1 &&
	    strcmp(c[0].host, "d.test") == 0, "S23: no MX record: the domain is the implicit MX");
	p = pol(POLICY_MODE_ENFORCE, wild, 1);
	ok(dlv_plan("d.test", &p, &r, c, &n, &v) == -1 && strncmp(v.text, "4.7.0", 5) == 0,
	    "S22: *.d.test does not match the implicit MX d.test: defer 4.7.0");
	r = mxr(RESOLVER_OK, NULL, 0, 1);
	p = pol(POLICY_MODE_ABSENT, NULL, 0);
	ok(dlv_plan("d.test", &p, &r, c, &n, &v) == -1 && v.state == QUEUE_RCPT_BOUNCED &&
	    strncmp(v.text, "5.1.10 ", 7) == 0, "S23: null MX bounces 5.1.10");
	r = mxr(RESOLVER_NXDOMAIN, NULL, 0, 0);
	ok(dlv_plan("d.test", &p, &r, c, &n, &v) == -1 && v.state == QUEUE_RCPT_BOUNCED &&
	    strncmp(v.text, "5.1.2 ", 6) == 0, "NXDOMAIN bounces 5.1.2");
	r = mxr(RESOLVER_TEMPFAIL, NULL, 0, 0);
	ok(dlv_plan("d.test", &p, &r, c, &n, &v) == -1 && v.state == QUEUE_RCPT_DEFERRED &&
	    strncmp(v.text, "4.4.3 ", 6) == 0, "Ours: DNS trouble defers 4.4.3");
	{
		struct resolver_mx many[40];
		size_t i;

		for (i = 0; i < 40; i++) {
			snprintf(many[i].host, sizeof(many[i].host), "mx%zu.d.test", i);
			many[i].pref = (unsigned)i;
		}
		r = mxr(RESOLVER_OK, many, 40, 0);
		p = pol(POLICY_MODE_ABSENT, NULL, 0);
		ok(dlv_plan("d.test", &p, &r, c, &n, &v) == 0 && n == DLV_MAX_CANDS &&
		    strcmp(c[DLV_MAX_CANDS - 1].host, "mx15.d.test") == 0,
		    "bounded: the first DLV_MAX_CANDS hosts by preference");
	}
	r = mxr(RESOLVER_OK, mx3, 3, 0);
	p = pol(POLICY_MODE_TEMPFAIL, NULL, 0);
	ok(dlv_plan("d.test", &p, &r, c, &n, &v) == -1 && v.state == QUEUE_RCPT_DEFERRED &&
	    strncmp(v.text, "4.4.3 ", 6) == 0, "Ours: policy TEMPFAIL defers 4.4.3");
}

static struct smtpc_outcome
outcome(enum smtpc_tls_mode mode, int code, const char *enh, enum tls_client_result tr,
    int retry)
{
	struct smtpc_outcome o;

	memset(&o, 0, sizeof(o));
	o.mode = mode;
	strcpy(o.relay, "mx1.d.test[127.0.0.2]:25");
	strcpy(o.mx_host, "mx1.d.test");
	o.status.kind = enh[0] == '\0' ? SMTPC_OK : enh[0] == '5' ? SMTPC_PERM : SMTPC_TEMP;
	o.status.code = code;
	o.status.local = code == 0;
	strcpy(o.status.enhanced, enh);
	strcpy(o.status.text, "why");
	o.tls_result = tr;
	o.retry_plaintext = retry;
	return o;
}

static void
test_outcomes(void)
{
	struct smtpc_outcome	o;
	struct smtpc_status	st;
	struct dlv_verdict	v;

	is_int(dlv_tls_mode(POLICY_MODE_ENFORCE), SMTPC_TLS_VERIFY, "S27: enforce verifies");
	is_int(dlv_tls_mode(POLICY_MODE_TESTING), SMTPC_TLS_TESTING, "S28: testing");
	is_int(dlv_tls_mode(POLICY_MODE_NONE), SMTPC_TLS_OPPORTUNISTIC, "S29: none");
	is_int(dlv_tls_mode(POLICY_MODE_ABSENT), SMTPC_TLS_OPPORTUNISTIC, "no policy");

	o = outcome(SMTPC_TLS_VERIFY, 0, "4.7.4", TLS_CLIENT_STARTTLS_NOT_SUPPORTED, 0);
	dlv_session_verdict(&o, &v);
	ok(v.state == QUEUE_RCPT_DEFERRED && strncmp(v.text, "4.7.4 ", 6) == 0,
	    "Ours: no STARTTLS in enforce defers 4.7.4");
	is_str(v.result, "starttls-not-supported", "R3: its result type");
	o = outcome(SMTPC_TLS_VERIFY, 0, "4.7.5", TLS_CLIENT_EXPIRED, 1);
	dlv_session_verdict(&o, &v);
	ok(strncmp(v.text, "4.7.5 ", 6) == 0, "Ours: a certificate failure defers 4.7.5");
	is_str(v.result, "certificate-expired", "R3: certificate-expired");
	ok(!dlv_retry_plaintext(&o, POLICY_MODE_ENFORCE), "S27: never plaintext in enforce");
	o = outcome(SMTPC_TLS_TESTING, 0, "4.7.5", TLS_CLIENT_VALIDATION_FAILURE, 1);
	ok(dlv_retry_plaintext(&o, POLICY_MODE_TESTING), "Ours: testing retries in plaintext");
	o = outcome(SMTPC_TLS_OPPORTUNISTIC, 0, "4.7.5", TLS_CLIENT_VALIDATION_FAILURE, 1);
	ok(dlv_retry_plaintext(&o, POLICY_MODE_ABSENT), "no policy retries in plaintext");
	o = outcome(SMTPC_TLS_PLAINTEXT, 0, "4.7.5", TLS_CLIENT_VALIDATION_FAILURE, 1);
	ok(!dlv_retry_plaintext(&o, POLICY_MODE_ABSENT), "plaintext is not retried again");
	o = outcome(SMTPC_TLS_VERIFY, 0, "4.4.1", TLS_CLIENT_OK, 0);
	dlv_session_verdict(&o, &v);
	ok(strncmp(v.text, "4.4.1 ", 6) == 0, "Ours: connection failure defers 4.4.1");
	ok(dlv_tls_result(&o, NULL) == NULL, "R2: no TCP connection, no TLS session counted");
	o = outcome(SMTPC_TLS_VERIFY, 554, "5.3.2", TLS_CLIENT_OK, 0);
	dlv_session_verdict(&o, &v);
	ok(v.state == QUEUE_RCPT_DEFERRED && strncmp(v.text, "4.4.2 ", 6) == 0,
	    "a 5xx greeting defers (the next attempt may reach another host)");
	o = outcome(SMTPC_TLS_VERIFY, 0, "", TLS_CLIENT_OK, 0);
	is_str(dlv_tls_result(&o, NULL), "success", "R2: a verified session is a success");
	is_str(dlv_tls_result(&o, "validation-failure"), "validation-failure",
	    "S28: a testing violation counts as its result type");

	memset(&st, 0, sizeof(st));
	st.kind = SMTPC_OK;
	is_int(dlv_rcpt_state(&st), QUEUE_RCPT_DELIVERED, "2xx: delivered");
	st.kind = SMTPC_TEMP;
	is_int(dlv_rcpt_state(&st), QUEUE_RCPT_DEFERRED, "4xx: deferred");
	st.kind = SMTPC_PERM;
	is_int(dlv_rcpt_state(&st), QUEUE_RCPT_BOUNCED, "5xx: bounced");
}

static void
test_recheck(void)
{
	static const char *const mx[] = { "mx1.d.test" };
	struct policy_result a = pol(POLICY_MODE_ENFORCE, mx, 1), b = a;

	ok(!dlv_policy_changed(&a, &b), "S21: same id, the bounce stands");
	b.id = "id2";
	ok(dlv_policy_changed(&a, &b), "S21: a new id turns the bounce into a deferral");
	b = a;
	b.mode = POLICY_MODE_TEMPFAIL;
	ok(dlv_policy_changed(&a, &b), "S21: no policy obtainable now: defer too");
	b = a;
	b.txt_id = "id1";
	ok(!dlv_policy_changed(&a, &b), "S21: the TXT record still publishes id1: the bounce stands");
	b.txt_id = "id2";
	ok(dlv_policy_changed(&a, &b),
	    "S21: TXT publishes id2 but its policy could not be fetched (id1 applied): defer");
	b.txt_id = "";
	b.txt_failed = 1;
	ok(dlv_policy_changed(&a, &b), "S21: the TXT query failed (id1 applied): defer");
	b.txt_failed = 0;
	ok(!dlv_policy_changed(&a, &b), "S21: no TXT record (S4: the cached policy applies): stands");
}

int
main(void)
{
	test_domain();
	test_split();
	test_split_idn();
	test_plan();
	test_outcomes();
	test_recheck();
	return tap_done();
}
