/*
 * tls_client.c: OpenSSL client context for outbound STARTTLS, the per-MX
 * session cache, and the mapping of verification errors to RFC 8460 result
 * types. Host names are checked by OpenSSL only (STYLE.md), never by hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "relay/tls_client.h"

struct tls_cache_entry {
	char		*host;
	SSL_SESSION	*sess;
	int		 verified;
	unsigned long	 tick;		/* last stored or used: evict the oldest */
};

struct tls_client {
	SSL_CTX			*ctx;
	struct tls_cache_entry	*cache;
	size_t			 ncache, cache_max;
	unsigned long		 tick;
};

static const struct {
	const char	*name;
	const char	*text;
	const char	*enhanced;
} results[] = {
	[TLS_CLIENT_OK] = { "", "", "" },
	[TLS_CLIENT_STARTTLS_NOT_SUPPORTED] =
	    { "starttls-not-supported", "STARTTLS not offered", "4.7.4" },
	[TLS_CLIENT_HOST_MISMATCH] =
	    { "certificate-host-mismatch", "certificate does not name the MX host", "4.7.5" },
	[TLS_CLIENT_EXPIRED] =
	    { "certificate-expired", "certificate expired or not yet valid", "4.7.5" },
	[TLS_CLIENT_NOT_TRUSTED] =
	    { "certificate-not-trusted", "certificate not trusted", "4.7.5" },
	[TLS_CLIENT_VALIDATION_FAILURE] =
	    { "validation-failure", "TLS negotiation failed", "4.7.5" },
};

static void
ssl_error(char *err, size_t errlen, const char *what, const char *arg)
{
	char buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	snprintf(err, errlen, "%s%s%s: %s", what, arg[0] ? " " : "", arg, buf);
	ERR_clear_error();
}

static struct tls_cache_entry *
cache_find(struct tls_client *t, const char *host)
{
	size_t i;

	for (i = 0; i < t->ncache; i++)
		if (strcasecmp(t->cache[i].host, host) == 0)
			return &t->cache[i];
	return NULL;
}

/* OpenSSL hands over each new session (TLS 1.3: each ticket). */
static int
tls_client_on_session(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_client	*t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	struct tls_cache_entry	*e;
	const char		*host;
	size_t			 i, old;

	if (t == NULL || t->cache_max == 0 ||
	    (host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) == NULL)
		return 0;
	if ((e = cache_find(t, host)) == NULL) {
		if (t->ncache == t->cache_max) {
			for (old = 0, i = 1; i < t->ncache; i++)
				if (t->cache[i].tick < t->cache[old].tick)
					old = i;
			e = &t->cache[old];
			SSL_SESSION_free(e->sess);
			free(e->host);
		} else
			e = &t->cache[t->ncache++];
		e->host = xstrdup(host);
	} else
		SSL_SESSION_free(e->sess);
	e->sess = sess;		/* returning 1: we keep OpenSSL's reference */
	e->verified = tls_client_verified(ssl);
	e->tick = ++t->tick;
	log_debug("tls: session for %s cached (verified=%s)", host, e->verified ? "yes" : "no");
	return 1;
}

