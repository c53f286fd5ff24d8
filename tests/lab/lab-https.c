/*
 * lab-https: the lab's HTTPS policy server. A small hand-written HTTP/1.1
 * responder over TLS: per Host a body, status, content type, redirect,
 * delay, stall or close; per SNI name a certificate. See docs/lab.md.
 */
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "tests/lab/https_conf.h"
#include "tests/lab/lab_ev.h"
#include "tests/lab/lab_util.h"

#define HTTPS_LINE_MAX		8192	/* one request or header line */
#define HTTPS_HEAD_MAX		32768	/* the whole request head */
#define HTTPS_TIMEOUT		60	/* seconds */
#define HTTPS_FILLER		\
	"#xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"	/* 63 */
#define HTTPS_REQ_BODY_MAX	(16 * 1024 * 1024)	/* a request body (a report) */

static const char usage_text[] =
"usage: lab-https [-v] -f CONFIG [-l ADDR:PORT] [-p PORTFILE] [-L LOG]\n"
"       lab-https -h\n"
"\n"
"An HTTPS server for MTA-STS policies. CONFIG (see docs/lab.md):\n"
"  listen ADDR:PORT      (or -l; default 127.0.0.1:0, port 0 = pick one)\n"
"  portfile FILE         (or -p) write the port here once listening\n"
"  log FILE              (or -L) one line per request: SNI, Host, path, headers\n"
"  cert CHAIN KEY        the certificate for unknown or absent SNI\n"
"  stall-accept 1        accept TCP and never start TLS\n"
"  host NAME             a section for Host/SNI NAME (\"*\" = any other host):\n"
"    cert CHAIN KEY        served when SNI is NAME\n"
"    path PATH             only this path (others get 404)\n"
"    status CODE           default 200\n"
"    content-type TYPE     default text/plain; \"none\" = no header\n"
"    location URL          a Location header (for redirects)\n"
"    header \"Name: value\"  an extra header\n"
"    body-file FILE        the body; or body-line TEXT... (adds TEXT and LF)\n"
"    oversize SIZE         pad the body with filler up to SIZE bytes\n"
"    delay MS              answer after MS milliseconds\n"
"    action answer|stall|close   stall = never answer; close = hang up\n"
"    save-body DIR         store request bodies (POST) in DIR\n"
"\n"
"  -v  debug logging on stderr      -h  this help\n";

enum https_state {
	HTTPS_S_HANDSHAKE = 0,
	HTTPS_S_REQUEST,	/* waiting for the request line */
	HTTPS_S_HEADERS,
	HTTPS_S_BODY,		/* reading Content-Length bytes */
	HTTPS_S_DELAY,
	HTTPS_S_STALL,
	HTTPS_S_WRITING
};

static const char *const https_state_names[] = {
	"handshake", "request", "headers", "body", "delay", "stall", "writing"
};

struct https_server {
	struct event_base	*base;
	struct https_conf	 conf;
	SSL_CTX			*defctx;
	SSL_CTX			*ctx[HTTPS_MAX_HOSTS];
	struct lab_rec		*log;
	unsigned long		 nconn;
};

struct https_conn {
	struct https_server	*srv;
	struct bufferevent	*bev;
	struct event		*timer;
	unsigned long		 id;
	enum https_state	 state;
	char			 peer[NETADDR_STRLEN];
	char			 sni[256];
	char			 method[16];
	char			 path[2048];
	char			 host[256];
	char			 headers[4096];	/* escaped, " | " between */
	size_t			 headbytes;
	uint64_t		 clen;		/* Content-Length */
	int			 chunked;
	char			*body;
	const struct https_host	*h;
};

static void	https_on_read(struct bufferevent *, void *);
static void	https_on_write(struct bufferevent *, void *);
static void	https_on_event(struct bufferevent *, short, void *);

static const char *
https_strstate(enum https_state st)
{
	if ((unsigned)st >= sizeof(https_state_names) / sizeof(https_state_names[0]))
		fatalx("https_strstate: bad state %d", (int)st);
	return https_state_names[st];
}

static void
https_set_state(struct https_conn *c, enum https_state st)
{
	log_debug("conn=%lu state %s -> %s", c->id, https_strstate(c->state),
	    https_strstate(st));
	c->state = st;
}

