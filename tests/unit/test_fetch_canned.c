/* test_fetch_canned.c: the canned-response HTTPS server (see the header). */
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tests/unit/test_fetch_canned.h"

static const char notfound[] =
    "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
    "Content-Length: 10\r\nConnection: close\r\n\r\nnot found\n";

/* The Host header's value without a port, from a request head. */
static void
host_of(const char *req, char *host, size_t len)
{
	const char	*p = req;
	size_t		 n;

	host[0] = '\0';
	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, "Host:", 5) != 0)
			continue;
		p += 5;
		while (*p == ' ')
			p++;
		n = strcspn(p, ":\r\n");
		snprintf(host, len, "%.*s", (int)n, p);
		return;
	}
}

static void
serve_one(SSL_CTX *ctx, int fd, const struct canned *table)
{
	SSL		*ssl;
	char		 req[4096], host[256];
	const char	*resp = notfound;
	int		 n, got = 0;
	size_t		 i;

	if ((ssl = SSL_new(ctx)) == NULL)
		return;
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) != 1)
		goto out;
	while (got < (int)sizeof(req) - 1 &&
	    (n = SSL_read(ssl, req + got, (int)sizeof(req) - 1 - got)) > 0) {
		got += n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	req[got] = '\0';
	host_of(req, host, sizeof(host));
	for (i = 0; table[i].host != NULL; i++)
		if (strcasecmp(table[i].host, host) == 0)
			resp = table[i].response;
	SSL_write(ssl, resp, (int)strlen(resp));
	SSL_shutdown(ssl);
 out:
	SSL_free(ssl);
}

static void
child(int lfd, const char *cert, const char *key, const struct canned *table)
{
	SSL_CTX	*ctx;
	int	 fd;

	signal(SIGPIPE, SIG_IGN);
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		_exit(1);
	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			continue;
		serve_one(ctx, fd, table);
		close(fd);
	}
}

pid_t
canned_serve(const char *cert, const char *key, int port, const struct canned *table)
{
	struct sockaddr_in	sin;
	pid_t			pid;
	int			lfd, on = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 16) == -1) {
		close(lfd);
		return -1;
	}
	if ((pid = fork()) == -1) {
		close(lfd);
		return -1;
	}
	if (pid == 0)
		child(lfd, cert, key, table);	/* never returns */
	close(lfd);	/* the child listens; bound before fork: ready now */
	return pid;
}
