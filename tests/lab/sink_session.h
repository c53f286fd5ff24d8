/*
 * sink_session.h: one SMTP session of lab-smtp-sink, from the greeting to
 * the close, with STARTTLS as the listener's configuration says.
 */
#ifndef LAB_SINK_SESSION_H
#define LAB_SINK_SESSION_H

#include <sys/socket.h>
#include <openssl/ssl.h>
#include <event2/event.h>

#include "common/netaddr.h"
#include "tests/lab/lab_util.h"
#include "tests/lab/sink_conf.h"

/* Shared by every listener of the process. */
struct sink_server {
	struct event_base	*base;
	const char		*spool;
	struct lab_rec		*log;		/* session events */
	struct lab_rec		*index;		/* SPOOL/index: one line per message */
	int			 logging;	/* log is a file: format its lines */
	int			 keep_files;	/* each message in SPOOL/msg-ID.eml */
	unsigned long		 nconn;
	unsigned long		 nmsg;
};

struct sink_listener {
	struct sink_server	*srv;
	const struct sink_lconf	*conf;
	SSL_CTX			*ctx;		/* NULL when no TLS */
	char			 local[NETADDR_STRLEN];
};

/* Take over an accepted connection; the session frees itself at the end. */
void	sink_session_start(struct sink_listener *, evutil_socket_t,
	    const struct sockaddr *peer);

#endif
