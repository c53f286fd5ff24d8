/*
 * test_queue_store.c: the spool's storage under stress and damage: corrupt
 * records, a newer format version, a clock that went back, log file
 * removal, exclusive use, closing with submissions in flight, a 10 MiB
 * message. One temp dir per test (test_queue_fixture.h). The API itself:
 * test_queue.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <db.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/strutil.h"
#include "queue/queue.h"
#include "queue/queue_record.h"
#include "tests/tap.h"
#include "tests/unit/test_queue_fixture.h"

static void
test_corrupt(void)
{
	struct qf		 t;
	struct queue_msg_info	*m = NULL;
	struct queue_counts	 c;
	struct evbuffer		*out;
	DB			*msgs, *bodies, *sched;
	char			 good[QUEUE_ID_MAX], bad[QUEUE_ID_MAX], trunc[QUEUE_ID_MAX];
	char			 due[QUEUE_ID_MAX];
	uint8_t			 skey[QUEUE_SCHEDKEY_MAX];
	time_t			 when;
	uint8_t			 garbage[40], bkey[QUEUE_ID_MAX + 4];
	size_t			 n;

	qf_init_std(&t);
	qf_simple(&t, good, "good body");
	qf_simple(&t, trunc, "body of a message whose chunk goes missing");
	queue_new_id(t.q, bad);
	msgs = qf_raw_db(&t, "messages.db");
	bodies = qf_raw_db(&t, "bodies.db");
	ok(msgs != NULL && bodies != NULL, "corrupt: raw access to the databases");
	if (msgs == NULL || bodies == NULL)
		return;
	memset(garbage, 0xff, sizeof(garbage));
	garbage[0] = 1;		/* right version, absurd lengths */
	ok(qf_raw_put(msgs, bad, strlen(bad), garbage, sizeof(garbage)) == 0,
	    "corrupt: a damaged record is planted");
	sched = qf_raw_db(&t, "schedule.db");
	ok(sched != NULL && qf_raw_put(sched, skey, queue_record_schedkey(1, bad, skey),
	    "", 0) == 0, "corrupt: with the earliest schedule entry");
	ok(queue_next_due(t.q, time(NULL), due, &when) == QUEUE_OK && strcmp(due, bad) == 0,
	    "corrupt: next_due reports it (delivery will find it corrupt)");
	is_int(queue_info(t.q, bad, &m), QUEUE_ETEMP,
	    "corrupt: info reports a temporary error, no crash");
	is_int(queue_hold(t.q, bad), QUEUE_ETEMP, "corrupt: hold refuses it");
	memset(&c, 0, sizeof(c));
	ok(queue_counts(t.q, &c) == QUEUE_OK && c.messages == 2,
	    "corrupt: list and counts skip it");
	is_int(queue_flush(t.q, NULL), QUEUE_OK, "corrupt: flush all skips it");
	is_int(queue_delete(t.q, bad), QUEUE_OK, "corrupt: delete still removes it");
	is_int(queue_info(t.q, bad, &m), QUEUE_ENOENT, "corrupt: gone after delete");
	ok(queue_next_due(t.q, time(NULL), due, &when) == QUEUE_OK && strcmp(due, bad) != 0,
	    "corrupt: delete found and removed its schedule entry too");
	if (sched != NULL)
		sched->close(sched, 0);

	/* The body lost its only chunk: the envelope size no longer matches. */
	n = strlen(trunc);
	memcpy(bkey, trunc, n);
	memset(bkey + n, 0, 5);
	{
		DBT key;

		memset(&key, 0, sizeof(key));
		key.data = bkey;
		key.size = n + 5;
		ok(bodies->del(bodies, NULL, &key, DB_AUTO_COMMIT) == 0,
		    "corrupt: a body chunk is removed behind the spool's back");
	}
	out = evbuffer_new();
	is_int(queue_body(t.q, trunc, out), QUEUE_ETEMP,
	    "corrupt: a body shorter than its envelope size is an error");
	is_int(evbuffer_get_length(out), 0, "corrupt: and appends nothing");
	evbuffer_free(out);
	ok(qf_body_is(&t, good, "good body", 9), "corrupt: other messages unaffected");
	msgs->close(msgs, 0);
	bodies->close(bodies, 0);
	qf_fini(&t);
}

static void
test_version(void)
{
	struct qf		t;
	struct queue_params	p;
	DB			*meta;
	char			err[256] = "";
	static const uint8_t	v2[4] = { 0, 0, 0, 2 };

	qf_init_std(&t);
	meta = qf_raw_db(&t, "meta.db");
	ok(meta != NULL && qf_raw_put(meta, "version", 7, v2, 4) == 0,
	    "version: a newer format version is written");
	if (meta != NULL)
		meta->close(meta, 0);
	queue_close(t.q);
	memset(&p, 0, sizeof(p));
	p.dir = t.dir;
	t.q = queue_open(t.base, &p, err, sizeof(err));
	ok(t.q == NULL, "version: a spool of a newer format is refused");
	ok(strstr(err, "newer") != NULL, "version: with a clear error");
	diag("%s", err);
	if (t.q == NULL)
		ok(qf_reopen(&t) == 0, "version: and refused again");
	if (t.q == NULL) {
		qf_discard(&t);
		return;
	}
	qf_fini(&t);
}

