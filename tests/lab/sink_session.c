/*
 * sink_session.c: the SMTP server side of lab-smtp-sink. It accepts what a
 * well-behaved server accepts, answers as the listener's configuration says,
 * and records how each message came: envelope, digest, TLS, SNI, whether EHLO
 * was sent again after TLS and whether MAIL came in plaintext.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "tests/lab/lab_ev.h"
#include "tests/lab/sink_msg.h"
#include "tests/lab/sink_session.h"

#define SINK_CMD_MAX	4096		/* command line, generous on purpose */
#define SINK_DATA_MAX	65536		/* one line of message text */
#define SINK_ADDR_MAX	512
#define SINK_MAX_RCPT	1000
#define SINK_TIMEOUT	60		/* seconds of silence before 421 */

enum sink_state {
	SINK_S_INIT = 0,	/* greeting sent, no EHLO yet */
	SINK_S_READY,		/* EHLO done, no transaction */
	SINK_S_MAIL,		/* MAIL accepted */
	SINK_S_RCPT,		/* at least one recipient accepted */
	SINK_S_DATA,		/* reading the message text */
	SINK_S_TLS,		/* TLS handshake running */
	SINK_S_ABORT,		/* waiting for the ClientHello to drop it */
	SINK_S_CLOSING		/* last reply on its way */
};

static const char *const sink_state_names[] = {
	"init", "ready", "mail", "rcpt", "data", "tls", "abort", "closing"
};

struct sink_session {
	struct sink_listener	*l;
	struct bufferevent	*bev;
	unsigned long		 id;
	enum sink_state		 state;
	char			 peer[NETADDR_STRLEN];
	int			 tls;
	char			 tls_version[32];
	char			 cipher[128];
	char			 sni[256];
	int			 ehlo_after_tls;
	char			 helo[256];
	/* the transaction */
	char			*from;
	char			 mail_params[512];
	int			 mail_plaintext;
	char			*rcpts[SINK_MAX_RCPT];
	size_t			 nrcpt;
	struct sink_msg		 msg;		/* during DATA */
	int			 freeing;	/* the free is scheduled */
	struct evbuffer_cb_entry *flushcb;	/* on the socket's output, after TLS */
	/*
	 * Replies made while reading go out together when the read is done:
	 * the replies to pipelined commands in one TLS record and one write.
	 */
	struct evbuffer		*pending;
	int			 batching;
	char			*line;		/* the line being handled */
	size_t			 linecap;
};

struct sink_cmd {
	const char	*name;
	unsigned	 states;	/* bit per enum sink_state */
	void		(*fn)(struct sink_session *, const char *);
};

#define ST(x)	(1u << (x))
#define ST_ANY	(ST(SINK_S_INIT) | ST(SINK_S_READY) | ST(SINK_S_MAIL) | ST(SINK_S_RCPT))

static void	sink_on_read(struct bufferevent *, void *);
static void	sink_on_write(struct bufferevent *, void *);
static void	sink_on_event(struct bufferevent *, short, void *);

static const char *
sink_strstate(enum sink_state st)
{
	if ((unsigned)st >= sizeof(sink_state_names) / sizeof(sink_state_names[0]))
		fatalx("sink_strstate: bad state %d", (int)st);
	return sink_state_names[st];
}

static void
sink_set_state(struct sink_session *s, enum sink_state st)
{
	log_debug("conn=%lu state %s -> %s", s->id, sink_strstate(s->state),
	    sink_strstate(st));
	s->state = st;
}

