/*
 * smtp_session.c: one inbound SMTP session's I/O layer: lines in, replies
 * out, per-state timeouts, the STARTTLS upgrade, DATA octets to the DATA
 * state machine. What a command means lives in smtp_cmd.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/auth_worker.h"
#include "relay/config.h"
#include "relay/smtp_parse.h"
#include "relay/smtp_session.h"
#include "relay/tls_server.h"

/* Input is taken in bounded steps: a session never holds more than this. */
#define SMTP_READ_HIWAT		(16 * 1024)
/* Replies not yet taken by the client: stop reading commands beyond this. */
#define SMTP_WRITE_HIWAT	(16 * 1024)
/* AUTH responses may be longer than a command line (RFC 4954 4); CRLF included. */
#define SMTP_AUTH_LINE_MAX	(SMTP_AUTH_RESPONSE_MAX + 2)

enum timeout_kind { TO_NONE, TO_GREETING, TO_COMMAND, TO_DATA, TO_TLS };

/* Deadlines that octets trickling in or out do not extend. */
enum deadline_kind {
	DL_NONE,
	DL_LINE,	/* a line whole within timeout_command of its first octet */
	DL_DATA,	/* timeout_data plus 1 s per data_min_rate octets */
	DL_TLS,		/* the upgrade done within timeout_tls_handshake */
	DL_LAST		/* the last reply taken within timeout_command */
};

/* Per state: the idle timeout (reads and blocked writes) and the deadline. */
static const struct {
	const char		*name;
	enum timeout_kind	 timeout;
	enum deadline_kind	 deadline;
} states[SMTP_S_COUNT] = {
	[SMTP_S_INIT] =		{ "INIT", TO_GREETING, DL_LINE },
	[SMTP_S_HELO] =		{ "HELO", TO_COMMAND, DL_LINE },
	[SMTP_S_MAIL] =		{ "MAIL", TO_COMMAND, DL_LINE },
	[SMTP_S_RCPT] =		{ "RCPT", TO_COMMAND, DL_LINE },
	[SMTP_S_DATA] =		{ "DATA", TO_DATA, DL_DATA },
	[SMTP_S_COMMIT] =	{ "COMMIT", TO_NONE, DL_NONE },
	[SMTP_S_TLS_WAIT] =	{ "TLS_WAIT", TO_TLS, DL_TLS },
	[SMTP_S_TLS] =		{ "TLS", TO_TLS, DL_TLS },
	[SMTP_S_AUTH_PLAIN] =	{ "AUTH_PLAIN", TO_COMMAND, DL_LINE },
	[SMTP_S_AUTH_USER] =	{ "AUTH_USER", TO_COMMAND, DL_LINE },
	[SMTP_S_AUTH_PASS] =	{ "AUTH_PASS", TO_COMMAND, DL_LINE },
	[SMTP_S_AUTH_VERIFY] =	{ "AUTH_VERIFY", TO_NONE, DL_NONE },
	[SMTP_S_CLOSING] =	{ "CLOSING", TO_COMMAND, DL_LAST },
};

static void	session_read(struct bufferevent *, void *);
static void	session_write(struct bufferevent *, void *);
static void	session_event(struct bufferevent *, short, void *);
static void	session_on_deadline(evutil_socket_t, short, void *);
static void	session_on_lifetime(evutil_socket_t, short, void *);
static void	resume_input(struct smtp_session *);
static void	session_flush(evutil_socket_t, short, void *);
static void	want_write(struct smtp_session *);

const char *
smtp_strstate(enum smtp_state st)
{
	if ((unsigned)st >= SMTP_S_COUNT)
		return "?";
	return states[st].name;
}

static uint64_t
state_timeout(const struct config *cfg, enum smtp_state st)
{
	switch (states[st].timeout) {
	case TO_GREETING:
		return cfg->timeout_greeting;
	case TO_COMMAND:
		return cfg->timeout_command;
	case TO_DATA:
		return cfg->timeout_data;
	case TO_TLS:
		return cfg->timeout_tls_handshake;
	case TO_NONE:
		break;
	}
	return 0;
}

