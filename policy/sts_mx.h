/*
 * sts_mx.h: domain name normalization and MTA-STS "mx" pattern matching
 * (RFC 8461 section 4.1, checklist S1, S17, S22). Pure functions, no I/O.
 *
 * Names are handled in A-label (ASCII) form only. A recipient domain in
 * U-label form (bytes >= 0x80) is refused by sts_mx_domain_normalize(): the
 * caller must convert it to A-labels (IDNA) before asking for a policy, or
 * treat the recipient as having an unusable domain. We carry no IDNA code.
 */
#ifndef POLICY_STS_MX_H
#define POLICY_STS_MX_H

#include <stddef.h>

/* Longest name in presentation form without the trailing dot (RFC 1035). */
#define STS_MX_NAME_MAX		253
#define STS_MX_LABEL_MAX	63
/* Buffer size that holds any normalized name or pattern. */
#define STS_MX_NAMEBUF		(STS_MX_NAME_MAX + 1)

/*
 * Normalize a host or domain name given as len bytes: ASCII lowercase, one
 * trailing dot removed; every label 1-63 letters, digits or hyphens, not
 * starting or ending with a hyphen; whole name 1-253 octets; a name whose
 * last label is all digits (an IPv4 address or a fragment of one) is
 * refused. Writes the result (NUL-terminated) to out, which must hold
 * STS_MX_NAMEBUF bytes. Returns 0, or -1 with a short reason in *why (a
 * static string) when why is not NULL.
 */
int	sts_mx_domain_normalize(const char *in, size_t len, char *out,
	    size_t outlen, const char **why);

/*
 * Parse one policy "mx" value (S17): `["*."] domain`, A-labels only. A "*"
 * anywhere but as the whole leftmost label, an IP address, a U-label or a
 * malformed name is refused. The normalized pattern ("*.example.net" or
 * "mail.example.net") goes to out (STS_MX_NAMEBUF bytes). 0 or -1 (*why).
 */
int	sts_mx_pattern_parse(const char *in, size_t len, char *out,
	    size_t outlen, const char **why);

/*
 * S22: does MX host name `host` (taken from the MX record) match `pattern`?
 * Case-insensitive, a trailing dot on either side ignored; "*.d.test"
 * matches exactly one extra leftmost label: "mail.d.test", but neither
 * "d.test" nor "a.b.d.test". Any strings may be passed; returns 1 or 0.
 */
int	sts_mx_match(const char *pattern, const char *host);

#endif
