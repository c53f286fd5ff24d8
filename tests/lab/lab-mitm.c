/*
 * lab-mitm: a man in the middle for SMTP. It relays a client to an upstream
 * server and, as asked, strips STARTTLS from the EHLO reply, answers
 * STARTTLS itself with 454, or injects plaintext after the 220 to STARTTLS
 * (towards the client, or towards the server). Once TLS starts it relays the
 * bytes untouched. Everything it sees in plaintext and everything it does is
 * logged. See docs/lab.md.
 */
#include <sys/socket.h>
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "tests/lab/lab_ev.h"
#include "tests/lab/lab_util.h"

#define MITM_LINE_MAX	4096
#define MITM_REPLY_MAX	100	/* lines of one multi-line reply */

static const char usage_text[] =
"usage: lab-mitm [-v] -l ADDR:PORT -u ADDR:PORT -m MODE [-i TEXT] [-p PORTFILE] [-L LOG]\n"
"       lab-mitm -h\n"
"\n"
"A man in the middle between an SMTP client and the upstream server.\n"
"  -l ADDR:PORT  where to listen (port 0 = pick one)\n"
"  -u ADDR:PORT  the upstream server (e.g. a lab-smtp-sink listener)\n"
"  -m MODE       pass           relay, only log\n"
"                strip          remove STARTTLS from EHLO replies\n"
"                refuse         answer STARTTLS with 454 without asking upstream\n"
"                inject         after upstream's 220 to STARTTLS, send TEXT to\n"
"                               the client before the TLS handshake\n"
"                inject-server  after the client's STARTTLS, send TEXT to the\n"
"                               upstream in plaintext\n"
"  -i TEXT       the injected line (CRLF added); default for inject\n"
"                \"250 2.0.0 injected by lab-mitm\", for inject-server \"RSET\"\n"
"  -p PORTFILE   write the port here once listening\n"
"  -L LOG        one line per plaintext line seen (C: / S:) and per action\n"
"  -v            debug logging on stderr\n"
"  -h            this help\n";

enum mitm_mode {
	MITM_PASS = 0,
	MITM_STRIP,
	MITM_REFUSE,
	MITM_INJECT,
	MITM_INJECT_SERVER
};

static const char *const mitm_modes[] = { "pass", "strip", "refuse", "inject", "inject-server" };

/* What each direction does with the bytes it reads. */
enum mitm_flow {
	MITM_LINES = 0,		/* plaintext SMTP, line by line */
	MITM_HOLD,		/* client side: wait for the reply to STARTTLS */
	MITM_RAW		/* TLS: bytes untouched */
};

struct mitm {
	struct event_base	*base;
	enum mitm_mode		 mode;
	const char		*inject;
	struct netaddr_endpoint	 up;
	struct lab_rec		*log;
	unsigned long		 nconn;
};

struct mitm_conn {
	struct mitm		*m;
	unsigned long		 id;
	struct bufferevent	*cbev;		/* the client */
	struct bufferevent	*sbev;		/* the upstream server */
	enum mitm_flow		 c2s;
	enum mitm_flow		 s2c;
	int			 starttls_sent;	/* waiting for its reply */
	int			 closing;
	int			 freeing;	/* the free is scheduled */
	char			*reply[MITM_REPLY_MAX];	/* the reply being collected */
	size_t			 nreply;
};

static void	mitm_on_client_read(struct bufferevent *, void *);
static void	mitm_on_server_read(struct bufferevent *, void *);

static const char *
mitm_strflow(enum mitm_flow f)
{
	static const char *const names[] = { "lines", "hold", "raw" };

	if ((unsigned)f >= sizeof(names) / sizeof(names[0]))
		fatalx("mitm_strflow: bad flow %d", (int)f);
	return names[f];
}

static void
mitm_set_flow(struct mitm_conn *c, enum mitm_flow *dir, enum mitm_flow f)
{
	log_debug("conn=%lu %s flow %s -> %s", c->id, dir == &c->c2s ? "c2s" : "s2c",
	    mitm_strflow(*dir), mitm_strflow(f));
	*dir = f;
}

