/*
 * test_queue_deliv.c: the spool's delivery side through the public API:
 * due work and claims, attempt results, retry schedule, expiry, DSNs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <db.h>

#include "common/log.h"
#include "queue/queue.h"
#include "queue/queue_record.h"
#include "tests/tap.h"
#include "tests/unit/test_dsn_parse.h"
#include "tests/unit/test_queue_fixture.h"

#define BODY	"Subject: figures\r\nFrom: s@example.test\r\n\r\nHello.\r\n"
#define LIFE	(5 * 86400)

static const uint64_t sched[] = { 300, 900, 3600 };
static const char *two[] = { "a@d1.test", "b@d2.test" };

static size_t
take(struct qf *f, time_t now, char (*ids)[QUEUE_ID_MAX], size_t max)
{
	return queue_take_due(f->q, now, ids, max);
}

static int
taken(struct qf *f, time_t now, const char *id)
{
	char	ids[16][QUEUE_ID_MAX];
	size_t	n, i;
	int	found = 0;

	n = take(f, now, ids, 16);
	for (i = 0; i < n; i++) {
		if (strcmp(ids[i], id) == 0)
			found = 1;
		(void)queue_release_claim(f->q, ids[i]);
	}
	return found;
}

static void
test_take(void)
{
	struct qf	f;
	char		a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], c[QUEUE_ID_MAX];
	char		ids[8][QUEUE_ID_MAX];
	time_t		now = time(NULL);
	struct queue_delivery_stats st;

	if (qf_init(&f, LIFE, sched, 3) == -1)
		fatalx("spool");
	qf_submit(&f, a, "s@example.test", two, 2, BODY, now);
	qf_submit(&f, b, "s@example.test", two, 1, BODY, now);
	qf_submit(&f, c, "s@example.test", two, 1, BODY, now);
	now = time(NULL);	/* the submissions' schedule time, or earlier */
	is_int(take(&f, now - 3600, ids, 8), 0, "take_due: nothing due an hour ago");
	is_int(take(&f, now + 1, ids, 1), 1, "take_due: max bounds the answer");
	is_str(ids[0], a, "take_due: the earliest first");
	is_int(take(&f, now + 1, ids, 8), 2, "take_due: the others, not the claimed");
	is_str(ids[0], b, "take_due: in due order (1)");
	is_str(ids[1], c, "take_due: in due order (2)");
	is_int(take(&f, now + 1, ids, 8), 0, "take_due: claimed messages are not "
	    "returned again");
	queue_delivery_stats(f.q, &st);
	is_int(st.in_delivery, 3, "stats: three in delivery");
	is_int(queue_release_claim(f.q, b), QUEUE_OK, "release_claim: ok");
	is_int(queue_release_claim(f.q, b), QUEUE_ENOENT,
	    "release_claim: not claimed any more");
	is_int(take(&f, now + 1, ids, 8), 1, "take_due: a released claim is due");
	is_str(ids[0], b, "take_due: the released one");
	(void)queue_release_claim(f.q, a);
	(void)queue_release_claim(f.q, b);
	(void)queue_release_claim(f.q, c);
	is_int(queue_hold(f.q, a), QUEUE_OK, "hold");
	ok(!taken(&f, now + 86400, a), "take_due: a held message is never due");
	is_int(queue_release(f.q, a), QUEUE_OK, "release");
	ok(taken(&f, time(NULL), a), "take_due: a released message is due now");
	is_int(take(&f, now + 1, ids, 0), 0, "take_due: max 0");
	qf_fini(&f);
}

/*
 * Scans start after the claimed entries in front; whatever puts an entry
 * behind that point must still be found.
 */
