/*
 * sts_txt.c: the _mta-sts TXT record parser (RFC 8461 3.1; S3, S4, S5).
 *
 * The grammar, from RFC 8461 3.1 (%s: case-sensitive):
 *   sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
 *   sts-field       = sts-id / sts-extension
 *   sts-field-delim = *WSP ";" *WSP
 *   sts-version     = %s"v" *WSP "=" *WSP %s"STSv1"
 *   sts-id          = %s"id" *WSP "=" *WSP 1*32(ALPHA / DIGIT)
 *   sts-extension   = sts-ext-name *WSP "=" *WSP sts-ext-value
 *   sts-ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *   sts-ext-value   = 1*(%x21-3A / %x3C / %x3E-7E)
 *
 * Decisions where the RFC leaves room:
 * - S4 says records "that do not begin with v=STSv1;" are discarded. We
 *   read that through the grammar: a record is an STSv1 candidate when it
 *   begins with sts-version followed by *WSP ";" (so "v = STSv1 ;" counts,
 *   "v=STSv10;" and "v=STSv1" alone do not). Candidates are then parsed
 *   strictly: anything the grammar refuses (trailing white space without a
 *   ";", an id of 33 characters, an empty id, a bad extension) makes the
 *   record malformed, and the domain has no (new) policy.
 * - The id is required (3.1: "id: ... (required)"). A field named "id" is
 *   always read as sts-id, never as an extension. If id appears more than
 *   once, the first wins, as RFC 8461 3.2 says for repeated policy fields.
 */
#include <stdio.h>
#include <string.h>

#include "policy/sts_txt.h"

/* A cursor over the strings of one record, read as if joined (S3). */
struct cursor {
	const struct sts_txt_string	*s;
	size_t				 n;	/* strings */
	size_t				 i;	/* current string */
	size_t				 off;	/* offset in it */
	size_t				 pos;	/* offset in the joined record */
};

static void
cur_init(struct cursor *c, const struct sts_txt_string *s, size_t n)
{
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->n = n;
}

/* Next octet, or -1 at the end of the record. */
static int
cur_peek(struct cursor *c)
{
	while (c->i < c->n && c->off >= c->s[c->i].len) {
		c->i++;
		c->off = 0;
	}
	if (c->i >= c->n)
		return -1;
	return (unsigned char)c->s[c->i].data[c->off];
}

static void
cur_next(struct cursor *c)
{
	if (cur_peek(c) != -1) {
		c->off++;
		c->pos++;
	}
}

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* The octet before the cursor, or -1 at the start. */
static int
last_octet(const struct cursor *c)
{
	size_t	i = c->i, off = c->off;

	while (off == 0) {
		if (i == 0)
			return -1;
		i--;
		off = c->s[i].len;
	}
	return (unsigned char)c->s[i].data[off - 1];
}

static void
skip_wsp(struct cursor *c)
{
	while (is_wsp(cur_peek(c)))
		cur_next(c);
}

/* Consume the exact case-sensitive literal; 0 or -1 (cursor then moved). */
static int
expect(struct cursor *c, const char *lit)
{
	for (; *lit != '\0'; lit++) {
		if (cur_peek(c) != (unsigned char)*lit)
			return -1;
		cur_next(c);
	}
	return 0;
}

/* sts-version *WSP ";" : the S4 candidate prefix. Leaves c after ";". */
static int
version_prefix(struct cursor *c)
{
	if (expect(c, "v") == -1)
		return -1;
	skip_wsp(c);
	if (expect(c, "=") == -1)
		return -1;
	skip_wsp(c);
	if (expect(c, "STSv1") == -1)
		return -1;
	skip_wsp(c);
	return expect(c, ";");
}

static int
bad(char *reason, size_t len, const struct cursor *c, const char *what)
{
	if (reason != NULL && len > 0)
		snprintf(reason, len, "malformed STSv1 record at offset %zu: %s",
		    c->pos, what);
	return -1;
}

