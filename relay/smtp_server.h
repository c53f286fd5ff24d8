/*
 * smtp_server.h: the inbound SMTP server (RFC 5321 with PIPELINING, SIZE,
 * 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8, STARTTLS, AUTH). Non-blocking on
 * the caller's event_base; every accepted message goes to the queue and is
 * acknowledged only once the queue says it is durable (H10).
 */
#ifndef RELAY_SMTP_SERVER_H
#define RELAY_SMTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct config;
struct queue;
struct smtp_server;

struct smtp_server_stats {
	uint64_t	sessions_now;		/* open connections */
	uint64_t	sessions_total;		/* accepted since start */
	uint64_t	sessions_refused;	/* refused by connection limits */
	uint64_t	messages_accepted;	/* 250 after DATA */
	uint64_t	messages_refused;	/* 4xx/5xx after DATA */
	uint64_t	auth_pending;		/* password checks queued or running */
};

/*
 * Bounds that are not configuration keys; smtp_server_new() sets the
 * defaults. Besides the per-state idle timeouts of the configuration:
 * - a command line (or AUTH response) must be complete within
 *   timeout_command of its first octet, however it trickles in;
 * - DATA gets timeout_data plus one second per data_min_rate octets
 *   received (counted up to message_size_limit), so a client must average
 *   at least data_min_rate octets/s beyond the first timeout_data;
 * - after session_lifetime a session gets 421 4.4.2 once it is between
 *   transactions.
 * Past these deadlines the client gets 421 4.4.2 and is closed. Besides, a
 * TLS upgrade must be done within timeout_tls_handshake of the 220, and a
 * last reply (421, 221) must be taken within timeout_command, or the
 * connection is just closed. A client that stops reading is closed by the
 * idle timeout of its state (a write that makes no progress), and the
 * server stops reading commands while 16 KiB of replies are unread.
 */
struct smtp_server_tuning {
	uint64_t	session_lifetime;	/* seconds, default 3600 */
	uint64_t	data_min_rate;		/* octets per second, default 1024 */
	size_t		auth_threads;		/* password check threads, default 2 */
	size_t		auth_max_pending;	/* more get 454 4.7.0, default 32 */
};

/*
 * Bind every cfg->listen address (non-blocking, SO_REUSEADDR, IPV6_V6ONLY
 * for IPv6), load the TLS certificate and key and the credentials file.
 * Called as root before privileges are dropped; does not accept yet. cfg
 * must outlive the server. NULL with a message in err on failure.
 */
struct smtp_server *smtp_server_new(struct event_base *, const struct config *,
		    char *err, size_t errlen);
/* Replace the defaults; before smtp_server_start() (zero fields keep theirs). */
void		 smtp_server_tune(struct smtp_server *, const struct smtp_server_tuning *);
/* For tests: hold (1) or release (0) the password check threads. */
void		 smtp_server_auth_hold(struct smtp_server *, int hold);
/*
 * Start accepting; messages go to q. With AUTH, starts the password check
 * threads: libevent's pthreads support must be on.
 */
void		 smtp_server_start(struct smtp_server *, struct queue *q);
/*
 * Stop accepting. Sessions waiting for a command (an open MAIL/RCPT
 * transaction included) get 421 4.3.2 and are closed at once. A message in
 * DATA or being committed, a password check or a TLS handshake finishes
 * first (within its deadlines), then 421 4.3.2 follows its reply.
 */
void		 smtp_server_stop(struct smtp_server *);
/* Close everything. A session waiting for the queue frees itself in the queue's callback. */
void		 smtp_server_free(struct smtp_server *);
void		 smtp_server_stats(const struct smtp_server *, struct smtp_server_stats *);
/* The bound address of listener i (for tests with port 0); -1 if none. */
int		 smtp_server_listen_addr(const struct smtp_server *, size_t i,
		    struct sockaddr_storage *, socklen_t *);

#endif
