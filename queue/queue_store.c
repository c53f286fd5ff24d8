/*
 * queue_store.c: the storage thread and group commit.
 *
 * queue_submit() encodes the envelope on the event loop thread, moves the
 * body into a private evbuffer and appends the request to a list. The
 * storage thread takes every pending request and commits one transaction per
 * message without syncing. The flush thread takes every committed request,
 * makes them all durable with a single log flush and hands the results back
 * to the loop through an event it activates; while it waits for the disk,
 * the storage thread commits the next requests. The periodic checkpoint and
 * log removal run in a third thread, so neither the loop nor the commits
 * wait for them (a checkpoint that writes back a full cache takes a quarter
 * of a second); the last checkpoint, at close, runs in the storage thread
 * once it has drained the submissions.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "queue/queue_int.h"
#include "queue/queue_record.h"

#define FLUSH_RETRY_FIRST_MS	10
#define FLUSH_RETRY_MAX_MS	2000
#define FLUSH_PATIENCE_MS	60000u	/* well below the SMTP DATA timeout */
/*
 * Delivery results are flushed at once, but not sooner than this after the
 * previous flush: at 3,000 deliveries a second a flush per result batch of
 * two or three cost a sixth of the daemon's CPU (fdatasync), and with this
 * one flush covers 30. A result is durable at most this long plus one
 * flush after it was recorded (a crash before that is a redelivery).
 */
#define RESULT_FLUSH_MS		10u

enum queue_status
queue_store_status(int dberr)
{
	if (dberr == 0)
		return QUEUE_OK;
	if (dberr == DB_NOTFOUND)
		return QUEUE_ENOENT;
	if (dberr == ENOSPC || dberr == EDQUOT)
		return QUEUE_ENOSPC;
	return QUEUE_ETEMP;
}

int
queue_txn_retryable(int dberr)
{
	return dberr == DB_LOCK_DEADLOCK || dberr == DB_LOCK_NOTGRANTED;
}

static void
req_free(struct queue_req *req)
{
	if (req->body != NULL)
		evbuffer_free(req->body);
	free(req->rec);
	free(req);
}

/* Put the body in QUEUE_CHUNK_SIZE pieces without consuming the evbuffer. */
static int
store_body(struct queue *q, DB_TXN *txn, struct queue_req *req)
{
	struct evbuffer_ptr	pos;
	DBT			key, data;
	uint8_t			kbuf[QUEUE_BODYKEY_MAX];
	size_t			off, n;
	uint32_t		chunk;
	int			r;

	if (evbuffer_ptr_set(req->body, &pos, 0, EVBUFFER_PTR_SET) == -1)
		return EINVAL;
	for (off = 0, chunk = 0; off < req->bodylen; off += n, chunk++) {
		n = req->bodylen - off;
		if (n > QUEUE_CHUNK_SIZE)
			n = QUEUE_CHUNK_SIZE;
		if (evbuffer_copyout_from(req->body, &pos, q->chunkbuf, n) !=
		    (ev_ssize_t)n ||
		    evbuffer_ptr_set(req->body, &pos, n, EVBUFFER_PTR_ADD) == -1)
			return EINVAL;
		memset(&key, 0, sizeof(key));
		memset(&data, 0, sizeof(data));
		key.data = kbuf;
		key.size = queue_record_bodykey(req->id, chunk, kbuf);
		data.data = q->chunkbuf;
		data.size = n;
		if ((r = q->bodies->put(q->bodies, txn, &key, &data, 0)) != 0)
			return r;
	}
	return 0;
}