static void
test_mark(void)
{
	struct qf		 f;
	char			 a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], d[QUEUE_ID_MAX];
	char			 ids[8][QUEUE_ID_MAX];
	time_t			 now = time(NULL), far = now + 30 * 86400;
	struct queue_rcpt_result r = { 0, QUEUE_RCPT_DEFERRED, "451 4.4.1 x", NULL };

	if (qf_init(&f, LIFE, sched, 3) == -1)
		fatalx("spool");
	qf_submit(&f, a, "s@example.test", two, 1, BODY, now);
	qf_submit(&f, b, "s@example.test", two, 1, BODY, now);
	(void)queue_record_attempt(f.q, b, &r, 1, now + 3000);	/* b later */
	is_int(take(&f, far, ids, 8), 2, "mark: everything taken");
	(void)queue_record_attempt(f.q, b, &r, 1, now);
	ok(taken(&f, far, b), "mark: rescheduled before its old place, found");
	qf_submit(&f, d, "s@example.test", two, 1, BODY, now);
	ok(taken(&f, far, d), "mark: a new submission is found");
	is_int(take(&f, far, ids, 8), 2, "mark: b and d taken again");
	(void)queue_release_claim(f.q, b);
	ok(taken(&f, far, b), "mark: a claim given back is found");
	is_int(queue_release_claim(f.q, d), QUEUE_OK, "mark: release d");
	is_int(queue_hold(f.q, d), QUEUE_OK, "mark: hold d");
	is_int(take(&f, far, ids, 8), 1, "mark: b only");
	is_int(queue_release(f.q, d), QUEUE_OK, "mark: release d");
	ok(taken(&f, far, d), "mark: a released message is found");
	(void)queue_release_claim(f.q, b);
	(void)queue_release_claim(f.q, a);
	is_int(queue_flush(f.q, NULL), QUEUE_OK, "mark: flush all");
	is_int(take(&f, time(NULL), ids, 8), 3, "mark: flushed messages are found");
	qf_fini(&f);
}

static struct queue_msg_info *
attempt(struct qf *f, const char *id, const struct queue_rcpt_result *r,
    size_t n, time_t now, enum queue_status want, const char *name)
{
	is_int(queue_record_attempt(f->q, id, r, n, now), want, name);
	return qf_info(f, id);
}

static void
test_delivered(void)
{
	struct qf		 f;
	char			 id[QUEUE_ID_MAX], ids[4][QUEUE_ID_MAX];
	time_t			 now = time(NULL);
	struct queue_rcpt_result r[2] = {
		{ 0, QUEUE_RCPT_DELIVERED, "250 2.0.0 Ok: queued as X1",
		    "mx.d1.test[192.0.2.25]" },
		{ 1, QUEUE_RCPT_DELIVERED, "250 2.0.0 Ok", "mx.d2.test[192.0.2.26]" },
	};
	struct queue_msg_info	*m;
	struct queue_delivery_stats st;

	if (qf_init(&f, LIFE, sched, 3) == -1)
		fatalx("spool");
	qf_submit(&f, id, "s@example.test", two, 2, BODY, now);
	is_int(take(&f, time(NULL), ids, 4), 1, "delivered: taken");
	m = attempt(&f, id, r, 2, now, QUEUE_OK, "record_attempt: all delivered");
	ok(m == NULL, "record_attempt: a message with every recipient delivered "
	    "is removed");
	queue_info_free(m);
	is_int(qf_count_messages(&f), 0, "record_attempt: nothing left, no DSN");
	queue_delivery_stats(f.q, &st);
	is_int(st.delivered, 2, "stats: two delivered");
	is_int(st.removed, 1, "stats: one removed");
	is_int(st.in_delivery, 0, "stats: the claim ended");
	is_int(st.attempts, 1, "stats: one attempt");
	qf_fini(&f);
}

