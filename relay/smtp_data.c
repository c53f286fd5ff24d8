/*
 * smtp_data.c: DATA transfer through a small state machine. The only way
 * to reach END is CR LF "." CR LF where the first CR LF ended a line (or was
 * the CR LF of the DATA command): a bare CR or LF never starts a line (H1,
 * H2), it only marks the message refused.
 *
 * Inside a line, a run of plain octets (no CR, LF or NUL) is taken in one
 * step; the run stops short of the line limit, the size limit and a header
 * name still being matched, so every refusal is still decided octet by octet
 * at the octet that causes it, exactly as without the shortcut.
 */
#include <string.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "relay/smtp_data.h"

enum {
	D_BOL = 0,	/* at the start of a line */
	D_DOT,		/* "." at the start of a line */
	D_DOT_CR,	/* ".\r" at the start of a line */
	D_MID,		/* inside a line */
	D_CR,		/* "\r" inside a line (or on an empty line) */
	D_END
};

static const char	received[] = "received:";
#define HDRMATCH_NONE	0xff
#define HDRMATCH_DONE	(sizeof(received) - 1)

static const struct {
	int		 code;
	const char	*status;
	const char	*text;
} replies[SMTP_DATA_RESULT_COUNT] = {
	[SMTP_DATA_OK] =		{ 250, "2.0.0", "Ok" },
	[SMTP_DATA_BARE_EOL] =		{ 554, "5.6.11",
	    "Message refused: bare CR or LF in message text" },
	[SMTP_DATA_NUL] =		{ 554, "5.6.11",
	    "Message refused: NUL octet in message text" },
	[SMTP_DATA_LONG_LINE] =		{ 500, "5.5.6",
	    "Message refused: line longer than 1000 octets" },
	[SMTP_DATA_TOO_BIG] =		{ 552, "5.3.4", "Message size exceeds fixed limit" },
	[SMTP_DATA_TOO_MANY_HOPS] =	{ 554, "5.4.6",
	    "Too many hops (Received: headers), mail loop?" },
};

/* Output staged per feed call, flushed to the evbuffer in blocks. */
struct stage {
	struct smtp_data	*d;
	size_t			 n;
	char			 buf[2048];
};

void
smtp_data_init(struct smtp_data *d, struct evbuffer *out, uint64_t size_limit,
    uint64_t max_received)
{
	memset(d, 0, sizeof(*d));
	d->out = out;
	d->size_limit = size_limit;
	d->max_received = max_received;
	d->state = D_BOL;
	d->in_header = 1;
	d->result = SMTP_DATA_OK;
}

enum smtp_data_result
smtp_data_result(const struct smtp_data *d)
{
	return (enum smtp_data_result)d->result;
}

void
smtp_data_reply(enum smtp_data_result r, int *code, const char **status, const char **text)
{
	if ((unsigned)r >= SMTP_DATA_RESULT_COUNT)
		fatalx("smtp_data_reply: bad result %d", (int)r);
	*code = replies[r].code;
	*status = replies[r].status;
	*text = replies[r].text;
}

/* The first refusal wins; what was kept so far is dropped. */
static void
refuse(struct smtp_data *d, enum smtp_data_result r)
{
	if (d->result != SMTP_DATA_OK)
		return;
	d->result = (uint8_t)r;
	if (evbuffer_drain(d->out, evbuffer_get_length(d->out)) != 0)
		fatalx("smtp_data: evbuffer_drain failed");
}

static void
flush(struct stage *st)
{
	if (st->n > 0 && st->d->result == SMTP_DATA_OK &&
	    evbuffer_add(st->d->out, st->buf, st->n) != 0)
		fatalx("smtp_data: evbuffer_add failed");
	st->n = 0;
}

static void
emit(struct stage *st, char c)
{
	struct smtp_data *d = st->d;

	if (d->result != SMTP_DATA_OK)
		return;
	if (d->size_limit != 0 && d->size >= d->size_limit) {
		refuse(d, SMTP_DATA_TOO_BIG);
		return;
	}
	d->size++;
	if (st->n == sizeof(st->buf))
		flush(st);
	st->buf[st->n++] = c;
}

/* Header bookkeeping for one octet of line content (H10). */
static void
header_octet(struct smtp_data *d, unsigned char c)
{
	if (!d->in_header || d->hdrmatch == HDRMATCH_NONE)
		return;
	if (d->hdrmatch < HDRMATCH_DONE) {
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c == (unsigned char)received[d->hdrmatch])
			d->hdrmatch++;
		else
			d->hdrmatch = HDRMATCH_NONE;
		if (d->hdrmatch == HDRMATCH_DONE && ++d->nreceived > d->max_received)
			refuse(d, SMTP_DATA_TOO_MANY_HOPS);
	}
}

/* An octet of line content (not CR, not LF). */
static void
content(struct stage *st, unsigned char c)
{
	struct smtp_data *d = st->d;

	d->state = D_MID;
	if (c == '\0') {
		refuse(d, SMTP_DATA_NUL);
		return;
	}
	if (c >= 0x80)
		d->eightbit = 1;
	header_octet(d, c);
	emit(st, (char)c);
}