static void
set_timeouts(struct smtp_session *s)
{
	struct timeval	tv;
	uint64_t	t;

	if (s->bev == NULL || s->srv == NULL)
		return;
	t = state_timeout(s->srv->cfg, s->state);
	/* MAIL -> RCPT -> ... keep theirs: resetting costs a timer update per event */
	if (t == s->idle_timeout)
		return;
	s->idle_timeout = t;
	tv.tv_sec = (time_t)t;
	tv.tv_usec = 0;
	if (bufferevent_set_timeouts(s->bev, t ? &tv : NULL, t ? &tv : NULL) != 0)
		log_warnx("%s: cannot set timeouts", s->addr);
}

static void
deadline_arm(struct smtp_session *s, uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (s->deadline != NULL && evtimer_add(s->deadline, &tv) != 0)
		log_warnx("%s: cannot set a deadline", s->addr);
}

static void
deadline_clear(struct smtp_session *s)
{
	if (s->deadline != NULL && evtimer_del(s->deadline) != 0)
		log_warnx("%s: cannot clear a deadline", s->addr);
}

void
smtp_session_transition(struct smtp_session *s, enum smtp_state st)
{
	uint64_t now, end;

	if ((unsigned)st >= SMTP_S_COUNT)
		fatalx("smtp_session_transition: bad state %d", (int)st);
	log_debug("%s: %s -> %s", s->addr, smtp_strstate(s->state), smtp_strstate(st));
	s->state = st;
	set_timeouts(s);
	/* a line deadline starts with its first octet (line_started), the others now */
	deadline_clear(s);
	if (s->srv == NULL)
		return;
	switch (states[st].deadline) {
	case DL_DATA:
		s->deadline_start = strutil_now_ms();
		s->data_raw = 0;
		deadline_arm(s, s->srv->cfg->timeout_data * 1000);
		break;
	case DL_TLS:
		/* TLS_WAIT -> TLS keeps the deadline set at the 220 */
		now = strutil_now_ms();
		if (st == SMTP_S_TLS_WAIT)
			s->deadline_start = now;
		end = s->deadline_start + s->srv->cfg->timeout_tls_handshake * 1000;
		deadline_arm(s, end > now ? end - now : 0);
		break;
	case DL_LAST:
		deadline_arm(s, s->srv->cfg->timeout_command * 1000);
		break;
	case DL_LINE:
	case DL_NONE:
		break;
	}
}

int
smtp_session_waiting(const struct smtp_session *s)
{
	return states[s->state].deadline == DL_LINE;
}

void
smtp_session_close_reply(struct smtp_session *s, int code, const char *status, const char *text)
{
	smtp_session_reply(s, code, status, "%s", text);
	if (s->bev != NULL && bufferevent_disable(s->bev, EV_READ) != 0)
		log_warnx("%s: cannot stop reading", s->addr);
	want_write(s);
	smtp_session_transition(s, SMTP_S_CLOSING);
}

/* Forget the transaction (RSET, end of DATA). */
void
smtp_session_reset(struct smtp_session *s)
{
	size_t i;

	free(s->sender);
	s->sender = NULL;
	for (i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	s->nrcpt_cmds = 0;
	if (s->body != NULL)
		evbuffer_free(s->body);
	s->body = NULL;
	free(s->data);
	s->data = NULL;
	s->id[0] = '\0';
	s->flags &= ~(uint32_t)(SMTP_F_8BIT | SMTP_F_UTF8);
}

/*
 * Replies of a plaintext session are written by session_flush(), once per
 * pass of the event loop, straight to the socket: libevent's write event
 * is enabled only when the socket takes less than all, so a reply costs no
 * epoll_ctl to arm and disarm it (four per message before).
 */
static void
on_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct smtp_session *s = arg;

	if (info->n_added > 0 && s->flush != NULL)
		event_active(s->flush, EV_TIMEOUT, 1);
}