/* A group delivered while others of the message go on: recorded at once. */
static void
test_delivered_early(void)
{
	struct qf		 f;
	char			 id[QUEUE_ID_MAX], ids[4][QUEUE_ID_MAX];
	time_t			 now = time(NULL);
	struct queue_rcpt_result d1 = { 0, QUEUE_RCPT_DELIVERED, "250 2.0.0 Ok: queued as X1",
		    "mx.d1.test[192.0.2.25]" };
	struct queue_rcpt_result bad = { 1, QUEUE_RCPT_DEFERRED, "451 4.4.1 x", NULL };
	struct queue_rcpt_result d2 = { 1, QUEUE_RCPT_DELIVERED, "250 2.0.0 Ok", NULL };
	struct queue_msg_info	*m;
	struct queue_delivery_stats st;

	if (qf_init(&f, LIFE, sched, 3) == -1)
		fatalx("spool");
	qf_submit(&f, id, "s@example.test", two, 2, BODY, now);
	is_int(take(&f, time(NULL), ids, 4), 1, "early: taken");
	is_int(queue_record_delivered(f.q, id, &bad, 1), QUEUE_EINVAL,
	    "early: only delivered recipients are recorded early");
	is_int(queue_record_delivered(f.q, id, &d1, 1), QUEUE_OK,
	    "early: the first domain's recipient recorded while the second is tried");
	m = qf_info(&f, id);
	ok(m != NULL && m->rcpts[0].state == QUEUE_RCPT_DELIVERED &&
	    m->rcpts[0].attempts == 1 && m->rcpts[1].state == QUEUE_RCPT_PENDING,
	    "early: a@d1.test delivered in the spool, b@d2.test still pending");
	queue_info_free(m);
	queue_delivery_stats(f.q, &st);
	is_int(st.in_delivery, 1, "early: the claim is kept");
	is_int(take(&f, time(NULL), ids, 4), 0, "early: the message is not due twice");
	/* a restart here would deliver b@d2.test only: msg_todo skips a@d1.test */
	m = attempt(&f, id, &d2, 1, now, QUEUE_OK, "early: the attempt ends with the rest");
	ok(m == NULL, "early: every recipient delivered: removed");
	queue_info_free(m);
	queue_delivery_stats(f.q, &st);
	is_int(st.delivered, 2, "early: two delivered in all, each counted once");
	is_int(queue_record_delivered(f.q, id, &d1, 1), QUEUE_ENOENT,
	    "early: a message gone is QUEUE_ENOENT");
	qf_fini(&f);
}

/* Deferred: rescheduled by the retry schedule, within +-10%. */
static void
test_deferred(void)
{
	struct qf		 f;
	char			 id[QUEUE_ID_MAX];
	time_t			 now = time(NULL), t;
	struct queue_rcpt_result r[2] = {
		{ 0, QUEUE_RCPT_DELIVERED, "250 2.0.0 Ok", "mx.d1.test[192.0.2.25]" },
		{ 1, QUEUE_RCPT_DEFERRED, "4.7.5 certificate not trusted by policy",
		    "mx.d2.test[192.0.2.26]" },
	};
	struct queue_msg_info	*m;
	static const uint64_t	 want[] = { 300, 900, 3600, 3600 };
	char			 name[128];
	size_t			 i;

	if (qf_init(&f, LIFE, sched, 3) == -1)
		fatalx("spool");
	qf_submit(&f, id, "s@example.test", two, 2, BODY, now);
	m = attempt(&f, id, r, 2, now, QUEUE_OK, "record_attempt: partial");
	ok(m != NULL, "record_attempt: a deferred recipient keeps the message");
	if (m == NULL)
		fatalx("partial");
	is_int(m->rcpts[0].state, QUEUE_RCPT_DELIVERED, "partial: first delivered");
	is_int(m->rcpts[1].state, QUEUE_RCPT_DEFERRED, "partial: second deferred");
	is_int(m->rcpts[1].attempts, 1, "partial: attempts 1");
	is_str(m->rcpts[1].last_reason, "4.7.5 certificate not trusted by policy",
	    "partial: the reason is kept");
	is_int(m->rcpts[0].attempts, 1, "partial: the delivered one counts too");
	queue_info_free(m);
	t = now;
	for (i = 0; i < 4; i++) {
		if (i == 0)
			m = qf_info(&f, id);
		else {
			/* Only the deferred recipient is tried again. */
			m = attempt(&f, id, &r[1], 1, t, QUEUE_OK, "record_attempt: "
			    "deferred again");
		}
		(void)snprintf(name, sizeof(name), "retry: attempt %zu waits %llu s "
		    "+-10%%", i + 1, (unsigned long long)want[i]);
		ok(m != NULL && m->next_attempt >= t + (time_t)(want[i] * 9 / 10) &&
		    m->next_attempt <= t + (time_t)(want[i] * 11 / 10), name);
		if (m != NULL) {
			ok(!taken(&f, m->next_attempt - 1, id),
			    "retry: not due before its time");
			ok(taken(&f, m->next_attempt, id), "retry: due at its time");
			t = m->next_attempt;
		}
		queue_info_free(m);
	}
	m = qf_info(&f, id);
	is_int(m != NULL ? m->rcpts[1].attempts : 0, 4, "retry: four attempts");
	is_int(m != NULL ? m->rcpts[0].attempts : 0, 1,
	    "retry: the delivered recipient is not tried again");
	queue_info_free(m);
	qf_fini(&f);
}

