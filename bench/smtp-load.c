/*
 * smtp-load: drive an SMTP server with many concurrent clients, keep every
 * connection busy with messages, and record what the server acknowledged.
 *
 *   smtp-load -s 127.0.0.1:2525 -c 50 -n 2000 -z 4096 [-o acks] [-R] [-T secs]
 *   smtp-load -s 127.0.0.1:2525 -i 5000 -T 10        (idle sessions: EHLO, then hold)
 *
 * With -o, two kinds of line are written (and flushed) to the file:
 *   SENT <message-id> <sha256 of the message as sent>   before the final dot
 *   ACK <queue id> <message-id>                          after the 250
 * so a crash test can check that every acknowledged message is stored intact,
 * and that anything else stored is a message that was really sent.
 * With -R, refused or broken connections are retried (the server restarts).
 * With -p, at most that many messages a second are begun (crash tests pace
 * the load so that kills land mid-stream).
 * With -L, a second line gives the latency of acknowledged messages in
 * microseconds, from MAIL sent to 250 read (msg_) and from the final dot
 * sent to 250 read (dot_), and the rate between the first and the last 250
 * (steady_rate: no connection set-up, no ramp-down).
 */
#include <sys/resource.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/evp.h>

#include "common/netaddr.h"
#include "common/strutil.h"
#include "common/xmalloc.h"

#define FILLER_LINE	76	/* "%08u " and 65 octets of text, CR LF */

enum cstate { C_CONNECT, C_GREETING, C_EHLO, C_MAIL, C_RCPT, C_DATA, C_DOT, C_IDLE, C_PACED, C_DONE };

struct load;

struct client {
	struct load		*load;
	struct bufferevent	*bev;
	enum cstate		 state;
	char			 msgid[96];
	int			 id;
	uint64_t		 t_mail, t_dot;	/* MAIL and final dot sent (us) */
};

struct load {
	struct event_base	*base;
	struct netaddr_endpoint	 server;
	struct client		*clients;
	int			 nclients, idle, retry;
	long			 total, begun, started, acked, refused, errors;
	double			 pace;		/* messages/s begun at most; 0 = no limit */
	size_t			 size;
	const char		*from, *rcpt;
	FILE			*out;
	uint64_t		 t0, t_first_ack, t_last_ack;
	int			 live;
	struct event		*deadline;
	char			*filler;	/* the body lines, made once */
	int			 latency;	/* -L */
	uint64_t		*lat_msg, *lat_dot;	/* one per 250 */
	size_t			 nlat, caplat;
};

static void client_connect(struct client *);

static void
finish_client(struct client *c)
{
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->state != C_DONE) {
		c->state = C_DONE;
		if (--c->load->live == 0)
			event_base_loopexit(c->load->base, NULL);
	}
}

static void
client_on_retry(evutil_socket_t fd, short what, void *arg)
{
	client_connect(arg);
}

static void
client_fail(struct client *c, const char *why)
{
	struct load	*l = c->load;
	struct timeval	 tv = { 0, 50000 };

	l->errors++;
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (!l->retry || (!l->idle && l->acked >= l->total)) {
		if (!l->retry)
			fprintf(stderr, "smtp-load: client %d: %s\n", c->id, why);
		finish_client(c);
		return;
	}
	c->state = C_CONNECT;
	event_base_once(l->base, -1, EV_TIMEOUT, client_on_retry, c, &tv);
}

static void
make_message(struct client *c, struct evbuffer *out)
{
	struct load	*l = c->load;
	struct evbuffer	*msg = evbuffer_new();
	unsigned char	 md[EVP_MAX_MD_SIZE], *flat;
	unsigned int	 mdlen;
	char		 hex[2 * EVP_MAX_MD_SIZE + 1];
	size_t		 len;
	unsigned	 i;

	if (msg == NULL)
		abort();
	snprintf(c->msgid, sizeof(c->msgid), "load-%ld-%d-%ld@smtp-load.test",
	    (long)getpid(), c->id, ++l->started);
	evbuffer_add_printf(msg, "From: <%s>\r\nTo: <%s>\r\nSubject: load %ld\r\n"
	    "Message-ID: <%s>\r\n\r\n", l->from, l->rcpt, l->started, c->msgid);
	/* As many FILLER_LINE lines as keep the message within size. */
	len = evbuffer_get_length(msg);
	if (len + 78 <= l->size)
		evbuffer_add(msg, l->filler, (l->size - len - 78) / FILLER_LINE * FILLER_LINE +
		    FILLER_LINE);
	/* The digest only for -o: the client shares the CPUs with the server. */
	if (l->out != NULL) {
		len = evbuffer_get_length(msg);
		flat = evbuffer_pullup(msg, -1);
		if (EVP_Digest(flat, len, md, &mdlen, EVP_sha256(), NULL) != 1)
			abort();
		for (i = 0; i < mdlen; i++)
			sprintf(hex + 2 * i, "%02x", md[i]);
		fprintf(l->out, "SENT %s %s\n", c->msgid, hex);
		fflush(l->out);
	}
	evbuffer_add_buffer(out, msg);
	evbuffer_add(out, ".\r\n", 3);
	evbuffer_free(msg);
}