/* Replies queued without a flush: let libevent write them (TLS, EOF, close). */
static void
want_write(struct smtp_session *s)
{
	if (s->bev != NULL && s->flush == NULL && bufferevent_enable(s->bev, EV_WRITE) != 0)
		log_warnx("%s: cannot write", s->addr);
}

/* Stop writing replies ourselves: before the bufferevent goes (TLS, close). */
static void
direct_stop(struct smtp_session *s)
{
	if (s->out_cb != NULL && s->bev != NULL &&
	    evbuffer_remove_cb_entry(bufferevent_get_output(s->bev), s->out_cb) != 0)
		log_warnx("%s: cannot remove the output callback", s->addr);
	s->out_cb = NULL;
	if (s->flush != NULL)
		event_free(s->flush);
	s->flush = NULL;
}

static int
setup_bev(struct smtp_session *s)
{
	s->idle_timeout = UINT64_MAX;	/* a new bufferevent has none */
	bufferevent_setcb(s->bev, session_read, session_write, session_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_READ_HIWAT);
	if (s->flush != NULL) {
		if ((s->out_cb = evbuffer_add_cb(bufferevent_get_output(s->bev), on_output,
		    s)) == NULL)
			return -1;
		/* a new bufferevent has EV_WRITE enabled */
		if (bufferevent_disable(s->bev, EV_WRITE) != 0)
			return -1;
		return bufferevent_enable(s->bev, EV_READ);
	}
	return bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

void
smtp_session_new(struct smtp_server *srv, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct smtp_session	*s;
	struct timeval		 lifetime;
	size_t			 i;

	s = xcalloc(1, sizeof(*s));
	s->srv = srv;
	s->fd = fd;
	memcpy(&s->ss, sa, salen < sizeof(s->ss) ? salen : sizeof(s->ss));
	netaddr_format(sa, s->addr, sizeof(s->addr));
	netaddr_format_host(sa, s->addr_host, sizeof(s->addr_host));
	for (i = 0; i < srv->cfg->nclient_networks; i++)
		if (netaddr_cidr_match(&srv->cfg->client_networks[i], sa))
			s->flags |= SMTP_F_RELAY_NET;
	TAILQ_INSERT_TAIL(&srv->sessions, s, entry);
	s->state = SMTP_S_INIT;
	lifetime.tv_sec = (time_t)srv->tune.session_lifetime;
	lifetime.tv_usec = 0;
	if ((s->flush = event_new(srv->base, -1, 0, session_flush, s)) == NULL ||
	    (s->bev = bufferevent_socket_new(srv->base, fd, 0)) == NULL ||
	    setup_bev(s) != 0 ||
	    (s->deadline = evtimer_new(srv->base, session_on_deadline, s)) == NULL ||
	    (s->lifetime = evtimer_new(srv->base, session_on_lifetime, s)) == NULL ||
	    evtimer_add(s->lifetime, &lifetime) != 0) {
		log_warnx("%s: cannot set up the connection", s->addr);
		smtp_session_destroy(s);
		return;
	}
	log_info("connect from %s", s->addr);
	smtp_session_transition(s, SMTP_S_INIT);
	smtp_session_reply(s, 220, NULL, "%s ESMTP stsrelay", srv->cfg->hostname);
}

/* Close the connection; the session itself may live on (COMMIT). */
static void
close_conn(struct smtp_session *s)
{
	if (s->deadline != NULL)
		event_free(s->deadline);
	s->deadline = NULL;
	if (s->lifetime != NULL)
		event_free(s->lifetime);
	s->lifetime = NULL;
	direct_stop(s);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	s->bev = NULL;
	if (s->fd != -1 && close(s->fd) == -1)
		log_warn("%s: close", s->addr);
	s->fd = -1;
	if (s->srv != NULL) {
		log_info("disconnect from %s messages=%llu rcpts=%llu errors=%u%s",
		    s->addr, (unsigned long long)s->nmessages,
		    (unsigned long long)s->nrcpt_total, s->errors,
		    (s->flags & SMTP_F_TLS) ? " tls=yes" : "");
		smtp_server_session_gone(s->srv, s);
		s->srv = NULL;
	}
}

void
smtp_session_destroy(struct smtp_session *s)
{
	/* a password check in flight: its result is dropped */
	if (s->auth_job != NULL && s->srv != NULL)
		auth_worker_cancel(s->srv->worker, s->auth_job);
	s->auth_job = NULL;
	close_conn(s);
	if (s->state == SMTP_S_COMMIT) {
		/* the queue holds s as its callback argument: free it there */
		s->flags |= SMTP_F_GONE;
		return;
	}
	smtp_session_reset(s);
	free(s->helo);
	if (s->auth_user != NULL)
		explicit_bzero(s->auth_user, strlen(s->auth_user));
	free(s->auth_user);
	free(s);
}

/* After the 220 to STARTTLS: no plaintext already received may count (H3). */
void
smtp_session_starttls(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);

	if (evbuffer_drain(in, evbuffer_get_length(in)) != 0)
		fatalx("smtp_session_starttls: evbuffer_drain failed");
	if (bufferevent_disable(s->bev, EV_READ) != 0)
		log_warnx("%s: cannot stop reading", s->addr);
	smtp_session_transition(s, SMTP_S_TLS_WAIT);
}

