/* dns_zone.c: zone file parsing and answer building for lab-dns. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/strutil.h"
#include "common/xmalloc.h"
#include "tests/lab/dns_zone.h"
#include "tests/lab/lab_util.h"

#define DNS_T_A		1
#define DNS_T_NS	2
#define DNS_T_CNAME	5
#define DNS_T_SOA	6
#define DNS_T_PTR	12
#define DNS_T_MX	15
#define DNS_T_TXT	16
#define DNS_T_AAAA	28
#define DNS_T_SRV	33
#define DNS_T_OPT	41
#define DNS_T_TLSA	52
#define DNS_T_ANY	255

#define DNS_MAX_RECORDS	10000
#define DNS_MAX_CHAIN	8		/* CNAME hops followed */
#define DNS_RDATA_MAX	4096

struct dns_rr {
	char		*owner;		/* lowercase, no final dot; "" = root */
	uint16_t	 type;
	uint32_t	 ttl;
	uint8_t		*rdata;
	size_t		 rdlen;
	char		*target;	/* CNAME target, for chains */
};

struct dns_faultrule {
	char		*owner;
	uint16_t	 type;		/* 0 = every type */
	enum dns_fault	 fault;
};

struct dns_zone {
	struct dns_rr		*rr;
	size_t			 nrr;
	struct dns_faultrule	*faults;
	size_t			 nfaults;
	uint32_t		 ttl;
};

static const struct {
	const char	*name;
	uint16_t	 type;
} dns_types[] = {
	{ "A", DNS_T_A }, { "NS", DNS_T_NS }, { "CNAME", DNS_T_CNAME },
	{ "SOA", DNS_T_SOA }, { "PTR", DNS_T_PTR }, { "MX", DNS_T_MX },
	{ "TXT", DNS_T_TXT }, { "AAAA", DNS_T_AAAA }, { "SRV", DNS_T_SRV },
	{ "OPT", DNS_T_OPT }, { "TLSA", DNS_T_TLSA }, { "ANY", DNS_T_ANY },
};

static const char *const dns_faults[] = {
	"none", "servfail", "timeout", "truncate", "refused"
};

static const char *const dns_rcodes[] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"
};

const char *
dns_zone_strfault(enum dns_fault f)
{
	if ((unsigned)f >= sizeof(dns_faults) / sizeof(dns_faults[0]))
		return "unknown";
	return dns_faults[f];
}

static void
dns_type_name(uint16_t type, char *buf, size_t len)
{
	size_t	i;

	for (i = 0; i < sizeof(dns_types) / sizeof(dns_types[0]); i++)
		if (dns_types[i].type == type) {
			strutil_lcpy(buf, dns_types[i].name, len);
			return;
		}
	snprintf(buf, len, "TYPE%u", type);
}

static int
dns_type_parse(const char *s, uint16_t *type)
{
	size_t	i;

	for (i = 0; i < sizeof(dns_types) / sizeof(dns_types[0]); i++)
		if (strcasecmp(dns_types[i].name, s) == 0) {
			*type = dns_types[i].type;
			return 0;
		}
	return -1;
}

/* Text name -> lowercase without the final dot; -1 when not a valid name. */
static int
dns_name_norm(const char *in, char *out, size_t outlen)
{
	size_t	len = strlen(in), i, label = 0;

	if (strcmp(in, ".") == 0) {
		out[0] = '\0';
		return 0;
	}
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > 253 || len >= outlen)
		return -1;
	for (i = 0; i < len; i++) {
		if (in[i] == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if ((unsigned char)in[i] <= ' ' || (unsigned char)in[i] >= 0x7f)
			return -1;
		else if (++label > 63)
			return -1;
		out[i] = (char)tolower((unsigned char)in[i]);
	}
	out[len] = '\0';
	return label == 0 ? -1 : 0;
}