/* The same seed gives the same jitter. */
static void
test_seed(void)
{
	struct qf		 f;
	char			 a[QUEUE_ID_MAX], b[QUEUE_ID_MAX];
	time_t			 now = time(NULL), ta = 0, tb = 0;
	struct queue_rcpt_result r = { 0, QUEUE_RCPT_DEFERRED, "451 4.4.1 no", NULL };
	struct queue_msg_info	*m;

	if (qf_init(&f, LIFE, sched, 3) == -1)
		fatalx("spool");
	qf_submit(&f, a, "s@example.test", two, 1, BODY, now);
	qf_submit(&f, b, "s@example.test", two, 1, BODY, now);
	queue_set_retry_seed(f.q, 12345);
	(void)queue_record_attempt(f.q, a, &r, 1, now);
	queue_set_retry_seed(f.q, 12345);
	(void)queue_record_attempt(f.q, b, &r, 1, now);
	if ((m = qf_info(&f, a)) != NULL)
		ta = m->next_attempt;
	queue_info_free(m);
	if ((m = qf_info(&f, b)) != NULL)
		tb = m->next_attempt;
	queue_info_free(m);
	ok(ta != 0 && ta == tb, "retry: a seeded jitter is reproducible");
	qf_fini(&f);
}

/* Check the DSN dsn_id: envelope and content. */
static void
check_dsn(struct qf *f, const char *dsn_id, const char *orig_id,
    const char *rcpt, const char *status, const char *remote)
{
	struct queue_msg_info	*m;
	struct dp_msg		 d;
	const char		*why = "";
	char			*text, want[256];
	size_t			 len;

	m = qf_info(f, dsn_id);
	ok(m != NULL, "H11: the DSN is a queued message");
	if (m == NULL)
		return;
	is_str(m->sender, "", "H11: the DSN's sender is <>");
	is_int(m->nrcpts, 1, "H11: the DSN has one recipient");
	is_str(m->rcpts[0].addr, "s@example.test",
	    "H11: the DSN goes to the original sender");
	is_int(m->rcpts[0].state, QUEUE_RCPT_PENDING, "H11: the DSN is pending");
	ok(m->next_attempt <= time(NULL), "H11: the DSN is due at once");
	queue_info_free(m);
	text = qf_body(f, dsn_id, &len);
	ok(text != NULL && dp_lines_ok(text, len, &why) == 0,
	    "H11: the stored DSN has CRLF lines of at most 998 octets");
	ok(text != NULL && dp_parse(text, len, &d) == 0 && d.nparts == 3,
	    "H11: the stored DSN is a three-part report");
	if (text == NULL || d.nblocks < 2) {
		free(text);
		return;
	}
	is_str(dp_field(d.headers, "From"),
	    "MAILER-DAEMON@relay.example.test (Mail Delivery System)",
	    "H11: From: MAILER-DAEMON@ the configured host name");
	is_str(dp_field(d.blocks[0], "Reporting-MTA"), "dns; relay.example.test",
	    "H11: Reporting-MTA from queue_set_hostname()");
	is_str(dp_field(d.blocks[0], "X-Stsrelay-Queue-ID"), orig_id,
	    "H11: the original queue id");
	(void)snprintf(want, sizeof(want), "rfc822; %s", rcpt);
	is_str(dp_field(d.blocks[1], "Final-Recipient"), want,
	    "H11: Final-Recipient");
	is_str(dp_field(d.blocks[1], "Status"), status, "H11: Status");
	if (remote != NULL) {
		(void)snprintf(want, sizeof(want), "dns; %s", remote);
		is_str(dp_field(d.blocks[1], "Remote-MTA"), want, "H11: Remote-MTA");
	}
	ok(strstr(d.parts[2].body, "Subject: figures\r\n") != NULL,
	    "H11: the original header section is returned");
	ok(strstr(d.parts[2].body, "Hello.") == NULL, "H11: the body is not");
	dp_free(&d);
	free(text);
}

