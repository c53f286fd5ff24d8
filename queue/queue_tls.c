/*
 * queue_tls.c: TLS report counters (RFC 8460) in tlsrpt.db.
 *
 * Key: day "YYYY-MM-DD", domain, policy type ("sts", "no-policy-found"), MX
 * host, result type, each followed by a NUL but the last; so one day's
 * counters are adjacent and sorted by domain. Value: the count, 8 bytes
 * big-endian.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "queue/queue_int.h"

#define NAME_LEN_MAX	253	/* a domain name without its trailing dot */
#define TLS_KEY_MAX	(QUEUE_TLS_DAY_MAX + 2 * QUEUE_TLS_NAME_MAX + \
			    sizeof("no-policy-found") + QUEUE_TLS_RESULT_MAX)

const char *
queue_tls_strpolicy(enum queue_tls_policy t)
{
	switch (t) {
	case QUEUE_TLS_STS:
		return "sts";
	case QUEUE_TLS_NO_POLICY:
		return "no-policy-found";
	}
	return "unknown";
}

/* Lower case, no trailing dot, printable ASCII without spaces. */
static int
name_norm(const char *in, char out[QUEUE_TLS_NAME_MAX], int empty_ok)
{
	size_t n, i;

	if (in == NULL)
		in = "";
	n = strnlen(in, NAME_LEN_MAX + 2);
	if (n > 0 && in[n - 1] == '.')
		n--;
	if (n > NAME_LEN_MAX || (n == 0 && !empty_ok))
		return -1;
	for (i = 0; i < n; i++) {
		if (in[i] <= 0x20 || in[i] >= 0x7f)
			return -1;
		out[i] = in[i] >= 'A' && in[i] <= 'Z' ? in[i] - 'A' + 'a' :
		    in[i];
	}
	out[n] = '\0';
	return 0;
}

