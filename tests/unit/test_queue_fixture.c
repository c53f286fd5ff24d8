/* test_queue_fixture.c: see test_queue_fixture.h. */
#include <sys/stat.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "common/log.h"
#include "tests/unit/test_queue_fixture.h"

struct pending {
	int			done;
	enum queue_status	status;
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
qf_init(struct qf *f, uint64_t lifetime, const uint64_t *retry, size_t nretry)
{
	struct queue_params	p;
	char			err[256];
	static int		threads;

	memset(f, 0, sizeof(*f));
	if (!threads && evthread_use_pthreads() == -1)
		fatalx("evthread_use_pthreads");
	threads = 1;
	strcpy(f->dir, "/tmp/test_qdeliv.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		fatal("mkdtemp");
	strcat(f->dir, "/spool");
	if ((f->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	f->lifetime = lifetime;
	f->retry = retry;
	f->nretry = nretry;
	memset(&p, 0, sizeof(p));
	p.dir = f->dir;
	p.lifetime = lifetime;
	p.retry = retry;
	p.nretry = nretry;
	if ((f->q = queue_open(f->base, &p, err, sizeof(err))) == NULL) {
		printf("# queue_open: %s\n", err);
		return -1;
	}
	return 0;
}

void
qf_init_std(struct qf *f)
{
	static const uint64_t	retry[] = { 300, 900, 3600 };

	if (qf_init(f, 5 * 86400, retry, 3) == -1)
		fatalx("qf_init_std: cannot open the spool");
}

int
qf_reopen(struct qf *f)
{
	struct queue_params	p;
	char			err[256];

	memset(&p, 0, sizeof(p));
	p.dir = f->dir;
	p.lifetime = f->lifetime;
	p.retry = f->retry;
	p.nretry = f->nretry;
	if ((f->q = queue_open(f->base, &p, err, sizeof(err))) == NULL)
		printf("# queue_open: %s\n", err);
	return f->q != NULL;
}

void
qf_discard(struct qf *f)
{
	event_base_free(f->base);
	*strrchr(f->dir, '/') = '\0';
	(void)nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void
qf_fini(struct qf *f)
{
	queue_close(f->q);
	event_base_free(f->base);
	*strrchr(f->dir, '/') = '\0';
	(void)nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
qf_run_until(struct qf *f, const int *counter, int want, int secs)
{
	time_t deadline = time(NULL) + secs;

	while (*counter < want && time(NULL) < deadline)
		if (event_base_loop(f->base, EVLOOP_ONCE) == -1)
			return 0;
	return *counter >= want;
}

static void
on_commit(enum queue_status s, void *arg)
{
	struct pending *p = arg;

	p->status = s;
	p->done++;
}

static enum queue_status
submit(struct qf *f, const char *id, const char *sender, const char **rcpts,
    size_t n, const void *body, size_t len, time_t arrival)
{
	struct queue_envelope	 e;
	struct evbuffer		*b = evbuffer_new();
	struct pending		 p = { 0, QUEUE_ETEMP };

	memset(&e, 0, sizeof(e));
	e.id = id;
	e.sender = sender;
	e.rcpts = rcpts;
	e.nrcpts = n;
	e.helo = "client.example.test";
	e.client_addr = "192.0.2.7";
	e.arrival = arrival;
	evbuffer_add(b, body, len);
	queue_submit(f->q, &e, b, on_commit, &p);
	if (evbuffer_get_length(b) != 0)
		printf("# submit: the body buffer was not emptied\n");
	evbuffer_free(b);
	if (!qf_run_until(f, &p.done, 1, 60))
		return QUEUE_ETEMP;
	return p.status;
}

enum queue_status
qf_submit(struct qf *f, char id[QUEUE_ID_MAX], const char *sender,
    const char **rcpts, size_t n, const char *body, time_t arrival)
{
	queue_new_id(f->q, id);
	return submit(f, id, sender, rcpts, n, body, strlen(body), arrival);
}

enum queue_status
qf_submit_id(struct qf *f, const char *id, const char *sender, const char **rcpts,
    size_t n, const void *body, size_t len)
{
	return submit(f, id, sender, rcpts, n, body, len, time(NULL));
}

enum queue_status
qf_simple(struct qf *f, char id[QUEUE_ID_MAX], const char *body)
{
	static const char *r[] = { "rcpt@example.test" };

	return qf_submit(f, id, "s@example.test", r, 1, body, time(NULL));
}

int
qf_body_is(struct qf *f, const char *id, const void *want, size_t len)
{
	struct evbuffer	*out = evbuffer_new();
	int		 same;

	evbuffer_add(out, "x", 1);	/* queue_body appends */
	same = queue_body(f->q, id, out) == QUEUE_OK &&
	    evbuffer_get_length(out) == len + 1 &&
	    memcmp(evbuffer_pullup(out, -1) + 1, want, len) == 0;
	evbuffer_free(out);
	return same;
}

void
qf_on_burst(enum queue_status s, void *arg)
{
	struct qf_burst	*b = arg;

	b->done++;
	if (s == QUEUE_OK)
		b->ok++;
}

DB *
qf_raw_db(struct qf *f, const char *file)
{
	DB	*db;

	if (db_create(&db, queue_dbenv(f->q), 0) != 0)
		return NULL;
	if (db->open(db, NULL, file, NULL, DB_BTREE, DB_AUTO_COMMIT | DB_THREAD,
	    0) != 0) {
		db->close(db, 0);
		return NULL;
	}
	return db;
}

int
qf_raw_put(DB *db, const void *k, size_t klen, const void *d, size_t dlen)
{
	DBT	key, data;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)(uintptr_t)k;
	key.size = (uint32_t)klen;
	data.data = (void *)(uintptr_t)d;
	data.size = (uint32_t)dlen;
	return db->put(db, NULL, &key, &data, DB_AUTO_COMMIT);
}

static void
on_ready(void *arg)
{
	struct qf *f = arg;

	f->ready++;
}

void
qf_count_ready(struct qf *f)
{
	queue_set_on_ready(f->q, on_ready, f);
}

struct queue_msg_info *
qf_info(struct qf *f, const char *id)
{
	struct queue_msg_info *m = NULL;

	if (queue_info(f->q, id, &m) != QUEUE_OK)
		return NULL;
	return m;
}

char *
qf_body(struct qf *f, const char *id, size_t *len)
{
	struct evbuffer	*b = evbuffer_new();
	char		*s = NULL;

	*len = 0;
	if (queue_body(f->q, id, b) == QUEUE_OK) {
		*len = evbuffer_get_length(b);
		s = malloc(*len + 1);
		evbuffer_remove(b, s, *len);
		s[*len] = '\0';
	}
	evbuffer_free(b);
	return s;
}

struct find_ctx {
	char	*id;
	int	 found;
	size_t	 n;
};

static int
find_each(const struct queue_msg_info *m, void *arg)
{
	struct find_ctx *fc = arg;

	fc->n++;
	if (!fc->found && m->sender[0] == '\0') {
		memcpy(fc->id, m->id, QUEUE_ID_MAX);
		fc->found = 1;
	}
	return 0;
}

int
qf_find_dsn(struct qf *f, char id[QUEUE_ID_MAX])
{
	struct find_ctx fc = { id, 0, 0 };

	(void)queue_list(f->q, find_each, &fc);
	return fc.found;
}

size_t
qf_count_messages(struct qf *f)
{
	char		id[QUEUE_ID_MAX];
	struct find_ctx	fc = { id, 0, 0 };

	(void)queue_list(f->q, find_each, &fc);
	return fc.n;
}
