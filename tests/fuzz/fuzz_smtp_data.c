/*
 * fuzz_smtp_data.c: the DATA state machine, fed in splits chosen by the
 * input. The first octet seeds the split sizes. Invariants: the message is
 * never accepted when the input holds a bare CR or LF before the end (H2);
 * the output never holds a bare CR or LF; the output is never longer than
 * the input; the end is only ever a <CRLF>.<CRLF> (H1); a split does not
 * change the outcome.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "relay/smtp_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct outcome {
	int			 ended;
	size_t			 used;
	enum smtp_data_result	 result;
	size_t			 outlen;
};

static struct outcome
run(const uint8_t *in, size_t len, uint8_t seed, struct evbuffer *out)
{
	struct smtp_data	d;
	struct outcome		o;
	size_t			off = 0, n, used;
	unsigned		s = seed;

	memset(&o, 0, sizeof(o));
	smtp_data_init(&d, out, 4096, 5);
	while (off < len) {
		s = s * 1103515245u + 12345u;
		n = seed == 0 ? len - off : 1 + (s >> 16) % 13;
		if (n > len - off)
			n = len - off;
		o.ended = smtp_data_feed(&d, in + off, n, &used);
		off += used;
		if (o.ended)
			break;
	}
	o.used = off;
	o.result = smtp_data_result(&d);
	o.outlen = evbuffer_get_length(out);
	return o;
}

/* Is there a CR not followed by LF or an LF not preceded by CR in p[0..len)? */
static int
bare(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == '\r' && (i + 1 == len || p[i + 1] != '\n'))
			return 1;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer	*a, *b;
	struct outcome	 oa, ob;
	uint8_t		*flat;

	if (size < 1)
		return 0;
	a = evbuffer_new();
	b = evbuffer_new();
	if (a == NULL || b == NULL)
		abort();
	oa = run(data + 1, size - 1, data[0], a);
	ob = run(data + 1, size - 1, 0, b);
	if (oa.ended != ob.ended || oa.used != ob.used || oa.result != ob.result ||
	    oa.outlen != ob.outlen)
		abort();
	if (oa.outlen > oa.used)
		abort();
	if (oa.ended) {
		/* H1: the consumed input ends in CRLF.CRLF, or is ".CRLF" alone */
		if (oa.used < 3 || memcmp(data + 1 + oa.used - 3, ".\r\n", 3) != 0)
			abort();
		if (oa.used > 3 && (oa.used < 5 ||
		    memcmp(data + 1 + oa.used - 5, "\r\n", 2) != 0))
			abort();
		/* H2: a bare CR or LF in the message is never accepted */
		if (oa.result == SMTP_DATA_OK && bare(data + 1, oa.used))
			abort();
	}
	flat = evbuffer_pullup(a, -1);
	if (oa.outlen > 0 && (flat == NULL || bare(flat, oa.outlen) ||
	    memchr(flat, '\0', oa.outlen) != NULL))
		abort();
	if (oa.outlen > 0 && memcmp(flat, evbuffer_pullup(b, -1), oa.outlen) != 0)
		abort();
	evbuffer_free(a);
	evbuffer_free(b);
	return 0;
}
