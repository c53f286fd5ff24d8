/* smtp_harness.c: see smtp_harness.h. */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "common/netaddr.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/smtp_server.h"
#include "relay/smtp_session.h"
#include "tests/unit/smtp_harness.h"

/* ---- the fake queue ---- */

struct pending {
	queue_commit_cb		 cb;
	void			*arg;
	enum queue_status	 st;
};

void
queue_new_id(struct queue *q, char id[QUEUE_ID_MAX])
{
	snprintf(id, QUEUE_ID_MAX, "TEST%06u", ++q->counter);
}

const char *
queue_strstatus(enum queue_status st)
{
	switch (st) {
	case QUEUE_OK:
		return "ok";
	case QUEUE_ETEMP:
		return "temporary storage failure";
	case QUEUE_ENOSPC:
		return "no space";
	default:
		return "other";
	}
}

static void
fire(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;

	p->cb(p->st, p->arg);
	free(p);
}

void
queue_submit(struct queue *q, const struct queue_envelope *env, struct evbuffer *body,
    queue_commit_cb cb, void *arg)
{
	struct pending	*p = xcalloc(1, sizeof(*p));
	struct h_msg	*m;
	struct timeval	 tv;
	size_t		 i;

	if (q->status == QUEUE_OK && q->nmsgs < H_MAX_MSGS) {
		m = &q->msgs[q->nmsgs];
		snprintf(m->id, sizeof(m->id), "%s", env->id);
		m->sender = xstrdup(env->sender);
		m->rcpt0 = xstrdup(env->nrcpts > 0 ? env->rcpts[0] : "");
		m->nrcpts = env->nrcpts;
		m->rcpts = xcalloc(env->nrcpts + 1, sizeof(*m->rcpts));
		for (i = 0; i < env->nrcpts; i++)
			m->rcpts[i] = xstrdup(env->rcpts[i]);
		m->flags = env->flags;
		m->auth_user = env->auth_user != NULL ? xstrdup(env->auth_user) : NULL;
		m->len = evbuffer_get_length(body);
		m->body = xcalloc(1, m->len + 1);
		evbuffer_copyout(body, m->body, m->len);
		__atomic_add_fetch(&q->nmsgs, 1, __ATOMIC_SEQ_CST);
	}
	evbuffer_drain(body, evbuffer_get_length(body));
	p->cb = cb;
	p->arg = arg;
	p->st = q->status;
	tv.tv_sec = q->delay_ms / 1000;
	tv.tv_usec = (q->delay_ms % 1000) * 1000;
	if (event_base_once(q->base, -1, EV_TIMEOUT, fire, p, &tv) != 0)
		abort();
}

/* ---- the server on its own thread ---- */

void
h_config(struct config *c)
{
	struct sockaddr_in *sin;

	memset(c, 0, sizeof(*c));
	sin = (struct sockaddr_in *)&c->listen[0].ss;
	sin->sin_family = AF_INET;
	sin->sin_port = 0;	/* the kernel picks a free port */
	inet_pton(AF_INET, "127.0.0.1", &sin->sin_addr);
	c->listen[0].len = sizeof(*sin);
	c->nlisten = 1;
	c->hostname = "relay.test";
	netaddr_cidr_parse("127.0.0.0/8", &c->client_networks[0]);
	c->nclient_networks = 1;
	c->message_size_limit = 100000;
	c->recipient_limit = 100;
	c->max_connections = 100;
	c->max_connections_per_client = 50;
	c->max_received_headers = 50;
	c->timeout_greeting = 30;
	c->timeout_command = 30;
	c->timeout_data = 30;
	c->timeout_tls_handshake = 30;
	c->max_errors = 10;
	c->tls_cert_file = "";
	c->tls_key_file = "";
	c->auth_credentials_file = "";
}