/* Ours 5.4.7: a deferred recipient past the lifetime bounces, with a DSN. */
static void
test_expiry(void)
{
	struct qf		 f;
	char			 id[QUEUE_ID_MAX], dsn[QUEUE_ID_MAX], ids[4][QUEUE_ID_MAX];
	time_t			 now = time(NULL);
	struct queue_rcpt_result r = { 0, QUEUE_RCPT_DEFERRED,
	    "451 4.7.5 certificate not trusted by policy", "mx.d1.test[192.0.2.25]" };
	struct queue_msg_info	*m;
	struct queue_delivery_stats st;

	if (qf_init(&f, 3600, sched, 3) == -1)
		fatalx("spool");
	queue_set_hostname(f.q, "relay.example.test");
	qf_submit(&f, id, "s@example.test", two, 1, BODY, now - 3600);
	m = qf_info(&f, id);
	ok(m != NULL && !queue_expired(f.q, m, now - 1) && queue_expired(f.q, m, now),
	    "S21: queue_expired() tells the orchestrator of the last attempt");
	queue_info_free(m);
	m = attempt(&f, id, &r, 1, now - 1, QUEUE_OK, "expiry: deferred at 3599 s");
	ok(m != NULL && m->rcpts[0].state == QUEUE_RCPT_DEFERRED,
	    "Ours 5.4.7: before the lifetime, deferred");
	ok(m != NULL && m->next_attempt == now,
	    "Ours 5.4.7: the next attempt is pulled in to the expiry time");
	queue_info_free(m);
	ok(!qf_find_dsn(&f, dsn), "Ours 5.4.7: no DSN yet");
	m = attempt(&f, id, &r, 1, now, QUEUE_OK, "expiry: deferred at 3600 s");
	ok(m == NULL, "Ours 5.4.7: expired, bounced, the message is removed");
	queue_info_free(m);
	ok(qf_find_dsn(&f, dsn), "Ours 5.4.7: a DSN is queued");
	check_dsn(&f, dsn, id, "a@d1.test", "5.4.7", "mx.d1.test");
	is_int(take(&f, time(NULL), ids, 4), 1, "H11: the DSN is taken for delivery");
	is_str(ids[0], dsn, "H11: the DSN is due");
	queue_delivery_stats(f.q, &st);
	is_int(st.expired, 1, "stats: one expired");
	is_int(st.bounced, 1, "stats: one bounced");
	is_int(st.dsns, 1, "stats: one DSN");
	is_int(st.deferred, 1, "stats: one deferred (the first attempt)");
	qf_fini(&f);
}

