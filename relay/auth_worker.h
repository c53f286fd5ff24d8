/*
 * auth_worker.h: password verification off the event loop. crypt(3) with
 * yescrypt or sha512-crypt costs milliseconds per attempt, during which no
 * other session could be served; a few threads do it instead and post each
 * result back to the loop, where the caller's callback runs. The number of
 * verifications queued or running is bounded.
 */
#ifndef RELAY_AUTH_WORKER_H
#define RELAY_AUTH_WORKER_H

#include <stddef.h>

struct auth;
struct auth_job;
struct auth_worker;
struct event_base;

/* Runs on the loop thread with the verdict: 1 the password matches, else 0. */
typedef void	(*auth_worker_cb)(void *arg, int ok);

/*
 * nthreads threads verify against a (which must outlive the worker) at
 * most max_jobs at a time. libevent's pthreads support must be on
 * (evthread_use_pthreads() before the base was created).
 */
struct auth_worker *auth_worker_new(struct event_base *, const struct auth *a,
		    size_t nthreads, size_t max_jobs);
/* Waits for the threads; callbacks not yet run never run. */
void		 auth_worker_free(struct auth_worker *);
/*
 * Queue a verification of user and pass (copied; the copy of pass is wiped
 * once used). cb(arg, ok) runs later on the loop thread, never from inside
 * this call. NULL when max_jobs verifications are pending already.
 */
struct auth_job	*auth_worker_query(struct auth_worker *, const char *user, const char *pass,
		    auth_worker_cb cb, void *arg);
/* The caller is gone: its callback never runs. Loop thread only. */
void		 auth_worker_cancel(struct auth_worker *, struct auth_job *);
/* Verifications queued, running or with their result not yet delivered. */
size_t		 auth_worker_pending(struct auth_worker *);
/* For tests: hold the threads before they take another job (1), or let them go (0). */
void		 auth_worker_hold(struct auth_worker *, int hold);

#endif
