/* test_queue_tls.c: TLS report counters in the spool (R2, R3). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "queue/queue.h"
#include "tests/tap.h"
#include "tests/unit/test_queue_fixture.h"

#define DAY1	1795392000	/* 2026-11-23 00:00:00 UTC */
#define DAY0	(DAY1 - 1)	/* 2026-11-22 23:59:59 UTC */

struct seen {
	struct queue_tls_entry	e[16];
	size_t			n;
	int			stop_after;
};

static int
collect(const struct queue_tls_entry *e, void *arg)
{
	struct seen *s = arg;

	if (s->n < 16)
		s->e[s->n++] = *e;
	return s->stop_after != 0 && (int)s->n >= s->stop_after;
}

static enum queue_status
count(struct qf *f, time_t when, const char *dom, enum queue_tls_policy t,
    const char *mx, const char *result, uint64_t n)
{
	struct queue_tls_event ev = { when, dom, t, mx, result };

	return queue_tls_count(f->q, &ev, n);
}

static void
test_counts(struct qf *f)
{
	struct seen s;

	is_int(count(f, DAY1, "d1.test", QUEUE_TLS_STS, "mx1.d1.test", "success",
	    1), QUEUE_OK, "R2: count a success");
	is_int(count(f, DAY1 + 100, "D1.TEST.", QUEUE_TLS_STS, "MX1.d1.test.",
	    "success", 2), QUEUE_OK, "R2: the same key in other spelling");
	is_int(count(f, DAY1 + 200, "d1.test", QUEUE_TLS_STS, "mx2.d1.test",
	    "certificate-not-trusted", 3), QUEUE_OK, "R3: count a failure type");
	is_int(count(f, DAY1 + 300, "d0.test", QUEUE_TLS_NO_POLICY, "mx.d0.test",
	    "success", 1), QUEUE_OK, "R2: no-policy-found");
	is_int(count(f, DAY1 + 400, "d1.test", QUEUE_TLS_STS, "",
	    "sts-policy-fetch-error", 1), QUEUE_OK, "R3: a failure without an MX");
	is_int(count(f, DAY0, "d1.test", QUEUE_TLS_STS, "mx1.d1.test", "success",
	    5), QUEUE_OK, "R2: the day before (UTC)");
	memset(&s, 0, sizeof(s));
	is_int(queue_tls_list(f->q, "2026-11-23", collect, &s), QUEUE_OK,
	    "R2: list a day");
	is_int(s.n, 4, "R2: four counters that day");
	if (s.n != 4)
		return;
	is_str(s.e[0].policy_domain, "d0.test", "R2: sorted by domain");
	is_int(s.e[0].policy_type, QUEUE_TLS_NO_POLICY, "R2: policy type kept");
	is_str(s.e[1].mx_host, "", "R2: an empty MX sorts first");
	is_str(s.e[1].result, "sts-policy-fetch-error", "R3: result kept");
	is_str(s.e[2].mx_host, "mx1.d1.test", "R2: names in lower case, no dot");
	is_int(s.e[2].count, 3, "R2: counts add up (1 + 2)");
	is_str(s.e[2].day, "2026-11-23", "R2: the UTC day");
	is_str(s.e[3].result, "certificate-not-trusted", "R3: the failure counter");
	is_int(s.e[3].count, 3, "R3: its count");
	is_str(queue_tls_strpolicy(s.e[0].policy_type), "no-policy-found",
	    "R2: policy-type string");
	memset(&s, 0, sizeof(s));
	(void)queue_tls_list(f->q, "2026-11-22", collect, &s);
	ok(s.n == 1 && s.e[0].count == 5, "R2: a UTC day ends at 23:59:59");
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	(void)queue_tls_list(f->q, "2026-11-23", collect, &s);
	is_int(s.n, 2, "R2: the walk stops when asked");
}

static void
test_refusals(struct qf *f)
{
	char		long_name[300];
	struct seen	s;

	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	is_int(count(f, DAY1, "", QUEUE_TLS_STS, "mx", "success", 1),
	    QUEUE_EINVAL, "R2: an empty domain is refused");
	is_int(count(f, DAY1, long_name, QUEUE_TLS_STS, "mx", "success", 1),
	    QUEUE_EINVAL, "R2: a domain over 253 octets is refused");
	is_int(count(f, DAY1, "d.test", QUEUE_TLS_STS, long_name, "success", 1),
	    QUEUE_EINVAL, "R2: an MX name over 253 octets is refused");
	is_int(count(f, DAY1, "d te.st", QUEUE_TLS_STS, "mx", "success", 1),
	    QUEUE_EINVAL, "R2: a space in a name is refused");
	is_int(count(f, DAY1, "d.test", QUEUE_TLS_STS, "mx", "Bad Result", 1),
	    QUEUE_EINVAL, "R3: a result type outside [a-z0-9-] is refused");
	is_int(count(f, DAY1, "d.test", (enum queue_tls_policy)7, "mx", "success",
	    1), QUEUE_EINVAL, "R2: an unknown policy type is refused");
	is_int(count(f, DAY1, "d.test", QUEUE_TLS_STS, "mx", "success", 0),
	    QUEUE_OK, "R2: a count of 0 changes nothing");
	is_int(queue_tls_list(f->q, "2026-1-23", collect, &s), QUEUE_EINVAL,
	    "R2: a malformed day is refused");
}

int
main(void)
{
	struct qf		f;
	struct queue_params	p;
	struct seen		s;
	char			err[256];

	log_init("test_queue_tls", LOG_DEST_STDERR, LOG_LVL_WARN);
	if (qf_init(&f, 86400, NULL, 0) == -1)
		fatalx("spool");
	test_counts(&f);
	test_refusals(&f);
	queue_close(f.q);
	memset(&p, 0, sizeof(p));
	p.dir = f.dir;
	if ((f.q = queue_open(f.base, &p, err, sizeof(err))) == NULL)
		fatalx("reopen: %s", err);
	memset(&s, 0, sizeof(s));
	(void)queue_tls_list(f.q, "2026-11-23", collect, &s);
	is_int(s.n, 4, "R2: the counters survive a restart");
	is_int(queue_tls_forget(f.q, "2026-11-23"), QUEUE_OK, "R4: forget a day");
	memset(&s, 0, sizeof(s));
	(void)queue_tls_list(f.q, "2026-11-23", collect, &s);
	is_int(s.n, 0, "R4: a forgotten day has no counters");
	memset(&s, 0, sizeof(s));
	(void)queue_tls_list(f.q, "2026-11-22", collect, &s);
	is_int(s.n, 1, "R4: the other days stay");
	qf_fini(&f);
	return tap_done();
}