static void mitm_log(struct mitm_conn *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
mitm_log(struct mitm_conn *c, const char *fmt, ...)
{
	char	msg[4096];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lab_rec(c->m->log, "conn=%lu %s", c->id, msg);
	log_debug("conn=%lu %s", c->id, msg);
}

static void
mitm_free(struct mitm_conn *c)
{
	size_t	i;

	mitm_log(c, "closed");
	for (i = 0; i < c->nreply; i++)
		free(c->reply[i]);
	if (c->cbev != NULL)
		bufferevent_free(c->cbev);
	if (c->sbev != NULL)
		bufferevent_free(c->sbev);
	free(c);
}

static void
mitm_on_free(evutil_socket_t fd, short what, void *arg)
{
	mitm_free(arg);
}

/* Free from the event loop, never under the caller's feet. */
static void
mitm_free_later(struct mitm_conn *c)
{
	if (c->freeing)
		return;
	c->freeing = 1;
	if (event_base_once(c->m->base, -1, EV_TIMEOUT, mitm_on_free, c,
	    &(struct timeval){ 0, 0 }) == -1)
		fatalx("mitm_free_later: event_base_once");
}

/* One side is gone: let the other side's pending output drain, then free. */
static void
mitm_close(struct mitm_conn *c, const char *why)
{
	mitm_log(c, "closing: %s", why);
	c->closing = 1;
	lab_ev_disable_read(c->cbev);
	if (c->sbev != NULL)
		lab_ev_disable_read(c->sbev);
	if (evbuffer_get_length(bufferevent_get_output(c->cbev)) == 0 &&
	    (c->sbev == NULL || evbuffer_get_length(bufferevent_get_output(c->sbev)) == 0))
		mitm_free_later(c);
}

static void
mitm_on_write(struct bufferevent *bev, void *arg)
{
	struct mitm_conn	*c = arg;

	if (c->closing && evbuffer_get_length(bufferevent_get_output(c->cbev)) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->sbev)) == 0)
		mitm_free_later(c);
}

static void
mitm_send(struct mitm_conn *c, struct bufferevent *to, const char *line)
{
	if (evbuffer_add_printf(bufferevent_get_output(to), "%s\r\n", line) == -1)
		mitm_log(c, "error=\"cannot queue a line\"");
}

/*
 * Read one line (LF included) from in into a NUL-terminated string without
 * the line end. 1 = a line, 0 = not yet, -1 = over the bound.
 */
static int
mitm_readline(struct evbuffer *in, char **line)
{
	struct evbuffer_ptr	eol;
	size_t			eollen, len;

	eol = evbuffer_search_eol(in, NULL, &eollen, EVBUFFER_EOL_LF);
	if (eol.pos == -1)
		return evbuffer_get_length(in) > MITM_LINE_MAX ? -1 : 0;
	len = (size_t)eol.pos + 1;
	if (len > MITM_LINE_MAX)
		return -1;
	*line = xmalloc(len + 1);
	if (evbuffer_remove(in, *line, len) != (int)len)
		fatalx("mitm_readline: evbuffer_remove");
	while (len > 0 && ((*line)[len - 1] == '\n' || (*line)[len - 1] == '\r'))
		len--;
	(*line)[len] = '\0';
	return 1;
}

static void
mitm_log_line(struct mitm_conn *c, const char *who, const char *line)
{
	char	esc[1024];

	lab_escape(line, strlen(line), esc, sizeof(esc));
	mitm_log(c, "%s: %s", who, esc);
}

static void
mitm_go_raw(struct mitm_conn *c)
{
	mitm_log(c, "tls: relaying the handshake and everything after it untouched");
	mitm_set_flow(c, &c->c2s, MITM_RAW);
	mitm_set_flow(c, &c->s2c, MITM_RAW);
	/* what is already buffered on either side goes through as is */
	mitm_on_client_read(c->cbev, c);
	mitm_on_server_read(c->sbev, c);
}

static int
is_starttls(const char *line)
{
	size_t	n = strlen(line);

	while (n > 0 && line[n - 1] == ' ')
		n--;
	return n == 8 && strncasecmp(line, "STARTTLS", 8) == 0;
}

static void
mitm_client_line(struct mitm_conn *c, const char *line)
{
	mitm_log_line(c, "C", line);
	if (!is_starttls(line)) {
		mitm_send(c, c->sbev, line);
		return;
	}
	if (c->m->mode == MITM_REFUSE) {
		mitm_send(c, c->cbev, "454 4.7.0 TLS not available");
		mitm_log(c, "action=refuse answered STARTTLS with 454 without asking upstream");
		return;
	}
	mitm_send(c, c->sbev, line);
	if (c->m->mode == MITM_INJECT_SERVER) {
		mitm_send(c, c->sbev, c->m->inject);
		mitm_log(c, "action=inject-server sent \"%s\" to upstream after STARTTLS",
		    c->m->inject);
	}
	c->starttls_sent = 1;
	mitm_set_flow(c, &c->c2s, MITM_HOLD);
}

