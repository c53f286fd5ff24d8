/*
 * fuzz_dsn.c: DSN construction (queue/dsn.c). The input is split at 0x1e
 * into the original header section, then per recipient an address, a reason
 * and a remote MTA. Invariants: every line ends in CRLF and is at most 998
 * octets, and the boundary's delimiter occurs only as a delimiter.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/dsn.h"

#define MAXFIELDS	31

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_lines(const char *p, size_t len)
{
	size_t i, col = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '\r') {
			if (i + 1 >= len || p[i + 1] != '\n')
				abort();
			i++;
			col = 0;
		} else if (p[i] == '\n' || ++col > DSN_LINE_MAX)
			abort();
	}
	if (col != 0)
		abort();
}

/* Exactly the delimiters we wrote: three or four parts and the close. */
static void
check_boundary(const char *p)
{
	const char	*b, *e, *s;
	char		 delim[128];
	size_t		 n = 0;

	if ((b = strstr(p, "boundary=\"")) == NULL ||
	    (e = strchr(b + 10, '"')) == NULL || e - b - 10 > 70)
		abort();
	(void)snprintf(delim, sizeof(delim), "\r\n--%.*s", (int)(e - b - 10),
	    b + 10);
	for (s = strstr(p, delim); s != NULL; s = strstr(s + 1, delim))
		n++;
	if (n != 3 && n != 4)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dsn_rcpt	 r[MAXFIELDS / 3 + 1];
	struct dsn_msg	 m;
	char		*buf, *f[MAXFIELDS], *out;
	size_t		 nf = 0, i, len;

	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	f[nf++] = buf;
	for (i = 0; i < size && nf < MAXFIELDS; i++)
		if (buf[i] == 0x1e) {
			buf[i] = '\0';
			f[nf++] = buf + i + 1;
		}
	memset(&m, 0, sizeof(m));
	memset(r, 0, sizeof(r));
	for (i = 1; i < nf; i += 3) {
		r[m.nrcpts].addr = f[i];
		r[m.nrcpts].reason = i + 1 < nf ? f[i + 1] : NULL;
		r[m.nrcpts].remote_mta = i + 2 < nf ? f[i + 2] : NULL;
		r[m.nrcpts].last_attempt = 1795400000;
		m.nrcpts++;
	}
	m.hostname = "relay.example.test";
	m.queue_id = "0ABCDEFGHJK12345";
	m.dsn_id = "0ABCDEFGHJK99999";
	m.sender = "s@example.test";
	m.arrival = 1795000000;
	m.now = 1795400000;
	m.headers = f[0];
	m.headers_len = strlen(f[0]);
	m.rcpts = r;
	if (dsn_build(&m, &out, &len) == 0) {
		if (strlen(out) != len)
			abort();
		check_lines(out, len);
		check_boundary(out);
		free(out);
	} else if (m.nrcpts != 0)
		abort();
	free(buf);
	return 0;
}
