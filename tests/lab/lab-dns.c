/*
 * lab-dns: a DNS server for the lab, answering from a zone file over UDP and
 * TCP on the same port, with per-name faults. See docs/lab.md.
 */
#include <sys/socket.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "tests/lab/dns_zone.h"
#include "tests/lab/lab_ev.h"
#include "tests/lab/lab_util.h"

#define DNS_BIND_TRIES		20
#define DNS_TCP_IDLE		30	/* seconds */

static const char usage_text[] =
"usage: lab-dns [-v] -z ZONE [-l ADDR:PORT] [-p PORTFILE] [-q QUERYLOG]\n"
"       lab-dns -h\n"
"\n"
"A DNS server answering from ZONE over UDP and TCP on the same port.\n"
"  -z ZONE      the zone file; SIGHUP reads it again\n"
"  -l ADDR:PORT where to listen (default 127.0.0.1:0, port 0 = pick one)\n"
"  -p PORTFILE  write the port here once listening\n"
"  -q QUERYLOG  one line per query: proto, client, name, type, rcode, fault\n"
"  -v           debug logging on stderr\n"
"  -h           this help\n"
"\n"
"ZONE lines ('#' comments; names absolute, final dot optional):\n"
"  $TTL 300\n"
"  d.test           MX    10 mx1.d.test\n"
"  null.test        MX    0 .\n"
"  mx1.d.test       A     127.0.0.2\n"
"  mx1.d.test       AAAA  ::1\n"
"  _mta-sts.d.test  TXT   \"v=STSv1; \" \"id=1\"     (several strings)\n"
"  www.d.test       CNAME mx1.d.test\n"
"  bad.test         FAULT servfail|timeout|truncate|refused [TYPE]\n"
"Unknown names get NXDOMAIN; known names without the type get NODATA.\n"
"timeout drops the query; truncate sets TC over UDP and answers over TCP.\n";

struct dns_server {
	struct event_base	*base;
	const char		*zonepath;
	struct dns_zone		*zone;
	struct lab_rec		*qlog;
	int			 udp;
};

struct dns_tcp {
	struct dns_server	*srv;
	struct bufferevent	*bev;
	char			 peer[NETADDR_STRLEN];
};

static void
dns_log(struct dns_server *srv, const char *proto, const char *peer,
    const struct dns_info *info, size_t len)
{
	lab_rec(srv->qlog, "query proto=%s client=%s name=%s type=%s rcode=%s answers=%d "
	    "tc=%d fault=%s bytes=%zu", proto, peer, info->name, info->type,
	    info->rcode != NULL ? info->rcode : "-", info->answers, info->truncated,
	    info->fault, len);
	log_debug("query proto=%s client=%s name=%s type=%s rcode=%s fault=%s", proto,
	    peer, info->name, info->type, info->rcode != NULL ? info->rcode : "-",
	    info->fault);
}

static void
dns_on_udp(evutil_socket_t fd, short what, void *arg)
{
	struct dns_server	*srv = arg;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct dns_info		 info;
	uint8_t			 q[DNS_EDNS_MAX], out[DNS_EDNS_MAX];
	char			 peer[NETADDR_STRLEN];
	ssize_t			 n;
	size_t			 len;

	for (;;) {
		sslen = sizeof(ss);
		n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&ss, &sslen);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("recvfrom");
			return;
		}
		netaddr_format((struct sockaddr *)&ss, peer, sizeof(peer));
		len = dns_zone_answer(srv->zone, q, (size_t)n, 0, out, sizeof(out), &info);
		dns_log(srv, "udp", peer, &info, len);
		if (len > 0 && sendto(fd, out, len, 0, (struct sockaddr *)&ss, sslen) == -1)
			log_warn("sendto %s", peer);
	}
}

static void
dns_tcp_free(struct dns_tcp *t)
{
	bufferevent_free(t->bev);
	free(t);
}

static void
dns_on_tcp_read(struct bufferevent *bev, void *arg)
{
	struct dns_tcp	*t = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	struct dns_info	 info;
	uint8_t		 hdr[2], *q, *out;
	size_t		 qlen, len;

	while (evbuffer_get_length(in) >= 2) {
		if (evbuffer_copyout(in, hdr, 2) != 2)
			fatalx("dns_on_tcp_read: evbuffer_copyout");
		qlen = (size_t)(hdr[0] << 8 | hdr[1]);	/* at most 65535: bounded */
		if (evbuffer_get_length(in) < 2 + qlen)
			return;
		q = xmalloc(qlen + 2);
		out = xmalloc(DNS_TCP_MAX + 2);
		if (evbuffer_remove(in, q, qlen + 2) != (int)(qlen + 2))
			fatalx("dns_on_tcp_read: evbuffer_remove");
		len = dns_zone_answer(t->srv->zone, q + 2, qlen, 1, out + 2, DNS_TCP_MAX, &info);
		dns_log(t->srv, "tcp", t->peer, &info, len);
		if (len > 0) {
			out[0] = (uint8_t)(len >> 8);
			out[1] = (uint8_t)len;
			if (bufferevent_write(bev, out, len + 2) == -1)
				log_warnx("tcp %s: cannot queue the answer", t->peer);
		}
		free(q);
		free(out);
	}
}

static void
dns_on_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct dns_tcp	*t = arg;

	if (what & BEV_EVENT_ERROR)
		log_debug("tcp %s: %s", t->peer,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	dns_tcp_free(t);
}

