/* netaddr.h: CIDR networks and host:port endpoints, IPv4 and IPv6. */
#ifndef COMMON_NETADDR_H
#define COMMON_NETADDR_H

#include <sys/socket.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stddef.h>

struct netaddr_cidr {
	int		family;		/* AF_INET or AF_INET6 */
	uint8_t		addr[16];	/* network bytes, host bits cleared */
	unsigned	prefix;		/* 0..32 or 0..128 */
};

/* "10.0.0.0/8", "::1/128", "192.0.2.7" (a host). Returns 0 or -1. */
int	netaddr_cidr_parse(const char *, struct netaddr_cidr *);
/* Does the socket address fall in the network? IPv4-mapped IPv6 counts as IPv4. */
int	netaddr_cidr_match(const struct netaddr_cidr *, const struct sockaddr *);
void	netaddr_cidr_format(const struct netaddr_cidr *, char *, size_t);

struct netaddr_endpoint {
	struct sockaddr_storage	ss;
	socklen_t		len;
};

/*
 * Numeric "127.0.0.1:2525", "[::1]:53", "::1" or "127.0.0.1" (then defport).
 * Returns 0 or -1; names are refused (no DNS at configuration time).
 */
int	netaddr_endpoint_parse(const char *, int defport, struct netaddr_endpoint *);
/* "127.0.0.1:25" or "[::1]:25" */
void	netaddr_format(const struct sockaddr *, char *, size_t);
/* address only, no port */
void	netaddr_format_host(const struct sockaddr *, char *, size_t);
int	netaddr_port(const struct sockaddr *);

#define NETADDR_STRLEN	(INET6_ADDRSTRLEN + 8)

#endif
