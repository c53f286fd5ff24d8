/*
 * queue.c: opening and closing the spool environment, the format version in
 * the meta database, queue ids, the checkpoint timer.
 */
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "queue/queue_int.h"
#include "queue/queue_record.h"

#define SPOOL_VERSION		1	/* what this release writes and reads */
#define CACHE_BYTES		(64u * 1024 * 1024)
/*
 * Pages of bodies.db when it is created (an existing file keeps its own).
 * With 8 KiB pages a body chunk above about 2 KiB goes to overflow pages,
 * which the log records once, and the leaf pages hold only small references.
 * On 64 KiB pages a 4 KiB body sat on the leaf, and every leaf split (one in
 * about 14 messages) logged the whole 64 KiB page: twice the message size in
 * log bytes, log checksum and flush time (docs/performance.md). A 4 KiB body
 * fits one 8 KiB overflow page (with 4 KiB pages it took two).
 */
#define BODY_PAGE_BYTES		8192
#define LOG_BUFFER_BYTES	(4u * 1024 * 1024)
#define LOG_FILE_BYTES		(32u * 1024 * 1024)
#define LOCKS_MAX		10000
#define CHECKPOINT_SECS		60
#define IDCTR_RANDOM_MASK	0xfffffu		/* 20 random bits */
#define IDCTR_MAX		((1u << (5 * QUEUE_IDCTR_LEN)) - 1)

static const char *const meta_version_key = "version";
static const char *const meta_idtime_key = "idtime";

static void
queue_on_dberr(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	log_warnx("%s: %s", pfx != NULL ? pfx : "queue", msg);
}

const char *
queue_strstatus(enum queue_status s)
{
	switch (s) {
	case QUEUE_OK:
		return "ok";
	case QUEUE_ENOENT:
		return "no such message";
	case QUEUE_ETEMP:
		return "temporary storage failure";
	case QUEUE_ENOSPC:
		return "spool disk full";
	case QUEUE_EINVAL:
		return "invalid argument";
	}
	return "unknown status";
}

struct __db_env *
queue_dbenv(struct queue *q)
{
	return q->env;
}

static void
put_be64(uint8_t b[8], uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		b[i] = v & 0xff;
		v >>= 8;
	}
}

static uint64_t
get_be64(const uint8_t *b, size_t len)
{
	uint64_t	v = 0;
	size_t		i;

	for (i = 0; i < len && i < 8; i++)
		v = (v << 8) | b[i];
	return v;
}

