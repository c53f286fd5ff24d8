/*
 * fuzz_smtp_cmd.c: the command line parser and the MAIL/RCPT path parsers.
 * Input: one command line (without CRLF). Invariants: no crash, addresses
 * fit their bounds (H6), recipients never carry source routes, '%', '!' or
 * address literals (H5), non-ASCII only with SMTPUTF8, MAIL after HELO
 * takes no parameter (RFC 5321 4.1.1.11).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/strutil.h"
#include "relay/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_rcpt(const struct smtp_rcpt *r, int utf8)
{
	const char	*at = strrchr(r->addr, '@');
	size_t		 i, len = strlen(r->addr);

	if (at == NULL || len + 2 > SMTP_PATH_MAX || r->addr[0] == '@')
		abort();
	if (at[1] == '[')
		abort();
	if (strncmp(r->addr, "postmaster@", 11) != 0 &&
	    (memchr(r->addr, '%', (size_t)(at - r->addr)) != NULL ||
	    memchr(r->addr, '!', (size_t)(at - r->addr)) != NULL))
		abort();
	for (i = 0; i < len; i++)
		if (!utf8 && (unsigned char)r->addr[i] >= 0x80)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char			 line[SMTP_LINE_MAX + 16];
	struct smtp_cmd		 cmd;
	struct smtp_mail	 m;
	char			 helo_addr[SMTP_PATH_MAX];
	struct smtp_rcpt	 r;
	int			 code;
	const char		*st, *txt;
	enum smtp_perr		 e;

	if (size >= sizeof(line))
		size = sizeof(line) - 1;
	memcpy(line, data, size);
	line[size] = '\0';
	e = smtp_parse_cmd(line, strlen(line), &cmd);
	smtp_perr_reply(e, &code, &st, &txt);
	if (e != SMTP_PERR_OK && code < 500)
		abort();
	if (e != SMTP_PERR_OK)
		return 0;
	/* after HELO: never a parameter, and the same address as after EHLO */
	if (cmd.verb == SMTP_VERB_MAIL && smtp_parse_mail(cmd.arg, 0, &m) == SMTP_PERR_OK) {
		if (m.has_size || m.body_8bit || m.smtputf8)
			abort();
		strutil_lcpy(helo_addr, m.addr, sizeof(helo_addr));
		if (smtp_parse_mail(cmd.arg, 1, &m) != SMTP_PERR_OK ||
		    strcmp(m.addr, helo_addr) != 0)
			abort();
	}
	if (cmd.verb == SMTP_VERB_MAIL && smtp_parse_mail(cmd.arg, 1, &m) == SMTP_PERR_OK) {
		if (strlen(m.addr) + 2 > SMTP_PATH_MAX || m.addr[0] == '@')
			abort();
		if (m.addr[0] != '\0' && strrchr(m.addr, '@') == NULL)
			abort();
	}
	if (cmd.verb == SMTP_VERB_RCPT) {
		if (smtp_parse_rcpt(cmd.arg, 0, "relay.test", &r) == SMTP_PERR_OK)
			check_rcpt(&r, 0);
		if (smtp_parse_rcpt(cmd.arg, 1, "relay.test", &r) == SMTP_PERR_OK)
			check_rcpt(&r, 1);
	}
	return 0;
}
