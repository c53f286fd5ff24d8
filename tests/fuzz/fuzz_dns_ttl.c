/*
 * fuzz_dns_ttl.c: the TTL walk over raw DNS messages (policy/dns_ttl.c).
 * The first octet picks the record type asked for, the rest is the message.
 * Invariants: -1 or 0; a TTL read is at most 2^31 - 1 (RFC 2181 8), or
 * UINT32_MAX for "no such record".
 */
#include <stdint.h>
#include <stdlib.h>

#include "policy/dns_ttl.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t	ttl;
	int		rc;

	if (size < 1)
		return 0;
	rc = dns_ttl_min(data + 1, size - 1, data[0], &ttl);
	if ((rc != 0 && rc != -1) || (rc == 0 && ttl != UINT32_MAX && ttl > 0x7fffffffU))
		abort();
	rc = dns_ttl_negative(data + 1, size - 1, &ttl);
	if ((rc != 0 && rc != -1) || ttl > 0x7fffffffU || (rc == -1 && ttl != 0))
		abort();
	return 0;
}
