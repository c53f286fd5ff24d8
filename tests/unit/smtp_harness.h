/*
 * smtp_harness.h: in-process harness for the SMTP server tests: a fake
 * queue (queue_new_id/queue_submit that record messages and answer from
 * the event loop), the server on its own thread, and a small blocking
 * client with optional TLS.
 */
#ifndef TESTS_UNIT_SMTP_HARNESS_H
#define TESTS_UNIT_SMTP_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "queue/queue.h"
#include "relay/config.h"
#include "relay/smtp_server.h"

#define H_MAX_MSGS	64

struct h_msg {
	char	 id[QUEUE_ID_MAX];
	char	*sender;
	char	*rcpt0;
	char	**rcpts;	/* the envelope's recipients, as stored */
	size_t	 nrcpts;
	char	*body;
	size_t	 len;
	char	*auth_user;
	uint32_t flags;
};

struct queue {
	struct event_base	*base;
	unsigned		 counter;
	enum queue_status	 status;	/* what the next commits answer */
	unsigned		 delay_ms;	/* before the callback */
	struct h_msg		 msgs[H_MAX_MSGS];
	size_t			 nmsgs;
};

struct h_server {
	struct config		 cfg;
	struct event_base	*base;
	struct smtp_server	*srv;
	struct smtp_server_tuning tune;		/* applied by h_start; cleared by h_stop */
	struct queue		 q;
	int			 port;
	void			*thread;
};

struct h_conn {
	int	 fd;
	SSL	*ssl;
	SSL_CTX	*ctx;
	char	 buf[65536];
	size_t	 len;
	char	 reply[65536];	/* the last reply, all lines */
};

void	h_config(struct config *);
int	h_start(struct h_server *, char *err, size_t errlen);
void	h_stop(struct h_server *);
/* smtp_server_free() on the loop thread; the loop keeps running until h_stop(). */
void	h_free_server(struct h_server *);
/* Run fn(arg) on the server's loop thread and wait for it. */
void	h_call(struct h_server *, void (*fn)(void *), void *arg);
size_t	h_nmsgs(struct h_server *);
uint64_t h_sessions_now(struct h_server *);
uint64_t h_auth_pending(struct h_server *);
/* Hold (1) or release (0) the password check threads. */
void	h_auth_hold(struct h_server *, int);
/* The largest input and output buffers over all sessions; 0 without sessions. */
size_t	h_buffers(struct h_server *, size_t *in, size_t *out);
/* Poll h_sessions_now() until it is n or ms pass; 1 if it got there. */
int	h_wait_sessions(struct h_server *, uint64_t n, unsigned ms);

int	h_connect(struct h_conn *, int port, const char *from_addr);
int	h_connect6(struct h_conn *, int port);
void	h_close(struct h_conn *);
int	h_send(struct h_conn *, const void *, size_t);
int	h_sends(struct h_conn *, const char *);
/* Read one whole reply (all its lines); its code, or -1 on EOF/timeout. */
int	h_reply(struct h_conn *);
/* Is the connection closed by the server within a few seconds? */
int	h_eof(struct h_conn *);
int	h_starttls(struct h_conn *);
/* Send a command, return the code of the reply. */
int	h_cmd(struct h_conn *, const char *);
/* Bytes available to read without blocking, from the socket (plaintext). */
size_t	h_pending(struct h_conn *);

#endif
