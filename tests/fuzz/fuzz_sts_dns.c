/*
 * fuzz_sts_dns.c: DNS answers as the resolver reads them (c-ares parsing
 * plus our bounds, sorting and TXT joining). The first octet picks the query
 * type (MX, TXT, A, AAAA), the rest is the answer. Invariants: counts and
 * lengths within the bounds, MX sorted by preference.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/resolver.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
on_mx(const struct resolver_mx_result *r, void *arg)
{
	size_t	i;

	if (r->status != RESOLVER_OK && r->nmx != 0)
		abort();
	if (r->nmx > RESOLVER_MAX_RECORDS || (r->null_mx && r->nmx != 0))
		abort();
	for (i = 0; i < r->nmx; i++) {
		if (strlen(r->mx[i].host) == 0 || strlen(r->mx[i].host) >= 256)
			abort();
		if (i > 0 && r->mx[i - 1].pref > r->mx[i].pref)
			abort();
	}
}

static void
on_txt(const struct resolver_txt_result *r, void *arg)
{
	size_t	i;

	if (r->ntxt > RESOLVER_MAX_RECORDS || (r->status != RESOLVER_OK && r->ntxt != 0))
		abort();
	for (i = 0; i < r->ntxt; i++)
		if (r->txt[i].len > RESOLVER_MAX_TXT || r->txt[i].data[r->txt[i].len] != '\0')
			abort();
}

static void
on_addr(const struct resolver_addr_result *r, void *arg)
{
	if (r->naddrs > RESOLVER_MAX_RECORDS || (r->status != RESOLVER_OK && r->naddrs != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int types[] = { RESOLVER_TYPE_MX, RESOLVER_TYPE_TXT,
	    RESOLVER_TYPE_A, RESOLVER_TYPE_AAAA };
	int	type;

	if (size < 1 || size > 65536)
		return 0;
	type = types[data[0] % 4];
	if (type == RESOLVER_TYPE_MX)
		resolver_parse_answer(type, data + 1, (int)size - 1, (void *)on_mx, NULL);
	else if (type == RESOLVER_TYPE_TXT)
		resolver_parse_answer(type, data + 1, (int)size - 1, (void *)on_txt, NULL);
	else
		resolver_parse_answer(type, data + 1, (int)size - 1, (void *)on_addr, NULL);
	return 0;
}
