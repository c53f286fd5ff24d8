/*
 * queue_attempt.c: the results of a delivery attempt, in one transaction on
 * the loop thread: recipient states, expiry, the DSN to the sender, then
 * removal or the next attempt.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "queue/dsn.h"
#include "queue/queue_int.h"
#include "queue/queue_record.h"
#include "queue/queue_retry.h"

#define R_TOUCHED	0x01	/* a result of this attempt applied */
#define R_BOUNCED	0x02	/* bounced by this attempt */

static const char expired_text[] = "5.4.7 delivery time expired";

struct attempt_ctx {
	const char			*id;
	const struct queue_rcpt_result	*res;
	size_t				 n;
	time_t				 now;
	uint64_t			 rnd;
	char				 dsn_id[QUEUE_ID_MAX];
	/* what the last run of attempt_fn did */
	struct queue_msg_info		*m;
	const char			**remote;	/* per recipient */
	uint8_t				*marks;		/* per recipient, R_* */
	int				 missing;
	int				 dsn;
	int				 removed;
	size_t				 expired;
	struct queue_cdelta		 delta;	/* to the counts, once committed */
};

static void
attempt_reset(struct attempt_ctx *ac)
{
	queue_info_free(ac->m);
	free(ac->remote);
	free(ac->marks);
	ac->m = NULL;
	ac->remote = NULL;
	ac->marks = NULL;
	ac->missing = ac->dsn = ac->removed = 0;
	ac->expired = 0;
	memset(&ac->delta, 0, sizeof(ac->delta));
}

/* A reason fit for the record: no control characters, bounded. */
static char *
reason_copy(const char *s)
{
	char	*out;
	size_t	 i;

	out = xstrndup(s != NULL ? s : "", QUEUE_REASON_MAX);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
	return out;
}

static int
rcpt_open(const struct queue_rcpt_info *rc)
{
	return rc->state == QUEUE_RCPT_PENDING ||
	    rc->state == QUEUE_RCPT_DEFERRED;
}

static void
apply_results(struct attempt_ctx *ac)
{
	const struct queue_rcpt_result	*r;
	struct queue_rcpt_info		*rc;
	size_t				 i;

	for (i = 0; i < ac->n; i++) {
		r = &ac->res[i];
		if (r->rcpt >= ac->m->nrcpts || (r->state !=
		    QUEUE_RCPT_DELIVERED && r->state != QUEUE_RCPT_DEFERRED &&
		    r->state != QUEUE_RCPT_BOUNCED)) {
			log_warnx("queue: id=%s ignoring a result for recipient "
			    "%zu with state %d", ac->id, r->rcpt, (int)r->state);
			continue;
		}
		rc = &ac->m->rcpts[r->rcpt];
		if (!rcpt_open(rc)) {
			log_warnx("queue: id=%s to=<%s> ignoring a result for a "
			    "recipient already %s", ac->id, rc->addr,
			    queue_strstate(rc->state));
			continue;
		}
		rc->state = r->state;
		if (rc->attempts < UINT32_MAX)
			rc->attempts++;
		free(rc->last_reason);
		rc->last_reason = reason_copy(r->reason);
		ac->remote[r->rcpt] = r->remote_mta;
		ac->marks[r->rcpt] |= R_TOUCHED;
		if (r->state == QUEUE_RCPT_BOUNCED)
			ac->marks[r->rcpt] |= R_BOUNCED;
	}
}

/* Ours: lifetime exceeded bounces 5.4.7 with the last reason. */
static void
apply_expiry(struct queue *q, struct attempt_ctx *ac)
{
	struct queue_rcpt_info	*rc;
	char			*why;
	size_t			 i;

	if (!queue_retry_expired(ac->m->arrival, ac->now, q->lifetime))
		return;
	for (i = 0; i < ac->m->nrcpts; i++) {
		rc = &ac->m->rcpts[i];
		if (!rcpt_open(rc))
			continue;
		if (rc->last_reason[0] != '\0')
			xasprintf(&why, "%s: %s", expired_text,
			    rc->last_reason);
		else
			why = xstrdup(expired_text);
		free(rc->last_reason);
		rc->last_reason = reason_copy(why);
		free(why);
		rc->state = QUEUE_RCPT_BOUNCED;
		ac->marks[i] |= R_BOUNCED;
		ac->expired++;
	}
}

static int
has_8bit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] > 0x7f)
			return 1;
	return 0;
}

