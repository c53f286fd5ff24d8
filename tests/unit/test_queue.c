/* test_queue.c: the spool through its public API, one temp dir per test. */
#include <sys/stat.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <db.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "common/log.h"
#include "common/strutil.h"
#include "queue/queue.h"
#include "queue/queue_record.h"
#include "tests/tap.h"

struct tq {
	char			 dir[64];
	struct event_base	*base;
	struct queue		*q;
};

struct pending {
	int			done;
	enum queue_status	status;
};

static const uint64_t retry[] = { 300, 900, 3600 };

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
tq_open(struct tq *t)
{
	struct queue_params	p = { t->dir, 5 * 86400, retry, 3 };
	char			err[256];

	if ((t->q = queue_open(t->base, &p, err, sizeof(err))) == NULL)
		diag("queue_open: %s", err);
	return t->q != NULL;
}

static void
tq_init(struct tq *t)
{
	strcpy(t->dir, "/tmp/test_queue.XXXXXX");
	if (mkdtemp(t->dir) == NULL)
		fatal("mkdtemp");
	/* the spool is a subdirectory that queue_open() must create */
	strcat(t->dir, "/spool");
	if ((t->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (!tq_open(t))
		fatalx("tq_init: cannot open the spool");
}

static void
tq_fini(struct tq *t)
{
	queue_close(t->q);
	event_base_free(t->base);
	*strrchr(t->dir, '/') = '\0';
	(void)nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
on_commit(enum queue_status s, void *arg)
{
	struct pending *p = arg;

	p->status = s;
	p->done++;
}

/* Run the loop until *counter reaches want, with a generous deadline. */
static int
run_until(struct tq *t, const int *counter, int want)
{
	time_t deadline = time(NULL) + 60;

	while (*counter < want && time(NULL) < deadline)
		if (event_base_loop(t->base, EVLOOP_ONCE) == -1)
			return 0;
	return *counter >= want;
}

static enum queue_status
submit(struct tq *t, const char *id, const char *sender, const char **rcpts,
    size_t nrcpts, const void *body, size_t len)
{
	struct queue_envelope	 e;
	struct evbuffer		*b = evbuffer_new();
	struct pending		 p = { 0, QUEUE_ETEMP };

	memset(&e, 0, sizeof(e));
	e.id = id;
	e.sender = sender;
	e.rcpts = rcpts;
	e.nrcpts = nrcpts;
	e.helo = "client.example.test";
	e.client_addr = "192.0.2.7";
	e.arrival = time(NULL);
	evbuffer_add(b, body, len);
	queue_submit(t->q, &e, b, on_commit, &p);
	if (evbuffer_get_length(b) != 0)
		diag("submit: the body buffer was not emptied");
	evbuffer_free(b);
	if (!run_until(t, &p.done, 1))
		return QUEUE_ETEMP;
	return p.status;
}

static enum queue_status
simple(struct tq *t, char id[QUEUE_ID_MAX], const char *body)
{
	static const char *r[] = { "rcpt@example.test" };

	queue_new_id(t->q, id);
	return submit(t, id, "s@example.test", r, 1, body, strlen(body));
}

static int
body_is(struct tq *t, const char *id, const void *want, size_t len)
{
	struct evbuffer	*out = evbuffer_new();
	int		 same;

	evbuffer_add(out, "x", 1);	/* queue_body appends */
	same = queue_body(t->q, id, out) == QUEUE_OK &&
	    evbuffer_get_length(out) == len + 1 &&
	    memcmp(evbuffer_pullup(out, -1) + 1, want, len) == 0;
	evbuffer_free(out);
	return same;
}

static void
test_ids(void)
{
	struct tq	t;
	char		prev[QUEUE_ID_MAX], id[QUEUE_ID_MAX];
	size_t		i, bad = 0, longest = 0;

	tq_init(&t);
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
	ok(tq_open(&t), "ids: reopen");
	queue_new_id(t.q, id);
	ok(strcmp(prev, id) < 0, "ids: first id after reopen sorts after the last one");
	tq_fini(&t);
}

static void
test_roundtrip(void)
{
	struct tq		 t;
	struct queue_msg_info	*m = NULL;
	static const char	*r3[] = { "a@x.test", "b@y.test", "c@z.test" };
	static const char	 msg1[] = "Subject: hi\r\n\r\nbody\r\n";
	const char		*many[1000];
	char			 id[QUEUE_ID_MAX], id2[QUEUE_ID_MAX], id3[QUEUE_ID_MAX];
	char			 addrs[1000][32];
	uint8_t			*big;
	size_t			 i, biglen = 3 * 65536 + 1234;
	int			 good;

	tq_init(&t);
	queue_new_id(t.q, id);
	is_int(submit(&t, id, "s@example.test", r3, 3, msg1, strlen(msg1)),
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
	ok(body_is(&t, id, msg1, strlen(msg1)), "body: bytes come back, appended");

	big = malloc(biglen);
	for (i = 0; i < biglen; i++)
		big[i] = (uint8_t)(i * 7 + i / 65536);
	queue_new_id(t.q, id2);
	is_int(submit(&t, id2, "", r3, 1, big, biglen), QUEUE_OK,
	    "body: a body over 64 KiB is stored");
	ok(body_is(&t, id2, big, biglen), "body: four chunks reassembled byte for byte");
	m = NULL;
	ok(queue_info(t.q, id2, &m) == QUEUE_OK && m != NULL &&
	    strcmp(m->sender, "") == 0, "info: the null sender <> is kept as \"\"");
	queue_info_free(m);

	for (i = 0; i < 1000; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "user%zu@d%zu.test", i, i % 7);
		many[i] = addrs[i];
	}
	queue_new_id(t.q, id3);
	is_int(submit(&t, id3, "s@example.test", many, 1000, "", 0), QUEUE_OK,
	    "H6: a message with 1000 recipients and an empty body is stored");
	m = NULL;
	good = queue_info(t.q, id3, &m) == QUEUE_OK && m != NULL && m->nrcpts == 1000 &&
	    strcmp(m->rcpts[999].addr, "user999@d5.test") == 0 && m->size == 0;
	ok(good, "info: 1000 recipients come back");
	queue_info_free(m);
	ok(body_is(&t, id3, "", 0), "body: empty body comes back empty");

	/* Reopen keeps everything. */
	queue_close(t.q);
	ok(tq_open(&t), "reopen: spool opens again");
	ok(body_is(&t, id2, big, biglen), "reopen: the big body is intact");
	m = NULL;
	ok(queue_info(t.q, id3, &m) == QUEUE_OK && m != NULL && m->nrcpts == 1000,
	    "reopen: envelope intact");
	queue_info_free(m);
	free(big);
	tq_fini(&t);
}

static void
test_sched(void)
{
	struct tq		 t;
	struct queue_msg_info	*m = NULL;
	struct queue_counts	 c;
	char			 a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], due[QUEUE_ID_MAX];
	time_t			 when;

	tq_init(&t);
	is_int(queue_next_due(t.q, time(NULL), due, &when), QUEUE_ENOENT,
	    "next_due: ENOENT on an empty spool");
	simple(&t, a, "a");
	simple(&t, b, "b");
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
	tq_fini(&t);
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
	struct tq	t;
	char		ids[600][QUEUE_ID_MAX], got[601][QUEUE_ID_MAX];
	static const char *r[] = { "r@x.test" };
	size_t		i, bad = 0;
	int		n = 0;

	tq_init(&t);
	for (i = 0; i < 600; i++)
		queue_new_id(t.q, ids[i]);
	/* Submitted in reverse, listed in id order; more than one batch. */
	for (i = 600; i > 0; i--)
		if (submit(&t, ids[i - 1], "s@x.test", r, 1, "b", 1) != QUEUE_OK)
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
	tq_fini(&t);
}

struct burst {
	int	done, ok;
};

static void
on_burst(enum queue_status s, void *arg)
{
	struct burst *b = arg;

	b->done++;
	if (s == QUEUE_OK)
		b->ok++;
}

static void
burst(struct tq *t, int n, struct burst *b)
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
		queue_submit(t->q, &e, body, on_burst, b);
	}
	run_until(t, &b->done, n);
	evbuffer_free(body);
	free(ids);
}

