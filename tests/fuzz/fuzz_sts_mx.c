/*
 * fuzz_sts_mx.c: name normalization and the mx matcher. The input is
 * "pattern\nhost". Invariants: normalizing is idempotent; matching ignores
 * case and one trailing dot on either side (S22); a wildcard pattern never
 * matches its own base name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/sts_mx.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
upper_dot(const char *in, char *out, size_t outlen)
{
	size_t	i, n = strlen(in);

	if (n + 2 > outlen)
		abort();
	for (i = 0; i < n; i++)
		out[i] = (in[i] >= 'a' && in[i] <= 'z') ? (char)(in[i] - 32) : in[i];
	out[n] = '.';
	out[n + 1] = '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	 pat[512], host[512], a[STS_MX_NAMEBUF], b[STS_MX_NAMEBUF];
	char	 up[STS_MX_NAMEBUF + 2];
	const char *nl;
	size_t	 plen, hlen;
	int	 m;

	if (size >= sizeof(pat) || memchr(data, '\0', size) != NULL)
		return 0;
	nl = memchr(data, '\n', size);
	plen = nl != NULL ? (size_t)(nl - (const char *)data) : size;
	hlen = nl != NULL ? size - plen - 1 : 0;
	memcpy(pat, data, plen);
	pat[plen] = '\0';
	memcpy(host, data + size - hlen, hlen);
	host[hlen] = '\0';

	if (sts_mx_domain_normalize(pat, plen, a, sizeof(a), NULL) == 0 &&
	    (sts_mx_domain_normalize(a, strlen(a), b, sizeof(b), NULL) != 0 ||
	    strcmp(a, b) != 0))
		abort();
	if (sts_mx_pattern_parse(pat, plen, a, sizeof(a), NULL) == 0) {
		if (sts_mx_pattern_parse(a, strlen(a), b, sizeof(b), NULL) != 0 ||
		    strcmp(a, b) != 0)
			abort();
		if (a[0] == '*' && sts_mx_match(a, a + 2))
			abort();
		m = sts_mx_match(a, host);
		if (strlen(host) + 2 < sizeof(up) && host[0] != '\0' &&
		    host[strlen(host) - 1] != '.') {
			upper_dot(host, up, sizeof(up));
			if (sts_mx_match(a, up) != m)
				abort();
		}
	}
	(void)sts_mx_match(pat, host);
	return 0;
}