/* BOUNCED results: a DSN for those only; H11: none to <>. */
static void
test_bounced(void)
{
	struct qf		 f;
	char			 id[QUEUE_ID_MAX], id0[QUEUE_ID_MAX], dsn[QUEUE_ID_MAX];
	time_t			 now = time(NULL);
	struct queue_rcpt_result r[2] = {
		{ 0, QUEUE_RCPT_BOUNCED, "550 5.1.1 <a@d1.test>: no such user",
		    "mx.d1.test[192.0.2.25]" },
		{ 1, QUEUE_RCPT_DEFERRED, "421 4.4.2 timeout", "mx.d2.test[192.0.2.26]" },
	};
	struct queue_msg_info	*m;

	if (qf_init(&f, LIFE, sched, 3) == -1)
		fatalx("spool");
	queue_set_hostname(f.q, "relay.example.test");
	qf_submit(&f, id, "s@example.test", two, 2, BODY, now);
	m = attempt(&f, id, r, 2, now, QUEUE_OK, "bounced: one bounced, one deferred");
	ok(m != NULL && m->rcpts[0].state == QUEUE_RCPT_BOUNCED &&
	    m->rcpts[1].state == QUEUE_RCPT_DEFERRED,
	    "bounced: the message stays for the deferred recipient");
	queue_info_free(m);
	ok(qf_find_dsn(&f, dsn), "H11: a DSN for the bounced recipient");
	check_dsn(&f, dsn, id, "a@d1.test", "5.1.1", "mx.d1.test");
	is_int(qf_count_messages(&f), 2, "H11: one DSN, not one per recipient");

	qf_submit(&f, id0, "", two, 1, BODY, now);
	m = attempt(&f, id0, r, 1, now, QUEUE_OK, "H11: a bounce of a bounce");
	ok(m == NULL, "H11: the bounced message from <> is removed");
	queue_info_free(m);
	is_int(qf_count_messages(&f), 2, "H11: never bounce a message from <>");
	qf_fini(&f);
}

/* Held, deleted, nonsense results while in delivery. */
static void
test_in_delivery(void)
{
	struct qf		 f;
	char			 a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], ids[4][QUEUE_ID_MAX];
	time_t			 now = time(NULL);
	struct queue_rcpt_result r[3] = {
		{ 0, QUEUE_RCPT_DEFERRED, "451 4.4.1 no answer", NULL },
		{ 7, QUEUE_RCPT_DELIVERED, "250 ok", NULL },
		{ 1, QUEUE_RCPT_PENDING, "?", NULL },
	};
	struct queue_msg_info	*m;
	struct queue_delivery_stats st;

	if (qf_init(&f, LIFE, sched, 3) == -1)
		fatalx("spool");
	qf_submit(&f, a, "s@example.test", two, 2, BODY, now);
	qf_submit(&f, b, "s@example.test", two, 2, BODY, now);
	is_int(take(&f, time(NULL), ids, 4), 2, "in delivery: both taken");
	is_int(queue_delete(f.q, a), QUEUE_OK, "in delivery: delete");
	is_int(queue_record_attempt(f.q, a, r, 1, now), QUEUE_ENOENT,
	    "in delivery: the results of a deleted message are dropped");
	ok(!qf_find_dsn(&f, ids[0]), "in delivery: no DSN for it");
	is_int(queue_hold(f.q, b), QUEUE_OK, "in delivery: hold");
	m = attempt(&f, b, r, 3, now, QUEUE_OK, "in delivery: results of a held "
	    "message, with nonsense among them");
	ok(m != NULL && m->held && m->rcpts[0].state == QUEUE_RCPT_DEFERRED &&
	    m->rcpts[1].state == QUEUE_RCPT_PENDING && m->rcpts[1].attempts == 0,
	    "in delivery: held stays held; bad indexes and states are ignored");
	queue_info_free(m);
	ok(!taken(&f, now + 86400, b), "in delivery: held, so never due");
	is_int(queue_release(f.q, b), QUEUE_OK, "in delivery: release");
	ok(taken(&f, time(NULL), b), "in delivery: released, due");
	queue_delivery_stats(f.q, &st);
	is_int(st.dropped, 1, "stats: one result set dropped");
	is_int(st.in_delivery, 0, "stats: no claim left");
	qf_fini(&f);
}

