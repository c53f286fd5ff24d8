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

	fprintf(fp, "1. TXT %s: ", ctl_str(t, "name"));
	if (strcmp(ctl_str(t, "status"), "ok") != 0) {
		fprintf(fp, "%s%s%s\n", ctl_str(t, "status"), *ctl_str(t, "error") ? ": " : "",
		    ctl_str(t, "error"));
	} else {
		fprintf(fp, "%" PRIu64 " record%s, %" PRIu64 " starting with v=STSv1;\n",
		    ctl_int(t, "count"), ctl_int(t, "count") == 1 ? "" : "s",
		    ctl_int(t, "sts_count"));
		for (i = 0; i < json_array_size(recs); i++) {
			r = json_array_get(recs, i);
			fprintf(fp, "     [%zu] \"%s\" (%" PRIu64 " bytes)\n", i + 1,
			    ctl_str(r, "text"), ctl_int(r, "length"));
			if (!ctl_true(r, "sts"))
				fprintf(fp, "         not STSv1: ignored (S4)\n");
			else if (*ctl_str(r, "id") != '\0')
				fprintf(fp, "         STSv1, id %s\n", ctl_str(r, "id"));
			else
				fprintf(fp, "         STSv1, malformed: %s\n", ctl_str(r, "error"));
		}
	}
	if (*ctl_str(t, "id") != '\0')
		fprintf(fp, "   => policy id %s\n", ctl_str(t, "id"));
	else
		fprintf(fp, "   => no policy id: %s\n", ctl_str(t, "reason"));
}

static void
pp_host(const json_t *h, FILE *fp)
{
	const json_t	*a = json_object_get(h, "addresses");

	if (json_array_size(a) > 0)
		pp_join(a, " ", fp);
	else
		fprintf(fp, "no address (%s)", *ctl_str(h, "error") ? ctl_str(h, "error") : "?");
}

static void
pp_fetch(const json_t *f, FILE *fp)
{
	const json_t	*ct = json_object_get(f, "content_type");

	if (!json_is_object(f)) {
		fprintf(fp, "2. fetch: not attempted\n");
		return;
	}
	fprintf(fp, "2. policy host %s: ", ctl_str(json_object_get(f, "host"), "name"));
	pp_host(json_object_get(f, "host"), fp);
	fputc('\n', fp);
	if (*ctl_str(f, "url") != '\0')
		fprintf(fp, "   GET %s\n", ctl_str(f, "url"));
	if (ctl_int(f, "http_status") != 0)
		fprintf(fp, "   HTTP %" PRIu64 ", Content-Type %s, %" PRIu64 " bytes\n",
		    ctl_int(f, "http_status"), json_is_string(ct) ?
		    json_string_value(ct) : "(none)", ctl_int(f, "size"));
	if (ctl_true(f, "ok"))
		fprintf(fp, "   => fetched\n");
	else
		fprintf(fp, "   => failed: %s: %s%s%s\n", *ctl_str(f, "result_type") ?
		    ctl_str(f, "result_type") : "sts-policy-fetch-error", ctl_str(f, "error"),
		    *ctl_str(f, "curl_error") ? ": " : "", ctl_str(f, "curl_error"));
}

static void
pp_policy(const json_t *o, FILE *fp)
{
	const json_t	*pol = json_object_get(o, "policy");
	char		 age[32];

	if (!json_is_object(pol)) {
		if (*ctl_str(o, "parse_error") != '\0')
			fprintf(fp, "3. policy: invalid (sts-policy-invalid, S17): %s\n",
			    ctl_str(o, "parse_error"));
		else
			fprintf(fp, "3. policy: not obtained\n");
		return;
	}
	pp_dur(ctl_int(pol, "max_age"), age, sizeof(age));
	fprintf(fp, "3. policy: valid\n     mode:    %s\n     max_age: %" PRIu64 " (%s)",
	    ctl_str(pol, "mode"), ctl_int(pol, "max_age"), age);
	if (ctl_int(pol, "max_age_published") != ctl_int(pol, "max_age"))
		fprintf(fp, ", published %" PRIu64 ", capped", ctl_int(pol, "max_age_published"));
	fprintf(fp, "\n     mx:      ");
	if (json_array_size(json_object_get(pol, "mx")) == 0)
		fprintf(fp, "(none)");
	pp_join(json_object_get(pol, "mx"), ", ", fp);
	fputc('\n', fp);
	if (*ctl_str(pol, "warning") != '\0')
		fprintf(fp, "     note:    %s\n", ctl_str(pol, "warning"));
}