static int
store_txn(struct queue *q, struct queue_req *req)
{
	DB_TXN	*txn;
	DBT	 key, data;
	uint8_t	 skey[QUEUE_SCHEDKEY_MAX];
	int	 r;

	if ((r = q->env->txn_begin(q->env, NULL, &txn, 0)) != 0)
		return r;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = req->id;
	key.size = strlen(req->id);
	data.data = req->rec;
	data.size = req->reclen;
	if ((r = q->msgs->put(q->msgs, txn, &key, &data, DB_NOOVERWRITE)) != 0)
		goto out;
	if ((r = store_body(q, txn, req)) != 0)
		goto out;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = skey;
	key.size = queue_record_schedkey(req->when, req->id, skey);
	if ((r = q->sched->put(q->sched, txn, &key, &data, 0)) != 0)
		goto out;
	return txn->commit(txn, DB_TXN_NOSYNC);
out:
	(void)txn->abort(txn);
	return r;
}

static enum queue_status
store_one(struct queue *q, struct queue_req *req, uint64_t *retries)
{
	int	r = 0, i;

	for (i = 0; i < QUEUE_TXN_RETRIES; i++) {
		if ((r = store_txn(q, req)) == 0)
			return QUEUE_OK;
		if (!queue_txn_retryable(r))
			break;
		(*retries)++;
	}
	log_warnx("queue: id=%s not stored: %s", req->id,
	    r == DB_KEYEXIST ? "queue id already in use" : db_strerror(r));
	return queue_store_status(r);
}

/*
 * Delete what store_txn() wrote; the keys follow from the request. *gone
 * gets what the record added to the counts (the loop may have changed it).
 */
static int
undo_txn(struct queue *q, struct queue_req *req, struct queue_cdelta *gone)
{
	DB_TXN			*txn;
	DBT			 key;
	struct queue_msg_info	*m = NULL;
	uint8_t			 k[QUEUE_SCHEDKEY_MAX + QUEUE_BODYKEY_MAX];
	uint32_t		 chunk, nchunks;
	int			 r;

	memset(gone, 0, sizeof(*gone));
	nchunks = (req->bodylen + QUEUE_CHUNK_SIZE - 1) / QUEUE_CHUNK_SIZE;
	if ((r = q->env->txn_begin(q->env, NULL, &txn, 0)) != 0)
		return r;
	r = queue_msg_get(q, txn, req->id, DB_RMW, &m);
	queue_cdelta_add(gone, m, 1);
	queue_info_free(m);
	if (r != 0 && r != QUEUE_CORRUPT)
		goto out;
	memset(&key, 0, sizeof(key));
	key.data = req->id;
	key.size = strlen(req->id);
	if ((r = q->msgs->del(q->msgs, txn, &key, 0)) != 0)
		goto out;
	key.data = k;
	key.size = queue_record_schedkey(req->when, req->id, k);
	if ((r = q->sched->del(q->sched, txn, &key, 0)) != 0)
		goto out;
	for (chunk = 0; chunk < nchunks; chunk++) {
		key.size = queue_record_bodykey(req->id, chunk, k);
		if ((r = q->bodies->del(q->bodies, txn, &key, 0)) != 0)
			goto out;
	}
	return txn->commit(txn, DB_TXN_NOSYNC);
out:
	(void)txn->abort(txn);
	return r;
}

/*
 * The log flush failed for good: the batch's transactions are committed but
 * not durable, and their senders will be told to try again. Take the
 * messages out again so that a later flush does not make them durable behind
 * the senders' backs (which would deliver them twice). Returns 0 when done.
 */
static int
store_undo(struct queue *q, struct queue_req *req, uint64_t *retries)
{
	struct queue_cdelta	gone;
	int			r = 0, i;

	for (i = 0; i < QUEUE_TXN_RETRIES; i++) {
		if ((r = undo_txn(q, req, &gone)) == 0) {
			gone.messages = -gone.messages;
			gone.recipients_pending = -gone.recipients_pending;
			gone.held = -gone.held;
			gone.deferred = -gone.deferred;
			queue_counts_apply(q, &gone);
			return 0;
		}
		if (!queue_txn_retryable(r))
			break;
		(*retries)++;
	}
	log_debug("queue: id=%s not withdrawn: %s", req->id, db_strerror(r));
	return -1;
}

