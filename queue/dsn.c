/*
 * dsn.c: delivery status notifications (RFC 3464 in an RFC 3462
 * multipart/report). Pure code: the caller gives the time, the ids and the
 * original header section, and queues the result. When an address is
 * UTF-8 (SMTPUTF8 mail) the report is the RFC 6533 form: report-type
 * global-delivery-status, a message/global-delivery-status part whose
 * UTF-8 addresses are of type utf-8, and message/global-headers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strutil.h"
#include "common/xmalloc.h"
#include "queue/dsn.h"

#define FOLD_AT		78	/* preferred line length when folding */
#define BOUNDARY_BASE	56	/* room for a suffix within RFC 2046's 70 */
#define ADDR_MAX	512	/* octets of an address that are shown */
#define HOST_MAX	255

struct dbuf {
	char	*p;
	size_t	 len, cap;
};

static void
buf_add(struct dbuf *b, const void *s, size_t n)
{
	if (b->cap - b->len <= n) {
		size_t ncap = b->cap ? b->cap : 1024;

		while (ncap - b->len <= n)
			ncap *= 2;
		b->p = xreallocarray(b->p, ncap, 1);
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_str(struct dbuf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* "Name: value" and CRLF, for values known to be short and clean. */
static void
buf_field(struct dbuf *b, const char *name, const char *value)
{
	buf_str(b, name);
	buf_add(b, ": ", 2);
	buf_str(b, value);
	buf_add(b, "\r\n", 2);
}

/*
 * A copy of s that is safe on one line: control characters become a space
 * (keep8 == 0: octets above 0x7f become '?'), at most max octets kept and
 * "..." added when cut.
 */
static char *
clean(const char *s, size_t max, int keep8)
{
	size_t	 n, i;
	char	*out;

	if (s == NULL)
		s = "";
	n = strnlen(s, max + 1);
	out = xmalloc(n + 4);
	for (i = 0; i < n && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			c = ' ';
		else if (c > 0x7f && !keep8)
			c = '?';
		out[i] = (char)c;
	}
	out[i] = '\0';
	if (n > max)
		memcpy(out + i, "...", 4);
	return out;
}

/*
 * Write head, then text word by word: a line is broken before a word that
 * would pass FOLD_AT, continuation lines start with cont, and a word too
 * long for any line is cut so that no line passes DSN_LINE_MAX. text has no
 * control characters (see clean()); runs of spaces collapse to one.
 */
static void
fold(struct dbuf *b, const char *head, const char *cont, const char *text)
{
	const char	*p = text, *w;
	size_t		 col, wlen, n, clen = strlen(cont);
	int		 first = 1;

	buf_str(b, head);
	col = strlen(head);
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		for (w = p; *p != '\0' && *p != ' '; p++)
			;
		wlen = (size_t)(p - w);
		if (!first && col + 1 + wlen > FOLD_AT) {
			buf_add(b, "\r\n", 2);
			buf_str(b, cont);
			col = clen;
		} else if (!first) {
			buf_add(b, " ", 1);
			col++;
		}
		first = 0;
		while (wlen > 0) {
			n = DSN_LINE_MAX - col;
			if (n > wlen)
				n = wlen;
			buf_add(b, w, n);
			col += n;
			w += n;
			wlen -= n;
			if (wlen > 0) {
				buf_add(b, "\r\n", 2);
				buf_str(b, cont);
				col = clen;
			}
		}
	}
	buf_add(b, "\r\n", 2);
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Up to 3 digits at *p; the count, 0 when none or more than 3. */
static size_t
digits(const char *p)
{
	size_t n = 0;

	while (is_digit(p[n]))
		n++;
	return n <= 3 ? n : 0;
}

void
dsn_status(const char *reason, char status[DSN_STATUS_MAX])
{
	const char	*p = reason != NULL ? reason : "";
	size_t		 a, b;

	strutil_lcpy(status, "5.0.0", DSN_STATUS_MAX);
	while (*p == ' ')
		p++;
	if (is_digit(p[0]) && is_digit(p[1]) && is_digit(p[2]) &&
	    (p[3] == ' ' || p[3] == '-')) {
		p += 4;
		while (*p == ' ')
			p++;
	}
	if (p[0] != '5' || p[1] != '.' || (a = digits(p + 2)) == 0 ||
	    p[2 + a] != '.' || (b = digits(p + 3 + a)) == 0 ||
	    p[3 + a + b] == '.')
		return;
	memcpy(status, p, 3 + a + b);
	status[3 + a + b] = '\0';
}

void
dsn_date(time_t t, char *buf, size_t len)
{
	static const char *const days[] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL) {
		t = 0;
		(void)gmtime_r(&t, &tm);
	}
	(void)snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The host name of "host[ip]" or "host"; "" when there is none. */
static char *
remote_host(const char *mta)
{
	const char	*br;
	char		*h, *c;

	if (mta == NULL)
		return xstrdup("");
	br = strchr(mta, '[');
	h = xstrndup(mta, br != NULL ? (size_t)(br - mta) : strlen(mta));
	c = clean(h, HOST_MAX, 0);
	free(h);
	return c;
}

/* A reason that starts with a reply code is the remote server's reply. */
static const char *
diag_type(const char *reason)
{
	const char *p = reason;

	while (*p == ' ')
		p++;
	if (p[0] >= '2' && p[0] <= '5' && is_digit(p[1]) && is_digit(p[2]) &&
	    (p[3] == ' ' || p[3] == '-' || p[3] == '\0'))
		return "smtp; ";
	return "X-Stsrelay; ";
}

static void
text_part(struct dbuf *b, const struct dsn_msg *m, const char *host)
{
	char	*addr, *why, *head;
	size_t	 i;

	buf_str(b, "This is the mail system at host ");
	buf_str(b, host);
	buf_str(b, ".\r\n\r\n"
	    "Your message could not be delivered to one or more of its\r\n"
	    "recipients. This notification gives the reason for each of\r\n"
	    "them; the header section of your message is attached.\r\n\r\n"
	    "For help, write to the postmaster of this system and include\r\n"
	    "this notification.\r\n\r\n");
	for (i = 0; i < m->nrcpts && i < DSN_RCPTS_MAX; i++) {
		addr = clean(m->rcpts[i].addr, ADDR_MAX, 1);
		why = clean(m->rcpts[i].reason, DSN_TEXT_MAX, 0);
		xasprintf(&head, "<%s>: ", addr);
		if (i > 0)
			buf_add(b, "\r\n", 2);
		fold(b, head, "    ", *why != '\0' ? why : "failed");
		free(head);
		free(addr);
		free(why);
	}
	if (m->nrcpts > DSN_RCPTS_MAX) {
		xasprintf(&head, "(and %zu more recipients, not listed)\r\n",
		    m->nrcpts - DSN_RCPTS_MAX);
		buf_str(b, head);
		free(head);
	}
}

static int
str_8bit(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s > 0x7f)
			return 1;
	return 0;
}

/*
 * RFC 6533 3: a UTF-8 address as utf-8-addr-unitext; "\\", "+" and "="
 * (and spaces, which clean() made of controls) go as \x{HH}.
 */
static char *
utf8_addr(const char *addr)
{
	struct dbuf	 b;
	char		 esc[16];

	memset(&b, 0, sizeof(b));
	buf_str(&b, "utf-8; ");
	for (; *addr != '\0'; addr++) {
		if (*addr == '\\' || *addr == '+' || *addr == '=' || *addr == ' ') {
			(void)snprintf(esc, sizeof(esc), "\\x{%02X}", (unsigned char)*addr);
			buf_str(&b, esc);
		} else
			buf_add(&b, addr, 1);
	}
	return b.p;
}

static void
status_rcpt(struct dbuf *b, const struct dsn_rcpt *r)
{
	char	 status[DSN_STATUS_MAX], date[64], *addr, *why, *host, *v;

	addr = clean(r->addr, ADDR_MAX, 1);
	why = clean(r->reason, DSN_TEXT_MAX, 0);
	host = remote_host(r->remote_mta);
	dsn_status(why, status);
	buf_add(b, "\r\n", 2);
	if (str_8bit(addr))
		v = utf8_addr(addr);
	else
		xasprintf(&v, "rfc822; %s", addr);
	fold(b, "Final-Recipient: ", " ", v);
	free(v);
	buf_field(b, "Action", "failed");
	buf_field(b, "Status", status);
	if (*host != '\0') {
		xasprintf(&v, "dns; %s", host);
		fold(b, "Remote-MTA: ", " ", v);
		free(v);
	}
	if (*why != '\0') {
		xasprintf(&v, "%s%s", diag_type(why), why);
		fold(b, "Diagnostic-Code: ", " ", v);
		free(v);
	}
	if (r->last_attempt != 0) {
		dsn_date(r->last_attempt, date, sizeof(date));
		buf_field(b, "Last-Attempt-Date", date);
	}
	free(addr);
	free(why);
	free(host);
}

static void
status_part(struct dbuf *b, const struct dsn_msg *m, const char *host)
{
	char	date[64], *id, *v;
	size_t	i;

	xasprintf(&v, "dns; %s", host);
	buf_field(b, "Reporting-MTA", v);
	free(v);
	if (m->queue_id != NULL && *m->queue_id != '\0') {
		id = clean(m->queue_id, 64, 0);
		buf_field(b, "X-Stsrelay-Queue-ID", id);
		free(id);
	}
	dsn_date(m->arrival, date, sizeof(date));
	buf_field(b, "Arrival-Date", date);
	for (i = 0; i < m->nrcpts && i < DSN_RCPTS_MAX; i++)
		status_rcpt(b, &m->rcpts[i]);
}

/*
 * The original header section up to its empty line, at most DSN_HEADERS_MAX
 * octets and whole lines only; lines end in CRLF, a stray CR or LF inside
 * a line becomes a space, a line longer than DSN_LINE_MAX is cut.
 */
static void
headers_part(struct dbuf *b, const char *h, size_t len)
{
	const char	*end, *nl;
	size_t		 n, i, kept = 0;
	char		 line[DSN_LINE_MAX];

	end = h + len;
	while (h < end) {
		nl = memchr(h, '\n', (size_t)(end - h));
		n = nl != NULL ? (size_t)(nl - h) : (size_t)(end - h);
		if (n > 0 && h[n - 1] == '\r')
			n--;
		if (n == 0)
			break;		/* the end of the header section */
		if (n > DSN_LINE_MAX)
			n = DSN_LINE_MAX;
		if (kept + n + 2 > DSN_HEADERS_MAX)
			break;
		for (i = 0; i < n; i++)
			line[i] = h[i] == '\r' || h[i] == '\n' || h[i] == '\0' ?
			    ' ' : h[i];
		buf_add(b, line, n);
		buf_add(b, "\r\n", 2);
		kept += n + 2;
		if (nl == NULL)
			break;
		h = nl + 1;
	}
}

static int
has_8bit(const struct dbuf *b)
{
	size_t i;

	for (i = 0; i < b->len; i++)
		if ((unsigned char)b->p[i] > 0x7f)
			return 1;
	return 0;
}

static int
contains(const struct dbuf *b, const char *s)
{
	return b->len > 0 && memmem(b->p, b->len, s, strlen(s)) != NULL;
}

/* A boundary that none of the parts contains. */
static void
boundary_pick(char *bnd, size_t len, const char *id, const char *host,
    struct dbuf *parts, size_t nparts)
{
	char	base[BOUNDARY_BASE + 1];
	size_t	i;
	int	clash, k = 0;

	(void)snprintf(base, sizeof(base), "%s/%s", id, host);
	strutil_lcpy(bnd, base, len);
	for (;;) {
		clash = 0;
		for (i = 0; i < nparts; i++)
			if (contains(&parts[i], bnd))
				clash = 1;
		if (!clash)
			return;
		(void)snprintf(bnd, len, "%s.%d", base, ++k);
	}
}

/* RFC 6533: the sender or a recipient shown is a UTF-8 address. */
static int
is_global(const struct dsn_msg *m)
{
	size_t	i;

	if (str_8bit(m->sender))
		return 1;
	for (i = 0; i < m->nrcpts && i < DSN_RCPTS_MAX; i++)
		if (str_8bit(m->rcpts[i].addr))
			return 1;
	return 0;
}

static void
header_section(struct dbuf *b, const struct dsn_msg *m, const char *host,
    const char *bnd)
{
	char	 date[64], *v, *to;

	dsn_date(m->now, date, sizeof(date));
	buf_field(b, "Date", date);
	xasprintf(&v, "MAILER-DAEMON@%s (Mail Delivery System)", host);
	buf_field(b, "From", v);
	free(v);
	to = clean(m->sender, ADDR_MAX, 1);
	xasprintf(&v, "<%s>", to);
	fold(b, "To: ", " ", v);
	free(v);
	free(to);
	buf_field(b, "Subject", "Undelivered Mail Returned to Sender");
	xasprintf(&v, "<%s@%s>", bnd, host);
	buf_field(b, "Message-ID", v);
	free(v);
	buf_field(b, "Auto-Submitted", "auto-replied");
	buf_field(b, "MIME-Version", "1.0");
	buf_str(b, is_global(m) ? "Content-Type: multipart/report; "
	    "report-type=global-delivery-status;\r\n\tboundary=\"" :
	    "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"");
	buf_str(b, bnd);
	buf_str(b, "\"\r\n\r\n"
	    "This is a MIME-encapsulated message.\r\n");
}

static void
part_open(struct dbuf *b, const char *bnd, const char *type,
    const struct dbuf *content)
{
	buf_str(b, "\r\n--");
	buf_str(b, bnd);
	buf_str(b, "\r\nContent-Type: ");
	buf_str(b, type);
	buf_str(b, "\r\n");
	if (has_8bit(content))
		buf_str(b, "Content-Transfer-Encoding: 8bit\r\n");
	buf_str(b, "\r\n");
	buf_add(b, content->p, content->len);
}

/* The reporting MTA's name: letters, digits, '.', '-' only. */
static char *
host_name(const char *h)
{
	char	*out;
	size_t	 i;

	out = clean(h != NULL && *h != '\0' ? h : "localhost", HOST_MAX, 0);
	for (i = 0; out[i] != '\0'; i++)
		if (!((out[i] >= 'a' && out[i] <= 'z') ||
		    (out[i] >= 'A' && out[i] <= 'Z') || is_digit(out[i]) ||
		    out[i] == '.' || out[i] == '-'))
			out[i] = '-';
	return out;
}

int
dsn_build(const struct dsn_msg *m, char **out, size_t *len)
{
	struct dbuf	 parts[3], b;
	char		 bnd[BOUNDARY_BASE + 16], *host, *id;
	size_t		 i;

	*out = NULL;
	*len = 0;
	if (m->nrcpts == 0 || m->sender == NULL || *m->sender == '\0')
		return -1;
	memset(parts, 0, sizeof(parts));
	memset(&b, 0, sizeof(b));
	host = host_name(m->hostname);
	text_part(&parts[0], m, host);
	status_part(&parts[1], m, host);
	if (m->headers != NULL)
		headers_part(&parts[2], m->headers, m->headers_len);
	id = clean(m->dsn_id != NULL ? m->dsn_id : "dsn", 32, 0);
	for (i = 0; id[i] != '\0'; i++)
		if (id[i] == ' ' || id[i] == '"')
			id[i] = '_';
	boundary_pick(bnd, sizeof(bnd), id, host, parts, 3);
	header_section(&b, m, host, bnd);
	part_open(&b, bnd, "text/plain; charset=utf-8", &parts[0]);
	part_open(&b, bnd, is_global(m) ? "message/global-delivery-status" :
	    "message/delivery-status", &parts[1]);
	if (parts[2].len > 0)	/* RFC 6533 6.3: a header section with UTF-8 */
		part_open(&b, bnd, has_8bit(&parts[2]) ? "message/global-headers" :
		    "text/rfc822-headers", &parts[2]);
	buf_str(&b, "\r\n--");
	buf_str(&b, bnd);
	buf_str(&b, "--\r\n");
	for (i = 0; i < 3; i++)
		free(parts[i].p);
	free(host);
	free(id);
	*out = b.p;
	*len = b.len;
	return 0;
}