static void
dns_on_accept(struct evconnlistener *ev, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct dns_tcp	*t = xcalloc(1, sizeof(*t));

	t->srv = arg;
	netaddr_format(sa, t->peer, sizeof(t->peer));
	if ((t->bev = bufferevent_socket_new(t->srv->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warnx("tcp %s: cannot make a bufferevent", t->peer);
		close(fd);
		free(t);
		return;
	}
	bufferevent_setcb(t->bev, dns_on_tcp_read, NULL, dns_on_tcp_event, t);
	lab_ev_read_timeout(t->bev, DNS_TCP_IDLE);
	if (bufferevent_enable(t->bev, EV_READ | EV_WRITE) == -1) {
		log_warnx("tcp %s: cannot enable the bufferevent", t->peer);
		dns_tcp_free(t);
	}
}

static void
dns_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct dns_server	*srv = arg;
	struct dns_zone		*z;
	char			 err[1024];

	if (sig != SIGHUP) {
		log_info("signal %d: stopping", (int)sig);
		lab_ev_loopexit(srv->base);
		return;
	}
	if ((z = dns_zone_load(srv->zonepath, err, sizeof(err))) == NULL) {
		log_warnx("reload failed, keeping the old zone: %s", err);
		lab_rec(srv->qlog, "reload failed error=\"%s\"", err);
		return;
	}
	dns_zone_free(srv->zone);
	srv->zone = z;
	log_info("zone %s reloaded: %zu entries", srv->zonepath, dns_zone_count(z));
	lab_rec(srv->qlog, "reload entries=%zu", dns_zone_count(z));
}

/* UDP then TCP on the same port; with port 0 retry when TCP finds it taken. */
static int
dns_bind(const char *spec, int *udp, int *tcp)
{
	struct netaddr_endpoint	ep;
	int			tries, port, tport;

	if (lab_endpoint(spec, &ep) == -1)
		fatalx("bad listen address %s", spec);
	for (tries = 0; tries < DNS_BIND_TRIES; tries++) {
		if ((*udp = lab_listen(spec, SOCK_DGRAM, -1, &port)) == -1)
			fatal("bind udp %s", spec);
		if ((*tcp = lab_listen(spec, SOCK_STREAM, port, &tport)) != -1)
			return port;
		if (errno != EADDRINUSE || netaddr_port((struct sockaddr *)&ep.ss) != 0)
			fatal("bind tcp %s", spec);
		close(*udp);
	}
	fatalx("no port free for both UDP and TCP after %d tries", tries);
}

int
main(int argc, char *argv[])
{
	struct dns_server	 srv;
	struct evconnlistener	*lev;
	struct event		*uev, *sigs[3];
	const char		*listen = "127.0.0.1:0", *portfile = NULL, *qlog = NULL;
	char			 err[1024];
	int			 ch, tcp, port, i;
	const int		 signos[3] = { SIGHUP, SIGTERM, SIGINT };

	memset(&srv, 0, sizeof(srv));
	log_init("lab-dns", LOG_DEST_STDERR, LOG_LVL_INFO);
	while ((ch = getopt(argc, argv, "hl:p:q:vz:")) != -1) {
		switch (ch) {
		case 'h':
			lab_usage(usage_text, 0);
		case 'l':
			listen = optarg;
			break;
		case 'p':
			portfile = optarg;
			break;
		case 'q':
			qlog = optarg;
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'z':
			srv.zonepath = optarg;
			break;
		default:
			lab_usage(usage_text, 64);
		}
	}
	if (srv.zonepath == NULL || optind != argc)
		lab_usage(usage_text, 64);
	if ((srv.zone = dns_zone_load(srv.zonepath, err, sizeof(err))) == NULL) {
		fprintf(stderr, "lab-dns: %s\n", err);
		return 78;
	}
	if ((srv.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	srv.qlog = lab_rec_open(qlog);
	port = dns_bind(listen, &srv.udp, &tcp);
	if ((uev = event_new(srv.base, srv.udp, EV_READ | EV_PERSIST, dns_on_udp, &srv)) == NULL ||
	    event_add(uev, NULL) == -1)
		fatalx("cannot watch the UDP socket");
	if ((lev = evconnlistener_new(srv.base, dns_on_accept, &srv, LEV_OPT_CLOSE_ON_FREE,
	    -1, tcp)) == NULL)
		fatalx("evconnlistener_new");
	for (i = 0; i < 3; i++)
		if ((sigs[i] = evsignal_new(srv.base, signos[i], dns_on_signal, &srv)) == NULL ||
		    evsignal_add(sigs[i], NULL) == -1)
			fatalx("cannot watch signal %d", signos[i]);
	log_info("listening on %s port %d (udp and tcp), zone %s: %zu entries", listen, port,
	    srv.zonepath, dns_zone_count(srv.zone));
	if (portfile != NULL && lab_write_port(portfile, port) == -1)
		return 1;
	if (event_base_dispatch(srv.base) == -1)
		fatalx("event_base_dispatch");
	for (i = 0; i < 3; i++)
		event_free(sigs[i]);
	event_free(uev);
	evconnlistener_free(lev);
	close(srv.udp);
	dns_zone_free(srv.zone);
	lab_rec_close(srv.qlog);
	event_base_free(srv.base);
	return 0;
}
