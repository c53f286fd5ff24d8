/*
 * smtp_client_txn.c: one mail transaction over a ready session: the checks
 * made before anything is sent (H8, SIZE, address syntax), MAIL, RCPT and
 * DATA one by one or pipelined (RFC 2920), the body (H2), per-recipient
 * results, and RSET when the transaction failed part-way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/smtp_client_int.h"

#define BODY_CHUNK	(16 * 1024 - 1024)	/* octets encoded at a time: one TLS record */
#define BODY_HIWAT	(64 * 1024)	/* output kept queued while sending the body */
#define ADDR_MAX	256		/* an address that cannot be sent is refused by us */

/* A path we can put between < and > without changing the command. */
static int
addr_ok(const char *a)
{
	size_t i, len = strlen(a);

	if (len > ADDR_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)a[i] < 0x20 || a[i] == 0x7f || a[i] == '<' || a[i] == '>' ||
		    a[i] == ' ')
			return 0;
	return 1;
}

void
smtpc_txn_clear(struct smtpc_session *s)
{
	free(s->res.rcpts);
	free(s->rfinal);
	free(s->rskip);
	memset(&s->res, 0, sizeof(s->res));
	s->rfinal = NULL;
	s->rskip = NULL;
	s->msg = NULL;
	s->on_sent = NULL;
	s->sent_arg = NULL;
}

/* The transaction is over: hand the results to the caller. */
void
smtpc_txn_notify(struct smtpc_session *s)
{
	struct smtpc_result	 res;
	smtpc_on_sent_fn	*cb = s->on_sent;
	void			*arg = s->sent_arg;
	unsigned char		*rf = s->rfinal, *rs = s->rskip;
	size_t			 i;

	if (s->msg == NULL)
		return;
	res = s->res;
	res.ndelivered = 0;
	for (i = 0; i < res.nrcpts; i++)
		if (res.rcpts[i].status.kind == SMTPC_OK)
			res.ndelivered++;
	s->msg = NULL;
	s->on_sent = NULL;
	s->rfinal = s->rskip = NULL;
	memset(&s->res, 0, sizeof(s->res));
	s->refs++;
	cb(s, &res, arg);
	s->refs--;
	free(res.rcpts);
	free(rf);
	free(rs);
}

/* Every recipient not yet final gets st. */
static void
finish_pending(struct smtpc_session *s, const struct smtpc_status *st)
{
	size_t i;

	for (i = 0; i < s->res.nrcpts; i++)
		if (!s->rfinal[i]) {
			s->res.rcpts[i].status = *st;
			s->rfinal[i] = 1;
		}
}

void
smtpc_txn_abort(struct smtpc_session *s, const struct smtpc_status *st)
{
	finish_pending(s, st);
	smtpc_txn_notify(s);
}

/* Done with the transaction; the session is ready for the next one. */
static void
txn_done(struct smtpc_session *s)
{
	smtpc_transition(s, SMTPC_S_READY);
	smtpc_txn_notify(s);
}

static void
send_rset(struct smtpc_session *s)
{
	smtpc_transition(s, SMTPC_S_RSET);
	smtpc_cmd(s, "RSET");
}

static void
send_rcpt(struct smtpc_session *s, size_t i)
{
	smtpc_cmd(s, "RCPT TO:<%s>", s->msg->rcpts[i]);
}

/* The next recipient at or after i that goes on the wire. */
static size_t
next_rcpt(const struct smtpc_session *s, size_t i)
{
	while (i < s->res.nrcpts && s->rskip[i])
		i++;
	return i;
}

