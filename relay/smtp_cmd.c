/*
 * smtp_cmd.c: the SMTP server's command table, its handlers, and the hand
 * off of a received message to the queue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "queue/queue.h"
#include "relay/config.h"
#include "relay/smtp_parse.h"
#include "relay/smtp_session.h"

#define ST(x)		(1u << SMTP_S_##x)
#define ST_CMD		(ST(INIT) | ST(HELO) | ST(MAIL) | ST(RCPT))
#define HELO_MAX	255

static void	cmd_helo(struct smtp_session *, const char *);
static void	cmd_ehlo(struct smtp_session *, const char *);
static void	cmd_mail(struct smtp_session *, const char *);
static void	cmd_rcpt(struct smtp_session *, const char *);
static void	cmd_data(struct smtp_session *, const char *);
static void	cmd_rset(struct smtp_session *, const char *);
static void	cmd_noop(struct smtp_session *, const char *);
static void	cmd_quit(struct smtp_session *, const char *);
static void	cmd_vrfy(struct smtp_session *, const char *);
static void	cmd_help(struct smtp_session *, const char *);
static void	cmd_starttls(struct smtp_session *, const char *);

static const struct {
	enum smtp_verb	 verb;
	uint32_t	 states;	/* where the command is allowed */
	const char	*wrong;		/* 503 text elsewhere */
	void		(*fn)(struct smtp_session *, const char *);
} commands[] = {
	{ SMTP_VERB_HELO, ST_CMD, "Bad sequence of commands", cmd_helo },
	{ SMTP_VERB_EHLO, ST_CMD, "Bad sequence of commands", cmd_ehlo },
	{ SMTP_VERB_MAIL, ST(HELO), NULL, cmd_mail },
	{ SMTP_VERB_RCPT, ST(MAIL) | ST(RCPT), NULL, cmd_rcpt },
	{ SMTP_VERB_DATA, ST(RCPT), NULL, cmd_data },
	{ SMTP_VERB_RSET, ST_CMD, "Bad sequence of commands", cmd_rset },
	{ SMTP_VERB_NOOP, ST_CMD, "Bad sequence of commands", cmd_noop },
	{ SMTP_VERB_QUIT, ST_CMD, "Bad sequence of commands", cmd_quit },
	{ SMTP_VERB_VRFY, ST_CMD, "Bad sequence of commands", cmd_vrfy },
	{ SMTP_VERB_HELP, ST_CMD, "Bad sequence of commands", cmd_help },
	{ SMTP_VERB_STARTTLS, ST(INIT) | ST(HELO), "STARTTLS not allowed during a mail transaction",
	    cmd_starttls },
	{ SMTP_VERB_AUTH, ST(HELO), NULL, smtp_auth_cmd },
};

/* 503 texts that say what is missing (RFC 5321 4.1.4). */
static const char *
sequence_text(const struct smtp_session *s, enum smtp_verb v)
{
	if (s->state == SMTP_S_INIT)
		return "Send HELO/EHLO first";
	switch (v) {
	case SMTP_VERB_MAIL:
		return "Nested MAIL command";
	case SMTP_VERB_RCPT:
		return "Need MAIL command";
	case SMTP_VERB_DATA:
		return s->state == SMTP_S_MAIL ? "Need RCPT command" : "Need MAIL command";
	case SMTP_VERB_AUTH:
		return "AUTH not allowed during a mail transaction";
	default:
		return "Bad sequence of commands";
	}
}

void
smtp_cmd_error(struct smtp_session *s)
{
	if (s->srv == NULL || s->state == SMTP_S_CLOSING)
		return;
	if (++s->errors >= s->srv->cfg->max_errors) {
		log_info("%s: too many errors (%u)", s->addr, s->errors);
		smtp_session_close_reply(s, 421, "4.7.0", "Too many errors, closing connection");
	}
}

/*
 * The debug trace of a command line. Whatever the parser made of it, a line
 * that reads as AUTH once leading blanks and controls are skipped shows no
 * argument (credentials never reach logs), and a control character the
 * client sent (a CR that would forge or hide a log line) shows as '?'.
 */
static void
log_cmd(const struct smtp_session *s, const char *line, size_t len)
{
	char	buf[SMTP_LINE_MAX];
	size_t	i;

	if (log_get_level() < LOG_LVL_DEBUG)
		return;
	for (i = 0; i < len && ((unsigned char)line[i] <= 0x20 || line[i] == 0x7f); i++)
		;
	if (len - i >= 4 && strncasecmp(line + i, "AUTH", 4) == 0) {
		log_debug("%s: <<< AUTH ...", s->addr);
		return;
	}
	for (i = 0; i < len && i < sizeof(buf) - 1; i++)
		buf[i] = (unsigned char)line[i] < 0x20 || line[i] == 0x7f ? '?' : line[i];
	buf[i] = '\0';
	log_debug("%s: <<< %s", s->addr, buf);
}

