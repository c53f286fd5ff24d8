/*
 * fuzz_sts_policy.c: the policy text parser and the mx matcher. Invariants
 * on success: a known mode, max_age within the cap, at least one mx unless
 * the mode is none, every pattern already normalized and matching a host
 * built from it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/sts_mx.h"
#include "policy/sts_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_pattern(const char *pat)
{
	char	out[STS_MX_NAMEBUF], host[STS_MX_NAMEBUF + 8];

	if (sts_mx_pattern_parse(pat, strlen(pat), out, sizeof(out), NULL) != 0 ||
	    strcmp(out, pat) != 0)
		abort();
	if (pat[0] == '*') {
		snprintf(host, sizeof(host), "x%s", pat + 1);
		if (!sts_mx_match(pat, host) || sts_mx_match(pat, pat + 2))
			abort();
	} else if (!sts_mx_match(pat, pat))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sts_policy	pol, copy;
	char			err[256];
	size_t			i;

	if (sts_policy_parse((const char *)data, size, &pol, err, sizeof(err)) == -1) {
		if (err[0] == '\0' || pol.mx != NULL)
			abort();
		return 0;
	}
	if (pol.mode != STS_MODE_NONE && pol.mode != STS_MODE_TESTING &&
	    pol.mode != STS_MODE_ENFORCE)
		abort();
	if (pol.max_age > STS_POLICY_MAX_AGE_CAP ||
	    (pol.mode != STS_MODE_NONE && pol.nmx == 0) || pol.nmx > STS_POLICY_MAX_MX)
		abort();
	for (i = 0; i < pol.nmx; i++)
		check_pattern(pol.mx[i]);
	sts_policy_copy(&copy, &pol);
	sts_policy_free(&copy);
	sts_policy_free(&pol);
	return 0;
}