/* The ready callback: submit, flush, release, timer, claim given back. */
static void
test_ready(void)
{
	static const uint64_t	 one[] = { 1 };
	struct qf		 f;
	char			 a[QUEUE_ID_MAX], ids[4][QUEUE_ID_MAX];
	time_t			 now = time(NULL), next;
	struct queue_rcpt_result r = { 0, QUEUE_RCPT_DEFERRED, "451 4.4.1 x", NULL };
	struct queue_msg_info	*m;
	int			 n;

	if (qf_init(&f, LIFE, one, 1) == -1)
		fatalx("spool");
	qf_count_ready(&f);
	qf_submit(&f, a, "s@example.test", two, 1, BODY, now);
	ok(qf_run_until(&f, &f.ready, 1, 30), "on_ready: runs when a submission "
	    "commits");
	is_int(take(&f, time(NULL), ids, 4), 1, "on_ready: the message is taken");
	n = f.ready;
	(void)queue_record_attempt(f.q, a, &r, 1, time(NULL));
	m = qf_info(&f, a);
	next = m != NULL ? m->next_attempt : 0;
	queue_info_free(m);
	ok(qf_run_until(&f, &f.ready, n + 1, 30) && time(NULL) >= next,
	    "on_ready: the timer runs it when the next attempt is due");
	ok(taken(&f, time(NULL), a), "on_ready: due after the timer");

	/* Deferred far away, then flushed. */
	queue_set_on_ready(f.q, NULL, NULL);
	(void)take(&f, time(NULL), ids, 4);
	r.reason = "451 4.4.1 later";
	(void)queue_record_attempt(f.q, a, &r, 1, time(NULL));
	qf_count_ready(&f);
	n = f.ready;
	is_int(queue_flush(f.q, a), QUEUE_OK, "flush");
	ok(qf_run_until(&f, &f.ready, n + 1, 30), "on_ready: runs after a flush");
	is_int(queue_hold(f.q, a), QUEUE_OK, "hold");
	n = f.ready;
	is_int(queue_release(f.q, a), QUEUE_OK, "release");
	ok(qf_run_until(&f, &f.ready, n + 1, 30), "on_ready: runs after a release");
	is_int(take(&f, time(NULL), ids, 4), 1, "on_ready: taken again");
	n = f.ready;
	(void)queue_release_claim(f.q, a);
	ok(qf_run_until(&f, &f.ready, n + 1, 30),
	    "on_ready: runs again after a claim is given back");
	qf_fini(&f);
}

/* A schedule entry without its message (damage) does not come back. */
static void
test_orphan(void)
{
	struct qf	 f;
	DB		*db;
	DBT		 key, data;
	uint8_t		 k[QUEUE_SCHEDKEY_MAX];
	char		 ids[4][QUEUE_ID_MAX], orphan[QUEUE_ID_MAX];
	time_t		 now = time(NULL);

	if (qf_init(&f, LIFE, sched, 3) == -1)
		fatalx("spool");
	queue_new_id(f.q, orphan);
	if (db_create(&db, queue_dbenv(f.q), 0) != 0 ||
	    db->open(db, NULL, "schedule.db", NULL, DB_BTREE,
	    DB_AUTO_COMMIT | DB_THREAD, 0) != 0)
		fatalx("schedule.db");
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = k;
	key.size = queue_record_schedkey(now - 10, orphan, k);
	ok(db->put(db, NULL, &key, &data, DB_AUTO_COMMIT) == 0,
	    "orphan: a schedule entry without a message is planted");
	(void)db->close(db, 0);
	is_int(take(&f, now, ids, 4), 1, "orphan: take_due returns it");
	ok(qf_info(&f, orphan) == NULL, "orphan: queue_info finds no message");
	is_int(queue_record_attempt(f.q, orphan, NULL, 0, now), QUEUE_ENOENT,
	    "orphan: record_attempt with no results says ENOENT");
	is_int(take(&f, now + 86400, ids, 4), 0,
	    "orphan: its schedule entry is gone, it is not taken again");
	qf_fini(&f);
}