static void *
loop(void *arg)
{
	struct h_server *h = arg;

	event_base_loop(h->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

int
h_start(struct h_server *h, char *err, size_t errlen)
{
	static int		 threads;
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	pthread_t		*t;

	if (!threads++ && evthread_use_pthreads() != 0)
		abort();
	memset(&h->q, 0, sizeof(h->q));
	if ((h->base = event_base_new()) == NULL)
		abort();
	h->q.base = h->base;
	if ((h->srv = smtp_server_new(h->base, &h->cfg, err, errlen)) == NULL) {
		event_base_free(h->base);
		return -1;
	}
	smtp_server_tune(h->srv, &h->tune);
	smtp_server_start(h->srv, &h->q);
	if (smtp_server_listen_addr(h->srv, 0, &ss, &len) != 0)
		abort();
	h->port = netaddr_port((struct sockaddr *)&ss);
	t = xmalloc(sizeof(*t));
	if (pthread_create(t, NULL, loop, h) != 0)
		abort();
	h->thread = t;
	return 0;
}

struct call {
	void		(*fn)(void *);
	void		*arg;
	int		 done;
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cond;
};

static void
call_cb(evutil_socket_t fd, short what, void *arg)
{
	struct call *c = arg;

	c->fn(c->arg);
	pthread_mutex_lock(&c->mtx);
	c->done = 1;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->mtx);
}

void
h_call(struct h_server *h, void (*fn)(void *), void *arg)
{
	struct call	c = { fn, arg, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER };
	struct timeval	tv = { 0, 0 };

	if (event_base_once(h->base, -1, EV_TIMEOUT, call_cb, &c, &tv) != 0)
		abort();
	pthread_mutex_lock(&c.mtx);
	while (!c.done)
		pthread_cond_wait(&c.cond, &c.mtx);
	pthread_mutex_unlock(&c.mtx);
}

struct stats_arg {
	struct h_server			*h;
	struct smtp_server_stats	 st;
};

static void
get_stats(void *arg)
{
	struct stats_arg *a = arg;

	smtp_server_stats(a->h->srv, &a->st);
}

uint64_t
h_sessions_now(struct h_server *h)
{
	struct stats_arg a;

	memset(&a, 0, sizeof(a));
	a.h = h;

	h_call(h, get_stats, &a);
	return a.st.sessions_now;
}

uint64_t
h_auth_pending(struct h_server *h)
{
	struct stats_arg a;

	memset(&a, 0, sizeof(a));
	a.h = h;
	h_call(h, get_stats, &a);
	return a.st.auth_pending;
}

struct hold_arg {
	struct h_server	*h;
	int		 hold;
};

static void
hold(void *arg)
{
	struct hold_arg *a = arg;

	smtp_server_auth_hold(a->h->srv, a->hold);
}

void
h_auth_hold(struct h_server *h, int on)
{
	struct hold_arg a = { h, on };

	h_call(h, hold, &a);
}

struct buffers_arg {
	struct h_server	*h;
	size_t		 n, in, out;
};

/* Peeks into the server's sessions: a white-box check of the I/O bounds. */
static void
buffers(void *arg)
{
	struct buffers_arg	*a = arg;
	struct smtp_session	*s;
	size_t			 len;

	TAILQ_FOREACH(s, &a->h->srv->sessions, entry) {
		a->n++;
		if (s->bev == NULL)
			continue;
		if ((len = evbuffer_get_length(bufferevent_get_input(s->bev))) > a->in)
			a->in = len;
		if ((len = evbuffer_get_length(bufferevent_get_output(s->bev))) > a->out)
			a->out = len;
	}
}

size_t
h_buffers(struct h_server *h, size_t *in, size_t *out)
{
	struct buffers_arg a;

	memset(&a, 0, sizeof(a));
	a.h = h;
	h_call(h, buffers, &a);
	*in = a.in;
	*out = a.out;
	return a.n;
}

int
h_wait_sessions(struct h_server *h, uint64_t n, unsigned ms)
{
	uint64_t t0 = strutil_now_ms();

	while (h_sessions_now(h) != n) {
		if (strutil_now_ms() - t0 > ms)
			return 0;
		usleep(10000);
	}
	return 1;
}

size_t
h_nmsgs(struct h_server *h)
{
	return __atomic_load_n(&h->q.nmsgs, __ATOMIC_SEQ_CST);
}

static void
free_server(void *arg)
{
	struct h_server *h = arg;

	smtp_server_free(h->srv);
	h->srv = NULL;
}

void
h_free_server(struct h_server *h)
{
	h_call(h, free_server, h);
}

void
h_stop(struct h_server *h)
{
	size_t i, j;

	h_call(h, free_server, h);
	event_base_loopexit(h->base, NULL);
	pthread_join(*(pthread_t *)h->thread, NULL);
	free(h->thread);
	event_base_free(h->base);
	memset(&h->tune, 0, sizeof(h->tune));
	for (i = 0; i < h->q.nmsgs; i++) {
		free(h->q.msgs[i].sender);
		free(h->q.msgs[i].rcpt0);
		for (j = 0; j < h->q.msgs[i].nrcpts; j++)
			free(h->q.msgs[i].rcpts[j]);
		free(h->q.msgs[i].rcpts);
		free(h->q.msgs[i].body);
		free(h->q.msgs[i].auth_user);
	}
}

/* ---- the client ---- */

int
h_connect(struct h_conn *c, int port, const char *from)
{
	struct sockaddr_in	sin;
	struct timeval		tv = { 10, 0 };
	int			one = 1;

	memset(c, 0, sizeof(*c));
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	if (from != NULL) {
		inet_pton(AF_INET, from, &sin.sin_addr);
		if (bind(c->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
			return -1;
	}
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	sin.sin_port = htons((uint16_t)port);
	return connect(c->fd, (struct sockaddr *)&sin, sizeof(sin));
}

int
h_connect6(struct h_conn *c, int port)
{
	struct sockaddr_in6	sin6;
	int			one = 1;

	memset(c, 0, sizeof(*c));
	if ((c->fd = socket(AF_INET6, SOCK_STREAM, 0)) == -1)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	sin6.sin6_port = htons((uint16_t)port);
	return connect(c->fd, (struct sockaddr *)&sin6, sizeof(sin6));
}

void
h_close(struct h_conn *c)
{
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->ctx != NULL)
		SSL_CTX_free(c->ctx);
	if (c->fd != -1)
		close(c->fd);
	c->ssl = NULL;
	c->ctx = NULL;
	c->fd = -1;
}

int
h_send(struct h_conn *c, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = c->ssl != NULL ? SSL_write(c->ssl, p, (int)len) : write(c->fd, p, len);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
h_sends(struct h_conn *c, const char *s)
{
	return h_send(c, s, strlen(s));
}

static int
fill(struct h_conn *c)
{
	ssize_t n;

	if (c->len == sizeof(c->buf))
		return -1;
	if (c->ssl != NULL)
		n = SSL_read(c->ssl, c->buf + c->len, (int)(sizeof(c->buf) - c->len));
	else
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (n <= 0)
		return -1;
	c->len += (size_t)n;
	return 0;
}

int
h_reply(struct h_conn *c)
{
	char	*eol;
	size_t	 used = 0, llen;

	c->reply[0] = '\0';
	for (;;) {
		while ((eol = memchr(c->buf + used, '\n', c->len - used)) == NULL)
			if (fill(c) != 0)
				return -1;
		llen = (size_t)(eol - (c->buf + used)) + 1;
		strncat(c->reply, c->buf + used, llen < sizeof(c->reply) - strlen(c->reply) - 1 ?
		    llen : sizeof(c->reply) - strlen(c->reply) - 1);
		if (llen >= 4 && c->buf[used + 3] == ' ') {
			used += llen;
			break;
		}
		if (llen < 4 || c->buf[used + 3] != '-')
			return -1;
		used += llen;
	}
	memmove(c->buf, c->buf + used, c->len - used);
	c->len -= used;
	return atoi(c->reply);
}

int
h_eof(struct h_conn *c)
{
	char	b;
	ssize_t	n;

	if (c->len > 0)
		return 0;
	n = c->ssl != NULL ? SSL_read(c->ssl, &b, 1) : read(c->fd, &b, 1);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

int
h_starttls(struct h_conn *c)
{
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    (c->ssl = SSL_new(c->ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		return -1;
	SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	return SSL_connect(c->ssl) == 1 ? 0 : -1;
}

int
h_cmd(struct h_conn *c, const char *line)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "%s\r\n", line);
	if (h_sends(c, buf) != 0)
		return -1;
	return h_reply(c);
}

size_t
h_pending(struct h_conn *c)
{
	struct pollfd	pfd = { c->fd, POLLIN, 0 };
	int		n = 0;

	if (poll(&pfd, 1, 200) <= 0)
		return c->len;
	if (ioctl(c->fd, FIONREAD, &n) != 0)
		return c->len;
	return c->len + (size_t)n;
}
