/*
 * smtp_client.c: one outbound SMTP connection: connect, greeting, EHLO (or
 * HELO), STARTTLS as the TLS mode demands (S24-S28, H4), per-state timeouts
 * (RFC 5321 4.5.3.2), replies read line by line within bounds, and the
 * session's outcome. The transaction itself is in smtp_client_txn.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/smtp_client_int.h"

static const struct {
	const char		*name;
	enum smtpc_timeout	 timeout;
} states[SMTPC_S_COUNT] = {
	[SMTPC_S_CONNECTING] =	{ "CONNECTING", SMTPC_TO_CONNECT },
	[SMTPC_S_GREETING] =	{ "GREETING", SMTPC_TO_GREETING },
	[SMTPC_S_EHLO] =	{ "EHLO", SMTPC_TO_EHLO },
	[SMTPC_S_HELO] =	{ "HELO", SMTPC_TO_EHLO },
	[SMTPC_S_STARTTLS] =	{ "STARTTLS", SMTPC_TO_STARTTLS },
	[SMTPC_S_HANDSHAKE] =	{ "HANDSHAKE", SMTPC_TO_STARTTLS },
	[SMTPC_S_READY] =	{ "READY", SMTPC_TO_IDLE },
	[SMTPC_S_MAIL] =	{ "MAIL", SMTPC_TO_MAIL },
	[SMTPC_S_RCPT] =	{ "RCPT", SMTPC_TO_RCPT },
	[SMTPC_S_DATA] =	{ "DATA", SMTPC_TO_DATA },
	[SMTPC_S_BODY] =	{ "BODY", SMTPC_TO_BLOCK },
	[SMTPC_S_DOT] =		{ "DOT", SMTPC_TO_DOT },
	[SMTPC_S_RSET] =	{ "RSET", SMTPC_TO_EHLO },
	[SMTPC_S_QUIT] =	{ "QUIT", SMTPC_TO_EHLO },
	[SMTPC_S_DEAD] =	{ "DEAD", SMTPC_TO_COUNT },
};

/* RFC 5321 4.5.3.2, in ms; STARTTLS and the handshake: 1 min. */
static const uint32_t default_timeouts[SMTPC_TO_COUNT] = {
	[SMTPC_TO_CONNECT] = 30 * 1000,
	[SMTPC_TO_GREETING] = 5 * 60 * 1000,
	[SMTPC_TO_EHLO] = 5 * 60 * 1000,
	[SMTPC_TO_STARTTLS] = 60 * 1000,
	[SMTPC_TO_MAIL] = 5 * 60 * 1000,
	[SMTPC_TO_RCPT] = 5 * 60 * 1000,
	[SMTPC_TO_DATA] = 2 * 60 * 1000,
	[SMTPC_TO_BLOCK] = 3 * 60 * 1000,
	[SMTPC_TO_DOT] = 10 * 60 * 1000,
	[SMTPC_TO_IDLE] = 5 * 60 * 1000,
};

static void	smtpc_on_read(struct bufferevent *, void *);
static void	smtpc_on_write(struct bufferevent *, void *);
static void	smtpc_on_event(struct bufferevent *, short, void *);
static void	smtpc_on_defer(evutil_socket_t, short, void *);

const char *
smtpc_strstate(enum smtpc_state st)
{
	if ((unsigned)st >= SMTPC_S_COUNT)
		return "?";
	return states[st].name;
}

void
smtpc_params_default(struct smtpc_params *p)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->timeout_ms, default_timeouts, sizeof(p->timeout_ms));
}

static void
set_timeouts(struct smtpc_session *s)
{
	struct timeval	tv;
	uint32_t	ms;

	if (s->bev == NULL || states[s->state].timeout == SMTPC_TO_COUNT)
		return;
	ms = s->params.timeout_ms[states[s->state].timeout];
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (bufferevent_set_timeouts(s->bev, &tv, &tv) != 0)
		log_warnx("%s: cannot set timeouts", s->out.relay);
}

