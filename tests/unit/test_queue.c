/*
 * test_queue.c: the spool through its public API (ids, submission and read
 * back, the schedule, listing, group commit, refusals), one temp dir per
 * test. Its storage (damage, format version, logs, exclusive use, closing
 * with submissions in flight, big messages): test_queue_store.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <db.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "common/log.h"
#include "queue/queue.h"
#include "queue/queue_record.h"
#include "tests/tap.h"
#include "tests/unit/test_queue_fixture.h"










static void
test_ids(void)
{
	struct qf	t;
	char		prev[QUEUE_ID_MAX], id[QUEUE_ID_MAX];
	size_t		i, bad = 0, longest = 0;

	qf_init_std(&t);
	queue_new_id(t.q, prev);
	for (i = 0; i < 100000; i++) {
		queue_new_id(t.q, id);
		if (strcmp(prev, id) >= 0)
			bad++;
		if (strlen(id) > longest)
			longest = strlen(id);
		memcpy(prev, id, sizeof(id));
	}
	is_int(bad, 0, "ids: 100000 ids strictly increasing, hence unique");
	ok(longest <= 20, "ids: at most 20 characters");
	ok(strspn(id, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") == strlen(id),
	    "ids: Crockford base32, greppable");
	/* An id given out is remembered across a restart. */
	queue_close(t.q);
	ok(qf_reopen(&t), "ids: reopen");
	queue_new_id(t.q, id);
	ok(strcmp(prev, id) < 0, "ids: first id after reopen sorts after the last one");
	qf_fini(&t);
}

static void
test_roundtrip(void)
{
	struct qf		 t;
	struct queue_msg_info	*m = NULL;
	static const char	*r3[] = { "a@x.test", "b@y.test", "c@z.test" };
	static const char	 msg1[] = "Subject: hi\r\n\r\nbody\r\n";
	const char		*many[1000];
	char			 id[QUEUE_ID_MAX], id2[QUEUE_ID_MAX], id3[QUEUE_ID_MAX];
	char			 addrs[1000][32];
	uint8_t			*big;
	size_t			 i, biglen = 3 * 65536 + 1234;
	int			 good;

	qf_init_std(&t);
	queue_new_id(t.q, id);
	is_int(qf_submit_id(&t, id, "s@example.test", r3, 3, msg1, strlen(msg1)),
	    QUEUE_OK, "H10: a submitted message is acknowledged QUEUE_OK");
	ok(queue_info(t.q, id, &m) == QUEUE_OK && m != NULL, "info: found");
	if (m != NULL) {
		is_str(m->id, id, "info: id");
		is_str(m->sender, "s@example.test", "info: sender");
		is_str(m->helo, "client.example.test", "info: helo");
		is_str(m->client_addr, "192.0.2.7", "info: client addr");
		is_str(m->auth_user, "", "info: auth user \"\" when none");
		is_int(m->size, strlen(msg1), "info: size is the body length");
		is_int(m->held, 0, "info: not held");
		is_int(m->nrcpts, 3, "info: three recipients");
		is_str(m->rcpts[2].addr, "c@z.test", "info: recipient order kept");
		is_int(m->rcpts[1].state, QUEUE_RCPT_PENDING, "info: recipients start pending");
		is_str(queue_strstate(m->rcpts[1].state), "pending", "info: state name");
		ok(m->next_attempt <= time(NULL), "info: a new message is due now");
		queue_info_free(m);
	}
	ok(qf_body_is(&t, id, msg1, strlen(msg1)), "body: bytes come back, appended");

	big = malloc(biglen);
	for (i = 0; i < biglen; i++)
		big[i] = (uint8_t)(i * 7 + i / 65536);
	queue_new_id(t.q, id2);
	is_int(qf_submit_id(&t, id2, "", r3, 1, big, biglen), QUEUE_OK,
	    "body: a body over 64 KiB is stored");
	ok(qf_body_is(&t, id2, big, biglen), "body: four chunks reassembled byte for byte");
	m = NULL;
	ok(queue_info(t.q, id2, &m) == QUEUE_OK && m != NULL &&
	    strcmp(m->sender, "") == 0, "info: the null sender <> is kept as \"\"");
	queue_info_free(m);

	for (i = 0; i < 1000; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "user%zu@d%zu.test", i, i % 7);
		many[i] = addrs[i];
	}
	queue_new_id(t.q, id3);
	is_int(qf_submit_id(&t, id3, "s@example.test", many, 1000, "", 0), QUEUE_OK,
	    "H6: a message with 1000 recipients and an empty body is stored");
	m = NULL;
	good = queue_info(t.q, id3, &m) == QUEUE_OK && m != NULL && m->nrcpts == 1000 &&
	    strcmp(m->rcpts[999].addr, "user999@d5.test") == 0 && m->size == 0;
	ok(good, "info: 1000 recipients come back");
	queue_info_free(m);
	ok(qf_body_is(&t, id3, "", 0), "body: empty body comes back empty");

	/* Reopen keeps everything. */
	queue_close(t.q);
	ok(qf_reopen(&t), "reopen: spool opens again");
	ok(qf_body_is(&t, id2, big, biglen), "reopen: the big body is intact");
	m = NULL;
	ok(queue_info(t.q, id3, &m) == QUEUE_OK && m != NULL && m->nrcpts == 1000,
	    "reopen: envelope intact");
	queue_info_free(m);
	free(big);
	qf_fini(&t);
}

