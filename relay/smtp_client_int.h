/*
 * smtp_client_int.h: internals shared by the outbound client's files:
 * smtp_client.c (connection, replies, EHLO, STARTTLS, timeouts, failure)
 * and smtp_client_txn.c (MAIL, RCPT, DATA, the body, RSET).
 * Not for use outside the client.
 */
#ifndef RELAY_SMTP_CLIENT_INT_H
#define RELAY_SMTP_CLIENT_INT_H

#include "relay/smtp_client.h"
#include "relay/smtp_client_data.h"
#include "relay/smtp_client_reply.h"

struct bufferevent;
struct event;

enum smtpc_state {
	SMTPC_S_CONNECTING = 0,	/* TCP connect */
	SMTPC_S_GREETING,	/* waiting for the 220 */
	SMTPC_S_EHLO,		/* EHLO sent */
	SMTPC_S_HELO,		/* EHLO refused, HELO sent */
	SMTPC_S_STARTTLS,	/* STARTTLS sent */
	SMTPC_S_HANDSHAKE,	/* TLS handshake */
	SMTPC_S_READY,		/* idle: a message may be sent */
	SMTPC_S_MAIL,		/* MAIL FROM sent (and, pipelined, RCPTs and DATA) */
	SMTPC_S_RCPT,		/* RCPT replies expected */
	SMTPC_S_DATA,		/* DATA sent, waiting for the 354 */
	SMTPC_S_BODY,		/* writing the body */
	SMTPC_S_DOT,		/* final dot sent, waiting for the reply */
	SMTPC_S_RSET,		/* RSET sent */
	SMTPC_S_QUIT,		/* QUIT sent: close on the reply */
	SMTPC_S_DEAD,		/* connection closed */
	SMTPC_S_COUNT
};

/* Work handed to the next turn of the event loop (never a callback from inside a call). */
#define SMTPC_DEFER_READY	0x01
#define SMTPC_DEFER_SENT	0x02

struct smtpc_session {
	struct event_base	*base;
	struct tls_client	*tls;
	struct smtpc_params	 params;
	struct bufferevent	*bev;
	int			 fd;		/* while not owned by a TLS bufferevent */
	enum smtpc_state	 state;
	struct smtpc_outcome	 out;
	struct smtpc_reply	 reply;
	char			 line[SMTPC_REPLY_LINE_MAX + 1];
	smtpc_on_ready_fn	*on_ready;
	void			*ready_arg;
	int			 ready_done;	/* on_ready was called */
	struct event		*ev_defer;
	unsigned		 defer;
	int			 refs;		/* callbacks running */
	int			 freed;		/* smtpc_free() while refs > 0 */
	/* the transaction */
	const struct smtpc_message *msg;
	smtpc_on_sent_fn	*on_sent;
	void			*sent_arg;
	struct smtpc_result	 res;
	unsigned char		*rfinal;	/* per recipient: status is final */
	unsigned char		*rskip;		/* per recipient: not sent (refused by us) */
	size_t			 rcpt_reply;	/* next recipient whose reply is due */
	size_t			 rcpt_send;	/* next recipient to send (not pipelined) */
	size_t			 naccepted;
	int			 pipelined;
	int			 mail_failed;
	int			 abort_data;	/* 354 with no recipient: send only the dot */
	size_t			 body_off;
	struct smtpc_data	 data;
};

/* smtp_client.c */
const char	*smtpc_strstate(enum smtpc_state);
void		 smtpc_transition(struct smtpc_session *, enum smtpc_state);
void		 smtpc_cmd(struct smtpc_session *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 smtpc_fail(struct smtpc_session *, enum smtpc_kind, const char *enhanced,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
void		 smtpc_defer(struct smtpc_session *, unsigned what);
void		 smtpc_status_set(struct smtpc_status *, enum smtpc_kind, int local,
		    int code, const char *enhanced, const char *text);
void		 smtpc_status_reply(struct smtpc_status *, const struct smtpc_reply *);

/* smtp_client_txn.c */
void		 smtpc_txn_reply(struct smtpc_session *);
void		 smtpc_txn_fill(struct smtpc_session *);
/* The connection failed during a transaction: finish it with status. */
void		 smtpc_txn_abort(struct smtpc_session *, const struct smtpc_status *);
void		 smtpc_txn_notify(struct smtpc_session *);
void		 smtpc_txn_clear(struct smtpc_session *);

#endif
