/*
 * lab-smtp-sink: SMTP servers for the lab. One process serves several
 * listeners ("MX hosts"), each with its own TLS behaviour, and records every
 * message it accepts in a spool folder. See docs/lab.md.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "tests/lab/lab_ev.h"
#include "tests/lab/lab_util.h"
#include "tests/lab/sink_conf.h"
#include "tests/lab/sink_session.h"

#define SINK_BIND_TRIES	20

static const char usage_text[] =
"usage: lab-smtp-sink [-v] -f CONFIG\n"
"       lab-smtp-sink -h\n"
"\n"
"SMTP servers that record what they receive. CONFIG (see docs/lab.md):\n"
"  spool DIR                 messages (msg-*.eml) and DIR/index, one line each\n"
"  log FILE                  session events (commands, replies, TLS)\n"
"  portfile FILE             write the shared port here once listening\n"
"  record full|index         index: only the index lines (with the digest), no\n"
"                            log and no message files (for benchmarks)\n"
"  listen NAME ADDR:PORT     a listener; PORT 0 = the shared port, picked\n"
"                            by the first such listener, reused by the others\n"
"then per listener (or before the first listen, as defaults):\n"
"  hostname NAME             greeting and EHLO name\n"
"  starttls offer|none|refuse|abort\n"
"                            refuse = 454; abort = close after the ClientHello\n"
"  cert CHAIN.pem KEY.pem    leaf first; a leaf alone plays a missing intermediate\n"
"  tls-versions MIN MAX      1.0 1.1 1.2 1.3 (below 1.2 sets security level 0)\n"
"  8bitmime yes|no           smtputf8 yes|no\n"
"  rcpt PATTERN CODE TEXT    reply for recipients matching the fnmatch pattern\n"
"  greeting CODE TEXT        data-reply CODE TEXT        max-size SIZE\n"
"\n"
"  -f CONFIG   the configuration file\n"
"  -v          debug logging on stderr\n"
"  -h          this help\n";

struct sink_main {
	struct sink_conf	 conf;
	struct sink_server	 srv;
	struct sink_listener	 l[SINK_MAX_LISTENERS];
	struct evconnlistener	*ev[SINK_MAX_LISTENERS];
	int			 fds[SINK_MAX_LISTENERS];
};

static void
sink_on_accept(struct evconnlistener *ev, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	sink_session_start(arg, fd, sa);
}

static void
sink_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;

	log_info("signal %d: stopping", (int)sig);
	lab_ev_loopexit(base);
}

static SSL_CTX *
sink_tls_ctx(const struct sink_lconf *c)
{
	SSL_CTX	*ctx;

	if (c->cert == NULL)
		return NULL;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatalx("sink_tls_ctx: SSL_CTX_new");
	if (c->tls_min != 0 && c->tls_min < TLS1_2_VERSION) {
		/* OpenSSL 3 refuses TLS < 1.2 at the default security level */
		SSL_CTX_set_security_level(ctx, 0);
		if (SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0") != 1)
			fatalx("listener %s: cannot set the cipher list", c->name);
	}
	if ((c->tls_min != 0 && SSL_CTX_set_min_proto_version(ctx, c->tls_min) != 1) ||
	    (c->tls_max != 0 && SSL_CTX_set_max_proto_version(ctx, c->tls_max) != 1))
		fatalx("listener %s: cannot set the TLS versions", c->name);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->cert) != 1)
		fatalx("listener %s: cannot load certificate %s", c->name, c->cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		fatalx("listener %s: cannot load key %s", c->name, c->key);
	return ctx;
}

/* Bind every listener; port 0 means the shared port. Returns it, or -1 to retry. */
static int
sink_bind_all(struct sink_main *m)
{
	struct netaddr_endpoint	ep;
	size_t			i, j;
	int			shared = -1, port, bound;

	for (i = 0; i < m->conf.nl; i++) {
		if (lab_endpoint(m->conf.l[i].addr, &ep) == -1)
			fatalx("listener %s: bad address %s", m->conf.l[i].name, m->conf.l[i].addr);
		port = netaddr_port((struct sockaddr *)&ep.ss) == 0 ? shared : -1;
		m->fds[i] = lab_listen(m->conf.l[i].addr, SOCK_STREAM, port, &bound);
		if (m->fds[i] == -1) {
			if (errno != EADDRINUSE || port == -1)
				fatal("listener %s: bind %s", m->conf.l[i].name, m->conf.l[i].addr);
			for (j = 0; j < i; j++)
				close(m->fds[j]);
			return -1;
		}
		if (netaddr_port((struct sockaddr *)&ep.ss) == 0 && shared == -1)
			shared = bound;
		lab_set_port(&ep, bound);
		netaddr_format((struct sockaddr *)&ep.ss, m->l[i].local, sizeof(m->l[i].local));
	}
	return shared == -1 ? bound : shared;
}