static int
result_ok(const char *r)
{
	size_t i;

	if (r == NULL || *r == '\0')
		return 0;
	for (i = 0; r[i] != '\0'; i++)
		if (i >= QUEUE_TLS_RESULT_MAX - 1 ||
		    !((r[i] >= 'a' && r[i] <= 'z') ||
		    (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
			return 0;
	return 1;
}

static int
day_ok(const char *d)
{
	static const char shape[] = "dddd-dd-dd";
	size_t i;

	if (d == NULL || strlen(d) != sizeof(shape) - 1)
		return 0;
	for (i = 0; shape[i] != '\0'; i++)
		if (shape[i] == 'd' ? d[i] < '0' || d[i] > '9' : d[i] != '-')
			return 0;
	return 1;
}

static void
key_part(uint8_t *k, size_t *len, const char *s, int nul)
{
	size_t n = strlen(s);

	memcpy(k + *len, s, n);
	*len += n;
	if (nul)
		k[(*len)++] = '\0';
}

/* Split a key into e; -1 when it is not one of ours. */
static int
key_parse(const uint8_t *k, size_t len, struct queue_tls_entry *e)
{
	const char	*part[5];
	size_t		 plen[5], i, off = 0;
	const uint8_t	*nul;
	char		 type[sizeof("no-policy-found")];

	for (i = 0; i < 5; i++) {
		part[i] = (const char *)k + off;
		nul = i < 4 ? memchr(k + off, '\0', len - off) : NULL;
		plen[i] = nul != NULL ? (size_t)(nul - (k + off)) : len - off;
		if (i < 4 && nul == NULL)
			return -1;
		off += plen[i] + 1;
	}
	if (memchr(part[4], '\0', plen[4]) != NULL ||
	    plen[0] >= sizeof(e->day) || plen[1] >= sizeof(e->policy_domain) ||
	    plen[2] >= sizeof(type) || plen[3] >= sizeof(e->mx_host) ||
	    plen[4] >= sizeof(e->result))
		return -1;
	memcpy(e->day, part[0], plen[0]);
	e->day[plen[0]] = '\0';
	memcpy(e->policy_domain, part[1], plen[1]);
	e->policy_domain[plen[1]] = '\0';
	memcpy(type, part[2], plen[2]);
	type[plen[2]] = '\0';
	memcpy(e->mx_host, part[3], plen[3]);
	e->mx_host[plen[3]] = '\0';
	memcpy(e->result, part[4], plen[4]);
	e->result[plen[4]] = '\0';
	if (strcmp(type, "sts") == 0)
		e->policy_type = QUEUE_TLS_STS;
	else if (strcmp(type, "no-policy-found") == 0)
		e->policy_type = QUEUE_TLS_NO_POLICY;
	else
		return -1;
	return 0;
}

struct count_ctx {
	uint8_t		key[TLS_KEY_MAX];
	size_t		keylen;
	uint64_t	n;
};

static int
count_fn(struct queue *q, DB_TXN *txn, void *arg)
{
	struct count_ctx	*cc = arg;
	DBT			 key, data;
	uint8_t			 v[8];
	uint64_t		 count = 0;
	int			 r, i;

	queue_dbt(&key, cc->key, cc->keylen);
	queue_dbt(&data, NULL, 0);
	data.data = v;
	data.ulen = sizeof(v);
	data.flags = DB_DBT_USERMEM;
	r = q->tls->get(q->tls, txn, &key, &data, DB_RMW);
	if (r == 0 && data.size == sizeof(v))
		for (i = 0; i < 8; i++)
			count = (count << 8) | v[i];
	else if (r != 0 && r != DB_NOTFOUND && r != DB_BUFFER_SMALL)
		return r;
	count = UINT64_MAX - count < cc->n ? UINT64_MAX : count + cc->n;
	for (i = 7; i >= 0; i--) {
		v[i] = count & 0xff;
		count >>= 8;
	}
	queue_dbt(&data, v, sizeof(v));
	return q->tls->put(q->tls, txn, &key, &data, 0);
}

enum queue_status
queue_tls_count(struct queue *q, const struct queue_tls_event *ev, uint64_t n)
{
	struct count_ctx	 cc;
	char			 dom[QUEUE_TLS_NAME_MAX], mx[QUEUE_TLS_NAME_MAX];
	char			 day[32];
	struct tm		 tm;

	if (name_norm(ev->policy_domain, dom, 0) == -1 ||
	    name_norm(ev->mx_host, mx, 1) == -1 || !result_ok(ev->result) ||
	    (ev->policy_type != QUEUE_TLS_STS &&
	    ev->policy_type != QUEUE_TLS_NO_POLICY) ||
	    gmtime_r(&ev->when, &tm) == NULL || tm.tm_year > 9999 - 1900 ||
	    tm.tm_year < -1900) {
		log_warnx("queue: TLS report counter refused: bad name, "
		    "result type or time");
		return QUEUE_EINVAL;
	}
	if (n == 0)
		return QUEUE_OK;
	(void)snprintf(day, sizeof(day), "%04d-%02d-%02d", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday);
	memset(&cc, 0, sizeof(cc));
	key_part(cc.key, &cc.keylen, day, 1);
	key_part(cc.key, &cc.keylen, dom, 1);
	key_part(cc.key, &cc.keylen, queue_tls_strpolicy(ev->policy_type), 1);
	key_part(cc.key, &cc.keylen, mx, 1);
	key_part(cc.key, &cc.keylen, ev->result, 0);
	cc.n = n;
	return queue_txn_run(q, count_fn, &cc, DB_TXN_NOSYNC);
}

struct day_ctx {
	char			 prefix[QUEUE_TLS_DAY_MAX + 1];
	size_t			 plen;
	int			 forget;	/* delete instead of collect */
	struct queue_tls_entry	*e;
	size_t			 n, cap;
};

static int
day_fn(struct queue *q, DB_TXN *txn, void *arg)
{
	struct day_ctx	*dc = arg;
	DBC		*c;
	DBT		 key, data;
	uint64_t	 count;
	int		 r, r2, i;

	dc->n = 0;
	if ((r = q->tls->cursor(q->tls, txn, &c, 0)) != 0)
		return r;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = xmalloc(dc->plen);
	memcpy(key.data, dc->prefix, dc->plen);
	key.size = dc->plen;
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	for (r = c->get(c, &key, &data, DB_SET_RANGE); r == 0;
	    r = c->get(c, &key, &data, DB_NEXT)) {
		if (key.size < dc->plen ||
		    memcmp(key.data, dc->prefix, dc->plen) != 0)
			break;
		if (dc->forget) {
			if ((r = c->del(c, 0)) != 0)
				break;
			continue;
		}
		if (dc->n == dc->cap) {
			dc->cap = dc->cap ? dc->cap * 2 : 64;
			dc->e = xreallocarray(dc->e, dc->cap, sizeof(*dc->e));
		}
		if (data.size != 8 ||
		    key_parse(key.data, key.size, &dc->e[dc->n]) == -1) {
			log_warnx("queue: skipping a malformed TLS counter");
			continue;
		}
		for (count = 0, i = 0; i < 8; i++)
			count = (count << 8) | ((uint8_t *)data.data)[i];
		dc->e[dc->n++].count = count;
	}
	if (r == DB_NOTFOUND)
		r = 0;
	free(key.data);
	free(data.data);
	r2 = c->close(c);
	return r != 0 ? r : r2;
}

static enum queue_status
day_walk(struct queue *q, const char *day, struct day_ctx *dc, uint32_t flags)
{
	if (!day_ok(day)) {
		log_warnx("queue: TLS report counters: bad day");
		return QUEUE_EINVAL;
	}
	/* The day and its NUL: no other day shares the prefix. */
	memcpy(dc->prefix, day, QUEUE_TLS_DAY_MAX);
	dc->plen = QUEUE_TLS_DAY_MAX;
	return queue_txn_run(q, day_fn, dc, flags);
}

enum queue_status
queue_tls_list(struct queue *q, const char *day,
    int (*fn)(const struct queue_tls_entry *, void *), void *arg)
{
	struct day_ctx		dc;
	enum queue_status	s;
	size_t			i;

	memset(&dc, 0, sizeof(dc));
	s = day_walk(q, day, &dc, DB_TXN_NOSYNC);
	/* No transaction is open here. */
	for (i = 0; s == QUEUE_OK && i < dc.n; i++)
		if (fn(&dc.e[i], arg) != 0)
			break;
	free(dc.e);
	return s;
}

enum queue_status
queue_tls_forget(struct queue *q, const char *day)
{
	struct day_ctx dc;

	memset(&dc, 0, sizeof(dc));
	dc.forget = 1;
	return day_walk(q, day, &dc, DB_TXN_NOSYNC);
}
