/*
 * fuzz_sts_cache.c: the policy cache record decoder. Invariant: a record
 * that decodes encodes back to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cache_entry	 e;
	uint8_t			*buf;
	size_t			 len;

	if (cache_decode(data, size, &e) == -1)
		return 0;
	if (cache_encode(&e, &buf, &len) == -1 || len != size ||
	    memcmp(buf, data, size) != 0)
		abort();
	free(buf);
	cache_entry_free(&e);
	return 0;
}
