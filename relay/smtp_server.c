/*
 * smtp_server.c: listeners, connection limits (global and per client
 * address), TLS context and credentials, statistics. Sessions are in
 * smtp_session.c.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "relay/auth.h"
#include "relay/auth_worker.h"
#include "relay/config.h"
#include "relay/smtp_session.h"
#include "relay/tls_server.h"

struct smtp_client_count {
	struct smtp_client_count	*next;
	uint8_t				 addr[16];	/* IPv4 as v4-mapped IPv6 */
	uint64_t			 count;
};

/* The client address as 16 octets, IPv4 v4-mapped, so both forms count as one. */
static void
client_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6)
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
}

static size_t
client_hash(const uint8_t key[16])
{
	uint32_t	h = 2166136261u;
	size_t		i;

	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % SMTP_CLIENT_BUCKETS;
}

static struct smtp_client_count *
client_find(struct smtp_server *srv, const struct sockaddr *sa, int create)
{
	struct smtp_client_count	*c;
	uint8_t				 key[16];
	size_t				 h;

	client_key(sa, key);
	h = client_hash(key);
	for (c = srv->clients[h]; c != NULL; c = c->next)
		if (memcmp(c->addr, key, 16) == 0)
			return c;
	if (!create)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	memcpy(c->addr, key, 16);
	c->next = srv->clients[h];
	srv->clients[h] = c;
	return c;
}

static void
client_release(struct smtp_server *srv, const struct sockaddr *sa)
{
	struct smtp_client_count	**pp, *c;
	uint8_t				  key[16];

	client_key(sa, key);
	for (pp = &srv->clients[client_hash(key)]; (c = *pp) != NULL; pp = &c->next) {
		if (memcmp(c->addr, key, 16) != 0)
			continue;
		if (c->count == 0)
			fatalx("client_release: count underflow");
		if (--c->count == 0) {
			*pp = c->next;
			free(c);
		}
		return;
	}
	fatalx("client_release: unknown client");
}

void
smtp_server_session_gone(struct smtp_server *srv, struct smtp_session *s)
{
	TAILQ_REMOVE(&srv->sessions, s, entry);
	client_release(srv, (struct sockaddr *)&s->ss);
	if (srv->stats.sessions_now == 0)
		fatalx("smtp_server_session_gone: no sessions");
	srv->stats.sessions_now--;
}

/* Refuse at connect: one best-effort write to a fresh socket, then close. */
static void
refuse(struct smtp_server *srv, int fd, const char *addr, const char *why)
{
	char	line[300];
	int	len;

	len = snprintf(line, sizeof(line), "421 4.7.0 %s %s, try again later\r\n",
	    srv->cfg->hostname, why);
	if (len > 0 && write(fd, line, (size_t)len) == -1)
		log_debug("%s: write: %s", addr, strerror(errno));
	if (close(fd) == -1)
		log_warn("%s: close", addr);
	srv->stats.sessions_refused++;
	log_info("refused connection from %s: %s", addr, why);
}

/* A connection from the listener (or a test): limits, then a session. */
void
smtp_server_accept(struct smtp_server *srv, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct smtp_client_count	*c;
	char				 addr[NETADDR_STRLEN];
	int				 one = 1;

	netaddr_format(sa, addr, sizeof(addr));
	if (srv->stopping || srv->queue == NULL) {
		refuse(srv, fd, addr, "Service shutting down");
		return;
	}
	if (srv->stats.sessions_now >= srv->cfg->max_connections) {
		refuse(srv, fd, addr, "Too many connections");
		return;
	}
	c = client_find(srv, sa, 0);
	if ((c != NULL ? c->count : 0) >= srv->cfg->max_connections_per_client) {
		refuse(srv, fd, addr, "Too many connections from your address");
		return;
	}
	if (c == NULL)
		c = client_find(srv, sa, 1);
	/* replies are whole and batched already: don't let Nagle hold them (TLS records) */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		log_debug("%s: TCP_NODELAY: %s", addr, strerror(errno));
	c->count++;
	srv->stats.sessions_now++;
	srv->stats.sessions_total++;
	smtp_session_new(srv, fd, sa, salen);
}

static void
on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	smtp_server_accept(arg, fd, sa, (socklen_t)salen);
}

static void
on_accept_error(struct evconnlistener *lev, void *arg)
{
	/* EMFILE and friends: log; libevent retries on the next event */
	log_warn("smtp: accept");
}

