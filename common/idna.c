/*
 * idna.c: domain names to A-label form (see idna.h). An ASCII name is only
 * lowercased, "xn--" labels included: libidn2 would refuse some names DNS
 * accepts (a "--" in positions 3 and 4, an underscore under STD3) and
 * A-labels registered under IDNA2003 that IDNA2008 disallows (xn--ls8h.la),
 * and mail to them has always worked. RFC 5891 5.3 leaves checking an
 * A-label to the lookup application; an A-label that names nothing fails
 * in DNS (NXDOMAIN, 5.1.2) like any other name.
 */
#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "common/idna.h"
#include "common/strutil.h"

int
idna_needs_library(const char *in)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)in; *p != '\0'; p++)
		if (*p >= 0x80)
			return 1;
	return 0;
}

/* Label and name lengths of a result (ASCII), a final dot aside. */
static int
check_lengths(const char *s, const char **err)
{
	size_t	len = strlen(s), label = 0, i;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0) {
		*err = "empty domain name";	/* "." or only ignored code points */
		return -1;
	}
	if (len > IDNA_NAME_MAX) {
		*err = "domain name longer than 253 characters";
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			label = 0;
			continue;
		}
		if (++label > IDNA_LABEL_MAX) {
			*err = "domain label longer than 63 octets";
			return -1;
		}
	}
	return 0;
}

int
idna_to_alabel(const char *in, char *out, size_t outlen, const char **err)
{
	const char	*dummy;
	char		*a = NULL;
	int		 rc;

	if (err == NULL)
		err = &dummy;
	*err = NULL;
	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (in[0] == '\0') {
		*err = "empty domain name";
		return -1;
	}
	if (!idna_needs_library(in)) {
		if (strutil_lcpy(out, in, outlen) >= outlen) {
			*err = "domain name too long";
			out[0] = '\0';
			return -1;
		}
		strutil_lower(out);
	} else {
		rc = idn2_to_ascii_8z(in, &a, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
		if (rc != IDN2_OK) {
			*err = idn2_strerror(rc);
			return -1;
		}
		if (strutil_lcpy(out, a, outlen) >= outlen) {
			idn2_free(a);
			*err = "domain name too long";
			out[0] = '\0';
			return -1;
		}
		idn2_free(a);
		strutil_lower(out);
	}
	if (check_lengths(out, err) == -1) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}