/*
 * Make the log durable. A failed flush (disk full, I/O error) keeps the
 * records in the log buffer, so try again for a while before giving up:
 * the transactions are committed, and an answer of "try again" for a
 * message that later becomes durable means a duplicate.
 */
static int
store_flush(struct queue *q)
{
	struct timespec	ts;
	uint64_t	start = strutil_now_ms(), waited = 0;
	uint64_t	wait = FLUSH_RETRY_FIRST_MS;
	int		r, stop = 0;

	while ((r = q->env->log_flush(q->env, NULL)) != 0 && !stop &&
	    waited < FLUSH_PATIENCE_MS) {
		if (waited == 0)
			log_warnx("queue: log flush failed, retrying for up to "
			    "%u s: %s", FLUSH_PATIENCE_MS / 1000,
			    db_strerror(r));
		if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
			fatal("store_flush: clock_gettime");
		ts.tv_sec += wait / 1000;
		ts.tv_nsec += (long)(wait % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_mutex_lock(&q->mtx) != 0)
			fatalx("store_flush: mutex");
		/* Wakes early on close or new commits; both are fine. */
		if (!q->stop)
			(void)pthread_cond_timedwait(&q->fcond, &q->mtx, &ts);
		stop = q->stop;
		if (pthread_mutex_unlock(&q->mtx) != 0)
			fatalx("store_flush: mutex");
		waited = strutil_now_ms() - start;
		if (wait < FLUSH_RETRY_MAX_MS)
			wait *= 2;
	}
	if (r == 0 && waited > 0)
		log_info("queue: log flush succeeded again");
	return r;
}

/*
 * Storage thread: commit each request and pass it to the flush thread at
 * once. A flush that starts now covers it, and what commits during that
 * flush is the next batch. (Passing the whole batch on only after its last
 * commit made the first message of a batch of n wait for n - 1 commits
 * before its flush could even begin.)
 */
static void
store_commit(struct queue *q, struct queue_reqs *batch)
{
	struct queue_req	*req;
	uint64_t		 retries;

	while ((req = TAILQ_FIRST(batch)) != NULL) {
		TAILQ_REMOVE(batch, req, entry);
		retries = 0;
		if (req->status == QUEUE_OK)
			req->status = store_one(q, req, &retries);
		evbuffer_free(req->body);
		req->body = NULL;
		if (pthread_mutex_lock(&q->mtx) != 0)
			fatalx("store_commit: mutex");
		q->stats.retries += retries;
		/* committed: counted now, taken off again if the flush fails */
		if (req->status == QUEUE_OK) {
			q->counts.messages += req->counts.messages;
			q->counts.recipients_pending +=
			    req->counts.recipients_pending;
			q->counts.held += req->counts.held;
			q->counts.deferred += req->counts.deferred;
		}
		q->unflushed++;
		TAILQ_INSERT_TAIL(&q->committed, req, entry);
		/* No system call unless the flush thread waits. */
		if (pthread_cond_signal(&q->fcond) != 0 ||
		    pthread_mutex_unlock(&q->mtx) != 0)
			fatalx("store_commit: mutex");
	}
	if (pthread_mutex_lock(&q->mtx) != 0)
		fatalx("store_commit: mutex");
	/* With a batch limit, no committing ahead of the flush either. */
	while (q->batch_max != 0 && q->unflushed > 0)
		if (pthread_cond_wait(&q->cond, &q->mtx) != 0)
			fatalx("store_commit: cond_wait");
	if (pthread_mutex_unlock(&q->mtx) != 0)
		fatalx("store_commit: mutex");
}