/* A clock that went back: ids still sort after the newest stored one. */
static void
test_ids_clock_back(void)
{
	struct qf	t;
	struct timespec	ts;
	static const char *r[] = { "r@x.test" };
	char		future[QUEUE_ID_MAX], id[QUEUE_ID_MAX];
	uint64_t	us;

	qf_init_std(&t);
	clock_gettime(CLOCK_REALTIME, &ts);
	us = ((uint64_t)ts.tv_sec + 3600) * 1000000;
	strutil_base32(us, future, 11);
	strutil_base32(77, future + 11, 5);
	is_int(qf_submit_id(&t, future, "s@x.test", r, 1, "b", 1), QUEUE_OK,
	    "ids: a message from an hour ahead (a clock that went back)");
	queue_close(t.q);
	ok(qf_reopen(&t), "ids: reopen");
	queue_new_id(t.q, id);
	ok(strcmp(id, future) > 0, "ids: new ids sort after the newest stored id");
	diag("stored %s, new %s", future, id);
	qf_fini(&t);
}

static size_t
count_logs(const char *dir)
{
	char	path[128];
	size_t	i, n = 0;

	for (i = 1; i < 100; i++) {
		snprintf(path, sizeof(path), "%s/log.%010zu", dir, i);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

/* 40 MiB through a spool whose log files are 32 MiB: old logs go away. */
static void
test_log_removal(void)
{
	struct qf	t;
	struct qf_burst	b = { 0, 0 };
	static const char *r[] = { "r@x.test" };
	struct queue_envelope e;
	struct evbuffer	*body = evbuffer_new();
	char		(*ids)[QUEUE_ID_MAX] = calloc(40, QUEUE_ID_MAX);
	char		*mb = malloc(1 << 20);
	int		i;

	qf_init_std(&t);
	memset(mb, 'z', 1 << 20);
	memset(&e, 0, sizeof(e));
	e.sender = "s@x.test";
	e.rcpts = r;
	e.nrcpts = 1;
	for (i = 0; i < 40; i++) {
		queue_new_id(t.q, ids[i]);
		e.id = ids[i];
		evbuffer_add(body, mb, 1 << 20);
		queue_submit(t.q, &e, body, qf_on_burst, &b);
		qf_run_until(&t, &b.done, i + 1, 60);
	}
	is_int(b.ok, 40, "checkpoint: 40 messages of 1 MiB stored");
	ok(count_logs(t.dir) >= 2, "checkpoint: the log spans several files");
	for (i = 0; i < 40; i++)
		(void)queue_delete(t.q, ids[i]);
	queue_close(t.q);
	is_int(count_logs(t.dir), 1,
	    "checkpoint: after the checkpoint at close one log file is left");
	ok(qf_reopen(&t), "checkpoint: the spool reopens without the old logs");
	qf_fini(&t);
	evbuffer_free(body);
	free(ids);
	free(mb);
}

static void
test_exclusive(void)
{
	struct qf		 t;
	struct queue_params	 p;
	struct queue		*q2;
	char			 err[256] = "";

	qf_init_std(&t);
	memset(&p, 0, sizeof(p));
	p.dir = t.dir;
	q2 = queue_open(t.base, &p, err, sizeof(err));
	ok(q2 == NULL, "exclusive: a spool in use cannot be opened a second time");
	ok(strstr(err, "in use") != NULL, "exclusive: with a clear error");
	if (q2 != NULL)
		queue_close(q2);
	queue_close(t.q);
	ok(qf_reopen(&t), "exclusive: after close it opens again");
	qf_fini(&t);
}

/* queue_close() with submissions in flight runs their callbacks first. */
static void
test_close_in_flight(void)
{
	struct qf		 t;
	struct qf_burst		 b = { 0, 0 };
	static const char	*r[] = { "r@x.test" };
	struct queue_envelope	 e;
	struct evbuffer		*body = evbuffer_new();
	char			 ids[100][QUEUE_ID_MAX];
	int			 i, present = 0;
	struct queue_msg_info	*m;

	qf_init_std(&t);
	memset(&e, 0, sizeof(e));
	e.sender = "s@x.test";
	e.rcpts = r;
	e.nrcpts = 1;
	for (i = 0; i < 100; i++) {
		queue_new_id(t.q, ids[i]);
		e.id = ids[i];
		evbuffer_add(body, "0123456789", 10);
		queue_submit(t.q, &e, body, qf_on_burst, &b);
	}
	queue_close(t.q);
	is_int(b.done, 100, "close: every callback ran before queue_close returned");
	is_int(b.ok, 100, "close: and every message was stored");
	ok(qf_reopen(&t), "close: reopen");
	for (i = 0; i < 100; i++)
		if (queue_info(t.q, ids[i], &m) == QUEUE_OK) {
			present++;
			queue_info_free(m);
		}
	is_int(present, 100, "close: all 100 present after reopen");
	evbuffer_free(body);
	qf_fini(&t);
}

/* A 10 MiB message: 163 chunks, more than the log buffer in one txn. */
static void
test_big(void)
{
	struct qf	 t;
	static const char *r[] = { "r@x.test" };
	char		 id[QUEUE_ID_MAX];
	size_t		 len = 10 * 1024 * 1024 + 17, i;
	uint8_t		*big = malloc(len);

	qf_init_std(&t);
	for (i = 0; i < len; i++)
		big[i] = (uint8_t)((i * 2654435761u) >> 13);
	queue_new_id(t.q, id);
	is_int(qf_submit_id(&t, id, "s@x.test", r, 1, big, len), QUEUE_OK,
	    "H7: a 10 MiB message is stored");
	ok(qf_body_is(&t, id, big, len), "big: 10 MiB come back byte for byte");
	is_int(queue_delete(t.q, id), QUEUE_OK, "big: and is deleted in one transaction");
	free(big);
	qf_fini(&t);
}

int
main(void)
{
	log_init("test_queue_store", LOG_DEST_STDERR, LOG_LVL_WARN);
	test_corrupt();
	test_version();
	test_ids_clock_back();
	test_log_removal();
	test_exclusive();
	test_close_in_flight();
	test_big();
	return tap_done();
}
