/*
 * queue_admin.c: the operations of the control socket and of delivery that
 * run on the event loop thread, each in its own short transaction (retried
 * after a deadlock with the storage thread).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "queue/queue_int.h"
#include "queue/queue_record.h"

#define LIST_BATCH	256	/* records read per transaction by queue_list */

const char *
queue_strstate(enum queue_rcpt_state s)
{
	switch (s) {
	case QUEUE_RCPT_PENDING:
		return "pending";
	case QUEUE_RCPT_DELIVERED:
		return "delivered";
	case QUEUE_RCPT_DEFERRED:
		return "deferred";
	case QUEUE_RCPT_BOUNCED:
		return "bounced";
	}
	return "unknown";
}

/* Run fn in a transaction, again after a deadlock; commit with flags. */
enum queue_status
queue_txn_run(struct queue *q, queue_txn_fn fn, void *arg, uint32_t flags)
{
	DB_TXN	*txn;
	int	 r = 0, i;

	for (i = 0; i < QUEUE_TXN_RETRIES; i++) {
		if ((r = q->env->txn_begin(q->env, NULL, &txn, 0)) != 0)
			break;
		if ((r = fn(q, txn, arg)) == 0) {
			if ((r = txn->commit(txn, flags)) != 0)
				log_warnx("queue: commit: %s", db_strerror(r));
			return queue_store_status(r);
		}
		(void)txn->abort(txn);
		if (!queue_txn_retryable(r))
			break;
	}
	if (r != DB_NOTFOUND && r != QUEUE_CORRUPT)
		log_warnx("queue: spool operation failed: %s", db_strerror(r));
	return queue_store_status(r);
}

void
queue_dbt(DBT *d, const void *p, size_t n)
{
	memset(d, 0, sizeof(*d));
	d->data = (void *)p;
	d->size = n;
}

/* Read and validate the record of id: 0, DB_NOTFOUND, QUEUE_CORRUPT or an error. */
int
queue_msg_get(struct queue *q, DB_TXN *txn, const char *id, uint32_t flags,
    struct queue_msg_info **out)
{
	DBT		 key, data;
	const char	*why = NULL;
	int		 r;

	*out = NULL;
	if (!queue_record_id_valid(id))
		return DB_NOTFOUND;
	queue_dbt(&key, id, strlen(id));
	queue_dbt(&data, NULL, 0);
	data.flags = DB_DBT_MALLOC;
	if ((r = q->msgs->get(q->msgs, txn, &key, &data, flags)) != 0)
		return r;
	r = queue_record_decode(data.data, data.size, out, &why);
	free(data.data);
	if (r == -1) {
		log_warnx("queue: id=%s corrupt envelope record: %s", id, why);
		return QUEUE_CORRUPT;
	}
	strutil_lcpy((*out)->id, id, sizeof((*out)->id));
	return 0;
}

int
queue_msg_put(struct queue *q, DB_TXN *txn, const struct queue_msg_info *m)
{
	DBT		 key, data;
	uint8_t		*rec;
	size_t		 len;
	const char	*why = NULL;
	int		 r;

	if (queue_record_encode(m, &rec, &len, &why) == -1) {
		log_warnx("queue: id=%s cannot rewrite its record: %s", m->id,
		    why);
		return QUEUE_CORRUPT;
	}
	queue_dbt(&key, m->id, strlen(m->id));
	queue_dbt(&data, rec, len);
	r = q->msgs->put(q->msgs, txn, &key, &data, 0);
	free(rec);
	return r;
}

int
queue_sched_put(struct queue *q, DB_TXN *txn, time_t when, const char *id)
{
	DBT	key, data;
	uint8_t	k[QUEUE_SCHEDKEY_MAX];

	queue_dbt(&key, k, queue_record_schedkey(when, id, k));
	queue_dbt(&data, NULL, 0);
	return q->sched->put(q->sched, txn, &key, &data, 0);
}

int
queue_sched_del(struct queue *q, DB_TXN *txn, time_t when, const char *id)
{
	DBT	key;
	uint8_t	k[QUEUE_SCHEDKEY_MAX];
	int	r;

	queue_dbt(&key, k, queue_record_schedkey(when, id, k));
	r = q->sched->del(q->sched, txn, &key, 0);
	return r == DB_NOTFOUND ? 0 : r;
}

