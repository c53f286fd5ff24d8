/*
 * queue_int.h: what the files of the queue module share among themselves.
 * Not for use outside queue/.
 */
#ifndef QUEUE_QUEUE_INT_H
#define QUEUE_QUEUE_INT_H

#include <sys/queue.h>
#include <pthread.h>
#include <stdint.h>
#include <errno.h>
#include <time.h>

#include <db.h>

#include "queue/queue.h"
#include "queue/queue_record.h"

#define QUEUE_TXN_RETRIES	20	/* deadlock retries of one transaction */

/*
 * What message records add to struct queue_counts, signed so that a
 * transaction's change (after minus before) can be kept until it commits.
 */
struct queue_cdelta {
	int64_t			 messages;
	int64_t			 recipients_pending;
	int64_t			 held;
	int64_t			 deferred;
};

/* One queue_submit(): the encoded record and body, owned by whoever holds it. */
struct queue_req {
	TAILQ_ENTRY(queue_req)	 entry;
	char			 id[QUEUE_ID_MAX];
	uint8_t			*rec;
	size_t			 reclen;
	struct evbuffer		*body;
	size_t			 bodylen;
	time_t			 when;		/* schedule key time */
	struct queue_cdelta	 counts;	/* what the record adds */
	enum queue_status	 status;
	queue_commit_cb		 cb;
	void			*arg;
};
TAILQ_HEAD(queue_reqs, queue_req);

/* A message in delivery and the schedule time it was taken at. */
struct queue_claim {
	char			 id[QUEUE_ID_MAX];
	time_t			 when;
};

struct queue {
	struct event_base	*base;
	DB_ENV			*env;
	DB			*msgs;		/* id -> envelope record */
	DB			*bodies;	/* (id, chunk) -> bytes */
	DB			*sched;		/* (time, id) -> empty */
	DB			*meta;		/* name -> value */
	char			*dir;
	int			 lockfd;	/* flock()ed: one process only */
	uint64_t		 lifetime;
	uint64_t		*retry;
	size_t			 nretry;

	/* queue ids, loop thread only */
	uint64_t		 id_last_us;
	uint32_t		 id_ctr;
	uint64_t		 id_rnd;

	/*
	 * The storage thread commits, the flush thread makes the commits
	 * durable meanwhile; everything below mtx is under it.
	 */
	pthread_t		 thread;
	int			 thread_started;
	pthread_t		 flusher;
	int			 flusher_started;
	pthread_t		 ckpter;	/* periodic checkpoints */
	int			 ckpter_started;
	struct event		*ev_done;	/* activated by the thread */
	struct event		*ev_ckpt;	/* periodic checkpoint request */
	uint8_t			*chunkbuf;	/* storage thread scratch */
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;		/* for the storage thread */
	pthread_cond_t		 fcond;		/* for the flush thread */
	pthread_cond_t		 ccond;		/* for the checkpoint thread */
	struct queue_reqs	 pending;	/* submitted */
	struct queue_reqs	 committed;	/* waiting for a log flush */
	struct queue_reqs	 done;		/* for the loop thread */
	int			 commit_stopped;
	size_t			 unflushed;	/* handed to the flusher */
	int			 stop;
	int			 want_ckpt;
	size_t			 batch_max;
	int			 want_flush;	/* from the loop thread */
	struct queue_stats	 stats;
	/*
	 * The totals of queue_counts(), kept by every committed change to a
	 * message record (the storage thread's too), counted at open.
	 */
	struct queue_cdelta	 counts;

	/* delivery, loop thread only */
	DB			*tls;		/* TLS report counters */
	struct event		*ev_ready;	/* runs ready_cb */
	void			(*ready_cb)(void *);
	void			*ready_arg;
	int			 ready_kicked;
	struct queue_claim	*claims;	/* sorted by id */
	size_t			 nclaims;	/* with the dropped ones still there */
	size_t			 nclaims_dead;	/* dropped (when CLAIM_DEAD), not yet removed */
	size_t			 claims_cap;
	/*
	 * Every schedule entry not claimed sorts at or after this key (empty:
	 * the start), so scans skip the claimed ones in front in one seek.
	 * Whatever adds an entry lowers it (queue_ready_lower()).
	 */
	uint8_t			 wm[QUEUE_SCHEDKEY_MAX + 1];
	size_t			 wmlen;
	char			*hostname;	/* for DSNs */
	uint64_t		 jitter_state;
	struct queue_delivery_stats dstats;
};

/* queue_store.c */
int	queue_store_start(struct queue *, char *err, size_t errlen);
void	queue_store_stop(struct queue *);
void	queue_store_checkpoint(struct queue *);
enum queue_status queue_store_status(int dberr);

int	queue_txn_retryable(int dberr);
/* Loop thread: make what was committed without sync durable soon. */
void	queue_store_flush_soon(struct queue *);

/* queue_admin.c: transactions on the loop thread, record access. */
#define QUEUE_CORRUPT	EINVAL	/* a record failed validation (logged) */
typedef int (*queue_txn_fn)(struct queue *, DB_TXN *, void *);
/* Run fn in a transaction, again after a deadlock; commit with flags. */
enum queue_status queue_txn_run(struct queue *, queue_txn_fn, void *,
	    uint32_t flags);
void	queue_dbt(DBT *, const void *, size_t);
/* Read and validate id: 0, DB_NOTFOUND, QUEUE_CORRUPT or a db error. */
int	queue_msg_get(struct queue *, DB_TXN *, const char *id, uint32_t flags,
	    struct queue_msg_info **);
int	queue_msg_put(struct queue *, DB_TXN *, const struct queue_msg_info *);
int	queue_sched_put(struct queue *, DB_TXN *, time_t, const char *id);
int	queue_sched_del(struct queue *, DB_TXN *, time_t, const char *id);
/* Add sign (1 or -1) times what m adds to the counts; m NULL adds nothing. */
void	queue_cdelta_add(struct queue_cdelta *, const struct queue_msg_info *m,
	    int sign);
/* After a commit: add d to the totals (any thread). */
void	queue_counts_apply(struct queue *, const struct queue_cdelta *d);
/* At open, before the threads start: count every record once. */
enum queue_status queue_counts_init(struct queue *);
/* Every schedule entry of id, found by a scan (no record to say when). */
int	queue_sched_del_scan(struct queue *, DB_TXN *, const char *id);
/* Append the body of id to out (checking size), or delete it (out NULL). */
int	queue_bodies_walk(struct queue *, DB_TXN *, const char *id,
	    uint64_t size, struct evbuffer *out);

/* queue_ready.c: due work, claims, the ready callback. */
/* Something may have become due: run the ready callback soon. */
void	queue_ready_kick(struct queue *);
/* A claim went back: run the callback after a pause (no spinning). */
void	queue_ready_later(struct queue *);
/* A schedule entry (when, id) was added: scans must start at or before it. */
void	queue_ready_lower(struct queue *, time_t when, const char *id);
int	queue_claimed(struct queue *, const char *id);
/* End a claim; back: its schedule entry stays where it was. */
void	queue_claim_drop(struct queue *, const char *id, int back);
void	queue_ready_free(struct queue *);

#endif