static void
test_group_commit(void)
{
	struct tq		t;
	struct queue_stats	st, before;
	struct burst		b = { 0, 0 };

	tq_init(&t);
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
	tq_fini(&t);
}

static void
test_refusals(void)
{
	struct tq	t;
	static const char *r[] = { "r@x.test" };
	char		id[QUEUE_ID_MAX];

	tq_init(&t);
	is_int(submit(&t, "bad id!", "s@x.test", r, 1, "b", 1), QUEUE_ETEMP,
	    "submit: an invalid queue id fails through the callback");
	is_int(simple(&t, id, "first"), QUEUE_OK, "submit: first with an id");
	is_int(submit(&t, id, "s@x.test", r, 1, "second", 6), QUEUE_ETEMP,
	    "submit: a reused id is refused and leaves nothing half-written");
	ok(body_is(&t, id, "first", 5), "submit: the first message is untouched");
	tq_fini(&t);
}

/* Open one of the spool's databases through the shared environment. */
static DB *
raw_db(struct tq *t, const char *file)
{
	DB *db;

	if (db_create(&db, queue_dbenv(t->q), 0) != 0)
		return NULL;
	if (db->open(db, NULL, file, NULL, DB_BTREE, DB_AUTO_COMMIT | DB_THREAD,
	    0) != 0) {
		db->close(db, 0);
		return NULL;
	}
	return db;
}

