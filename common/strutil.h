/* strutil.h: bounded strings and the small parsers every module needs. */
#ifndef COMMON_STRUTIL_H
#define COMMON_STRUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Copy/append with truncation; return the length they tried to create. */
size_t	strutil_lcpy(char *, const char *, size_t);
size_t	strutil_lcat(char *, const char *, size_t);

/* ASCII-only lowercase in place (domain names). */
void	strutil_lower(char *);

/*
 * Durations: "90" or "90s", "5m", "2h", "5d", "1w". Sizes: "1024", "64k",
 * "10m", "1g" (powers of 1024). Both refuse signs, overflow and trailing junk.
 */
int	strutil_parse_duration(const char *, uint64_t *seconds);
int	strutil_parse_size(const char *, uint64_t *bytes);
int	strutil_parse_uint(const char *, uint64_t *);
/* "1d2h", "45s" ... compact human form of a number of seconds */
void	strutil_format_duration(uint64_t seconds, char *, size_t);

/* Crockford base32 (0-9 A-Z without I L O U), big-endian, fixed width. */
void	strutil_base32(uint64_t, char *out, size_t width);

/*
 * Split a list on commas and/or white space: calls fn for each non-empty item
 * (NUL-terminated copy, at most 1023 bytes; longer items return -1).
 * Stops and returns fn's value when it is non-zero.
 */
int	strutil_split(const char *, int (*fn)(const char *, void *), void *);

/* Monotonic and wall time helpers. */
uint64_t strutil_now_ms(void);		/* CLOCK_MONOTONIC in ms */
uint64_t strutil_now_us(void);		/* CLOCK_MONOTONIC in us */

#endif