void
smtpc_transition(struct smtpc_session *s, enum smtpc_state st)
{
	if ((unsigned)st >= SMTPC_S_COUNT)
		fatalx("smtpc_transition: bad state %d", (int)st);
	log_debug("%s: %s -> %s", s->out.relay, smtpc_strstate(s->state), smtpc_strstate(st));
	s->state = st;
	set_timeouts(s);
}

void
smtpc_cmd(struct smtpc_session *s, const char *fmt, ...)
{
	char	line[SMTPC_REPLY_LINE_MAX + 64];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		fatalx("smtpc_cmd: command too long");
	log_debug("%s: >>> %s", s->out.relay, line);
	if (s->bev == NULL)
		return;
	line[n++] = '\r';
	line[n++] = '\n';
	if (evbuffer_add(bufferevent_get_output(s->bev), line, (size_t)n) == -1)
		log_warnx("%s: cannot queue a command", s->out.relay);
}

void
smtpc_defer(struct smtpc_session *s, unsigned what)
{
	struct timeval tv = { 0, 0 };

	s->defer |= what;
	if (evtimer_add(s->ev_defer, &tv) != 0)
		fatalx("smtpc_defer: evtimer_add failed");
}

static void
close_conn(struct smtpc_session *s)
{
	SSL *ssl;

	/* a clean close keeps the TLS session resumable (close_notify) */
	if (s->bev != NULL && s->out.tls && s->state == SMTPC_S_QUIT &&
	    (ssl = bufferevent_openssl_get_ssl(s->bev)) != NULL) {
		if (SSL_shutdown(ssl) < 0)
			log_debug("%s: TLS shutdown incomplete", s->out.relay);
		ERR_clear_error();
	}
	/*
	 * Out of the event loop before the descriptor is closed: freed from
	 * inside its own callback, the bufferevent keeps its read event
	 * registered until that callback returns, and a socket opened
	 * meanwhile under the same number (a DNS query) would never be polled.
	 */
	if (s->bev != NULL) {
		if (bufferevent_disable(s->bev, EV_READ | EV_WRITE) == -1)
			log_debug("%s: bufferevent_disable failed", s->out.relay);
		bufferevent_free(s->bev);
	}
	s->bev = NULL;
	if (s->fd != -1 && close(s->fd) == -1)
		log_warn("%s: close", s->out.relay);
	s->fd = -1;
}

static void
destroy(struct smtpc_session *s)
{
	close_conn(s);
	smtpc_txn_clear(s);
	if (s->ev_defer != NULL)
		event_free(s->ev_defer);
	free(s);
}

void
smtpc_free(struct smtpc_session *s)
{
	if (s == NULL)
		return;
	close_conn(s);
	s->freed = 1;
	if (s->state != SMTPC_S_DEAD)
		smtpc_transition(s, SMTPC_S_DEAD);
	if (s->refs == 0)
		destroy(s);
}

static void
hold(struct smtpc_session *s)
{
	s->refs++;
}

static void
release(struct smtpc_session *s)
{
	if (--s->refs == 0 && s->freed)
		destroy(s);
}

static void
notify_ready(struct smtpc_session *s)
{
	if (s->ready_done || s->freed)
		return;
	s->ready_done = 1;
	hold(s);
	s->on_ready(s, &s->out, s->ready_arg);
	release(s);
}

/*
 * The session cannot go on: record why (the first reason wins), close, and
 * tell whoever waits: the caller of smtpc_connect, or of smtpc_send.
 */
void
smtpc_fail(struct smtpc_session *s, enum smtpc_kind kind, const char *enhanced,
    const char *fmt, ...)
{
	char			text[SMTPC_REPLY_TEXT_MAX];
	va_list			ap;
	enum smtpc_state	was = s->state;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (s->out.status.kind == SMTPC_OK)
		smtpc_status_set(&s->out.status, kind, 1, 0, enhanced, text);
	log_info("%s: session failed in state %s: %s %s", s->out.relay,
	    smtpc_strstate(was), enhanced, text);
	close_conn(s);
	smtpc_transition(s, SMTPC_S_DEAD);
	if (s->msg != NULL)
		smtpc_txn_abort(s, &s->out.status);
	else if (!s->ready_done)
		notify_ready(s);
}