static int
env_setup(struct queue *q, char *err, size_t errlen)
{
	DB_ENV	*env;
	int	 r;

	if ((r = db_env_create(&env, 0)) != 0) {
		snprintf(err, errlen, "db_env_create: %s", db_strerror(r));
		return -1;
	}
	q->env = env;
	env->set_errcall(env, queue_on_dberr);
	env->set_errpfx(env, "queue: db");
	if ((r = env->set_cachesize(env, 0, CACHE_BYTES, 1)) != 0 ||
	    (r = env->set_lg_bsize(env, LOG_BUFFER_BYTES)) != 0 ||
	    (r = env->set_lg_max(env, LOG_FILE_BYTES)) != 0 ||
	    (r = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0 ||
	    (r = env->set_lk_max_locks(env, LOCKS_MAX)) != 0 ||
	    (r = env->set_lk_max_objects(env, LOCKS_MAX)) != 0 ||
	    (r = env->set_flags(env, DB_TXN_NOSYNC, 1)) != 0) {
		snprintf(err, errlen, "spool environment settings: %s",
		    db_strerror(r));
		return -1;
	}
	/*
	 * DB_PRIVATE: the regions live in this process's heap. One process
	 * uses the spool, and region files mapped from a full disk would
	 * kill the daemon with SIGBUS where a write fails with ENOSPC.
	 */
	r = env->open(env, q->dir, DB_CREATE | DB_INIT_TXN | DB_INIT_LOG |
	    DB_INIT_LOCK | DB_INIT_MPOOL | DB_THREAD | DB_RECOVER | DB_PRIVATE,
	    0600);
	if (r != 0) {
		snprintf(err, errlen, "spool environment %s: %s", q->dir,
		    db_strerror(r));
		return -1;
	}
	return 0;
}

static int
db_setup(struct queue *q, DB **dbp, const char *file, uint32_t pagesize,
    char *err, size_t errlen)
{
	DB	*db;
	int	 r;

	if ((r = db_create(&db, q->env, 0)) != 0) {
		snprintf(err, errlen, "db_create: %s", db_strerror(r));
		return -1;
	}
	/* Only used when the file is created. */
	if (pagesize != 0 && (r = db->set_pagesize(db, pagesize)) != 0) {
		snprintf(err, errlen, "set_pagesize: %s", db_strerror(r));
		(void)db->close(db, 0);
		return -1;
	}
	r = db->open(db, NULL, file, NULL, DB_BTREE,
	    DB_CREATE | DB_AUTO_COMMIT | DB_THREAD, 0600);
	if (r != 0) {
		snprintf(err, errlen, "spool database %s/%s: %s", q->dir, file,
		    db_strerror(r));
		(void)db->close(db, 0);
		return -1;
	}
	*dbp = db;
	return 0;
}

/* Read the format version, writing the current one into a new spool. */
static int
meta_version(struct queue *q, DB_TXN *txn, uint32_t *ver)
{
	DBT		key, data;
	uint8_t		buf[4];
	int		r;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)meta_version_key;
	key.size = strlen(meta_version_key);
	data.data = buf;
	data.ulen = sizeof(buf);
	data.flags = DB_DBT_USERMEM;
	r = q->meta->get(q->meta, txn, &key, &data, DB_RMW);
	if (r == DB_NOTFOUND) {
		buf[0] = buf[1] = buf[2] = 0;
		buf[3] = SPOOL_VERSION;
		data.size = sizeof(buf);
		if ((r = q->meta->put(q->meta, txn, &key, &data, 0)) != 0)
			return r;
		*ver = SPOOL_VERSION;
		return 0;
	}
	if (r == DB_BUFFER_SMALL) {
		*ver = UINT32_MAX;	/* not ours: refuse */
		return 0;
	}
	if (r != 0)
		return r;
	*ver = data.size == 4 ? (uint32_t)get_be64(buf, 4) : UINT32_MAX;
	return 0;
}

static int
check_version(struct queue *q, char *err, size_t errlen)
{
	DB_TXN		*txn;
	uint32_t	 ver = 0;
	int		 r;

	if ((r = q->env->txn_begin(q->env, NULL, &txn, 0)) != 0) {
		snprintf(err, errlen, "txn_begin: %s", db_strerror(r));
		return -1;
	}
	if ((r = meta_version(q, txn, &ver)) != 0) {
		(void)txn->abort(txn);
		snprintf(err, errlen, "spool format version: %s",
		    db_strerror(r));
		return -1;
	}
	if ((r = txn->commit(txn, DB_TXN_SYNC)) != 0) {
		snprintf(err, errlen, "spool format version: %s",
		    db_strerror(r));
		return -1;
	}
	if (ver == 0 || ver > SPOOL_VERSION) {
		if (ver == UINT32_MAX || ver == 0)
			snprintf(err, errlen, "spool %s: unreadable format "
			    "version record", q->dir);
		else
			snprintf(err, errlen, "spool %s has format version %u, "
			    "newer than the %u this release understands; "
			    "refusing to open it", q->dir, ver, SPOOL_VERSION);
		return -1;
	}
	/* Later releases migrate here, from ver up to SPOOL_VERSION. */
	return 0;
}

/* The newest id time already used: the last message id or the meta note. */
static uint64_t
ids_last_time(struct queue *q)
{
	DBC		*c;
	DBT		 key, data;
	char		 id[QUEUE_ID_MAX];
	uint8_t		 buf[8];
	uint64_t	 t = 0, us;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = id;
	key.ulen = sizeof(id) - 1;
	key.flags = DB_DBT_USERMEM;
	data.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;
	if (q->msgs->cursor(q->msgs, NULL, &c, 0) == 0) {
		if (c->get(c, &key, &data, DB_LAST) == 0) {
			id[key.size] = '\0';
			if (queue_record_id_time(id, &us) == 0)
				t = us;
		}
		(void)c->close(c);
	}
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)meta_idtime_key;
	key.size = strlen(meta_idtime_key);
	data.data = buf;
	data.ulen = sizeof(buf);
	data.flags = DB_DBT_USERMEM;
	if (q->meta->get(q->meta, NULL, &key, &data, 0) == 0 &&
	    data.size == 8 && get_be64(buf, 8) > t)
		t = get_be64(buf, 8);
	return t;
}

