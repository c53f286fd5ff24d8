/*
 * sts_policy.h: the MTA-STS policy text parser (RFC 8461 section 3.2,
 * checklist S15, S16, S17 and the max_age cap of "Ours"). Pure: no I/O.
 */
#ifndef POLICY_STS_POLICY_H
#define POLICY_STS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "policy/sts_mx.h"

#define STS_POLICY_MAX_BODY	65536		/* S10: 64 KiB */
#define STS_POLICY_MAX_AGE_CAP	31557600	/* Ours: one year */
#define STS_POLICY_MAX_MX	256		/* more makes the policy invalid */

enum sts_mode {
	STS_MODE_NONE = 0,
	STS_MODE_TESTING,
	STS_MODE_ENFORCE
};

struct sts_policy {
	enum sts_mode	  mode;
	uint32_t	  max_age;	/* seconds, capped at STS_POLICY_MAX_AGE_CAP */
	uint64_t	  max_age_published; /* as published (up to 10 digits) */
	char		**mx;		/* normalized patterns: "mail.d.test", "*.d.test" */
	size_t		  nmx;
	size_t		  nmx_skipped;	/* invalid mx lines left out (see .c) */
	char		  warning[160];	/* first thing ignored, "" if none */
};

/*
 * Parse a policy body of len octets (any octet, NUL included, may occur;
 * len > STS_POLICY_MAX_BODY is refused). On success returns 0 and fills
 * *pol (free with sts_policy_free). On failure returns -1, leaves *pol
 * empty and writes a precise reason to err ("line 3: mode: unknown value
 * 'enfroce'"); the caller reports it as sts-policy-invalid (S17).
 */
int	sts_policy_parse(const char *text, size_t len, struct sts_policy *pol,
	    char *err, size_t errlen);
void	sts_policy_free(struct sts_policy *);
/* Deep copy (dst is overwritten, not freed). */
void	sts_policy_copy(struct sts_policy *dst, const struct sts_policy *src);

/* S22 over all patterns: 1 if host matches one of pol's mx patterns. */
int	sts_policy_mx_match(const struct sts_policy *, const char *host);

const char *sts_mode_name(enum sts_mode);	/* "enforce", "testing", "none" */
int	sts_mode_parse(const char *, enum sts_mode *);	/* 0 or -1 */

#endif