/* Normalised text name -> wire form; returns the length or -1. */
static int
dns_name_wire(const char *name, uint8_t *out, size_t outlen)
{
	const char	*p = name, *dot;
	size_t		 n = 0, l;

	while (*p != '\0') {
		dot = strchr(p, '.');
		l = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (l == 0 || l > 63 || n + l + 2 > outlen)
			return -1;
		out[n++] = (uint8_t)l;
		memcpy(out + n, p, l);
		n += l;
		p += l;
		if (*p == '.')
			p++;
	}
	if (n + 1 > outlen)
		return -1;
	out[n++] = 0;
	return (int)n;
}

static int
dns_rdata(uint16_t type, int argc, char **argv, uint8_t *rd, size_t *rdlen, char **target)
{
	char	name[DNS_NAME_MAX + 1];
	size_t	i, n = 0, l;
	char	*end;
	long	pref;
	int	w;

	switch (type) {
	case DNS_T_A:
		if (argc != 1 || inet_pton(AF_INET, argv[0], rd) != 1)
			return -1;
		*rdlen = 4;
		return 0;
	case DNS_T_AAAA:
		if (argc != 1 || inet_pton(AF_INET6, argv[0], rd) != 1)
			return -1;
		*rdlen = 16;
		return 0;
	case DNS_T_MX:
		if (argc != 2)
			return -1;
		pref = strtol(argv[0], &end, 10);
		if (*argv[0] == '\0' || *end != '\0' || pref < 0 || pref > 65535)
			return -1;
		rd[0] = (uint8_t)(pref >> 8);
		rd[1] = (uint8_t)pref;
		if (dns_name_norm(argv[1], name, sizeof(name)) == -1 ||
		    (w = dns_name_wire(name, rd + 2, DNS_RDATA_MAX - 2)) == -1)
			return -1;
		*rdlen = 2 + (size_t)w;
		return 0;
	case DNS_T_CNAME:
	case DNS_T_NS:
	case DNS_T_PTR:
		if (argc != 1 || dns_name_norm(argv[0], name, sizeof(name)) == -1 ||
		    (w = dns_name_wire(name, rd, DNS_RDATA_MAX)) == -1)
			return -1;
		*rdlen = (size_t)w;
		if (type == DNS_T_CNAME)
			*target = xstrdup(name);
		return 0;
	case DNS_T_TXT:
		if (argc < 1)
			return -1;
		for (i = 0; i < (size_t)argc; i++) {
			l = strlen(argv[i]);
			if (l > 255 || n + 1 + l > DNS_RDATA_MAX)
				return -1;
			rd[n++] = (uint8_t)l;
			memcpy(rd + n, argv[i], l);
			n += l;
		}
		*rdlen = n;
		return 0;
	default:
		return -1;
	}
}

static int
dns_fault_line(struct dns_zone *z, const char *owner, int argc, char **argv,
    char *err, size_t errlen)
{
	struct dns_faultrule	*f;
	size_t			 i;
	uint16_t		 type = 0;

	if (argc < 1 || argc > 2) {
		snprintf(err, errlen, "FAULT: want servfail, timeout, truncate or refused, "
		    "then an optional type");
		return -1;
	}
	for (i = 1; i < sizeof(dns_faults) / sizeof(dns_faults[0]); i++)
		if (strcasecmp(argv[0], dns_faults[i]) == 0)
			break;
	if (i == sizeof(dns_faults) / sizeof(dns_faults[0]) ||
	    (argc == 2 && dns_type_parse(argv[1], &type) == -1)) {
		snprintf(err, errlen, "FAULT: unknown fault %s or type", argv[0]);
		return -1;
	}
	z->faults = xreallocarray(z->faults, z->nfaults + 1, sizeof(*z->faults));
	f = &z->faults[z->nfaults++];
	f->owner = xstrdup(owner);
	f->type = type;
	f->fault = (enum dns_fault)i;
	return 0;
}

