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
};

/*
 * Bind every cfg->listen address (non-blocking, SO_REUSEADDR, IPV6_V6ONLY
 * for IPv6), load the TLS certificate and key and the credentials file.
 * Called as root before privileges are dropped; does not accept yet. cfg
 * must outlive the server. NULL with a message in err on failure.
 */
struct smtp_server *smtp_server_new(struct event_base *, const struct config *,
		    char *err, size_t errlen);
/* Start accepting; messages go to q. */
void		 smtp_server_start(struct smtp_server *, struct queue *q);
/*
 * Stop accepting. Sessions outside a transaction get 421 4.3.2 and are
 * closed; one in a transaction is closed after its message is answered
 * (or by QUIT or its timeout).
 */
void		 smtp_server_stop(struct smtp_server *);
/* Close everything. A session waiting for the queue frees itself in the queue's callback. */
void		 smtp_server_free(struct smtp_server *);
void		 smtp_server_stats(const struct smtp_server *, struct smtp_server_stats *);
/* The bound address of listener i (for tests with port 0); -1 if none. */
int		 smtp_server_listen_addr(const struct smtp_server *, size_t i,
		    struct sockaddr_storage *, socklen_t *);

#endif