static void
pp_mx(const json_t *m, const json_t *result, FILE *fp)
{
	const json_t	*hosts = json_object_get(m, "hosts"), *h;
	const char	*mode = ctl_str(result, "mode");
	int		 judged = strcmp(mode, "enforce") == 0 || strcmp(mode, "testing") == 0;
	size_t		 i;

	fprintf(fp, "4. MX: ");
	if (ctl_true(m, "null_mx"))
		fprintf(fp, "null MX (\"MX 0 .\"): the domain takes no mail\n");
	else if (ctl_true(m, "implicit"))
		fprintf(fp, "no MX record: the domain itself is the mail host (S23)\n");
	else if (strcmp(ctl_str(m, "status"), "ok") != 0)
		fprintf(fp, "%s%s%s\n", ctl_str(m, "status"), *ctl_str(m, "error") ? ": " : "",
		    ctl_str(m, "error"));
	else
		fprintf(fp, "%" PRIu64 " host%s\n", ctl_int(m, "count"),
		    ctl_int(m, "count") == 1 ? "" : "s");
	for (i = 0; i < json_array_size(hosts); i++) {
		h = json_array_get(hosts, i);
		fprintf(fp, "     %5" PRIu64 " %-24s ", ctl_int(h, "preference"), ctl_str(h, "name"));
		pp_host(h, fp);
		if (!judged)
			fprintf(fp, "\n");
		else if (ctl_true(h, "match"))
			fprintf(fp, "\n           matches %s\n", ctl_str(h, "pattern"));
		else
			fprintf(fp, "\n           NOT named by the policy: %s\n",
			    strcmp(mode, "enforce") == 0 ? "never used (S27)" :
			    "used, violation logged (S28)");
	}
	if (judged)
		fprintf(fp, "   => %" PRIu64 " of %zu match the %s policy\n",
		    ctl_int(m, "matching"), json_array_size(hosts), mode);
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
	if (ctl_true(c, "corrupt")) {
		fprintf(fp, "a record that cannot be read\n");
		return;
	}
	if (*ctl_str(c, "id") != '\0') {
		pp_time(ctl_int(c, "fetched"), f, sizeof(f));
		pp_time(ctl_int(c, "expires"), e, sizeof(e));
		pp_rel(ctl_int(c, "expires"), now, rel, sizeof(rel));
		fprintf(fp, "id %s, %s, fetched %s, expires %s (%s)%s\n", ctl_str(c, "id"),
		    ctl_str(c, "mode"), f, e, rel, ctl_true(c, "fresh") ? "" : ", EXPIRED");
	} else
		fprintf(fp, "no policy\n");
	if (*ctl_str(c, "fail_id") != '\0') {
		pp_time(ctl_int(c, "fail_time"), ft, sizeof(ft));
		fprintf(fp, "             last failed fetch: id %s at %s\n", ctl_str(c, "fail_id"), ft);
	}
}

int
ctl_print_policy_check(const json_t *o, FILE *fp)
{
	const json_t	*r = json_object_get(o, "result"), *m = json_object_get(o, "mx");
	const json_t	*t = json_object_get(o, "txt");
	uint64_t	 now = ctl_int(o, "time");

	if (!json_is_object(r) || !json_is_object(m) || !json_is_object(t))
		return -1;
	fprintf(fp, "policy check %s", ctl_str(o, "domain"));
	if (strcmp(ctl_str(o, "input"), ctl_str(o, "domain")) != 0)
		fprintf(fp, " (asked: %s)", ctl_str(o, "input"));
	fprintf(fp, ", %" PRIu64 " ms\n\n", ctl_int(o, "elapsed_ms"));
	pp_txt(t, fp);
	pp_fetch(json_object_get(o, "fetch"), fp);
	pp_policy(o, fp);
	pp_mx(m, r, fp);
	fprintf(fp, "5. cache\n");
	pp_cache("before:", json_object_get(o, "cache_before"), now, fp);
	pp_cache("after:", json_object_get(o, "cache_after"), now, fp);
	fprintf(fp, "   => a delivery now applies: %s (%s%s%s)\n", ctl_str(r, "mode"),
	    ctl_str(r, "source"), *ctl_str(r, "id") ? ", id " : "", ctl_str(r, "id"));
	fprintf(fp, "\nverdict: %s: %s\n", ctl_str(o, "verdict"), ctl_str(o, "summary"));
	return 0;
}

