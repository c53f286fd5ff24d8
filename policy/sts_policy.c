/*
 * sts_policy.c: the MTA-STS policy text parser (RFC 8461 3.2; S15-S17).
 *
 * The grammar, from RFC 8461 3.2 (%s: case-sensitive):
 *   sts-policy-record = sts-policy-field *WSP
 *                       *(sts-policy-term sts-policy-field *WSP) [sts-policy-term]
 *   sts-policy-field-delim = ":" *WSP
 *   version: %s"STSv1"   mode: %s"testing" / %s"enforce" / %s"none"
 *   max_age: 1*10(DIGIT) mx: ["*."] Domain
 *   sts-policy-ext-name  = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *   sts-policy-ext-value = sts-policy-vchar [*(%x20 / sts-policy-vchar) sts-policy-vchar]
 *   sts-policy-vchar     = VCHAR / UTF8-2 / UTF8-3 / UTF8-4
 *   sts-policy-term      = LF / CRLF
 *
 * So: LF or CRLF line ends, trailing white space allowed, the last line may
 * lack its end, any order, unknown keys ignored (but still well-formed),
 * no white space before ":". For a repeated field other than mx the first
 * occurrence wins and the others are ignored (3.2: "all entries except for
 * the first SHOULD be ignored"), even when their values are bad.
 *
 * Decisions where the RFC leaves room:
 * - Empty or white-space-only lines are skipped. The grammar has no empty
 *   line, but one carries no field, so skipping cannot change the meaning.
 * - Any other line that is not `key: value` (no key, white space before
 *   ":", a control character, a bare CR, bad UTF-8) makes the policy
 *   invalid: the body is then not a policy (an HTML error page, a proxy's
 *   banner) and must not be half-read.
 * - An mx line whose value is empty or invalid (an IP address, "*" other
 *   than as the whole leftmost label, a U-label, a bad name) is skipped and
 *   counted; it does not invalidate the policy. RFC 8461 3.2 only requires
 *   accepting well-formed policies and says nothing of a bad mx among good
 *   ones; skipping fails closed (in enforce mode fewer MX hosts are
 *   allowed, never more) whereas rejecting the whole policy would fall back
 *   to "no policy" (S12) and deliver without protection. If no valid mx
 *   line is left, an enforce or testing policy is invalid (S17).
 * - An mx value is normalized: lower case, and one trailing dot (the
 *   absolute form some operators write, "mail.d.test.") is accepted and
 *   removed; S22 ignores it when matching anyway.
 * - max_age above STS_POLICY_MAX_AGE_CAP is capped (Ours); 0 is allowed and
 *   means "apply once, do not cache" (the caller's business).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "policy/sts_policy.h"

#define F_VERSION	0x01
#define F_MODE		0x02
#define F_MAXAGE	0x04

struct pstate {
	struct sts_policy	*pol;
	unsigned		 seen;
	size_t			 lineno;
	char			*err;
	size_t			 errlen;
};

/* Messages quote untrusted text and may be cut short: that is fine. */
static void __attribute__((format(printf, 3, 4)))
msg(char *buf, size_t len, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static int
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static int
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* Quote untrusted text for a message: printable ASCII, else \xNN; bounded. */
static void
quote(const char *s, size_t len, char *out, size_t outlen)
{
	size_t	i, o = 0;

	for (i = 0; i < len && o + 8 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == 40) {
			o += (size_t)snprintf(out + o, outlen - o, "...");
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
	}
	out[o] = '\0';
}

static int
perr(struct pstate *ps, const char *key, const char *what, const char *v,
    size_t vlen)
{
	char	q[200];

	if (ps->err == NULL || ps->errlen == 0)
		return -1;
	if (v != NULL) {
		quote(v, vlen, q, sizeof(q));
		msg(ps->err, ps->errlen, "line %zu: %s: %s '%s'",
		    ps->lineno, key, what, q);
	} else
		msg(ps->err, ps->errlen, "line %zu: %s: %s", ps->lineno,
		    key, what);
	return -1;
}

static void
pwarn(struct pstate *ps, const char *key, const char *what, const char *v,
    size_t vlen)
{
	struct sts_policy	*pol = ps->pol;
	char			 q[200];

	if (pol->warning[0] != '\0')
		return;
	quote(v, vlen, q, sizeof(q));
	msg(pol->warning, sizeof(pol->warning), "line %zu: %s: '%s' %s",
	    ps->lineno, key, q, what);
}

/* Length of a well-formed UTF-8 sequence (RFC 3629) at s, or 0. */
static size_t
utf8_seq(const unsigned char *s, size_t len)
{
	size_t		n, i;
	unsigned	cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* sts-policy-ext-value: printable ASCII, SP, UTF-8; no CTL. 0 or -1. */
static int
check_value(const char *v, size_t len)
{
	const unsigned char	*s = (const unsigned char *)v;
	size_t			 i = 0, n;

	if (len == 0)
		return -1;
	while (i < len) {
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			i++;
			continue;
		}
		if (s[i] < 0x80 || (n = utf8_seq(s + i, len - i)) == 0)
			return -1;
		i += n;
	}
	return 0;
}

static int
value_is(const char *v, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(v, lit, len) == 0;
}

static int
field_first(struct pstate *ps, unsigned flag, const char *key, const char *v,
    size_t len)
{
	if ((ps->seen & flag) == 0) {
		ps->seen |= flag;
		return 1;
	}
	pwarn(ps, key, "ignored: repeated field, the first wins", v, len);
	return 0;
}

static int
field_mode(struct pstate *ps, const char *v, size_t len)
{
	if (!field_first(ps, F_MODE, "mode", v, len))
		return 0;
	if (value_is(v, len, "enforce"))
		ps->pol->mode = STS_MODE_ENFORCE;
	else if (value_is(v, len, "testing"))
		ps->pol->mode = STS_MODE_TESTING;
	else if (value_is(v, len, "none"))
		ps->pol->mode = STS_MODE_NONE;
	else
		return perr(ps, "mode", "unknown value", v, len);
	return 0;
}

static int
field_max_age(struct pstate *ps, const char *v, size_t len)
{
	uint64_t	n = 0;
	size_t		i;

	if (!field_first(ps, F_MAXAGE, "max_age", v, len))
		return 0;
	if (len == 0 || len > 10)
		return perr(ps, "max_age", "must be 1-10 digits, not", v, len);
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return perr(ps, "max_age", "must be 1-10 digits, not", v,
			    len);
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	ps->pol->max_age_published = n;
	ps->pol->max_age = n > STS_POLICY_MAX_AGE_CAP ?
	    STS_POLICY_MAX_AGE_CAP : (uint32_t)n;
	return 0;
}

static int
field_mx(struct pstate *ps, const char *v, size_t len)
{
	struct sts_policy	*pol = ps->pol;
	char			 pat[STS_MX_NAMEBUF], what[80];
	const char		*why = "invalid";

	if (sts_mx_pattern_parse(v, len, pat, sizeof(pat), &why) == -1) {
		pol->nmx_skipped++;
		snprintf(what, sizeof(what), "ignored: %s", why);
		pwarn(ps, "mx", what, v, len);
		return 0;
	}
	if (pol->nmx == STS_POLICY_MAX_MX)
		return perr(ps, "mx", "too many mx lines (limit 256)", NULL, 0);
	pol->mx = xreallocarray(pol->mx, pol->nmx + 1, sizeof(*pol->mx));
	pol->mx[pol->nmx++] = xstrdup(pat);
	return 0;
}

/* One line without its terminator; blank lines are skipped. */
static int
parse_line(struct pstate *ps, const char *line, size_t len)
{
	size_t	 klen = 0, vstart;
	char	 key[33];

	while (len > 0 && is_wsp((unsigned char)line[len - 1]))
		len--;
	if (len == 0)
		return 0;
	while (klen < len && (is_alnum((unsigned char)line[klen]) ||
	    (klen > 0 && (line[klen] == '_' || line[klen] == '-' ||
	    line[klen] == '.'))))
		klen++;
	if (klen == 0 || klen > 32)
		return perr(ps, "syntax", "expected 'key: value', got", line, len);
	memcpy(key, line, klen);
	key[klen] = '\0';
	if (klen == len || line[klen] != ':')
		return perr(ps, key, "expected ':' right after the key, got",
		    line, len);
	for (vstart = klen + 1; vstart < len && is_wsp((unsigned char)line[vstart]);)
		vstart++;
	line += vstart;
	len -= vstart;
	if (len == 0 && strcmp(key, "mx") == 0)
		return field_mx(ps, line, len);		/* skipped like any bad mx */
	if (len == 0)
		return perr(ps, key, "empty value", NULL, 0);
	if (check_value(line, len) == -1)
		return perr(ps, key,
		    "control character, bare CR or bad UTF-8 in value", line, len);
	if (strcmp(key, "version") == 0) {
		if (!field_first(ps, F_VERSION, "version", line, len))
			return 0;
		if (!value_is(line, len, "STSv1"))
			return perr(ps, "version", "unknown value", line, len);
		return 0;
	}
	if (strcmp(key, "mode") == 0)
		return field_mode(ps, line, len);
	if (strcmp(key, "max_age") == 0)
		return field_max_age(ps, line, len);
	if (strcmp(key, "mx") == 0)
		return field_mx(ps, line, len);
	return 0;	/* S16: unknown keys are ignored */
}

static int
check_complete(struct pstate *ps)
{
	static const struct { unsigned flag; const char *name; } req[] = {
		{ F_VERSION, "version" }, { F_MODE, "mode" }, { F_MAXAGE, "max_age" },
	};
	struct sts_policy	*pol = ps->pol;
	size_t			 i;

	for (i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
		if ((ps->seen & req[i].flag) == 0) {
			snprintf(ps->err, ps->errlen, "%s: missing", req[i].name);
			return -1;
		}
	}
	if (pol->mode != STS_MODE_NONE && pol->nmx == 0) {
		snprintf(ps->err, ps->errlen, "mx: mode %s needs at least one "
		    "valid mx line (%zu invalid ignored)",
		    sts_mode_name(pol->mode), pol->nmx_skipped);
		return -1;
	}
	return 0;
}

int
sts_policy_parse(const char *text, size_t len, struct sts_policy *pol,
    char *err, size_t errlen)
{
	struct pstate	 ps;
	char		 dummy[8];
	size_t		 start = 0, i, end;

	memset(pol, 0, sizeof(*pol));
	memset(&ps, 0, sizeof(ps));
	ps.pol = pol;
	ps.err = errlen > 0 && err != NULL ? err : dummy;
	ps.errlen = errlen > 0 && err != NULL ? errlen : sizeof(dummy);
	ps.err[0] = '\0';
	if (len > STS_POLICY_MAX_BODY) {
		snprintf(ps.err, ps.errlen, "body of %zu octets exceeds %d", len,
		    STS_POLICY_MAX_BODY);
		return -1;
	}
	for (i = 0; i <= len; i++) {
		if (i < len && text[i] != '\n')
			continue;
		ps.lineno++;
		end = i;
		if (i < len && end > start && text[end - 1] == '\r')
			end--;		/* CRLF */
		if (parse_line(&ps, text + start, end - start) == -1)
			goto out;
		start = i + 1;
	}
	if (check_complete(&ps) == -1)
		goto out;
	return 0;
 out:
	sts_policy_free(pol);
	return -1;
}

void
sts_policy_free(struct sts_policy *pol)
{
	size_t	i;

	for (i = 0; i < pol->nmx; i++)
		free(pol->mx[i]);
	free(pol->mx);
	memset(pol, 0, sizeof(*pol));
}

void
sts_policy_copy(struct sts_policy *dst, const struct sts_policy *src)
{
	size_t	i;

	*dst = *src;
	dst->mx = NULL;
	if (src->nmx > 0) {
		dst->mx = xreallocarray(NULL, src->nmx, sizeof(*dst->mx));
		for (i = 0; i < src->nmx; i++)
			dst->mx[i] = xstrdup(src->mx[i]);
	}
}

int
sts_policy_mx_match(const struct sts_policy *pol, const char *host)
{
	size_t	i;

	for (i = 0; i < pol->nmx; i++)
		if (sts_mx_match(pol->mx[i], host))
			return 1;
	return 0;
}

const char *
sts_mode_name(enum sts_mode m)
{
	switch (m) {
	case STS_MODE_NONE:
		return "none";
	case STS_MODE_TESTING:
		return "testing";
	case STS_MODE_ENFORCE:
		return "enforce";
	}
	return "unknown";
}

int
sts_mode_parse(const char *s, enum sts_mode *m)
{
	if (strcmp(s, "none") == 0)
		*m = STS_MODE_NONE;
	else if (strcmp(s, "testing") == 0)
		*m = STS_MODE_TESTING;
	else if (strcmp(s, "enforce") == 0)
		*m = STS_MODE_ENFORCE;
	else
		return -1;
	return 0;
}
