/*
 * test_resolver_dns.h: a tiny DNS responder for tests: a UDP socket on
 * 127.0.0.1 in the test's own event loop, answering from a zone the test
 * changes as it goes.
 */
#ifndef TESTS_UNIT_TEST_RESOLVER_DNS_H
#define TESTS_UNIT_TEST_RESOLVER_DNS_H

#include "common/netaddr.h"

struct event_base;
struct dns_responder;

#define DNS_T_A		1
#define DNS_T_CNAME	5
#define DNS_T_MX	15
#define DNS_T_TXT	16
#define DNS_T_AAAA	28

enum dns_behave { DNS_ANSWER, DNS_NXDOMAIN, DNS_SERVFAIL, DNS_REFUSED, DNS_DROP,
	DNS_GARBAGE };

/* Listens on 127.0.0.1, an ephemeral port written to *ep. NULL on failure. */
struct dns_responder *dns_responder_start(struct event_base *, struct netaddr_endpoint *ep);
void	dns_responder_free(struct dns_responder *);

/*
 * Set (or replace) what (name, type) gets. answers: NULL-terminated specs
 * "mx:10:host", "a:1.2.3.4", "aaaa:::1", "cname:target", "txt:s1|s2" (one
 * record, strings split on '|'), "txt@owner:..." (a record of another
 * owner, after a CNAME). Unknown names get NXDOMAIN. A spec may start with
 * "ttl=N;" (the record's TTL, default 60); "soa:T:M" puts an SOA record of
 * TTL T and MINIMUM M in the authority section.
 */
void	dns_responder_set(struct dns_responder *, const char *name, int type,
	    enum dns_behave, const char *const *answers);
/* Queries received so far for (name, type); name NULL: all queries. */
int	dns_responder_count(struct dns_responder *, const char *name, int type);

#endif