/* Without a readable record, find the schedule entries of id the slow way. */
int
queue_sched_del_scan(struct queue *q, DB_TXN *txn, const char *id)
{
	DBC	*c;
	DBT	 key, data;
	size_t	 n = strlen(id);
	int	 r, r2;

	if ((r = q->sched->cursor(q->sched, txn, &c, 0)) != 0)
		return r;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;
	while ((r = c->get(c, &key, &data, DB_NEXT)) == 0)
		if (key.size == 8 + n &&
		    memcmp((uint8_t *)key.data + 8, id, n) == 0 &&
		    (r = c->del(c, 0)) != 0)
			break;
	free(key.data);
	r2 = c->close(c);
	if (r == DB_NOTFOUND)
		r = 0;
	return r != 0 ? r : r2;
}

/*
 * Walk the body chunks of id in order: with out, append them and check the
 * total against size; without, delete them.
 */
int
queue_bodies_walk(struct queue *q, DB_TXN *txn, const char *id, uint64_t size,
    struct evbuffer *out)
{
	DBC		*c;
	DBT		 key, data;
	uint8_t		 k[QUEUE_BODYKEY_MAX], want[QUEUE_BODYKEY_MAX];
	uint8_t		 pfx[QUEUE_BODYKEY_MAX];
	size_t		 plen;
	uint64_t	 total = 0;
	uint32_t	 chunk = 0;
	int		 r, r2;

	/* The prefix is the id and its NUL; chunk numbers follow. */
	plen = queue_record_bodykey(id, 0, k) - 4;
	memcpy(pfx, k, plen);
	if ((r = q->bodies->cursor(q->bodies, txn, &c, 0)) != 0)
		return r;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = k;
	key.size = plen + 4;
	key.ulen = sizeof(k);
	key.flags = DB_DBT_USERMEM;
	data.flags = out != NULL ? DB_DBT_REALLOC : DB_DBT_PARTIAL;
	for (r = c->get(c, &key, &data, DB_SET_RANGE); r == 0;
	    r = c->get(c, &key, &data, DB_NEXT)) {
		if (key.size != plen + 4 || memcmp(k, pfx, plen) != 0)
			break;
		if (out == NULL) {
			if ((r = c->del(c, 0)) != 0)
				break;
			continue;
		}
		(void)queue_record_bodykey(id, chunk, want);
		if (memcmp(k, want, plen + 4) != 0 ||
		    evbuffer_add(out, data.data, data.size) == -1) {
			r = QUEUE_CORRUPT;
			break;
		}
		chunk++;
		total += data.size;
	}
	if (r == DB_NOTFOUND || r == DB_BUFFER_SMALL)
		r = 0;
	if (out != NULL && data.data != NULL)
		free(data.data);
	r2 = c->close(c);
	if (r == 0 && out != NULL && total != size)
		r = QUEUE_CORRUPT;
	if (r == QUEUE_CORRUPT)
		log_warnx("queue: id=%s corrupt body: %llu bytes in %u chunks, "
		    "envelope says %llu", id, (unsigned long long)total, chunk,
		    (unsigned long long)size);
	return r != 0 ? r : r2;
}

struct info_ctx {
	const char		*id;
	struct queue_msg_info	*info;
	struct evbuffer		*body;
	struct queue_cdelta	 delta;		/* delete_fn */
};

static int
info_fn(struct queue *q, DB_TXN *txn, void *arg)
{
	struct info_ctx *ic = arg;

	queue_info_free(ic->info);
	ic->info = NULL;
	return queue_msg_get(q, txn, ic->id, 0, &ic->info);
}

enum queue_status
queue_info(struct queue *q, const char *id, struct queue_msg_info **out)
{
	struct info_ctx		ic = { id, NULL, NULL, { 0, 0, 0, 0 } };
	enum queue_status	s;

	*out = NULL;
	if ((s = queue_txn_run(q, info_fn, &ic, DB_TXN_NOSYNC)) != QUEUE_OK) {
		queue_info_free(ic.info);
		return s;
	}
	*out = ic.info;
	return QUEUE_OK;
}

static int
body_fn(struct queue *q, DB_TXN *txn, void *arg)
{
	struct info_ctx	*ic = arg;
	int		 r;

	(void)evbuffer_drain(ic->body, evbuffer_get_length(ic->body));
	queue_info_free(ic->info);
	ic->info = NULL;
	if ((r = queue_msg_get(q, txn, ic->id, 0, &ic->info)) != 0)
		return r;
	return queue_bodies_walk(q, txn, ic->id, ic->info->size, ic->body);
}