static int
bind_one(const struct netaddr_endpoint *ep, char *err, size_t errlen)
{
	char	addr[NETADDR_STRLEN];
	int	fd, on = 1;

	netaddr_format((const struct sockaddr *)&ep->ss, addr, sizeof(addr));
	fd = socket(ep->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "listen %s: socket: %s", addr, strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    (ep->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1)) {
		snprintf(err, errlen, "listen %s: setsockopt: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	if (bind(fd, (const struct sockaddr *)&ep->ss, ep->len) == -1) {
		snprintf(err, errlen, "listen %s: bind: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
load_secrets(struct smtp_server *srv, const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->tls_cert_file != NULL && cfg->tls_cert_file[0] != '\0') {
		srv->tls = tls_server_ctx_new(cfg->tls_cert_file,
		    cfg->tls_key_file != NULL && cfg->tls_key_file[0] != '\0' ?
		    cfg->tls_key_file : cfg->tls_cert_file, err, errlen);
		if (srv->tls == NULL)
			return -1;
	}
	if (!cfg->smtp_auth)
		return 0;
	if (srv->tls == NULL) {
		snprintf(err, errlen, "smtp_auth = yes needs tls_cert_file: "
		    "AUTH is offered only over TLS");
		return -1;
	}
	if (cfg->auth_credentials_file == NULL || cfg->auth_credentials_file[0] == '\0') {
		snprintf(err, errlen, "smtp_auth = yes needs auth_credentials_file");
		return -1;
	}
	if ((srv->auth = auth_load(cfg->auth_credentials_file, err, errlen)) == NULL)
		return -1;
	return 0;
}

struct smtp_server *
smtp_server_new(struct event_base *base, const struct config *cfg, char *err, size_t errlen)
{
	struct smtp_server	*srv;
	size_t			 i;
	int			 fd;

	if (cfg->nlisten > sizeof(srv->listeners) / sizeof(srv->listeners[0])) {
		snprintf(err, errlen, "too many listen addresses");
		return NULL;
	}
	srv = xcalloc(1, sizeof(*srv));
	srv->base = base;
	srv->cfg = cfg;
	srv->tune.session_lifetime = 3600;
	srv->tune.data_min_rate = 1024;
	srv->tune.auth_threads = 2;
	srv->tune.auth_max_pending = 32;
	TAILQ_INIT(&srv->sessions);
	if (load_secrets(srv, cfg, err, errlen) != 0) {
		smtp_server_free(srv);
		return NULL;
	}
	for (i = 0; i < cfg->nlisten; i++) {
		if ((fd = bind_one(&cfg->listen[i], err, errlen)) == -1) {
			smtp_server_free(srv);
			return NULL;
		}
		srv->listeners[srv->nlisteners].fd = fd;
		srv->nlisteners++;
	}
	return srv;
}

void
smtp_server_tune(struct smtp_server *srv, const struct smtp_server_tuning *t)
{
	if (t->session_lifetime != 0)
		srv->tune.session_lifetime = t->session_lifetime;
	if (t->data_min_rate != 0)
		srv->tune.data_min_rate = t->data_min_rate;
	if (t->auth_threads != 0)
		srv->tune.auth_threads = t->auth_threads;
	if (t->auth_max_pending != 0)
		srv->tune.auth_max_pending = t->auth_max_pending;
}

void
smtp_server_auth_hold(struct smtp_server *srv, int hold)
{
	if (srv->worker != NULL)
		auth_worker_hold(srv->worker, hold);
}

void
smtp_server_start(struct smtp_server *srv, struct queue *q)
{
	struct smtp_listener	*l;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 addr[NETADDR_STRLEN];
	size_t			 i;

	srv->queue = q;
	if (srv->auth != NULL && srv->worker == NULL)
		srv->worker = auth_worker_new(srv->base, srv->auth, srv->tune.auth_threads,
		    srv->tune.auth_max_pending);
	for (i = 0; i < srv->nlisteners; i++) {
		l = &srv->listeners[i];
		if (l->lev != NULL)
			continue;
		l->lev = evconnlistener_new(srv->base, on_accept, srv,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 511, l->fd);
		if (l->lev == NULL)
			fatal("smtp_server_start: evconnlistener_new");
		l->fd = -1;	/* the listener owns it */
		evconnlistener_set_error_cb(l->lev, on_accept_error);
		if (smtp_server_listen_addr(srv, i, &ss, &sslen) == 0) {
			netaddr_format((struct sockaddr *)&ss, addr, sizeof(addr));
			log_info("smtp: listening on %s", addr);
		}
	}
}

void
smtp_server_stop(struct smtp_server *srv)
{
	struct smtp_session	*s;
	size_t			 i;

	srv->stopping = 1;
	for (i = 0; i < srv->nlisteners; i++)
		if (srv->listeners[i].lev != NULL &&
		    evconnlistener_disable(srv->listeners[i].lev) != 0)
			log_warnx("smtp: cannot stop a listener");
	/* the others get theirs once back between transactions (smtp_session_resume) */
	TAILQ_FOREACH(s, &srv->sessions, entry)
		if (smtp_session_waiting(s))
			smtp_session_close_reply(s, 421, "4.3.2", "Service shutting down");
}

void
smtp_server_free(struct smtp_server *srv)
{
	struct smtp_client_count	*c;
	size_t				 i;

	if (srv == NULL)
		return;
	while (!TAILQ_EMPTY(&srv->sessions))
		smtp_session_destroy(TAILQ_FIRST(&srv->sessions));
	/* after the sessions: they have cancelled their password checks */
	auth_worker_free(srv->worker);
	for (i = 0; i < srv->nlisteners; i++) {
		if (srv->listeners[i].lev != NULL)
			evconnlistener_free(srv->listeners[i].lev);
		else if (srv->listeners[i].fd != -1)
			close(srv->listeners[i].fd);
	}
	for (i = 0; i < SMTP_CLIENT_BUCKETS; i++)
		while ((c = srv->clients[i]) != NULL) {
			srv->clients[i] = c->next;
			free(c);
		}
	if (srv->tls != NULL)
		tls_server_ctx_free(srv->tls);
	auth_free(srv->auth);
	free(srv);
}

void
smtp_server_stats(const struct smtp_server *srv, struct smtp_server_stats *st)
{
	*st = srv->stats;
	st->auth_pending = srv->worker != NULL ? auth_worker_pending(srv->worker) : 0;
}

int
smtp_server_listen_addr(const struct smtp_server *srv, size_t i, struct sockaddr_storage *ss,
    socklen_t *len)
{
	int fd;

	if (i >= srv->nlisteners)
		return -1;
	fd = srv->listeners[i].lev != NULL ? evconnlistener_get_fd(srv->listeners[i].lev) :
	    srv->listeners[i].fd;
	*len = sizeof(*ss);
	return getsockname(fd, (struct sockaddr *)ss, len);
}