/* The 220 is on the wire: swap the plain bufferevent for a TLS one. */
static void
begin_tls(struct smtp_session *s)
{
	struct bufferevent	*bev;
	SSL			*ssl;

	if ((ssl = tls_server_ssl_new(s->srv->tls)) == NULL) {
		log_warnx("%s: cannot create TLS session", s->addr);
		smtp_session_destroy(s);
		return;
	}
	/*
	 * A client that shuts down its side after the final dot, without a
	 * close_notify, is at EOF, not in error: its reply can still be sent
	 * (eof_done). SMTP marks its own ends (the dot, QUIT), so a truncated
	 * stream is noticed without TLS's help.
	 */
	SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	direct_stop(s);
	bufferevent_free(s->bev);
	s->bev = NULL;
	bev = bufferevent_openssl_socket_new(s->srv->base, s->fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		log_warnx("%s: cannot start TLS", s->addr);
		smtp_session_destroy(s);
		return;
	}
	s->fd = -1;	/* the TLS bufferevent owns it now */
	s->bev = bev;
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	/* H3: forget everything said before TLS */
	smtp_session_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->flags &= ~(uint32_t)(SMTP_F_EHLO | SMTP_F_AUTH);
	if (setup_bev(s) != 0) {
		log_warnx("%s: cannot start TLS", s->addr);
		smtp_session_destroy(s);
		return;
	}
	smtp_session_transition(s, SMTP_S_TLS);
}

static void
tls_done(struct smtp_session *s)
{
	char	desc[128];
	SSL	*ssl = bufferevent_openssl_get_ssl(s->bev);

	s->flags |= SMTP_F_TLS;
	if (ssl != NULL) {
		tls_server_describe(ssl, desc, sizeof(desc));
		log_info("%s: TLS established %s", s->addr, desc);
	}
	smtp_session_transition(s, SMTP_S_INIT);
	smtp_session_resume(s);
}