enum queue_status
queue_body(struct queue *q, const char *id, struct evbuffer *out)
{
	struct info_ctx		ic = { id, NULL, NULL, { 0, 0, 0, 0 } };
	enum queue_status	s;

	if ((ic.body = evbuffer_new()) == NULL)
		fatalx("queue_body: evbuffer_new");
	s = queue_txn_run(q, body_fn, &ic, DB_TXN_NOSYNC);
	if (s == QUEUE_OK && evbuffer_add_buffer(out, ic.body) == -1)
		s = QUEUE_ETEMP;
	queue_info_free(ic.info);
	evbuffer_free(ic.body);
	return s;
}

static int
delete_fn(struct queue *q, DB_TXN *txn, void *arg)
{
	struct info_ctx	*ic = arg;
	DBT		 key;
	int		 r;

	queue_info_free(ic->info);
	ic->info = NULL;
	memset(&ic->delta, 0, sizeof(ic->delta));
	r = queue_msg_get(q, txn, ic->id, DB_RMW, &ic->info);
	/* a damaged record was never counted */
	if (r == 0)
		queue_cdelta_add(&ic->delta, ic->info, -1);
	if (r == 0 && !ic->info->held)
		r = queue_sched_del(q, txn, ic->info->next_attempt, ic->id);
	else if (r == QUEUE_CORRUPT)
		r = queue_sched_del_scan(q, txn, ic->id);
	if (r != 0)
		return r;
	queue_dbt(&key, ic->id, strlen(ic->id));
	if ((r = q->msgs->del(q->msgs, txn, &key, 0)) != 0)
		return r;
	return queue_bodies_walk(q, txn, ic->id, 0, NULL);
}

enum queue_status
queue_delete(struct queue *q, const char *id)
{
	struct info_ctx		ic = { id, NULL, NULL, { 0, 0, 0, 0 } };
	enum queue_status	s;

	s = queue_txn_run(q, delete_fn, &ic, DB_TXN_SYNC);
	queue_info_free(ic.info);
	if (s == QUEUE_OK)
		queue_counts_apply(q, &ic.delta);
	if (s == QUEUE_OK)
		log_info("queue: id=%s deleted", id);
	return s;
}

enum sched_op { OP_HOLD, OP_RELEASE, OP_FLUSH };

struct sched_ctx {
	const char		*id;
	enum sched_op		 op;
	time_t			 now;
	int			 changed;
	struct queue_cdelta	 delta;		/* once committed */
};

static int
sched_fn(struct queue *q, DB_TXN *txn, void *arg)
{
	struct sched_ctx	*sc = arg;
	struct queue_msg_info	*m;
	int			 r;

	sc->changed = 0;
	memset(&sc->delta, 0, sizeof(sc->delta));
	if ((r = queue_msg_get(q, txn, sc->id, DB_RMW, &m)) != 0)
		return r;
	/* A held message is never due; flush leaves it held. */
	if ((sc->op == OP_HOLD && m->held) ||
	    (sc->op == OP_RELEASE && !m->held) ||
	    (sc->op == OP_FLUSH && (m->held || m->next_attempt <= sc->now))) {
		queue_info_free(m);
		return 0;
	}
	queue_cdelta_add(&sc->delta, m, -1);
	if (!m->held)
		r = queue_sched_del(q, txn, m->next_attempt, sc->id);
	if (r == 0 && sc->op == OP_HOLD)
		m->held = 1;
	else if (r == 0) {
		m->held = 0;
		m->next_attempt = sc->now;
		r = queue_sched_put(q, txn, m->next_attempt, sc->id);
		queue_ready_lower(q, m->next_attempt, sc->id);
	}
	if (r == 0)
		r = queue_msg_put(q, txn, m);
	queue_cdelta_add(&sc->delta, m, 1);
	queue_info_free(m);
	sc->changed = r == 0;
	return r;
}

static enum queue_status
sched_change(struct queue *q, const char *id, enum sched_op op, uint32_t flags)
{
	struct sched_ctx	sc = { id, op, time(NULL), 0, { 0, 0, 0, 0 } };
	enum queue_status	s;

	s = queue_txn_run(q, sched_fn, &sc, flags);
	if (s == QUEUE_OK)
		queue_counts_apply(q, &sc.delta);
	if (s == QUEUE_OK && op != OP_HOLD)
		queue_ready_kick(q);
	return s;
}

