/*
 * resolver.c: c-ares on the libevent loop. c-ares tells us which sockets to
 * watch (ARES_OPT_SOCK_STATE_CB); each gets one persistent event, and one
 * timer follows ares_timeout(). Answers are parsed and bounded here, so the
 * callers see plain, sorted, size-checked data (S2, S3, S23).
 */
#include <sys/queue.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "policy/dns_ttl.h"
#include "policy/resolver.h"

#define DNS_CLASS_IN	1
#define DNS_TYPE_A	1
#define DNS_TYPE_MX	15
#define DNS_TYPE_TXT	16
#define DNS_TYPE_AAAA	28

enum rq_type { RQ_MX, RQ_A, RQ_AAAA, RQ_TXT };

struct rsock {
	LIST_ENTRY(rsock)	 entry;
	ares_socket_t		 fd;
	struct event		*ev;
};

struct rquery {
	TAILQ_ENTRY(rquery)	 entry;		/* while waiting for delivery */
	struct resolver		*res;
	enum rq_type		 type;
	char			*name;
	union {
		resolver_on_mx	 mx;
		resolver_on_addr addr;
		resolver_on_txt	 txt;
	}			 cb;
	void			*arg;
	int			 submitting, done;
	struct event		*defer;
	enum resolver_status	 status;
	const char		*error;
	int			 null_mx;
	struct resolver_mx	*mx;
	struct sockaddr_storage	*addrs;
	struct resolver_txt	*txt;
	size_t			 n;
	uint32_t		 ttl;		/* of MX and address answers */
};

struct resolver {
	struct event_base	*base;
	ares_channel		 channel;
	struct event		*timer;
	LIST_HEAD(, rsock)	 socks;
	TAILQ_HEAD(, rquery)	 deferred;
};

static void	resolver_arm(struct resolver *);

static void
rquery_free(struct rquery *q)
{
	size_t	i;

	if (q->defer != NULL)
		event_free(q->defer);
	if (q->txt != NULL)
		for (i = 0; i < q->n; i++)
			free((char *)q->txt[i].data);
	free(q->txt);
	free(q->mx);
	free(q->addrs);
	free(q->name);
	free(q);
}

static void
rquery_deliver(struct rquery *q)
{
	log_debug("resolver: %s type %d: %s%s%s", q->name, (int)q->type,
	    resolver_strstatus(q->status), q->error ? ": " : "",
	    q->error ? q->error : "");
	if (q->type == RQ_MX) {
		struct resolver_mx_result r = { q->status, q->error, q->null_mx,
		    q->mx, q->status == RESOLVER_OK ? q->n : 0, q->ttl };

		q->cb.mx(&r, q->arg);
	} else if (q->type == RQ_TXT) {
		struct resolver_txt_result r = { q->status, q->error, q->txt,
		    q->status == RESOLVER_OK ? q->n : 0 };

		q->cb.txt(&r, q->arg);
	} else {
		struct resolver_addr_result r = { q->status, q->error, q->addrs,
		    q->status == RESOLVER_OK ? q->n : 0, q->ttl };

		q->cb.addr(&r, q->arg);
	}
	rquery_free(q);
}

static void
set_status(struct rquery *q, enum resolver_status st, const char *error)
{
	q->status = st;
	q->error = error;
	if (st != RESOLVER_OK && st != RESOLVER_NODATA)
		q->ttl = 0;
}

/*
 * NODATA: the answer may be kept for the negative TTL its SOA gives (RFC
 * 2308 5); none, or a malformed one: not kept.
 */
static void
set_nodata(struct rquery *q, const unsigned char *abuf, int alen, const char *error)
{
	if (abuf == NULL || alen <= 0 ||
	    dns_ttl_negative(abuf, (size_t)alen, &q->ttl) == -1)
		q->ttl = 0;
	set_status(q, RESOLVER_NODATA, error);
}

/*
 * OK: the smallest TTL of the records of type (and of the CNAMEs before
 * them). c-ares has parsed the records already; -1 (MALFORMED set) when our
 * own walk over the message disagrees.
 */