/* The remote's reply ends the session before it was ready. */
static void
fail_reply(struct smtpc_session *s, const char *what)
{
	smtpc_status_reply(&s->out.status, &s->reply);
	s->out.status.local = 0;
	if (s->out.status.kind == SMTPC_OK)
		s->out.status.kind = SMTPC_TEMP;
	log_info("%s: %s refused: %d %s", s->out.relay, what, s->reply.code, s->reply.text);
	smtpc_fail(s, s->out.status.kind, s->out.status.enhanced, "%s", s->out.status.text);
}

static void
ready(struct smtpc_session *s)
{
	char caps[128];

	smtpc_caps_format(&s->out.caps, caps, sizeof(caps));
	log_debug("%s: ready tls=%s verified=%s caps=%s", s->out.relay,
	    s->out.tls ? s->out.tls_version : "none", s->out.verified ? "yes" : "no", caps);
	smtpc_transition(s, SMTPC_S_READY);
	notify_ready(s);
}

/* S27/S28: STARTTLS missing or refused. */
static void
no_starttls(struct smtpc_session *s, const char *why)
{
	s->out.tls_result = TLS_CLIENT_STARTTLS_NOT_SUPPORTED;
	strutil_lcpy(s->out.tls_detail, why, sizeof(s->out.tls_detail));
	if (s->out.mode == SMTPC_TLS_VERIFY) {
		if (strcmp(why, tls_client_result_text(TLS_CLIENT_STARTTLS_NOT_SUPPORTED)) == 0)
			smtpc_fail(s, SMTPC_TEMP, "4.7.4", "%s", why);
		else
			smtpc_fail(s, SMTPC_TEMP, "4.7.4", "%s (%s)",
			    tls_client_result_text(TLS_CLIENT_STARTTLS_NOT_SUPPORTED), why);
		return;
	}
	if (s->out.mode == SMTPC_TLS_TESTING)
		log_info("%s: policy violation starttls-not-supported (%s), "
		    "testing mode: continuing without TLS", s->out.relay, why);
	ready(s);
}

/* After EHLO or HELO: STARTTLS or not, as the mode says. */
static void
decide_tls(struct smtpc_session *s)
{
	if (!s->out.tls)
		s->out.starttls_offered = (s->out.caps.flags & SMTPC_CAP_STARTTLS) != 0;
	if (s->out.tls || s->out.mode == SMTPC_TLS_PLAINTEXT) {
		ready(s);
		return;
	}
	if (!s->out.starttls_offered) {
		no_starttls(s, s->out.esmtp ? "STARTTLS not offered" : "EHLO refused");
		return;
	}
	smtpc_transition(s, SMTPC_S_STARTTLS);
	smtpc_cmd(s, "STARTTLS");
}

static void
send_ehlo(struct smtpc_session *s)
{
	memset(&s->out.caps, 0, sizeof(s->out.caps));	/* H4: forget them all */
	smtpc_transition(s, SMTPC_S_EHLO);
	smtpc_cmd(s, "EHLO %s", s->params.helo_name);
}

