/*
 * idna.h: internationalised domain names (RFC 5890, RFC 5891) in A-label
 * form, the form every DNS query, MTA-STS policy lookup and policy mx
 * comparison uses (RFC 8461 section 4.1). U-labels are converted with
 * libidn2 (UTS #46 non-transitional processing, NFC input); an ASCII name,
 * "xn--" labels included, only goes to lower case, without the library.
 */
#ifndef COMMON_IDNA_H
#define COMMON_IDNA_H

#include <stddef.h>

#define IDNA_LABEL_MAX	63	/* octets of a label */
#define IDNA_NAME_MAX	253	/* characters of a name, without a final dot */

/*
 * The A-label form of a domain name, lower case, into out (outlen bytes
 * with the NUL). 0 on success; -1 with *err (a static string: libidn2's
 * text or ours, may be NULL) when the name is not a valid IDNA name, a
 * label is longer than 63 octets, the name longer than 253 characters, or
 * it does not fit out. A final dot is kept.
 */
int	idna_to_alabel(const char *in, char *out, size_t outlen, const char **err);

/* Does the name need more than lowercasing (a byte that is not ASCII)? */
int	idna_needs_library(const char *in);

#endif
