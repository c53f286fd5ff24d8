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
	QUEUE_ENOSPC,		/* disk full: 452 4.3.1 */
	QUEUE_EINVAL		/* an argument out of bounds (logged) */
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
	uint64_t	result_flushes;	/* log flushes asked for by delivery results */
};
void		 queue_stats(struct queue *, struct queue_stats *);
/*
 * At most n transactions per log flush (0: no limit, the default). 1 turns
 * group commit off: one flush per message, for measurements and tests.
 */
void		 queue_set_batch_max(struct queue *, size_t n);

/*
 * Delivery: the orchestrator in relay/ takes due messages, delivers them and
 * reports the results here. Everything on the loop thread.
 *
 * cb runs from the event loop (never from inside a queue_* call) whenever
 * something may have become due: a submission committed, a flush, a release,
 * a claim given back, a recorded attempt, or the time of the earliest
 * scheduled message came. It is not run again for messages that were due
 * and left untaken until one of those happens again: an orchestrator that
 * stops taking at a concurrency limit calls queue_take_due() itself when it
 * has room. NULL stops the callbacks. Setting it runs cb soon if anything is
 * due already (a restart with a full queue).
 */
void		 queue_set_on_ready(struct queue *, void (*cb)(void *arg),
		    void *arg);
/*
 * Up to max ids of messages due at now, earliest first, neither held nor
 * already claimed. Each returned id is claimed ("in delivery", in memory
 * only) until queue_record_attempt() or queue_release_claim() for it: it is
 * not returned again meanwhile. Returns the number of ids (0 also after a
 * storage error, which is logged). A restart forgets every claim: the
 * messages are simply due again. The orchestrator reads a taken message
 * with queue_info() and queue_body() and delivers its recipients that are
 * pending or deferred.
 *
 * Between take and record the message may be held (the results are
 * recorded, it stays held and unscheduled), released or flushed (the
 * results decide the next attempt), or deleted (the results are dropped and
 * queue_record_attempt() says QUEUE_ENOENT).
 */
size_t		 queue_take_due(struct queue *, time_t now,
		    char (*ids)[QUEUE_ID_MAX], size_t max);
/*
 * Give a claim back without recording anything (shutdown, a cancelled
 * attempt): the message stays due and the ready callback runs again after
 * about a second, not at once, so that a message that cannot be handled
 * does not spin. QUEUE_ENOENT when id was not claimed.
 */
enum queue_status queue_release_claim(struct queue *, const char *id);

struct queue_rcpt_result {
	size_t			 rcpt;		/* index in queue_msg_info.rcpts */
	enum queue_rcpt_state	 state;		/* DELIVERED, DEFERRED, BOUNCED */
	const char		*reason;	/* "250 2.0.0 Ok: queued as X",
						   "4.7.5 certificate not trusted
						   by policy"; NULL: none */
	const char		*remote_mta;	/* "mx.example.com[192.0.2.1]" or
						   NULL when no server answered */
};

/*
 * Record one delivery attempt of message id and end its claim, in one
 * transaction:
 *  - each named recipient that is pending or deferred takes its new state,
 *    attempts + 1 and the reason (kept up to QUEUE_REASON_MAX octets);
 *    results for a recipient already delivered or bounced, for an index out
 *    of range or with state PENDING are logged and ignored;
 *  - when the message has outlived the lifetime (queue_params.lifetime, 0:
 *    never), every recipient still pending or deferred is bounced with
 *    "5.4.7 delivery time expired: <last reason>";
 *  - the recipients bounced now get one delivery status notification
 *    (RFC 3464), queued as a new message from <> to the sender, due at once;
 *    none when the sender is <> (H11: never bounce a bounce);
 *  - with no recipient left pending or deferred the message is removed;
 *    otherwise the next attempt is now + the retry interval for the highest
 *    attempt count of its remaining recipients (the schedule's last entry
 *    repeating), +-10% jitter, never after the expiry time.
 * Report every recipient tried in one call per claim (recipients not named
 * keep their state and count).
 *
 * Durability: the transaction commits on the loop thread with the log
 * written to the file but not synced (a crash of the process forgets
 * nothing recorded), and the flush thread is asked to sync the log (10 ms
 * after its previous flush at the soonest, so that one flush covers the
 * results of a busy moment), so the window for a crash of the machine is
 * at most 10 ms and the time of one log flush (milliseconds; if that flush
 * fails, until the next one that works: any group commit or the 60 s
 * checkpoint; see queue_stats.result_flushes). A crash of the machine
 * inside it forgets the results: the message is delivered again to the
 * recipients it reached (a duplicate, never a loss), and a DSN is either
 * queued with its results or not at all.
 *
 * QUEUE_ENOENT: no such message (deleted during delivery: the results are
 * dropped; the claim and any stray schedule entry of id are removed, so the
 * orchestrator calls this, with n 0, also when queue_info() says
 * QUEUE_ENOENT for a taken id). QUEUE_ETEMP/QUEUE_ENOSPC: nothing was
 * recorded, the claim is given back as with queue_release_claim().
 */