static int
dns_zone_line(void *arg, int argc, char **argv, char *err, size_t errlen)
{
	struct dns_zone	*z = arg;
	struct dns_rr	*rr;
	char		 owner[DNS_NAME_MAX + 1], *target = NULL;
	uint8_t		 rd[DNS_RDATA_MAX];
	size_t		 rdlen = 0;
	uint16_t	 type;
	uint64_t	 ttl;

	if (strcasecmp(argv[0], "$TTL") == 0) {
		if (argc != 2 || strutil_parse_uint(argv[1], &ttl) == -1 || ttl > 0x7fffffff) {
			snprintf(err, errlen, "$TTL: want seconds");
			return -1;
		}
		z->ttl = (uint32_t)ttl;
		return 0;
	}
	if (argc < 3 || dns_name_norm(argv[0], owner, sizeof(owner)) == -1) {
		snprintf(err, errlen, "want: name TYPE value... (bad name or too few words)");
		return -1;
	}
	if (strcasecmp(argv[1], "FAULT") == 0)
		return dns_fault_line(z, owner, argc - 2, argv + 2, err, errlen);
	if (dns_type_parse(argv[1], &type) == -1 ||
	    dns_rdata(type, argc - 2, argv + 2, rd, &rdlen, &target) == -1) {
		snprintf(err, errlen, "bad %s record (types: A AAAA MX TXT CNAME NS PTR)",
		    argv[1]);
		return -1;
	}
	if (z->nrr == DNS_MAX_RECORDS) {
		free(target);
		snprintf(err, errlen, "more than %d records", DNS_MAX_RECORDS);
		return -1;
	}
	z->rr = xreallocarray(z->rr, z->nrr + 1, sizeof(*z->rr));
	rr = &z->rr[z->nrr++];
	rr->owner = xstrdup(owner);
	rr->type = type;
	rr->ttl = z->ttl;
	rr->rdata = xmalloc(rdlen);
	memcpy(rr->rdata, rd, rdlen);
	rr->rdlen = rdlen;
	rr->target = target;
	return 0;
}

struct dns_zone *
dns_zone_load(const char *path, char *err, size_t errlen)
{
	struct dns_zone	*z = xcalloc(1, sizeof(*z));

	z->ttl = 300;
	if (lab_conf_read(path, dns_zone_line, z, err, errlen) == -1) {
		dns_zone_free(z);
		return NULL;
	}
	return z;
}

size_t
dns_zone_count(const struct dns_zone *z)
{
	return z->nrr + z->nfaults;
}

void
dns_zone_free(struct dns_zone *z)
{
	size_t	i;

	if (z == NULL)
		return;
	for (i = 0; i < z->nrr; i++) {
		free(z->rr[i].owner);
		free(z->rr[i].rdata);
		free(z->rr[i].target);
	}
	for (i = 0; i < z->nfaults; i++)
		free(z->faults[i].owner);
	free(z->rr);
	free(z->faults);
	free(z);
}

struct dns_query {
	uint16_t	 id;
	uint16_t	 flags;
	char		 name[DNS_NAME_MAX + 1];	/* lowercase, no final dot */
	uint16_t	 qtype;
	size_t		 qend;				/* end of the question */
	int		 edns;
	uint16_t	 udpsize;
};

struct dns_wbuf {
	uint8_t	*p;
	size_t	 len;
	size_t	 max;
	int	 full;
};

static void
w_bytes(struct dns_wbuf *w, const void *b, size_t n)
{
	if (w->full || n > w->max - w->len) {
		w->full = 1;
		return;
	}
	memcpy(w->p + w->len, b, n);
	w->len += n;
}

static void
w_u16(struct dns_wbuf *w, uint16_t v)
{
	uint8_t	b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	w_bytes(w, b, 2);
}

static void
w_u32(struct dns_wbuf *w, uint32_t v)
{
	w_u16(w, (uint16_t)(v >> 16));
	w_u16(w, (uint16_t)v);
}