static void
send_mail(struct smtpc_session *s)
{
	const struct smtpc_message	*m = s->msg;
	const struct smtpc_caps		*c = &s->out.caps;
	char				 params[128] = "", tmp[40];
	size_t				 i;

	/* H4: in VERIFY mode nothing of the envelope ever goes out in plaintext */
	if (s->out.mode == SMTPC_TLS_VERIFY && (!s->out.tls || !s->out.verified))
		fatalx("send_mail: VERIFY mode without verified TLS");
	if ((m->flags & SMTPC_MSG_8BIT) && (c->flags & SMTPC_CAP_8BITMIME))
		strutil_lcat(params, " BODY=8BITMIME", sizeof(params));
	if ((m->flags & SMTPC_MSG_SMTPUTF8) && (c->flags & SMTPC_CAP_SMTPUTF8))
		strutil_lcat(params, " SMTPUTF8", sizeof(params));
	if (m->size > 0 && (c->flags & SMTPC_CAP_SIZE)) {
		snprintf(tmp, sizeof(tmp), " SIZE=%llu", (unsigned long long)m->size);
		strutil_lcat(params, tmp, sizeof(params));
	}
	s->pipelined = (c->flags & SMTPC_CAP_PIPELINING) && !s->params.no_pipelining;
	smtpc_transition(s, SMTPC_S_MAIL);
	smtpc_cmd(s, "MAIL FROM:<%s>%s", m->sender, params);
	s->rcpt_reply = next_rcpt(s, 0);
	s->rcpt_send = s->rcpt_reply;
	if (!s->pipelined)
		return;
	for (i = next_rcpt(s, 0); i < s->res.nrcpts; i = next_rcpt(s, i + 1))
		send_rcpt(s, i);
	smtpc_cmd(s, "DATA");
	s->rcpt_send = s->res.nrcpts;
}

/* Checks made before anything is sent; 0 when the message may go. */
static int
refuse_early(struct smtpc_session *s)
{
	const struct smtpc_message	*m = s->msg;
	const struct smtpc_caps		*c = &s->out.caps;
	struct smtpc_status		 st;
	size_t				 i, n = 0;

	memset(&st, 0, sizeof(st));
	if (!addr_ok(m->sender))
		smtpc_status_set(&st, SMTPC_PERM, 1, 0, "5.1.7", "sender address cannot be sent");
	/*
	 * H8. SMTPUTF8 first: such a message is 8-bit as well, and 5.6.7 is
	 * the more precise reason when the server offers neither (RFC 6531).
	 */
	else if ((m->flags & SMTPC_MSG_SMTPUTF8) && !(c->flags & SMTPC_CAP_SMTPUTF8))
		smtpc_status_set(&st, SMTPC_PERM, 1, 0, "5.6.7",
		    "SMTPUTF8 message and the server does not support SMTPUTF8");
	else if ((m->flags & SMTPC_MSG_8BIT) && !(c->flags & SMTPC_CAP_8BITMIME))
		smtpc_status_set(&st, SMTPC_PERM, 1, 0, "5.6.3",
		    "8-bit message and the server does not support 8BITMIME");
	else if ((c->flags & SMTPC_CAP_SIZE) && c->size > 0 && m->size > c->size)
		smtpc_status_set(&st, SMTPC_PERM, 1, 0, "5.3.4",
		    "message larger than the server accepts");
	if (st.kind != SMTPC_OK) {
		s->res.mail = st;
		finish_pending(s, &st);
		return -1;
	}
	for (i = 0; i < m->nrcpts; i++) {
		if (addr_ok(m->rcpts[i]) && m->rcpts[i][0] != '\0') {
			n++;
			continue;
		}
		s->rskip[i] = s->rfinal[i] = 1;
		smtpc_status_set(&s->res.rcpts[i].status, SMTPC_PERM, 1, 0, "5.1.3",
		    "recipient address cannot be sent");
	}
	return n == 0 ? -1 : 0;
}

