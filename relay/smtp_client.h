/*
 * smtp_client.h: one outbound SMTP connection to one MX address, with the
 * TLS the delivery's MTA-STS policy demands (RFC 8461 S24-S28, H4), and any
 * number of messages over it. It reports exactly what happened, for the
 * session and for each recipient; which MX to try next, retries and queue
 * updates belong to the caller.
 *
 * Use:
 *	s = smtpc_connect(base, tls, &params, sa, salen, "mx1.d.test",
 *	    SMTPC_TLS_VERIFY, on_ready, arg);
 *	on_ready(s, outcome, arg): outcome->status.kind == SMTPC_OK: the session
 *	    is ready: smtpc_send(s, &msg, on_sent, arg); otherwise it failed and
 *	    the caller frees it (outcome->retry_plaintext: reconnect to the same
 *	    address with SMTPC_TLS_PLAINTEXT when the policy allows).
 *	on_sent(s, result, arg): per-recipient results; then smtpc_send again
 *	    (smtpc_usable() says whether the connection can take another), or
 *	    smtpc_quit(s) (QUIT, then the session frees itself), or smtpc_free(s).
 * Callbacks may call smtpc_send, smtpc_quit or smtpc_free. Nothing is
 * called back from inside smtpc_connect or smtpc_send.
 */
#ifndef RELAY_SMTP_CLIENT_H
#define RELAY_SMTP_CLIENT_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "relay/smtp_client_reply.h"
#include "relay/tls_client.h"

struct event_base;
struct evbuffer;
struct smtpc_session;

enum smtpc_tls_mode {
	SMTPC_TLS_PLAINTEXT = 0,	/* never STARTTLS */
	SMTPC_TLS_OPPORTUNISTIC,	/* no policy, or mode none: STARTTLS when offered */
	SMTPC_TLS_TESTING,		/* MTA-STS testing: verify, report, deliver anyway */
	SMTPC_TLS_VERIFY		/* MTA-STS enforce: verified TLS or nothing */
};

/* Per-state timeouts (RFC 5321 4.5.3.2), in milliseconds. */
enum smtpc_timeout {
	SMTPC_TO_CONNECT = 0,	/* 30 s */
	SMTPC_TO_GREETING,	/* 220: 5 min */
	SMTPC_TO_EHLO,		/* EHLO, HELO, RSET, QUIT: 5 min */
	SMTPC_TO_STARTTLS,	/* the reply to STARTTLS and the handshake: 1 min */
	SMTPC_TO_MAIL,		/* 5 min */
	SMTPC_TO_RCPT,		/* 5 min */
	SMTPC_TO_DATA,		/* the 354: 2 min */
	SMTPC_TO_BLOCK,		/* each block of the body: 3 min */
	SMTPC_TO_DOT,		/* the reply to the final dot: 10 min */
	SMTPC_TO_IDLE,		/* ready, waiting for the caller's next message: 5 min */
	SMTPC_TO_COUNT
};

struct smtpc_params {
	const char	*helo_name;	/* our name in EHLO/HELO */
	uint32_t	 timeout_ms[SMTPC_TO_COUNT];	/* 0: the default */
	int		 no_pipelining;	/* never pipeline, even when offered */
};

enum smtpc_kind {
	SMTPC_OK = 0,
	SMTPC_TEMP,		/* try again later (4xx, or ours) */
	SMTPC_PERM		/* do not try again (5xx, or ours) */
};

struct smtpc_status {
	enum smtpc_kind	kind;
	int		code;		/* the remote's reply code; 0 when local */
	int		local;		/* 1: our own reason, not the remote's reply */
	char		enhanced[SMTPC_ENH_MAX];	/* "4.7.5"; never empty unless OK */
	char		text[SMTPC_REPLY_TEXT_MAX];	/* the remote's text, or ours */
};