static void
ids_save_time(struct queue *q)
{
	DBT	key, data;
	uint8_t	buf[8];
	int	r;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	put_be64(buf, q->id_last_us);
	key.data = (void *)meta_idtime_key;
	key.size = strlen(meta_idtime_key);
	data.data = buf;
	data.size = sizeof(buf);
	if ((r = q->meta->put(q->meta, NULL, &key, &data, 0)) != 0)
		log_warnx("queue: saving the last id time: %s", db_strerror(r));
}

static uint64_t
ids_random(struct queue *q)
{
	/* xorshift64*: ids need to be unlikely to collide, not secret. */
	q->id_rnd ^= q->id_rnd >> 12;
	q->id_rnd ^= q->id_rnd << 25;
	q->id_rnd ^= q->id_rnd >> 27;
	return q->id_rnd * 0x2545f4914f6cdd1dULL;
}

static void
ids_init(struct queue *q)
{
	uint64_t seed = 0;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	q->id_rnd = seed != 0 ? seed : 0x9e3779b97f4a7c15ULL;
	q->id_last_us = ids_last_time(q);
	q->id_ctr = IDCTR_MAX;	/* the next id moves past the stored time */
}

void
queue_new_id(struct queue *q, char id[QUEUE_ID_MAX])
{
	struct timespec	ts;
	uint64_t	now;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		fatal("queue_new_id: clock_gettime");
	now = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	if (now > q->id_last_us) {
		q->id_last_us = now;
		q->id_ctr = (uint32_t)(ids_random(q) & IDCTR_RANDOM_MASK);
	} else if (q->id_ctr >= IDCTR_MAX) {
		/* Same microsecond (or the clock went back): step ahead. */
		q->id_last_us++;
		q->id_ctr = (uint32_t)(ids_random(q) & IDCTR_RANDOM_MASK);
	} else
		q->id_ctr++;
	queue_record_make_id(q->id_last_us, q->id_ctr, id);
}

static void
queue_on_ckpt(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	queue_store_checkpoint(arg);
}

static int
events_setup(struct queue *q, char *err, size_t errlen)
{
	struct timeval	tv = { CHECKPOINT_SECS, 0 };
	char		host[256];
	uint64_t	seed = 0;

	if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
		strutil_lcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	q->hostname = xstrdup(host);
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	q->jitter_state = seed;

	q->ev_ckpt = event_new(q->base, -1, EV_PERSIST, queue_on_ckpt, q);
	if (q->ev_ckpt == NULL || event_add(q->ev_ckpt, &tv) == -1) {
		snprintf(err, errlen, "checkpoint timer: event_new/event_add");
		return -1;
	}
	return 0;
}

static void
queue_free(struct queue *q)
{
	DB	*dbs[5] = { q->msgs, q->bodies, q->sched, q->meta, q->tls };
	size_t	 i;
	int	 r;

	if (q->thread_started || q->flusher_started || q->ckpter_started)
		queue_store_stop(q);
	for (i = 0; i < 5; i++)
		if (dbs[i] != NULL && (r = dbs[i]->close(dbs[i], 0)) != 0)
			log_warnx("queue: closing a database: %s",
			    db_strerror(r));
	if (q->env != NULL && (r = q->env->close(q->env, 0)) != 0)
		log_warnx("queue: closing the environment: %s", db_strerror(r));
	if (q->ev_ckpt != NULL)
		event_free(q->ev_ckpt);
	if (q->ev_done != NULL)
		event_free(q->ev_done);
	queue_ready_free(q);
	free(q->hostname);
	pthread_mutex_destroy(&q->mtx);
	pthread_cond_destroy(&q->cond);
	pthread_cond_destroy(&q->fcond);
	pthread_cond_destroy(&q->ccond);
	if (q->lockfd != -1)
		(void)close(q->lockfd);	/* releases the lock */
	free(q->chunkbuf);
	free(q->retry);
	free(q->dir);
	free(q);
}

