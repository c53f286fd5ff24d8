/* tls_server.h: the inbound STARTTLS context (RFC 3207). */
#ifndef RELAY_TLS_SERVER_H
#define RELAY_TLS_SERVER_H

#include <stddef.h>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

/*
 * A server context from a PEM certificate chain and key: TLS 1.2 minimum,
 * no compression, no renegotiation, no session tickets. Called before
 * privileges are dropped. NULL with a message in err on failure.
 */
SSL_CTX	*tls_server_ctx_new(const char *cert_file, const char *key_file,
	    char *err, size_t errlen);
void	 tls_server_ctx_free(SSL_CTX *);
/* A new SSL for one session, or NULL. */
SSL	*tls_server_ssl_new(SSL_CTX *);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs. */
void	 tls_server_describe(SSL *, char *, size_t);

#endif