/* What happened on the connection (given to on_ready; smtpc_outcome() later). */
struct smtpc_outcome {
	char			 mx_host[256];
	char			 addr[64];	/* "127.0.0.2:25" */
	char			 local_addr[64];	/* our end, "127.0.0.1" (RFC 8460 sending-mta-ip) */
	char			 relay[330];	/* "mx1.d.test[127.0.0.2]:25" */
	enum smtpc_tls_mode	 mode;
	int			 esmtp;		/* EHLO accepted (else HELO) */
	int			 starttls_offered;
	int			 tls;		/* TLS is up */
	int			 verified;	/* chain and name checked OK (S24) */
	int			 resumed;	/* TLS session resumed */
	char			 tls_version[16];	/* "TLSv1.3", "" without TLS */
	char			 tls_cipher[64];
	enum tls_client_result	 tls_result;	/* RFC 8460 failure, or TLS_CLIENT_OK; set
						   in every mode, a policy violation only
						   in TESTING and VERIFY */
	char			 tls_detail[128];	/* OpenSSL's verify error text */
	int			 retry_plaintext;	/* the handshake failed in TESTING or
						   OPPORTUNISTIC: reconnect without TLS */
	struct smtpc_caps	 caps;		/* after TLS: the capabilities over TLS */
	struct smtpc_status	 status;	/* SMTPC_OK, or why the session failed */
	uint64_t		 messages;	/* transactions completed */
};

#define SMTPC_MSG_8BIT		0x01	/* BODY=8BITMIME needed (H8) */
#define SMTPC_MSG_SMTPUTF8	0x02	/* SMTPUTF8 needed (H8) */

struct smtpc_message {
	const char		*sender;	/* "" for the null sender */
	const char * const	*rcpts;
	size_t			 nrcpts;
	unsigned		 flags;
	uint64_t		 size;		/* declared size (SIZE=), 0 unknown */
	struct evbuffer		*body;		/* CRLF lines as stored; not consumed */
	const char		*id;		/* queue id for logs, may be NULL */
};

struct smtpc_rcpt_result {
	const char		*rcpt;		/* the message's pointer */
	int			 accepted;	/* RCPT got 2xx */
	struct smtpc_status	 status;	/* final for this recipient */
};

struct smtpc_result {
	struct smtpc_rcpt_result	*rcpts;	/* nrcpts, in the message's order */
	size_t				 nrcpts;
	size_t				 ndelivered;
	struct smtpc_status		 mail;	/* the reply to MAIL FROM (or our refusal) */
	int				 data_sent;	/* the body went out */
	uint64_t			 repairs;	/* bare CR/LF, NUL fixed (H2): a bug upstream */
};

typedef void smtpc_on_ready_fn(struct smtpc_session *, const struct smtpc_outcome *, void *);
typedef void smtpc_on_sent_fn(struct smtpc_session *, const struct smtpc_result *, void *);

/* Default timeouts filled in; helo_name must be set by the caller. */
void	smtpc_params_default(struct smtpc_params *);

/* Starts connecting. tls may be NULL only with SMTPC_TLS_PLAINTEXT. */
struct smtpc_session *smtpc_connect(struct event_base *, struct tls_client *,
	    const struct smtpc_params *, const struct sockaddr *, socklen_t,
	    const char *mx_host, enum smtpc_tls_mode, smtpc_on_ready_fn *, void *);
/*
 * One transaction; the message and its strings must live until on_sent.
 * Returns -1 (nothing called back) when the session is not ready.
 */
int	smtpc_send(struct smtpc_session *, const struct smtpc_message *,
	    smtpc_on_sent_fn *, void *);
/* Ready for another message? */
int	smtpc_usable(const struct smtpc_session *);
const struct smtpc_outcome *smtpc_outcome(const struct smtpc_session *);
/* Polite close (QUIT); the session frees itself, nothing is called back. */
void	smtpc_quit(struct smtpc_session *);
/* Close now; nothing more is called back (not even a pending on_sent). */
void	smtpc_free(struct smtpc_session *);

const char *smtpc_mode_name(enum smtpc_tls_mode);
/* "4.7.5 certificate not trusted" or "550 5.1.1 no such user" */
void	smtpc_status_format(const struct smtpc_status *, char *, size_t);
const char *smtpc_kind_name(enum smtpc_kind);

#endif
