/*
 * tls_client.h: the outbound STARTTLS context (RFC 3207, RFC 8461 S24-S26):
 * TLS 1.2 minimum, a CA bundle or the system store, OpenSSL's host name
 * check with the RFC 8461 flags, a per-MX-host session cache for
 * resumption, and the RFC 8460 result type of a verification failure.
 */
#ifndef RELAY_TLS_CLIENT_H
#define RELAY_TLS_CLIENT_H

#include <stddef.h>

typedef struct ssl_st SSL;

/* RFC 8460 4.3 result types the client can observe. */
enum tls_client_result {
	TLS_CLIENT_OK = 0,			/* no failure */
	TLS_CLIENT_STARTTLS_NOT_SUPPORTED,	/* starttls-not-supported */
	TLS_CLIENT_HOST_MISMATCH,		/* certificate-host-mismatch */
	TLS_CLIENT_EXPIRED,			/* certificate-expired */
	TLS_CLIENT_NOT_TRUSTED,			/* certificate-not-trusted */
	TLS_CLIENT_VALIDATION_FAILURE		/* validation-failure */
};

struct tls_client;

/*
 * A client context. ca_bundle: a PEM file of trusted roots, or NULL for the
 * system default paths. cache_max: hosts kept in the session cache (0 turns
 * resumption off). NULL with a message in err on failure.
 */
struct tls_client *tls_client_new(const char *ca_bundle, size_t cache_max,
	    char *err, size_t errlen);
void	 tls_client_free(struct tls_client *);

/*
 * A new SSL for one connection to host: SNI = host (S25), SSL_set1_host with
 * X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT
 * (S24). require_verify: SSL_VERIFY_PEER, the handshake fails on a bad
 * certificate; otherwise the chain and name are still checked and the
 * result read afterwards with tls_client_verified(). A cached session for
 * host is offered for resumption (only a verified one when require_verify).
 */
SSL	*tls_client_ssl_new(struct tls_client *, const char *host, int require_verify);

/* After the handshake: 1 when the certificate chains and names the host. */
int	 tls_client_verified(SSL *);
/* The result type of the SSL's verification (or of a failed handshake). */
enum tls_client_result tls_client_result_of(SSL *, int handshake_failed);
/* X509_V_* to a result type (pure). */
enum tls_client_result tls_client_map_verify(long x509_error);
/* "certificate-not-trusted" (RFC 8460 spelling), "" for TLS_CLIENT_OK */
const char *tls_client_result_name(enum tls_client_result);
/* "certificate not trusted" for reply texts */
const char *tls_client_result_text(enum tls_client_result);
/* The enhanced status code of a result: 4.7.4 or 4.7.5 ("" for OK). */
const char *tls_client_result_enhanced(enum tls_client_result);

/* Sessions the cache holds now, hits so far (for tests and statistics). */
size_t	 tls_client_cache_size(const struct tls_client *);

#endif
