/* strutil.c: bounded string copies, number/duration/size parsing, base32. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/strutil.h"

size_t
strutil_lcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len >= size ? size - 1 : len;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

size_t
strutil_lcat(char *dst, const char *src, size_t size)
{
	size_t dlen = strnlen(dst, size);

	if (dlen == size)
		return size + strlen(src);
	return dlen + strutil_lcpy(dst + dlen, src, size - dlen);
}

void
strutil_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* Digits then an optional one-letter unit from the table; value * unit. */
static int
parse_scaled(const char *s, const char *units, const uint64_t *mult, uint64_t *out)
{
	uint64_t	 v = 0, m = 1;
	const char	*p = s, *u;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '\0') {
		if ((u = strchr(units, tolower((unsigned char)*p))) == NULL || p[1] != '\0')
			return -1;
		m = mult[u - units];
	}
	if (m != 0 && v > UINT64_MAX / m)
		return -1;
	*out = v * m;
	return 0;
}

int
strutil_parse_duration(const char *s, uint64_t *out)
{
	static const uint64_t mult[] = { 1, 60, 3600, 86400, 604800 };

	return parse_scaled(s, "smhdw", mult, out);
}

int
strutil_parse_size(const char *s, uint64_t *out)
{
	static const uint64_t mult[] = { 1, 1024, 1024 * 1024, 1024 * 1024 * 1024 };

	return parse_scaled(s, "bkmg", mult, out);
}

int
strutil_parse_uint(const char *s, uint64_t *out)
{
	static const uint64_t mult[] = { 1 };

	return parse_scaled(s, "", mult, out);
}

void
strutil_format_duration(uint64_t s, char *buf, size_t len)
{
	if (s >= 86400 && s % 3600 == 0 && s % 86400 != 0)
		snprintf(buf, len, "%lluh", (unsigned long long)(s / 3600));
	else if (s >= 86400 && s % 86400 == 0)
		snprintf(buf, len, "%llud", (unsigned long long)(s / 86400));
	else if (s >= 3600 && s % 3600 == 0)
		snprintf(buf, len, "%lluh", (unsigned long long)(s / 3600));
	else if (s >= 60 && s % 60 == 0)
		snprintf(buf, len, "%llum", (unsigned long long)(s / 60));
	else
		snprintf(buf, len, "%llus", (unsigned long long)s);
}

void
strutil_base32(uint64_t v, char *out, size_t width)
{
	static const char digits[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	size_t i;

	for (i = width; i > 0; i--) {
		out[i - 1] = digits[v & 31];
		v >>= 5;
	}
	out[width] = '\0';
}

int
strutil_split(const char *s, int (*fn)(const char *, void *), void *arg)
{
	char	item[1024];
	size_t	n;
	int	r;

	for (;;) {
		while (*s == ',' || isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			return 0;
		n = strcspn(s, ", \t\r\n");
		if (n >= sizeof(item))
			return -1;
		memcpy(item, s, n);
		item[n] = '\0';
		if ((r = fn(item, arg)) != 0)
			return r;
		s += n;
	}
}

uint64_t
strutil_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
strutil_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}