static void send_envelope(struct client *);

/* Every body line a message of l->size can hold, formatted once. */
static void
make_filler(struct load *l)
{
	size_t	n = l->size / FILLER_LINE + 1, i;

	l->filler = xmalloc(n * FILLER_LINE + 1);
	for (i = 0; i < n; i++)
		snprintf(l->filler + i * FILLER_LINE, FILLER_LINE + 1, "%08u %s\r\n", (unsigned)i,
		    "the quick brown fox jumps over the lazy dog 0123456789 abcdefghij");
}

static void
note_latency(struct load *l, uint64_t msg, uint64_t dot)
{
	if (l->nlat == l->caplat) {
		l->caplat = l->caplat ? 2 * l->caplat : 4096;
		l->lat_msg = xreallocarray(l->lat_msg, l->caplat, sizeof(*l->lat_msg));
		l->lat_dot = xreallocarray(l->lat_dot, l->caplat, sizeof(*l->lat_dot));
	}
	l->lat_msg[l->nlat] = msg;
	l->lat_dot[l->nlat++] = dot;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* "NAME_p50=.. NAME_p90=.. NAME_p99=.. NAME_max=.." of n sorted samples */
static void
print_quantiles(const char *name, uint64_t *v, size_t n)
{
	static const double	 q[] = { 0.5, 0.9, 0.99 };
	static const char	*qn[] = { "p50", "p90", "p99" };
	size_t			 i;

	qsort(v, n, sizeof(*v), cmp_u64);
	for (i = 0; i < 3; i++)
		printf(" %s_%s=%llu", name, qn[i],
		    (unsigned long long)(n ? v[(size_t)(q[i] * (double)(n - 1))] : 0));
	printf(" %s_max=%llu", name, (unsigned long long)(n ? v[n - 1] : 0));
}

static void
print_latency(struct load *l)
{
	double span = (double)(l->t_last_ack - l->t_first_ack) / 1e6;

	printf("latency_us");
	print_quantiles("msg", l->lat_msg, l->nlat);
	print_quantiles("dot", l->lat_dot, l->nlat);
	printf(" steady_rate=%.0f\n", span > 0 && l->acked > 1 ?
	    (double)(l->acked - 1) / span : 0.0);
}

static void
client_on_pace(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	if (c->state == C_PACED && c->bev != NULL)
		send_envelope(c);
}

static void
send_envelope(struct client *c)
{
	struct load *l = c->load;

	/*
	 * Without -R exactly total transactions are begun; with -R a failed one
	 * is replaced, so stop only once total have been acknowledged.
	 */
	if (l->retry ? l->acked >= l->total : l->begun >= l->total) {
		finish_client(c);
		return;
	}
	if (l->pace > 0 && (double)l->begun >
	    l->pace * (double)(strutil_now_us() - l->t0) / 1e6) {
		struct timeval tv = { 0, 10000 };

		c->state = C_PACED;
		event_base_once(l->base, -1, EV_TIMEOUT, client_on_pace, c, &tv);
		return;
	}
	l->begun++;
	c->t_mail = strutil_now_us();
	bufferevent_write(c->bev, "MAIL FROM:<", 11);
	evbuffer_add_printf(bufferevent_get_output(c->bev), "%s>\r\nRCPT TO:<%s>\r\nDATA\r\n",
	    l->from, l->rcpt);
	c->state = C_MAIL;
}

/* One complete reply (last line of a multi-line reply) in line. */
static void
client_reply(struct client *c, const char *line)
{
	struct load	*l = c->load;
	int		 code = atoi(line);
	const char	*q;
	uint64_t	 now;

	switch (c->state) {
	case C_GREETING:
		if (code != 220)
			return client_fail(c, line);
		evbuffer_add_printf(bufferevent_get_output(c->bev), "EHLO smtp-load.test\r\n");
		c->state = C_EHLO;
		break;
	case C_EHLO:
		if (code != 250)
			return client_fail(c, line);
		if (l->idle) {
			c->state = C_IDLE;
			if (++l->acked == l->idle)
				fprintf(stderr, "smtp-load: %d idle sessions open\n", l->idle);
			break;
		}
		send_envelope(c);
		break;
	case C_MAIL:
	case C_RCPT:
		if (code != 250) {
			l->refused++;
			return client_fail(c, line);
		}
		c->state++;
		break;
	case C_DATA:
		if (code != 354) {
			l->refused++;
			return client_fail(c, line);
		}
		make_message(c, bufferevent_get_output(c->bev));
		c->t_dot = strutil_now_us();
		c->state = C_DOT;
		break;
	case C_DOT:
		if (code != 250) {
			l->refused++;
			return client_fail(c, line);
		}
		now = strutil_now_us();
		if (l->acked == 0)
			l->t_first_ack = now;
		l->t_last_ack = now;
		l->acked++;
		if (l->latency)
			note_latency(l, now - c->t_mail, now - c->t_dot);
		if (l->out != NULL) {
			q = strstr(line, "queued as ");
			fprintf(l->out, "ACK %.*s %s\n", q != NULL ? (int)strcspn(q + 10, " \r\n") : 1,
			    q != NULL ? q + 10 : "?", c->msgid);
			fflush(l->out);
		}
		send_envelope(c);
		break;
	default:
		break;
	}
}

static void
client_on_read(struct bufferevent *bev, void *arg)
{
	struct client	*c = arg;
	char		*line;
	size_t		 len;

	while (c->bev != NULL &&
	    (line = evbuffer_readln(bufferevent_get_input(bev), &len, EVBUFFER_EOL_CRLF)) != NULL) {
		if (len >= 4 && line[3] == '-') {	/* continuation line */
			free(line);
			continue;
		}
		client_reply(c, line);
		free(line);
	}
}

static void
client_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		c->state = C_GREETING;
		return;
	}
	client_fail(c, (what & BEV_EVENT_EOF) ? "connection closed" : strerror(errno));
}