static void
https_free(struct https_conn *c)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(c->bev);

	log_debug("conn=%lu closed in state %s", c->id, https_strstate(c->state));
	if (c->timer != NULL)
		event_free(c->timer);
	if (ssl != NULL)
		SSL_set_app_data(ssl, NULL);	/* no alert callback after this */
	bufferevent_free(c->bev);
	free(c->body);
	free(c);
}

static const char *
https_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

/* A reply of our own (not configured): errors in the request. */
static void
https_simple(struct https_conn *c, int status, const char *text)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);

	lab_rec(c->srv->log, "response conn=%lu status=%d reason=\"%s\"", c->id, status, text);
	if (evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n", status,
	    https_reason(status), strlen(text) + 1, text) == -1)
		log_warnx("conn=%lu: cannot queue the response", c->id);
	https_set_state(c, HTTPS_S_WRITING);
}

static void
https_respond(struct https_conn *c)
{
	const struct https_host	*h = c->h;
	struct evbuffer		*out = bufferevent_get_output(c->bev);
	size_t			 len = h->bodylen, i, pad;
	int			 rv = 0;

	if (h->oversize > len)
		len = (size_t)h->oversize;
	rv |= evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", h->status, https_reason(h->status)) < 0;
	if (h->content_type != NULL)
		rv |= evbuffer_add_printf(out, "Content-Type: %s\r\n", h->content_type) < 0;
	if (h->location != NULL)
		rv |= evbuffer_add_printf(out, "Location: %s\r\n", h->location) < 0;
	for (i = 0; i < h->nheaders; i++)
		rv |= evbuffer_add_printf(out, "%s\r\n", h->headers[i]) < 0;
	rv |= evbuffer_add_printf(out, "Content-Length: %zu\r\nConnection: close\r\n\r\n", len) < 0;
	if (h->bodylen > 0)
		rv |= evbuffer_add(out, h->body, h->bodylen) < 0;
	for (i = h->bodylen; i < len; i += pad) {	/* filler lines of 64 bytes */
		pad = len - i < 64 ? len - i : 64;
		rv |= evbuffer_add(out, HTTPS_FILLER, pad - 1) < 0;
		rv |= evbuffer_add(out, "\n", 1) < 0;
	}
	if (rv != 0)
		log_warnx("conn=%lu: cannot queue the response", c->id);
	lab_rec(c->srv->log, "response conn=%lu status=%d bytes=%zu", c->id, h->status, len);
	https_set_state(c, HTTPS_S_WRITING);
}

static void
https_on_timer(evutil_socket_t fd, short what, void *arg)
{
	https_respond(arg);
}

static void
https_save_body(struct https_conn *c, const char *dir)
{
	char	*path;
	FILE	*fp;
	int	 ok;

	xasprintf(&path, "%s/body-%ld-%lu", dir, (long)getpid(), c->id);
	if ((fp = fopen(path, "w")) == NULL) {
		log_warn("%s", path);
		free(path);
		return;
	}
	ok = fwrite(c->body, 1, (size_t)c->clen, fp) == (size_t)c->clen;
	if (fclose(fp) == EOF || !ok)
		log_warn("%s", path);
	else
		lab_rec(c->srv->log, "saved conn=%lu file=%s bytes=%llu", c->id, path,
		    (unsigned long long)c->clen);
	free(path);
}

static void
https_dispatch(struct https_conn *c)
{
	const struct https_host	*h = https_conf_host(&c->srv->conf, c->host);
	struct timeval		 tv;

	lab_rec(c->srv->log, "request conn=%lu peer=%s sni=%s method=%s host=%s path=%s "
	    "section=%s action=%s delay=%llu body=%llu headers=\"%s\"", c->id, c->peer,
	    c->sni[0] != '\0' ? c->sni : "-", c->method, c->host[0] != '\0' ? c->host : "-",
	    c->path, h != NULL ? h->name : "-", h != NULL ? https_conf_straction(h->action) : "-",
	    h != NULL ? (unsigned long long)h->delay_ms : 0ULL, (unsigned long long)c->clen,
	    c->headers);
	if (h != NULL && h->save_body != NULL && c->body != NULL)
		https_save_body(c, h->save_body);
	if (h == NULL) {
		https_simple(c, 404, "no such host in this lab");
		return;
	}
	if (h->path != NULL && strcmp(h->path, c->path) != 0) {
		https_simple(c, 404, "no such path in this lab");
		return;
	}
	c->h = h;
	switch (h->action) {
	case HTTPS_STALL:
		https_set_state(c, HTTPS_S_STALL);
		lab_ev_read_timeout(c->bev, 0);
		return;
	case HTTPS_CLOSE:
		https_free(c);
		return;
	case HTTPS_ANSWER:
		break;
	}
	if (h->delay_ms == 0) {
		https_respond(c);
		return;
	}
	https_set_state(c, HTTPS_S_DELAY);
	lab_ev_read_timeout(c->bev, 0);
	tv.tv_sec = (time_t)(h->delay_ms / 1000);
	tv.tv_usec = (suseconds_t)(h->delay_ms % 1000) * 1000;
	if ((c->timer = evtimer_new(c->srv->base, https_on_timer, c)) == NULL ||
	    evtimer_add(c->timer, &tv) == -1)
		fatalx("https_dispatch: cannot arm the delay timer");
}