/* One field at the cursor; sets *gotid/id on the first sts-id. */
static int
parse_field(struct cursor *c, char *id, int *gotid, char *reason, size_t rlen)
{
	char	 name[33], value[STS_TXT_ID_MAX + 1];
	size_t	 n = 0;
	int	 ch;

	while ((ch = cur_peek(c)) != -1 && (is_alnum(ch) ||
	    (n > 0 && (ch == '_' || ch == '-' || ch == '.')))) {
		if (n == sizeof(name) - 1)
			return bad(reason, rlen, c, "field name longer than 32");
		name[n++] = (char)ch;
		cur_next(c);
	}
	if (n == 0)
		return bad(reason, rlen, c, "expected a field name");
	name[n] = '\0';
	skip_wsp(c);
	if (expect(c, "=") == -1)
		return bad(reason, rlen, c, "expected '=' after field name");
	skip_wsp(c);
	n = 0;
	if (strcmp(name, "id") == 0) {
		while (is_alnum(cur_peek(c))) {
			if (n == STS_TXT_ID_MAX)
				return bad(reason, rlen, c, "id longer than 32 characters");
			value[n++] = (char)cur_peek(c);
			cur_next(c);
		}
		if (n == 0)
			return bad(reason, rlen, c, "id must be 1-32 letters or digits");
		value[n] = '\0';
		if (!*gotid) {
			memcpy(id, value, n + 1);
			*gotid = 1;
		}
		return 0;
	}
	/* sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E) */
	while ((ch = cur_peek(c)) != -1 && ch >= 0x21 && ch <= 0x7e &&
	    ch != ';' && ch != '=') {
		n++;
		cur_next(c);
	}
	if (n == 0)
		return bad(reason, rlen, c, "empty value for an extension field");
	return 0;
}

static int
parse_record(const struct sts_txt_string *s, size_t n, char *id,
    char *reason, size_t rlen)
{
	struct cursor	c;
	int		gotid = 0, nfields = 0;

	cur_init(&c, s, n);
	if (version_prefix(&c) == -1)
		return bad(reason, rlen, &c, "does not start with v=STSv1;");
	/* we are after the first delimiter's ";" */
	for (;;) {
		skip_wsp(&c);
		if (cur_peek(&c) == -1)
			break;			/* [sts-field-delim] at the end */
		if (parse_field(&c, id, &gotid, reason, rlen) == -1)
			return -1;
		nfields++;
		skip_wsp(&c);
		if (cur_peek(&c) == -1 && is_wsp(last_octet(&c)))
			return bad(reason, rlen, &c,
			    "white space at the end without ';'");
		if (cur_peek(&c) == -1)
			break;
		if (expect(&c, ";") == -1)
			return bad(reason, rlen, &c, "expected ';' or end of record");
	}
	if (nfields == 0 || !gotid) {
		c.pos = 0;
		return bad(reason, rlen, &c, "no id field");
	}
	return 0;
}

static int
candidate(const struct sts_txt_string *s, size_t n)
{
	struct cursor	c;

	cur_init(&c, s, n);
	return version_prefix(&c) == 0;
}

int
sts_txt_is_candidate(const char *p, size_t len)
{
	struct sts_txt_string	s = { p, len };

	return candidate(&s, 1);
}

int
sts_txt_parse_record(const char *p, size_t len, char id[STS_TXT_ID_MAX + 1],
    char *reason, size_t reasonlen)
{
	struct sts_txt_string	s = { p, len };

	if (reason != NULL && reasonlen > 0)
		reason[0] = '\0';
	return parse_record(&s, 1, id, reason, reasonlen);
}

static void
strlcpy_reason(struct sts_txt_result *res, const char *s)
{
	snprintf(res->reason, sizeof(res->reason), "%s", s);
}

enum sts_txt_status
sts_txt_parse(const struct sts_txt_record *recs, size_t nrecs,
    struct sts_txt_result *res)
{
	size_t	i, found = 0, which = 0;

	memset(res, 0, sizeof(*res));
	for (i = 0; i < nrecs; i++) {
		if (candidate(recs[i].strings, recs[i].nstrings)) {
			if (found++ == 0)
				which = i;
		}
	}
	if (found == 0) {
		res->status = STS_TXT_NONE;
		if (nrecs == 0)
			strlcpy_reason(res, "no TXT record");
		else
			snprintf(res->reason, sizeof(res->reason),
			    "no TXT record starts with v=STSv1; (%zu ignored)",
			    nrecs);
		return res->status;
	}
	if (found > 1) {
		res->status = STS_TXT_MULTIPLE;
		snprintf(res->reason, sizeof(res->reason),
		    "%zu TXT records start with v=STSv1; (exactly one allowed)",
		    found);
		return res->status;
	}
	if (parse_record(recs[which].strings, recs[which].nstrings, res->id,
	    res->reason, sizeof(res->reason)) == -1) {
		res->id[0] = '\0';
		res->status = STS_TXT_MALFORMED;
		return res->status;
	}
	res->status = STS_TXT_OK;
	return res->status;
}

const char *
sts_txt_strstatus(enum sts_txt_status st)
{
	switch (st) {
	case STS_TXT_OK:
		return "ok";
	case STS_TXT_NONE:
		return "none";
	case STS_TXT_MULTIPLE:
		return "multiple";
	case STS_TXT_MALFORMED:
		return "malformed";
	}
	return "unknown";
}
