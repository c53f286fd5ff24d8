/*
 * test_fetch_server.h: a policy web server for tests: a CA and a server
 * certificate made with the openssl command at test time, and
 * `openssl s_server -WWW` serving a docroot on 127.0.0.1.
 */
#ifndef TESTS_UNIT_TEST_FETCH_SERVER_H
#define TESTS_UNIT_TEST_FETCH_SERVER_H

#include <sys/types.h>
#include <stddef.h>

struct https_lab {
	char	dir[64];	/* temp dir: ca.pem, other.pem (another CA), srv.* */
	char	cafile[128];
	char	othercafile[128];
};

/* Temp dir, CA, other CA, server cert for the space-separated DNS names. */
int	https_lab_setup(struct https_lab *, const char *names);
/* Write <dir>/<docroot>/.well-known/mta-sts.txt. */
int	https_lab_write(struct https_lab *, const char *docroot, const char *, size_t);
/* s_server on 127.0.0.1:port serving <dir>/<docroot>; pid once it accepts. */
pid_t	https_lab_serve(struct https_lab *, const char *docroot, int port);
void	https_lab_stop(pid_t);
void	https_lab_cleanup(struct https_lab *);
/* A loopback TCP port that was free a moment ago. */
int	https_lab_free_port(void);

#endif