/* The 220 to STARTTLS: nothing may follow it before the handshake (H4). */
static void
begin_tls(struct smtpc_session *s)
{
	struct evbuffer		*in = bufferevent_get_input(s->bev);
	struct bufferevent	*bev;
	SSL			*ssl;
	size_t			 extra = evbuffer_get_length(in);

	if (extra != 0) {
		s->out.tls_result = TLS_CLIENT_VALIDATION_FAILURE;
		snprintf(s->out.tls_detail, sizeof(s->out.tls_detail),
		    "%zu bytes of plaintext after the 220 to STARTTLS", extra);
		log_warnx("%s: H4: %zu bytes received after the 220 to STARTTLS: "
		    "possible injection, closing", s->out.relay, extra);
		s->out.retry_plaintext = s->out.mode == SMTPC_TLS_TESTING ||
		    s->out.mode == SMTPC_TLS_OPPORTUNISTIC;
		smtpc_fail(s, SMTPC_TEMP, "4.7.5", "plaintext received after 220 to STARTTLS");
		return;
	}
	ssl = tls_client_ssl_new(s->tls, s->out.mx_host, s->out.mode == SMTPC_TLS_VERIFY);
	if (ssl == NULL) {
		smtpc_fail(s, SMTPC_TEMP, "4.7.5", "cannot create a TLS session");
		return;
	}
	bufferevent_free(s->bev);
	s->bev = NULL;
	bev = bufferevent_openssl_socket_new(s->base, s->fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		smtpc_fail(s, SMTPC_TEMP, "4.7.5", "cannot start TLS");
		return;
	}
	s->fd = -1;	/* the TLS bufferevent owns it */
	s->bev = bev;
	bufferevent_setcb(bev, smtpc_on_read, smtpc_on_write, smtpc_on_event, s);
	bufferevent_setwatermark(bev, EV_WRITE, 16 * 1024, 0);
	if (bufferevent_enable(bev, EV_READ | EV_WRITE) != 0) {
		smtpc_fail(s, SMTPC_TEMP, "4.7.5", "cannot start TLS");
		return;
	}
	smtpc_transition(s, SMTPC_S_HANDSHAKE);
}

static void
tls_done(struct smtpc_session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

	if (ssl == NULL)
		fatalx("tls_done: no SSL");
	s->out.tls = 1;
	s->out.resumed = SSL_session_reused(ssl);
	strutil_lcpy(s->out.tls_version, SSL_get_version(ssl), sizeof(s->out.tls_version));
	strutil_lcpy(s->out.tls_cipher, SSL_get_cipher_name(ssl), sizeof(s->out.tls_cipher));
	s->out.verified = tls_client_verified(ssl);
	if (!s->out.verified) {
		s->out.tls_result = tls_client_result_of(ssl, 0);
		strutil_lcpy(s->out.tls_detail,
		    X509_verify_cert_error_string(SSL_get_verify_result(ssl)),
		    sizeof(s->out.tls_detail));
	}
	log_info("%s: TLS established %s %s verified=%s resumed=%s%s%s", s->out.relay,
	    s->out.tls_version, s->out.tls_cipher, s->out.verified ? "yes" : "no",
	    s->out.resumed ? "yes" : "no", s->out.verified ? "" : " result=",
	    s->out.verified ? "" : tls_client_result_name(s->out.tls_result));
	if (!s->out.verified && s->out.mode == SMTPC_TLS_VERIFY) {
		/* SSL_VERIFY_PEER should have failed the handshake already */
		smtpc_fail(s, SMTPC_TEMP, "4.7.5", "%s (%s)",
		    tls_client_result_text(s->out.tls_result), s->out.tls_detail);
		return;
	}
	send_ehlo(s);	/* H4: capabilities again, over TLS */
}

static void
tls_failed(struct smtpc_session *s)
{
	SSL		*ssl = bufferevent_openssl_get_ssl(s->bev);
	unsigned long	 e;
	char		 buf[128];

	s->out.tls_result = ssl != NULL ? tls_client_result_of(ssl, 1) :
	    TLS_CLIENT_VALIDATION_FAILURE;
	if (ssl != NULL && SSL_get_verify_result(ssl) != X509_V_OK)
		strutil_lcpy(s->out.tls_detail,
		    X509_verify_cert_error_string(SSL_get_verify_result(ssl)),
		    sizeof(s->out.tls_detail));
	else if ((e = bufferevent_get_openssl_error(s->bev)) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		strutil_lcpy(s->out.tls_detail, buf, sizeof(s->out.tls_detail));
	} else
		strutil_lcpy(s->out.tls_detail, "connection closed during the handshake",
		    sizeof(s->out.tls_detail));
	while (bufferevent_get_openssl_error(s->bev) != 0)
		;
	ERR_clear_error();	/* nothing of this session's failure for the next user */
	s->out.retry_plaintext = s->out.mode != SMTPC_TLS_VERIFY;
	smtpc_fail(s, SMTPC_TEMP, tls_client_result_enhanced(s->out.tls_result),
	    "%s (%s)", tls_client_result_text(s->out.tls_result), s->out.tls_detail);
}

