/* test_resolver_dns.c: the test DNS responder (see the header). */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "tests/unit/test_resolver_dns.h"

#define MAXZONE	64
#define MAXANS	8
#define MAXSEEN	256

struct zrec {
	char		 name[256];
	int		 type;
	enum dns_behave	 b;
	char		*ans[MAXANS + 1];
};

struct seen {
	char	name[256];
	int	type;
};

struct dns_responder {
	int		 fd;
	struct event	*ev;
	struct zrec	 zone[MAXZONE];
	size_t		 nzone;
	struct seen	 seen[MAXSEEN];
	size_t		 nseen;
};

static int
put_name(unsigned char *p, const char *name)
{
	int	n = 0;

	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : strlen(name);

		p[n++] = (unsigned char)len;
		memcpy(p + n, name, len);
		n += (int)len;
		name += len;
		if (*name == '.')
			name++;
	}
	p[n++] = 0;
	return n;
}

static int
put_rr(unsigned char *p, const char *owner, int type, const unsigned char *rd,
    int rdlen, unsigned long ttl)
{
	int	n;

	if (owner == NULL) {
		p[0] = 0xc0;		/* pointer to the question name */
		p[1] = 12;
		n = 2;
	} else
		n = put_name(p, owner);
	p[n++] = (unsigned char)(type >> 8);
	p[n++] = (unsigned char)type;
	p[n++] = 0; p[n++] = 1;				/* IN */
	p[n++] = (unsigned char)(ttl >> 24);			/* TTL */
	p[n++] = (unsigned char)(ttl >> 16);
	p[n++] = (unsigned char)(ttl >> 8);
	p[n++] = (unsigned char)ttl;
	p[n++] = (unsigned char)(rdlen >> 8);
	p[n++] = (unsigned char)rdlen;
	memcpy(p + n, rd, (size_t)rdlen);
	return n + rdlen;
}

static int
put_txt(unsigned char *p, const char *spec, unsigned long ttl)
{
	unsigned char	 rd[600];
	const char	*owner = NULL, *v;
	char		 buf[300];
	int		 rdlen = 0;

	if (spec[3] == '@') {
		v = strchr(spec, ':');
		snprintf(buf, sizeof(buf), "%.*s", (int)(v - spec - 4), spec + 4);
		owner = buf;
	} else
		v = spec + 3;
	v++;
	for (;;) {
		const char *bar = strchr(v, '|');
		size_t len = bar ? (size_t)(bar - v) : strlen(v);

		rd[rdlen++] = (unsigned char)len;
		memcpy(rd + rdlen, v, len);
		rdlen += (int)len;
		if (bar == NULL)
			break;
		v = bar + 1;
	}
	return put_rr(p, owner, DNS_T_TXT, rd, rdlen, ttl);
}

/* "ttl=N;SPEC": the record with TTL N (default 60). */
static const char *
spec_ttl(const char *spec, unsigned long *ttl)
{
	*ttl = 60;
	if (strncmp(spec, "ttl=", 4) != 0)
		return spec;
	*ttl = strtoul(spec + 4, NULL, 10);
	return strchr(spec, ';') + 1;
}

/* "soa:T:M": an SOA record of TTL T and MINIMUM M, for the authority section. */
static int
put_soa(unsigned char *p, const char *spec)
{
	unsigned char	 rd[64];
	unsigned long	 ttl, min;
	int		 n = 0;

	ttl = strtoul(spec + 4, NULL, 10);
	min = strtoul(strchr(spec + 4, ':') + 1, NULL, 10);
	n += put_name(rd + n, "ns.test");
	n += put_name(rd + n, "hostmaster.test");
	memset(rd + n, 0, 16);			/* serial, refresh, retry, expire */
	n += 16;
	rd[n++] = (unsigned char)(min >> 24);
	rd[n++] = (unsigned char)(min >> 16);
	rd[n++] = (unsigned char)(min >> 8);
	rd[n++] = (unsigned char)min;
	return put_rr(p, NULL, 6, rd, n, ttl);
}

static int
put_answer(unsigned char *p, const char *spec)
{
	unsigned char	 rd[600];
	const char	*v;
	unsigned long	 ttl;
	int		 pref;

	spec = spec_ttl(spec, &ttl);
	if (strncmp(spec, "mx:", 3) == 0) {
		pref = atoi(spec + 3);
		v = strchr(spec + 3, ':') + 1;
		rd[0] = (unsigned char)(pref >> 8);
		rd[1] = (unsigned char)pref;
		return put_rr(p, NULL, DNS_T_MX, rd, 2 + put_name(rd + 2, v), ttl);
	}
	if (strncmp(spec, "a:", 2) == 0) {
		inet_pton(AF_INET, spec + 2, rd);
		return put_rr(p, NULL, DNS_T_A, rd, 4, ttl);
	}
	if (strncmp(spec, "aaaa:", 5) == 0) {
		inet_pton(AF_INET6, spec + 5, rd);
		return put_rr(p, NULL, DNS_T_AAAA, rd, 16, ttl);
	}
	if (strncmp(spec, "cname:", 6) == 0)
		return put_rr(p, NULL, DNS_T_CNAME, rd, put_name(rd, spec + 6), ttl);
	return put_txt(p, spec, ttl);
}