static int
raw_put(DB *db, const void *k, size_t klen, const void *d, size_t dlen)
{
	DBT key, data;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)k;
	key.size = klen;
	data.data = (void *)d;
	data.size = dlen;
	return db->put(db, NULL, &key, &data, DB_AUTO_COMMIT);
}

static void
test_corrupt(void)
{
	struct tq		 t;
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

	tq_init(&t);
	simple(&t, good, "good body");
	simple(&t, trunc, "body of a message whose chunk goes missing");
	queue_new_id(t.q, bad);
	msgs = raw_db(&t, "messages.db");
	bodies = raw_db(&t, "bodies.db");
	ok(msgs != NULL && bodies != NULL, "corrupt: raw access to the databases");
	if (msgs == NULL || bodies == NULL)
		return;
	memset(garbage, 0xff, sizeof(garbage));
	garbage[0] = 1;		/* right version, absurd lengths */
	ok(raw_put(msgs, bad, strlen(bad), garbage, sizeof(garbage)) == 0,
	    "corrupt: a damaged record is planted");
	sched = raw_db(&t, "schedule.db");
	ok(sched != NULL && raw_put(sched, skey, queue_record_schedkey(1, bad, skey),
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
	ok(body_is(&t, good, "good body", 9), "corrupt: other messages unaffected");
	msgs->close(msgs, 0);
	bodies->close(bodies, 0);
	tq_fini(&t);
}

/* Move a message's next attempt to when, as delivery will after a failure. */
static int
reschedule(struct tq *t, const char *id, time_t when)
{
	DB			*msgs = raw_db(t, "messages.db"), *sched = raw_db(t, "schedule.db");
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
	r = raw_put(msgs, id, strlen(id), rec, len);
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
	struct tq	 t;
	char		 a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], c[QUEUE_ID_MAX], due[QUEUE_ID_MAX];
	time_t		 now = time(NULL), when;

	tq_init(&t);
	simple(&t, a, "a");
	simple(&t, b, "b");
	simple(&t, c, "c");
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
	tq_fini(&t);
}

static void
test_version(void)
{
	struct tq		t;
	struct queue_params	p;
	DB			*meta;
	char			err[256] = "";
	static const uint8_t	v2[4] = { 0, 0, 0, 2 };

	tq_init(&t);
	meta = raw_db(&t, "meta.db");
	ok(meta != NULL && raw_put(meta, "version", 7, v2, 4) == 0,
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
		ok(tq_open(&t) == 0, "version: and refused again");
	if (t.q == NULL) {
		/* put it back so that tq_fini() has something to close */
		event_base_free(t.base);
		*strrchr(t.dir, '/') = '\0';
		(void)nftw(t.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		return;
	}
	tq_fini(&t);
}

/* A clock that went back: ids still sort after the newest stored one. */
static void
test_ids_clock_back(void)
{
	struct tq	t;
	struct timespec	ts;
	static const char *r[] = { "r@x.test" };
	char		future[QUEUE_ID_MAX], id[QUEUE_ID_MAX];
	uint64_t	us;

	tq_init(&t);
	clock_gettime(CLOCK_REALTIME, &ts);
	us = ((uint64_t)ts.tv_sec + 3600) * 1000000;
	strutil_base32(us, future, 11);
	strutil_base32(77, future + 11, 5);
	is_int(submit(&t, future, "s@x.test", r, 1, "b", 1), QUEUE_OK,
	    "ids: a message from an hour ahead (a clock that went back)");
	queue_close(t.q);
	ok(tq_open(&t), "ids: reopen");
	queue_new_id(t.q, id);
	ok(strcmp(id, future) > 0, "ids: new ids sort after the newest stored id");
	diag("stored %s, new %s", future, id);
	tq_fini(&t);
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
	struct tq	t;
	struct burst	b = { 0, 0 };
	static const char *r[] = { "r@x.test" };
	struct queue_envelope e;
	struct evbuffer	*body = evbuffer_new();
	char		(*ids)[QUEUE_ID_MAX] = calloc(40, QUEUE_ID_MAX);
	char		*mb = malloc(1 << 20);
	int		i;

	tq_init(&t);
	memset(mb, 'z', 1 << 20);
	memset(&e, 0, sizeof(e));
	e.sender = "s@x.test";
	e.rcpts = r;
	e.nrcpts = 1;
	for (i = 0; i < 40; i++) {
		queue_new_id(t.q, ids[i]);
		e.id = ids[i];
		evbuffer_add(body, mb, 1 << 20);
		queue_submit(t.q, &e, body, on_burst, &b);
		run_until(&t, &b.done, i + 1);
	}
	is_int(b.ok, 40, "checkpoint: 40 messages of 1 MiB stored");
	ok(count_logs(t.dir) >= 2, "checkpoint: the log spans several files");
	for (i = 0; i < 40; i++)
		(void)queue_delete(t.q, ids[i]);
	queue_close(t.q);
	is_int(count_logs(t.dir), 1,
	    "checkpoint: after the checkpoint at close one log file is left");
	ok(tq_open(&t), "checkpoint: the spool reopens without the old logs");
	tq_fini(&t);
	evbuffer_free(body);
	free(ids);
	free(mb);
}

static void
test_exclusive(void)
{
	struct tq		 t;
	struct queue_params	 p;
	struct queue		*q2;
	char			 err[256] = "";

	tq_init(&t);
	memset(&p, 0, sizeof(p));
	p.dir = t.dir;
	q2 = queue_open(t.base, &p, err, sizeof(err));
	ok(q2 == NULL, "exclusive: a spool in use cannot be opened a second time");
	ok(strstr(err, "in use") != NULL, "exclusive: with a clear error");
	if (q2 != NULL)
		queue_close(q2);
	queue_close(t.q);
	ok(tq_open(&t), "exclusive: after close it opens again");
	tq_fini(&t);
}

/* queue_close() with submissions in flight runs their callbacks first. */
static void
test_close_in_flight(void)
{
	struct tq		 t;
	struct burst		 b = { 0, 0 };
	static const char	*r[] = { "r@x.test" };
	struct queue_envelope	 e;
	struct evbuffer		*body = evbuffer_new();
	char			 ids[100][QUEUE_ID_MAX];
	int			 i, present = 0;
	struct queue_msg_info	*m;

	tq_init(&t);
	memset(&e, 0, sizeof(e));
	e.sender = "s@x.test";
	e.rcpts = r;
	e.nrcpts = 1;
	for (i = 0; i < 100; i++) {
		queue_new_id(t.q, ids[i]);
		e.id = ids[i];
		evbuffer_add(body, "0123456789", 10);
		queue_submit(t.q, &e, body, on_burst, &b);
	}
	queue_close(t.q);
	is_int(b.done, 100, "close: every callback ran before queue_close returned");
	is_int(b.ok, 100, "close: and every message was stored");
	ok(tq_open(&t), "close: reopen");
	for (i = 0; i < 100; i++)
		if (queue_info(t.q, ids[i], &m) == QUEUE_OK) {
			present++;
			queue_info_free(m);
		}
	is_int(present, 100, "close: all 100 present after reopen");
	evbuffer_free(body);
	tq_fini(&t);
}

/* A 10 MiB message: 163 chunks, more than the log buffer in one txn. */
static void
test_big(void)
{
	struct tq	 t;
	static const char *r[] = { "r@x.test" };
	char		 id[QUEUE_ID_MAX];
	size_t		 len = 10 * 1024 * 1024 + 17, i;
	uint8_t		*big = malloc(len);

	tq_init(&t);
	for (i = 0; i < len; i++)
		big[i] = (uint8_t)((i * 2654435761u) >> 13);
	queue_new_id(t.q, id);
	is_int(submit(&t, id, "s@x.test", r, 1, big, len), QUEUE_OK,
	    "H7: a 10 MiB message is stored");
	ok(body_is(&t, id, big, len), "big: 10 MiB come back byte for byte");
	is_int(queue_delete(t.q, id), QUEUE_OK, "big: and is deleted in one transaction");
	free(big);
	tq_fini(&t);
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
	if (evthread_use_pthreads() == -1)
		fatalx("evthread_use_pthreads");
	test_names();
	test_ids();
	test_roundtrip();
	test_sched();
	test_list();
	test_group_commit();
	test_refusals();
	test_corrupt();
	test_version();
	test_future();
	test_ids_clock_back();
	test_log_removal();
	test_exclusive();
	test_close_in_flight();
	test_big();
	return tap_done();
}
