/*
 * smtp_parse.c: SMTP command lines, MAIL FROM and RCPT TO paths and their
 * parameters. No I/O; table-tested in tests/unit/test_smtp_parse.c and
 * fuzzed by tests/fuzz/fuzz_smtp_cmd.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "common/strutil.h"
#include "relay/smtp_parse.h"

static const char *const verb_names[SMTP_VERB_COUNT] = {
	"?", "HELO", "EHLO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT",
	"VRFY", "HELP", "STARTTLS", "AUTH"
};

/* Which verbs take no argument, which need one. */
static const unsigned char verb_noarg[SMTP_VERB_COUNT] = {
	[SMTP_VERB_DATA] = 1, [SMTP_VERB_RSET] = 1, [SMTP_VERB_QUIT] = 1,
	[SMTP_VERB_STARTTLS] = 1
};
static const unsigned char verb_needarg[SMTP_VERB_COUNT] = {
	[SMTP_VERB_HELO] = 1, [SMTP_VERB_EHLO] = 1, [SMTP_VERB_MAIL] = 1,
	[SMTP_VERB_RCPT] = 1, [SMTP_VERB_AUTH] = 1
};

static const struct {
	int		 code;
	const char	*status;
	const char	*text;
} perr_replies[SMTP_PERR_COUNT] = {
	[SMTP_PERR_OK] =		{ 250, "2.0.0", "Ok" },
	[SMTP_PERR_UNKNOWN_CMD] =	{ 500, "5.5.1", "Command unrecognized" },
	[SMTP_PERR_BAD_CHAR] =		{ 500, "5.5.2", "Invalid character in command" },
	[SMTP_PERR_TOO_LONG] =		{ 500, "5.5.2", "Line too long" },
	[SMTP_PERR_SYNTAX] =		{ 501, "5.5.4", "Syntax error in parameters" },
	[SMTP_PERR_NO_ARG_ALLOWED] =	{ 501, "5.5.4", "No parameters allowed" },
	[SMTP_PERR_ARG_REQUIRED] =	{ 501, "5.5.4", "Parameter required" },
	[SMTP_PERR_ADDR_SYNTAX] =	{ 501, "5.1.3", "Bad address syntax" },
	[SMTP_PERR_ADDR_TOO_LONG] =	{ 501, "5.1.3", "Address too long" },
	[SMTP_PERR_NULL_RCPT] =		{ 501, "5.1.3", "Null recipient not allowed" },
	[SMTP_PERR_SOURCE_ROUTE] =	{ 553, "5.1.3", "Source routes are not accepted" },
	[SMTP_PERR_ROUTING_CHAR] =	{ 553, "5.1.3",
	    "'%' and '!' are not accepted in a recipient's local part" },
	[SMTP_PERR_ADDR_LITERAL] =	{ 553, "5.1.3",
	    "Address literals are not accepted as recipient domain" },
	[SMTP_PERR_NEED_SMTPUTF8] =	{ 553, "5.6.7", "Non-ASCII address requires SMTPUTF8" },
	[SMTP_PERR_PARAM_UNKNOWN] =	{ 555, "5.5.4", "Unsupported parameter" },
	[SMTP_PERR_PARAM_VALUE] =	{ 501, "5.5.4", "Bad parameter value" },
	[SMTP_PERR_PARAM_NO_EHLO] =	{ 555, "5.5.4",
	    "MAIL parameters need a session that began with EHLO" },
};

const char *
smtp_verb_name(enum smtp_verb v)
{
	if ((unsigned)v >= SMTP_VERB_COUNT)
		return "?";
	return verb_names[v];
}

void
smtp_perr_reply(enum smtp_perr e, int *code, const char **status, const char **text)
{
	if ((unsigned)e >= SMTP_PERR_COUNT)
		e = SMTP_PERR_SYNTAX;
	*code = perr_replies[e].code;
	*status = perr_replies[e].status;
	*text = perr_replies[e].text;
}