static int
set_ttl(struct rquery *q, const unsigned char *abuf, int alen, int type)
{
	if (alen <= 0 || dns_ttl_min(abuf, (size_t)alen, type, &q->ttl) == -1) {
		set_status(q, RESOLVER_MALFORMED, "malformed answer record");
		return -1;
	}
	if (q->ttl == UINT32_MAX)	/* none of that type: do not keep it */
		q->ttl = 0;
	return 0;
}

static void
parse_mx(struct rquery *q, const unsigned char *abuf, int alen)
{
	struct ares_mx_reply	*list = NULL, *m;
	struct resolver_mx	 tmp;
	size_t			 n = 0, i, j, len;
	int			 rc;

	if ((rc = ares_parse_mx_reply(abuf, alen, &list)) != ARES_SUCCESS) {
		if (rc == ARES_ENODATA)
			set_nodata(q, abuf, alen, ares_strerror(rc));
		else
			set_status(q, RESOLVER_MALFORMED, ares_strerror(rc));
		return;
	}
	for (m = list; m != NULL; m = m->next)
		n++;
	if (n == 0) {		/* an answer with records of other types only */
		set_nodata(q, abuf, alen, "no MX record in the answer");
		goto out;
	}
	if (n > RESOLVER_MAX_RECORDS) {
		set_status(q, RESOLVER_MALFORMED, "too many MX records");
		goto out;
	}
	q->mx = xcalloc(n, sizeof(*q->mx));
	for (m = list, i = 0; m != NULL; m = m->next) {
		len = strlen(m->host);
		if (len > 0 && m->host[len - 1] == '.')
			len--;
		if (len == 0) {		/* RFC 7505 null MX: "MX 0 ." */
			q->null_mx = 1;
			continue;
		}
		if (len >= sizeof(q->mx[i].host)) {
			set_status(q, RESOLVER_MALFORMED, "MX host name too long");
			goto out;
		}
		memcpy(q->mx[i].host, m->host, len);
		q->mx[i].host[len] = '\0';
		q->mx[i].pref = m->priority;
		/* insertion sort: stable, so equal preferences keep DNS order */
		for (j = i; j > 0 && q->mx[j - 1].pref > q->mx[j].pref; j--) {
			tmp = q->mx[j - 1];
			q->mx[j - 1] = q->mx[j];
			q->mx[j] = tmp;
		}
		i++;
	}
	if (set_ttl(q, abuf, alen, DNS_TYPE_MX) == -1)
		goto out;
	q->n = q->null_mx ? 0 : i;
	set_status(q, RESOLVER_OK, NULL);
 out:
	ares_free_data(list);
}

static void
parse_addr(struct rquery *q, const unsigned char *abuf, int alen)
{
	struct ares_addrttl	 a4[RESOLVER_MAX_RECORDS];
	struct ares_addr6ttl	 a6[RESOLVER_MAX_RECORDS];
	int			 n = RESOLVER_MAX_RECORDS, rc, i, ttl;

	if (q->type == RQ_A)
		rc = ares_parse_a_reply(abuf, alen, NULL, a4, &n);
	else
		rc = ares_parse_aaaa_reply(abuf, alen, NULL, a6, &n);
	if (rc == ARES_SUCCESS && n == 0)
		rc = ARES_ENODATA;
	if (rc == ARES_ENODATA) {
		set_nodata(q, abuf, alen, ares_strerror(rc));
		return;
	}
	if (rc != ARES_SUCCESS) {
		set_status(q, RESOLVER_MALFORMED, ares_strerror(rc));
		return;
	}
	q->addrs = xcalloc((size_t)n, sizeof(*q->addrs));
	q->ttl = UINT32_MAX;
	for (i = 0; i < n; i++) {
		/* c-ares has capped each TTL by those of the CNAMEs before it */
		ttl = q->type == RQ_A ? a4[i].ttl : a6[i].ttl;
		if (ttl < 0)
			ttl = 0;
		if ((uint32_t)ttl < q->ttl)
			q->ttl = (uint32_t)ttl;
		if (q->type == RQ_A) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&q->addrs[i];

			sin->sin_family = AF_INET;
			sin->sin_addr = a4[i].ipaddr;
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&q->addrs[i];

			sin6->sin6_family = AF_INET6;
			memcpy(&sin6->sin6_addr, &a6[i].ip6addr, sizeof(sin6->sin6_addr));
		}
	}
	q->n = (size_t)n;
	set_status(q, RESOLVER_OK, NULL);
}