struct tls_client *
tls_client_new(const char *ca_bundle, size_t cache_max, char *err, size_t errlen)
{
	struct tls_client *t;

	t = xcalloc(1, sizeof(*t));
	if ((t->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		ssl_error(err, errlen, "SSL_CTX_new", "");
		free(t);
		return NULL;
	}
	/* S26: TLS 1.2 or later */
	if (SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION) != 1) {
		ssl_error(err, errlen, "TLS 1.2 minimum", "");
		tls_client_free(t);
		return NULL;
	}
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (ca_bundle != NULL && ca_bundle[0] != '\0') {
		if (SSL_CTX_load_verify_locations(t->ctx, ca_bundle, NULL) != 1) {
			ssl_error(err, errlen, "cannot load CA bundle", ca_bundle);
			tls_client_free(t);
			return NULL;
		}
	} else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
		ssl_error(err, errlen, "cannot load the system CA store", "");
		tls_client_free(t);
		return NULL;
	}
	SSL_CTX_set_verify_depth(t->ctx, 10);
	/* small per-connection memory: buffers released while idle */
	SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS);
	t->cache_max = cache_max;
	if (cache_max > 0) {
		t->cache = xcalloc(cache_max, sizeof(*t->cache));
		SSL_CTX_set_session_cache_mode(t->ctx,
		    SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(t->ctx, tls_client_on_session);
	} else
		SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_set_app_data(t->ctx, t) != 1) {
		ssl_error(err, errlen, "SSL_CTX_set_app_data", "");
		tls_client_free(t);
		return NULL;
	}
	return t;
}

void
tls_client_free(struct tls_client *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->ncache; i++) {
		SSL_SESSION_free(t->cache[i].sess);
		free(t->cache[i].host);
	}
	free(t->cache);
	SSL_CTX_free(t->ctx);
	free(t);
}

size_t
tls_client_cache_size(const struct tls_client *t)
{
	return t->ncache;
}

SSL *
tls_client_ssl_new(struct tls_client *t, const char *host, int require_verify)
{
	struct tls_cache_entry	*e;
	SSL			*ssl;

	if ((ssl = SSL_new(t->ctx)) == NULL) {
		log_warnx("tls: SSL_new failed");
		ERR_clear_error();
		return NULL;
	}
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
	    X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
	if (SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1) {
		log_warnx("tls: cannot set the host name %s", host);
		ERR_clear_error();
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_verify(ssl, require_verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	if ((e = cache_find(t, host)) != NULL)
		log_debug("tls: cached session for %s resumable=%d verified=%d", host,
		    SSL_SESSION_is_resumable(e->sess), e->verified);
	if (e != NULL && SSL_SESSION_is_resumable(e->sess) &&
	    (e->verified || !require_verify)) {
		if (SSL_set_session(ssl, e->sess) != 1) {
			log_debug("tls: cannot offer the cached session for %s", host);
			ERR_clear_error();
		}
		e->tick = ++t->tick;
	}
	return ssl;
}

int
tls_client_verified(SSL *ssl)
{
	X509 *peer;

	if (SSL_get_verify_result(ssl) != X509_V_OK)
		return 0;
	if ((peer = SSL_get0_peer_certificate(ssl)) == NULL)
		return 0;
	return 1;
}

enum tls_client_result
tls_client_map_verify(long err)
{
	switch (err) {
	case X509_V_OK:
		return TLS_CLIENT_OK;
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return TLS_CLIENT_HOST_MISMATCH;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return TLS_CLIENT_EXPIRED;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
		return TLS_CLIENT_NOT_TRUSTED;
	default:
		return TLS_CLIENT_VALIDATION_FAILURE;
	}
}

enum tls_client_result
tls_client_result_of(SSL *ssl, int handshake_failed)
{
	long v = SSL_get_verify_result(ssl);

	if (v != X509_V_OK)
		return tls_client_map_verify(v);
	if (handshake_failed || SSL_get0_peer_certificate(ssl) == NULL)
		return TLS_CLIENT_VALIDATION_FAILURE;
	return TLS_CLIENT_OK;
}

static unsigned
result_index(enum tls_client_result r)
{
	if ((unsigned)r >= sizeof(results) / sizeof(results[0]))
		fatalx("tls_client: bad result %d", (int)r);
	return (unsigned)r;
}

const char *
tls_client_result_name(enum tls_client_result r)
{
	return results[result_index(r)].name;
}

const char *
tls_client_result_text(enum tls_client_result r)
{
	return results[result_index(r)].text;
}

const char *
tls_client_result_enhanced(enum tls_client_result r)
{
	return results[result_index(r)].enhanced;
}
