/*
 * test_queue_crash.c: durability under SIGKILL. A child submits messages
 * with many in flight and writes each id to a pipe once its callback said
 * QUEUE_OK; the parent kills it at several points, reopens the spool (which
 * runs recovery) and checks that every acknowledged message is there with
 * its exact body, and that every message there is complete.
 */
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "common/log.h"
#include "queue/queue.h"
#include "tests/tap.h"

#define INFLIGHT	64
#define MAXACKS		20000

struct child {
	struct queue	*q;
	int		 fd;
	uint8_t		*buf;
};

static char	 acked[MAXACKS][QUEUE_ID_MAX];
static size_t	 nacked;

/* The body of a message follows from its id, so either side can rebuild it. */
static size_t
body_for(const char *id, uint8_t *out)
{
	uint64_t	h = 1469598103934665603ULL, x;
	size_t		len, i;

	for (; *id != '\0'; id++)
		h = (h ^ (uint8_t)*id) * 1099511628211ULL;
	len = h % 9 == 0 ? (h >> 8) % 200000 : (h >> 8) % 6000;
	x = h | 1;
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		out[i] = (uint8_t)x;
	}
	return len;
}

static void child_submit(struct child *);

static void
child_on_commit(enum queue_status s, void *arg)
{
	char		*id = arg;
	struct child	*c = *(struct child **)(id + QUEUE_ID_MAX);
	char		 line[QUEUE_ID_MAX + 1];
	size_t		 n = strlen(id);

	if (s == QUEUE_OK) {
		memcpy(line, id, n);
		line[n] = '\n';
		if (write(c->fd, line, n + 1) != (ssize_t)(n + 1))
			_exit(3);
	}
	free(id);
	child_submit(c);
}

static void
child_submit(struct child *c)
{
	static const char	*r[] = { "a@x.test", "b@y.test" };
	struct queue_envelope	 e;
	struct evbuffer		*b = evbuffer_new();
	char			*id = calloc(1, QUEUE_ID_MAX + sizeof(c));

	memcpy(id + QUEUE_ID_MAX, &c, sizeof(c));
	queue_new_id(c->q, id);
	memset(&e, 0, sizeof(e));
	e.id = id;
	e.sender = "s@x.test";
	e.rcpts = r;
	e.nrcpts = 2;
	e.arrival = time(NULL);
	evbuffer_add(b, c->buf, body_for(id, c->buf));
	queue_submit(c->q, &e, b, child_on_commit, id);
	evbuffer_free(b);
}

static void
child_main(const char *dir, int fd)
{
	struct queue_params	 p = { dir, 86400, NULL, 0 };
	struct event_base	*base;
	struct child		 c;
	char			 err[256];
	int			 i;

	if (evthread_use_pthreads() == -1 || (base = event_base_new()) == NULL)
		_exit(2);
	if ((c.q = queue_open(base, &p, err, sizeof(err))) == NULL) {
		fprintf(stderr, "child: %s\n", err);
		_exit(2);
	}
	c.fd = fd;
	c.buf = malloc(200000);
	for (i = 0; i < INFLIGHT; i++)
		child_submit(&c);
	event_base_dispatch(base);
	_exit(4);
}

/* Read acknowledged ids; stop after want new ones, or at EOF (want 0). */
static size_t
read_acks(int fd, size_t want, char *part, size_t *plen)
{
	struct pollfd	pfd = { fd, POLLIN, 0 };
	time_t		deadline = time(NULL) + 60;
	char		buf[4096];
	ssize_t		n;
	size_t		got = 0, i;

	while ((want == 0 || got < want) && time(NULL) < deadline) {
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		if ((n = read(fd, buf, sizeof(buf))) <= 0)
			break;
		for (i = 0; i < (size_t)n; i++) {
			if (buf[i] != '\n') {
				if (*plen < QUEUE_ID_MAX - 1)
					part[(*plen)++] = buf[i];
				continue;
			}
			part[*plen] = '\0';
			if (nacked < MAXACKS)
				memcpy(acked[nacked++], part, QUEUE_ID_MAX);
			*plen = 0;
			got++;
		}
	}
	return got;
}