int
main(int argc, char *argv[])
{
	struct sink_main	*m = xcalloc(1, sizeof(*m));
	struct event		*sigs[2];
	const char		*path = NULL;
	char			 err[1024], *index;
	size_t			 i;
	int			 ch, port = -1, tries;

	log_init("lab-smtp-sink", LOG_DEST_STDERR, LOG_LVL_INFO);
	while ((ch = getopt(argc, argv, "f:hv")) != -1) {
		switch (ch) {
		case 'f':
			path = optarg;
			break;
		case 'h':
			lab_usage(usage_text, 0);
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		default:
			lab_usage(usage_text, 64);
		}
	}
	if (path == NULL || optind != argc)
		lab_usage(usage_text, 64);
	if (sink_conf_load(&m->conf, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "lab-smtp-sink: %s\n", err);
		sink_conf_free(&m->conf);
		free(m);
		return 78;
	}
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal");
	if (mkdir(m->conf.spool, 0755) == -1 && errno != EEXIST)
		fatal("mkdir %s", m->conf.spool);
	if ((m->srv.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	m->srv.spool = m->conf.spool;
	m->srv.log = lab_rec_open(m->conf.index_only ? NULL : m->conf.log);
	m->srv.logging = !m->conf.index_only && m->conf.log != NULL;
	m->srv.keep_files = !m->conf.index_only;
	xasprintf(&index, "%s/index", m->conf.spool);
	m->srv.index = lab_rec_open(index);
	for (tries = 0; tries < SINK_BIND_TRIES && port == -1; tries++)
		port = sink_bind_all(m);
	if (port == -1)
		fatalx("no shared port free on every listener address after %d tries", tries);
	for (i = 0; i < m->conf.nl; i++) {
		m->l[i].srv = &m->srv;
		m->l[i].conf = &m->conf.l[i];
		m->l[i].ctx = sink_tls_ctx(&m->conf.l[i]);
		m->ev[i] = evconnlistener_new(m->srv.base, sink_on_accept, &m->l[i],
		    LEV_OPT_CLOSE_ON_FREE, -1, m->fds[i]);
		if (m->ev[i] == NULL)
			fatalx("listener %s: evconnlistener_new", m->conf.l[i].name);
		log_info("listening name=%s addr=%s hostname=%s starttls=%s",
		    m->conf.l[i].name, m->l[i].local, m->conf.l[i].hostname,
		    sink_conf_strstarttls(m->conf.l[i].starttls));
		lab_rec(m->srv.log, "listening name=%s addr=%s", m->conf.l[i].name, m->l[i].local);
	}
	sigs[0] = evsignal_new(m->srv.base, SIGTERM, sink_on_signal, m->srv.base);
	sigs[1] = evsignal_new(m->srv.base, SIGINT, sink_on_signal, m->srv.base);
	if (sigs[0] == NULL || sigs[1] == NULL ||
	    evsignal_add(sigs[0], NULL) == -1 || evsignal_add(sigs[1], NULL) == -1)
		fatalx("cannot watch signals");
	if (m->conf.portfile != NULL && lab_write_port(m->conf.portfile, port) == -1)
		return 1;
	if (event_base_dispatch(m->srv.base) == -1)
		fatalx("event_base_dispatch");
	for (i = 0; i < m->conf.nl; i++) {
		evconnlistener_free(m->ev[i]);
		SSL_CTX_free(m->l[i].ctx);
	}
	event_free(sigs[0]);
	event_free(sigs[1]);
	lab_rec_close(m->srv.log);
	lab_rec_close(m->srv.index);
	event_base_free(m->srv.base);
	free(index);
	sink_conf_free(&m->conf);
	free(m);
	return 0;
}
