/*
 * fuzz_sts_txt.c: the _mta-sts TXT parser. The input is a list of records
 * separated by 0x1e, each a list of strings separated by 0x1f; the whole
 * input is also parsed as one joined record. Invariant: an accepted id is
 * 1-32 letters or digits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/sts_txt.h"

#define MAXSTRS	64
#define MAXRECS	16

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_id(const char *id)
{
	size_t	i, n = strlen(id);

	if (n == 0 || n > STS_TXT_ID_MAX)
		abort();
	for (i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		    (id[i] >= '0' && id[i] <= '9')))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sts_txt_string	strs[MAXSTRS];
	struct sts_txt_record	recs[MAXRECS];
	struct sts_txt_result	res;
	char			id[STS_TXT_ID_MAX + 1], reason[160];
	size_t			i, start = 0, nstr = 0, nrec = 0, first = 0;

	if (sts_txt_parse_record((const char *)data, size, id, reason,
	    sizeof(reason)) == 0)
		check_id(id);
	(void)sts_txt_is_candidate((const char *)data, size);
	for (i = 0; i <= size && nstr < MAXSTRS && nrec < MAXRECS; i++) {
		if (i < size && data[i] != 0x1e && data[i] != 0x1f)
			continue;
		strs[nstr].data = (const char *)data + start;
		strs[nstr].len = i - start;
		nstr++;
		start = i + 1;
		if (i == size || data[i] == 0x1e) {
			recs[nrec].strings = strs + first;
			recs[nrec].nstrings = nstr - first;
			nrec++;
			first = nstr;
		}
	}
	if (sts_txt_parse(recs, nrec, &res) == STS_TXT_OK)
		check_id(res.id);
	else if (res.reason[0] == '\0' || res.id[0] != '\0')
		abort();
	return 0;
}
