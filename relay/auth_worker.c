/*
 * auth_worker.c: see auth_worker.h. Jobs move queued -> running -> done
 * under one mutex; the threads take queued jobs, and an event on the base,
 * activated from a thread, hands the done ones to the loop. A cancelled job
 * is freed at once if still queued, else when its result arrives.
 */
#include <sys/queue.h>

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/auth.h"
#include "relay/auth_worker.h"

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct auth_job {
	TAILQ_ENTRY(auth_job)	 entry;
	enum job_state		 state;
	int			 cancelled;	/* loop thread only */
	int			 ok;
	auth_worker_cb		 cb;
	void			*arg;
	char			 user[AUTH_FIELD_MAX];
	char			 pass[AUTH_FIELD_MAX];
};

TAILQ_HEAD(job_list, auth_job);

struct auth_worker {
	const struct auth	*auth;
	struct event		*ev_done;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	pthread_t		*threads;
	size_t			 nthreads;
	size_t			 max_jobs;
	size_t			 njobs;		/* queued + running + done */
	int			 stop;
	int			 hold;
	struct job_list		 queued;
	struct job_list		 done;
};

static void
lock(struct auth_worker *w)
{
	if (pthread_mutex_lock(&w->mtx) != 0)
		fatalx("auth_worker: pthread_mutex_lock failed");
}

static void
unlock(struct auth_worker *w)
{
	if (pthread_mutex_unlock(&w->mtx) != 0)
		fatalx("auth_worker: pthread_mutex_unlock failed");
}

static void
job_free(struct auth_job *j)
{
	explicit_bzero(j, sizeof(*j));
	free(j);
}

static void *
worker_main(void *arg)
{
	struct auth_worker	*w = arg;
	struct auth_job		*j;
	int			 ok;

	lock(w);
	for (;;) {
		while (!w->stop && (w->hold || TAILQ_EMPTY(&w->queued)))
			if (pthread_cond_wait(&w->cond, &w->mtx) != 0)
				fatalx("worker_main: pthread_cond_wait failed");
		if (w->stop)
			break;
		j = TAILQ_FIRST(&w->queued);
		TAILQ_REMOVE(&w->queued, j, entry);
		j->state = JOB_RUNNING;
		unlock(w);
		/* a running job is never freed by anyone else: no lock needed */
		ok = auth_verify(w->auth, j->user, j->pass);
		explicit_bzero(j->pass, sizeof(j->pass));
		lock(w);
		j->ok = ok;
		j->state = JOB_DONE;
		TAILQ_INSERT_TAIL(&w->done, j, entry);
		event_active(w->ev_done, EV_READ, 0);
	}
	unlock(w);
	return NULL;
}

/* On the loop thread: deliver every finished job. */
static void
worker_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct auth_worker	*w = arg;
	struct job_list		 list;
	struct auth_job		*j;

	TAILQ_INIT(&list);
	lock(w);
	TAILQ_CONCAT(&list, &w->done, entry);
	unlock(w);
	/* a callback may cancel a job further down the list: it is only marked */
	while ((j = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, j, entry);
		lock(w);
		if (w->njobs == 0)
			fatalx("worker_on_done: job count underflow");
		w->njobs--;
		unlock(w);
		if (!j->cancelled)
			j->cb(j->arg, j->ok);
		job_free(j);
	}
}

struct auth_worker *
auth_worker_new(struct event_base *base, const struct auth *a, size_t nthreads,
    size_t max_jobs)
{
	struct auth_worker	*w;
	sigset_t		 all, old;
	size_t			 i;

	if (nthreads == 0 || max_jobs == 0)
		fatalx("auth_worker_new: no threads or no jobs");
	w = xcalloc(1, sizeof(*w));
	w->auth = a;
	w->max_jobs = max_jobs;
	TAILQ_INIT(&w->queued);
	TAILQ_INIT(&w->done);
	if (pthread_mutex_init(&w->mtx, NULL) != 0 || pthread_cond_init(&w->cond, NULL) != 0)
		fatalx("auth_worker_new: cannot initialise the lock");
	if ((w->ev_done = event_new(base, -1, 0, worker_on_done, w)) == NULL)
		fatalx("auth_worker_new: event_new failed");
	w->threads = xcalloc(nthreads, sizeof(*w->threads));
	/* signals are the loop's business: the threads start with all blocked */
	if (sigfillset(&all) != 0 || pthread_sigmask(SIG_SETMASK, &all, &old) != 0)
		fatalx("auth_worker_new: cannot block signals");
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0) {
			log_warnx("auth_worker_new: cannot start thread %zu", i);
			break;
		}
		w->nthreads++;
	}
	if (pthread_sigmask(SIG_SETMASK, &old, NULL) != 0)
		fatalx("auth_worker_new: cannot restore the signal mask");
	if (w->nthreads == 0)
		fatalx("auth_worker_new: no verification thread");
	return w;
}

void
auth_worker_free(struct auth_worker *w)
{
	struct auth_job	*j;
	size_t		 i;

	if (w == NULL)
		return;
	lock(w);
	w->stop = 1;
	if (pthread_cond_broadcast(&w->cond) != 0)
		fatalx("auth_worker_free: pthread_cond_broadcast failed");
	unlock(w);
	for (i = 0; i < w->nthreads; i++)
		if (pthread_join(w->threads[i], NULL) != 0)
			fatalx("auth_worker_free: pthread_join failed");
	while ((j = TAILQ_FIRST(&w->queued)) != NULL) {
		TAILQ_REMOVE(&w->queued, j, entry);
		job_free(j);
	}
	while ((j = TAILQ_FIRST(&w->done)) != NULL) {
		TAILQ_REMOVE(&w->done, j, entry);
		job_free(j);
	}
	event_free(w->ev_done);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->mtx);
	free(w->threads);
	free(w);
}

struct auth_job *
auth_worker_query(struct auth_worker *w, const char *user, const char *pass,
    auth_worker_cb cb, void *arg)
{
	struct auth_job	*j;

	lock(w);
	if (w->njobs >= w->max_jobs) {
		unlock(w);
		return NULL;
	}
	w->njobs++;
	unlock(w);
	j = xcalloc(1, sizeof(*j));
	strutil_lcpy(j->user, user, sizeof(j->user));
	strutil_lcpy(j->pass, pass, sizeof(j->pass));
	j->cb = cb;
	j->arg = arg;
	j->state = JOB_QUEUED;
	lock(w);
	TAILQ_INSERT_TAIL(&w->queued, j, entry);
	if (pthread_cond_signal(&w->cond) != 0)
		fatalx("auth_worker_query: pthread_cond_signal failed");
	unlock(w);
	return j;
}

void
auth_worker_cancel(struct auth_worker *w, struct auth_job *j)
{
	lock(w);
	if (j->state == JOB_QUEUED) {
		TAILQ_REMOVE(&w->queued, j, entry);
		if (w->njobs == 0)
			fatalx("auth_worker_cancel: job count underflow");
		w->njobs--;
		unlock(w);
		job_free(j);
		return;
	}
	j->cancelled = 1;
	unlock(w);
}

size_t
auth_worker_pending(struct auth_worker *w)
{
	size_t n;

	lock(w);
	n = w->njobs;
	unlock(w);
	return n;
}

void
auth_worker_hold(struct auth_worker *w, int hold)
{
	lock(w);
	w->hold = hold;
	if (pthread_cond_broadcast(&w->cond) != 0)
		fatalx("auth_worker_hold: pthread_cond_broadcast failed");
	unlock(w);
}