enum queue_status
queue_hold(struct queue *q, const char *id)
{
	return sched_change(q, id, OP_HOLD, DB_TXN_SYNC);
}

enum queue_status
queue_release(struct queue *q, const char *id)
{
	return sched_change(q, id, OP_RELEASE, DB_TXN_SYNC);
}

struct walk_ctx {
	struct queue		 *q;
	int			(*fn)(const struct queue_msg_info *, void *);
	void			 *arg;
	char			  last[QUEUE_ID_MAX];	/* "" at the start */
	char			  batch_last[QUEUE_ID_MAX];
	struct queue_msg_info	 *batch[LIST_BATCH];
	size_t			  n;
	int			  end;
};

static void
walk_clear(struct walk_ctx *wc)
{
	while (wc->n > 0)
		queue_info_free(wc->batch[--wc->n]);
}

/* Keep one record of the walk; a damaged one is logged and skipped. */
static void
walk_keep(struct walk_ctx *wc, const DBT *key, const DBT *data)
{
	struct queue_msg_info	*m;
	const char		*why = NULL;
	char			 id[QUEUE_ID_MAX];

	if (key->size == 0 || key->size >= QUEUE_ID_MAX ||
	    memchr(key->data, '\0', key->size) != NULL) {
		log_warnx("queue: skipping a record with a malformed key");
		return;
	}
	memcpy(id, key->data, key->size);
	id[key->size] = '\0';
	strutil_lcpy(wc->batch_last, id, sizeof(wc->batch_last));
	if (queue_record_decode(data->data, data->size, &m, &why) == -1) {
		log_warnx("queue: id=%s corrupt envelope record: %s", id, why);
		return;
	}
	strutil_lcpy(m->id, id, sizeof(m->id));
	wc->batch[wc->n++] = m;
}

/* Read the next LIST_BATCH records after wc->last. */
static int
walk_fn(struct queue *q, DB_TXN *txn, void *arg)
{
	struct walk_ctx	*wc = arg;
	DBC		*c;
	DBT		 key, data;
	size_t		 seen = 0;
	int		 r, r2;

	walk_clear(wc);
	wc->end = 0;
	strutil_lcpy(wc->batch_last, wc->last, sizeof(wc->batch_last));
	if ((r = q->msgs->cursor(q->msgs, txn, &c, DB_READ_COMMITTED)) != 0)
		return r;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	if (wc->last[0] == '\0')
		r = c->get(c, &key, &data, DB_FIRST);
	else {
		key.data = xstrdup(wc->last);
		key.size = strlen(wc->last);
		r = c->get(c, &key, &data, DB_SET_RANGE);
		if (r == 0 && key.size == strlen(wc->last) &&
		    memcmp(key.data, wc->last, key.size) == 0)
			r = c->get(c, &key, &data, DB_NEXT);
	}
	for (; r == 0; r = c->get(c, &key, &data, DB_NEXT)) {
		walk_keep(wc, &key, &data);
		if (++seen == LIST_BATCH)
			break;
	}
	if (r == DB_NOTFOUND) {
		wc->end = 1;
		r = 0;
	}
	free(key.data);
	free(data.data);
	r2 = c->close(c);
	return r != 0 ? r : r2;
}

enum queue_status
queue_list(struct queue *q, int (*fn)(const struct queue_msg_info *, void *),
    void *arg)
{
	struct walk_ctx		*wc;
	enum queue_status	 s;
	size_t			 i;
	int			 stop = 0;

	wc = xcalloc(1, sizeof(*wc));
	wc->q = q;
	wc->fn = fn;
	wc->arg = arg;
	do {
		if ((s = queue_txn_run(q, walk_fn, wc, DB_TXN_NOSYNC)) != QUEUE_OK)
			break;
		strutil_lcpy(wc->last, wc->batch_last, sizeof(wc->last));
		/* No transaction is open here: fn may change the spool. */
		for (i = 0; i < wc->n && !stop; i++)
			stop = fn(wc->batch[i], arg) != 0;
	} while (!wc->end && !stop);
	walk_clear(wc);
	free(wc);
	return s;
}

struct flush_ctx {
	struct queue		*q;
	enum queue_status	 status;
};

static int
flush_each(const struct queue_msg_info *m, void *arg)
{
	struct flush_ctx	*fc = arg;
	enum queue_status	 s;

	if (m->held)
		return 0;
	s = sched_change(fc->q, m->id, OP_FLUSH, DB_TXN_NOSYNC);
	if (s != QUEUE_OK && s != QUEUE_ENOENT)
		fc->status = s;
	return 0;
}

