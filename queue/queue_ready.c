/*
 * queue_ready.c: due work without polling. One timer on the earliest future
 * schedule entry runs the orchestrator's ready callback; every change that
 * may make something due "kicks" it to run at once. Claims mark the
 * messages in delivery (in memory; a restart forgets them).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "queue/queue_int.h"
#include "queue/queue_record.h"

#define RELEASE_DELAY_MS	1000	/* a claim given back is due again */
/*
 * The longest timer: the schedule is in wall-clock seconds and the timer
 * runs on the monotonic clock, so look again at least this often.
 */
#define READY_MAX_MS		60000
/*
 * A claim given up stays in the sorted array, marked, until half of the
 * array is such: removing each at once moved the rest of the array (the
 * oldest claims, at its front, are the first to go), a copy of up to the
 * whole intake per delivered message.
 */
#define CLAIM_DEAD		((time_t)-1)
#define CLAIM_COMPACT_MIN	64

/* The index of id in the sorted claims, or where it would go (*found 0). */
static size_t
claim_pos(struct queue *q, const char *id, int *found)
{
	size_t	lo = 0, hi = q->nclaims, mid;
	int	c;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(q->claims[mid].id, id)) == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
queue_claimed(struct queue *q, const char *id)
{
	size_t	i;
	int	found;

	i = claim_pos(q, id, &found);
	return found && q->claims[i].when != CLAIM_DEAD;
}

/* Remove the dropped claims, keeping the order. */
static void
claims_compact(struct queue *q)
{
	size_t i, n = 0;

	for (i = 0; i < q->nclaims; i++)
		if (q->claims[i].when != CLAIM_DEAD) {
			if (n != i)
				q->claims[n] = q->claims[i];
			n++;
		}
	q->nclaims = n;
	q->nclaims_dead = 0;
}

/* 0 when added, -1 when id was claimed already. */
static int
claim_add(struct queue *q, const char *id, time_t when)
{
	size_t	i;
	int	found;

	i = claim_pos(q, id, &found);
	if (found && q->claims[i].when != CLAIM_DEAD)
		return -1;
	if (found) {
		q->claims[i].when = when;	/* claimed again */
		q->nclaims_dead--;
		return 0;
	}
	if (q->nclaims == q->claims_cap) {
		q->claims_cap = q->claims_cap ? q->claims_cap * 2 : 64;
		q->claims = xreallocarray(q->claims, q->claims_cap,
		    sizeof(*q->claims));
	}
	memmove(q->claims + i + 1, q->claims + i,
	    (q->nclaims - i) * sizeof(*q->claims));
	strutil_lcpy(q->claims[i].id, id, sizeof(q->claims[i].id));
	q->claims[i].when = when;
	q->nclaims++;
	return 0;
}

void
queue_claim_drop(struct queue *q, const char *id, int back)
{
	size_t	i;
	int	found;

	i = claim_pos(q, id, &found);
	if (!found || q->claims[i].when == CLAIM_DEAD)
		return;
	/* Its entry stays, maybe in front of the mark: scan from there. */
	if (back)
		queue_ready_lower(q, q->claims[i].when, id);
	q->claims[i].when = CLAIM_DEAD;
	q->nclaims_dead++;
	if (q->nclaims_dead >= CLAIM_COMPACT_MIN && q->nclaims_dead * 2 >= q->nclaims)
		claims_compact(q);
}

static int
key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

void
queue_ready_lower(struct queue *q, time_t when, const char *id)
{
	uint8_t	k[QUEUE_SCHEDKEY_MAX];
	size_t	n;

	if (q->wmlen == 0)
		return;		/* at the start already */
	n = queue_record_schedkey(when, id, k);
	if (key_cmp(k, n, q->wm, q->wmlen) < 0) {
		memcpy(q->wm, k, n);
		q->wmlen = n;
	}
}

/* A new mark: key itself, or (past) the key right after it. */
static void
mark_set(uint8_t *mark, size_t *marklen, const DBT *key, int past)
{
	if (key->size > QUEUE_SCHEDKEY_MAX)
		return;		/* malformed; leave the mark where it was */
	memcpy(mark, key->data, key->size);
	*marklen = key->size;
	if (past)
		mark[(*marklen)++] = '\0';
}