void
smtp_cmd_line(struct smtp_session *s, char *line, size_t len)
{
	struct smtp_cmd	 cmd;
	enum smtp_perr	 e;
	const char	*status, *text;
	size_t		 i;
	int		 code;

	if (s->state == SMTP_S_AUTH_PLAIN || s->state == SMTP_S_AUTH_USER ||
	    s->state == SMTP_S_AUTH_PASS) {
		smtp_auth_line(s, line);
		return;
	}
	log_cmd(s, line, len);
	e = smtp_parse_cmd(line, len, &cmd);
	if (e != SMTP_PERR_OK) {
		smtp_perr_reply(e, &code, &status, &text);
		smtp_session_reply(s, code, status, "%s", text);
		smtp_cmd_error(s);
		return;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].verb == cmd.verb)
			break;
	if (i == sizeof(commands) / sizeof(commands[0]))
		fatalx("smtp_cmd_line: no handler for %s", smtp_verb_name(cmd.verb));
	if (!(commands[i].states & (1u << s->state))) {
		smtp_session_reply(s, 503, "5.5.1", "%s", commands[i].wrong != NULL &&
		    s->state != SMTP_S_INIT ? commands[i].wrong : sequence_text(s, cmd.verb));
		smtp_cmd_error(s);
		return;
	}
	commands[i].fn(s, cmd.arg);
}

static int
helo_arg(struct smtp_session *s, const char *arg)
{
	if (strlen(arg) > HELO_MAX) {
		smtp_session_reply(s, 501, "5.5.4", "HELO/EHLO argument too long");
		smtp_cmd_error(s);
		return -1;
	}
	smtp_session_reset(s);
	free(s->helo);
	s->helo = xstrdup(arg);
	smtp_session_transition(s, SMTP_S_HELO);
	return 0;
}

static void
cmd_helo(struct smtp_session *s, const char *arg)
{
	if (helo_arg(s, arg) != 0)
		return;
	s->flags &= ~(uint32_t)SMTP_F_EHLO;
	smtp_session_reply(s, 250, NULL, "%s", s->srv->cfg->hostname);
}

static void
cmd_ehlo(struct smtp_session *s, const char *arg)
{
	const struct config	*cfg = s->srv->cfg;
	const char		*kw[10];
	char			 size[40], line[300];
	size_t			 n = 0, i;

	if (helo_arg(s, arg) != 0)
		return;
	s->flags |= SMTP_F_EHLO;
	kw[n++] = cfg->hostname;
	kw[n++] = "PIPELINING";
	snprintf(size, sizeof(size), "SIZE %llu", (unsigned long long)cfg->message_size_limit);
	kw[n++] = size;
	kw[n++] = "8BITMIME";
	kw[n++] = "ENHANCEDSTATUSCODES";
	kw[n++] = "SMTPUTF8";
	if (s->srv->tls != NULL && !(s->flags & SMTP_F_TLS))
		kw[n++] = "STARTTLS";
	/* H3: AUTH only over TLS */
	if (s->srv->auth != NULL && (s->flags & SMTP_F_TLS) && !(s->flags & SMTP_F_AUTH))
		kw[n++] = "AUTH PLAIN LOGIN";
	for (i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "250%c%s", i + 1 < n ? '-' : ' ', kw[i]);
		smtp_session_raw(s, line);
	}
}

static void
cmd_mail(struct smtp_session *s, const char *arg)
{
	const struct config	*cfg = s->srv->cfg;
	struct smtp_mail	 m;
	enum smtp_perr		 e;
	const char		*status, *text;
	int			 code;

	if ((e = smtp_parse_mail(arg, (s->flags & SMTP_F_EHLO) != 0, &m)) != SMTP_PERR_OK) {
		smtp_perr_reply(e, &code, &status, &text);
		smtp_session_reply(s, code, status, "%s", text);
		smtp_cmd_error(s);
		return;
	}
	/* H7: a declared size over the limit is refused now */
	if (m.has_size && cfg->message_size_limit != 0 && m.size > cfg->message_size_limit) {
		smtp_session_reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
		return;
	}
	smtp_session_reset(s);
	queue_new_id(s->srv->queue, s->id);
	s->sender = xstrdup(m.addr);
	if (m.body_8bit)
		s->flags |= SMTP_F_8BIT;
	if (m.smtputf8)
		s->flags |= SMTP_F_UTF8;
	smtp_session_transition(s, SMTP_S_MAIL);
	smtp_session_reply(s, 250, "2.1.0", "Ok");
}

