/*
 * test_dns_ttl.c: the TTLs read from raw DNS messages (policy/dns_ttl.c):
 * answer records, CNAME chains, the negative TTL of RFC 2308, and messages
 * cut short or made to lie about their lengths.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "policy/dns_ttl.h"
#include "tests/tap.h"

#define T_A	1
#define T_CNAME	5
#define T_SOA	6
#define T_MX	15

/* A message being built: header, then sections appended in order. */
struct msg {
	unsigned char	b[1024];
	size_t		n;
};

static void
put8(struct msg *m, unsigned v)
{
	m->b[m->n++] = (unsigned char)v;
}

static void
put16(struct msg *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v & 0xff);
}

static void
put32(struct msg *m, uint32_t v)
{
	put16(m, v >> 16);
	put16(m, v & 0xffff);
}

/* "d.test" as labels; "@" alone: a pointer to the question name (offset 12). */
static void
put_name(struct msg *m, const char *name)
{
	const char	*dot;
	size_t		 len;

	if (strcmp(name, "@") == 0) {
		put16(m, 0xc000 | 12);
		return;
	}
	while (*name != '\0') {
		dot = strchr(name, '.');
		len = dot != NULL ? (size_t)(dot - name) : strlen(name);
		put8(m, (unsigned)len);
		memcpy(m->b + m->n, name, len);
		m->n += len;
		name += len + (dot != NULL);
	}
	put8(m, 0);
}

/* A header with these counts and the question d.test of type qtype. */
static void
start(struct msg *m, unsigned an, unsigned ns, int qtype)
{
	memset(m, 0, sizeof(*m));
	put16(m, 0x1234);
	put16(m, 0x8180);
	put16(m, 1);
	put16(m, an);
	put16(m, ns);
	put16(m, 0);
	put_name(m, "d.test");
	put16(m, (unsigned)qtype);
	put16(m, 1);
}

/* A record; rdlen_extra makes RDLENGTH lie by that many octets. */
static void
put_rr(struct msg *m, int type, unsigned class, uint32_t ttl, int rdlen_extra)
{
	size_t	at;

	put_name(m, "@");
	put16(m, (unsigned)type);
	put16(m, class);
	put32(m, ttl);
	at = m->n;
	put16(m, 0);
	if (type == T_MX) {
		put16(m, 10);
		put_name(m, "mx.d.test");
	} else if (type == T_CNAME)
		put_name(m, "@");
	else if (type == T_A)
		put32(m, 0x7f000001);
	m->b[at] = (unsigned char)((m->n - at - 2 + (size_t)rdlen_extra) >> 8);
	m->b[at + 1] = (unsigned char)(m->n - at - 2 + (size_t)rdlen_extra);
}

static void
put_soa(struct msg *m, uint32_t ttl, uint32_t minimum, int cut)
{
	size_t	at;

	put_name(m, "@");
	put16(m, T_SOA);
	put16(m, 1);
	put32(m, ttl);
	at = m->n;
	put16(m, 0);
	put_name(m, "ns.d.test");
	put_name(m, "@");
	put32(m, 1);
	put32(m, 3600);
	put32(m, 600);
	put32(m, 86400);
	put32(m, minimum);
	m->n -= (size_t)cut;		/* an RDATA too short for its fields */
	m->b[at] = (unsigned char)((m->n - at - 2) >> 8);
	m->b[at + 1] = (unsigned char)(m->n - at - 2);
}