/* Flush thread: one log flush makes every commit in batch durable. */
static void
store_finish(struct queue *q, struct queue_reqs *batch)
{
	struct queue_req	*req;
	uint64_t		 n = 0, ok = 0, failed = 0, retries = 0;
	uint64_t		 stuck = 0;
	int			 r;

	TAILQ_FOREACH(req, batch, entry) {
		n++;
		if (req->status == QUEUE_OK)
			ok++;
	}
	if (ok > 0 && (r = store_flush(q)) != 0) {
		TAILQ_FOREACH(req, batch, entry)
			if (req->status == QUEUE_OK) {
				if (store_undo(q, req, &retries) == -1)
					stuck++;
				req->status = queue_store_status(r);
			}
		log_warnx("queue: log flush failed, %llu messages not "
		    "acknowledged (%llu of them could not be withdrawn and "
		    "may be delivered later): %s", (unsigned long long)ok,
		    (unsigned long long)stuck, db_strerror(r));
		ok = 0;
	}
	failed = n - ok;
	if (pthread_mutex_lock(&q->mtx) != 0)
		fatalx("store_finish: mutex");
	q->stats.committed += ok;
	q->stats.failed += failed;
	q->stats.retries += retries;
	if (ok > 0)
		q->stats.flushes++;
	if (ok > q->stats.max_batch)
		q->stats.max_batch = ok;
	q->unflushed -= n;
	TAILQ_CONCAT(&q->done, batch, entry);
	if (pthread_cond_signal(&q->cond) != 0 ||
	    pthread_mutex_unlock(&q->mtx) != 0)
		fatalx("store_finish: mutex");
	event_active(q->ev_done, EV_READ, 0);
}

static void
store_checkpoint(struct queue *q)
{
	uint64_t	start = strutil_now_ms();
	int		r;

	if ((r = q->env->txn_checkpoint(q->env, 0, 0, 0)) != 0) {
		log_warnx("queue: checkpoint: %s", db_strerror(r));
		return;
	}
	/* Log files no longer needed for recovery go. */
	if ((r = q->env->log_archive(q->env, NULL, DB_ARCH_REMOVE)) != 0)
		log_warnx("queue: removing old log files: %s", db_strerror(r));
	log_debug("queue: checkpoint took %llu ms",
	    (unsigned long long)(strutil_now_ms() - start));
	if (pthread_mutex_lock(&q->mtx) != 0)
		fatalx("store_checkpoint: mutex");
	q->stats.checkpoints++;
	if (pthread_mutex_unlock(&q->mtx) != 0)
		fatalx("store_checkpoint: mutex");
}

/* Move up to batch_max pending requests (all when 0) into batch. */
static void
store_take(struct queue *q, struct queue_reqs *batch)
{
	struct queue_req	*req;
	size_t			 n = 0;

	if (q->batch_max == 0) {
		TAILQ_CONCAT(batch, &q->pending, entry);
		return;
	}
	while (n < q->batch_max && (req = TAILQ_FIRST(&q->pending)) != NULL) {
		TAILQ_REMOVE(&q->pending, req, entry);
		TAILQ_INSERT_TAIL(batch, req, entry);
		n++;
	}
}

static void *
store_main(void *arg)
{
	struct queue		*q = arg;
	struct queue_reqs	 batch;
	int			 stop;

	for (;;) {
		TAILQ_INIT(&batch);
		if (pthread_mutex_lock(&q->mtx) != 0)
			fatalx("store_main: mutex");
		while (TAILQ_EMPTY(&q->pending) && !q->stop)
			if (pthread_cond_wait(&q->cond, &q->mtx) != 0)
				fatalx("store_main: cond_wait");
		store_take(q, &batch);
		stop = q->stop && TAILQ_EMPTY(&q->pending);
		if (pthread_mutex_unlock(&q->mtx) != 0)
			fatalx("store_main: mutex");
		if (!TAILQ_EMPTY(&batch))
			store_commit(q, &batch);
		if (stop) {
			store_checkpoint(q);	/* the last one, at close */
			break;
		}
	}
	if (pthread_mutex_lock(&q->mtx) != 0)
		fatalx("store_main: mutex");
	q->commit_stopped = 1;
	if (pthread_cond_signal(&q->fcond) != 0 ||
	    pthread_mutex_unlock(&q->mtx) != 0)
		fatalx("store_main: mutex");
	return NULL;
}