/* Results survive a restart; claims do not. */
static void
test_reopen(void)
{
	struct qf		 f;
	struct queue_params	 p;
	char			 a[QUEUE_ID_MAX], ids[4][QUEUE_ID_MAX], err[256];
	time_t			 now = time(NULL);
	struct queue_rcpt_result r = { 0, QUEUE_RCPT_DEFERRED, "451 4.4.1 x", NULL };
	struct queue_msg_info	*m;

	if (qf_init(&f, LIFE, sched, 3) == -1)
		fatalx("spool");
	qf_submit(&f, a, "s@example.test", two, 2, BODY, now);
	(void)queue_record_attempt(f.q, a, &r, 1, now);
	(void)take(&f, now + 86400, ids, 4);
	queue_close(f.q);
	memset(&p, 0, sizeof(p));
	p.dir = f.dir;
	p.lifetime = LIFE;
	p.retry = sched;
	p.nretry = 3;
	if ((f.q = queue_open(f.base, &p, err, sizeof(err))) == NULL)
		fatalx("reopen: %s", err);
	m = qf_info(&f, a);
	ok(m != NULL && m->rcpts[0].state == QUEUE_RCPT_DEFERRED &&
	    m->rcpts[0].attempts == 1 && m->next_attempt > now,
	    "record_attempt: the results are stored");
	queue_info_free(m);
	ok(taken(&f, now + 86400, a), "take_due: a restart forgets the claims");
	qf_fini(&f);
}

/*
 * Many claims given back in any order (the spool keeps given-back claims
 * marked until half are such, then removes them): each is due again once,
 * the others stay claimed, and the count in delivery is always right.
 */
static void
test_many_claims(void)
{
	enum { N = 200 };
	static char	ids[N][QUEUE_ID_MAX], again[N][QUEUE_ID_MAX];
	struct qf	f;
	struct queue_delivery_stats st;
	time_t		now = time(NULL);
	size_t		i, n, released = 0, bad = 0;

	if (qf_init(&f, LIFE, sched, 3) == -1)
		fatalx("spool");
	for (i = 0; i < N; i++)
		if (qf_submit(&f, ids[i], "s@example.test", two, 1, BODY, now) != QUEUE_OK)
			fatalx("submit");
	now = time(NULL);
	is_int(take(&f, now + 1, again, N), N, "claims: every message taken");
	/* every other one from the front, then every third from the back */
	for (i = 0; i < N; i += 2, released++)
		if (queue_release_claim(f.q, ids[i]) != QUEUE_OK)
			bad++;
	for (i = N; i >= 6; i -= 6, released++)
		if (queue_release_claim(f.q, ids[i - 1]) != QUEUE_OK)
			bad++;
	is_int(bad, 0, "claims: each given back once");
	is_int(queue_release_claim(f.q, ids[0]), QUEUE_ENOENT,
	    "claims: a claim given back is not claimed any more");
	queue_delivery_stats(f.q, &st);
	is_int(st.in_delivery, N - released, "claims: the count in delivery");
	n = take(&f, now + 1, again, N);
	is_int(n, released, "claims: exactly the ones given back are due again");
	for (i = 0, bad = 0; i < n; i++)
		if (queue_release_claim(f.q, again[i]) != QUEUE_OK ||
		    queue_release_claim(f.q, again[i]) != QUEUE_ENOENT)
			bad++;
	is_int(bad, 0, "claims: taken again, each is claimed once");
	is_int(take(&f, now + 1, again, N), released, "claims: due again after that");
	queue_delivery_stats(f.q, &st);
	is_int(st.in_delivery, N, "claims: all in delivery again");
	qf_fini(&f);
}

int
main(void)
{
	log_init("test_queue_deliv", LOG_DEST_STDERR, LOG_LVL_WARN);
	test_take();
	test_many_claims();
	test_mark();
	test_delivered();
	test_delivered_early();
	test_deferred();
	test_seed();
	test_expiry();
	test_bounced();
	test_in_delivery();
	test_ready();
	test_orphan();
	test_reopen();
	return tap_done();
}
