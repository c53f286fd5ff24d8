/*
 * control_queue.c: the queue commands of the control socket, on top of
 * queue/queue.h only: queue.list, queue.show, queue.cat, queue.delete,
 * queue.hold, queue.release and queue.flush.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/base64.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/queue.h"
#include "relay/control.h"
#include "relay/control_queue.h"

#define CQ_S(s)	control_json_string(s)

static json_t *
cq_rcpt_json(const struct queue_rcpt_info *r)
{
	return json_pack("{s:o, s:s, s:I, s:o}", "addr", CQ_S(r->addr),
	    "state", queue_strstate(r->state), "attempts", (json_int_t)r->attempts,
	    "last_reason", CQ_S(r->last_reason));
}

/* A message's envelope; full adds where it came from. */
static json_t *
cq_msg_json(const struct queue_msg_info *m, int full)
{
	json_t	*o, *rcpts, *r;
	size_t	 i;

	if ((rcpts = json_array()) == NULL)
		fatalx("cq_msg_json: out of memory");
	for (i = 0; i < m->nrcpts; i++) {
		if ((r = cq_rcpt_json(&m->rcpts[i])) == NULL)
			fatalx("cq_msg_json: json_pack failed");
		json_array_append_new(rcpts, r);
	}
	o = json_pack("{s:o, s:o, s:I, s:I, s:b, s:I, s:b, s:b, s:o}",
	    "id", CQ_S(m->id), "sender", CQ_S(m->sender), "size", (json_int_t)m->size,
	    "arrival", (json_int_t)m->arrival, "held", m->held,
	    "next_attempt", (json_int_t)m->next_attempt,
	    "8bitmime", (m->flags & QUEUE_F_8BITMIME) != 0,
	    "smtputf8", (m->flags & QUEUE_F_SMTPUTF8) != 0, "recipients", rcpts);
	if (o == NULL)
		fatalx("cq_msg_json: json_pack failed");
	if (full) {
		json_object_set_new(o, "helo", CQ_S(m->helo));
		json_object_set_new(o, "client_addr", CQ_S(m->client_addr));
		json_object_set_new(o, "auth_user", CQ_S(m->auth_user));
	}
	return o;
}

/* The answer to a queue call that failed, naming the message. */
static void
cq_fail(struct control_request *req, enum queue_status st, const char *id)
{
	if (st == QUEUE_ENOENT && id != NULL)
		control_reply_error(req, "no such message: %.64s", id);
	else
		control_reply_error(req, "queue: %s", queue_strstatus(st));
}

/* The "id" argument, or an error answer and NULL. */
static const char *
cq_id(struct control_request *req, const json_t *args)
{
	const char *id = control_arg_string(args, "id");

	if (id == NULL || *id == '\0') {
		control_reply_error(req, "%s needs an \"id\"", control_request_cmd(req));
		return NULL;
	}
	if (strlen(id) >= QUEUE_ID_MAX) {
		control_reply_error(req, "no such message: %.64s", id);
		return NULL;
	}
	return id;
}

struct cq_list {
	json_t		*msgs;
	uint64_t	 bytes;
	size_t		 n, limit;
	int		 truncated;
};

static int
cq_list_one(const struct queue_msg_info *m, void *arg)
{
	struct cq_list *l = arg;

	if (l->n >= l->limit) {
		l->truncated = 1;
		return 1;
	}
	json_array_append_new(l->msgs, cq_msg_json(m, 0));
	l->bytes += m->size;
	l->n++;
	return 0;
}

static void
cq_list(struct control_request *req, const json_t *args, void *arg)
{
	struct cq_list		l;
	json_t			*lim = json_object_get(args, "limit");
	enum queue_status	st;

	memset(&l, 0, sizeof(l));
	l.limit = CONTROL_QUEUE_LIST_MAX;
	if (json_is_integer(lim) && json_integer_value(lim) > 0 &&
	    json_integer_value(lim) < CONTROL_QUEUE_LIST_MAX)
		l.limit = (size_t)json_integer_value(lim);
	if ((l.msgs = json_array()) == NULL)
		fatalx("cq_list: out of memory");
	if ((st = queue_list(arg, cq_list_one, &l)) != QUEUE_OK) {
		json_decref(l.msgs);
		cq_fail(req, st, NULL);
		return;
	}
	control_reply(req, json_pack("{s:o, s:I, s:I, s:b}", "messages", l.msgs,
	    "count", (json_int_t)l.n, "bytes", (json_int_t)l.bytes,
	    "truncated", l.truncated));
}

/* The stored message, or NULL after answering the error. */
static struct evbuffer *
cq_body(struct control_request *req, struct queue *q, const char *id)
{
	struct evbuffer		*buf;
	enum queue_status	 st;

	if ((buf = evbuffer_new()) == NULL)
		fatalx("cq_body: out of memory");
	if ((st = queue_body(q, id, buf)) != QUEUE_OK) {
		evbuffer_free(buf);
		cq_fail(req, st, id);
		return NULL;
	}
	return buf;
}