static void
test_sched(void)
{
	struct qf		 t;
	struct queue_msg_info	*m = NULL;
	struct queue_counts	 c;
	char			 a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], due[QUEUE_ID_MAX];
	time_t			 when;

	qf_init_std(&t);
	is_int(queue_next_due(t.q, time(NULL), due, &when), QUEUE_ENOENT,
	    "next_due: ENOENT on an empty spool");
	qf_simple(&t, a, "a");
	qf_simple(&t, b, "b");
	ok(queue_next_due(t.q, time(NULL), due, &when) == QUEUE_OK &&
	    strcmp(due, a) == 0 && when <= time(NULL), "next_due: the earliest message, due now");
	is_int(queue_hold(t.q, a), QUEUE_OK, "hold: ok");
	is_int(queue_hold(t.q, a), QUEUE_OK, "hold: holding twice is fine");
	ok(queue_next_due(t.q, time(NULL), due, &when) == QUEUE_OK &&
	    strcmp(due, b) == 0, "hold: a held message is never due");
	ok(queue_info(t.q, a, &m) == QUEUE_OK && m->held == 1, "hold: info shows held");
	queue_info_free(m);
	is_int(queue_flush(t.q, a), QUEUE_OK, "flush: of a held message is ok");
	m = NULL;
	ok(queue_info(t.q, a, &m) == QUEUE_OK && m->held == 1, "flush: leaves a held message held");
	queue_info_free(m);
	is_int(queue_flush(t.q, NULL), QUEUE_OK, "flush: all");
	m = NULL;
	ok(queue_info(t.q, a, &m) == QUEUE_OK && m->held == 1, "flush all: skips held messages");
	queue_info_free(m);
	memset(&c, 0, sizeof(c));
	ok(queue_counts(t.q, &c) == QUEUE_OK && c.messages == 2 && c.held == 1 &&
	    c.recipients_pending == 2 && c.deferred == 0, "counts: 2 messages, 1 held, 2 recipients");
	is_int(queue_delete(t.q, b), QUEUE_OK, "delete: ok");
	is_int(queue_next_due(t.q, time(NULL), due, &when), QUEUE_ENOENT,
	    "delete: removes the schedule entry (only a held message is left)");
	is_int(queue_release(t.q, a), QUEUE_OK, "release: ok");
	ok(queue_next_due(t.q, time(NULL), due, &when) == QUEUE_OK && strcmp(due, a) == 0 &&
	    when <= time(NULL), "release: the message is due now");
	is_int(queue_release(t.q, a), QUEUE_OK, "release: of a message not held is fine");
	m = NULL;
	ok(queue_info(t.q, a, &m) == QUEUE_OK && m->held == 0, "release: info shows not held");
	queue_info_free(m);
	is_int(queue_delete(t.q, a), QUEUE_OK, "delete: the held-then-released one");
	memset(&c, 0xff, sizeof(c));
	ok(queue_counts(t.q, &c) == QUEUE_OK && c.messages == 0 && c.held == 0 &&
	    c.recipients_pending == 0, "counts: all zero on an empty spool");

	is_int(queue_info(t.q, a, &m), QUEUE_ENOENT, "ENOENT: info of a deleted message");
	ok(m == NULL, "ENOENT: info leaves the pointer NULL");
	{
		struct evbuffer *out = evbuffer_new();

		is_int(queue_body(t.q, a, out), QUEUE_ENOENT, "ENOENT: body");
		is_int(evbuffer_get_length(out), 0, "ENOENT: body appends nothing");
		evbuffer_free(out);
	}
	is_int(queue_delete(t.q, a), QUEUE_ENOENT, "ENOENT: delete twice");
	is_int(queue_hold(t.q, "NOSUCHID"), QUEUE_ENOENT, "ENOENT: hold");
	is_int(queue_release(t.q, "NOSUCHID"), QUEUE_ENOENT, "ENOENT: release");
	is_int(queue_flush(t.q, "NOSUCHID"), QUEUE_ENOENT, "ENOENT: flush one");
	is_int(queue_info(t.q, "../../etc/passwd", &m), QUEUE_ENOENT, "ENOENT: a malformed id");
	is_int(queue_flush(t.q, NULL), QUEUE_OK, "flush all: of an empty spool");
	qf_fini(&t);
}