/* One line of the request head; -1 when the connection is done with. */
static int
https_line(struct https_conn *c, char *line)
{
	char	*sp1, *sp2, esc[1024];

	if (c->state == HTTPS_S_REQUEST) {
		if ((sp1 = strchr(line, ' ')) == NULL || (sp2 = strchr(sp1 + 1, ' ')) == NULL ||
		    (size_t)(sp1 - line) >= sizeof(c->method) ||
		    (size_t)(sp2 - sp1 - 1) >= sizeof(c->path)) {
			lab_escape(line, strlen(line), esc, sizeof(esc));
			lab_rec(c->srv->log, "bad-request conn=%lu line=\"%s\"", c->id, esc);
			https_simple(c, 400, "malformed request line");
			return -1;
		}
		memcpy(c->method, line, sp1 - line);
		lab_escape(sp1 + 1, sp2 - sp1 - 1, c->path, sizeof(c->path));
		https_set_state(c, HTTPS_S_HEADERS);
		return 0;
	}
	if (*line == '\0') {
		if (c->chunked) {
			https_simple(c, 411, "send the body with a Content-Length");
			return -1;
		}
		if (c->clen == 0) {
			https_dispatch(c);
			return -1;
		}
		https_set_state(c, HTTPS_S_BODY);
		return 0;
	}
	if (strncasecmp(line, "Content-Length:", 15) == 0) {
		sp1 = line + 15;
		while (*sp1 == ' ' || *sp1 == '\t')
			sp1++;
		if (strutil_parse_uint(sp1, &c->clen) == -1 || c->clen > HTTPS_REQ_BODY_MAX) {
			c->clen = 0;
			https_simple(c, 413, "bad or too large Content-Length");
			return -1;
		}
	}
	if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strcasestr(line, "chunked"))
		c->chunked = 1;
	if (strncasecmp(line, "Host:", 5) == 0) {
		sp1 = line + 5;
		while (*sp1 == ' ' || *sp1 == '\t')
			sp1++;
		lab_escape(sp1, strlen(sp1), c->host, sizeof(c->host));
	}
	lab_escape(line, strlen(line), esc, sizeof(esc));
	if (c->headers[0] != '\0')
		strutil_lcat(c->headers, " | ", sizeof(c->headers));
	strutil_lcat(c->headers, esc, sizeof(c->headers));
	return 0;
}

/* The request body, once all Content-Length bytes are in. */
static void
https_body(struct https_conn *c, struct evbuffer *in)
{
	if (evbuffer_get_length(in) < c->clen)
		return;
	c->body = xmalloc((size_t)c->clen);
	if (evbuffer_remove(in, c->body, (size_t)c->clen) != (int)c->clen)
		fatalx("https_body: evbuffer_remove");
	https_dispatch(c);
}

static void
https_on_read(struct bufferevent *bev, void *arg)
{
	struct https_conn	*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	char			*line;
	size_t			 n;

	if (c->state == HTTPS_S_BODY) {
		https_body(c, in);
		return;
	}
	if (c->state != HTTPS_S_REQUEST && c->state != HTTPS_S_HEADERS) {
		lab_ev_drain(in);	/* nothing more is read */
		return;
	}
	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		c->headbytes += n + 2;
		if (n > HTTPS_LINE_MAX || c->headbytes > HTTPS_HEAD_MAX) {
			free(line);
			https_simple(c, 431, "request head too large");
			return;
		}
		if (https_line(c, line) == -1) {
			free(line);
			return;
		}
		free(line);
		if (c->state == HTTPS_S_BODY) {
			https_body(c, in);
			return;
		}
	}
	if (evbuffer_get_length(in) > HTTPS_LINE_MAX)
		https_simple(c, 431, "request line too long");
}

