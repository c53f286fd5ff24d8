/*
 * fuzz_smtp_session.c: whole SMTP sessions. The first octet chooses the
 * client address (bit 0: outside the client networks); the rest is what the
 * client sends, over a socketpair, then it half-closes. A fake queue checks
 * that no stored message holds a bare CR or LF (H2) and answers from the
 * loop. Invariants: no crash, no sanitizer report, every session ends.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/queue.h"
#include "relay/config.h"
#include "relay/smtp_server.h"
#include "relay/smtp_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct queue {
	struct event_base	*base;
	unsigned		 counter;
	unsigned		 pending;
};

struct pending {
	struct queue		*q;
	queue_commit_cb		 cb;
	void			*arg;
};

static struct event_base	*base;
static struct smtp_server	*srv;
static struct config		 cfg;
static struct queue		 q;

void
queue_new_id(struct queue *qq, char id[QUEUE_ID_MAX])
{
	snprintf(id, QUEUE_ID_MAX, "FUZZ%06u", ++qq->counter);
}

const char *
queue_strstatus(enum queue_status st)
{
	return st == QUEUE_OK ? "ok" : "failed";
}

static void
fire(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;

	p->q->pending--;
	p->cb(p->q->counter % 5 == 0 ? QUEUE_ETEMP : QUEUE_OK, p->arg);
	free(p);
}

void
queue_submit(struct queue *qq, const struct queue_envelope *env, struct evbuffer *body,
    queue_commit_cb cb, void *arg)
{
	struct pending	*p = xcalloc(1, sizeof(*p));
	unsigned char	*b;
	size_t		 len = evbuffer_get_length(body), i;
	struct timeval	 tv = { 0, 0 };

	b = evbuffer_pullup(body, -1);
	for (i = 0; i < len; i++)
		if ((b[i] == '\r' && (i + 1 == len || b[i + 1] != '\n')) ||
		    (b[i] == '\n' && (i == 0 || b[i - 1] != '\r')) || b[i] == '\0')
			abort();	/* H2: a bare CR/LF or NUL reached the queue */
	if (env->nrcpts == 0 || env->id == NULL || env->sender == NULL)
		abort();
	evbuffer_drain(body, len);
	p->q = qq;
	p->cb = cb;
	p->arg = arg;
	qq->pending++;
	if (event_base_once(qq->base, -1, EV_TIMEOUT, fire, p, &tv) != 0)
		abort();
}

static void
init(void)
{
	char err[256];

	log_init("fuzz", LOG_DEST_STDERR, LOG_LVL_ERR);
	if ((base = event_base_new()) == NULL)
		abort();
	cfg.hostname = "relay.test";
	netaddr_cidr_parse("127.0.0.0/8", &cfg.client_networks[0]);
	cfg.nclient_networks = 1;
	cfg.message_size_limit = 2000;
	cfg.recipient_limit = 100;
	cfg.max_connections = 10;
	cfg.max_connections_per_client = 10;
	cfg.max_received_headers = 3;
	cfg.timeout_greeting = cfg.timeout_command = cfg.timeout_data = 30;
	cfg.timeout_tls_handshake = 30;
	cfg.max_errors = 20;
	cfg.tls_cert_file = cfg.tls_key_file = cfg.auth_credentials_file = "";
	if ((srv = smtp_server_new(base, &cfg, err, sizeof(err))) == NULL)
		abort();
	q.base = base;
	smtp_server_start(srv, &q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in		 sin;
	struct smtp_server_stats	 st;
	char				 sink[65536];
	size_t				 off = 0;
	ssize_t				 n;
	unsigned long			 rounds = 0;
	int				 sv[2], wdone = 0;

	if (size < 1)
		return 0;
	if (base == NULL)
		init();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 ||
	    fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(sv[1], F_SETFL, O_NONBLOCK) != 0)
		abort();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(4242);
	inet_pton(AF_INET, (data[0] & 1) ? "10.0.0.1" : "127.0.0.1", &sin.sin_addr);
	smtp_server_accept(srv, sv[0], (struct sockaddr *)&sin, sizeof(sin));
	data++;
	size--;
	for (;;) {
		if (!wdone) {
			n = write(sv[1], data + off, size - off);
			if (n > 0)
				off += (size_t)n;
			if (off == size) {
				shutdown(sv[1], SHUT_WR);
				wdone = 1;
			}
		}
		while (read(sv[1], sink, sizeof(sink)) > 0)
			;
		event_base_loop(base, EVLOOP_NONBLOCK);
		smtp_server_stats(srv, &st);
		if (wdone && st.sessions_now == 0 && q.pending == 0)
			break;
		if (++rounds > 1000000)
			abort();	/* a session that never ends */
	}
	close(sv[1]);
	return 0;
}