/* Read one line; 0 when more input is needed. */
static int
read_line(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_ptr	 eol;
	struct evbuffer_iovec	 v;
	const char		*first, *nl;
	char			 line[SMTP_AUTH_LINE_MAX + 1];
	size_t			 eol_len, limit, len;
	int			 auth;

	auth = s->state == SMTP_S_AUTH_PLAIN || s->state == SMTP_S_AUTH_USER ||
	    s->state == SMTP_S_AUTH_PASS;
	limit = auth ? SMTP_AUTH_LINE_MAX : SMTP_LINE_MAX;
	/* most lines are whole in the first chunk: no search across chunks, no second copy */
	first = NULL;
	if (evbuffer_peek(in, -1, NULL, &v, 1) >= 1 &&
	    (nl = memchr(v.iov_base, '\n', v.iov_len)) != NULL) {
		first = v.iov_base;
		len = (size_t)(nl - first) + 1;
	} else {
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (eol.pos == -1) {
			/* H6: over the limit before the line ends: throw it away */
			if (evbuffer_get_length(in) > limit) {
				s->flags |= SMTP_F_DISCARD;
				evbuffer_drain(in, evbuffer_get_length(in));
			}
			return 0;
		}
		len = (size_t)eol.pos + 1;
	}
	deadline_clear(s);	/* the line is whole */
	if ((s->flags & SMTP_F_DISCARD) || len > limit) {
		s->flags &= ~(uint32_t)SMTP_F_DISCARD;
		evbuffer_drain(in, len);
		if (auth) {
			/* the exchange ends with its overlong response (RFC 4954 6) */
			free(s->auth_user);
			s->auth_user = NULL;
			smtp_session_transition(s, SMTP_S_HELO);
			smtp_session_reply(s, 500, "5.5.6",
			    "Authentication Exchange line is too long");
		} else
			smtp_session_reply(s, 500, "5.5.2", "Line too long");
		smtp_cmd_error(s);
		return 1;
	}
	if (first != NULL) {
		memcpy(line, first, len);
		if (evbuffer_drain(in, len) != 0)
			fatalx("read_line: evbuffer_drain failed");
	} else if (evbuffer_remove(in, line, len) != (int)len)
		fatalx("read_line: evbuffer_remove short");
	line[len] = '\0';
	if (len < 2 || line[len - 2] != '\r') {
		smtp_session_reply(s, 500, "5.5.2", "Bare LF received; lines end with CRLF");
		smtp_cmd_error(s);
		explicit_bzero(line, len);
		return 1;
	}
	line[len - 2] = '\0';
	smtp_cmd_line(s, line, len - 2);
	explicit_bzero(line, len);
	return 1;
}

/* DATA octets to the state machine. */
static void
read_data(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec	vec[8];
	size_t			total = 0, used;
	int			n, i, ended = 0;

	n = evbuffer_peek(in, -1, NULL, vec, 8);
	for (i = 0; i < n && i < 8 && !ended; i++) {
		ended = smtp_data_feed(s->data, vec[i].iov_base, vec[i].iov_len, &used);
		total += used;
	}
	if (evbuffer_drain(in, total) != 0)
		fatalx("read_data: evbuffer_drain failed");
	s->data_raw += total;
	if (ended)
		smtp_cmd_data_end(s);
}

/* Between transactions after a stop or past the session lifetime: say 421. */
static int
wind_down(struct smtp_session *s)
{
	if (s->state != SMTP_S_INIT && s->state != SMTP_S_HELO)
		return 0;
	if (s->srv->stopping)
		smtp_session_close_reply(s, 421, "4.3.2", "Service shutting down");
	else if (s->flags & SMTP_F_EXPIRED)
		smtp_session_close_reply(s, 421, "4.4.2",
		    "Session lifetime exceeded, closing connection");
	else
		return 0;
	return 1;
}

/* Part of a line is here: it must be whole within timeout_command. */
static void
line_started(struct smtp_session *s, struct evbuffer *in)
{
	if (evbuffer_get_length(in) == 0 && !(s->flags & SMTP_F_DISCARD))
		return;
	if (s->deadline != NULL && !evtimer_pending(s->deadline, NULL))
		deadline_arm(s, s->srv->cfg->timeout_command * 1000);
}

/*
 * The client half-closed (EOF) and what it sent is processed: once its
 * replies are written, close. The queue's commit is waited for: a client
 * that shuts down its side right after the final dot still gets its 250
 * (or 4xx) and does not send the message again. A password check is not:
 * it is dropped with the session, as when the client resets.
 */