static void sink_log(struct sink_session *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
sink_log(struct sink_session *s, const char *fmt, ...)
{
	char	msg[4096];
	va_list	ap;

	if (!s->l->srv->logging && log_get_level() < LOG_LVL_DEBUG)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lab_rec(s->l->srv->log, "conn=%lu listener=%s %s", s->id, s->l->conf->name, msg);
	log_debug("conn=%lu listener=%s %s", s->id, s->l->conf->name, msg);
}

static void sink_reply(struct sink_session *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
sink_reply(struct sink_session *s, const char *fmt, ...)
{
	char	line[1024];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("sink_reply: vsnprintf");
	if ((size_t)n > sizeof(line) - 3)
		n = sizeof(line) - 3;
	sink_log(s, "S: %s", line);
	line[n++] = '\r';
	line[n++] = '\n';
	if (evbuffer_add(s->batching ? s->pending : bufferevent_get_output(s->bev), line,
	    (size_t)n) == -1)
		log_warnx("conn=%lu: cannot queue reply", s->id);
}

/* The replies held during a read go out, in one piece. */
static void
sink_flush(struct sink_session *s)
{
	s->batching = 0;
	if (evbuffer_get_length(s->pending) > 0 &&
	    evbuffer_add_buffer(bufferevent_get_output(s->bev), s->pending) == -1)
		log_warnx("conn=%lu: cannot queue replies", s->id);
}

static void
sink_reset(struct sink_session *s)
{
	size_t	i;

	free(s->from);
	s->from = NULL;
	for (i = 0; i < s->nrcpt; i++)
		free(s->rcpts[i]);
	s->nrcpt = 0;
	s->mail_params[0] = '\0';
	sink_msg_abort(&s->msg);
}

static void
sink_free(struct sink_session *s)
{
	SSL	*ssl;

	sink_log(s, "closed");
	sink_reset(s);
	if (s->bev != NULL && (ssl = bufferevent_openssl_get_ssl(s->bev)) != NULL)
		SSL_set_app_data(ssl, NULL);	/* no alert callback after this */
	if (s->flushcb != NULL && evbuffer_remove_cb_entry(bufferevent_get_output(
	    bufferevent_get_underlying(s->bev)), s->flushcb) == -1)
		fatalx("sink_free: evbuffer_remove_cb_entry");
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	evbuffer_free(s->pending);
	free(s->line);
	free(s);
}

static void
sink_on_free(evutil_socket_t fd, short what, void *arg)
{
	sink_free(arg);
}

/* Free from the event loop, not from inside a buffer's callback. */
static void
sink_free_later(struct sink_session *s)
{
	if (s->freeing)
		return;
	s->freeing = 1;
	if (event_base_once(s->l->srv->base, -1, EV_TIMEOUT, sink_on_free, s,
	    &(struct timeval){ 0, 0 }) == -1)
		fatalx("sink_free_later: event_base_once");
}

static void
sink_on_flushed(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	if (evbuffer_get_length(buf) == 0)
		sink_free_later(arg);
}

/*
 * After TLS, the last reply is out once the TLS filter has encrypted it into
 * the socket's output and that output has drained.
 */
static void
sink_tls_flush_then_free(struct sink_session *s)
{
	struct evbuffer	*out;

	if (evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
		return;				/* sink_on_write calls again */
	if (s->flushcb == NULL) {
		/* the last reply is encrypted: say goodbye properly (close_notify) */
		if (SSL_shutdown(bufferevent_openssl_get_ssl(s->bev)) < 0)
			ERR_clear_error();
	}
	out = bufferevent_get_output(bufferevent_get_underlying(s->bev));
	if (evbuffer_get_length(out) == 0)
		sink_free_later(s);
	else if (s->flushcb == NULL &&
	    (s->flushcb = evbuffer_add_cb(out, sink_on_flushed, s)) == NULL)
		fatalx("sink_tls_flush_then_free: evbuffer_add_cb");
}

/* Flush the last reply, then close. */
static void
sink_close(struct sink_session *s)
{
	sink_flush(s);
	sink_set_state(s, SINK_S_CLOSING);
	if (s->tls) {
		/* and should the flush never end: the peer's close or a timeout */
		lab_ev_read_timeout(s->bev, 2);
		sink_tls_flush_then_free(s);
		return;
	}
	lab_ev_disable_read(s->bev);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		sink_free(s);
}

/* "FROM:<addr> params" -> addr and params; -1 when malformed */
static int
sink_parse_path(const char *args, const char *prefix, char *addr, size_t addrlen,
    char *params, size_t paramlen)
{
	const char	*p, *end;
	size_t		 n = strlen(prefix);

	if (strncasecmp(args, prefix, n) != 0)
		return -1;
	p = args + n;
	while (*p == ' ')
		p++;
	if (*p != '<' || (end = strchr(p, '>')) == NULL)
		return -1;
	if ((size_t)(end - p - 1) >= addrlen)
		return -1;
	memcpy(addr, p + 1, end - p - 1);
	addr[end - p - 1] = '\0';
	p = end + 1;
	while (*p == ' ')
		p++;
	strutil_lcpy(params, p, paramlen);
	return 0;
}

static void
sink_cmd_ehlo(struct sink_session *s, const char *args)
{
	const struct sink_lconf	*c = s->l->conf;
	const char		*ext[8];
	size_t			 n = 0, i;

	sink_reset(s);
	strutil_lcpy(s->helo, args, sizeof(s->helo));
	if (s->tls)
		s->ehlo_after_tls = 1;
	sink_set_state(s, SINK_S_READY);
	ext[n++] = "PIPELINING";
	ext[n++] = "ENHANCEDSTATUSCODES";
	if (c->eightbitmime)
		ext[n++] = "8BITMIME";
	if (c->smtputf8)
		ext[n++] = "SMTPUTF8";
	if (c->starttls != SINK_STARTTLS_NONE && !s->tls)
		ext[n++] = "STARTTLS";
	sink_reply(s, "250-%s", c->hostname);
	sink_reply(s, "250-SIZE %llu", (unsigned long long)c->max_size);
	for (i = 0; i < n; i++)
		sink_reply(s, "250%c%s", i + 1 == n ? ' ' : '-', ext[i]);
}

static void
sink_cmd_helo(struct sink_session *s, const char *args)
{
	sink_reset(s);
	strutil_lcpy(s->helo, args, sizeof(s->helo));
	if (s->tls)
		s->ehlo_after_tls = 1;
	sink_set_state(s, SINK_S_READY);
	sink_reply(s, "250 %s", s->l->conf->hostname);
}

/* TLS alerts either way: a client refusing our certificate says so here. */
static void
sink_on_tls_info(const SSL *ssl, int where, int ret)
{
	struct sink_session	*s = SSL_get_app_data(ssl);

	if (s == NULL || (where & SSL_CB_ALERT) == 0)
		return;
	sink_log(s, "tls alert %s level=%s alert=\"%s\"",
	    (where & SSL_CB_READ) ? "received" : "sent", SSL_alert_type_string_long(ret),
	    SSL_alert_desc_string_long(ret));
}

static void
sink_start_tls(struct sink_session *s)
{
	struct bufferevent	*tbev;
	SSL			*ssl;

	sink_flush(s);		/* the 220, in plaintext */
	if ((ssl = SSL_new(s->l->ctx)) == NULL) {
		sink_log(s, "tls error=\"SSL_new failed\"");
		sink_close(s);
		return;
	}
	SSL_set_app_data(ssl, s);
	SSL_set_info_callback(ssl, sink_on_tls_info);
	tbev = bufferevent_openssl_filter_new(s->l->srv->base, s->bev, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (tbev == NULL) {
		SSL_free(ssl);
		sink_log(s, "tls error=\"cannot make the TLS filter\"");
		sink_close(s);
		return;
	}
	s->bev = tbev;
	bufferevent_setcb(tbev, sink_on_read, sink_on_write, sink_on_event, s);
	lab_ev_read_timeout(tbev, SINK_TIMEOUT);
	if (bufferevent_enable(tbev, EV_READ | EV_WRITE) == -1) {
		sink_log(s, "tls error=\"cannot enable the TLS filter\"");
		sink_close(s);
	}
}

static void
sink_cmd_starttls(struct sink_session *s, const char *args)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);
	size_t		 pending;

	if (s->tls) {
		sink_reply(s, "554 5.5.1 TLS already active");
		return;
	}
	switch (s->l->conf->starttls) {
	case SINK_STARTTLS_NONE:
		sink_reply(s, "502 5.5.1 STARTTLS not offered");
		return;
	case SINK_STARTTLS_REFUSE:
		sink_reply(s, "454 4.7.0 TLS not available due to temporary reason");
		return;
	case SINK_STARTTLS_OFFER:
	case SINK_STARTTLS_ABORT:
		break;
	}
	sink_reply(s, "220 2.0.0 Ready to start TLS");
	/* Plaintext pipelined behind STARTTLS must not survive into TLS. */
	if ((pending = evbuffer_get_length(in)) > 0) {
		sink_log(s, "discarded=%zu bytes of plaintext sent after STARTTLS", pending);
		lab_ev_drain(in);
	}
	sink_reset(s);
	if (s->l->conf->starttls == SINK_STARTTLS_ABORT) {
		sink_set_state(s, SINK_S_ABORT);
		return;
	}
	sink_set_state(s, SINK_S_TLS);
	sink_start_tls(s);
}

static void
sink_cmd_mail(struct sink_session *s, const char *args)
{
	const struct sink_lconf	*c = s->l->conf;
	char			 addr[SINK_ADDR_MAX], params[512];

	if (sink_parse_path(args, "FROM:", addr, sizeof(addr), params, sizeof(params)) == -1) {
		sink_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	if ((strcasestr(params, "BODY=8BITMIME") != NULL && !c->eightbitmime) ||
	    (strcasestr(params, "SMTPUTF8") != NULL && !c->smtputf8)) {
		sink_reply(s, "555 5.5.4 parameter not advertised: %s", params);
		return;
	}
	s->from = xstrdup(addr);
	strutil_lcpy(s->mail_params, params, sizeof(s->mail_params));
	s->mail_plaintext = !s->tls;
	sink_set_state(s, SINK_S_MAIL);
	sink_reply(s, "250 2.1.0 Ok");
}

static void
sink_cmd_rcpt(struct sink_session *s, const char *args)
{
	const struct sink_lconf	*c = s->l->conf;
	const struct sink_reply	*r = NULL;
	char			 addr[SINK_ADDR_MAX], lower[SINK_ADDR_MAX], params[512];
	size_t			 i;

	if (sink_parse_path(args, "TO:", addr, sizeof(addr), params, sizeof(params)) == -1) {
		sink_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if (s->nrcpt == SINK_MAX_RCPT) {
		sink_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	strutil_lcpy(lower, addr, sizeof(lower));
	for (i = 0; lower[i] != '\0'; i++)
		lower[i] = (char)tolower((unsigned char)lower[i]);
	for (i = 0; i < c->nrules; i++)
		if (fnmatch(c->rules[i].pattern, lower, 0) == 0) {
			r = &c->rules[i].reply;
			break;
		}
	if (r != NULL && r->code / 100 != 2) {
		sink_reply(s, "%d %s", r->code, r->text);
		return;
	}
	s->rcpts[s->nrcpt++] = xstrdup(addr);
	sink_set_state(s, SINK_S_RCPT);
	if (r != NULL)
		sink_reply(s, "%d %s", r->code, r->text);
	else
		sink_reply(s, "250 2.1.5 Ok");
}

static void
sink_cmd_data(struct sink_session *s, const char *args)
{
	char	*tmp = NULL;

	if (s->l->srv->keep_files)
		xasprintf(&tmp, "%s/tmp-%ld-%lu", s->l->srv->spool, (long)getpid(), s->id);
	if (sink_msg_open(&s->msg, tmp, s->l->conf->max_size) == -1) {
		sink_reply(s, "451 4.3.0 cannot write the spool");
		return;
	}
	sink_set_state(s, SINK_S_DATA);
	sink_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void
sink_cmd_rset(struct sink_session *s, const char *args)
{
	sink_reset(s);
	if (s->state != SINK_S_INIT)
		sink_set_state(s, SINK_S_READY);
	sink_reply(s, "250 2.0.0 Ok");
}

static void
sink_cmd_noop(struct sink_session *s, const char *args)
{
	sink_reply(s, "250 2.0.0 Ok");
}

static void
sink_cmd_quit(struct sink_session *s, const char *args)
{
	sink_reply(s, "221 2.0.0 Bye");
	sink_close(s);
}

static const struct sink_cmd sink_cmds[] = {
	{ "EHLO",	ST_ANY,					sink_cmd_ehlo },
	{ "HELO",	ST_ANY,					sink_cmd_helo },
	{ "STARTTLS",	ST(SINK_S_READY),			sink_cmd_starttls },
	{ "MAIL",	ST(SINK_S_READY),			sink_cmd_mail },
	{ "RCPT",	ST(SINK_S_MAIL) | ST(SINK_S_RCPT),	sink_cmd_rcpt },
	{ "DATA",	ST(SINK_S_RCPT),			sink_cmd_data },
	{ "RSET",	ST_ANY,					sink_cmd_rset },
	{ "NOOP",	ST_ANY,					sink_cmd_noop },
	{ "QUIT",	ST_ANY,					sink_cmd_quit },
};

static void
sink_command(struct sink_session *s, char *line, size_t len)
{
	char	 esc[1024], *args;
	size_t	 i, vlen;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (s->l->srv->logging || log_get_level() >= LOG_LVL_DEBUG) {
		lab_escape(line, len, esc, sizeof(esc));
		sink_log(s, "C: %s", esc);
	}
	vlen = strcspn(line, " ");
	args = line + vlen;
	while (*args == ' ')
		args++;
	for (i = 0; i < sizeof(sink_cmds) / sizeof(sink_cmds[0]); i++) {
		if (strlen(sink_cmds[i].name) != vlen ||
		    strncasecmp(line, sink_cmds[i].name, vlen) != 0)
			continue;
		if ((sink_cmds[i].states & ST(s->state)) == 0) {
			sink_reply(s, "503 5.5.1 Bad sequence of commands");
			return;
		}
		sink_cmds[i].fn(s, args);
		return;
	}
	sink_reply(s, "500 5.5.2 Command not recognized");
}

/* The index line: what arrived and how. */
static void
sink_index(struct sink_session *s, const char *id)
{
	const struct sink_lconf	*c = s->l->conf;
	const struct sink_msg	*m = &s->msg;
	char			 addr[SINK_ADDR_MAX * 2], params[1024], helo[512];
	char			*to = NULL, *tmp;
	size_t			 i;

	for (i = 0; i < s->nrcpt; i++) {
		lab_escape(s->rcpts[i], strlen(s->rcpts[i]), addr, sizeof(addr));
		xasprintf(&tmp, "%s%s<%s>", to == NULL ? "" : to, to == NULL ? "" : ",", addr);
		free(to);
		to = tmp;
	}
	lab_escape(s->from, strlen(s->from), addr, sizeof(addr));
	lab_escape(s->mail_params, strlen(s->mail_params), params, sizeof(params));
	lab_escape(s->helo, strlen(s->helo), helo, sizeof(helo));
	lab_rec(s->l->srv->index, "msg=%s file=%s%s%s listener=%s local=%s peer=%s "
	    "helo=\"%s\" from=<%s> to=%s size=%llu sha256=%s tls=%s cipher=%s sni=%s "
	    "ehlo_after_tls=%s mail_plaintext=%s mail_params=\"%s\" bare_lf=%lu "
	    "bare_cr=%lu eightbit=%s reply=%d",
	    id, s->l->srv->keep_files ? "msg-" : "-", s->l->srv->keep_files ? id : "",
	    s->l->srv->keep_files ? ".eml" : "", c->name, s->l->local, s->peer, helo, addr, to,
	    (unsigned long long)m->size, m->sha256, s->tls ? s->tls_version : "none",
	    s->tls ? s->cipher : "-", s->sni[0] != '\0' ? s->sni : "-",
	    s->tls ? (s->ehlo_after_tls ? "yes" : "no") : "-",
	    s->mail_plaintext ? "yes" : "no", params, m->bare_lf, m->bare_cr,
	    m->eightbit ? "yes" : "no", c->data_reply.code ? c->data_reply.code : 250);
	free(to);
}

static void
sink_finish_message(struct sink_session *s)
{
	struct sink_server	*srv = s->l->srv;
	const struct sink_lconf	*c = s->l->conf;
	char			 id[64], *path;

	snprintf(id, sizeof(id), "%ld-%lu", (long)getpid(), srv->nmsg + 1);
	xasprintf(&path, "%s/msg-%s.eml", srv->spool, id);
	if (sink_msg_commit(&s->msg, path) == -1) {
		if (s->msg.too_big)
			sink_reply(s, "552 5.3.4 Message too big");
		else
			sink_reply(s, "451 4.3.0 cannot write the spool");
	} else {
		srv->nmsg++;
		sink_index(s, id);
		sink_log(s, "message msg=%s size=%llu sha256=%s", id,
		    (unsigned long long)s->msg.size, s->msg.sha256);
		if (c->data_reply.code != 0)
			sink_reply(s, "%d %s", c->data_reply.code, c->data_reply.text);
		else
			sink_reply(s, "250 2.0.0 Ok: queued as %s", id);
	}
	free(path);
	sink_reset(s);
	sink_set_state(s, SINK_S_READY);
}

/* The next line (with its LF) into s->line; its length, 0 for none yet, -1 too long. */
static ssize_t
sink_next_line(struct sink_session *s, struct evbuffer *in)
{
	struct evbuffer_ptr	eol;
	size_t			eollen, bound, len;

	bound = s->state == SINK_S_DATA ? SINK_DATA_MAX : SINK_CMD_MAX;
	eol = evbuffer_search_eol(in, NULL, &eollen, EVBUFFER_EOL_LF);
	if (eol.pos == -1)
		return evbuffer_get_length(in) <= bound ? 0 : -1;
	len = (size_t)eol.pos + 1;
	if (len > bound)
		return -1;
	if (len + 1 > s->linecap) {
		s->linecap = len + 1 > 1024 ? len + 1 : 1024;
		free(s->line);
		s->line = xmalloc(s->linecap);
	}
	if (evbuffer_remove(in, s->line, len) != (int)len)
		fatalx("sink_next_line: evbuffer_remove");
	s->line[len] = '\0';
	return (ssize_t)len;
}

/* Every complete line; -1 when the session is gone. */
static int
sink_read_lines(struct sink_session *s, struct evbuffer *in)
{
	ssize_t len;

	while (s->state != SINK_S_CLOSING && s->state != SINK_S_TLS) {
		if (s->state == SINK_S_ABORT) {
			if (evbuffer_get_length(in) == 0)
				return 0;
			sink_log(s, "tls aborted after %zu bytes of the ClientHello",
			    evbuffer_get_length(in));
			lab_ev_drain(in);
			sink_free(s);
			return -1;
		}
		if ((len = sink_next_line(s, in)) == 0)
			return 0;
		if (len == -1) {
			sink_log(s, "line longer than %d bytes",
			    s->state == SINK_S_DATA ? SINK_DATA_MAX : SINK_CMD_MAX);
			sink_reply(s, "500 5.5.6 Line too long");
			sink_close(s);
			return 0;
		}
		if (s->state == SINK_S_DATA) {
			if (sink_msg_line(&s->msg, s->line, (size_t)len) == 1)
				sink_finish_message(s);
		} else
			sink_command(s, s->line, (size_t)len);
	}
	return 0;
}

static void
sink_on_read(struct bufferevent *bev, void *arg)
{
	struct sink_session	*s = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);

	if (s->state == SINK_S_CLOSING || s->freeing) {
		lab_ev_drain(in);
		return;
	}
	s->batching = 1;
	if (sink_read_lines(s, in) == -1)
		return;
	if (s->batching)
		sink_flush(s);
}

static void
sink_on_write(struct bufferevent *bev, void *arg)
{
	struct sink_session	*s = arg;

	if (s->state != SINK_S_CLOSING || s->freeing)
		return;
	if (s->tls)
		sink_tls_flush_then_free(s);
	else
		sink_free(s);
}

static void
sink_tls_established(struct sink_session *s)
{
	SSL		*ssl = bufferevent_openssl_get_ssl(s->bev);
	const char	*sni;

	s->tls = 1;
	strutil_lcpy(s->tls_version, SSL_get_version(ssl), sizeof(s->tls_version));
	strutil_lcpy(s->cipher, SSL_get_cipher_name(ssl), sizeof(s->cipher));
	if ((sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) != NULL)
		lab_escape(sni, strlen(sni), s->sni, sizeof(s->sni));
	sink_log(s, "tls established version=%s cipher=%s sni=%s", s->tls_version,
	    s->cipher, s->sni[0] != '\0' ? s->sni : "-");
	/*
	 * Everything said before TLS is forgotten. MAIL is accepted without a
	 * new EHLO (as most servers do), so that a client skipping it is
	 * recorded as ehlo_after_tls=no rather than turned away.
	 */
	s->helo[0] = '\0';
	sink_set_state(s, SINK_S_READY);
	/* the client's EHLO may have come with its Finished: read it now */
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
		sink_on_read(s->bev, s);
}

static void
sink_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct sink_session	*s = arg;
	unsigned long		 e;
	char			 buf[256];
	int			 nerr = 0, serr = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == SINK_S_TLS)
			sink_tls_established(s);
		return;
	}
	if (s->freeing)
		return;
	if (s->state == SINK_S_CLOSING) {
		sink_free(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		sink_log(s, "timeout in state %s", sink_strstate(s->state));
		if (s->state != SINK_S_TLS)
			sink_reply(s, "421 4.4.2 Timeout");
		sink_free(s);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		while ((e = bufferevent_get_openssl_error(bev)) != 0) {
			ERR_error_string_n(e, buf, sizeof(buf));
			sink_log(s, "tls error=\"%s\" state=%s", buf, sink_strstate(s->state));
			nerr++;
		}
		if (nerr == 0)
			sink_log(s, "socket error=\"%s\" state=%s",
			    evutil_socket_error_to_string(serr), sink_strstate(s->state));
		if (s->state == SINK_S_TLS)
			sink_log(s, "tls handshake failed");
	} else if (what & BEV_EVENT_EOF)
		sink_log(s, "peer closed in state %s", sink_strstate(s->state));
	sink_free(s);
}

void
sink_session_start(struct sink_listener *l, evutil_socket_t fd, const struct sockaddr *peer)
{
	struct sink_session	*s = xcalloc(1, sizeof(*s));
	const struct sink_lconf	*c = l->conf;

	s->l = l;
	s->id = ++l->srv->nconn;
	s->state = SINK_S_INIT;
	netaddr_format(peer, s->peer, sizeof(s->peer));
	if ((s->pending = evbuffer_new()) == NULL)
		fatalx("sink_session_start: evbuffer_new");
	s->bev = bufferevent_socket_new(l->srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		evbuffer_free(s->pending);
		log_warnx("conn=%lu: cannot make a bufferevent", s->id);
		close(fd);
		free(s);
		return;
	}
	bufferevent_setcb(s->bev, sink_on_read, sink_on_write, sink_on_event, s);
	lab_ev_read_timeout(s->bev, SINK_TIMEOUT);
	if (bufferevent_enable(s->bev, EV_READ | EV_WRITE) == -1) {
		log_warnx("conn=%lu: cannot enable the bufferevent", s->id);
		sink_free(s);
		return;
	}
	sink_log(s, "connect peer=%s local=%s starttls=%s", s->peer, l->local,
	    sink_conf_strstarttls(c->starttls));
	if (c->greeting.code != 0) {
		sink_reply(s, "%d %s", c->greeting.code, c->greeting.text);
		if (c->greeting.code != 220)
			sink_close(s);
		return;
	}
	sink_reply(s, "220 %s ESMTP lab-smtp-sink", c->hostname);
}