static void
client_connect(struct client *c)
{
	struct load *l = c->load;

	if ((c->bev = bufferevent_socket_new(l->base, -1, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		fprintf(stderr, "smtp-load: bufferevent_socket_new failed\n");
		exit(1);
	}
	bufferevent_setcb(c->bev, client_on_read, NULL, client_on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->state = C_CONNECT;
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&l->server.ss, (int)l->server.len) == -1)
		client_fail(c, "connect failed");
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct load *l = arg;

	if (!l->idle)
		fprintf(stderr, "smtp-load: deadline reached\n");
	event_base_loopbreak(l->base);
}

static void
load_free(struct load *l)
{
	int i;

	if (l->out != NULL)
		fclose(l->out);
	for (i = 0; i < l->nclients; i++)
		if (l->clients[i].bev != NULL)
			bufferevent_free(l->clients[i].bev);
	free(l->clients);
	free(l->filler);
	free(l->lat_msg);
	free(l->lat_dot);
	if (l->deadline != NULL)
		event_free(l->deadline);
	event_base_free(l->base);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: smtp-load -s addr:port [-c clients] [-n messages] [-z size] "
	    "[-f from] [-r rcpt] [-o file] [-p msgs-per-s] [-R] [-T seconds] [-i idle-sessions] [-L]\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	struct load	 l;
	struct timeval	 tv;
	struct rlimit	 rl;
	uint64_t	 v;
	double		 secs;
	long		 deadline = 0;
	int		 ch, i;

	memset(&l, 0, sizeof(l));
	l.nclients = 50;
	l.total = 1000;
	l.size = 4096;
	l.from = "sender@load.test";
	l.rcpt = "rcpt@example.test";
	while ((ch = getopt(argc, argv, "c:f:i:Ln:o:p:r:Rs:T:z:")) != -1) {
		switch (ch) {
		case 'L': l.latency = 1; break;
		case 'c': l.nclients = atoi(optarg); break;
		case 'f': l.from = optarg; break;
		case 'i': l.idle = atoi(optarg); break;
		case 'n': l.total = atol(optarg); break;
		case 'p': l.pace = atof(optarg); break;
		case 'r': l.rcpt = optarg; break;
		case 'R': l.retry = 1; break;
		case 'T': deadline = atol(optarg); break;
		case 'o':
			if ((l.out = fopen(optarg, "a")) == NULL) {
				perror(optarg);
				exit(1);
			}
			break;
		case 's':
			if (netaddr_endpoint_parse(optarg, 25, &l.server) == -1)
				usage();
			break;
		case 'z':
			if (strutil_parse_size(optarg, &v) == -1)
				usage();
			l.size = (size_t)v;
			break;
		default:
			usage();
		}
	}
	if (l.server.len == 0 || l.nclients <= 0 || l.total <= 0)
		usage();
	if (l.idle)
		l.nclients = l.idle;
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((l.base = event_base_new()) == NULL)
		return 1;
	l.clients = xcalloc((size_t)l.nclients, sizeof(*l.clients));
	make_filler(&l);
	l.live = l.nclients;
	if (deadline > 0) {
		tv.tv_sec = deadline;
		tv.tv_usec = 0;
		l.deadline = evtimer_new(l.base, on_deadline, &l);
		evtimer_add(l.deadline, &tv);
	}
	l.t0 = strutil_now_us();
	for (i = 0; i < l.nclients; i++) {
		l.clients[i].load = &l;
		l.clients[i].id = i;
		client_connect(&l.clients[i]);
	}
	event_base_dispatch(l.base);
	secs = (double)(strutil_now_us() - l.t0) / 1e6;
	if (l.idle)
		printf("idle_sessions=%ld errors=%ld\n", l.acked, l.errors);
	else
		printf("acked=%ld refused=%ld errors=%ld elapsed=%.3f rate=%.0f\n", l.acked,
		    l.refused, l.errors, secs, secs > 0 ? (double)l.acked / secs : 0.0);
	if (!l.idle && l.latency)
		print_latency(&l);
	fflush(stdout);
	load_free(&l);
	return (!l.idle && l.acked < l.total) ? 1 : 0;
}
