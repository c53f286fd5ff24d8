/*
 * lab-port: ports for lab scripts: find a free one, wait for a listener.
 *   lab-port free [ADDR]             print a TCP port free on ADDR (127.0.0.1)
 *   lab-port wait ADDR:PORT [SECS]   wait until a TCP connect succeeds
 */
#include <sys/socket.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/strutil.h"
#include "tests/lab/lab_util.h"

static const char usage_text[] =
"usage: lab-port free [ADDR]\n"
"       lab-port wait ADDR:PORT [SECONDS]\n"
"       lab-port -h\n"
"\n"
"free  print a TCP port that is free on ADDR (default 127.0.0.1) right now\n"
"wait  poll (every 50 ms) until ADDR:PORT accepts a TCP connection or\n"
"      SECONDS (default 10) pass; exit 0 when it did, 1 when it did not\n";

static int
port_free(const char *addr)
{
	char	spec[NETADDR_STRLEN + 8];
	int	fd, port;

	snprintf(spec, sizeof(spec), strchr(addr, ':') != NULL ? "[%s]:0" : "%s:0", addr);
	if ((fd = lab_listen(spec, SOCK_STREAM, -1, &port)) == -1) {
		fprintf(stderr, "lab-port: bind %s: %s\n", spec, strerror(errno));
		return 1;
	}
	close(fd);
	printf("%d\n", port);
	return 0;
}

static int
try_connect(const struct netaddr_endpoint *ep)
{
	struct pollfd	pfd;
	socklen_t	len = sizeof(int);
	int		fd, err = 0, ok = 0;

	if ((fd = socket(ep->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		return 0;
	if (connect(fd, (const struct sockaddr *)&ep->ss, ep->len) == 0)
		ok = 1;
	else if (errno == EINPROGRESS) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 200) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
			ok = 1;
	}
	close(fd);
	return ok;
}

static int
port_wait(const char *spec, const char *secs)
{
	struct netaddr_endpoint	ep;
	uint64_t		s = 10, deadline;

	if (netaddr_endpoint_parse(spec, 0, &ep) == -1) {
		fprintf(stderr, "lab-port: bad address %s\n", spec);
		return 64;
	}
	if (secs != NULL && strutil_parse_uint(secs, &s) == -1) {
		fprintf(stderr, "lab-port: bad seconds %s\n", secs);
		return 64;
	}
	deadline = strutil_now_ms() + s * 1000;
	do {
		if (try_connect(&ep))
			return 0;
		usleep(50000);
	} while (strutil_now_ms() < deadline);
	fprintf(stderr, "lab-port: %s not accepting after %llu s\n", spec,
	    (unsigned long long)s);
	return 1;
}

int
main(int argc, char *argv[])
{
	log_init("lab-port", LOG_DEST_STDERR, LOG_LVL_WARN);
	if (argc >= 2 && strcmp(argv[1], "-h") == 0)
		lab_usage(usage_text, 0);
	if (argc >= 2 && argc <= 3 && strcmp(argv[1], "free") == 0)
		return port_free(argc == 3 ? argv[2] : "127.0.0.1");
	if (argc >= 3 && argc <= 4 && strcmp(argv[1], "wait") == 0)
		return port_wait(argv[2], argc == 4 ? argv[3] : NULL);
	lab_usage(usage_text, 64);
}