/* --- policy show, list, flush --- */

int
ctl_print_policy_show(const json_t *o, FILE *fp)
{
	uint64_t	 now = (uint64_t)time(NULL);
	char		 t[40], rel[40], age[32];

	fprintf(fp, "domain:     %s\n", ctl_str(o, "domain"));
	if (ctl_true(o, "corrupt")) {
		fprintf(fp, "record:     cannot be read (flush it)\n");
		return 0;
	}
	if (*ctl_str(o, "id") != '\0') {
		fprintf(fp, "id:         %s\nmode:       %s\nmx:         ", ctl_str(o, "id"),
		    ctl_str(o, "mode"));
		pp_join(json_object_get(o, "mx"), ", ", fp);
		pp_time(ctl_int(o, "fetched"), t, sizeof(t));
		pp_rel(ctl_int(o, "fetched"), now, rel, sizeof(rel));
		pp_dur(ctl_int(o, "max_age"), age, sizeof(age));
		fprintf(fp, "\nfetched:    %s (%s)\nmax_age:    %" PRIu64 " (%s)\n", t, rel,
		    ctl_int(o, "max_age"), age);
		pp_time(ctl_int(o, "expires"), t, sizeof(t));
		pp_rel(ctl_int(o, "expires"), now, rel, sizeof(rel));
		fprintf(fp, "expires:    %s (%s)%s\n", t, rel,
		    ctl_true(o, "fresh") ? "" : ", EXPIRED: no longer applied");
	} else
		fprintf(fp, "policy:     none cached (only a failed fetch is remembered)\n");
	if (*ctl_str(o, "fail_id") != '\0') {
		pp_time(ctl_int(o, "fail_time"), t, sizeof(t));
		pp_rel(ctl_int(o, "fail_time"), now, rel, sizeof(rel));
		fprintf(fp, "last fail:  id %s at %s (%s)\n", ctl_str(o, "fail_id"), t, rel);
		pp_time(ctl_int(o, "fail_retry"), t, sizeof(t));
		fprintf(fp, "back-off:   %s %s (S11)\n", ctl_true(o, "backoff") ?
		    "not fetched again before" : "over since", t);
	}
	if (*ctl_str(o, "text") != '\0')
		fprintf(fp, "\n%s%s", ctl_str(o, "text"),
		    ctl_str(o, "text")[strlen(ctl_str(o, "text")) - 1] == '\n' ? "" : "\n");
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
		if (ctl_true(p, "corrupt")) {
			fprintf(fp, "%-32s (unreadable record)\n", ctl_str(p, "domain"));
			continue;
		}
		pp_rel(ctl_int(p, "expires"), now, rel, sizeof(rel));
		fprintf(fp, "%-32s %-12s %-8s %-12s ", ctl_str(p, "domain"),
		    *ctl_str(p, "id") ? ctl_str(p, "id") : "-", ctl_str(p, "mode"),
		    !ctl_true(p, "fresh") && *ctl_str(p, "id") ? "expired" : *rel ? rel : "-");
		pp_join(json_object_get(p, "mx"), ",", fp);
		if (*ctl_str(p, "fail_id") != '\0')
			fprintf(fp, "%sfailed id %s%s", json_array_size(json_object_get(p, "mx")) ?
			    " " : "", ctl_str(p, "fail_id"), ctl_true(p, "backoff") ?
			    " (back-off)" : "");
		fputc('\n', fp);
	}
	fprintf(fp, "\n-- %zu cached polic%s%s\n", json_array_size(a),
	    json_array_size(a) == 1 ? "y" : "ies", ctl_true(o, "truncated") ?
	    " (only the first ones are listed)" : "");
	return 0;
}

int
ctl_print_policy_flush(const json_t *o, FILE *fp)
{
	fprintf(fp, "%s: %" PRIu64 " cached polic%s forgotten", ctl_str(o, "domain"),
	    ctl_int(o, "count"), ctl_int(o, "count") == 1 ? "y" : "ies");
	if (ctl_int(o, "periods") > 0)
		fprintf(fp, ", %" PRIu64 " tempfail period%s ended", ctl_int(o, "periods"),
		    ctl_int(o, "periods") == 1 ? "" : "s");
	fputc('\n', fp);
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