static uint16_t
r_u16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/* 0 = a query; -1 = malformed (FORMERR). Bounds every byte it reads. */
static int
dns_parse_query(const uint8_t *q, size_t qlen, struct dns_query *dq)
{
	size_t	pos = 12, wire = 0, n = 0, l, i;

	if (r_u16(q + 4) != 1)
		return -1;
	for (;;) {
		if (pos >= qlen)
			return -1;
		l = q[pos];
		if (l == 0) {
			pos++;
			break;
		}
		if ((l & 0xc0) != 0 || pos + 1 + l > qlen)
			return -1;
		wire += l + 1;
		if (wire + 1 > DNS_NAME_MAX)
			return -1;
		if (n > 0)
			dq->name[n++] = '.';
		for (i = 0; i < l; i++)
			dq->name[n++] = (char)tolower(q[pos + 1 + i]);
		pos += 1 + l;
	}
	dq->name[n] = '\0';
	if (pos + 4 > qlen)
		return -1;
	dq->qtype = r_u16(q + pos);
	dq->qend = pos + 4;
	if (r_u16(q + 10) >= 1 && dq->qend + 11 <= qlen && q[dq->qend] == 0 &&
	    r_u16(q + dq->qend + 1) == DNS_T_OPT) {
		dq->edns = 1;
		dq->udpsize = r_u16(q + dq->qend + 3);
	}
	return 0;
}

static enum dns_fault
dns_find_fault(const struct dns_zone *z, const char *name, uint16_t qtype)
{
	size_t	i;

	for (i = 0; i < z->nfaults; i++)
		if (strcmp(z->faults[i].owner, name) == 0 &&
		    (z->faults[i].type == 0 || z->faults[i].type == qtype))
			return z->faults[i].fault;
	return DNS_FAULT_NONE;
}

static void
dns_put_rr(struct dns_wbuf *w, int is_qname, const struct dns_rr *rr)
{
	uint8_t	wire[DNS_NAME_MAX + 1];
	int	n;

	if (is_qname)
		w_u16(w, 0xc00c);	/* pointer to the question's name */
	else if ((n = dns_name_wire(rr->owner, wire, sizeof(wire))) != -1)
		w_bytes(w, wire, (size_t)n);
	else
		w->full = 1;
	w_u16(w, rr->type);
	w_u16(w, 1);
	w_u32(w, rr->ttl);
	w_u16(w, (uint16_t)rr->rdlen);
	w_bytes(w, rr->rdata, rr->rdlen);
}

/* The answer records for dq into w; returns the rcode. */
static int
dns_answers(const struct dns_zone *z, const struct dns_query *dq, struct dns_wbuf *w,
    int *count)
{
	const struct dns_rr	*cname;
	const char		*cur = dq->name;
	size_t			 i;
	int			 hop, exists;

	for (hop = 0; hop <= DNS_MAX_CHAIN; hop++) {
		exists = 0;
		cname = NULL;
		for (i = 0; i < z->nrr; i++)
			if (strcmp(z->rr[i].owner, cur) == 0) {
				exists = 1;
				if (z->rr[i].type == DNS_T_CNAME)
					cname = &z->rr[i];
			}
		for (i = 0; i < z->nfaults; i++)
			if (strcmp(z->faults[i].owner, cur) == 0)
				exists = 1;
		if (!exists)
			return 3;	/* NXDOMAIN, for the last name of a chain too */
		if (cname != NULL && dq->qtype != DNS_T_CNAME && dq->qtype != DNS_T_ANY) {
			dns_put_rr(w, hop == 0, cname);
			(*count)++;
			cur = cname->target;
			continue;
		}
		for (i = 0; i < z->nrr; i++)
			if (strcmp(z->rr[i].owner, cur) == 0 &&
			    (z->rr[i].type == dq->qtype || dq->qtype == DNS_T_ANY)) {
				dns_put_rr(w, hop == 0, &z->rr[i]);
				(*count)++;
			}
		return 0;
	}
	return 2;		/* CNAME loop: SERVFAIL */
}

