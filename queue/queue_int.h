/*
 * queue_int.h: what the files of the queue module share among themselves.
 * Not for use outside queue/.
 */
#ifndef QUEUE_QUEUE_INT_H
#define QUEUE_QUEUE_INT_H

#include <sys/queue.h>
#include <pthread.h>
#include <stdint.h>
#include <db.h>

#include "queue/queue.h"

#define QUEUE_TXN_RETRIES	20	/* deadlock retries of one transaction */

/* One queue_submit(): the encoded record and body, owned by whoever holds it. */
struct queue_req {
	TAILQ_ENTRY(queue_req)	 entry;
	char			 id[QUEUE_ID_MAX];
	uint8_t			*rec;
	size_t			 reclen;
	struct evbuffer		*body;
	size_t			 bodylen;
	time_t			 when;		/* schedule key time */
	enum queue_status	 status;
	queue_commit_cb		 cb;
	void			*arg;
};
TAILQ_HEAD(queue_reqs, queue_req);

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
	struct event		*ev_done;	/* activated by the thread */
	struct event		*ev_ckpt;	/* periodic checkpoint request */
	uint8_t			*chunkbuf;	/* storage thread scratch */
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;		/* for the storage thread */
	pthread_cond_t		 fcond;		/* for the flush thread */
	struct queue_reqs	 pending;	/* submitted */
	struct queue_reqs	 committed;	/* waiting for a log flush */
	struct queue_reqs	 done;		/* for the loop thread */
	int			 commit_stopped;
	size_t			 unflushed;	/* handed to the flusher */
	int			 stop;
	int			 want_ckpt;
	size_t			 batch_max;
	struct queue_stats	 stats;
};

/* queue_store.c */
int	queue_store_start(struct queue *, char *err, size_t errlen);
void	queue_store_stop(struct queue *);
void	queue_store_checkpoint(struct queue *);
enum queue_status queue_store_status(int dberr);

/* queue_admin.c helpers shared with queue.c */
int	queue_txn_begin(struct queue *, DB_TXN **);
int	queue_txn_retryable(int dberr);

#endif