static void
https_on_write(struct bufferevent *bev, void *arg)
{
	struct https_conn	*c = arg;

	if (c->state == HTTPS_S_WRITING)
		https_free(c);
}

static void
https_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct https_conn	*c = arg;
	SSL			*ssl;
	const char		*sni;
	unsigned long		 e;
	char			 buf[256];

	if (what & BEV_EVENT_CONNECTED) {
		ssl = bufferevent_openssl_get_ssl(bev);
		if ((sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) != NULL)
			lab_escape(sni, strlen(sni), c->sni, sizeof(c->sni));
		lab_rec(c->srv->log, "tls conn=%lu peer=%s sni=%s version=%s cipher=%s", c->id,
		    c->peer, c->sni[0] != '\0' ? c->sni : "-", SSL_get_version(ssl),
		    SSL_get_cipher_name(ssl));
		https_set_state(c, HTTPS_S_REQUEST);
		return;
	}
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		lab_rec(c->srv->log, "tls-error conn=%lu state=%s error=\"%s\"", c->id,
		    https_strstate(c->state), buf);
	}
	if (what & BEV_EVENT_TIMEOUT)
		lab_rec(c->srv->log, "timeout conn=%lu state=%s", c->id, https_strstate(c->state));
	else if (c->state != HTTPS_S_WRITING)
		lab_rec(c->srv->log, "closed conn=%lu state=%s by=peer", c->id,
		    https_strstate(c->state));
	https_free(c);
}

/* TLS alerts either way: a client refusing our certificate says so here. */
static void
https_on_tls_info(const SSL *ssl, int where, int ret)
{
	struct https_conn	*c = SSL_get_app_data(ssl);

	if (c == NULL || (where & SSL_CB_ALERT) == 0)
		return;
	lab_rec(c->srv->log, "tls-alert conn=%lu dir=%s level=%s alert=\"%s\"", c->id,
	    (where & SSL_CB_READ) ? "received" : "sent", SSL_alert_type_string_long(ret),
	    SSL_alert_desc_string_long(ret));
}

static int
https_on_sni(SSL *ssl, int *alert, void *arg)
{
	struct https_server	*srv = arg;
	const char		*name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	size_t			 i;

	if (name == NULL)
		return SSL_TLSEXT_ERR_OK;
	for (i = 0; i < srv->conf.nhosts; i++)
		if (srv->ctx[i] != NULL && strcasecmp(srv->conf.hosts[i].name, name) == 0) {
			if (SSL_set_SSL_CTX(ssl, srv->ctx[i]) == NULL)
				return SSL_TLSEXT_ERR_ALERT_FATAL;
			break;
		}
	return SSL_TLSEXT_ERR_OK;
}

static void
https_on_stalled_read(struct bufferevent *bev, void *arg)
{
	lab_ev_drain(bufferevent_get_input(bev));
}

static void
https_on_stalled_event(struct bufferevent *bev, short what, void *arg)
{
	bufferevent_free(bev);
}