enum smtp_perr
smtp_parse_cmd(char *line, size_t len, struct smtp_cmd *cmd)
{
	size_t	i, vlen;
	int	v;

	cmd->verb = SMTP_VERB_UNKNOWN;
	cmd->arg = "";
	if (len > SMTP_LINE_MAX - 2)
		return SMTP_PERR_TOO_LONG;
	for (i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			return SMTP_PERR_BAD_CHAR;
	while (len > 0 && line[len - 1] == ' ')
		line[--len] = '\0';
	for (vlen = 0; vlen < len && line[vlen] != ' '; vlen++)
		;
	for (v = SMTP_VERB_HELO; v < SMTP_VERB_COUNT; v++)
		if (strlen(verb_names[v]) == vlen &&
		    strncasecmp(line, verb_names[v], vlen) == 0)
			break;
	if (v == SMTP_VERB_COUNT)
		return SMTP_PERR_UNKNOWN_CMD;
	cmd->verb = (enum smtp_verb)v;
	i = vlen;
	while (i < len && line[i] == ' ')
		i++;
	cmd->arg = line + i;
	if (verb_noarg[v] && cmd->arg[0] != '\0')
		return SMTP_PERR_NO_ARG_ALLOWED;
	if (verb_needarg[v] && cmd->arg[0] == '\0')
		return SMTP_PERR_ARG_REQUIRED;
	return SMTP_PERR_OK;
}

int
smtp_parse_utf8_ok(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, n, k;
	unsigned long		 cp, min;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf) {
			n = 1; cp = p[i] & 0x1f; min = 0x80;
		} else if ((p[i] & 0xf0) == 0xe0) {
			n = 2; cp = p[i] & 0x0f; min = 0x800;
		} else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
			n = 3; cp = p[i] & 0x07; min = 0x10000;
		} else
			return 0;
		if (len - i <= n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

static int
literal_ok(const char *s, size_t len)
{
	char		buf[64];
	unsigned char	addr[16];

	if (len < 3 || s[0] != '[' || s[len - 1] != ']' || len - 2 >= sizeof(buf))
		return 0;
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, addr) == 1;
	return inet_pton(AF_INET, buf, addr) == 1;
}