/* A cursor on the first schedule entry at or after the mark. */
static int
mark_seek(struct queue *q, DBC *c, DBT *key, DBT *data)
{
	if (q->wmlen == 0)
		return c->get(c, key, data, DB_FIRST);
	key->data = xreallocarray(key->data, q->wmlen, 1);
	memcpy(key->data, q->wm, q->wmlen);
	key->size = q->wmlen;
	return c->get(c, key, data, DB_SET_RANGE);
}

struct scan_ctx {
	time_t	now;
	int	due;		/* an unclaimed entry at or before now */
	time_t	next;		/* the first entry after now, 0: none */
	uint8_t	mark[QUEUE_SCHEDKEY_MAX + 1];
	size_t	marklen;
};

/* Is anything unclaimed due, and when is the first entry after now? */
static int
scan_fn(struct queue *q, DB_TXN *txn, void *arg)
{
	struct scan_ctx	*sc = arg;
	DBC		*c;
	DBT		 key, data;
	char		 id[QUEUE_ID_MAX];
	time_t		 when;
	int		 r, r2;

	sc->due = 0;
	sc->next = 0;
	memcpy(sc->mark, q->wm, q->wmlen);
	sc->marklen = q->wmlen;
	if ((r = q->sched->cursor(q->sched, txn, &c, DB_READ_COMMITTED)) != 0)
		return r;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;
	for (r = mark_seek(q, c, &key, &data); r == 0;
	    r = c->get(c, &key, &data, DB_NEXT)) {
		if (queue_record_schedkey_parse(key.data, key.size, &when,
		    id) == -1)
			continue;
		if (when > sc->now) {
			sc->next = when;
			break;
		}
		if (!queue_claimed(q, id)) {
			sc->due = 1;
			break;
		}
		/* Claimed, and everything before it too: move the mark. */
		mark_set(sc->mark, &sc->marklen, &key, 1);
	}
	if (r == 0 && sc->due) {
		/* Skip the rest of the due entries with one seek. */
		key.data = xreallocarray(key.data, QUEUE_SCHEDKEY_MAX, 1);
		key.size = queue_record_schedkey(sc->now + 1, "", key.data);
		r = c->get(c, &key, &data, DB_SET_RANGE);
		while (r == 0 && queue_record_schedkey_parse(key.data,
		    key.size, &when, id) == -1)
			r = c->get(c, &key, &data, DB_NEXT);
		if (r == 0)
			sc->next = when;
	}
	if (r == DB_NOTFOUND)
		r = 0;
	free(key.data);
	r2 = c->close(c);
	return r != 0 ? r : r2;
}

static void
ready_arm_ms(struct queue *q, uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (event_add(q->ev_ready, &tv) == -1)
		log_warnx("queue: cannot arm the delivery timer");
}

/* Arm the timer for the start of second when (in the future). */
static void
ready_arm_at(struct queue *q, time_t when)
{
	struct timeval	now;
	int64_t		ms;

	if (gettimeofday(&now, NULL) == -1)
		fatal("ready_arm_at: gettimeofday");
	ms = ((int64_t)when - now.tv_sec) * 1000 - now.tv_usec / 1000;
	if (ms > READY_MAX_MS)
		ms = READY_MAX_MS;
	ready_arm_ms(q, ms > 0 ? (uint64_t)ms : 0);
}

static void
ready_on_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct queue	*q = arg;
	struct scan_ctx	 sc;

	(void)fd;
	(void)ev;
	memset(&sc, 0, sizeof(sc));
	sc.now = time(NULL);
	if (queue_txn_run(q, scan_fn, &sc, DB_TXN_NOSYNC) != QUEUE_OK) {
		/* Logged; try again later rather than never. */
		ready_arm_ms(q, RELEASE_DELAY_MS);
		return;
	}
	memcpy(q->wm, sc.mark, sc.marklen);
	q->wmlen = sc.marklen;
	q->ready_kicked = 0;
	if (sc.due && q->ready_cb != NULL)
		q->ready_cb(q->ready_arg);
	/* A kick from inside the callback has armed the timer already. */
	if (q->ready_kicked || q->ev_ready == NULL)
		return;
	if (sc.next != 0)
		ready_arm_at(q, sc.next);
}

void
queue_ready_kick(struct queue *q)
{
	if (q->ev_ready == NULL || q->ready_cb == NULL)
		return;
	q->ready_kicked = 1;
	ready_arm_ms(q, 0);
}