/* The body of a new message, in chunks as queue_store.c writes them. */
static int
body_put(struct queue *q, DB_TXN *txn, const char *id, const char *p,
    size_t len)
{
	DBT		key, data;
	uint8_t		k[QUEUE_BODYKEY_MAX];
	size_t		off, n;
	uint32_t	chunk;
	int		r;

	for (off = 0, chunk = 0; off < len; off += n, chunk++) {
		n = len - off < QUEUE_CHUNK_SIZE ? len - off : QUEUE_CHUNK_SIZE;
		queue_dbt(&key, k, queue_record_bodykey(id, chunk, k));
		queue_dbt(&data, p + off, n);
		if ((r = q->bodies->put(q->bodies, txn, &key, &data, 0)) != 0)
			return r;
	}
	return 0;
}

/* Store the DSN text as a message from <> to the sender, due now. */
static int
dsn_store(struct queue *q, DB_TXN *txn, struct attempt_ctx *ac,
    const char *text, size_t len)
{
	struct queue_msg_info	d;
	struct queue_rcpt_info	rc;
	uint8_t			*rec;
	size_t			 reclen;
	const char		*why = NULL;
	DBT			 key, data;
	int			 r;

	memset(&d, 0, sizeof(d));
	memset(&rc, 0, sizeof(rc));
	rc.addr = ac->m->sender;
	rc.state = QUEUE_RCPT_PENDING;
	rc.last_reason = (char *)"";
	d.sender = (char *)"";
	d.helo = q->hostname;
	d.client_addr = (char *)"";
	d.auth_user = (char *)"";
	d.arrival = ac->now;
	d.size = len;
	d.next_attempt = ac->now;
	if (has_8bit(text, len))
		d.flags |= QUEUE_F_8BITMIME;
	if (has_8bit(ac->m->sender, strlen(ac->m->sender)))
		d.flags |= QUEUE_F_SMTPUTF8;
	d.rcpts = &rc;
	d.nrcpts = 1;
	if (queue_record_encode(&d, &rec, &reclen, &why) == -1) {
		log_warnx("queue: id=%s no DSN: %s", ac->id, why);
		return QUEUE_CORRUPT;
	}
	queue_dbt(&key, ac->dsn_id, strlen(ac->dsn_id));
	queue_dbt(&data, rec, reclen);
	r = q->msgs->put(q->msgs, txn, &key, &data, DB_NOOVERWRITE);
	free(rec);
	if (r == 0)
		r = body_put(q, txn, ac->dsn_id, text, len);
	if (r == 0)
		r = queue_sched_put(q, txn, ac->now, ac->dsn_id);
	if (r == 0)
		queue_cdelta_add(&ac->delta, &d, 1);
	queue_ready_lower(q, ac->now, ac->dsn_id);
	return r;
}

/* H11: one DSN for the recipients bounced now; none to the null sender. */
static int
dsn_queue(struct queue *q, DB_TXN *txn, struct attempt_ctx *ac)
{
	struct dsn_msg	 dm;
	struct dsn_rcpt	*dr;
	DBT		 key, data;
	uint8_t		 k[QUEUE_BODYKEY_MAX];
	char		*text = NULL;
	size_t		 i, n = 0, len = 0;
	int		 r;

	if (ac->m->sender[0] == '\0')
		return 0;
	dr = xcalloc(ac->m->nrcpts, sizeof(*dr));
	for (i = 0; i < ac->m->nrcpts; i++) {
		if (!(ac->marks[i] & R_BOUNCED))
			continue;
		dr[n].addr = ac->m->rcpts[i].addr;
		dr[n].reason = ac->m->rcpts[i].last_reason;
		dr[n].remote_mta = ac->remote[i];
		dr[n].last_attempt = ac->now;
		n++;
	}
	if (n == 0) {
		/* nothing bounced: no need to read the message's header section */
		free(dr);
		return 0;
	}
	/* The first chunk holds the header section, or all of it we show. */
	queue_dbt(&key, k, queue_record_bodykey(ac->id, 0, k));
	queue_dbt(&data, NULL, 0);
	data.flags = DB_DBT_MALLOC;
	r = q->bodies->get(q->bodies, txn, &key, &data, 0);
	if (r == 0 || r == DB_NOTFOUND) {
		memset(&dm, 0, sizeof(dm));
		dm.hostname = q->hostname;
		dm.queue_id = ac->id;
		dm.dsn_id = ac->dsn_id;
		dm.sender = ac->m->sender;
		dm.arrival = ac->m->arrival;
		dm.now = ac->now;
		dm.headers = r == 0 ? data.data : NULL;
		dm.headers_len = r == 0 ? data.size : 0;
		dm.rcpts = dr;
		dm.nrcpts = n;
		r = 0;
		if (n > 0 && dsn_build(&dm, &text, &len) == 0) {
			r = dsn_store(q, txn, ac, text, len);
			ac->dsn = r == 0;
		}
	}
	free(data.data);
	free(text);
	free(dr);
	return r;
}