/* One complete reply, outside a transaction. */
static void
session_reply(struct smtpc_session *s)
{
	int code = s->reply.code;

	switch (s->state) {
	case SMTPC_S_GREETING:
		if (code != 220)
			fail_reply(s, "greeting");
		else
			send_ehlo(s);
		break;
	case SMTPC_S_EHLO:
		if (code / 100 == 2) {
			s->out.esmtp = 1;
			decide_tls(s);
		} else if (code / 100 == 5 && s->out.mode == SMTPC_TLS_VERIFY && !s->out.tls) {
			/* HELO cannot offer STARTTLS: no use asking */
			no_starttls(s, "EHLO refused");
		} else if (code / 100 == 5) {
			s->out.esmtp = 0;
			memset(&s->out.caps, 0, sizeof(s->out.caps));
			smtpc_transition(s, SMTPC_S_HELO);
			smtpc_cmd(s, "HELO %s", s->params.helo_name);
		} else
			fail_reply(s, "EHLO");
		break;
	case SMTPC_S_HELO:
		if (code / 100 == 2)
			decide_tls(s);
		else
			fail_reply(s, "HELO");
		break;
	case SMTPC_S_STARTTLS:
		if (code == 220)
			begin_tls(s);
		else
			no_starttls(s, s->reply.text);
		break;
	case SMTPC_S_QUIT:
		smtpc_free(s);
		break;
	default:
		/* READY: unsolicited (a 421 on shutdown): the connection is done */
		log_info("%s: unexpected reply in state %s: %d %s", s->out.relay,
		    smtpc_strstate(s->state), code, s->reply.text);
		smtpc_fail(s, SMTPC_TEMP, "4.4.2", "unexpected reply: %d %s", code, s->reply.text);
		break;
	}
}

static int
reading(const struct smtpc_session *s)
{
	return s->bev != NULL && !s->freed && s->state != SMTPC_S_DEAD &&
	    s->state != SMTPC_S_CONNECTING && s->state != SMTPC_S_HANDSHAKE &&
	    s->state != SMTPC_S_BODY;
}

/* Lines to replies, replies to their handler, as far as the state allows. */
static void
process_input(struct smtpc_session *s)
{
	struct evbuffer			*in;
	struct evbuffer_ptr		 eol;
	size_t				 eol_len, len;
	enum smtpc_reply_status		 rs;

	while (reading(s)) {
		in = bufferevent_get_input(s->bev);
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
		if (eol.pos == -1) {
			if (evbuffer_get_length(in) + 2 > SMTPC_REPLY_LINE_MAX)
				smtpc_fail(s, SMTPC_TEMP, "4.5.0", "protocol error: %s",
				    smtpc_reply_strerror(SMTPC_REPLY_ERR_LONG));
			return;
		}
		len = (size_t)eol.pos;
		if (len + 2 > SMTPC_REPLY_LINE_MAX) {
			smtpc_fail(s, SMTPC_TEMP, "4.5.0", "protocol error: %s",
			    smtpc_reply_strerror(SMTPC_REPLY_ERR_LONG));
			return;
		}
		if (evbuffer_remove(in, s->line, len) != (int)len ||
		    evbuffer_drain(in, eol_len) != 0)
			fatalx("process_input: evbuffer_remove short");
		s->line[len] = '\0';
		if (s->reply.nlines == 0)
			smtpc_reply_init(&s->reply);
		rs = smtpc_reply_feed(&s->reply, s->line, len);
		log_debug("%s: <<< %s", s->out.relay, s->line);
		if (rs != SMTPC_REPLY_MORE && rs != SMTPC_REPLY_DONE) {
			smtpc_fail(s, SMTPC_TEMP, "4.5.0", "protocol error: %s",
			    smtpc_reply_strerror(rs));
			return;
		}
		if (s->state == SMTPC_S_EHLO && s->reply.code == 250 && s->reply.nlines > 1)
			smtpc_caps_line(&s->out.caps, s->reply.line_text);
		if (rs == SMTPC_REPLY_MORE)
			continue;
		s->reply.nlines = 0;	/* the next line starts a new reply */
		if (s->state >= SMTPC_S_MAIL && s->state <= SMTPC_S_RSET)
			smtpc_txn_reply(s);
		else
			session_reply(s);
	}
}