static int
get_question(const unsigned char *q, int len, char *name, size_t nlen, int *type)
{
	int	i = 12;
	size_t	o = 0;

	while (i < len && q[i] != 0) {
		int l = q[i++];

		if (i + l > len || o + (size_t)l + 2 > nlen)
			return -1;
		if (o > 0)
			name[o++] = '.';
		memcpy(name + o, q + i, (size_t)l);
		o += (size_t)l;
		i += l;
	}
	name[o] = '\0';
	if (i + 5 > len)
		return -1;
	*type = (q[i + 1] << 8) | q[i + 2];
	return i + 5;
}

static struct zrec *
zone_find(struct dns_responder *r, const char *name, int type)
{
	size_t	i;

	for (i = 0; i < r->nzone; i++)
		if (strcasecmp(r->zone[i].name, name) == 0 && r->zone[i].type == type)
			return &r->zone[i];
	return NULL;
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct dns_responder	*r = arg;
	struct sockaddr_storage	 from;
	socklen_t		 fromlen = sizeof(from);
	unsigned char		 q[512], a[8192];
	char			 name[256];
	struct zrec		*z;
	int			 len, n, type, an = 0, ns = 0, rcode = 0;
	size_t			 j;

	if ((len = (int)recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from,
	    &fromlen)) < 12 || (n = get_question(q, len, name, sizeof(name),
	    &type)) == -1)
		return;
	if (r->nseen < MAXSEEN) {
		snprintf(r->seen[r->nseen].name, sizeof(r->seen[0].name), "%s", name);
		r->seen[r->nseen++].type = type;
	}
	memcpy(a, q, (size_t)n);
	if ((z = zone_find(r, name, type)) == NULL)
		rcode = 3;
	else if (z->b == DNS_DROP)
		return;
	else if (z->b == DNS_GARBAGE) {
		a[2] = 0x81; a[3] = 0x80; a[5] = 1; a[7] = 5;	/* 5 answers: none */
		a[6] = a[8] = a[9] = a[10] = a[11] = 0;
		sendto(fd, a, (size_t)n, 0, (struct sockaddr *)&from, fromlen);
		return;
	} else {
		rcode = z->b == DNS_NXDOMAIN ? 3 : z->b == DNS_SERVFAIL ? 2 :
		    z->b == DNS_REFUSED ? 5 : 0;
		for (j = 0; z->ans[j] != NULL; j++)
			if (strncmp(z->ans[j], "soa:", 4) != 0) {
				n += put_answer(a + n, z->ans[j]);
				an++;
			}
		for (j = 0; z->ans[j] != NULL; j++)
			if (strncmp(z->ans[j], "soa:", 4) == 0) {
				n += put_soa(a + n, z->ans[j]);
				ns++;
			}
	}
	a[2] = 0x81;					/* QR, RD */
	a[3] = (unsigned char)(0x80 | rcode);		/* RA */
	a[4] = 0; a[5] = 1;
	a[6] = (unsigned char)(an >> 8); a[7] = (unsigned char)an;
	a[8] = (unsigned char)(ns >> 8); a[9] = (unsigned char)ns;
	a[10] = a[11] = 0;
	sendto(fd, a, (size_t)n, 0, (struct sockaddr *)&from, fromlen);
}

void
dns_responder_set(struct dns_responder *r, const char *name, int type,
    enum dns_behave b, const char *const *answers)
{
	struct zrec	*z;
	size_t		 i;

	if ((z = zone_find(r, name, type)) == NULL) {
		if (r->nzone == MAXZONE)
			abort();
		z = &r->zone[r->nzone++];
	}
	for (i = 0; z->ans[i] != NULL; i++)
		free(z->ans[i]);
	memset(z, 0, sizeof(*z));
	snprintf(z->name, sizeof(z->name), "%s", name);
	z->type = type;
	z->b = b;
	for (i = 0; answers != NULL && answers[i] != NULL && i < MAXANS; i++)
		z->ans[i] = strdup(answers[i]);
}

int
dns_responder_count(struct dns_responder *r, const char *name, int type)
{
	size_t	i;
	int	n = 0;

	for (i = 0; i < r->nseen; i++)
		if (name == NULL || (strcasecmp(r->seen[i].name, name) == 0 &&
		    r->seen[i].type == type))
			n++;
	return n;
}

struct dns_responder *
dns_responder_start(struct event_base *base, struct netaddr_endpoint *ep)
{
	struct dns_responder	*r;
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((r->fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
	    bind(r->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(r->fd, (struct sockaddr *)&sin, &len) == -1 ||
	    (r->ev = event_new(base, r->fd, EV_READ | EV_PERSIST, on_read, r)) == NULL ||
	    event_add(r->ev, NULL) == -1) {
		free(r);
		return NULL;
	}
	memset(ep, 0, sizeof(*ep));
	memcpy(&ep->ss, &sin, sizeof(sin));
	ep->len = sizeof(sin);
	return r;
}

void
dns_responder_free(struct dns_responder *r)
{
	size_t	i, j;

	for (i = 0; i < r->nzone; i++)
		for (j = 0; r->zone[i].ans[j] != NULL; j++)
			free(r->zone[i].ans[j]);
	event_free(r->ev);
	close(r->fd);
	free(r);
}
