/* netaddr.c: parsing and matching of numeric addresses, networks and endpoints. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/netaddr.h"

int
netaddr_cidr_parse(const char *s, struct netaddr_cidr *out)
{
	char		 buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned	 max, i, bits;
	unsigned long	 prefix;

	if (strlen(s) >= sizeof(buf))
		return -1;
	memset(out, 0, sizeof(*out));
	strcpy(buf, s);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else
		return -1;
	if (slash == NULL)
		prefix = max;
	else {
		if (*slash < '0' || *slash > '9')
			return -1;
		errno = 0;
		prefix = strtoul(slash, &end, 10);
		if (errno != 0 || *end != '\0' || prefix > max)
			return -1;
	}
	out->prefix = (unsigned)prefix;
	/* Clear host bits so that equal networks compare equal. */
	for (i = 0; i < max / 8; i++) {
		bits = i * 8;
		if (bits >= out->prefix)
			out->addr[i] = 0;
		else if (bits + 8 > out->prefix)
			out->addr[i] &= (uint8_t)(0xff << (8 - (out->prefix - bits)));
	}
	return 0;
}

static int
prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned	whole = prefix / 8, rest = prefix % 8;
	uint8_t		mask;

	if (memcmp(a, b, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

int
netaddr_cidr_match(const struct netaddr_cidr *net, const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	static const uint8_t		 mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)sa;
		if (net->family != AF_INET)
			return 0;
		return prefix_equal(net->addr, (const uint8_t *)&sin->sin_addr, net->prefix);
	}
	if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)sa;
		if (net->family == AF_INET6)
			return prefix_equal(net->addr, sin6->sin6_addr.s6_addr, net->prefix);
		if (memcmp(sin6->sin6_addr.s6_addr, mapped, 12) == 0)
			return prefix_equal(net->addr, sin6->sin6_addr.s6_addr + 12, net->prefix);
	}
	return 0;
}

void
netaddr_cidr_format(const struct netaddr_cidr *net, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(net->family, net->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, net->prefix);
}

int
netaddr_endpoint_parse(const char *s, int defport, struct netaddr_endpoint *out)
{
	char			 host[INET6_ADDRSTRLEN + 2], *end;
	const char		*port = NULL, *close;
	size_t			 hlen;
	unsigned long		 p = (unsigned long)defport;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&out->ss;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		if ((close = strchr(s, ']')) == NULL)
			return -1;
		hlen = (size_t)(close - s - 1);
		if (hlen >= sizeof(host))
			return -1;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return -1;
	} else {
		const char *colon = strchr(s, ':');

		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			hlen = (size_t)(colon - s);
			port = colon + 1;
		} else
			hlen = strlen(s);	/* bare IPv6 or bare IPv4 */
		if (hlen >= sizeof(host))
			return -1;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
	}
	if (port != NULL) {
		if (*port < '0' || *port > '9')
			return -1;
		errno = 0;
		p = strtoul(port, &end, 10);
		if (errno != 0 || *end != '\0')
			return -1;
	}
	if (p == 0 || p > 65535)
		return -1;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		out->len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		out->len = sizeof(*sin6);
	} else
		return -1;
	return 0;
}

void
netaddr_format_host(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else {
		snprintf(buf, len, "unknown");
		return;
	}
	if (inet_ntop(sa->sa_family, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "unknown");
}

int
netaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

void
netaddr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	netaddr_format_host(sa, host, sizeof(host));
	if (sa->sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%d", host, netaddr_port(sa));
	else
		snprintf(buf, len, "%s:%d", host, netaddr_port(sa));
}
