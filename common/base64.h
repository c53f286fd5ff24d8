/* base64.h: RFC 4648 base64 (standard alphabet, with padding), strict. */
#ifndef COMMON_BASE64_H
#define COMMON_BASE64_H

#include <stddef.h>

/* The encoding of len bytes, NUL-terminated, allocated: free() it. */
char	*base64_encode(const void *, size_t len);

/*
 * Decode inlen characters into out (at most outcap bytes). Refused (-1):
 * a length that is not a multiple of 4, a character outside the alphabet
 * (white space included), padding anywhere but at the very end, and
 * non-zero bits under the padding (only the canonical form is accepted).
 * inlen / 4 * 3 bytes of room are always enough.
 */
int	 base64_decode(const char *in, size_t inlen, unsigned char *out,
	    size_t outcap, size_t *outlen);

#endif
