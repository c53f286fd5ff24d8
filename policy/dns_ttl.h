/*
 * dns_ttl.h: the TTL of the records an answer is made of, read from the raw
 * DNS message (c-ares 1.18 parses MX records without their TTLs). Pure: no
 * I/O, every length checked against the message, so it can be fuzzed.
 */
#ifndef POLICY_DNS_TTL_H
#define POLICY_DNS_TTL_H

#include <stddef.h>
#include <stdint.h>

/*
 * The smallest TTL of the answer-section records of type `type` or CNAME
 * (the chain that led to them) in the message (abuf, alen), in seconds;
 * UINT32_MAX when the answer section holds none of them. RFC 2181 8: a TTL
 * with the top bit set counts as 0. 0 on success, -1 when the message is
 * malformed (a header, name or record running past the end, a bad name).
 */
int	dns_ttl_min(const unsigned char *abuf, size_t alen, int type, uint32_t *ttl);

/*
 * RFC 2308 5: how long an answer without the records asked for (NXDOMAIN,
 * NODATA) may be reused: the smaller of the TTL and the MINIMUM field of
 * the SOA record in the authority section; 0 when there is no SOA (such an
 * answer is not to be kept). 0 on success, -1 when the message is malformed.
 */
int	dns_ttl_negative(const unsigned char *abuf, size_t alen, uint32_t *ttl);

#endif