/*
 * A recipient already in the transaction is answered 250 again but kept
 * once, or it would be delivered twice (Postfix does the same).
 */
static int
known_rcpt(const struct smtp_session *s, const char *addr)
{
	size_t i;

	for (i = 0; i < s->nrcpts; i++)
		if (smtp_parse_same_rcpt(s->rcpts[i], addr))
			return 1;
	return 0;
}

static void
cmd_rcpt(struct smtp_session *s, const char *arg)
{
	const struct config	*cfg = s->srv->cfg;
	struct smtp_rcpt	 r;
	enum smtp_perr		 e;
	const char		*status, *text;
	int			 code;

	/*
	 * H6: at least 100 recipients, the excess gets 452 4.5.3. The limit
	 * counts every RCPT answered 250, repeats included (as Postfix's
	 * smtpd_recipient_limit does): what bounds a transaction is the
	 * commands a client may send, whatever we make of them.
	 */
	if (s->nrcpt_cmds >= cfg->recipient_limit) {
		smtp_session_reply(s, 452, "4.5.3", "Too many recipients");
		return;
	}
	e = smtp_parse_rcpt(arg, (s->flags & SMTP_F_UTF8) != 0, cfg->hostname, &r);
	if (e != SMTP_PERR_OK) {
		smtp_perr_reply(e, &code, &status, &text);
		smtp_session_reply(s, code, status, "%s", text);
		smtp_cmd_error(s);
		return;
	}
	/* H5: never an open relay */
	if (!(s->flags & (SMTP_F_RELAY_NET | SMTP_F_AUTH))) {
		log_info("%s: reject: RCPT from %s: relay access denied; from=<%s> to=<%s>",
		    s->id, s->addr, s->sender, r.addr);
		smtp_session_reply(s, 554, "5.7.1", "<%s>: Relay access denied", r.addr);
		smtp_cmd_error(s);
		return;
	}
	s->nrcpt_cmds++;
	if (known_rcpt(s, r.addr))
		log_debug("%s: duplicate recipient <%s> taken once", s->id, r.addr);
	else {
		s->rcpts = xreallocarray(s->rcpts, s->nrcpts + 1, sizeof(*s->rcpts));
		s->rcpts[s->nrcpts++] = xstrdup(r.addr);
	}
	smtp_session_transition(s, SMTP_S_RCPT);
	smtp_session_reply(s, 250, "2.1.5", "Ok");
}

static void
cmd_data(struct smtp_session *s, const char *arg)
{
	const struct config *cfg = s->srv->cfg;

	if ((s->body = evbuffer_new()) == NULL)
		fatalx("cmd_data: evbuffer_new failed");
	s->data = xmalloc(sizeof(*s->data));
	smtp_data_init(s->data, s->body, cfg->message_size_limit, cfg->max_received_headers);
	smtp_session_transition(s, SMTP_S_DATA);
	smtp_session_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

static void
cmd_rset(struct smtp_session *s, const char *arg)
{
	smtp_session_reset(s);
	if (s->state != SMTP_S_INIT)
		smtp_session_transition(s, SMTP_S_HELO);
	smtp_session_reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_noop(struct smtp_session *s, const char *arg)
{
	smtp_session_reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_quit(struct smtp_session *s, const char *arg)
{
	smtp_session_close_reply(s, 221, "2.0.0", "Bye");
}

static void
cmd_vrfy(struct smtp_session *s, const char *arg)
{
	smtp_session_reply(s, 252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery");
}

static void
cmd_help(struct smtp_session *s, const char *arg)
{
	smtp_session_reply(s, 214, "2.0.0", "See RFC 5321");
}

static void
cmd_starttls(struct smtp_session *s, const char *arg)
{
	if (s->flags & SMTP_F_TLS) {
		smtp_session_reply(s, 503, "5.5.1", "TLS already active");
		smtp_cmd_error(s);
		return;
	}
	if (s->srv->tls == NULL) {
		smtp_session_reply(s, 454, "4.7.0", "TLS not available");
		return;
	}
	smtp_session_reply(s, 220, "2.0.0", "Ready to start TLS");
	smtp_session_starttls(s);
}