static void
https_on_accept(struct evconnlistener *ev, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct https_server	*srv = arg;
	struct https_conn	*c;
	struct bufferevent	*bev;
	SSL			*ssl;
	char			 peer[NETADDR_STRLEN];

	netaddr_format(sa, peer, sizeof(peer));
	if (srv->conf.stall_accept) {
		lab_rec(srv->log, "accept peer=%s action=stall-accept", peer);
		if ((bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
			close(fd);
			return;
		}
		bufferevent_setcb(bev, https_on_stalled_read, NULL, https_on_stalled_event, NULL);
		if (bufferevent_enable(bev, EV_READ) == -1)
			bufferevent_free(bev);
		return;
	}
	if ((ssl = SSL_new(srv->defctx)) == NULL) {
		log_warnx("SSL_new failed");
		close(fd);
		return;
	}
	bev = bufferevent_openssl_socket_new(srv->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_warnx("cannot make a TLS bufferevent");
		SSL_free(ssl);
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	c->bev = bev;
	SSL_set_app_data(ssl, c);
	SSL_set_info_callback(ssl, https_on_tls_info);
	c->id = ++srv->nconn;
	strutil_lcpy(c->peer, peer, sizeof(c->peer));
	bufferevent_setcb(bev, https_on_read, https_on_write, https_on_event, c);
	lab_ev_read_timeout(bev, HTTPS_TIMEOUT);
	if (bufferevent_enable(bev, EV_READ | EV_WRITE) == -1) {
		log_warnx("conn=%lu: cannot enable the bufferevent", c->id);
		https_free(c);
	}
}

static SSL_CTX *
https_ctx(const char *cert, const char *key)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatalx("https_ctx: SSL_CTX_new");
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		fatalx("cannot load certificate %s", cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		fatalx("cannot load key %s", key);
	return ctx;
}

static void
https_on_signal(evutil_socket_t sig, short what, void *arg)
{
	log_info("signal %d: stopping", (int)sig);
	lab_ev_loopexit(arg);
}

int
main(int argc, char *argv[])
{
	struct https_server	*srv = xcalloc(1, sizeof(*srv));
	struct evconnlistener	*lev;
	struct event		*sigs[2];
	const char		*path = NULL, *listen = NULL, *portfile = NULL, *logp = NULL;
	char			 err[1024];
	size_t			 i;
	int			 ch, fd, port;

	log_init("lab-https", LOG_DEST_STDERR, LOG_LVL_INFO);
	while ((ch = getopt(argc, argv, "f:hl:L:p:v")) != -1) {
		switch (ch) {
		case 'f': path = optarg; break;
		case 'h': lab_usage(usage_text, 0);
		case 'l': listen = optarg; break;
		case 'L': logp = optarg; break;
		case 'p': portfile = optarg; break;
		case 'v': log_set_level(LOG_LVL_DEBUG); break;
		default: lab_usage(usage_text, 64);
		}
	}
	if (path == NULL || optind != argc)
		lab_usage(usage_text, 64);
	if (https_conf_load(&srv->conf, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "lab-https: %s\n", err);
		https_conf_free(&srv->conf);
		free(srv);
		return 78;
	}
	if (listen == NULL)
		listen = srv->conf.listen != NULL ? srv->conf.listen : "127.0.0.1:0";
	if (portfile == NULL)
		portfile = srv->conf.portfile;
	if (logp == NULL)
		logp = srv->conf.log;
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal");
	srv->defctx = https_ctx(srv->conf.cert, srv->conf.key);
	SSL_CTX_set_tlsext_servername_callback(srv->defctx, https_on_sni);
	SSL_CTX_set_tlsext_servername_arg(srv->defctx, srv);
	for (i = 0; i < srv->conf.nhosts; i++)
		if (srv->conf.hosts[i].cert != NULL)
			srv->ctx[i] = https_ctx(srv->conf.hosts[i].cert, srv->conf.hosts[i].key);
	if ((srv->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	srv->log = lab_rec_open(logp);
	if ((fd = lab_listen(listen, SOCK_STREAM, -1, &port)) == -1)
		fatal("bind %s", listen);
	if ((lev = evconnlistener_new(srv->base, https_on_accept, srv, LEV_OPT_CLOSE_ON_FREE,
	    -1, fd)) == NULL)
		fatalx("evconnlistener_new");
	sigs[0] = evsignal_new(srv->base, SIGTERM, https_on_signal, srv->base);
	sigs[1] = evsignal_new(srv->base, SIGINT, https_on_signal, srv->base);
	if (sigs[0] == NULL || sigs[1] == NULL ||
	    evsignal_add(sigs[0], NULL) == -1 || evsignal_add(sigs[1], NULL) == -1)
		fatalx("cannot watch signals");
	log_info("listening on %s port %d, %zu host sections", listen, port, srv->conf.nhosts);
	if (portfile != NULL && lab_write_port(portfile, port) == -1)
		return 1;
	if (event_base_dispatch(srv->base) == -1)
		fatalx("event_base_dispatch");
	evconnlistener_free(lev);
	event_free(sigs[0]);
	event_free(sigs[1]);
	for (i = 0; i < srv->conf.nhosts; i++)
		SSL_CTX_free(srv->ctx[i]);
	SSL_CTX_free(srv->defctx);
	lab_rec_close(srv->log);
	event_base_free(srv->base);
	https_conf_free(&srv->conf);
	free(srv);
	return 0;
}
