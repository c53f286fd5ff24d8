/*
 * test_queue_counts.c: queue_counts() keeps its totals in memory; after
 * every change to the spool they must equal a full walk of the messages.
 * A fixed-seed random sequence of submissions, attempt results, partial
 * deliveries, expiry, DSNs, hold, release, delete, flush and reopening.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <db.h>
#include <event2/buffer.h>

#include "common/log.h"
#include "queue/queue.h"
#include "tests/tap.h"
#include "tests/unit/test_queue_fixture.h"

#define OPS		600
#define MAX_IDS		512

struct walk {
	struct queue_counts	 c;
	char			 (*ids)[QUEUE_ID_MAX];
	size_t			 nids;
	size_t			 dsns;		/* messages from <> */
};

static int
walk_each(const struct queue_msg_info *m, void *arg)
{
	struct walk	*w = arg;
	size_t		 i;
	int		 deferred = 0;

	w->c.messages++;
	if (m->held)
		w->c.held++;
	for (i = 0; i < m->nrcpts; i++) {
		if (m->rcpts[i].state == QUEUE_RCPT_PENDING ||
		    m->rcpts[i].state == QUEUE_RCPT_DEFERRED)
			w->c.recipients_pending++;
		if (m->rcpts[i].state == QUEUE_RCPT_DEFERRED)
			deferred = 1;
	}
	if (deferred)
		w->c.deferred++;
	if (m->sender[0] == '\0')
		w->dsns++;
	if (w->ids != NULL && w->nids < MAX_IDS)
		memcpy(w->ids[w->nids++], m->id, QUEUE_ID_MAX);
	return 0;
}