/* Checkpoint thread: a checkpoint whenever the loop's timer asks. */
static void *
ckpt_main(void *arg)
{
	struct queue	*q = arg;
	int		 ckpt;

	for (;;) {
		if (pthread_mutex_lock(&q->mtx) != 0)
			fatalx("ckpt_main: mutex");
		while (!q->want_ckpt && !q->stop)
			if (pthread_cond_wait(&q->ccond, &q->mtx) != 0)
				fatalx("ckpt_main: cond_wait");
		ckpt = q->want_ckpt && !q->stop;
		q->want_ckpt = 0;
		if (pthread_mutex_unlock(&q->mtx) != 0)
			fatalx("ckpt_main: mutex");
		if (!ckpt)
			break;	/* the storage thread makes the last one */
		store_checkpoint(q);
	}
	return NULL;
}

/* Flush thread: make delivery results committed without sync durable. */
static void
flush_results(struct queue *q)
{
	int r;

	if ((r = q->env->log_flush(q->env, NULL)) != 0) {
		log_warnx("queue: log flush of delivery results: %s (the next "
		    "flush or checkpoint retries)", db_strerror(r));
		return;
	}
	if (pthread_mutex_lock(&q->mtx) != 0)
		fatalx("flush_results: mutex");
	q->stats.result_flushes++;
	if (pthread_mutex_unlock(&q->mtx) != 0)
		fatalx("flush_results: mutex");
}

/*
 * Flush thread, with the mutex held: wait for committed requests, the end,
 * or delivery results to flush once RESULT_FLUSH_MS have passed since the
 * last flush began (at once on close).
 */
static void
flush_wait(struct queue *q, uint64_t last)
{
	struct timespec	ts;
	uint64_t	now, left;

	while (TAILQ_EMPTY(&q->committed) && !q->commit_stopped) {
		if (!q->want_flush) {
			if (pthread_cond_wait(&q->fcond, &q->mtx) != 0)
				fatalx("flush_wait: cond_wait");
			continue;
		}
		now = strutil_now_ms();
		if (q->stop || now - last >= RESULT_FLUSH_MS)
			return;
		left = RESULT_FLUSH_MS - (now - last);
		if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
			fatal("flush_wait: clock_gettime");
		ts.tv_nsec += (long)left * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		/* Early wake-ups (new commits, close) are looked at above. */
		(void)pthread_cond_timedwait(&q->fcond, &q->mtx, &ts);
	}
}

/*
 * The flush thread: while it waits for the disk, the storage thread goes on
 * committing the next requests, which the following flush covers.
 */
static void *
flush_main(void *arg)
{
	struct queue		*q = arg;
	struct queue_reqs	 batch;
	uint64_t		 last = 0;
	int			 stop, want;

	for (;;) {
		TAILQ_INIT(&batch);
		if (pthread_mutex_lock(&q->mtx) != 0)
			fatalx("flush_main: mutex");
		flush_wait(q, last);
		TAILQ_CONCAT(&batch, &q->committed, entry);
		want = q->want_flush;
		q->want_flush = 0;
		stop = q->commit_stopped && TAILQ_EMPTY(&batch);
		if (pthread_mutex_unlock(&q->mtx) != 0)
			fatalx("flush_main: mutex");
		if (!TAILQ_EMPTY(&batch) || want)
			last = strutil_now_ms();
		if (!TAILQ_EMPTY(&batch))
			store_finish(q, &batch);	/* its flush covers want */
		else if (want)
			flush_results(q);
		if (stop)
			break;
	}
	return NULL;
}