static void
eof_done(struct smtp_session *s)
{
	struct evbuffer *in, *out;

	if (s->bev == NULL || s->srv == NULL)
		return;
	switch (s->state) {
	case SMTP_S_COMMIT:
	case SMTP_S_CLOSING:
		return;
	case SMTP_S_AUTH_VERIFY:
		/* not the password check: a client that left must not keep the threads busy */
		log_info("%s: lost connection in state %s", s->addr, smtp_strstate(s->state));
		smtp_session_destroy(s);
		return;
	default:
		break;
	}
	in = bufferevent_get_input(s->bev);
	out = bufferevent_get_output(s->bev);
	/* commands held back until the client reads its replies (session_write) */
	if (evbuffer_get_length(in) != 0 && evbuffer_get_length(out) > SMTP_WRITE_HIWAT)
		return;
	if (s->state != SMTP_S_INIT && s->state != SMTP_S_HELO)
		log_info("%s: lost connection in state %s", s->addr, smtp_strstate(s->state));
	smtp_session_transition(s, SMTP_S_CLOSING);
	if (evbuffer_get_length(out) == 0) {
		smtp_session_destroy(s);
		return;
	}
	want_write(s);
}

/* Process what is buffered, in order, as far as the state allows (pipelining). */
void
smtp_session_resume(struct smtp_session *s)
{
	resume_input(s);
	if (s->flags & SMTP_F_EOF)
		eof_done(s);
}

static void
resume_input(struct smtp_session *s)
{
	struct evbuffer	*in;

	while (s->bev != NULL && s->srv != NULL) {
		if (wind_down(s))
			return;
		in = bufferevent_get_input(s->bev);
		if (evbuffer_get_length(in) == 0)
			return;
		/* a client that does not read its replies gets no more (resumed in session_write) */
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) > SMTP_WRITE_HIWAT)
			return;
		switch (s->state) {
		case SMTP_S_DATA:
			read_data(s, in);
			break;
		case SMTP_S_COMMIT:
		case SMTP_S_TLS_WAIT:
		case SMTP_S_TLS:
		case SMTP_S_AUTH_VERIFY:
		case SMTP_S_CLOSING:
			return;
		default:
			if (!read_line(s, in)) {
				line_started(s, in);
				return;
			}
			break;
		}
	}
}

static void
session_read(struct bufferevent *bev, void *arg)
{
	smtp_session_resume(arg);
}

/* Every reply is on the wire: what waited for that. */
static void
output_drained(struct smtp_session *s)
{
	if (s->state == SMTP_S_CLOSING)
		smtp_session_destroy(s);
	else if (s->state == SMTP_S_TLS_WAIT)
		begin_tls(s);
	else
		smtp_session_resume(s);
}

/* libevent wrote what session_flush() could not, or a TLS session's replies. */
static void
session_write(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (s->flush != NULL && bufferevent_disable(bev, EV_WRITE) != 0)
		log_warnx("%s: cannot stop writing", s->addr);
	output_drained(s);
}

/* The replies of this pass of the loop, straight to the socket (on_output). */
static void
session_flush(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session	*s = arg;
	struct evbuffer		*out;
	int			 n, saved;

	if (s->bev == NULL || s->fd == -1)
		return;
	out = bufferevent_get_output(s->bev);
	/* libevent is writing already (the socket blocked): session_write follows */
	if (evbuffer_get_length(out) == 0 || (bufferevent_get_enabled(s->bev) & EV_WRITE))
		return;
	/* a bufferevent's output is frozen at its start but while it writes */
	if (evbuffer_unfreeze(out, 1) != 0)
		fatalx("session_flush: evbuffer_unfreeze failed");
	n = evbuffer_write(out, s->fd);
	saved = errno;
	if (evbuffer_freeze(out, 1) != 0)
		fatalx("session_flush: evbuffer_freeze failed");
	if (n == -1 && saved != EAGAIN && saved != EINTR) {
		errno = saved;
		session_event(s->bev, BEV_EVENT_ERROR | BEV_EVENT_WRITING, s);
		return;
	}
	if (evbuffer_get_length(out) != 0) {
		if (bufferevent_enable(s->bev, EV_WRITE) != 0)
			log_warnx("%s: cannot write", s->addr);
		return;
	}
	output_drained(s);
}