/* Header, question, answers (unless tc or rcode), OPT. 0 when it does not fit. */
static size_t
dns_build(const struct dns_zone *z, const struct dns_query *dq, const uint8_t *q,
    int rcode, int tc, uint8_t *out, size_t limit, struct dns_info *info)
{
	struct dns_wbuf	 w = { out, 0, limit, 0 };
	int		 count = 0;

	w_bytes(&w, q, 12);			/* header, fixed below */
	w_bytes(&w, q + 12, dq->qend - 12);	/* the question as asked */
	if (rcode == 0 && !tc)
		rcode = dns_answers(z, dq, &w, &count);
	if (dq->edns) {
		w_bytes(&w, "\0", 1);
		w_u16(&w, DNS_T_OPT);
		w_u16(&w, 1232);
		w_u32(&w, 0);
		w_u16(&w, 0);
	}
	if (w.full)
		return 0;
	out[2] = (uint8_t)(0x80 | 0x04 | (tc ? 0x02 : 0) | (dq->flags >> 8 & 0x01));
	out[3] = (uint8_t)(0x80 | rcode);
	out[4] = 0;
	out[5] = 1;
	out[6] = (uint8_t)(count >> 8);
	out[7] = (uint8_t)count;
	out[8] = out[9] = 0;
	out[10] = 0;
	out[11] = dq->edns ? 1 : 0;
	info->rcode = dns_rcodes[rcode];
	info->answers = count;
	info->truncated = tc;
	return w.len;
}

/* A reply of the header alone: for malformed or unsupported queries. */
static size_t
dns_header_only(const uint8_t *q, int rcode, uint8_t *out, size_t outmax,
    struct dns_info *info)
{
	if (outmax < 12)
		return 0;
	memset(out, 0, 12);
	out[0] = q[0];
	out[1] = q[1];
	out[2] = (uint8_t)(0x80 | (q[2] & 0x79));	/* QR, opcode and RD kept */
	out[3] = (uint8_t)rcode;
	info->rcode = dns_rcodes[rcode];
	return 12;
}

size_t
dns_zone_answer(const struct dns_zone *z, const uint8_t *q, size_t qlen, int tcp,
    uint8_t *out, size_t outmax, struct dns_info *info)
{
	struct dns_query	dq;
	enum dns_fault		fault;
	size_t			limit, n;

	memset(info, 0, sizeof(*info));
	strutil_lcpy(info->name, "-", sizeof(info->name));
	strutil_lcpy(info->type, "-", sizeof(info->type));
	info->fault = "none";
	if (qlen < 12 || (q[2] & 0x80) != 0)
		return 0;			/* not a query: never answer */
	memset(&dq, 0, sizeof(dq));
	dq.id = r_u16(q);
	dq.flags = r_u16(q + 2);
	if (((dq.flags >> 11) & 0xf) != 0)
		return dns_header_only(q, 4, out, outmax, info);
	if (dns_parse_query(q, qlen, &dq) == -1)
		return dns_header_only(q, 1, out, outmax, info);
	lab_escape(dq.name[0] != '\0' ? dq.name : ".", dq.name[0] != '\0' ?
	    strlen(dq.name) : 1, info->name, sizeof(info->name));
	dns_type_name(dq.qtype, info->type, sizeof(info->type));
	if (tcp)
		limit = DNS_TCP_MAX;
	else if (dq.edns)
		limit = dq.udpsize < DNS_UDP_MAX ? DNS_UDP_MAX :
		    dq.udpsize > DNS_EDNS_MAX ? DNS_EDNS_MAX : dq.udpsize;
	else
		limit = DNS_UDP_MAX;
	if (limit > outmax)
		limit = outmax;
	fault = dns_find_fault(z, dq.name, dq.qtype);
	info->fault = dns_zone_strfault(fault);
	switch (fault) {
	case DNS_FAULT_TIMEOUT:
		return 0;
	case DNS_FAULT_SERVFAIL:
		return dns_build(z, &dq, q, 2, 0, out, limit, info);
	case DNS_FAULT_REFUSED:
		return dns_build(z, &dq, q, 5, 0, out, limit, info);
	case DNS_FAULT_TRUNCATE:
		if (!tcp)
			return dns_build(z, &dq, q, 0, 1, out, limit, info);
		break;
	case DNS_FAULT_NONE:
		break;
	}
	if ((n = dns_build(z, &dq, q, 0, 0, out, limit, info)) != 0)
		return n;
	if (!tcp)				/* too big for UDP: TC */
		return dns_build(z, &dq, q, 0, 1, out, limit, info);
	return dns_build(z, &dq, q, 2, 0, out, limit, info);
}
