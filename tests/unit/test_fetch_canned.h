/*
 * test_fetch_canned.h: an HTTPS server for tests that answers each request
 * with a canned response chosen by the Host header, so status codes,
 * redirects and media types can be checked end to end. It runs in a forked
 * child with blocking OpenSSL; stop it with https_lab_stop().
 */
#ifndef TESTS_UNIT_TEST_FETCH_CANNED_H
#define TESTS_UNIT_TEST_FETCH_CANNED_H

#include <sys/types.h>

struct canned {
	const char	*host;		/* "mta-sts.redir.test" */
	const char	*response;	/* the full HTTP response, headers and body */
};

/*
 * Serve on 127.0.0.1:port with certfile/keyfile; table ends with a NULL
 * host; unknown hosts get a 404. Returns the child's pid once it accepts.
 */
pid_t	canned_serve(const char *certfile, const char *keyfile, int port,
	    const struct canned *);

#endif
