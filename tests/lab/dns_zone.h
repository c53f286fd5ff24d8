/*
 * dns_zone.h: the zone of lab-dns and the answers it gives. No I/O beyond
 * reading the zone file: answers are built from query bytes to reply bytes,
 * so the logic can be table-tested.
 *
 * Zone file, one record a line ('#' starts a comment, names are absolute
 * with or without the final dot, case does not matter):
 *	$TTL 300
 *	d.test            MX    10 mx1.d.test
 *	null.test         MX    0 .
 *	mx1.d.test        A     127.0.0.2
 *	mx1.d.test        AAAA  ::1
 *	_mta-sts.d.test   TXT   "v=STSv1; " "id=2024"
 *	www.d.test        CNAME mx1.d.test
 *	broken.test       FAULT servfail|timeout|truncate|refused [TYPE]
 */
#ifndef LAB_DNS_ZONE_H
#define LAB_DNS_ZONE_H

#include <stddef.h>
#include <stdint.h>

#define DNS_NAME_MAX	255	/* wire form */
#define DNS_UDP_MAX	512	/* without EDNS */
#define DNS_EDNS_MAX	4096	/* the most we answer over UDP with EDNS */
#define DNS_TCP_MAX	65535

enum dns_fault {
	DNS_FAULT_NONE = 0,
	DNS_FAULT_SERVFAIL,
	DNS_FAULT_TIMEOUT,	/* drop the query */
	DNS_FAULT_TRUNCATE,	/* TC over UDP, the full answer over TCP */
	DNS_FAULT_REFUSED
};

struct dns_zone;

/* What the server logs about one answer. */
struct dns_info {
	char		 name[DNS_NAME_MAX * 4 + 1];	/* printable */
	char		 type[16];
	const char	*rcode;
	const char	*fault;
	int		 answers;
	int		 truncated;
};

struct dns_zone	*dns_zone_load(const char *path, char *err, size_t errlen);
size_t		 dns_zone_count(const struct dns_zone *);
void		 dns_zone_free(struct dns_zone *);

/*
 * Answer the query q of qlen bytes. tcp says which transport the answer goes
 * over (its size limit and the truncate fault depend on it). Returns the
 * length written to out (at most outmax), or 0 to send nothing (not a query,
 * or the timeout fault).
 */
size_t	dns_zone_answer(const struct dns_zone *, const uint8_t *q, size_t qlen, int tcp,
	    uint8_t *out, size_t outmax, struct dns_info *);

const char *dns_zone_strfault(enum dns_fault);

#endif