#define QUEUE_REASON_MAX	2000
enum queue_status queue_record_attempt(struct queue *, const char *id,
		    const struct queue_rcpt_result *, size_t n, time_t now);

/*
 * Before the attempt of a claimed message is over: record recipients that
 * were delivered (every result's state DELIVERED, else QUEUE_EINVAL), with
 * the same durability as queue_record_attempt, so a crash while other
 * recipients are still being tried does not deliver these again. The claim,
 * the schedule and the other recipients are left as they are;
 * queue_record_attempt ends the attempt later and must not name them again.
 * QUEUE_ENOENT: the message was deleted meanwhile.
 */
enum queue_status queue_record_delivered(struct queue *, const char *id,
		    const struct queue_rcpt_result *, size_t n);

/*
 * 1 when m has outlived the lifetime at now: a recipient deferred by an
 * attempt at now bounces (5.4.7). Such an attempt is the last one, so
 * before it reports MTA-STS failures the orchestrator re-checks the TXT id
 * (S21: never fail permanently on a policy that may have changed).
 */
int		 queue_expired(struct queue *, const struct queue_msg_info *m,
		    time_t now);

/* The relay's host name for DSNs (Reporting-MTA, From: MAILER-DAEMON@). */
void		 queue_set_hostname(struct queue *, const char *);
/* Seed of the retry jitter (tests); the queue seeds it randomly at open. */
void		 queue_set_retry_seed(struct queue *, uint64_t seed);

/* Since the queue was opened; for stsrelayctl status. */
struct queue_delivery_stats {
	uint64_t	attempts;	/* queue_record_attempt() calls recorded */
	uint64_t	delivered;	/* recipients */
	uint64_t	deferred;	/* recipient results DEFERRED */
	uint64_t	bounced;	/* recipients bounced, expired included */
	uint64_t	expired;	/* of which for the lifetime */
	uint64_t	dsns;		/* DSNs queued */
	uint64_t	removed;	/* messages finished and removed */
	uint64_t	dropped;	/* results for messages deleted meanwhile */
	uint64_t	in_delivery;	/* claims held now */
};
void		 queue_delivery_stats(struct queue *, struct queue_delivery_stats *);

/*
 * TLS report counters (RFC 8460, R2/R3), kept in the spool: one count per
 * (UTC day, policy domain, policy type, receiving MX host, result type or
 * "success"). A counter update is a small transaction on the loop thread
 * that commits without sync: a crash may lose the last second of counts.
 */
enum queue_tls_policy {
	QUEUE_TLS_STS = 0,		/* "sts" */
	QUEUE_TLS_NO_POLICY		/* "no-policy-found" */
};
#define QUEUE_TLS_NAME_MAX	256	/* a domain or host name and its NUL */
#define QUEUE_TLS_RESULT_MAX	48	/* a result type and its NUL */
#define QUEUE_TLS_DAY_MAX	11	/* "2026-11-22" and its NUL */

struct queue_tls_event {
	time_t			 when;		/* its UTC day is the key's */
	const char		*policy_domain;	/* the recipient domain */
	enum queue_tls_policy	 policy_type;
	const char		*mx_host;	/* "" when no MX was reached */
	const char		*result;	/* "success" or an R3 result type */
};

struct queue_tls_entry {
	char			 day[QUEUE_TLS_DAY_MAX];
	char			 policy_domain[QUEUE_TLS_NAME_MAX];
	enum queue_tls_policy	 policy_type;
	char			 mx_host[QUEUE_TLS_NAME_MAX];
	char			 result[QUEUE_TLS_RESULT_MAX];
	uint64_t		 count;
};

const char	*queue_tls_strpolicy(enum queue_tls_policy);
/*
 * Add n to the event's counter. Names are stored in lower case without a
 * trailing dot; QUEUE_EINVAL when a name is empty (mx_host may be), too
 * long or not printable ASCII, or the result is not [a-z0-9-]+.
 */
enum queue_status queue_tls_count(struct queue *, const struct queue_tls_event *,
		    uint64_t n);
/*
 * fn for each counter of day ("YYYY-MM-DD", UTC) in key order (domain, type,
 * MX, result); a non-zero return stops the walk.
 */
enum queue_status queue_tls_list(struct queue *, const char *day,
		    int (*fn)(const struct queue_tls_entry *, void *), void *arg);
/* Remove the counters of day (once its reports are sent). */
enum queue_status queue_tls_forget(struct queue *, const char *day);

#endif