static void
smtpc_on_read(struct bufferevent *bev, void *arg)
{
	struct smtpc_session *s = arg;

	hold(s);
	process_input(s);
	release(s);
}

static void
smtpc_on_write(struct bufferevent *bev, void *arg)
{
	struct smtpc_session *s = arg;

	hold(s);
	if (s->state == SMTPC_S_BODY) {
		smtpc_txn_fill(s);
		process_input(s);	/* a reply that came early waits in the buffer */
	}
	release(s);
}

static void
on_timeout(struct smtpc_session *s)
{
	log_info("%s: timeout in state %s", s->out.relay, smtpc_strstate(s->state));
	switch (s->state) {
	case SMTPC_S_CONNECTING:
		smtpc_fail(s, SMTPC_TEMP, "4.4.1", "connection timed out");
		break;
	case SMTPC_S_HANDSHAKE:
		s->out.tls_result = TLS_CLIENT_VALIDATION_FAILURE;
		strutil_lcpy(s->out.tls_detail, "handshake timed out", sizeof(s->out.tls_detail));
		s->out.retry_plaintext = s->out.mode != SMTPC_TLS_VERIFY;
		smtpc_fail(s, SMTPC_TEMP, "4.4.2", "timeout during the TLS handshake");
		break;
	case SMTPC_S_QUIT:
		smtpc_free(s);
		break;
	default:
		smtpc_fail(s, SMTPC_TEMP, "4.4.2", "timeout in state %s",
		    smtpc_strstate(s->state));
		break;
	}
}

static void
local_address(struct smtpc_session *s)
{
	struct sockaddr_storage	ss;
	socklen_t		len = sizeof(ss);

	if (getsockname(s->fd, (struct sockaddr *)&ss, &len) == -1) {
		log_warn("%s: getsockname", s->out.relay);
		return;
	}
	netaddr_format_host((struct sockaddr *)&ss, s->out.local_addr, sizeof(s->out.local_addr));
}

static void
smtpc_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtpc_session	*s = arg;
	int			 err = errno;

	hold(s);
	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == SMTPC_S_CONNECTING) {
			local_address(s);
			log_debug("%s: connected from %s", s->out.relay, s->out.local_addr);
			smtpc_transition(s, SMTPC_S_GREETING);
		} else if (s->state == SMTPC_S_HANDSHAKE)
			tls_done(s);
	} else if (what & BEV_EVENT_TIMEOUT)
		on_timeout(s);
	else if (s->state == SMTPC_S_CONNECTING)
		smtpc_fail(s, SMTPC_TEMP, "4.4.1", "cannot connect: %s",
		    err != 0 ? strerror(err) : "connection failed");
	else if (s->state == SMTPC_S_HANDSHAKE)
		tls_failed(s);
	else if (s->state == SMTPC_S_QUIT)
		smtpc_free(s);
	else
		smtpc_fail(s, SMTPC_TEMP, "4.4.2", "connection lost in state %s%s%s",
		    smtpc_strstate(s->state), (what & BEV_EVENT_ERROR) && err ? ": " : "",
		    (what & BEV_EVENT_ERROR) && err ? strerror(err) : "");
	release(s);
}

static void
smtpc_on_defer(evutil_socket_t fd, short ev, void *arg)
{
	struct smtpc_session	*s = arg;
	unsigned		 what = s->defer;

	s->defer = 0;
	hold(s);
	if (what & SMTPC_DEFER_READY)
		notify_ready(s);
	if ((what & SMTPC_DEFER_SENT) && !s->freed)
		smtpc_txn_notify(s);
	release(s);
}