int
smtp_parse_domain_ok(const char *s, size_t len, int utf8, int literal_allowed)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i, label = 0;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return 0;
	if (p[0] == '[')
		return literal_allowed && literal_ok(s, len);
	if (utf8 ? !smtp_parse_utf8_ok(s, len) : 0)
		return 0;
	for (i = 0; i <= len; i++) {
		if (i == len || p[i] == '.') {
			if (label == 0 || label > 63 || p[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (label == 0 && p[i] == '-')
			return 0;
		if (!(isalnum(p[i]) && p[i] < 0x80) && p[i] != '-' && !(utf8 && p[i] >= 0x80))
			return 0;
		label++;
	}
	return 1;
}

/* RFC 5321 atext, plus UTF-8 octets under SMTPUTF8 (RFC 6531). */
static int
atext(unsigned char c, int utf8)
{
	if (c >= 0x80)
		return utf8;
	return isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int
local_ok(const char *s, size_t len, int utf8)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i;

	if (len == 0)
		return 0;
	if (p[0] == '"') {
		if (len < 2 || p[len - 1] != '"')
			return 0;
		for (i = 1; i < len - 1; i++) {
			if (p[i] == '\\') {
				if (++i >= len - 1 || p[i] < 0x20 || p[i] > 0x7e)
					return 0;
			} else if (p[i] == '"' || (p[i] < 0x20) || p[i] == 0x7f ||
			    (p[i] >= 0x80 && !utf8))
				return 0;
		}
		return 1;
	}
	for (i = 0; i < len; i++) {
		if (p[i] == '.') {
			if (i == 0 || i == len - 1 || p[i - 1] == '.')
				return 0;
		} else if (!atext(p[i], utf8))
			return 0;
	}
	return 1;
}

/*
 * Find the path "<...>" at s: sets *inner and *ilen to what is between the
 * brackets and returns a pointer past the '>', or NULL.
 */
static const char *
path_span(const char *s, const char **inner, size_t *ilen)
{
	const char	*p;
	int		 quoted = 0;

	if (*s != '<')
		return NULL;
	for (p = s + 1; *p != '\0'; p++) {
		if (quoted && *p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (!quoted && *p == '>')
			break;
	}
	if (*p != '>')
		return NULL;
	*inner = s + 1;
	*ilen = (size_t)(p - s - 1);
	return p + 1;
}

/* The '@' that separates local part and domain: the last one outside quotes. */
static const char *
split_at(const char *s, size_t len)
{
	const char	*at = NULL;
	size_t		 i;
	int		 quoted = 0;

	for (i = 0; i < len; i++) {
		if (quoted && s[i] == '\\')
			i++;
		else if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && s[i] == '@')
			at = s + i;
	}
	return at;
}

static int
has_8bit(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

/* Check a mailbox "local@domain" (H5, H6); copy it to out. */
static enum smtp_perr
mailbox(const char *s, size_t len, int utf8, int is_rcpt, char *out)
{
	const char	*at;
	size_t		 llen, dlen;

	if (len + 2 > SMTP_PATH_MAX)
		return SMTP_PERR_ADDR_TOO_LONG;
	if (s[0] == '@')
		return SMTP_PERR_SOURCE_ROUTE;
	if (has_8bit(s, len)) {
		if (!utf8)
			return SMTP_PERR_NEED_SMTPUTF8;
		if (!smtp_parse_utf8_ok(s, len))
			return SMTP_PERR_ADDR_SYNTAX;
	}
	if ((at = split_at(s, len)) == NULL)
		return SMTP_PERR_ADDR_SYNTAX;
	llen = (size_t)(at - s);
	dlen = len - llen - 1;
	if (llen > SMTP_LOCAL_MAX || dlen > SMTP_DOMAIN_MAX)
		return SMTP_PERR_ADDR_TOO_LONG;
	if (!local_ok(s, llen, utf8))
		return SMTP_PERR_ADDR_SYNTAX;
	if (is_rcpt && (memchr(s, '%', llen) != NULL || memchr(s, '!', llen) != NULL))
		return SMTP_PERR_ROUTING_CHAR;
	if (is_rcpt && dlen > 0 && at[1] == '[')
		return SMTP_PERR_ADDR_LITERAL;
	if (!smtp_parse_domain_ok(at + 1, dlen, utf8, !is_rcpt))
		return SMTP_PERR_ADDR_SYNTAX;
	memcpy(out, s, len);
	out[len] = '\0';
	return SMTP_PERR_OK;
}

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static int
keyword_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || !isalnum((unsigned char)s[0]))
		return 0;
	for (i = 1; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
	return 1;
}

static int
value_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == '=' || s[i] == 0x7f)
			return 0;
	return 1;
}

static enum smtp_perr
mail_param(const char *kw, size_t klen, const char *val, size_t vlen,
    struct smtp_mail *m, unsigned *seen)
{
	char		num[24];
	unsigned	bit;

	if (!keyword_ok(kw, klen) || (val != NULL && !value_ok(val, vlen)))
		return SMTP_PERR_SYNTAX;
	if (klen == 4 && strncasecmp(kw, "SIZE", 4) == 0) {
		bit = 1;
		/* RFC 1870: size-value = 1*20DIGIT; one past 64 bits is over any limit (H7) */
		if (val == NULL || vlen > 20 || strspn(val, "0123456789") < vlen)
			return SMTP_PERR_PARAM_VALUE;
		memcpy(num, val, vlen);
		num[vlen] = '\0';
		if (strutil_parse_uint(num, &m->size) != 0)
			m->size = UINT64_MAX;
		m->has_size = 1;
	} else if (klen == 4 && strncasecmp(kw, "BODY", 4) == 0) {
		bit = 2;
		if (val != NULL && vlen == 4 && strncasecmp(val, "7BIT", 4) == 0)
			m->body_8bit = 0;
		else if (val != NULL && vlen == 8 && strncasecmp(val, "8BITMIME", 8) == 0)
			m->body_8bit = 1;
		else
			return SMTP_PERR_PARAM_VALUE;
	} else if (klen == 8 && strncasecmp(kw, "SMTPUTF8", 8) == 0) {
		bit = 4;
		if (val != NULL)
			return SMTP_PERR_PARAM_VALUE;
		m->smtputf8 = 1;
	} else if (klen == 4 && strncasecmp(kw, "AUTH", 4) == 0) {
		/* RFC 4954 5: accepted and ignored; we never relay the identity. */
		bit = 8;
		if (val == NULL)
			return SMTP_PERR_PARAM_VALUE;
	} else
		return SMTP_PERR_PARAM_UNKNOWN;
	if (*seen & bit)
		return SMTP_PERR_PARAM_VALUE;
	*seen |= bit;
	return SMTP_PERR_OK;
}