static void
parse_txt(struct rquery *q, const unsigned char *abuf, int alen)
{
	struct ares_txt_ext	*list = NULL, *t;
	char			*buf = NULL;
	size_t			 len = 0;
	int			 rc;

	if ((rc = ares_parse_txt_reply_ext(abuf, alen, &list)) != ARES_SUCCESS) {
		set_status(q, rc == ARES_ENODATA ? RESOLVER_NODATA :
		    RESOLVER_MALFORMED, ares_strerror(rc));
		return;
	}
	q->txt = xcalloc(RESOLVER_MAX_RECORDS, sizeof(*q->txt));
	set_status(q, RESOLVER_OK, NULL);
	for (t = list; t != NULL; t = t->next) {
		if (t->record_start || q->n == 0) {
			if (q->n == RESOLVER_MAX_RECORDS) {
				set_status(q, RESOLVER_MALFORMED, "too many TXT records");
				break;
			}
			buf = xmalloc(RESOLVER_MAX_TXT + 1);
			len = 0;
			q->txt[q->n].data = buf;
			q->txt[q->n].len = 0;
			q->n++;
		}
		if (t->length > RESOLVER_MAX_TXT - len) {
			set_status(q, RESOLVER_MALFORMED, "TXT record too long");
			break;
		}
		memcpy(buf + len, t->txt, t->length);	/* S3: joined */
		len += t->length;
		buf[len] = '\0';
		q->txt[q->n - 1].len = len;
	}
	if (q->n == 0 && q->status == RESOLVER_OK)
		set_status(q, RESOLVER_NODATA, "no TXT record");
	ares_free_data(list);
}

static void
on_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct rquery	*q = arg;

	TAILQ_REMOVE(&q->res->deferred, q, entry);
	rquery_deliver(q);
}

static void
resolver_on_answer(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct rquery	*q = arg;

	switch (status) {
	case ARES_EDESTRUCTION:
		rquery_free(q);		/* resolver_free(): no callback */
		return;
	case ARES_SUCCESS:
		if (q->type == RQ_MX)
			parse_mx(q, abuf, alen);
		else if (q->type == RQ_TXT)
			parse_txt(q, abuf, alen);
		else
			parse_addr(q, abuf, alen);
		break;
	case ARES_ENODATA:
		set_nodata(q, abuf, alen, ares_strerror(status));
		break;
	case ARES_ENOTFOUND:
	case ARES_EBADNAME:	/* a malformed name cannot exist either */
		set_status(q, RESOLVER_NXDOMAIN, ares_strerror(status));
		break;
	case ARES_EBADRESP:
		set_status(q, RESOLVER_MALFORMED, ares_strerror(status));
		break;
	default:	/* SERVFAIL, REFUSED, FORMERR, timeout, unreachable... */
		set_status(q, RESOLVER_TEMPFAIL, ares_strerror(status));
		break;
	}
	q->done = 1;
	if (!q->submitting)
		rquery_deliver(q);
}

/*
 * Parse a raw answer as if it had just arrived for a query of that type;
 * the callback runs before this returns. For tests and fuzzing.
 */
void
resolver_parse_answer(int type, const unsigned char *abuf, int alen, void *cb,
    void *arg)
{
	struct rquery	*q;

	q = xcalloc(1, sizeof(*q));
	q->type = type == RESOLVER_TYPE_MX ? RQ_MX : type == RESOLVER_TYPE_A ? RQ_A :
	    type == RESOLVER_TYPE_AAAA ? RQ_AAAA : RQ_TXT;
	q->name = xstrdup("(parsed)");
	q->arg = arg;
	if (q->type == RQ_MX)
		q->cb.mx = (resolver_on_mx)cb;
	else if (q->type == RQ_TXT)
		q->cb.txt = (resolver_on_txt)cb;
	else
		q->cb.addr = (resolver_on_addr)cb;
	resolver_on_answer(q, ARES_SUCCESS, 0, (unsigned char *)(uintptr_t)abuf, alen);
}