static int
list_collect(const struct queue_msg_info *m, void *arg)
{
	char (*ids)[QUEUE_ID_MAX] = arg;
	size_t i;

	for (i = 0; ids[i][0] != '\0'; i++)
		;
	memcpy(ids[i], m->id, QUEUE_ID_MAX);
	return 0;
}

static int
list_stop(const struct queue_msg_info *m, void *arg)
{
	(void)m;
	return ++*(int *)arg == 2;
}

static void
test_list(void)
{
	struct qf	t;
	char		ids[600][QUEUE_ID_MAX], got[601][QUEUE_ID_MAX];
	static const char *r[] = { "r@x.test" };
	size_t		i, bad = 0;
	int		n = 0;

	qf_init_std(&t);
	for (i = 0; i < 600; i++)
		queue_new_id(t.q, ids[i]);
	/* Submitted in reverse, listed in id order; more than one batch. */
	for (i = 600; i > 0; i--)
		if (qf_submit_id(&t, ids[i - 1], "s@x.test", r, 1, "b", 1) != QUEUE_OK)
			bad++;
	is_int(bad, 0, "list: 600 messages stored");
	memset(got, 0, sizeof(got));
	is_int(queue_list(t.q, list_collect, got), QUEUE_OK, "list: ok");
	for (i = 0, bad = 0; i < 600; i++)
		if (strcmp(got[i], ids[i]) != 0)
			bad++;
	is_int(bad, 0, "list: every message once, in queue id order");
	ok(got[600][0] == '\0', "list: nothing more");
	is_int(queue_list(t.q, list_stop, &n), QUEUE_OK, "list: stop early");
	is_int(n, 2, "list: a non-zero return stops the walk");
	qf_fini(&t);
}



static void
burst(struct qf *t, int n, struct qf_burst *b)
{
	static const char	*r[] = { "r@x.test" };
	struct queue_envelope	 e;
	struct evbuffer		*body = evbuffer_new();
	char			 (*ids)[QUEUE_ID_MAX] = calloc(n, QUEUE_ID_MAX);
	char			 chunk[4096];
	int			 i;

	memset(chunk, 'm', sizeof(chunk));
	memset(&e, 0, sizeof(e));
	e.sender = "s@x.test";
	e.rcpts = r;
	e.nrcpts = 1;
	for (i = 0; i < n; i++) {
		queue_new_id(t->q, ids[i]);
		e.id = ids[i];
		evbuffer_add(body, chunk, sizeof(chunk));
		queue_submit(t->q, &e, body, qf_on_burst, b);
	}
	qf_run_until(t, &b->done, n, 60);
	evbuffer_free(body);
	free(ids);
}

static void
test_group_commit(void)
{
	struct qf		t;
	struct queue_stats	st, before;
	struct qf_burst		b = { 0, 0 };

	qf_init_std(&t);
	burst(&t, 500, &b);
	is_int(b.ok, 500, "group commit: 500 submits in flight all acknowledged");
	queue_stats(t.q, &st);
	is_int(st.committed, 500, "group commit: 500 transactions committed");
	ok(st.flushes < 500 && st.max_batch > 1,
	    "group commit: fewer log flushes than transactions");
	diag("500 commits, %llu flushes, largest batch %llu",
	    (unsigned long long)st.flushes, (unsigned long long)st.max_batch);
	queue_set_batch_max(t.q, 1);
	memset(&b, 0, sizeof(b));
	before = st;
	burst(&t, 50, &b);
	queue_stats(t.q, &st);
	is_int(b.ok, 50, "batch max 1: all acknowledged");
	is_int(st.committed - before.committed, 50, "batch max 1: 50 committed");
	is_int(st.flushes - before.flushes, 50, "batch max 1: one log flush per message");
	is_int(st.submitted, 550, "stats: every submission counted");
	is_int(st.failed, 0, "stats: no failures");
	qf_fini(&t);
}

