/*
 * queue.h: the spool, a transactional Berkeley DB environment.
 *
 * Messages are committed by a storage thread with group commit: many
 * transactions share one log flush. The event loop never waits on the disk;
 * it learns of durability through the callback of queue_submit().
 * Everything here is called from the event loop thread only.
 *
 * The storage thread activates an event on the base, so the base must be
 * created after evthread_use_pthreads(). While the queue is open it keeps a
 * periodic checkpoint timer on the base.
 */
#ifndef QUEUE_QUEUE_H
#define QUEUE_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct evbuffer;
struct __db_env;	/* DB_ENV, shared with the policy cache */
struct queue;

#define QUEUE_ID_MAX	24	/* room for an id and its NUL */

#define QUEUE_F_8BITMIME	0x01	/* BODY=8BITMIME */
#define QUEUE_F_SMTPUTF8	0x02	/* SMTPUTF8 */

enum queue_status {
	QUEUE_OK = 0,
	QUEUE_ENOENT,		/* no such message */
	QUEUE_ETEMP,		/* storage failed: 451 4.3.0 */
	QUEUE_ENOSPC		/* disk full: 452 4.3.1 */
};

struct queue_params {
	const char	*dir;		/* spool directory, created if missing */
	uint64_t	 lifetime;	/* seconds a message may stay queued */
	const uint64_t	*retry;		/* retry schedule in seconds; last repeats */
	size_t		 nretry;
};

struct queue	*queue_open(struct event_base *, const struct queue_params *,
		    char *err, size_t errlen);
/*
 * Waits for the storage thread, checkpoints, closes the environment. The
 * callbacks of submissions still in flight run before it returns. Not to be
 * called from a queue_commit_cb.
 */
void		 queue_close(struct queue *);
/*
 * The environment, so that policy/ keeps its cache database in it (close
 * that database before queue_close()). Transactional, DB_THREAD, private to
 * this process.
 */
struct __db_env	*queue_dbenv(struct queue *);
const char	*queue_strstatus(enum queue_status);

/* A new unique, sortable queue id (given out at MAIL FROM, before commit). */
void		 queue_new_id(struct queue *, char id[QUEUE_ID_MAX]);

struct queue_envelope {
	const char	 *id;		/* from queue_new_id() */
	const char	 *sender;	/* "" for the null sender <> */
	const char	**rcpts;
	size_t		  nrcpts;
	uint32_t	  flags;	/* QUEUE_F_* */
	const char	 *helo;		/* what the client said in EHLO/HELO */
	const char	 *client_addr;	/* "192.0.2.1" */
	const char	 *auth_user;	/* NULL when not authenticated */
	time_t		  arrival;
};

typedef void (*queue_commit_cb)(enum queue_status, void *arg);

/*
 * Store a message: envelope, body (its contents are taken, the evbuffer is
 * left empty), schedule entry, in one transaction. cb runs later on the event
 * loop thread once the transaction is durable (QUEUE_OK) or has failed and
 * left nothing behind. The caller keeps arg valid until cb has run.
 */
void		 queue_submit(struct queue *, const struct queue_envelope *,
		    struct evbuffer *body, queue_commit_cb, void *arg);

/* Administration (stsrelayctl through the control socket). */
enum queue_rcpt_state {
	QUEUE_RCPT_PENDING = 0,
	QUEUE_RCPT_DELIVERED,
	QUEUE_RCPT_DEFERRED,
	QUEUE_RCPT_BOUNCED
};

struct queue_rcpt_info {
	char			*addr;
	enum queue_rcpt_state	 state;
	uint32_t		 attempts;
	char			*last_reason;	/* "" when none */
};

struct queue_msg_info {
	char			 id[QUEUE_ID_MAX];
	char			*sender;
	char			*helo;
	char			*client_addr;
	char			*auth_user;	/* "" when none */
	time_t			 arrival;
	uint64_t		 size;		/* body bytes */
	uint32_t		 flags;
	int			 held;
	time_t			 next_attempt;
	struct queue_rcpt_info	*rcpts;
	size_t			 nrcpts;
};

const char	*queue_strstate(enum queue_rcpt_state);
/* fn for each message in queue id order; a non-zero return stops the walk. */
enum queue_status queue_list(struct queue *,
		    int (*fn)(const struct queue_msg_info *, void *), void *arg);
enum queue_status queue_info(struct queue *, const char *id, struct queue_msg_info **);
void		 queue_info_free(struct queue_msg_info *);
/* Append the stored message (headers and body, CRLF lines) to out. */
enum queue_status queue_body(struct queue *, const char *id, struct evbuffer *out);
/*
 * A held message is never due: hold removes its schedule entry, release
 * makes it due now, flush leaves it held. Holding a held message or
 * releasing one that is not held is QUEUE_OK and changes nothing.
 */
enum queue_status queue_delete(struct queue *, const char *id);
enum queue_status queue_hold(struct queue *, const char *id);
enum queue_status queue_release(struct queue *, const char *id);
/* Make one message (id) or every message that is not held (NULL) due now. */
enum queue_status queue_flush(struct queue *, const char *id);

struct queue_counts {
	uint64_t	messages;
	uint64_t	recipients_pending;	/* pending or deferred */
	uint64_t	held;
	uint64_t	deferred;		/* messages with a deferred recipient */
};
enum queue_status queue_counts(struct queue *, struct queue_counts *);

/*
 * Delivery: the earliest schedule entry, whatever its time. QUEUE_OK fills id
 * and *when (the message is due when *when <= now; otherwise a caller arms a
 * timer for *when - now), QUEUE_ENOENT when nothing is scheduled. Held
 * messages have no schedule entry.
 */
enum queue_status queue_next_due(struct queue *, time_t now,
		    char id[QUEUE_ID_MAX], time_t *when);

/* Storage thread figures, for logs, the control socket and benchmarks. */
struct queue_stats {
	uint64_t	submitted;	/* queue_submit() calls */
	uint64_t	committed;	/* transactions reported QUEUE_OK */
	uint64_t	failed;		/* reported QUEUE_ETEMP or QUEUE_ENOSPC */
	uint64_t	flushes;	/* log flushes, one per batch */
	uint64_t	max_batch;	/* most transactions covered by one flush */
	uint64_t	retries;	/* transactions retried after a deadlock */
	uint64_t	checkpoints;
};
void		 queue_stats(struct queue *, struct queue_stats *);
/*
 * At most n transactions per log flush (0: no limit, the default). 1 turns
 * group commit off: one flush per message, for measurements and tests.
 */
void		 queue_set_batch_max(struct queue *, size_t n);

#endif