/* No recipient left: remove; otherwise schedule the next attempt. */
static int
finish(struct queue *q, DB_TXN *txn, struct attempt_ctx *ac)
{
	struct queue_msg_info	*m = ac->m;
	DBT			 key;
	uint32_t		 most = 0;
	size_t			 i, open = 0;
	time_t			 next;
	int			 r = 0;

	for (i = 0; i < m->nrcpts; i++)
		if (rcpt_open(&m->rcpts[i])) {
			open++;
			if (m->rcpts[i].attempts > most)
				most = m->rcpts[i].attempts;
		}
	if (open == 0) {
		if (!m->held)
			r = queue_sched_del(q, txn, m->next_attempt, ac->id);
		queue_dbt(&key, ac->id, strlen(ac->id));
		if (r == 0)
			r = q->msgs->del(q->msgs, txn, &key, 0);
		if (r == 0)
			r = queue_bodies_walk(q, txn, ac->id, 0, NULL);
		ac->removed = r == 0;
		return r;
	}
	next = queue_retry_next(ac->now, queue_retry_interval(q->retry,
	    q->nretry, most), QUEUE_RETRY_JITTER_PCT, ac->rnd, m->arrival,
	    q->lifetime);
	if (!m->held && (r = queue_sched_del(q, txn, m->next_attempt,
	    ac->id)) == 0) {
		r = queue_sched_put(q, txn, next, ac->id);
		queue_ready_lower(q, next, ac->id);
	}
	m->next_attempt = next;
	if (r == 0 && (r = queue_msg_put(q, txn, m)) == 0)
		queue_cdelta_add(&ac->delta, m, 1);
	return r;
}

/* The message, locked for the transaction, and the results applied; DB_NOTFOUND: gone. */
static int
load_apply(struct queue *q, DB_TXN *txn, struct attempt_ctx *ac)
{
	int	r;

	attempt_reset(ac);
	if ((r = queue_msg_get(q, txn, ac->id, DB_RMW, &ac->m)) == DB_NOTFOUND)
		ac->missing = 1;
	if (r != 0)
		return r;
	queue_cdelta_add(&ac->delta, ac->m, -1);
	ac->remote = xcalloc(ac->m->nrcpts + 1, sizeof(*ac->remote));
	ac->marks = xcalloc(ac->m->nrcpts + 1, sizeof(*ac->marks));
	apply_results(ac);
	return 0;
}

static int
attempt_fn(struct queue *q, DB_TXN *txn, void *arg)
{
	struct attempt_ctx	*ac = arg;
	int			 r;

	if ((r = load_apply(q, txn, ac)) == DB_NOTFOUND)
		/* Deleted meanwhile: drop the results and any stray entry. */
		return queue_record_id_valid(ac->id) ?
		    queue_sched_del_scan(q, txn, ac->id) : 0;
	if (r != 0)
		return r;
	apply_expiry(q, ac);
	if ((r = dsn_queue(q, txn, ac)) != 0)
		return r;
	return finish(q, txn, ac);
}

static void
attempt_log(struct queue *q, struct attempt_ctx *ac)
{
	struct queue_msg_info	*m = ac->m;
	size_t			 i;

	for (i = 0; i < m->nrcpts; i++) {
		if (ac->marks[i] & R_TOUCHED) {
			if (m->rcpts[i].state == QUEUE_RCPT_DELIVERED)
				q->dstats.delivered++;
			else if (m->rcpts[i].state == QUEUE_RCPT_DEFERRED)
				q->dstats.deferred++;
		}
		if (ac->marks[i] & R_BOUNCED) {
			q->dstats.bounced++;
			log_info("queue: id=%s to=<%s> status=bounced (%s)",
			    ac->id, m->rcpts[i].addr, m->rcpts[i].last_reason);
		}
	}
	q->dstats.attempts++;
	q->dstats.expired += ac->expired;
	if (ac->dsn) {
		q->dstats.dsns++;
		log_info("queue: id=%s sender non-delivery notification: "
		    "id=%s to=<%s>", ac->id, ac->dsn_id, m->sender);
	}
	if (ac->removed) {
		q->dstats.removed++;
		log_info("queue: id=%s removed", ac->id);
	} else
		log_debug("queue: id=%s next attempt in %lld s", ac->id,
		    (long long)(m->next_attempt - ac->now));
}

