/*
 * dns_ttl.c: the answer and authority sections of a DNS message walked for
 * their TTLs (RFC 1035 4.1). Names are skipped with ares_expand_name, which
 * follows and checks compression pointers; everything else is checked
 * against the end of the message (or of the record) before it is read.
 */
#include <stdint.h>

#include <ares.h>

#include "policy/dns_ttl.h"

#define HDR_LEN		12
#define QFIXED_LEN	4	/* QTYPE, QCLASS */
#define RRFIXED_LEN	10	/* TYPE, CLASS, TTL, RDLENGTH */
#define SOA_FIXED_LEN	20	/* SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM */
#define TYPE_CNAME	5
#define TYPE_SOA	6
#define CLASS_IN	1
#define MAX_MSG		65535

/* One resource record, as walk() hands it over. */
struct rr {
	int		answer;		/* in the answer section, else authority */
	unsigned	type, class;
	uint32_t	ttl;
	size_t		rdata, rdlen;	/* offset and length of the RDATA */
};

struct ttl_acc {
	int		type;		/* dns_ttl_min: the type asked for */
	uint32_t	min;
	int		bad;		/* dns_ttl_negative: a malformed SOA */
};

static unsigned
get16(const unsigned char *p)
{
	return ((unsigned)p[0] << 8) | p[1];
}

static uint32_t
get32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | p[3];
}

/* RFC 2181 8: a TTL with the top bit set counts as 0. */
static uint32_t
ttl_value(uint32_t t)
{
	return (t & 0x80000000U) ? 0 : t;
}

/* The name at *off, skipped; -1 when it is malformed or runs past the end. */
static int
skip_name(const unsigned char *abuf, size_t alen, size_t *off)
{
	char	*name = NULL;
	long	 enclen = 0;

	if (*off >= alen)
		return -1;
	if (ares_expand_name(abuf + *off, abuf, (int)alen, &name, &enclen) !=
	    ARES_SUCCESS)
		return -1;
	ares_free_string(name);
	if (enclen <= 0 || (size_t)enclen > alen - *off)
		return -1;
	*off += (size_t)enclen;
	return 0;
}

/*
 * Every record of the answer section (and of the authority section when
 * authority is set), in order, to fn. -1 when what it reads is malformed:
 * an answer is not refused for a bad authority section it does not need.
 */
static int
walk(const unsigned char *abuf, size_t alen, int authority,
    void (*fn)(const unsigned char *, size_t, const struct rr *, struct ttl_acc *),
    struct ttl_acc *acc)
{
	struct rr	r;
	size_t		off = HDR_LEN;
	unsigned	qd, an, ns, i;

	if (abuf == NULL || alen < HDR_LEN || alen > MAX_MSG)
		return -1;
	qd = get16(abuf + 4);
	an = get16(abuf + 6);
	ns = authority ? get16(abuf + 8) : 0;
	for (i = 0; i < qd; i++) {
		if (skip_name(abuf, alen, &off) == -1 || alen - off < QFIXED_LEN)
			return -1;
		off += QFIXED_LEN;
	}
	for (i = 0; i < an + ns; i++) {
		if (skip_name(abuf, alen, &off) == -1 || alen - off < RRFIXED_LEN)
			return -1;
		r.answer = i < an;
		r.type = get16(abuf + off);
		r.class = get16(abuf + off + 2);
		r.ttl = ttl_value(get32(abuf + off + 4));
		r.rdlen = get16(abuf + off + 8);
		off += RRFIXED_LEN;
		if (alen - off < r.rdlen)
			return -1;
		r.rdata = off;
		off += r.rdlen;
		fn(abuf, alen, &r, acc);
	}
	return 0;
}

static void
on_answer_rr(const unsigned char *abuf, size_t alen, const struct rr *r,
    struct ttl_acc *acc)
{
	(void)abuf;
	(void)alen;
	if (!r->answer || r->class != CLASS_IN ||
	    (r->type != (unsigned)acc->type && r->type != TYPE_CNAME))
		return;
	if (r->ttl < acc->min)
		acc->min = r->ttl;
}

int
dns_ttl_min(const unsigned char *abuf, size_t alen, int type, uint32_t *ttl)
{
	struct ttl_acc	acc = { type, UINT32_MAX, 0 };

	*ttl = UINT32_MAX;
	if (walk(abuf, alen, 0, on_answer_rr, &acc) == -1)
		return -1;
	*ttl = acc.min;
	return 0;
}

static void
on_authority_rr(const unsigned char *abuf, size_t alen, const struct rr *r,
    struct ttl_acc *acc)
{
	size_t		off = r->rdata, end = r->rdata + r->rdlen;
	uint32_t	minimum;

	(void)alen;
	if (r->answer || r->class != CLASS_IN || r->type != TYPE_SOA)
		return;
	/* MNAME and RNAME, then the five numbers, all inside the RDATA */
	if (skip_name(abuf, end, &off) == -1 || skip_name(abuf, end, &off) == -1 ||
	    end - off < SOA_FIXED_LEN) {
		acc->bad = 1;
		return;
	}
	minimum = ttl_value(get32(abuf + off + 16));
	if (minimum > r->ttl)
		minimum = r->ttl;
	if (minimum < acc->min)
		acc->min = minimum;
}

int
dns_ttl_negative(const unsigned char *abuf, size_t alen, uint32_t *ttl)
{
	struct ttl_acc	acc = { 0, UINT32_MAX, 0 };

	*ttl = 0;
	if (walk(abuf, alen, 1, on_authority_rr, &acc) == -1 || acc.bad)
		return -1;
	*ttl = acc.min == UINT32_MAX ? 0 : acc.min;
	return 0;
}
