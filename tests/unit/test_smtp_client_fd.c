/*
 * test_smtp_client_fd.c: a session freed from inside its own callback must
 * leave the event loop clean. The next socket the process opens usually
 * gets the freed session's descriptor number; a UDP socket opened there
 * (as c-ares opens one for the next DNS query) must be polled. A server
 * greets with 421, the session fails, the callback frees it and opens the
 * UDP socket at once, and a datagram sent to it must be read.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "relay/smtp_client.h"
#include "tests/tap.h"

static struct event_base	*base;
static int			 udp_fd = -1, udp_read, session_failed;
static struct event		*udp_ev;

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(base);
}

static void
on_udp(evutil_socket_t fd, short what, void *arg)
{
	char	buf[64];

	if (recv(fd, buf, sizeof(buf), 0) > 0)
		udp_read = 1;
	event_base_loopbreak(base);
}

/* The server side: accept, greet with 421, close. */
static void
on_accept(evutil_socket_t fd, short what, void *arg)
{
	static const char	greet[] = "421 4.3.2 too busy\r\n";
	int			c;

	if ((c = accept(fd, NULL, NULL)) == -1)
		return;
	if (write(c, greet, sizeof(greet) - 1) == -1)
		diag("write: cannot greet");
	close(c);
}

/* The session failed: free it, then open a UDP socket and send it a datagram. */
static void
on_ready(struct smtpc_session *s, const struct smtpc_outcome *o, void *arg)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			tx;

	session_failed = o->status.kind != SMTPC_OK;
	smtpc_free(s);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((udp_fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
	    bind(udp_fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(udp_fd, (struct sockaddr *)&sin, &len) == -1 ||
	    (udp_ev = event_new(base, udp_fd, EV_READ | EV_PERSIST, on_udp, NULL)) == NULL ||
	    event_add(udp_ev, NULL) == -1) {
		diag("cannot set up the UDP socket");
		return;
	}
	diag("the UDP socket is descriptor %d", udp_fd);
	if ((tx = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
	    sendto(tx, "x", 1, 0, (struct sockaddr *)&sin, sizeof(sin)) != 1)
		diag("cannot send the datagram");
	if (tx != -1)
		close(tx);
}

int
main(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	struct smtpc_params	 sp;
	struct smtpc_session	*s;
	struct event		*lev, *dl;
	struct timeval		 tv = { 10, 0 };
	int			 lfd;

	log_init("test_smtp_client_fd", LOG_DEST_STDERR, LOG_LVL_WARN);
	base = event_base_new();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(lfd, 4) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) == -1) {
		printf("Bail out! cannot listen on 127.0.0.1\n");
		return 1;
	}
	lev = event_new(base, lfd, EV_READ | EV_PERSIST, on_accept, NULL);
	event_add(lev, NULL);
	smtpc_params_default(&sp);
	sp.helo_name = "client.test";
	s = smtpc_connect(base, NULL, &sp, (struct sockaddr *)&sin, sizeof(sin), "mx.test",
	    SMTPC_TLS_PLAINTEXT, on_ready, NULL);
	ok(s != NULL, "connecting to a server that greets with 421");
	dl = evtimer_new(base, on_deadline, NULL);
	evtimer_add(dl, &tv);
	event_base_dispatch(base);	/* until the datagram is read, or 10 s */
	ok(session_failed, "the session failed on the 421 greeting");
	ok(udp_read, "a socket opened right after the session was freed in its callback "
	    "is polled (its datagram was read)");
	if (udp_ev != NULL)
		event_free(udp_ev);
	if (udp_fd != -1)
		close(udp_fd);
	event_free(dl);
	event_free(lev);
	close(lfd);
	event_base_free(base);
	return tap_done();
}