static void
mitm_on_client_read(struct bufferevent *bev, void *arg)
{
	struct mitm_conn	*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	char			*line;
	int			 rv;

	if (c->closing || c->freeing) {
		lab_ev_drain(in);
		return;
	}
	while (c->c2s == MITM_LINES && (rv = mitm_readline(in, &line)) != 0) {
		if (rv == -1) {
			mitm_close(c, "client line too long");
			return;
		}
		mitm_client_line(c, line);
		free(line);
	}
	if (c->c2s == MITM_RAW &&
	    evbuffer_add_buffer(bufferevent_get_output(c->sbev), in) == -1)
		mitm_close(c, "cannot relay client bytes");
}

/* A complete reply with STARTTLS lines removed and the separators redone. */
static void
mitm_strip_reply(struct mitm_conn *c)
{
	char	 out[MITM_LINE_MAX + 8];
	size_t	 i, last = 0, kept = 0;
	int	 stripped = 0;

	for (i = 0; i < c->nreply; i++)
		if (strlen(c->reply[i]) < 4 || !is_starttls(c->reply[i] + 4))
			last = i;
	for (i = 0; i < c->nreply; i++) {
		if (strlen(c->reply[i]) >= 4 && is_starttls(c->reply[i] + 4)) {
			stripped = 1;
			continue;
		}
		if (strlen(c->reply[i]) >= 4)
			snprintf(out, sizeof(out), "%.3s%c%s", c->reply[i],
			    i == last ? ' ' : '-', c->reply[i] + 4);
		else
			strutil_lcpy(out, c->reply[i], sizeof(out));
		mitm_send(c, c->cbev, out);
		kept++;
	}
	if (stripped)
		mitm_log(c, "action=strip removed STARTTLS from the reply (%zu lines left)", kept);
}

static void
mitm_server_reply(struct mitm_conn *c)
{
	size_t	i;
	int	code = atoi(c->reply[c->nreply - 1]);

	if (c->starttls_sent) {
		c->starttls_sent = 0;
		for (i = 0; i < c->nreply; i++)
			mitm_send(c, c->cbev, c->reply[i]);
		if (code != 220) {
			mitm_set_flow(c, &c->c2s, MITM_LINES);
			mitm_on_client_read(c->cbev, c);
			return;
		}
		if (c->m->mode == MITM_INJECT) {
			mitm_send(c, c->cbev, c->m->inject);
			mitm_log(c, "action=inject sent \"%s\" to the client after the 220 "
			    "to STARTTLS", c->m->inject);
		}
		mitm_go_raw(c);
		return;
	}
	if (c->m->mode == MITM_STRIP)
		mitm_strip_reply(c);
	else
		for (i = 0; i < c->nreply; i++)
			mitm_send(c, c->cbev, c->reply[i]);
}

static void
mitm_on_server_read(struct bufferevent *bev, void *arg)
{
	struct mitm_conn	*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	char			*line;
	size_t			 i;
	int			 rv;

	if (c->closing || c->freeing) {
		lab_ev_drain(in);
		return;
	}
	while (c->s2c == MITM_LINES && (rv = mitm_readline(in, &line)) != 0) {
		if (rv == -1 || c->nreply == MITM_REPLY_MAX) {
			free(rv == 1 ? line : NULL);
			mitm_close(c, "server reply too long");
			return;
		}
		mitm_log_line(c, "S", line);
		c->reply[c->nreply++] = line;
		if (strlen(line) >= 4 && line[3] == '-')
			continue;		/* more lines of this reply to come */
		mitm_server_reply(c);
		for (i = 0; i < c->nreply; i++)
			free(c->reply[i]);
		c->nreply = 0;
	}
	if (c->s2c == MITM_RAW &&
	    evbuffer_add_buffer(bufferevent_get_output(c->cbev), in) == -1)
		mitm_close(c, "cannot relay server bytes");
}

