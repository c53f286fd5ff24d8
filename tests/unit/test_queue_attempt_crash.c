/*
 * test_queue_attempt_crash.c: delivery results under SIGKILL. A child opens
 * the spool, takes a message, records an attempt (one recipient deferred,
 * one bounced, so a DSN is queued in the same transaction) and kills
 * itself; the parent reopens the spool (recovery) and checks what a crash
 * may cause: the attempt is all there or not at all (a redelivery, never a
 * loss), and once a later log flush has run it is there for good.
 */
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "queue/queue.h"
#include "tests/tap.h"
#include "tests/unit/test_queue_fixture.h"

#define BODY	"Subject: figures\r\n\r\nHello.\r\n"

static const char *two[] = { "a@d1.test", "b@d2.test" };

enum after { AFTER_NOTHING, AFTER_FLUSH, AFTER_RESULT_FLUSH };

static struct qf	f;
static char		id[QUEUE_ID_MAX];

static int
reopen(struct qf *t)
{
	struct queue_params	p;
	char			err[256];

	if ((t->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	memset(&p, 0, sizeof(p));
	p.dir = t->dir;
	p.lifetime = 86400;
	if ((t->q = queue_open(t->base, &p, err, sizeof(err))) == NULL) {
		diag("queue_open: %s", err);
		return -1;
	}
	return 0;
}

/* Poll, with a deadline, for the flush thread's flush of results. */
static int
results_flushed(struct queue *q)
{
	struct queue_stats	st;
	struct timespec		ts = { 0, 1000000 };
	time_t			deadline = time(NULL) + 30;

	do {
		queue_stats(q, &st);
		if (st.result_flushes > 0)
			return st.flushes == 0;
		(void)nanosleep(&ts, NULL);
	} while (time(NULL) < deadline);
	return 0;
}

/* The child: record the attempt, maybe wait for a log flush, then die. */
static void
child(enum after after)
{
	struct queue_rcpt_result r[2] = {
		{ 0, QUEUE_RCPT_DEFERRED, "451 4.4.1 no answer", NULL },
		{ 1, QUEUE_RCPT_BOUNCED, "550 5.1.1 no such user", "mx.d2.test[192.0.2.9]" },
	};
	char	ids[2][QUEUE_ID_MAX], mark[QUEUE_ID_MAX];

	if (reopen(&f) == -1)
		_exit(2);
	if (queue_take_due(f.q, time(NULL) + 1, ids, 2) != 1)
		_exit(3);
	if (queue_record_attempt(f.q, id, r, 2, time(NULL)) != QUEUE_OK)
		_exit(4);
	/* A submission's group commit flushes the log, ours included. */
	if (after == AFTER_FLUSH &&
	    qf_submit(&f, mark, "m@example.test", two, 1, BODY, time(NULL)) !=
	    QUEUE_OK)
		_exit(5);
	/* The flush that record_attempt asked for, and no other. */
	if (after == AFTER_RESULT_FLUSH && !results_flushed(f.q))
		_exit(7);
	(void)raise(SIGKILL);
	_exit(6);
}

/* 1: the attempt is there, 0: not at all, -1: in part (a broken spool). */
static int
attempt_state(struct qf *t)
{
	struct queue_msg_info	*m = qf_info(t, id);
	char			 dsn[QUEUE_ID_MAX];
	int			 has_dsn = qf_find_dsn(t, dsn), state = -1;

	if (m == NULL)
		return -1;	/* a loss */
	if (m->rcpts[0].state == QUEUE_RCPT_PENDING &&
	    m->rcpts[1].state == QUEUE_RCPT_PENDING &&
	    m->rcpts[0].attempts == 0 && !has_dsn)
		state = 0;
	else if (m->rcpts[0].state == QUEUE_RCPT_DEFERRED &&
	    m->rcpts[1].state == QUEUE_RCPT_BOUNCED &&
	    m->rcpts[0].attempts == 1 && has_dsn)
		state = 1;
	queue_info_free(m);
	return state;
}

static int
run(enum after after)
{
	pid_t	pid;
	int	status, state;

	if (qf_init(&f, 86400, NULL, 0) == -1)
		fatalx("spool");
	if (qf_submit(&f, id, "s@example.test", two, 2, BODY, time(NULL)) !=
	    QUEUE_OK)
		fatalx("submit");
	queue_close(f.q);
	event_base_free(f.base);
	fflush(stdout);
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0)
		child(after);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			fatal("waitpid");
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		diag("child: status %d", status);
	if (reopen(&f) == -1)
		fatalx("reopen");
	state = attempt_state(&f);
	qf_fini(&f);
	return state;
}

int
main(void)
{
	int s;

	log_init("test_queue_attempt_crash", LOG_DEST_STDERR, LOG_LVL_WARN);
	s = run(AFTER_NOTHING);
	ok(s == 0 || s == 1, "crash right after record_attempt: the message is "
	    "there, with all of the attempt or none of it (never a loss)");
	diag("crash right after record_attempt: attempt %s",
	    s == 1 ? "kept" : s == 0 ? "forgotten (redelivery)" : "broken");
	s = run(AFTER_FLUSH);
	is_int(s, 1, "crash after a later log flush: results and DSN are kept");
	s = run(AFTER_RESULT_FLUSH);
	is_int(s, 1, "crash after the flush record_attempt asks for: results and "
	    "DSN are kept");
	return tap_done();
}
