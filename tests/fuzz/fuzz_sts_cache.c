/*
 * fuzz_sts_cache.c: the policy cache record decoder. Invariant: a record
 * of the current version that decodes encodes back to the same bytes; one
 * of an older version encodes to a current record that does so in turn.
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
	if (cache_encode(&e, &buf, &len) == -1)
		abort();
	cache_entry_free(&e);
	if (data[0] != CACHE_VERSION) {		/* an older record: upgraded */
		if (buf[0] != CACHE_VERSION)
			abort();
		(void)LLVMFuzzerTestOneInput(buf, len);
	} else if (len != size || memcmp(buf, data, size) != 0)
		abort();
	free(buf);
	return 0;
}