/* Loop thread: run the callbacks of every finished request. */
static void
store_on_done(evutil_socket_t fd, short ev, void *arg)
{
	struct queue		*q = arg;
	struct queue_reqs	 done;
	struct queue_req	*req;
	int			 kick = 0;

	(void)fd;
	(void)ev;
	TAILQ_INIT(&done);
	if (pthread_mutex_lock(&q->mtx) != 0)
		fatalx("store_on_done: mutex");
	TAILQ_CONCAT(&done, &q->done, entry);
	if (pthread_mutex_unlock(&q->mtx) != 0)
		fatalx("store_on_done: mutex");
	while ((req = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, req, entry);
		if (req->status == QUEUE_OK) {
			queue_ready_lower(q, req->when, req->id);
			kick = 1;
		}
		req->cb(req->status, req->arg);
		req_free(req);
	}
	/* New messages are due at once. */
	if (kick)
		queue_ready_kick(q);
}

int
queue_store_start(struct queue *q, char *err, size_t errlen)
{
	int r;

	q->chunkbuf = xmalloc(QUEUE_CHUNK_SIZE);
	q->ev_done = event_new(q->base, -1, 0, store_on_done, q);
	if (q->ev_done == NULL) {
		snprintf(err, errlen, "storage thread: event_new failed");
		return -1;
	}
	if ((r = pthread_create(&q->flusher, NULL, flush_main, q)) != 0) {
		snprintf(err, errlen, "flush thread: %s", strerror(r));
		return -1;
	}
	q->flusher_started = 1;
	if ((r = pthread_create(&q->thread, NULL, store_main, q)) != 0) {
		snprintf(err, errlen, "storage thread: %s", strerror(r));
		return -1;
	}
	q->thread_started = 1;
	if ((r = pthread_create(&q->ckpter, NULL, ckpt_main, q)) != 0) {
		snprintf(err, errlen, "checkpoint thread: %s", strerror(r));
		return -1;
	}
	q->ckpter_started = 1;
	return 0;
}

void
queue_store_stop(struct queue *q)
{
	int r;

	if (pthread_mutex_lock(&q->mtx) != 0)
		fatalx("queue_store_stop: mutex");
	q->stop = 1;
	if (!q->thread_started)
		q->commit_stopped = 1;
	if (pthread_cond_signal(&q->cond) != 0 ||
	    pthread_cond_signal(&q->fcond) != 0 ||
	    pthread_cond_signal(&q->ccond) != 0 ||
	    pthread_mutex_unlock(&q->mtx) != 0)
		fatalx("queue_store_stop: mutex");
	/* A checkpoint under way ends first: the last one follows the drain. */
	if (q->ckpter_started &&
	    (r = pthread_join(q->ckpter, NULL)) != 0)
		fatalx("queue_store_stop: pthread_join: %s", strerror(r));
	/* The storage thread drains the submissions, then the flusher. */
	if (q->thread_started &&
	    (r = pthread_join(q->thread, NULL)) != 0)
		fatalx("queue_store_stop: pthread_join: %s", strerror(r));
	if (q->flusher_started &&
	    (r = pthread_join(q->flusher, NULL)) != 0)
		fatalx("queue_store_stop: pthread_join: %s", strerror(r));
	q->thread_started = q->flusher_started = q->ckpter_started = 0;
	/* Every request is finished now: tell their owners. */
	store_on_done(-1, 0, q);
}

void
queue_store_flush_soon(struct queue *q)
{
	if (pthread_mutex_lock(&q->mtx) != 0)
		fatalx("queue_store_flush_soon: mutex");
	/* Asked already: the flush thread knows (no wake-up per result). */
	if (!q->want_flush) {
		q->want_flush = 1;
		if (pthread_cond_signal(&q->fcond) != 0)
			fatalx("queue_store_flush_soon: cond_signal");
	}
	if (pthread_mutex_unlock(&q->mtx) != 0)
		fatalx("queue_store_flush_soon: mutex");
}

