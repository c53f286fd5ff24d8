/*
 * smtp_session.h: internals shared by the SMTP server's files:
 * smtp_server.c (listeners, limits, shutdown), smtp_session.c (I/O, states,
 * timeouts and deadlines, STARTTLS), smtp_reply.c (reply lines),
 * smtp_cmd.c (the command table),
 * smtp_commit.c (end of DATA) and smtp_auth.c (AUTH, checked by
 * auth_worker.c off the loop). Not for use outside the SMTP server (the
 * unit test harness peeks at buffer sizes).
 */
#ifndef RELAY_SMTP_SESSION_H
#define RELAY_SMTP_SESSION_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <stdint.h>
#include <time.h>

#include "queue/queue.h"
#include "relay/config.h"
#include "relay/smtp_data.h"
#include "relay/smtp_server.h"

struct auth_job;
struct auth_worker;
struct bufferevent;
struct event;
struct evbuffer_cb_entry;
struct evconnlistener;
struct auth;
typedef struct ssl_ctx_st SSL_CTX;

enum smtp_state {
	SMTP_S_INIT = 0,	/* greeted, no HELO/EHLO yet */
	SMTP_S_HELO,		/* HELO/EHLO seen, no transaction */
	SMTP_S_MAIL,		/* MAIL FROM accepted */
	SMTP_S_RCPT,		/* at least one RCPT TO accepted */
	SMTP_S_DATA,		/* reading the message */
	SMTP_S_COMMIT,		/* waiting for the queue's callback */
	SMTP_S_TLS_WAIT,	/* 220 to STARTTLS being flushed */
	SMTP_S_TLS,		/* TLS handshake */
	SMTP_S_AUTH_PLAIN,	/* 334 sent, waiting for the PLAIN response */
	SMTP_S_AUTH_USER,	/* AUTH LOGIN: waiting for the user name */
	SMTP_S_AUTH_PASS,	/* AUTH LOGIN: waiting for the password */
	SMTP_S_AUTH_VERIFY,	/* password being checked off the loop; input waits */
	SMTP_S_CLOSING,		/* last reply being flushed, then close */
	SMTP_S_COUNT
};

#define SMTP_F_EHLO		0x01	/* EHLO (not HELO): ESMTP */
#define SMTP_F_TLS		0x02	/* TLS is up */
#define SMTP_F_AUTH		0x04	/* authenticated */
#define SMTP_F_RELAY_NET	0x08	/* client in client_networks */
#define SMTP_F_GONE		0x10	/* connection closed while in COMMIT */
#define SMTP_F_DISCARD		0x20	/* discarding an overlong line */
#define SMTP_F_8BIT		0x40	/* BODY=8BITMIME */
#define SMTP_F_UTF8		0x80	/* SMTPUTF8 */
#define SMTP_F_EXPIRED		0x100	/* session lifetime over: 421 when idle */
#define SMTP_F_EOF		0x200	/* the client sent its last octet (half-close) */

/* RFC 4954 4: a base64 response to a 334 may be up to 12288 octets. */
#define SMTP_AUTH_RESPONSE_MAX	12288

struct smtp_session {
	TAILQ_ENTRY(smtp_session) entry;
	struct smtp_server	*srv;		/* NULL once the server is gone */
	struct bufferevent	*bev;
	int			 fd;
	enum smtp_state		 state;
	uint32_t		 flags;
	uint32_t		 errors;
	uint64_t		 nmessages;	/* accepted in this session */
	uint64_t		 nrcpt_total;
	struct sockaddr_storage	 ss;
	char			 addr[48];	/* "192.0.2.1:port" or "[::1]:port" */
	char			 addr_host[48];	/* "192.0.2.1" */
	char			*helo;
	char			*auth_user;
	const char		*auth_mech;	/* while in AUTH_VERIFY */
	struct auth_job		*auth_job;	/* while in AUTH_VERIFY */
	uint64_t		 idle_timeout;	/* as set on bev; UINT64_MAX: not yet */
	/* plaintext: replies written straight to fd, EV_WRITE only when it blocks */
	struct event		*flush;
	struct evbuffer_cb_entry *out_cb;
	struct event		*deadline;	/* line or DATA deadline */
	struct event		*lifetime;	/* session lifetime */
	uint64_t		 deadline_start;	/* ms: DATA began */
	uint64_t		 data_raw;	/* octets read in DATA */
	/* the transaction */
	char			 id[QUEUE_ID_MAX];
	char			*sender;
	char			**rcpts;		/* distinct recipients */
	size_t			 nrcpts;
	size_t			 nrcpt_cmds;	/* RCPTs answered 250, repeats too */
	struct evbuffer		*body;		/* only during DATA and COMMIT */
	struct smtp_data	*data;		/* only during DATA */
	uint64_t		 data_size;	/* octets received in DATA */
};

struct smtp_listener {
	int			 fd;
	struct evconnlistener	*lev;
};

struct smtp_client_count;

#define SMTP_CLIENT_BUCKETS	1024

struct smtp_server {
	struct event_base	*base;
	const struct config	*cfg;
	struct queue		*queue;
	SSL_CTX			*tls;
	struct auth		*auth;
	struct auth_worker	*worker;	/* password checks, once started */
	struct smtp_server_tuning tune;
	struct smtp_listener	 listeners[CONFIG_MAX_LISTEN];
	size_t			 nlisteners;
	int			 stopping;
	TAILQ_HEAD(, smtp_session) sessions;
	struct smtp_client_count *clients[SMTP_CLIENT_BUCKETS];
	struct smtp_server_stats stats;
	/* the Received: date, formatted once per second */
	time_t			 date_sec;
	char			 date[40];
};

/* smtp_session.c (smtp_session_reply, _raw: smtp_reply.c) */
const char	*smtp_strstate(enum smtp_state);
void		 smtp_session_new(struct smtp_server *, int fd, const struct sockaddr *,
		    socklen_t);
void		 smtp_session_transition(struct smtp_session *, enum smtp_state);
void		 smtp_session_reply(struct smtp_session *, int code, const char *status,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void		 smtp_session_raw(struct smtp_session *, const char *line);
/* Reply and close once flushed. */
void		 smtp_session_close_reply(struct smtp_session *, int code, const char *status,
		    const char *text);
void		 smtp_session_starttls(struct smtp_session *);
/*
 * Go on with buffered input; after the client's EOF, close once what it
 * sent is answered. May free the session: call it last.
 */
void		 smtp_session_resume(struct smtp_session *);
void		 smtp_session_destroy(struct smtp_session *);
void		 smtp_session_reset(struct smtp_session *);
/* Waiting for a command or an AUTH response (not in DATA, COMMIT, TLS, ...)? */
int		 smtp_session_waiting(const struct smtp_session *);

/* smtp_cmd.c */
void		 smtp_cmd_line(struct smtp_session *, char *line, size_t len);
void		 smtp_cmd_error(struct smtp_session *);

/* smtp_commit.c: end of DATA: Received: header, queue_submit, the reply */
void		 smtp_cmd_data_end(struct smtp_session *);

/* smtp_auth.c: AUTH PLAIN and LOGIN (RFC 4954); verification in auth_worker.c */
void		 smtp_auth_cmd(struct smtp_session *, const char *arg);
void		 smtp_auth_line(struct smtp_session *, const char *line);

/* smtp_server.c */
void		 smtp_server_accept(struct smtp_server *, int fd, const struct sockaddr *,
		    socklen_t);
void		 smtp_server_session_gone(struct smtp_server *, struct smtp_session *);

#endif
