/*
 * queue_double.c: an in-memory stand-in for the administration part of
 * queue/queue.h, so that the control socket's tests need no spool.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/xmalloc.h"
#include "queue/queue.h"
#include "tests/unit/queue_double.h"

const char *
queue_strstate(enum queue_rcpt_state s)
{
	static const char *const names[] = { "pending", "delivered", "deferred", "bounced" };

	return (unsigned)s < 4 ? names[s] : "unknown";
}

const char *
queue_strstatus(enum queue_status s)
{
	static const char *const names[] = { "ok", "no such message",
	    "temporary storage failure", "no space left" };

	return (unsigned)s < 4 ? names[s] : "unknown";
}

static struct tq_msg *
tq_find(struct queue *q, const char *id)
{
	size_t i;

	for (i = 0; i < TQ_MAX; i++)
		if (q->msgs[i].used && strcmp(q->msgs[i].id, id) == 0)
			return &q->msgs[i];
	return NULL;
}

static struct queue_msg_info *
tq_info(const struct tq_msg *m)
{
	struct queue_msg_info	*i = xcalloc(1, sizeof(*i));
	size_t			 r;

	strcpy(i->id, m->id);
	i->sender = xstrdup(m->sender);
	i->helo = xstrdup("client.example");
	i->client_addr = xstrdup("127.0.0.1");
	i->auth_user = xstrdup("");
	i->arrival = 1700000000;
	i->size = m->bodylen;
	i->held = m->held;
	i->next_attempt = 1700000300;
	i->nrcpts = m->nrcpts;
	i->rcpts = xcalloc(m->nrcpts, sizeof(*i->rcpts));
	for (r = 0; r < m->nrcpts; r++) {
		i->rcpts[r].addr = xstrdup(m->rcpts[r]);
		i->rcpts[r].state = r == 0 ? QUEUE_RCPT_DEFERRED : QUEUE_RCPT_PENDING;
		i->rcpts[r].attempts = r == 0 ? 3 : 0;
		i->rcpts[r].last_reason = xstrdup(r != 0 ? "" : m->reason != NULL ? m->reason :
		    "4.7.5 certificate not trusted");
	}
	return i;
}

void
queue_info_free(struct queue_msg_info *i)
{
	size_t r;

	if (i == NULL)
		return;
	for (r = 0; r < i->nrcpts; r++) {
		free(i->rcpts[r].addr);
		free(i->rcpts[r].last_reason);
	}
	free(i->rcpts);
	free(i->sender);
	free(i->helo);
	free(i->client_addr);
	free(i->auth_user);
	free(i);
}

enum queue_status
queue_list(struct queue *q, int (*fn)(const struct queue_msg_info *, void *), void *arg)
{
	struct queue_msg_info	*i;
	size_t			 n;
	int			 stop;

	if (q->broken)
		return QUEUE_ETEMP;
	for (n = 0; n < TQ_MAX; n++) {
		if (!q->msgs[n].used)
			continue;
		i = tq_info(&q->msgs[n]);
		stop = fn(i, arg);
		queue_info_free(i);
		if (stop)
			break;
	}
	return QUEUE_OK;
}

enum queue_status
queue_info(struct queue *q, const char *id, struct queue_msg_info **out)
{
	struct tq_msg *m = tq_find(q, id);

	if (m == NULL)
		return QUEUE_ENOENT;
	*out = tq_info(m);
	return QUEUE_OK;
}

enum queue_status
queue_body(struct queue *q, const char *id, struct evbuffer *out)
{
	struct tq_msg *m = tq_find(q, id);

	if (m == NULL)
		return QUEUE_ENOENT;
	evbuffer_add(out, m->body, m->bodylen);
	return QUEUE_OK;
}

enum queue_status
queue_delete(struct queue *q, const char *id)
{
	struct tq_msg *m = tq_find(q, id);

	if (m == NULL)
		return QUEUE_ENOENT;
	m->used = 0;
	return QUEUE_OK;
}

enum queue_status
queue_hold(struct queue *q, const char *id)
{
	struct tq_msg *m = tq_find(q, id);

	if (m == NULL)
		return QUEUE_ENOENT;
	m->held = 1;
	return QUEUE_OK;
}

enum queue_status
queue_release(struct queue *q, const char *id)
{
	struct tq_msg *m = tq_find(q, id);

	if (m == NULL)
		return QUEUE_ENOENT;
	m->held = 0;
	return QUEUE_OK;
}

enum queue_status
queue_flush(struct queue *q, const char *id)
{
	struct tq_msg *m;

	if (id == NULL) {
		q->flushed_all++;
		return QUEUE_OK;
	}
	if ((m = tq_find(q, id)) == NULL)
		return QUEUE_ENOENT;
	m->flushed++;
	return QUEUE_OK;
}

enum queue_status
queue_counts(struct queue *q, struct queue_counts *c)
{
	size_t n;

	if (q->broken)
		return QUEUE_ETEMP;
	memset(c, 0, sizeof(*c));
	for (n = 0; n < TQ_MAX; n++) {
		if (!q->msgs[n].used)
			continue;
		c->messages++;
		c->recipients_pending += q->msgs[n].nrcpts;
		c->held += q->msgs[n].held != 0;
		c->deferred++;
	}
	return QUEUE_OK;
}

void
tq_add(struct queue *q, const char *id, const char *sender, const char *rcpt,
    const char *body, size_t bodylen)
{
	size_t n;

	for (n = 0; n < TQ_MAX && q->msgs[n].used; n++)
		;
	memset(&q->msgs[n], 0, sizeof(q->msgs[n]));
	strcpy(q->msgs[n].id, id);
	q->msgs[n].sender = sender;
	q->msgs[n].rcpts[0] = rcpt;
	q->msgs[n].rcpts[1] = "carol@example.net";
	q->msgs[n].nrcpts = 2;
	q->msgs[n].body = body;
	q->msgs[n].bodylen = bodylen;
	q->msgs[n].used = 1;
}