static void
test_refusals(void)
{
	struct qf	t;
	static const char *r[] = { "r@x.test" };
	char		id[QUEUE_ID_MAX];

	qf_init_std(&t);
	is_int(qf_submit_id(&t, "bad id!", "s@x.test", r, 1, "b", 1), QUEUE_ETEMP,
	    "submit: an invalid queue id fails through the callback");
	is_int(qf_simple(&t, id, "first"), QUEUE_OK, "submit: first with an id");
	is_int(qf_submit_id(&t, id, "s@x.test", r, 1, "second", 6), QUEUE_ETEMP,
	    "submit: a reused id is refused and leaves nothing half-written");
	ok(qf_body_is(&t, id, "first", 5), "submit: the first message is untouched");
	qf_fini(&t);
}




/* Move a message's next attempt to when, as delivery will after a failure. */
static int
reschedule(struct qf *t, const char *id, time_t when)
{
	DB			*msgs = qf_raw_db(t, "messages.db"), *sched = qf_raw_db(t, "schedule.db");
	struct queue_msg_info	*m = NULL;
	DBT			 key, data;
	uint8_t			*rec = NULL, k[QUEUE_SCHEDKEY_MAX];
	size_t			 len;
	const char		*why;
	int			 r = -1;

	if (msgs == NULL || sched == NULL || queue_info(t->q, id, &m) != QUEUE_OK)
		goto out;
	memset(&key, 0, sizeof(key));
	key.data = k;
	key.size = queue_record_schedkey(m->next_attempt, id, k);
	if (sched->del(sched, NULL, &key, DB_AUTO_COMMIT) != 0)
		goto out;
	m->next_attempt = when;
	key.size = queue_record_schedkey(when, id, k);
	memset(&data, 0, sizeof(data));
	if (sched->put(sched, NULL, &key, &data, DB_AUTO_COMMIT) != 0 ||
	    queue_record_encode(m, &rec, &len, &why) != 0)
		goto out;
	r = qf_raw_put(msgs, id, strlen(id), rec, len);
out:
	free(rec);
	queue_info_free(m);
	if (msgs != NULL)
		msgs->close(msgs, 0);
	if (sched != NULL)
		sched->close(sched, 0);
	return r;
}

static void
test_future(void)
{
	struct qf	 t;
	char		 a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], c[QUEUE_ID_MAX], due[QUEUE_ID_MAX];
	time_t		 now = time(NULL), when;

	qf_init_std(&t);
	qf_simple(&t, a, "a");
	qf_simple(&t, b, "b");
	qf_simple(&t, c, "c");
	ok(reschedule(&t, a, now + 7200) == 0 && reschedule(&t, b, now + 3600) == 0 &&
	    reschedule(&t, c, now + 5400) == 0, "future: three messages deferred");
	ok(queue_next_due(t.q, now, due, &when) == QUEUE_OK && strcmp(due, b) == 0 &&
	    when == now + 3600, "next_due: the earliest time first, not the lowest id");
	ok(when > now, "next_due: reports a time in the future for a timer");
	is_int(queue_flush(t.q, a), QUEUE_OK, "flush: one message");
	ok(queue_next_due(t.q, time(NULL), due, &when) == QUEUE_OK && strcmp(due, a) == 0 &&
	    when <= time(NULL), "flush: that message is due now");
	is_int(queue_hold(t.q, c), QUEUE_OK, "flush: hold another");
	is_int(queue_flush(t.q, NULL), QUEUE_OK, "flush: all");
	ok(queue_next_due(t.q, time(NULL), due, &when) == QUEUE_OK && when <= time(NULL),
	    "flush all: the deferred message is due now");
	is_int(queue_delete(t.q, a), QUEUE_OK, "flush all: delete a");
	ok(queue_next_due(t.q, time(NULL), due, &when) == QUEUE_OK && strcmp(due, b) == 0 &&
	    when <= time(NULL), "flush all: b was made due");
	is_int(queue_delete(t.q, b), QUEUE_OK, "flush all: delete b");
	is_int(queue_next_due(t.q, time(NULL), due, &when), QUEUE_ENOENT,
	    "flush all: the held message c was not scheduled");
	qf_fini(&t);
}








static void
test_names(void)
{
	is_str(queue_strstatus(QUEUE_OK), "ok", "strstatus: ok");
	is_str(queue_strstatus(QUEUE_ENOSPC), "spool disk full", "strstatus: enospc");
	is_str(queue_strstate(QUEUE_RCPT_BOUNCED), "bounced", "strstate: bounced");
}

int
main(void)
{
	log_init("test_queue", LOG_DEST_STDERR, LOG_LVL_WARN);
	test_names();
	test_ids();
	test_roundtrip();
	test_sched();
	test_list();
	test_group_commit();
	test_refusals();
	test_future();
	return tap_done();
}