/* DATA may take timeout_data plus a second per data_min_rate octets received. */
static uint64_t
data_allowance_ms(const struct smtp_session *s)
{
	const struct smtp_server	*srv = s->srv;
	uint64_t			 n = s->data_raw, limit = srv->cfg->message_size_limit;

	if (limit != 0 && n > limit)
		n = limit;
	return srv->cfg->timeout_data * 1000 + n * 1000 / srv->tune.data_min_rate;
}

static void
session_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session	*s = arg;
	uint64_t		 allowed, spent;

	if (s->srv == NULL || s->bev == NULL)
		return;
	switch (states[s->state].deadline) {
	case DL_DATA:
		allowed = data_allowance_ms(s);
		spent = strutil_now_ms() - s->deadline_start;
		if (spent < allowed) {
			deadline_arm(s, allowed - spent);
			return;
		}
		log_info("%s: DATA too slow: %llu octets in %llu ms", s->addr,
		    (unsigned long long)s->data_raw, (unsigned long long)spent);
		break;
	case DL_LINE:
		log_info("%s: command line not complete within %llu s", s->addr,
		    (unsigned long long)s->srv->cfg->timeout_command);
		break;
	case DL_TLS:
	case DL_LAST:
		/* nothing more can be said: in a handshake, or after the last reply */
		log_info("%s: %s not done in time", s->addr,
		    s->state == SMTP_S_CLOSING ? "last reply" : "TLS upgrade");
		smtp_session_destroy(s);
		return;
	case DL_NONE:
		return;
	}
	smtp_session_close_reply(s, 421, "4.4.2", "Timeout, closing connection");
}

static void
session_on_lifetime(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;

	if (s->srv == NULL || s->bev == NULL)
		return;
	log_info("%s: session lifetime (%llu s) exceeded in state %s", s->addr,
	    (unsigned long long)s->srv->tune.session_lifetime, smtp_strstate(s->state));
	s->flags |= SMTP_F_EXPIRED;
	smtp_session_resume(s);
}

static void
session_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == SMTP_S_TLS)
			tls_done(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		log_info("%s: timeout in state %s", s->addr, smtp_strstate(s->state));
		if (s->state == SMTP_S_CLOSING || s->state == SMTP_S_TLS ||
		    s->state == SMTP_S_TLS_WAIT || (what & BEV_EVENT_WRITING))
			smtp_session_destroy(s);
		else
			smtp_session_close_reply(s, 421, "4.4.2", "Timeout, closing connection");
		return;
	}
	/*
	 * A half-close, or a close we cannot tell from one: answer what was
	 * sent, the end of DATA included, then close (eof_done). The message
	 * stays stored whether the client reads its 250 or not.
	 */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    s->state != SMTP_S_TLS && s->state != SMTP_S_TLS_WAIT) {
		log_debug("%s: EOF in state %s", s->addr, smtp_strstate(s->state));
		s->flags |= SMTP_F_EOF;
		if (bufferevent_disable(bev, EV_READ) != 0)
			log_warnx("%s: cannot stop reading", s->addr);
		smtp_session_resume(s);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		if (s->state == SMTP_S_TLS)
			log_info("%s: TLS handshake failed", s->addr);
		else if (errno != 0)
			log_debug("%s: connection error: %s", s->addr, strerror(errno));
	}
	if (s->state != SMTP_S_CLOSING && s->state != SMTP_S_COMMIT &&
	    s->state != SMTP_S_INIT && s->state != SMTP_S_HELO)
		log_info("%s: lost connection in state %s", s->addr, smtp_strstate(s->state));
	smtp_session_destroy(s);
}