static void
mitm_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct mitm_conn	*c = arg;
	const char		*side = bev == c->cbev ? "client" : "server";
	char			 why[256];

	if (what & BEV_EVENT_CONNECTED) {
		mitm_log(c, "upstream connected");
		if (bufferevent_enable(c->cbev, EV_READ | EV_WRITE) == -1)
			mitm_close(c, "cannot enable the client side");
		return;
	}
	if (c->closing) {
		mitm_free_later(c);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		snprintf(why, sizeof(why), "%s error: %s", side,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else
		snprintf(why, sizeof(why), "%s closed", side);
	mitm_close(c, why);
}

static void
mitm_on_accept(struct evconnlistener *ev, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct mitm		*m = arg;
	struct mitm_conn	*c = xcalloc(1, sizeof(*c));
	char			 peer[NETADDR_STRLEN], up[NETADDR_STRLEN];

	c->m = m;
	c->id = ++m->nconn;
	netaddr_format(sa, peer, sizeof(peer));
	netaddr_format((struct sockaddr *)&m->up.ss, up, sizeof(up));
	mitm_log(c, "connect client=%s upstream=%s mode=%s", peer, up, mitm_modes[m->mode]);
	c->cbev = bufferevent_socket_new(m->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->sbev = bufferevent_socket_new(m->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->cbev == NULL || c->sbev == NULL) {
		if (c->cbev == NULL)
			close(fd);
		mitm_log(c, "error=\"cannot make bufferevents\"");
		mitm_free(c);
		return;
	}
	bufferevent_setcb(c->cbev, mitm_on_client_read, mitm_on_write, mitm_on_event, c);
	bufferevent_setcb(c->sbev, mitm_on_server_read, mitm_on_write, mitm_on_event, c);
	if (bufferevent_enable(c->sbev, EV_READ | EV_WRITE) == -1 ||
	    bufferevent_socket_connect(c->sbev, (struct sockaddr *)&m->up.ss, m->up.len) == -1) {
		mitm_log(c, "error=\"cannot connect upstream\"");
		mitm_free(c);
	}
}

static void
mitm_on_signal(evutil_socket_t sig, short what, void *arg)
{
	log_info("signal %d: stopping", (int)sig);
	lab_ev_loopexit(arg);
}

static int
mitm_parse_mode(const char *s, enum mitm_mode *mode)
{
	size_t	i;

	for (i = 0; i < sizeof(mitm_modes) / sizeof(mitm_modes[0]); i++)
		if (strcmp(s, mitm_modes[i]) == 0) {
			*mode = (enum mitm_mode)i;
			return 0;
		}
	return -1;
}

int
main(int argc, char *argv[])
{
	struct mitm		 m;
	struct evconnlistener	*lev;
	struct event		*sigs[2];
	const char		*listen = NULL, *upstream = NULL, *portfile = NULL, *logp = NULL;
	const char		*mode = NULL;
	int			 ch, fd, port;

	memset(&m, 0, sizeof(m));
	log_init("lab-mitm", LOG_DEST_STDERR, LOG_LVL_INFO);
	while ((ch = getopt(argc, argv, "hi:l:L:m:p:u:v")) != -1) {
		switch (ch) {
		case 'h': lab_usage(usage_text, 0);
		case 'i': m.inject = optarg; break;
		case 'l': listen = optarg; break;
		case 'L': logp = optarg; break;
		case 'm': mode = optarg; break;
		case 'p': portfile = optarg; break;
		case 'u': upstream = optarg; break;
		case 'v': log_set_level(LOG_LVL_DEBUG); break;
		default: lab_usage(usage_text, 64);
		}
	}
	if (listen == NULL || upstream == NULL || mode == NULL || optind != argc)
		lab_usage(usage_text, 64);
	if (mitm_parse_mode(mode, &m.mode) == -1) {
		fprintf(stderr, "lab-mitm: unknown mode %s\n", mode);
		return 64;
	}
	if (netaddr_endpoint_parse(upstream, 25, &m.up) == -1) {
		fprintf(stderr, "lab-mitm: bad upstream address %s\n", upstream);
		return 64;
	}
	if (m.inject == NULL)
		m.inject = m.mode == MITM_INJECT_SERVER ? "RSET" : "250 2.0.0 injected by lab-mitm";
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal");
	if ((m.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	m.log = lab_rec_open(logp);
	if ((fd = lab_listen(listen, SOCK_STREAM, -1, &port)) == -1)
		fatal("bind %s", listen);
	if ((lev = evconnlistener_new(m.base, mitm_on_accept, &m, LEV_OPT_CLOSE_ON_FREE,
	    -1, fd)) == NULL)
		fatalx("evconnlistener_new");
	sigs[0] = evsignal_new(m.base, SIGTERM, mitm_on_signal, m.base);
	sigs[1] = evsignal_new(m.base, SIGINT, mitm_on_signal, m.base);
	if (sigs[0] == NULL || sigs[1] == NULL ||
	    evsignal_add(sigs[0], NULL) == -1 || evsignal_add(sigs[1], NULL) == -1)
		fatalx("cannot watch signals");
	log_info("listening on %s port %d, upstream %s, mode %s", listen, port, upstream, mode);
	lab_rec(m.log, "listening port=%d upstream=%s mode=%s", port, upstream, mode);
	if (portfile != NULL && lab_write_port(portfile, port) == -1)
		return 1;
	if (event_base_dispatch(m.base) == -1)
		fatalx("event_base_dispatch");
	evconnlistener_free(lev);
	event_free(sigs[0]);
	event_free(sigs[1]);
	lab_rec_close(m.log);
	event_base_free(m.base);
	return 0;
}
