/*
 * smtp_commit.c: the end of DATA. A refused message gets its reply at once;
 * an accepted one gets a Received: header (RFC 5321 4.4, H10) and goes to
 * the queue, and the 250 is sent only from the queue's callback, once the
 * message is durable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/strutil.h"
#include "queue/queue.h"
#include "relay/config.h"
#include "relay/smtp_parse.h"
#include "relay/smtp_session.h"

/* RFC 3848 / RFC 6531 protocol names for the "with" clause. */
static const char *
protocol(const struct smtp_session *s)
{
	static const char *const names[2][4] = {
		{ "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA" },
		{ "UTF8SMTP", "UTF8SMTPS", "UTF8SMTPA", "UTF8SMTPSA" },
	};
	int i = 0;

	if (!(s->flags & SMTP_F_EHLO))
		return "SMTP";
	if (s->flags & SMTP_F_TLS)
		i |= 1;
	if (s->flags & SMTP_F_AUTH)
		i |= 2;
	return names[(s->flags & SMTP_F_UTF8) ? 1 : 0][i];
}

/* The RFC 5322 date of now, formatted once per second for all sessions. */
static const char *
received_date(struct smtp_server *srv, time_t now)
{
	struct tm tm;

	if (srv->date[0] != '\0' && srv->date_sec == now)
		return srv->date;
	if (localtime_r(&now, &tm) == NULL ||
	    strftime(srv->date, sizeof(srv->date), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0) {
		srv->date[0] = '\0';
		return NULL;
	}
	srv->date_sec = now;
	return srv->date;
}

/* The Received: header (RFC 5321 4.4), put in front of the body in one piece. */
static int
add_received(struct smtp_session *s, struct evbuffer *msg, time_t now)
{
	char		 hdr[2048], tls[160], helo[256], rcpt[SMTP_PATH_MAX + 16];
	const char	*date;
	SSL		*ssl;
	size_t		 i;
	int		 n;

	/* the client's words go into a header: printable ASCII only */
	strutil_lcpy(helo, s->helo != NULL ? s->helo : "", sizeof(helo));
	for (i = 0; helo[i] != '\0'; i++)
		if ((unsigned char)helo[i] < 0x21 || (unsigned char)helo[i] > 0x7e ||
		    helo[i] == '(' || helo[i] == ')')
			helo[i] = '?';
	if ((date = received_date(s->srv, now)) == NULL)
		return -1;
	tls[0] = '\0';
	if ((s->flags & SMTP_F_TLS) && s->bev != NULL &&
	    (ssl = bufferevent_openssl_get_ssl(s->bev)) != NULL)
		snprintf(tls, sizeof(tls), "\t(using %s with cipher %s)\r\n", SSL_get_version(ssl),
		    SSL_get_cipher_name(ssl));
	rcpt[0] = '\0';
	if (s->nrcpts == 1)
		snprintf(rcpt, sizeof(rcpt), "\r\n\tfor <%s>", s->rcpts[0]);
	/* "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321 4.1.3) */
	n = snprintf(hdr, sizeof(hdr), "Received: from %s ([%s%s])\r\n%s"
	    "\tby %s (stsrelay) with %s id %s%s; %s\r\n", helo,
	    s->ss.ss_family == AF_INET6 ? "IPv6:" : "", s->addr_host, tls,
	    s->srv->cfg->hostname, protocol(s), s->id, rcpt, date);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return -1;
	return evbuffer_prepend(msg, hdr, (size_t)n);
}

static void
on_commit(enum queue_status st, void *arg)
{
	struct smtp_session	*s = arg;
	struct smtp_server	*srv = s->srv;

	if (s->state != SMTP_S_COMMIT)
		fatalx("on_commit: session in state %s", smtp_strstate(s->state));
	if ((s->flags & SMTP_F_GONE) || srv == NULL) {
		if (st == QUEUE_OK)
			log_info("%s: client=[%s]:%d, from=<%s>, nrcpt=%zu, size=%llu "
			    "(client gone before the reply)", s->id, s->addr_host,
			    netaddr_port((struct sockaddr *)&s->ss), s->sender, s->nrcpts,
			    (unsigned long long)s->data_size);
		s->state = SMTP_S_HELO;
		smtp_session_destroy(s);
		return;
	}
	switch (st) {
	case QUEUE_OK:
		log_info("%s: client=[%s]:%d, from=<%s>, nrcpt=%zu, size=%llu%s%s", s->id,
		    s->addr_host, netaddr_port((struct sockaddr *)&s->ss), s->sender, s->nrcpts, (unsigned long long)s->data_size,
		    s->auth_user != NULL && (s->flags & SMTP_F_AUTH) ? ", sasl_username=" : "",
		    s->auth_user != NULL && (s->flags & SMTP_F_AUTH) ? s->auth_user : "");
		srv->stats.messages_accepted++;
		s->nmessages++;
		s->nrcpt_total += s->nrcpts;
		smtp_session_reply(s, 250, "2.0.0", "Ok: queued as %s", s->id);
		break;
	case QUEUE_ENOSPC:
		log_warnx("%s: queue: %s", s->id, queue_strstatus(st));
		srv->stats.messages_refused++;
		smtp_session_reply(s, 452, "4.3.1", "Insufficient system storage");
		break;
	default:
		log_warnx("%s: queue: %s", s->id, queue_strstatus(st));
		srv->stats.messages_refused++;
		smtp_session_reply(s, 451, "4.3.0", "Local error: queue file write error");
		break;
	}
	smtp_session_reset(s);
	smtp_session_transition(s, SMTP_S_HELO);
	if (srv->stopping)
		smtp_session_close_reply(s, 421, "4.3.2", "Service shutting down");
	else
		smtp_session_resume(s);
}

static void
refused(struct smtp_session *s, enum smtp_data_result r)
{
	const char	*status, *text;
	int		 code;

	smtp_data_reply(r, &code, &status, &text);
	log_info("%s: reject: end of DATA from %s: %d %s %s; from=<%s> nrcpt=%zu",
	    s->id, s->addr, code, status, text, s->sender, s->nrcpts);
	s->srv->stats.messages_refused++;
	smtp_session_reply(s, code, status, "%s", text);
	smtp_session_reset(s);
	smtp_session_transition(s, SMTP_S_HELO);
}

void
smtp_cmd_data_end(struct smtp_session *s)
{
	struct queue_envelope	 env;
	enum smtp_data_result	 r = smtp_data_result(s->data);
	time_t			 now = time(NULL);

	s->data_size = s->data->size;
	if (r != SMTP_DATA_OK) {
		refused(s, r);
		return;
	}
	/* H8: 8-bit text is 8BITMIME for the next hop, whether the client said so or not */
	if (s->data->eightbit)
		s->flags |= SMTP_F_8BIT;
	free(s->data);
	s->data = NULL;
	if (add_received(s, s->body, now) != 0)
		fatalx("smtp_cmd_data_end: cannot build the message");
	memset(&env, 0, sizeof(env));
	env.id = s->id;
	env.sender = s->sender;
	env.rcpts = (const char **)s->rcpts;
	env.nrcpts = s->nrcpts;
	env.flags = ((s->flags & SMTP_F_8BIT) ? QUEUE_F_8BITMIME : 0) |
	    ((s->flags & SMTP_F_UTF8) ? QUEUE_F_SMTPUTF8 : 0);
	env.helo = s->helo;
	env.client_addr = s->addr_host;
	env.auth_user = (s->flags & SMTP_F_AUTH) ? s->auth_user : NULL;
	env.arrival = now;
	smtp_session_transition(s, SMTP_S_COMMIT);
	queue_submit(s->srv->queue, &env, s->body, on_commit, s);
}
