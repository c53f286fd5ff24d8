/*
 * fuzz_smtp_reply.c: the outbound client's reply and capability parsers.
 * Input: lines separated by LF, fed as one reply after another.
 * Invariants: no crash; a complete reply has a 2xx-5xx code, an enhanced
 * code (if any) of the same class, printable text within its bound; a line
 * over 512 octets with CRLF is always refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay/smtp_client_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(const struct smtpc_reply *r)
{
	size_t i;

	if (r->code < 200 || r->code > 559)
		abort();
	if (r->enhanced[0] != '\0' && r->enhanced[0] != '0' + r->code / 100)
		abort();
	if (strlen(r->text) >= sizeof(r->text))
		abort();
	for (i = 0; r->text[i] != '\0'; i++)
		if ((unsigned char)r->text[i] < 0x20 || (unsigned char)r->text[i] >= 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtpc_reply	 r;
	struct smtpc_caps	 caps;
	char			 line[SMTPC_REPLY_LINE_MAX + 1];
	const uint8_t		*p = data, *end = data + size, *nl;
	size_t			 len;
	enum smtpc_reply_status	 st;

	memset(&caps, 0, sizeof(caps));
	smtpc_reply_init(&r);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		len = (size_t)((nl != NULL ? nl : end) - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len + 2 > SMTPC_REPLY_LINE_MAX) {
			/* the session refuses it before the line is complete */
			p = nl != NULL ? nl + 1 : end;
			smtpc_reply_init(&r);
			continue;
		}
		memcpy(line, p, len);
		st = smtpc_reply_feed(&r, line, len);
		if (st == SMTPC_REPLY_MORE || st == SMTPC_REPLY_DONE) {
			if (r.nlines > 1)
				smtpc_caps_line(&caps, r.line_text);
		}
		if (st == SMTPC_REPLY_DONE)
			check(&r);
		if (st != SMTPC_REPLY_MORE)
			smtpc_reply_init(&r);
		p = nl != NULL ? nl + 1 : end;
	}
	if (caps.flags & ~0x3fu)
		abort();
	memset(line, 'x', sizeof(line));
	smtpc_reply_init(&r);
	if (smtpc_reply_feed(&r, line, SMTPC_REPLY_LINE_MAX - 1) != SMTPC_REPLY_ERR_LONG)
		abort();
	return 0;
}