int
smtpc_send(struct smtpc_session *s, const struct smtpc_message *m, smtpc_on_sent_fn *cb,
    void *arg)
{
	size_t i;

	if (!smtpc_usable(s) || s->msg != NULL || cb == NULL)
		return -1;
	s->msg = m;
	s->on_sent = cb;
	s->sent_arg = arg;
	memset(&s->res, 0, sizeof(s->res));
	s->res.nrcpts = m->nrcpts;
	s->res.rcpts = xcalloc(m->nrcpts ? m->nrcpts : 1, sizeof(*s->res.rcpts));
	s->rfinal = xcalloc(m->nrcpts ? m->nrcpts : 1, 1);
	s->rskip = xcalloc(m->nrcpts ? m->nrcpts : 1, 1);
	for (i = 0; i < m->nrcpts; i++)
		s->res.rcpts[i].rcpt = m->rcpts[i];
	s->naccepted = 0;
	s->mail_failed = 0;
	s->abort_data = 0;
	if (refuse_early(s) == -1) {
		log_info("%s: %s refused before sending: %s %s", s->out.relay,
		    m->id ? m->id : "message", s->res.mail.enhanced[0] ? s->res.mail.enhanced :
		    "5.1.3", s->res.mail.text[0] ? s->res.mail.text : "no recipient can be sent");
		smtpc_defer(s, SMTPC_DEFER_SENT);
		return 0;
	}
	send_mail(s);
	return 0;
}

/* The body, in blocks, as the output drains (H2: only CRLF, dot-stuffed). */
void
smtpc_txn_fill(struct smtpc_session *s)
{
	struct evbuffer		*out = bufferevent_get_output(s->bev);
	struct evbuffer		*body = s->msg->body;
	struct evbuffer_ptr	 pos;
	char			 buf[BODY_CHUNK];
	size_t			 total = body != NULL ? evbuffer_get_length(body) : 0;
	ev_ssize_t		 n;

	while (evbuffer_get_length(out) < BODY_HIWAT && s->body_off < total) {
		if (evbuffer_ptr_set(body, &pos, s->body_off, EVBUFFER_PTR_SET) != 0 ||
		    (n = evbuffer_copyout_from(body, &pos, buf, sizeof(buf))) <= 0)
			fatalx("smtpc_txn_fill: cannot read the body");
		/*
		 * The block is encoded into one piece of the buffer with room
		 * left for the final dot: the TLS layer writes a record per
		 * piece, so a small message goes in one record and one write.
		 */
		if (smtpc_data_encode(&s->data, buf, (size_t)n, out) == -1)
			fatalx("smtpc_txn_fill: evbuffer_add failed");
		s->body_off += (size_t)n;
	}
	if (s->body_off < total) {
		smtpc_transition(s, SMTPC_S_BODY);	/* a new block: its own timeout */
		return;
	}
	if (smtpc_data_finish(&s->data, out) == -1)
		fatalx("smtpc_txn_fill: evbuffer_add failed");
	s->res.repairs = smtpc_data_repairs(&s->data);
	if (s->res.repairs != 0)
		log_debug("%s: %s: body repaired: bare_cr=%llu bare_lf=%llu nul=%llu "
		    "no_final_eol=%d (a bug in whoever stored it)", s->out.relay,
		    s->msg->id ? s->msg->id : "message", (unsigned long long)s->data.bare_cr,
		    (unsigned long long)s->data.bare_lf, (unsigned long long)s->data.nul,
		    s->data.no_final_eol);
	s->res.data_sent = 1;
	smtpc_transition(s, SMTPC_S_DOT);
}

static void
reply_mail(struct smtpc_session *s)
{
	smtpc_status_reply(&s->res.mail, &s->reply);
	if (s->reply.code / 100 != 2) {
		/* the refusal of MAIL applies to every recipient */
		s->mail_failed = 1;
		finish_pending(s, &s->res.mail);
		if (s->pipelined && s->rcpt_reply < s->res.nrcpts) {
			smtpc_transition(s, SMTPC_S_RCPT);	/* their replies still come */
			return;
		}
		if (s->pipelined) {
			smtpc_transition(s, SMTPC_S_DATA);
			return;
		}
		send_rset(s);
		return;
	}
	if (s->rcpt_reply >= s->res.nrcpts) {
		if (!s->pipelined)
			fatalx("reply_mail: no recipient to send");
		smtpc_transition(s, SMTPC_S_DATA);
		return;
	}
	smtpc_transition(s, SMTPC_S_RCPT);
	if (!s->pipelined) {
		send_rcpt(s, s->rcpt_send);
		s->rcpt_send = next_rcpt(s, s->rcpt_send + 1);
	}
}

