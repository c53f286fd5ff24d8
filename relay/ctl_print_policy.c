/*
 * ctl_print_policy.c: stsrelayctl's human-readable forms of the policy
 * answers (relay/control_policy.h): the step-by-step trace of policy check,
 * policy show, policy list and policy flush.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/strutil.h"
#include "relay/ctl_print.h"

static const char *
pp_str(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

static uint64_t
pp_int(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ?
	    (uint64_t)json_integer_value(v) : 0;
}

static int
pp_true(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

/* "2026-11-22 09:14:45Z", UTC: the same on every admin's terminal. */
static void
pp_time(uint64_t t, char *buf, size_t len)
{
	time_t		tt = (time_t)t;
	struct tm	tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
		strutil_lcpy(buf, "-", len);
}

/* A duration for people: two units at most, "1d23h", "59m", "12s". */
static void
pp_dur(uint64_t s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, s % 86400 >= 3600 ? "%llud%lluh" : "%llud",
		    (unsigned long long)(s / 86400), (unsigned long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, s % 3600 >= 60 ? "%lluh%llum" : "%lluh",
		    (unsigned long long)(s / 3600), (unsigned long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, len, "%llum", (unsigned long long)(s / 60));
	else
		snprintf(buf, len, "%llus", (unsigned long long)s);
}

/* "3h ago", "in 1d" relative to now. */
static void
pp_rel(uint64_t t, uint64_t now, char *buf, size_t len)
{
	char	d[32];

	if (t == 0) {
		strutil_lcpy(buf, "", len);
		return;
	}
	pp_dur(t > now ? t - now : now - t, d, sizeof(d));
	snprintf(buf, len, t > now ? "in %s" : "%s ago", d);
}

static void
pp_join(const json_t *a, const char *sep, FILE *fp)
{
	size_t	i;

	for (i = 0; i < json_array_size(a); i++)
		fprintf(fp, "%s%s", i > 0 ? sep : "",
		    json_is_string(json_array_get(a, i)) ?
		    json_string_value(json_array_get(a, i)) : "?");
}

/* --- policy check --- */

static void
pp_txt(const json_t *t, FILE *fp)
{
	const json_t	*recs = json_object_get(t, "records"), *r;
	size_t		 i;

	fprintf(fp, "1. TXT %s: ", pp_str(t, "name"));
	if (strcmp(pp_str(t, "status"), "ok") != 0) {
		fprintf(fp, "%s%s%s\n", pp_str(t, "status"), *pp_str(t, "error") ? ": " : "",
		    pp_str(t, "error"));
	} else {
		fprintf(fp, "%" PRIu64 " record%s, %" PRIu64 " starting with v=STSv1;\n",
		    pp_int(t, "count"), pp_int(t, "count") == 1 ? "" : "s",
		    pp_int(t, "sts_count"));
		for (i = 0; i < json_array_size(recs); i++) {
			r = json_array_get(recs, i);
			fprintf(fp, "     [%zu] \"%s\" (%" PRIu64 " bytes)\n", i + 1,
			    pp_str(r, "text"), pp_int(r, "length"));
			if (!pp_true(r, "sts"))
				fprintf(fp, "         not STSv1: ignored (S4)\n");
			else if (*pp_str(r, "id") != '\0')
				fprintf(fp, "         STSv1, id %s\n", pp_str(r, "id"));
			else
				fprintf(fp, "         STSv1, malformed: %s\n", pp_str(r, "error"));
		}
	}
	if (*pp_str(t, "id") != '\0')
		fprintf(fp, "   => policy id %s\n", pp_str(t, "id"));
	else
		fprintf(fp, "   => no policy id: %s\n", pp_str(t, "reason"));
}

static void
pp_host(const json_t *h, FILE *fp)
{
	const json_t	*a = json_object_get(h, "addresses");

	if (json_array_size(a) > 0)
		pp_join(a, " ", fp);
	else
		fprintf(fp, "no address (%s)", *pp_str(h, "error") ? pp_str(h, "error") : "?");
}

static void
pp_fetch(const json_t *f, FILE *fp)
{
	const json_t	*ct = json_object_get(f, "content_type");

	if (!json_is_object(f)) {
		fprintf(fp, "2. fetch: not attempted\n");
		return;
	}
	fprintf(fp, "2. policy host %s: ", pp_str(json_object_get(f, "host"), "name"));
	pp_host(json_object_get(f, "host"), fp);
	fputc('\n', fp);
	if (*pp_str(f, "url") != '\0')
		fprintf(fp, "   GET %s\n", pp_str(f, "url"));
	if (pp_int(f, "http_status") != 0)
		fprintf(fp, "   HTTP %" PRIu64 ", Content-Type %s, %" PRIu64 " bytes\n",
		    pp_int(f, "http_status"), json_is_string(ct) ?
		    json_string_value(ct) : "(none)", pp_int(f, "size"));
	if (pp_true(f, "ok"))
		fprintf(fp, "   => fetched\n");
	else
		fprintf(fp, "   => failed: %s: %s%s%s\n", *pp_str(f, "result_type") ?
		    pp_str(f, "result_type") : "sts-policy-fetch-error", pp_str(f, "error"),
		    *pp_str(f, "curl_error") ? ": " : "", pp_str(f, "curl_error"));
}

static void
pp_policy(const json_t *o, FILE *fp)
{
	const json_t	*pol = json_object_get(o, "policy");
	char		 age[32];

	if (!json_is_object(pol)) {
		if (*pp_str(o, "parse_error") != '\0')
			fprintf(fp, "3. policy: invalid (sts-policy-invalid, S17): %s\n",
			    pp_str(o, "parse_error"));
		else
			fprintf(fp, "3. policy: not obtained\n");
		return;
	}
	pp_dur(pp_int(pol, "max_age"), age, sizeof(age));
	fprintf(fp, "3. policy: valid\n     mode:    %s\n     max_age: %" PRIu64 " (%s)",
	    pp_str(pol, "mode"), pp_int(pol, "max_age"), age);
	if (pp_int(pol, "max_age_published") != pp_int(pol, "max_age"))
		fprintf(fp, ", published %" PRIu64 ", capped", pp_int(pol, "max_age_published"));
	fprintf(fp, "\n     mx:      ");
	if (json_array_size(json_object_get(pol, "mx")) == 0)
		fprintf(fp, "(none)");
	pp_join(json_object_get(pol, "mx"), ", ", fp);
	fputc('\n', fp);
	if (*pp_str(pol, "warning") != '\0')
		fprintf(fp, "     note:    %s\n", pp_str(pol, "warning"));
}

static void
pp_mx(const json_t *m, const json_t *result, FILE *fp)
{
	const json_t	*hosts = json_object_get(m, "hosts"), *h;
	const char	*mode = pp_str(result, "mode");
	int		 judged = strcmp(mode, "enforce") == 0 || strcmp(mode, "testing") == 0;
	size_t		 i;

	fprintf(fp, "4. MX: ");
	if (pp_true(m, "null_mx"))
		fprintf(fp, "null MX (\"MX 0 .\"): the domain takes no mail\n");
	else if (pp_true(m, "implicit"))
		fprintf(fp, "no MX record: the domain itself is the mail host (S23)\n");
	else if (strcmp(pp_str(m, "status"), "ok") != 0)
		fprintf(fp, "%s%s%s\n", pp_str(m, "status"), *pp_str(m, "error") ? ": " : "",
		    pp_str(m, "error"));
	else
		fprintf(fp, "%" PRIu64 " host%s\n", pp_int(m, "count"),
		    pp_int(m, "count") == 1 ? "" : "s");
	for (i = 0; i < json_array_size(hosts); i++) {
		h = json_array_get(hosts, i);
		fprintf(fp, "     %5" PRIu64 " %-24s ", pp_int(h, "preference"), pp_str(h, "name"));
		pp_host(h, fp);
		if (!judged)
			fprintf(fp, "\n");
		else if (pp_true(h, "match"))
			fprintf(fp, "\n           matches %s\n", pp_str(h, "pattern"));
		else
			fprintf(fp, "\n           NOT named by the policy: %s\n",
			    strcmp(mode, "enforce") == 0 ? "never used (S27)" :
			    "used, violation logged (S28)");
	}
	if (judged)
		fprintf(fp, "   => %" PRIu64 " of %zu match the %s policy\n",
		    pp_int(m, "matching"), json_array_size(hosts), mode);
}

static void
pp_cache(const char *label, const json_t *c, uint64_t now, FILE *fp)
{
	char	f[40], e[40], rel[40], ft[40];

	fprintf(fp, "     %-7s ", label);
	if (!json_is_object(c)) {
		fprintf(fp, "nothing cached\n");
		return;
	}
	if (pp_true(c, "corrupt")) {
		fprintf(fp, "a record that cannot be read\n");
		return;
	}
	if (*pp_str(c, "id") != '\0') {
		pp_time(pp_int(c, "fetched"), f, sizeof(f));
		pp_time(pp_int(c, "expires"), e, sizeof(e));
		pp_rel(pp_int(c, "expires"), now, rel, sizeof(rel));
		fprintf(fp, "id %s, %s, fetched %s, expires %s (%s)%s\n", pp_str(c, "id"),
		    pp_str(c, "mode"), f, e, rel, pp_true(c, "fresh") ? "" : ", EXPIRED");
	} else
		fprintf(fp, "no policy\n");
	if (*pp_str(c, "fail_id") != '\0') {
		pp_time(pp_int(c, "fail_time"), ft, sizeof(ft));
		fprintf(fp, "             last failed fetch: id %s at %s\n", pp_str(c, "fail_id"), ft);
	}
}

int
ctl_print_policy_check(const json_t *o, FILE *fp)
{
	const json_t	*r = json_object_get(o, "result"), *m = json_object_get(o, "mx");
	const json_t	*t = json_object_get(o, "txt");
	uint64_t	 now = pp_int(o, "time");

	if (!json_is_object(r) || !json_is_object(m) || !json_is_object(t))
		return -1;
	fprintf(fp, "policy check %s", pp_str(o, "domain"));
	if (strcmp(pp_str(o, "input"), pp_str(o, "domain")) != 0)
		fprintf(fp, " (asked: %s)", pp_str(o, "input"));
	fprintf(fp, ", %" PRIu64 " ms\n\n", pp_int(o, "elapsed_ms"));
	pp_txt(t, fp);
	pp_fetch(json_object_get(o, "fetch"), fp);
	pp_policy(o, fp);
	pp_mx(m, r, fp);
	fprintf(fp, "5. cache\n");
	pp_cache("before:", json_object_get(o, "cache_before"), now, fp);
	pp_cache("after:", json_object_get(o, "cache_after"), now, fp);
	fprintf(fp, "   => a delivery now applies: %s (%s%s%s)\n", pp_str(r, "mode"),
	    pp_str(r, "source"), *pp_str(r, "id") ? ", id " : "", pp_str(r, "id"));
	fprintf(fp, "\nverdict: %s: %s\n", pp_str(o, "verdict"), pp_str(o, "summary"));
	return 0;
}

/* --- policy show, list, flush --- */

int
ctl_print_policy_show(const json_t *o, FILE *fp)
{
	uint64_t	 now = (uint64_t)time(NULL);
	char		 t[40], rel[40], age[32];

	fprintf(fp, "domain:     %s\n", pp_str(o, "domain"));
	if (pp_true(o, "corrupt")) {
		fprintf(fp, "record:     cannot be read (flush it)\n");
		return 0;
	}
	if (*pp_str(o, "id") != '\0') {
		fprintf(fp, "id:         %s\nmode:       %s\nmx:         ", pp_str(o, "id"),
		    pp_str(o, "mode"));
		pp_join(json_object_get(o, "mx"), ", ", fp);
		pp_time(pp_int(o, "fetched"), t, sizeof(t));
		pp_rel(pp_int(o, "fetched"), now, rel, sizeof(rel));
		pp_dur(pp_int(o, "max_age"), age, sizeof(age));
		fprintf(fp, "\nfetched:    %s (%s)\nmax_age:    %" PRIu64 " (%s)\n", t, rel,
		    pp_int(o, "max_age"), age);
		pp_time(pp_int(o, "expires"), t, sizeof(t));
		pp_rel(pp_int(o, "expires"), now, rel, sizeof(rel));
		fprintf(fp, "expires:    %s (%s)%s\n", t, rel,
		    pp_true(o, "fresh") ? "" : ", EXPIRED: no longer applied");
	} else
		fprintf(fp, "policy:     none cached (only a failed fetch is remembered)\n");
	if (*pp_str(o, "fail_id") != '\0') {
		pp_time(pp_int(o, "fail_time"), t, sizeof(t));
		pp_rel(pp_int(o, "fail_time"), now, rel, sizeof(rel));
		fprintf(fp, "last fail:  id %s at %s (%s)\n", pp_str(o, "fail_id"), t, rel);
		pp_time(pp_int(o, "fail_retry"), t, sizeof(t));
		fprintf(fp, "back-off:   %s %s (S11)\n", pp_true(o, "backoff") ?
		    "not fetched again before" : "over since", t);
	}
	if (*pp_str(o, "text") != '\0')
		fprintf(fp, "\n%s%s", pp_str(o, "text"),
		    pp_str(o, "text")[strlen(pp_str(o, "text")) - 1] == '\n' ? "" : "\n");
	return 0;
}

int
ctl_print_policy_list(const json_t *o, FILE *fp)
{
	const json_t	*a = json_object_get(o, "policies"), *p;
	uint64_t	 now = (uint64_t)time(NULL);
	char		 rel[40];
	size_t		 i;

	if (!json_is_array(a))
		return -1;
	if (json_array_size(a) == 0) {
		fprintf(fp, "No cached policies\n");
		return 0;
	}
	fprintf(fp, "%-32s %-12s %-8s %-12s %s\n", "DOMAIN", "ID", "MODE", "EXPIRES", "MX");
	for (i = 0; i < json_array_size(a); i++) {
		p = json_array_get(a, i);
		if (pp_true(p, "corrupt")) {
			fprintf(fp, "%-32s (unreadable record)\n", pp_str(p, "domain"));
			continue;
		}
		pp_rel(pp_int(p, "expires"), now, rel, sizeof(rel));
		fprintf(fp, "%-32s %-12s %-8s %-12s ", pp_str(p, "domain"),
		    *pp_str(p, "id") ? pp_str(p, "id") : "-", pp_str(p, "mode"),
		    !pp_true(p, "fresh") && *pp_str(p, "id") ? "expired" : *rel ? rel : "-");
		pp_join(json_object_get(p, "mx"), ",", fp);
		if (*pp_str(p, "fail_id") != '\0')
			fprintf(fp, "%sfailed id %s%s", json_array_size(json_object_get(p, "mx")) ?
			    " " : "", pp_str(p, "fail_id"), pp_true(p, "backoff") ?
			    " (back-off)" : "");
		fputc('\n', fp);
	}
	fprintf(fp, "\n-- %zu cached polic%s%s\n", json_array_size(a),
	    json_array_size(a) == 1 ? "y" : "ies", pp_true(o, "truncated") ?
	    " (only the first ones are listed)" : "");
	return 0;
}

int
ctl_print_policy_flush(const json_t *o, FILE *fp)
{
	fprintf(fp, "%s: %" PRIu64 " cached polic%s forgotten\n", pp_str(o, "domain"),
	    pp_int(o, "count"), pp_int(o, "count") == 1 ? "y" : "ies");
	return 0;
}

int
ctl_policy_exit(const json_t *o)
{
	json_t	*e = json_object_get(o, "exit");

	if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > 2)
		return 1;
	return (int)json_integer_value(e);
}