void
queue_set_on_ready(struct queue *q, void (*cb)(void *), void *arg)
{
	q->ready_cb = cb;
	q->ready_arg = arg;
	if (cb == NULL) {
		if (q->ev_ready != NULL)
			(void)event_del(q->ev_ready);
		return;
	}
	if (q->ev_ready == NULL &&
	    (q->ev_ready = evtimer_new(q->base, ready_on_timer, q)) == NULL)
		fatalx("queue_set_on_ready: evtimer_new");
	queue_ready_kick(q);
}

struct take_ctx {
	time_t	  now;
	char	(*ids)[QUEUE_ID_MAX];
	time_t	 *when;
	size_t	  max;
	size_t	  n;
	uint8_t	  mark[QUEUE_SCHEDKEY_MAX + 1];
	size_t	  marklen;
};

/*
 * Every entry the scan passes is claimed already or returned now (and
 * claimed after the transaction), so the mark moves to where it stops.
 */
static int
take_fn(struct queue *q, DB_TXN *txn, void *arg)
{
	struct take_ctx	*tc = arg;
	DBC		*c;
	DBT		 key, data;
	int		 r, r2;

	tc->n = 0;
	memcpy(tc->mark, q->wm, q->wmlen);
	tc->marklen = q->wmlen;
	if ((r = q->sched->cursor(q->sched, txn, &c, DB_READ_COMMITTED)) != 0)
		return r;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;
	for (r = mark_seek(q, c, &key, &data); r == 0 && tc->n < tc->max;
	    r = c->get(c, &key, &data, DB_NEXT)) {
		if (queue_record_schedkey_parse(key.data, key.size,
		    &tc->when[tc->n], tc->ids[tc->n]) == -1) {
			log_warnx("queue: skipping a malformed schedule entry");
			mark_set(tc->mark, &tc->marklen, &key, 1);
			continue;
		}
		if (tc->when[tc->n] > tc->now)
			break;
		if (!queue_claimed(q, tc->ids[tc->n]))
			tc->n++;
		mark_set(tc->mark, &tc->marklen, &key, 1);
	}
	if (r == DB_NOTFOUND)
		r = 0;
	free(key.data);
	r2 = c->close(c);
	return r != 0 ? r : r2;
}

size_t
queue_take_due(struct queue *q, time_t now, char (*ids)[QUEUE_ID_MAX],
    size_t max)
{
	struct take_ctx	tc;
	size_t		i, n = 0;

	if (max == 0)
		return 0;
	memset(&tc, 0, sizeof(tc));
	tc.now = now;
	tc.ids = ids;
	tc.max = max;
	tc.when = xreallocarray(NULL, max, sizeof(*tc.when));
	if (queue_txn_run(q, take_fn, &tc, DB_TXN_NOSYNC) != QUEUE_OK) {
		free(tc.when);
		return 0;
	}
	memcpy(q->wm, tc.mark, tc.marklen);
	q->wmlen = tc.marklen;
	/* Claim each; a second entry for the same id is dropped. */
	for (i = 0; i < tc.n; i++) {
		if (claim_add(q, ids[i], tc.when[i]) == -1)
			continue;
		if (n != i)
			memcpy(ids[n], ids[i], sizeof(ids[n]));
		n++;
	}
	free(tc.when);
	return n;
}

/* Back to the queue: due again, but not at once (no spinning). */
void
queue_ready_later(struct queue *q)
{
	if (q->ev_ready == NULL || q->ready_cb == NULL || q->ready_kicked)
		return;
	ready_arm_ms(q, RELEASE_DELAY_MS);
}

enum queue_status
queue_release_claim(struct queue *q, const char *id)
{
	if (!queue_claimed(q, id))
		return QUEUE_ENOENT;
	queue_claim_drop(q, id, 1);
	queue_ready_later(q);
	return QUEUE_OK;
}

void
queue_ready_free(struct queue *q)
{
	if (q->ev_ready != NULL)
		event_free(q->ev_ready);
	q->ev_ready = NULL;
	q->ready_cb = NULL;
	free(q->claims);
	q->claims = NULL;
	q->nclaims = q->claims_cap = q->nclaims_dead = 0;
	q->wmlen = 0;
}