static void
reply_rcpt(struct smtpc_session *s)
{
	size_t i = s->rcpt_reply;

	if (i >= s->res.nrcpts)
		fatalx("reply_rcpt: no recipient waits for a reply");
	if (!s->mail_failed) {
		smtpc_status_reply(&s->res.rcpts[i].status, &s->reply);
		if (s->reply.code / 100 == 2) {
			s->res.rcpts[i].accepted = 1;
			s->naccepted++;
		} else
			s->rfinal[i] = 1;
	}
	s->rcpt_reply = next_rcpt(s, i + 1);
	if (s->rcpt_reply < s->res.nrcpts) {
		if (!s->pipelined) {
			send_rcpt(s, s->rcpt_send);
			s->rcpt_send = next_rcpt(s, s->rcpt_send + 1);
		}
		return;
	}
	if (s->pipelined) {
		smtpc_transition(s, SMTPC_S_DATA);	/* DATA was sent with them */
		return;
	}
	if (s->naccepted == 0) {
		send_rset(s);	/* every recipient refused: no message */
		return;
	}
	smtpc_transition(s, SMTPC_S_DATA);
	smtpc_cmd(s, "DATA");
}

static void
reply_data(struct smtpc_session *s)
{
	struct smtpc_status st;

	if (s->reply.code == 354) {
		if (s->naccepted == 0 || s->mail_failed) {
			/* a pipelined DATA the server should have refused: send nothing */
			s->abort_data = 1;
			smtpc_transition(s, SMTPC_S_DOT);
			smtpc_cmd(s, ".");
			return;
		}
		smtpc_data_init(&s->data);
		s->body_off = 0;
		smtpc_transition(s, SMTPC_S_BODY);
		smtpc_txn_fill(s);
		return;
	}
	smtpc_status_reply(&st, &s->reply);
	if (st.kind == SMTPC_OK)
		smtpc_status_set(&st, SMTPC_TEMP, 0, s->reply.code, "4.5.0", s->reply.text);
	finish_pending(s, &st);
	send_rset(s);
}

static void
reply_dot(struct smtpc_session *s)
{
	struct smtpc_status	st;

	if (s->abort_data) {
		send_rset(s);
		return;
	}
	/* the reply after the dot applies to every accepted recipient */
	smtpc_status_reply(&st, &s->reply);
	finish_pending(s, &st);
	if (st.kind == SMTPC_OK)
		s->out.messages++;
	log_debug("%s: %s: %d %s", s->out.relay, s->msg->id ? s->msg->id : "message",
	    s->reply.code, s->reply.text);
	txn_done(s);
}

/* One complete reply inside a transaction. */
void
smtpc_txn_reply(struct smtpc_session *s)
{
	switch (s->state) {
	case SMTPC_S_MAIL:
		reply_mail(s);
		break;
	case SMTPC_S_RCPT:
		reply_rcpt(s);
		break;
	case SMTPC_S_DATA:
		reply_data(s);
		break;
	case SMTPC_S_DOT:
		reply_dot(s);
		break;
	case SMTPC_S_RSET:
		if (s->reply.code / 100 != 2) {
			smtpc_fail(s, SMTPC_TEMP, "4.5.0", "RSET refused: %d %s",
			    s->reply.code, s->reply.text);
			return;
		}
		txn_done(s);
		break;
	default:
		fatalx("smtpc_txn_reply: state %s", smtpc_strstate(s->state));
	}
}