/*
 * The regions are private to this process, so nothing else would stop a
 * second process from opening (and recovering) the spool under our feet.
 */
static int
lock_setup(struct queue *q, char *err, size_t errlen)
{
	char *path;

	xasprintf(&path, "%s/spool.lock", q->dir);
	q->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (q->lockfd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	if (flock(q->lockfd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			snprintf(err, errlen, "spool %s is in use by another "
			    "process", q->dir);
		else
			snprintf(err, errlen, "spool %s: flock: %s", q->dir,
			    strerror(errno));
		return -1;
	}
	return 0;
}

static int
dir_setup(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "spool directory %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "spool directory %s: %s", dir,
		    errno ? strerror(errno) : "not a directory");
		return -1;
	}
	return 0;
}

/* The totals of queue_counts(), by one walk before the threads start. */
static int
counts_setup(struct queue *q, char *err, size_t errlen)
{
	enum queue_status s;

	if ((s = queue_counts_init(q)) != QUEUE_OK) {
		snprintf(err, errlen, "spool %s: counting the messages: %s",
		    q->dir, queue_strstatus(s));
		return -1;
	}
	return 0;
}

struct queue *
queue_open(struct event_base *base, const struct queue_params *p, char *err,
    size_t errlen)
{
	struct queue	*q;

	if (p->dir == NULL || *p->dir == '\0') {
		snprintf(err, errlen, "no spool directory");
		return NULL;
	}
	errno = 0;
	if (dir_setup(p->dir, err, errlen) == -1)
		return NULL;
	q = xcalloc(1, sizeof(*q));
	q->base = base;
	q->dir = xstrdup(p->dir);
	q->lockfd = -1;
	q->lifetime = p->lifetime;
	if (p->nretry > 0 && p->retry != NULL) {
		q->retry = xreallocarray(NULL, p->nretry, sizeof(*q->retry));
		memcpy(q->retry, p->retry, p->nretry * sizeof(*q->retry));
		q->nretry = p->nretry;
	}
	if (pthread_mutex_init(&q->mtx, NULL) != 0 ||
	    pthread_cond_init(&q->cond, NULL) != 0 ||
	    pthread_cond_init(&q->fcond, NULL) != 0 ||
	    pthread_cond_init(&q->ccond, NULL) != 0)
		fatalx("queue_open: pthread init");
	TAILQ_INIT(&q->pending);
	TAILQ_INIT(&q->committed);
	TAILQ_INIT(&q->done);
	if (lock_setup(q, err, errlen) == -1 ||
	    env_setup(q, err, errlen) == -1 ||
	    db_setup(q, &q->meta, "meta.db", 0, err, errlen) == -1 ||
	    check_version(q, err, errlen) == -1 ||
	    db_setup(q, &q->msgs, "messages.db", 0, err, errlen) == -1 ||
	    db_setup(q, &q->bodies, "bodies.db", BODY_PAGE_BYTES, err, errlen) == -1 ||
	    db_setup(q, &q->sched, "schedule.db", 0, err, errlen) == -1 ||
	    db_setup(q, &q->tls, "tlsrpt.db", 0, err, errlen) == -1 ||
	    events_setup(q, err, errlen) == -1 ||
	    counts_setup(q, err, errlen) == -1 ||
	    queue_store_start(q, err, errlen) == -1) {
		queue_free(q);
		return NULL;
	}
	ids_init(q);
	log_debug("queue: spool %s open", q->dir);
	return q;
}

void
queue_close(struct queue *q)
{
	int r;

	if (q == NULL)
		return;
	queue_store_stop(q);
	ids_save_time(q);
	if ((r = q->env->log_flush(q->env, NULL)) != 0)
		log_warnx("queue: log flush at close: %s", db_strerror(r));
	queue_free(q);
}