void
queue_store_checkpoint(struct queue *q)
{
	if (pthread_mutex_lock(&q->mtx) != 0)
		fatalx("queue_store_checkpoint: mutex");
	q->want_ckpt = 1;
	if (pthread_cond_signal(&q->ccond) != 0 ||
	    pthread_mutex_unlock(&q->mtx) != 0)
		fatalx("queue_store_checkpoint: mutex");
}

/* Copy the envelope into a record: every recipient pending, due now. */
static void
submit_encode(struct queue_req *req, const struct queue_envelope *e)
{
	struct queue_msg_info	 m;
	const char		*why = NULL;
	size_t			 i;

	memset(&m, 0, sizeof(m));
	m.sender = (char *)(e->sender != NULL ? e->sender : "");
	m.helo = (char *)(e->helo != NULL ? e->helo : "");
	m.client_addr = (char *)(e->client_addr != NULL ? e->client_addr : "");
	m.auth_user = (char *)(e->auth_user != NULL ? e->auth_user : "");
	m.arrival = e->arrival;
	m.size = req->bodylen;
	m.flags = e->flags;
	m.next_attempt = req->when;
	m.nrcpts = e->nrcpts;
	m.rcpts = xcalloc(e->nrcpts ? e->nrcpts : 1, sizeof(*m.rcpts));
	for (i = 0; i < e->nrcpts; i++) {
		m.rcpts[i].addr = (char *)e->rcpts[i];
		m.rcpts[i].state = QUEUE_RCPT_PENDING;
		m.rcpts[i].last_reason = (char *)"";
	}
	if (queue_record_encode(&m, &req->rec, &req->reclen, &why) == -1) {
		log_warnx("queue: id=%s not stored: %s", req->id, why);
		req->status = QUEUE_ETEMP;
	} else
		queue_cdelta_add(&req->counts, &m, 1);
	free(m.rcpts);
}

void
queue_submit(struct queue *q, const struct queue_envelope *e,
    struct evbuffer *body, queue_commit_cb cb, void *arg)
{
	struct queue_req *req;

	req = xcalloc(1, sizeof(*req));
	req->cb = cb;
	req->arg = arg;
	req->status = QUEUE_OK;
	req->when = time(NULL);
	if ((req->body = evbuffer_new()) == NULL)
		fatalx("queue_submit: evbuffer_new");
	if (evbuffer_add_buffer(req->body, body) == -1) {
		log_warnx("queue: moving a message body failed");
		req->status = QUEUE_ETEMP;
	}
	req->bodylen = evbuffer_get_length(req->body);
	if (e->id == NULL || !queue_record_id_valid(e->id)) {
		log_warnx("queue: refusing a message with an invalid queue id");
		req->status = QUEUE_ETEMP;
	} else
		strutil_lcpy(req->id, e->id, sizeof(req->id));
	if (req->status == QUEUE_OK)
		submit_encode(req, e);
	if (pthread_mutex_lock(&q->mtx) != 0)
		fatalx("queue_submit: mutex");
	q->stats.submitted++;
	/* Failed requests pass through the thread too: cb never runs inline. */
	TAILQ_INSERT_TAIL(&q->pending, req, entry);
	if (pthread_cond_signal(&q->cond) != 0 ||
	    pthread_mutex_unlock(&q->mtx) != 0)
		fatalx("queue_submit: mutex");
}

void
queue_stats(struct queue *q, struct queue_stats *st)
{
	if (pthread_mutex_lock(&q->mtx) != 0)
		fatalx("queue_stats: mutex");
	*st = q->stats;
	if (pthread_mutex_unlock(&q->mtx) != 0)
		fatalx("queue_stats: mutex");
}

void
queue_set_batch_max(struct queue *q, size_t n)
{
	if (pthread_mutex_lock(&q->mtx) != 0)
		fatalx("queue_set_batch_max: mutex");
	q->batch_max = n;
	if (pthread_mutex_unlock(&q->mtx) != 0)
		fatalx("queue_set_batch_max: mutex");
}