static int
resolver_submit(struct resolver *res, const char *name, enum rq_type type,
    void *cb, void *arg)
{
	static const int	 qtype[] = { DNS_TYPE_MX, DNS_TYPE_A, DNS_TYPE_AAAA,
	    DNS_TYPE_TXT };
	static const struct timeval zero = { 0, 0 };
	struct rquery		*q;
	size_t			 len;

	if (name == NULL || cb == NULL)
		return -1;
	len = strlen(name);
	q = xcalloc(1, sizeof(*q));
	q->res = res;
	q->type = type;
	q->name = xstrdup(name);
	q->arg = arg;
	if (type == RQ_MX)
		q->cb.mx = (resolver_on_mx)cb;
	else if (type == RQ_TXT)
		q->cb.txt = (resolver_on_txt)cb;
	else
		q->cb.addr = (resolver_on_addr)cb;
	q->submitting = 1;
	if (len == 0 || len > 254 || (len == 254 && name[253] != '.')) {
		/* no such name can exist (RFC 1035 2.3.4) */
		set_status(q, RESOLVER_NXDOMAIN, "name empty or too long");
		q->done = 1;
	} else
		ares_query(res->channel, name, DNS_CLASS_IN, qtype[type],
		    resolver_on_answer, q);
	q->submitting = 0;
	if (q->done) {
		/* answered at once: deliver from the loop, never re-entrantly */
		if ((q->defer = evtimer_new(res->base, on_deferred, q)) == NULL ||
		    evtimer_add(q->defer, &zero) == -1)
			fatalx("resolver_submit: cannot schedule a callback");
		TAILQ_INSERT_TAIL(&res->deferred, q, entry);
	}
	resolver_arm(res);
	return 0;
}

int
resolver_query_mx(struct resolver *res, const char *name, resolver_on_mx cb,
    void *arg)
{
	return resolver_submit(res, name, RQ_MX, (void *)cb, arg);
}

int
resolver_query_a(struct resolver *res, const char *name, resolver_on_addr cb,
    void *arg)
{
	return resolver_submit(res, name, RQ_A, (void *)cb, arg);
}

int
resolver_query_aaaa(struct resolver *res, const char *name, resolver_on_addr cb,
    void *arg)
{
	return resolver_submit(res, name, RQ_AAAA, (void *)cb, arg);
}

int
resolver_query_txt(struct resolver *res, const char *name, resolver_on_txt cb,
    void *arg)
{
	return resolver_submit(res, name, RQ_TXT, (void *)cb, arg);
}

/* The timer follows c-ares' own idea of its next timeout. */
static void
resolver_arm(struct resolver *res)
{
	struct timeval	tv, *tvp;

	if ((tvp = ares_timeout(res->channel, NULL, &tv)) == NULL) {
		evtimer_del(res->timer);
		return;
	}
	if (evtimer_add(res->timer, tvp) == -1)
		fatalx("resolver_arm: evtimer_add failed");
}

static void
resolver_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct resolver	*res = arg;

	ares_process_fd(res->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	resolver_arm(res);
}

static void
resolver_on_io(evutil_socket_t fd, short what, void *arg)
{
	struct resolver	*res = arg;

	ares_process_fd(res->channel,
	    (what & EV_READ) ? (ares_socket_t)fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? (ares_socket_t)fd : ARES_SOCKET_BAD);
	resolver_arm(res);
}

static void
resolver_on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolver	*res = data;
	struct rsock	*s;
	short		 what;

	LIST_FOREACH(s, &res->socks, entry)
		if (s->fd == fd)
			break;
	if (s != NULL) {
		event_free(s->ev);
		s->ev = NULL;
	}
	if (!readable && !writable) {
		if (s != NULL) {
			LIST_REMOVE(s, entry);
			free(s);
		}
		return;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->fd = fd;
		LIST_INSERT_HEAD(&res->socks, s, entry);
	}
	what = EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
	if ((s->ev = event_new(res->base, fd, what, resolver_on_io, res)) == NULL ||
	    event_add(s->ev, NULL) == -1)
		fatalx("resolver_on_sock_state: cannot watch a DNS socket");
}

