/*
 * resolver.h: asynchronous DNS lookups (MX, A, AAAA, TXT) with c-ares,
 * driven by the relay's libevent loop (socket state callback, one event per
 * socket, one timer from ares_timeout; no polling).
 *
 * Callbacks never run inside resolver_query_*(): a result c-ares produces at
 * once (a malformed name, no server reachable) is delivered from the event
 * loop. Results live only for the duration of the callback: copy what you
 * keep. resolver_free() drops pending queries without calling them back.
 */
#ifndef POLICY_RESOLVER_H
#define POLICY_RESOLVER_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include "common/netaddr.h"

struct event_base;
struct resolver;

/* Bounds on what one answer may hold; beyond them: RESOLVER_MALFORMED. */
#define RESOLVER_MAX_RECORDS	64	/* MX, A, AAAA or TXT records */
#define RESOLVER_MAX_TXT	4096	/* octets of one joined TXT record */

enum resolver_status {
	RESOLVER_OK = 0,
	RESOLVER_NXDOMAIN,	/* the name does not exist */
	RESOLVER_NODATA,	/* the name exists, no record of that type */
	RESOLVER_TEMPFAIL,	/* SERVFAIL, REFUSED, timeout, unreachable */
	RESOLVER_MALFORMED	/* unparsable answer or over the bounds */
};

struct resolver_params {
	const struct netaddr_endpoint	*servers;	/* NULL: the system's */
	size_t				 nservers;
	unsigned			 timeout_ms;	/* per try; 0: 2000 */
	unsigned			 tries;		/* 0: 2 */
};

struct resolver_mx {
	char		host[256];	/* as in the answer, no trailing dot */
	unsigned	pref;
};

/*
 * The ttl of a result, in seconds, is how long the answer may be reused.
 * OK: the smallest TTL of the records used (the MX or address records and
 * any CNAME that led to them). NODATA: the negative TTL of the SOA record
 * that came with the answer (RFC 2308 5), 0 without one. Any other status:
 * 0. RFC 2181 8: a TTL with the top bit set counts as 0.
 */
struct resolver_mx_result {
	enum resolver_status	 status;
	const char		*error;		/* detail when not OK */
	/*
	 * S23, RFC 7505: a record whose host is the root ("MX 0 ."). The
	 * domain takes no mail; nmx is then 0 even if other records came
	 * with it (RFC 7505 3 forbids them).
	 */
	int			 null_mx;
	const struct resolver_mx *mx;		/* sorted by preference, stable */
	size_t			 nmx;
	uint32_t		 ttl;		/* seconds, see above */
};

struct resolver_addr_result {
	enum resolver_status		 status;
	const char			*error;
	const struct sockaddr_storage	*addrs;	/* port 0 */
	size_t				 naddrs;
	uint32_t			 ttl;	/* seconds, see above */
};

/* One TXT record: its character-strings joined with nothing (S3). */
struct resolver_txt {
	const char	*data;		/* NUL-terminated for convenience; may hold NULs */
	size_t		 len;
};

struct resolver_txt_result {
	enum resolver_status		 status;
	const char			*error;
	const struct resolver_txt	*txt;	/* records kept separate */
	size_t				 ntxt;
};

typedef void (*resolver_on_mx)(const struct resolver_mx_result *, void *);
typedef void (*resolver_on_addr)(const struct resolver_addr_result *, void *);
typedef void (*resolver_on_txt)(const struct resolver_txt_result *, void *);

/* NULL on failure (logged). */
struct resolver *resolver_new(struct event_base *, const struct resolver_params *);
void	resolver_free(struct resolver *);

/*
 * 0 when the query is under way (the callback will run), -1 only for a NULL
 * name or callback. A name that cannot exist (empty, malformed, longer than
 * 253 octets) is answered NXDOMAIN, from the loop like any answer.
 */
int	resolver_query_mx(struct resolver *, const char *, resolver_on_mx, void *);
int	resolver_query_a(struct resolver *, const char *, resolver_on_addr, void *);
int	resolver_query_aaaa(struct resolver *, const char *, resolver_on_addr, void *);
int	resolver_query_txt(struct resolver *, const char *, resolver_on_txt, void *);

const char *resolver_strstatus(enum resolver_status);

/*
 * Tests and fuzzing: parse a raw DNS answer (abuf, alen) as if it had just
 * arrived for a query of type; cb, of the type's callback type, runs before
 * this returns.
 */
#define RESOLVER_TYPE_MX	15
#define RESOLVER_TYPE_TXT	16
#define RESOLVER_TYPE_A		1
#define RESOLVER_TYPE_AAAA	28
void	resolver_parse_answer(int type, const unsigned char *abuf, int alen,
	    void *cb, void *arg);

#endif