enum queue_status
queue_flush(struct queue *q, const char *id)
{
	struct flush_ctx	fc = { q, QUEUE_OK };
	enum queue_status	s;
	int			r;

	if (id != NULL)
		return sched_change(q, id, OP_FLUSH, DB_TXN_SYNC);
	if ((s = queue_list(q, flush_each, &fc)) != QUEUE_OK)
		return s;
	/* One flush for all the changes above. */
	if ((r = q->env->log_flush(q->env, NULL)) != 0) {
		log_warnx("queue: log flush: %s", db_strerror(r));
		return queue_store_status(r);
	}
	return fc.status;
}

void
queue_cdelta_add(struct queue_cdelta *d, const struct queue_msg_info *m,
    int sign)
{
	size_t	i;
	int	deferred = 0;

	if (m == NULL)
		return;
	d->messages += sign;
	if (m->held)
		d->held += sign;
	for (i = 0; i < m->nrcpts; i++) {
		if (m->rcpts[i].state == QUEUE_RCPT_PENDING ||
		    m->rcpts[i].state == QUEUE_RCPT_DEFERRED)
			d->recipients_pending += sign;
		if (m->rcpts[i].state == QUEUE_RCPT_DEFERRED)
			deferred = 1;
	}
	if (deferred)
		d->deferred += sign;
}

void
queue_counts_apply(struct queue *q, const struct queue_cdelta *d)
{
	if (pthread_mutex_lock(&q->mtx) != 0)
		fatalx("queue_counts_apply: mutex");
	q->counts.messages += d->messages;
	q->counts.recipients_pending += d->recipients_pending;
	q->counts.held += d->held;
	q->counts.deferred += d->deferred;
	if (pthread_mutex_unlock(&q->mtx) != 0)
		fatalx("queue_counts_apply: mutex");
}

static int
counts_each(const struct queue_msg_info *m, void *arg)
{
	queue_cdelta_add(arg, m, 1);
	return 0;
}

/* One walk, as queue_list() sees the records (damaged ones skipped). */
enum queue_status
queue_counts_init(struct queue *q)
{
	struct queue_cdelta	d;
	enum queue_status	s;

	memset(&d, 0, sizeof(d));
	if ((s = queue_list(q, counts_each, &d)) != QUEUE_OK)
		return s;
	q->counts = d;
	return QUEUE_OK;
}

static uint64_t
count_get(int64_t n)
{
	/* below 0 only for a moment, when two threads apply out of order */
	return n > 0 ? (uint64_t)n : 0;
}

enum queue_status
queue_counts(struct queue *q, struct queue_counts *c)
{
	if (pthread_mutex_lock(&q->mtx) != 0)
		fatalx("queue_counts: mutex");
	c->messages = count_get(q->counts.messages);
	c->recipients_pending = count_get(q->counts.recipients_pending);
	c->held = count_get(q->counts.held);
	c->deferred = count_get(q->counts.deferred);
	if (pthread_mutex_unlock(&q->mtx) != 0)
		fatalx("queue_counts: mutex");
	return QUEUE_OK;
}

struct due_ctx {
	char	*id;
	time_t	*when;
};

static int
due_fn(struct queue *q, DB_TXN *txn, void *arg)
{
	struct due_ctx	*dc = arg;
	DBC		*c;
	DBT		 key, data;
	int		 r, r2;

	if ((r = q->sched->cursor(q->sched, txn, &c, DB_READ_COMMITTED)) != 0)
		return r;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	for (r = c->get(c, &key, &data, DB_FIRST); r == 0;
	    r = c->get(c, &key, &data, DB_NEXT)) {
		if (queue_record_schedkey_parse(key.data, key.size, dc->when,
		    dc->id) == 0)
			break;
		log_warnx("queue: skipping a malformed schedule entry");
	}
	free(key.data);
	free(data.data);
	r2 = c->close(c);
	return r != 0 ? r : r2;
}

enum queue_status
queue_next_due(struct queue *q, time_t now, char id[QUEUE_ID_MAX],
    time_t *when)
{
	struct due_ctx		dc = { id, when };
	enum queue_status	s;

	id[0] = '\0';
	*when = 0;
	s = queue_txn_run(q, due_fn, &dc, DB_TXN_NOSYNC);
	if (s == QUEUE_OK && *when <= now)
		log_debug("queue: id=%s due", id);
	return s;
}