/*
 * " KEY=VALUE KEY ..." after the path; m NULL: any parameter is unknown;
 * esmtp 0 (HELO): any parameter is refused.
 */
static enum smtp_perr
params(const char *p, struct smtp_mail *m, int esmtp)
{
	const char	*kw, *eq, *end;
	unsigned	 seen = 0;
	enum smtp_perr	 e;

	if (*p != '\0' && *p != ' ')
		return SMTP_PERR_SYNTAX;
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return SMTP_PERR_OK;
		if (m == NULL)
			return SMTP_PERR_PARAM_UNKNOWN;
		if (!esmtp)
			return SMTP_PERR_PARAM_NO_EHLO;
		kw = p;
		end = strchr(p, ' ');
		if (end == NULL)
			end = p + strlen(p);
		eq = memchr(kw, '=', (size_t)(end - kw));
		if (eq != NULL)
			e = mail_param(kw, (size_t)(eq - kw), eq + 1,
			    (size_t)(end - eq - 1), m, &seen);
		else
			e = mail_param(kw, (size_t)(end - kw), NULL, 0, m, &seen);
		if (e != SMTP_PERR_OK)
			return e;
		p = end;
	}
}

/* "FROM:" or "TO:", case-insensitive; spaces after the colon tolerated. */
static const char *
prefix(const char *arg, const char *word)
{
	size_t len = strlen(word);

	if (strncasecmp(arg, word, len) != 0)
		return NULL;
	arg += len;
	while (*arg == ' ')
		arg++;
	return arg;
}

enum smtp_perr
smtp_parse_mail(const char *arg, int esmtp, struct smtp_mail *m)
{
	const char	*p, *inner, *rest;
	size_t		 ilen;
	enum smtp_perr	 e;

	memset(m, 0, sizeof(*m));
	if ((p = prefix(arg, "FROM:")) == NULL)
		return SMTP_PERR_SYNTAX;
	if ((rest = path_span(p, &inner, &ilen)) == NULL)
		return SMTP_PERR_ADDR_SYNTAX;
	if ((e = params(rest, m, esmtp)) != SMTP_PERR_OK)
		return e;
	if (ilen == 0)
		return SMTP_PERR_OK;	/* the null sender <> */
	return mailbox(inner, ilen, m->smtputf8, 0, m->addr);
}

int
smtp_parse_same_rcpt(const char *a, const char *b)
{
	const char	*ata = strrchr(a, '@'), *atb = strrchr(b, '@');

	/* the domain has no '@', so the last one ends the local part */
	if (ata == NULL || atb == NULL)
		return strcmp(a, b) == 0;
	return ata - a == atb - b && memcmp(a, b, (size_t)(ata - a)) == 0 &&
	    strcasecmp(ata + 1, atb + 1) == 0;
}

enum smtp_perr
smtp_parse_rcpt(const char *arg, int smtputf8, const char *hostname, struct smtp_rcpt *r)
{
	const char	*p, *inner, *rest;
	size_t		 ilen;
	enum smtp_perr	 e;

	memset(r, 0, sizeof(*r));
	if ((p = prefix(arg, "TO:")) == NULL)
		return SMTP_PERR_SYNTAX;
	if ((rest = path_span(p, &inner, &ilen)) == NULL)
		return SMTP_PERR_ADDR_SYNTAX;
	if ((e = params(rest, NULL, 1)) != SMTP_PERR_OK)
		return e;
	if (ilen == 0)
		return SMTP_PERR_NULL_RCPT;
	if (ilen == 10 && strncasecmp(inner, "postmaster", 10) == 0) {
		if (hostname == NULL || strlen(hostname) + 11 + 2 > SMTP_PATH_MAX)
			return SMTP_PERR_ADDR_SYNTAX;
		strutil_lcpy(r->addr, "postmaster@", sizeof(r->addr));
		strutil_lcat(r->addr, hostname, sizeof(r->addr));
		return SMTP_PERR_OK;
	}
	return mailbox(inner, ilen, smtputf8, 1, r->addr);
}