/* Count a raw octet against the line limit (the CRLF included, H6). */
static void
count(struct smtp_data *d)
{
	if (++d->linelen > SMTP_TEXT_LINE_MAX - 2)
		refuse(d, SMTP_DATA_LONG_LINE);
}

static void
end_of_line(struct stage *st)
{
	struct smtp_data *d = st->d;

	if (d->in_header && d->linelen == 0)
		d->in_header = 0;
	emit(st, '\r');
	emit(st, '\n');
	d->linelen = 0;
	d->hdrmatch = 0;
	d->state = D_BOL;
}

static void
octet(struct stage *st, unsigned char c)
{
	struct smtp_data *d = st->d;

	switch (d->state) {
	case D_BOL:
		if (c == '.') {
			count(d);
			d->state = D_DOT;
			return;
		}
		break;
	case D_DOT:
		if (c == '\r') {
			d->state = D_DOT_CR;
			return;
		}
		/* dot stuffing: the leading dot goes, the rest is content */
		break;
	case D_DOT_CR:
		if (c == '\n') {
			d->state = D_END;
			return;
		}
		refuse(d, SMTP_DATA_BARE_EOL);		/* ".\r" then not LF */
		d->state = D_MID;
		break;
	case D_CR:
		if (c == '\n') {
			end_of_line(st);
			return;
		}
		refuse(d, SMTP_DATA_BARE_EOL);		/* "\r" then not LF */
		d->state = D_MID;
		break;
	case D_MID:
		break;
	default:
		fatalx("smtp_data: octet in state %d", d->state);
	}
	if (c == '\r') {
		d->state = D_CR;
		return;
	}
	count(d);
	if (c == '\n') {
		/* bare LF: never a line end, never the start of a line (H2) */
		refuse(d, SMTP_DATA_BARE_EOL);
		d->state = D_MID;
		return;
	}
	content(st, c);
}

/*
 * How many octets from p on are plain line content that content_run() may
 * take at once: no CR, LF or NUL, no header name being matched, and short of
 * the line and size limits while the message is still accepted.
 */
static size_t
content_span(const struct smtp_data *d, const unsigned char *p, size_t len)
{
	const unsigned char	*e;
	size_t			 n, max = len;

	if (d->state != D_MID || (d->in_header && d->hdrmatch < HDRMATCH_DONE))
		return 0;
	if (d->result == SMTP_DATA_OK) {
		if (d->linelen >= SMTP_TEXT_LINE_MAX - 2)
			return 0;
		if (max > SMTP_TEXT_LINE_MAX - 2 - d->linelen)
			max = SMTP_TEXT_LINE_MAX - 2 - d->linelen;
		if (d->size_limit != 0) {
			if (d->size >= d->size_limit)
				return 0;
			if (max > d->size_limit - d->size)
				max = (size_t)(d->size_limit - d->size);
		}
	}
	/* memchr scans a word or a vector at a time: three passes beat one by octets */
	n = max;
	if ((e = memchr(p, '\r', n)) != NULL)
		n = (size_t)(e - p);
	if ((e = memchr(p, '\n', n)) != NULL)
		n = (size_t)(e - p);
	if ((e = memchr(p, '\0', n)) != NULL)
		n = (size_t)(e - p);
	return n;
}

/* Any octet over 127 in p[0..n) (H8)? Eight at a time. */
static int
has_8bit(const unsigned char *p, size_t n)
{
	uint64_t	w, acc = 0;
	size_t		i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		acc |= w;
	}
	for (; i < n; i++)
		acc |= p[i];
	return (acc & 0x8080808080808080ULL) != 0;
}

/* n octets of plain content at once: what octet() does for each of them. */
static void
content_run(struct stage *st, const unsigned char *p, size_t n)
{
	struct smtp_data	*d = st->d;

	d->linelen += (uint32_t)n;
	if (!d->eightbit && has_8bit(p, n))
		d->eightbit = 1;	/* H8: undeclared 8-bit text */
	if (d->result != SMTP_DATA_OK)
		return;
	d->size += n;
	if (st->n + n > sizeof(st->buf))
		flush(st);
	if (n > sizeof(st->buf)) {
		if (evbuffer_add(d->out, p, n) != 0)
			fatalx("smtp_data: evbuffer_add failed");
		return;
	}
	memcpy(st->buf + st->n, p, n);
	st->n += n;
}

int
smtp_data_feed(struct smtp_data *d, const void *buf, size_t len, size_t *used)
{
	const unsigned char	*p = buf;
	struct stage		 st;
	size_t			 i, n;

	if (d->state == D_END)
		fatalx("smtp_data_feed: fed after the end");
	st.d = d;
	st.n = 0;
	for (i = 0; i < len && d->state != D_END; ) {
		if ((n = content_span(d, p + i, len - i)) > 0) {
			content_run(&st, p + i, n);
			i += n;
		} else
			octet(&st, p[i++]);
	}
	flush(&st);
	*used = i;
	return d->state == D_END;
}