static int
resolver_set_servers(struct resolver *res, const struct resolver_params *p)
{
	struct ares_addr_port_node	*nodes;
	size_t				 i;
	int				 rc;

	nodes = xcalloc(p->nservers, sizeof(*nodes));
	for (i = 0; i < p->nservers; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&p->servers[i].ss;

		nodes[i].next = i + 1 < p->nservers ? &nodes[i + 1] : NULL;
		nodes[i].family = sa->sa_family;
		if (sa->sa_family == AF_INET)
			nodes[i].addr.addr4 = ((const struct sockaddr_in *)sa)->sin_addr;
		else if (sa->sa_family == AF_INET6)
			memcpy(&nodes[i].addr.addr6,
			    &((const struct sockaddr_in6 *)sa)->sin6_addr,
			    sizeof(nodes[i].addr.addr6));
		else {
			free(nodes);
			log_warnx("resolver: DNS server %zu: unknown address family", i);
			return -1;
		}
		nodes[i].udp_port = nodes[i].tcp_port = netaddr_port(sa);
	}
	rc = ares_set_servers_ports(res->channel, nodes);
	free(nodes);
	if (rc != ARES_SUCCESS) {
		log_warnx("resolver: ares_set_servers_ports: %s", ares_strerror(rc));
		return -1;
	}
	return 0;
}

struct resolver *
resolver_new(struct event_base *base, const struct resolver_params *p)
{
	struct resolver		*res;
	struct ares_options	 opts;
	int			 rc, mask;

	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		log_warnx("resolver: ares_library_init: %s", ares_strerror(rc));
		return NULL;
	}
	res = xcalloc(1, sizeof(*res));
	res->base = base;
	LIST_INIT(&res->socks);
	TAILQ_INIT(&res->deferred);
	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = resolver_on_sock_state;
	opts.sock_state_cb_data = res;
	opts.timeout = p->timeout_ms > 0 ? (int)p->timeout_ms : 2000;
	opts.tries = p->tries > 0 ? (int)p->tries : 2;
	opts.flags = ARES_FLAG_EDNS | ARES_FLAG_NOSEARCH;
	opts.ednspsz = 1232;
	mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	    ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ;
	if ((rc = ares_init_options(&res->channel, &opts, mask)) != ARES_SUCCESS) {
		log_warnx("resolver: ares_init_options: %s", ares_strerror(rc));
		free(res);
		ares_library_cleanup();
		return NULL;
	}
	if ((res->timer = evtimer_new(base, resolver_on_timer, res)) == NULL)
		fatalx("resolver_new: evtimer_new failed");
	if (p->nservers > 0 && resolver_set_servers(res, p) == -1) {
		resolver_free(res);
		return NULL;
	}
	return res;
}

void
resolver_free(struct resolver *res)
{
	struct rquery	*q;
	struct rsock	*s;

	if (res == NULL)
		return;
	ares_destroy(res->channel);	/* pending queries: ARES_EDESTRUCTION */
	while ((q = TAILQ_FIRST(&res->deferred)) != NULL) {
		TAILQ_REMOVE(&res->deferred, q, entry);
		rquery_free(q);
	}
	while ((s = LIST_FIRST(&res->socks)) != NULL) {
		LIST_REMOVE(s, entry);
		if (s->ev != NULL)
			event_free(s->ev);
		free(s);
	}
	event_free(res->timer);
	free(res);
	ares_library_cleanup();
}

const char *
resolver_strstatus(enum resolver_status st)
{
	switch (st) {
	case RESOLVER_OK:
		return "ok";
	case RESOLVER_NXDOMAIN:
		return "nxdomain";
	case RESOLVER_NODATA:
		return "nodata";
	case RESOLVER_TEMPFAIL:
		return "tempfail";
	case RESOLVER_MALFORMED:
		return "malformed";
	}
	return "unknown";
}