/*
 * Commands and the body go out as soon as they are written: without
 * TCP_NODELAY the last small segment of a transaction (over TLS, the record
 * with the final dot) waits for the server's delayed ACK, about 40 ms a
 * message on Linux. The client writes each burst in one piece, so no small
 * segments are sent that Nagle's algorithm would have merged.
 */
static void
set_nodelay(struct smtpc_session *s, int family)
{
	int one = 1;

	if (family != AF_INET && family != AF_INET6)
		return;
	if (setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		log_debug("%s: TCP_NODELAY: %s", s->out.relay, strerror(errno));
}

static int
open_socket(struct smtpc_session *s, const struct sockaddr *sa, socklen_t salen)
{
	if ((s->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	set_nodelay(s, sa->sa_family);
	if ((s->bev = bufferevent_socket_new(s->base, s->fd, 0)) == NULL)
		return -1;
	bufferevent_setcb(s->bev, smtpc_on_read, smtpc_on_write, smtpc_on_event, s);
	bufferevent_setwatermark(s->bev, EV_WRITE, 16 * 1024, 0);
	smtpc_transition(s, SMTPC_S_CONNECTING);
	if (bufferevent_enable(s->bev, EV_READ | EV_WRITE) != 0)
		return -1;
	return bufferevent_socket_connect(s->bev, sa, (int)salen);
}

struct smtpc_session *
smtpc_connect(struct event_base *base, struct tls_client *tls, const struct smtpc_params *p,
    const struct sockaddr *sa, socklen_t salen, const char *mx_host,
    enum smtpc_tls_mode mode, smtpc_on_ready_fn *cb, void *arg)
{
	struct smtpc_session	*s;
	char			 host[NETADDR_STRLEN];
	size_t			 i;

	if (tls == NULL && mode != SMTPC_TLS_PLAINTEXT)
		fatalx("smtpc_connect: TLS mode %s without a TLS context", smtpc_mode_name(mode));
	if (p->helo_name == NULL || cb == NULL)
		fatalx("smtpc_connect: no HELO name or callback");
	s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->tls = tls;
	s->params = *p;
	for (i = 0; i < SMTPC_TO_COUNT; i++)
		if (s->params.timeout_ms[i] == 0)
			s->params.timeout_ms[i] = default_timeouts[i];
	s->fd = -1;
	s->on_ready = cb;
	s->ready_arg = arg;
	s->out.mode = mode;
	/* the name for SNI and the certificate check has no final dot (S22) */
	strutil_lcpy(s->out.mx_host, mx_host, sizeof(s->out.mx_host));
	if ((i = strlen(s->out.mx_host)) > 1 && s->out.mx_host[i - 1] == '.')
		s->out.mx_host[i - 1] = '\0';
	netaddr_format(sa, s->out.addr, sizeof(s->out.addr));
	netaddr_format_host(sa, host, sizeof(host));
	snprintf(s->out.relay, sizeof(s->out.relay), "%s[%s]:%d", s->out.mx_host, host,
	    netaddr_port(sa));
	if ((s->ev_defer = evtimer_new(base, smtpc_on_defer, s)) == NULL)
		fatalx("smtpc_connect: evtimer_new failed");
	if (open_socket(s, sa, salen) == -1) {
		if (s->out.status.kind == SMTPC_OK)
			smtpc_status_set(&s->out.status, SMTPC_TEMP, 1, 0, "4.4.1",
			    strerror(errno));
		log_info("%s: cannot connect: %s", s->out.relay, s->out.status.text);
		close_conn(s);
		smtpc_transition(s, SMTPC_S_DEAD);
		smtpc_defer(s, SMTPC_DEFER_READY);
	}
	return s;
}

int
smtpc_usable(const struct smtpc_session *s)
{
	return s->state == SMTPC_S_READY && !s->freed && s->bev != NULL;
}

const struct smtpc_outcome *
smtpc_outcome(const struct smtpc_session *s)
{
	return &s->out;
}

void
smtpc_quit(struct smtpc_session *s)
{
	if (!smtpc_usable(s)) {
		smtpc_free(s);
		return;
	}
	smtpc_transition(s, SMTPC_S_QUIT);
	smtpc_cmd(s, "QUIT");
}
