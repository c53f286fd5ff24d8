/*
 * smtp_client_reply.c: SMTP reply and EHLO capability parsing for the
 * outbound client. Pure: table-tested (tests/unit/test_smtp_client_reply.c)
 * and fuzzed (tests/fuzz/fuzz_smtp_reply.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/strutil.h"
#include "relay/smtp_client_reply.h"

void
smtpc_reply_init(struct smtpc_reply *r)
{
	memset(r, 0, sizeof(*r));
	r->line_text = "";
}

const char *
smtpc_reply_strerror(enum smtpc_reply_status st)
{
	switch (st) {
	case SMTPC_REPLY_MORE:
	case SMTPC_REPLY_DONE:
		return "ok";
	case SMTPC_REPLY_ERR_SYNTAX:
		return "malformed reply line";
	case SMTPC_REPLY_ERR_CODE:
		return "bad or inconsistent reply code";
	case SMTPC_REPLY_ERR_LONG:
		return "reply line too long";
	case SMTPC_REPLY_ERR_TOO_BIG:
		return "multi-line reply too long";
	}
	return "?";
}

static int
isdig(char c)
{
	return c >= '0' && c <= '9';
}

/* 1 to 3 digits; returns the count or 0. */
static size_t
digits(const char *p, size_t max)
{
	size_t n = 0;

	while (n < max && isdig(p[n]))
		n++;
	if (n == 0 || isdig(p[n]))
		return 0;
	return n;
}

size_t
smtpc_reply_enhanced(const char *text, int cls, char *out, size_t outlen)
{
	size_t	n, a, b;

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if (text[0] != '0' + cls || text[1] != '.')
		return 0;
	if ((a = digits(text + 2, 3)) == 0 || text[2 + a] != '.')
		return 0;
	if ((b = digits(text + 3 + a, 3)) == 0)
		return 0;
	n = 3 + a + b;
	if (text[n] != '\0' && text[n] != ' ' && text[n] != '\t')
		return 0;
	if (out != NULL) {
		if (n + 1 > outlen)
			return 0;
		memcpy(out, text, n);
		out[n] = '\0';
	}
	return n;
}

/* Append one line's text for reports: printable ASCII only. */
static void
add_text(struct smtpc_reply *r, const char *t)
{
	size_t	len = strlen(r->text), i;

	if (r->nlines > 1 && len + 3 < sizeof(r->text)) {
		memcpy(r->text + len, " / ", 4);
		len += 3;
	}
	for (i = 0; t[i] != '\0' && len + 1 < sizeof(r->text); i++) {
		unsigned char c = (unsigned char)t[i];

		r->text[len++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	r->text[len] = '\0';
}

enum smtpc_reply_status
smtpc_reply_feed(struct smtpc_reply *r, char *line, size_t len)
{
	int		code;
	char		sep;
	const char	*text;
	size_t		n;

	if (len + 2 > SMTPC_REPLY_LINE_MAX)
		return SMTPC_REPLY_ERR_LONG;
	r->nlines++;
	r->octets += len + 2;
	if (r->nlines > SMTPC_REPLY_LINES_MAX || r->octets > SMTPC_REPLY_OCTETS_MAX)
		return SMTPC_REPLY_ERR_TOO_BIG;
	if (len < 3 || !isdig(line[0]) || !isdig(line[1]) || !isdig(line[2]) ||
	    memchr(line, '\0', len) != NULL)
		return SMTPC_REPLY_ERR_SYNTAX;
	line[len] = '\0';
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (line[0] < '2' || line[0] > '5' || line[1] > '5')
		return SMTPC_REPLY_ERR_CODE;
	if (r->nlines > 1 && code != r->code)
		return SMTPC_REPLY_ERR_CODE;
	r->code = code;
	sep = len == 3 ? ' ' : line[3];
	if (sep != ' ' && sep != '-')
		return SMTPC_REPLY_ERR_SYNTAX;
	text = len == 3 ? "" : line + 4;
	r->line_text = text;
	if (r->nlines == 1) {
		n = smtpc_reply_enhanced(text, code / 100, r->enhanced, sizeof(r->enhanced));
		text += n;
	} else if (r->enhanced[0] != '\0' &&
	    (n = smtpc_reply_enhanced(text, code / 100, NULL, 0)) != 0 &&
	    strncmp(text, r->enhanced, n) == 0)
		text += n;
	while (*text == ' ' || *text == '\t')
		text++;
	add_text(r, text);
	return sep == '-' ? SMTPC_REPLY_MORE : SMTPC_REPLY_DONE;
}

/* The keyword of an EHLO line, case-insensitive, then end or a blank. */
static const char *
keyword(const char *text, const char *kw)
{
	size_t n = strlen(kw);

	if (strncasecmp(text, kw, n) != 0)
		return NULL;
	if (text[n] != '\0' && text[n] != ' ' && text[n] != '=')
		return NULL;
	return text + n;
}

void
smtpc_caps_line(struct smtpc_caps *c, const char *text)
{
	static const struct {
		const char	*kw;
		unsigned	 flag;
	} table[] = {
		{ "PIPELINING", SMTPC_CAP_PIPELINING },
		{ "8BITMIME", SMTPC_CAP_8BITMIME },
		{ "SMTPUTF8", SMTPC_CAP_SMTPUTF8 },
		{ "STARTTLS", SMTPC_CAP_STARTTLS },
		{ "ENHANCEDSTATUSCODES", SMTPC_CAP_ENHANCED },
	};
	const char	*p;
	uint64_t	 v;
	size_t		 i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (keyword(text, table[i].kw) != NULL) {
			c->flags |= table[i].flag;
			return;
		}
	if ((p = keyword(text, "SIZE")) == NULL)
		return;
	c->flags |= SMTPC_CAP_SIZE;
	c->size = 0;
	while (*p == ' ')
		p++;
	/* "SIZE" alone or "SIZE 0": no fixed limit (RFC 1870 4) */
	if (*p != '\0' && strutil_parse_uint(p, &v) == 0)
		c->size = v;
}

void
smtpc_caps_format(const struct smtpc_caps *c, char *buf, size_t len)
{
	char tmp[32];

	buf[0] = '\0';
	if (c->flags & SMTPC_CAP_PIPELINING)
		strutil_lcat(buf, " PIPELINING", len);
	if (c->flags & SMTPC_CAP_SIZE) {
		snprintf(tmp, sizeof(tmp), " SIZE=%llu", (unsigned long long)c->size);
		strutil_lcat(buf, tmp, len);
	}
	if (c->flags & SMTPC_CAP_8BITMIME)
		strutil_lcat(buf, " 8BITMIME", len);
	if (c->flags & SMTPC_CAP_SMTPUTF8)
		strutil_lcat(buf, " SMTPUTF8", len);
	if (c->flags & SMTPC_CAP_STARTTLS)
		strutil_lcat(buf, " STARTTLS", len);
	if (c->flags & SMTPC_CAP_ENHANCED)
		strutil_lcat(buf, " ENHANCEDSTATUSCODES", len);
	if (buf[0] == ' ')
		memmove(buf, buf + 1, strlen(buf));
}