enum queue_status
queue_record_attempt(struct queue *q, const char *id,
    const struct queue_rcpt_result *res, size_t n, time_t now)
{
	struct attempt_ctx	ac;
	enum queue_status	s;

	memset(&ac, 0, sizeof(ac));
	ac.id = id;
	ac.res = res;
	ac.n = res != NULL ? n : 0;
	ac.now = now;
	ac.rnd = queue_retry_rand(&q->jitter_state);
	queue_new_id(q, ac.dsn_id);
	/*
	 * Written to the log file at commit, synced by the flush thread: a
	 * crash of the process (not of the machine) forgets no result, so it
	 * redelivers only what was still in a session. Without the write, a
	 * SIGKILL also forgot every result since the last flush began: up to
	 * 66 duplicates at one kill with delivery_concurrency 8
	 * (tests/lab/test-crash-deliver.sh).
	 */
	s = queue_txn_run(q, attempt_fn, &ac, DB_TXN_WRITE_NOSYNC);
	if (s == QUEUE_OK)
		queue_counts_apply(q, &ac.delta);
	queue_claim_drop(q, id, s != QUEUE_OK);
	if (s != QUEUE_OK) {
		log_warnx("queue: id=%s results of a delivery attempt not "
		    "recorded: %s", id, queue_strstatus(s));
		queue_ready_later(q);
	} else if (ac.missing) {
		q->dstats.dropped++;
		log_info("queue: id=%s deleted during delivery, results "
		    "dropped", id);
		s = QUEUE_ENOENT;
	} else {
		attempt_log(q, &ac);
		queue_store_flush_soon(q);
		queue_ready_kick(q);
	}
	attempt_reset(&ac);
	return s;
}

static int
delivered_fn(struct queue *q, DB_TXN *txn, void *arg)
{
	struct attempt_ctx	*ac = arg;
	int			 r;

	if ((r = load_apply(q, txn, ac)) == DB_NOTFOUND)
		return 0;
	if (r == 0 && (r = queue_msg_put(q, txn, ac->m)) == 0)
		queue_cdelta_add(&ac->delta, ac->m, 1);
	return r;
}

enum queue_status
queue_record_delivered(struct queue *q, const char *id,
    const struct queue_rcpt_result *res, size_t n)
{
	struct attempt_ctx	ac;
	enum queue_status	s;
	size_t			i;

	for (i = 0; i < n; i++)
		if (res[i].state != QUEUE_RCPT_DELIVERED) {
			log_warnx("queue: id=%s queue_record_delivered: recipient %zu "
			    "is not delivered", id, res[i].rcpt);
			return QUEUE_EINVAL;
		}
	memset(&ac, 0, sizeof(ac));
	ac.id = id;
	ac.res = res;
	ac.n = n;
	/* as queue_record_attempt: in the log file at commit */
	s = queue_txn_run(q, delivered_fn, &ac, DB_TXN_WRITE_NOSYNC);
	if (s == QUEUE_OK)
		queue_counts_apply(q, &ac.delta);
	if (s == QUEUE_OK && ac.missing)
		s = QUEUE_ENOENT;
	else if (s == QUEUE_OK) {
		for (i = 0; i < ac.m->nrcpts; i++)
			if (ac.marks[i] & R_TOUCHED)
				q->dstats.delivered++;
		queue_store_flush_soon(q);
	} else
		log_warnx("queue: id=%s delivered recipients not recorded: %s", id,
		    queue_strstatus(s));
	attempt_reset(&ac);
	return s;
}

int
queue_expired(struct queue *q, const struct queue_msg_info *m, time_t now)
{
	return queue_retry_expired(m->arrival, now, q->lifetime);
}

void
queue_set_hostname(struct queue *q, const char *name)
{
	free(q->hostname);
	q->hostname = xstrdup(name != NULL && *name != '\0' ? name :
	    "localhost");
}

void
queue_set_retry_seed(struct queue *q, uint64_t seed)
{
	q->jitter_state = seed;
}

void
queue_delivery_stats(struct queue *q, struct queue_delivery_stats *st)
{
	*st = q->dstats;
	st->in_delivery = q->nclaims - q->nclaims_dead;
}