/* A JSON string when the bytes are UTF-8, else base64 under key_b64. */
static void
cq_set_text(json_t *o, const char *key, const char *key_b64, const char *p, size_t len)
{
	json_t	*s;
	char	*b64;

	if ((s = json_stringn(p, len)) != NULL) {
		json_object_set_new(o, key, s);
		return;
	}
	b64 = base64_encode(p, len);
	json_object_set_new(o, key_b64, json_string(b64));
	free(b64);
}

static void
cq_show(struct control_request *req, const json_t *args, void *arg)
{
	struct queue_msg_info	*m;
	struct evbuffer		*buf;
	struct evbuffer_ptr	 end;
	const char		*id, *p;
	enum queue_status	 st;
	size_t			 len;
	json_t			*o;

	if ((id = cq_id(req, args)) == NULL)
		return;
	if ((st = queue_info(arg, id, &m)) != QUEUE_OK) {
		cq_fail(req, st, id);
		return;
	}
	o = cq_msg_json(m, 1);
	queue_info_free(m);
	if ((buf = cq_body(req, arg, id)) == NULL) {
		json_decref(o);
		return;
	}
	/* The header section: up to and with the first empty line. */
	end = evbuffer_search(buf, "\r\n\r\n", 4, NULL);
	len = end.pos >= 0 ? (size_t)end.pos + 2 : evbuffer_get_length(buf);
	if (len > CONTROL_QUEUE_HEADERS_MAX)
		len = CONTROL_QUEUE_HEADERS_MAX;
	if ((p = (const char *)evbuffer_pullup(buf, (ssize_t)len)) == NULL && len > 0)
		fatalx("cq_show: evbuffer_pullup");
	cq_set_text(o, "headers", "headers_base64", p, len);
	json_object_set_new(o, "headers_truncated", json_boolean(end.pos < 0 ||
	    (size_t)end.pos + 2 > CONTROL_QUEUE_HEADERS_MAX));
	evbuffer_free(buf);
	control_reply(req, o);
}

static void
cq_cat(struct control_request *req, const json_t *args, void *arg)
{
	struct evbuffer	*buf;
	const char	*id, *p;
	size_t		 len;
	json_t		*o;

	if ((id = cq_id(req, args)) == NULL || (buf = cq_body(req, arg, id)) == NULL)
		return;
	if ((len = evbuffer_get_length(buf)) > CONTROL_QUEUE_CAT_MAX) {
		evbuffer_free(buf);
		control_reply_error(req, "message %s is too large to show (%zu bytes; at "
		    "most %d)", id, len, CONTROL_QUEUE_CAT_MAX);
		return;
	}
	if ((p = (const char *)evbuffer_pullup(buf, -1)) == NULL && len > 0)
		fatalx("cq_cat: evbuffer_pullup");
	o = json_pack("{s:s, s:I}", "id", id, "size", (json_int_t)len);
	cq_set_text(o, "message", "message_base64", p != NULL ? p : "", len);
	evbuffer_free(buf);
	control_reply(req, o);
}

/* delete, hold, release: one message by id. */
static void
cq_change(struct control_request *req, const json_t *args, struct queue *q,
    enum queue_status (*fn)(struct queue *, const char *), const char *what)
{
	const char		*id;
	enum queue_status	 st;

	if ((id = cq_id(req, args)) == NULL)
		return;
	if ((st = fn(q, id)) != QUEUE_OK) {
		cq_fail(req, st, id);
		return;
	}
	log_info("%s: %s by stsrelayctl", id, what);
	control_reply(req, json_pack("{s:s}", "id", id));
}

static void
cq_delete(struct control_request *req, const json_t *args, void *arg)
{
	cq_change(req, args, arg, queue_delete, "deleted");
}

static void
cq_hold(struct control_request *req, const json_t *args, void *arg)
{
	cq_change(req, args, arg, queue_hold, "held");
}

static void
cq_release(struct control_request *req, const json_t *args, void *arg)
{
	cq_change(req, args, arg, queue_release, "released");
}

static void
cq_flush(struct control_request *req, const json_t *args, void *arg)
{
	const char		*id = NULL;
	enum queue_status	 st;

	if (json_object_get(args, "id") != NULL && (id = cq_id(req, args)) == NULL)
		return;
	if ((st = queue_flush(arg, id)) != QUEUE_OK) {
		cq_fail(req, st, id);
		return;
	}
	log_info("%s: flushed by stsrelayctl", id != NULL ? id : "queue");
	control_reply(req, id != NULL ? json_pack("{s:s}", "id", id) : NULL);
}

void
control_queue_register(struct control *ctl, struct queue *q)
{
	static const struct {
		const char	*name;
		control_handler	 fn;
	} cmds[] = {
		{ "queue.list", cq_list },
		{ "queue.show", cq_show },
		{ "queue.cat", cq_cat },
		{ "queue.delete", cq_delete },
		{ "queue.hold", cq_hold },
		{ "queue.release", cq_release },
		{ "queue.flush", cq_flush },
	};
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (control_register(ctl, cmds[i].name, cmds[i].fn, q) == -1)
			fatalx("control_queue_register: %s registered twice", cmds[i].name);
}