static void
test_answers(void)
{
	struct msg	m;
	uint32_t	ttl;

	start(&m, 3, 0, T_MX);
	put_rr(&m, T_MX, 1, 100, 0);
	put_rr(&m, T_MX, 1, 50, 0);
	put_rr(&m, T_MX, 1, 70, 0);
	is_int(dns_ttl_min(m.b, m.n, T_MX, &ttl), 0, "MX TTLs 100, 50, 70: parsed");
	is_int((int)ttl, 50, "MX TTLs 100, 50, 70: the smallest, 50");

	start(&m, 2, 0, T_MX);
	put_rr(&m, T_CNAME, 1, 5, 0);
	put_rr(&m, T_MX, 1, 100, 0);
	dns_ttl_min(m.b, m.n, T_MX, &ttl);
	is_int((int)ttl, 5, "a CNAME of TTL 5 before an MX of TTL 100: 5");

	start(&m, 3, 0, T_MX);
	put_rr(&m, T_A, 1, 1, 0);
	put_rr(&m, T_MX, 3, 2, 0);	/* class CH */
	put_rr(&m, T_MX, 1, 30, 0);
	dns_ttl_min(m.b, m.n, T_MX, &ttl);
	is_int((int)ttl, 30, "records of another type or class do not count");

	start(&m, 1, 0, T_MX);
	put_rr(&m, T_MX, 1, 0x80000001U, 0);
	dns_ttl_min(m.b, m.n, T_MX, &ttl);
	is_int((int)ttl, 0, "RFC 2181 8: a TTL with the top bit set counts as 0");

	start(&m, 0, 0, T_MX);
	is_int(dns_ttl_min(m.b, m.n, T_MX, &ttl), 0, "no answer record: parsed");
	ok(ttl == UINT32_MAX, "no answer record: UINT32_MAX (nothing to bound it)");

	start(&m, 1, 0, T_MX);
	put_rr(&m, T_MX, 1, 60, 1);
	is_int(dns_ttl_min(m.b, m.n, T_MX, &ttl), -1,
	    "a record whose RDLENGTH runs past the end: malformed");
	start(&m, 2, 0, T_MX);
	put_rr(&m, T_MX, 1, 60, 0);
	is_int(dns_ttl_min(m.b, m.n, T_MX, &ttl), -1, "ANCOUNT 2, one record: malformed");
	start(&m, 0, 0, T_MX);
	m.b[5] = 2;			/* QDCOUNT 2 */
	is_int(dns_ttl_min(m.b, m.n, T_MX, &ttl), -1, "QDCOUNT 2, one question: malformed");
	is_int(dns_ttl_min(m.b, 11, T_MX, &ttl), -1, "a header cut short: malformed");
	is_int(dns_ttl_min(NULL, 0, T_MX, &ttl), -1, "no message: malformed");

	/* a name that points at itself */
	start(&m, 1, 0, T_MX);
	m.b[m.n++] = 0xc0;
	m.b[m.n] = (unsigned char)m.n - 1;
	m.n++;
	memset(m.b + m.n, 0, 10);
	m.n += 10;
	is_int(dns_ttl_min(m.b, m.n, T_MX, &ttl), -1, "a compression loop: malformed");
	/* a pointer past the end */
	start(&m, 1, 0, T_MX);
	put16(&m, 0xc000 | 900);
	memset(m.b + m.n, 0, 10);
	m.n += 10;
	is_int(dns_ttl_min(m.b, m.n, T_MX, &ttl), -1, "a pointer past the end: malformed");
}

static void
test_negative(void)
{
	struct msg	m;
	uint32_t	ttl;

	start(&m, 0, 1, T_MX);
	put_soa(&m, 30, 20, 0);
	is_int(dns_ttl_negative(m.b, m.n, &ttl), 0, "RFC 2308: NODATA with an SOA: parsed");
	is_int((int)ttl, 20, "RFC 2308 5: SOA TTL 30, MINIMUM 20: 20");
	start(&m, 0, 1, T_MX);
	put_soa(&m, 10, 20, 0);
	dns_ttl_negative(m.b, m.n, &ttl);
	is_int((int)ttl, 10, "RFC 2308 5: SOA TTL 10, MINIMUM 20: 10");
	start(&m, 0, 0, T_MX);
	is_int(dns_ttl_negative(m.b, m.n, &ttl), 0, "no SOA: parsed");
	is_int((int)ttl, 0, "RFC 2308 5: no SOA: not to be kept, 0");
	start(&m, 1, 0, T_MX);
	put_soa(&m, 30, 20, 0);		/* in the answer section */
	dns_ttl_negative(m.b, m.n, &ttl);
	is_int((int)ttl, 0, "an SOA in the answer section does not count");
	start(&m, 0, 1, T_MX);
	put_soa(&m, 30, 20, 1);
	is_int(dns_ttl_negative(m.b, m.n, &ttl), -1,
	    "an SOA whose RDATA is too short for its fields: malformed");
}

/* Every prefix of valid messages: an answer or -1, never a read past the end. */
static void
test_truncations(void)
{
	struct msg	m, cut;
	uint32_t	ttl;
	size_t		n, answer_end;
	int		bad = 0;

	start(&m, 2, 1, T_MX);
	put_rr(&m, T_CNAME, 1, 5, 0);
	put_rr(&m, T_MX, 1, 100, 0);
	answer_end = m.n;
	put_soa(&m, 30, 20, 0);
	for (n = 0; n < m.n; n++) {
		/* a copy of exactly n octets, so that a sanitizer sees any overread */
		memset(&cut, 0, sizeof(cut));
		memcpy(cut.b, m.b, n);
		/* the answer's TTL needs only the answer section whole */
		if (dns_ttl_min(cut.b, n, T_MX, &ttl) != (n < answer_end ? -1 : 0) ||
		    dns_ttl_negative(cut.b, n, &ttl) != -1)
			bad++;
	}
	is_int(bad, 0, "every truncation is malformed, but for the answer TTL past the answer");
	is_int(dns_ttl_min(m.b, m.n, T_MX, &ttl), 0, "the whole message: parsed");
	is_int((int)ttl, 5, "the whole message: 5");
}

int
main(void)
{
	test_answers();
	test_negative();
	test_truncations();
	return tap_done();
}
