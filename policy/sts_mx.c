/*
 * sts_mx.c: domain normalization and the MTA-STS mx pattern matcher (S22).
 */
#include <string.h>

#include "policy/sts_mx.h"

static int
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static unsigned char
to_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static int
fail(const char **why, const char *reason)
{
	if (why != NULL)
		*why = reason;
	return -1;
}

/* Check one label of len bytes: LDH, 1-63, no hyphen at either end. */
static int
check_label(const char *s, size_t len, const char **why)
{
	size_t	i;

	if (len == 0)
		return fail(why, "empty label");
	if (len > STS_MX_LABEL_MAX)
		return fail(why, "label longer than 63 octets");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x80)
			return fail(why, "not an A-label (8-bit octet)");
		if (c == '*')
			return fail(why, "'*' allowed only as the whole leftmost label");
		if (!is_alpha(c) && !is_digit(c) && c != '-')
			return fail(why, "invalid character in name");
	}
	if (s[0] == '-' || s[len - 1] == '-')
		return fail(why, "label starts or ends with a hyphen");
	return 0;
}

int
sts_mx_domain_normalize(const char *in, size_t len, char *out, size_t outlen,
    const char **why)
{
	size_t	 i, start, lastlen;
	int	 alldigits;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0)
		return fail(why, "empty name");
	if (len > STS_MX_NAME_MAX)
		return fail(why, "name longer than 253 octets");
	if (outlen <= len)
		return fail(why, "name too long for buffer");
	start = 0;
	lastlen = 0;
	for (i = 0; i <= len; i++) {
		if (i < len && in[i] != '.')
			continue;
		if (check_label(in + start, i - start, why) == -1)
			return -1;
		lastlen = i - start;
		start = i + 1;
	}
	/* The last label: a TLD is never all digits (RFC 3696 2); 192.0.2.1 */
	alldigits = 1;
	for (i = len - lastlen; i < len; i++)
		if (!is_digit((unsigned char)in[i]))
			alldigits = 0;
	if (alldigits)
		return fail(why, "looks like an IP address");
	for (i = 0; i < len; i++)
		out[i] = (char)to_lower((unsigned char)in[i]);
	out[len] = '\0';
	return 0;
}

int
sts_mx_pattern_parse(const char *in, size_t len, char *out, size_t outlen,
    const char **why)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (in[i] == ':' || in[i] == '[')
			return fail(why, "looks like an IP address");
	}
	if (len >= 2 && in[0] == '*' && in[1] == '.') {
		if (outlen < 3)
			return fail(why, "name too long for buffer");
		/* the wildcard label counts toward the 253 octets too */
		if (len - 2 > STS_MX_NAME_MAX - 2)
			return fail(why, "name longer than 253 octets");
		if (sts_mx_domain_normalize(in + 2, len - 2, out + 2,
		    outlen - 2, why) == -1)
			return -1;
		out[0] = '*';
		out[1] = '.';
		return 0;
	}
	return sts_mx_domain_normalize(in, len, out, outlen, why);
}

/* Length of s without one trailing dot. */
static size_t
name_len(const char *s)
{
	size_t	len = strlen(s);

	if (len > 0 && s[len - 1] == '.')
		len--;
	return len;
}

static int
equal_nocase(const char *a, const char *b, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (to_lower((unsigned char)a[i]) != to_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

int
sts_mx_match(const char *pattern, const char *host)
{
	size_t	 plen, hlen, i;

	plen = name_len(pattern);
	hlen = name_len(host);
	if (plen == 0 || hlen == 0)
		return 0;
	if (plen >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* "*.d.test": host = one non-empty label + "." + "d.test" */
		const char *suffix = pattern + 1;	/* ".d.test" */
		size_t slen = plen - 1;

		if (slen < 2 || hlen <= slen)
			return 0;
		if (!equal_nocase(host + hlen - slen, suffix, slen))
			return 0;
		for (i = 0; i < hlen - slen; i++)
			if (host[i] == '.' || host[i] == '*')
				return 0;
		return 1;
	}
	if (memchr(pattern, '*', plen) != NULL)
		return 0;
	return plen == hlen && equal_nocase(pattern, host, plen);
}