struct check {
	struct queue	*q;
	uint8_t		*want;
	size_t		 present, incomplete;
	char		 last[QUEUE_ID_MAX];
	size_t		 disorder;
};

static int
body_matches(struct queue *q, const char *id, uint8_t *want)
{
	struct evbuffer	*out = evbuffer_new();
	size_t		 len = body_for(id, want);
	int		 same;

	same = queue_body(q, id, out) == QUEUE_OK &&
	    evbuffer_get_length(out) == len &&
	    (len == 0 || memcmp(evbuffer_pullup(out, -1), want, len) == 0);
	evbuffer_free(out);
	return same;
}

static int
check_one(const struct queue_msg_info *m, void *arg)
{
	struct check *c = arg;

	c->present++;
	if (strcmp(c->last, m->id) >= 0)
		c->disorder++;
	memcpy(c->last, m->id, QUEUE_ID_MAX);
	if (m->nrcpts != 2 || !body_matches(c->q, m->id, c->want))
		c->incomplete++;
	return 0;
}

static void
check_spool(const char *dir, size_t round)
{
	struct queue_params	 p = { dir, 86400, NULL, 0 };
	struct event_base	*base = event_base_new();
	struct check		 c;
	char			 err[256], name[128];
	size_t			 i, missing = 0;

	memset(&c, 0, sizeof(c));
	c.want = malloc(200000);
	c.q = queue_open(base, &p, err, sizeof(err));
	snprintf(name, sizeof(name), "crash %zu: the spool reopens after SIGKILL", round);
	ok(c.q != NULL, name);
	if (c.q == NULL) {
		diag("%s", err);
		goto out;
	}
	for (i = 0; i < nacked; i++)
		if (!body_matches(c.q, acked[i], c.want))
			missing++;
	snprintf(name, sizeof(name), "crash %zu: all %zu acknowledged messages "
	    "present with their exact body", round, nacked);
	is_int(missing, 0, name);
	(void)queue_list(c.q, check_one, &c);
	snprintf(name, sizeof(name), "crash %zu: every present message is "
	    "complete (%zu present)", round, c.present);
	is_int(c.incomplete, 0, name);
	snprintf(name, sizeof(name), "crash %zu: each message present once", round);
	is_int(c.disorder, 0, name);
	queue_close(c.q);
out:
	event_base_free(base);
	free(c.want);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(void)
{
	static const size_t	 kills[] = { 1, 37, 150, 400, 64, 900 };
	char			 top[64] = "/tmp/test_queue_crash.XXXXXX", dir[80];
	char			 part[QUEUE_ID_MAX];
	size_t			 r, plen;
	int			 fds[2], status;
	pid_t			 pid;

	log_init("test_queue_crash", LOG_DEST_STDERR, LOG_LVL_WARN);
	if (evthread_use_pthreads() == -1)
		fatalx("evthread_use_pthreads");
	if (mkdtemp(top) == NULL)
		fatal("mkdtemp");
	snprintf(dir, sizeof(dir), "%s/spool", top);
	for (r = 0; r < sizeof(kills) / sizeof(kills[0]); r++) {
		if (pipe(fds) == -1 || (pid = fork()) == -1)
			fatal("pipe/fork");
		if (pid == 0) {
			close(fds[0]);
			child_main(dir, fds[1]);
		}
		close(fds[1]);
		plen = 0;
		if (read_acks(fds[0], kills[r], part, &plen) < kills[r])
			diag("round %zu: fewer acknowledgements than asked", r);
		if (kill(pid, SIGKILL) == -1)
			fatal("kill");
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
		ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		    "crash: the child died by SIGKILL mid-stream");
		/* Every ack written before the kill counts too. */
		(void)read_acks(fds[0], 0, part, &plen);
		close(fds[0]);
		check_spool(dir, r);
	}
	(void)nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