static int
walk(struct qf *t, struct walk *w, char (*ids)[QUEUE_ID_MAX])
{
	memset(w, 0, sizeof(*w));
	w->ids = ids;
	return queue_list(t->q, walk_each, w) == QUEUE_OK ? 0 : -1;
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The counts agree with a walk; if not, say where (when loud). */
static int
same(struct qf *t, const char *what, int op, int loud)
{
	struct queue_counts	c;
	struct walk		w;

	if (queue_counts(t->q, &c) != QUEUE_OK || walk(t, &w, NULL) == -1) {
		printf("# op %d (%s): counts or walk failed\n", op, what);
		return 0;
	}
	if (c.messages == w.c.messages &&
	    c.recipients_pending == w.c.recipients_pending &&
	    c.held == w.c.held && c.deferred == w.c.deferred)
		return 1;
	if (!loud)
		return 0;
	printf("# op %d (%s): counts %llu/%llu/%llu/%llu, walk "
	    "%llu/%llu/%llu/%llu (messages/recipients/held/deferred)\n", op,
	    what, (unsigned long long)c.messages,
	    (unsigned long long)c.recipients_pending,
	    (unsigned long long)c.held, (unsigned long long)c.deferred,
	    (unsigned long long)w.c.messages,
	    (unsigned long long)w.c.recipients_pending,
	    (unsigned long long)w.c.held, (unsigned long long)w.c.deferred);
	return 0;
}

static const char *rcpt_pool[] = {
	"a@example.test", "b@example.test", "c@example.org",
	"d@example.org", "e@example.net"
};

static enum queue_status
op_submit(struct qf *t, uint64_t *s)
{
	char	id[QUEUE_ID_MAX];
	size_t	n = 1 + rnd(s) % 4;
	time_t	arrival = time(NULL);

	/* some old enough to expire at their next attempt (lifetime 5 days) */
	if (rnd(s) % 6 == 0)
		arrival -= 6 * 86400;
	return qf_submit(t, id, rnd(s) % 8 == 0 ? "" : "s@example.test",
	    rcpt_pool, n, "Subject: x\r\n\r\nbody\r\n", arrival);
}

static enum queue_status
op_attempt(struct qf *t, const char *id, uint64_t *s, int delivered_only)
{
	struct queue_msg_info		*m;
	struct queue_rcpt_result	 res[8];
	static const enum queue_rcpt_state states[] = {
		QUEUE_RCPT_DELIVERED, QUEUE_RCPT_DEFERRED, QUEUE_RCPT_BOUNCED
	};
	size_t				 i, n = 0;

	if ((m = qf_info(t, id)) == NULL)
		return queue_record_attempt(t->q, id, NULL, 0, time(NULL));
	for (i = 0; i < m->nrcpts && n < 8; i++) {
		if (rnd(s) % 3 == 0)
			continue;	/* not tried this time */
		memset(&res[n], 0, sizeof(res[n]));
		res[n].rcpt = i;
		res[n].state = delivered_only ? QUEUE_RCPT_DELIVERED :
		    states[rnd(s) % 3];
		res[n].reason = res[n].state == QUEUE_RCPT_DELIVERED ?
		    "250 2.0.0 Ok" : res[n].state == QUEUE_RCPT_DEFERRED ?
		    "451 4.4.1 later" : "550 5.1.1 no such user";
		res[n].remote_mta = "mx.example.test[192.0.2.1]";
		n++;
	}
	queue_info_free(m);
	if (delivered_only)
		return queue_record_delivered(t->q, id, res, n);
	return queue_record_attempt(t->q, id, res, n, time(NULL));
}

static const char *op_names[] = {
	"submit", "submit", "attempt", "attempt", "delivered", "hold",
	"release", "delete", "flush one", "flush all", "reopen"
};

static int
run_op(struct qf *t, int op, uint64_t *s, char (*ids)[QUEUE_ID_MAX])
{
	struct walk		 w;
	enum queue_status	 st;
	const char		*id;
	int			 kind;

	if (walk(t, &w, ids) == -1)
		return -1;
	kind = (int)(rnd(s) % 11);
	if (w.nids == 0 || kind <= 1)
		kind = 0;
	/* Now and then an id that is gone: nothing may change. */
	id = rnd(s) % 20 == 0 ? "00000000000000000000000" :
	    w.nids > 0 ? ids[rnd(s) % w.nids] : "";
	switch (kind) {
	case 0:
	case 1:
		st = op_submit(t, s);
		break;
	case 2:
	case 3:
		st = op_attempt(t, id, s, 0);
		break;
	case 4:
		st = op_attempt(t, id, s, 1);
		break;
	case 5:
		st = queue_hold(t->q, id);
		break;
	case 6:
		st = queue_release(t->q, id);
		break;
	case 7:
		st = queue_delete(t->q, id);
		break;
	case 8:
		st = queue_flush(t->q, id);
		break;
	case 9:
		st = queue_flush(t->q, NULL);
		break;
	default:
		queue_close(t->q);
		t->q = NULL;
		if (!qf_reopen(t))
			return -1;
		st = QUEUE_OK;
		break;
	}
	if (st != QUEUE_OK && st != QUEUE_ENOENT && st != QUEUE_EINVAL) {
		printf("# op %d (%s): %s\n", op, op_names[kind],
		    queue_strstatus(st));
		return -1;
	}
	return kind;
}

static void
test_random(void)
{
	static const uint64_t	 retry[] = { 300, 900, 3600 };
	struct qf		 t;
	struct walk		 w;
	char			 (*ids)[QUEUE_ID_MAX];
	uint64_t		 seed = 0x5eed2026c0417ULL;
	int			 op, kind, bad = 0, errors = 0, seen[11];

	memset(seen, 0, sizeof(seen));
	ids = calloc(MAX_IDS, QUEUE_ID_MAX);
	if (ids == NULL || qf_init(&t, 5 * 86400, retry, 3) != 0) {
		ok(0, "counts: a spool for the random sequence");
		free(ids);
		return;
	}
	queue_set_retry_seed(t.q, 42);
	for (op = 0; op < OPS; op++) {
		if ((kind = run_op(&t, op, &seed, ids)) == -1) {
			errors++;
			if (t.q == NULL)
				break;
			continue;
		}
		seen[kind]++;
		if (!same(&t, op_names[kind], op, bad == 0))
			bad++;
	}
	is_int(errors, 0, "counts: every operation of the sequence ran");
	is_int(bad, 0, "counts: after each of 600 operations the counts equal "
	    "a full walk of the spool");
	ok(seen[0] + seen[1] > 50 && seen[2] + seen[3] > 50 && seen[4] > 10 &&
	    seen[5] > 10 && seen[6] > 10 && seen[7] > 10 && seen[8] > 10 &&
	    seen[9] > 10 && seen[10] > 10,
	    "counts: the sequence covers every kind of operation");
	if (t.q != NULL && walk(&t, &w, NULL) == 0) {
		ok(w.dsns > 0, "counts: the sequence queued DSNs");
		ok(w.c.held > 0 && w.c.deferred > 0 && w.c.messages > 0,
		    "counts: it ends with held, deferred and other messages");
	}
	if (t.q != NULL)
		qf_fini(&t);
	else
		qf_discard(&t);
	free(ids);
}

/* A damaged record is in no count, neither before nor after its deletion. */
static void
test_corrupt(void)
{
	struct qf	t;
	DB		*msgs;
	char		 id[QUEUE_ID_MAX], bad[QUEUE_ID_MAX];
	uint8_t		 garbage[40];

	qf_init_std(&t);
	qf_simple(&t, id, "body\r\n");
	queue_new_id(t.q, bad);
	msgs = qf_raw_db(&t, "messages.db");
	memset(garbage, 0xff, sizeof(garbage));
	garbage[0] = 1;
	ok(msgs != NULL && qf_raw_put(msgs, bad, strlen(bad), garbage,
	    sizeof(garbage)) == 0, "counts: a damaged record is planted");
	if (msgs != NULL)
		msgs->close(msgs, 0);
	ok(same(&t, "planted", 0, 1), "counts: unchanged by a damaged record");
	queue_close(t.q);
	t.q = NULL;
	ok(qf_reopen(&t) && same(&t, "reopened", 1, 1),
	    "counts: the walk at open skips the damaged record");
	is_int(queue_record_attempt(t.q, bad, NULL, 0, time(NULL)), QUEUE_ETEMP,
	    "counts: an attempt on it fails");
	ok(same(&t, "failed attempt", 2, 1),
	    "counts: a failed transaction counts nothing");
	is_int(queue_delete(t.q, bad), QUEUE_OK, "counts: it is deleted");
	ok(same(&t, "deleted", 3, 1), "counts: its deletion takes nothing off");
	is_int(queue_delete(t.q, id), QUEUE_OK, "counts: the good one is deleted");
	ok(same(&t, "all deleted", 4, 1), "counts: an empty spool counts 0");
	qf_fini(&t);
}

/*
 * Submissions commit on the storage thread while the loop changes other
 * messages; refused submissions count nothing.
 */
static void
test_burst(void)
{
	struct qf		 t;
	struct qf_burst		 b = { 0, 0 };
	struct queue_envelope	 e;
	struct evbuffer		*body;
	struct queue_rcpt_result res;
	const char		*text = "Subject: b\r\n\r\nb\r\n";
	char			 (*ids)[QUEUE_ID_MAX], first[4][QUEUE_ID_MAX];
	int			 i, n = 200;

	qf_init_std(&t);
	for (i = 0; i < 4; i++)
		qf_simple(&t, first[i], "body\r\n");
	ids = calloc(n, QUEUE_ID_MAX);
	body = evbuffer_new();
	if (ids == NULL || body == NULL)
		fatalx("test_burst: out of memory");
	memset(&e, 0, sizeof(e));
	e.sender = "s@example.test";
	e.rcpts = rcpt_pool;
	for (i = 0; i < n; i++) {
		queue_new_id(t.q, ids[i]);
		e.id = i % 50 == 49 ? "not an id" : ids[i];
		e.nrcpts = 1 + i % 3;
		evbuffer_add(body, text, strlen(text));
		queue_submit(t.q, &e, body, qf_on_burst, &b);
		if (i == n / 2) {
			/* the loop's transactions meanwhile */
			(void)queue_hold(t.q, first[0]);
			(void)queue_delete(t.q, first[1]);
			memset(&res, 0, sizeof(res));
			res.state = QUEUE_RCPT_DEFERRED;
			res.reason = "451 4.4.1 later";
			(void)queue_record_attempt(t.q, first[2], &res, 1,
			    time(NULL));
		}
	}
	ok(qf_run_until(&t, &b.done, n, 60), "burst: every submission answered");
	is_int(b.ok, n - 4, "burst: all but the 4 with a bad id stored");
	ok(same(&t, "burst", 0, 1), "burst: the counts equal a walk");
	queue_close(t.q);
	t.q = NULL;
	ok(qf_reopen(&t) && same(&t, "burst reopened", 1, 1),
	    "burst: and equal it again after reopening");
	evbuffer_free(body);
	free(ids);
	qf_fini(&t);
}

int
main(void)
{
	log_init("test_queue_counts", LOG_DEST_STDERR, LOG_LVL_WARN);
	test_random();
	test_corrupt();
	test_burst();
	return tap_done();
}
