/* test_smtp_data.c: the DATA state machine (H1, H2, H6, H7, H10). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "relay/smtp_data.h"
#include "tests/tap.h"

struct run {
	int			 ended;
	size_t			 used;		/* octets consumed in total */
	enum smtp_data_result	 result;
	char			*out;
	size_t			 outlen;
	int			 eightbit;
};

/* Feed in chunks of `chunk` octets (0 = all at once). */
static struct run
feed(const char *in, size_t len, size_t chunk, uint64_t limit, uint64_t maxrcvd)
{
	struct smtp_data	 d;
	struct evbuffer		*out = evbuffer_new();
	struct run		 r;
	size_t			 off = 0, n, used;

	memset(&r, 0, sizeof(r));
	smtp_data_init(&d, out, limit, maxrcvd);
	while (off < len) {
		n = chunk == 0 || len - off < chunk ? len - off : chunk;
		r.ended = smtp_data_feed(&d, in + off, n, &used);
		off += used;
		if (r.ended)
			break;
		if (used != n)
			break;
	}
	r.used = off;
	r.result = smtp_data_result(&d);
	r.eightbit = d.eightbit;
	r.outlen = evbuffer_get_length(out);
	r.out = calloc(1, r.outlen + 1);
	evbuffer_remove(out, r.out, r.outlen);
	evbuffer_free(out);
	return r;
}

static const size_t chunks[] = { 1, 2, 3, 5, 7, 64, 0 };
#define NCHUNKS (sizeof(chunks) / sizeof(chunks[0]))

/* Every H2 variant, inside a message and in place of the end. */
static void
test_h2(void)
{
	static const struct { const char *seq; size_t len; } v[] = {
		{ "\n.\n", 3 }, { "\r.\r", 3 }, { "\r.\n", 3 }, { "\n.\r", 3 },
		{ "\n.\r\n", 4 }, { "\r\n.\n", 4 }, { "\r.\r\n", 4 }, { "\r\n.\r", 4 },
		{ "\r\n\0.\r\n", 6 }, { "\r\r\n", 3 },
		{ "\n", 1 }, { "\r", 1 }, { "\n\n", 2 }, { "\r\n\r", 3 },
	};
	static const char	pre[] = "Subject: smuggle\r\n\r\nline one";
	static const char	post[] = "MAIL FROM:<evil@x.test>\r\nRCPT TO:<v@y.test>\r\nDATA\r\n"
	    "smuggled\r\n.\r\n";
	char			 msg[512], name[200];
	size_t			 i, k, len, total;
	struct run		 r;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		len = 0;
		memcpy(msg, pre, sizeof(pre) - 1);
		len += sizeof(pre) - 1;
		memcpy(msg + len, v[i].seq, v[i].len);
		len += v[i].len;
		memcpy(msg + len, post, sizeof(post) - 1);
		len += sizeof(post) - 1;
		total = len;
		memcpy(msg + len, "QUIT\r\n", 6);
		len += 6;
		for (k = 0; k < NCHUNKS; k++) {
			r = feed(msg, len, chunks[k], 0, 50);
			snprintf(name, sizeof(name), "H1/H2: variant %zu (%s) ends only at the real "
			    "<CRLF>.<CRLF>, chunk %zu", i, v[i].len == 6 ? "CRLF NUL . CRLF" : "bare CR/LF",
			    chunks[k]);
			ok(r.ended && r.used == total, name);
			snprintf(name, sizeof(name), "H2: variant %zu refused, chunk %zu", i, chunks[k]);
			ok(r.result == SMTP_DATA_BARE_EOL || (v[i].len == 6 && r.result == SMTP_DATA_NUL),
			    name);
			free(r.out);
		}
	}
}

static void
test_end(void)
{
	static const struct {
		const char	*in;
		const char	*out;
		const char	*name;
	} t[] = {
		{ ".\r\n", "", "H1: empty message" },
		{ "a\r\n.\r\n", "a\r\n", "one line" },
		{ "..\r\n.\r\n", ".\r\n", "dot-unstuffing: .. becomes ." },
		{ "..x\r\n...\r\n.\r\n", ".x\r\n..\r\n", "dot-unstuffing of several lines" },
		{ ".x\r\n.\r\n", "x\r\n", "a single leading dot is removed" },
		{ "a\r\n\r\nb\r\n.\r\n", "a\r\n\r\nb\r\n", "empty lines kept" },
		{ "a.\r\n.\r\n", "a.\r\n", "dot inside a line kept" },
		{ "\xc3\xa4\r\n.\r\n", "\xc3\xa4\r\n", "8-bit text passes" },
	};
	char		name[200];
	size_t		i, k;
	struct run	r;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		for (k = 0; k < NCHUNKS; k++) {
			r = feed(t[i].in, strlen(t[i].in), chunks[k], 0, 50);
			snprintf(name, sizeof(name), "%s (chunk %zu)", t[i].name, chunks[k]);
			ok(r.ended && r.result == SMTP_DATA_OK && r.used == strlen(t[i].in), name);
			is_str(r.out, t[i].out, name);
			free(r.out);
		}
	r = feed("a\r\n.\r\nQUIT\r\n", 12, 0, 0, 50);
	is_int(r.used, 6, "H1: octets after the end are left for the next command");
	free(r.out);
	r = feed("a\r\n.\r", 5, 1, 0, 50);
	ok(!r.ended && r.used == 5, "H1: no end before the final LF");
	free(r.out);
	r = feed("a\r\nb\0c\r\n.\r\n", 11, 1, 0, 50);
	is_int(r.result, SMTP_DATA_NUL, "NUL octet refused");
	free(r.out);
}

static void
test_limits(void)
{
	char		buf[3000], name[100];
	struct run	r;
	size_t		i;

	memset(buf, 'x', 998);
	memcpy(buf + 998, "\r\n.\r\n", 5);
	r = feed(buf, 1003, 0, 0, 50);
	is_int(r.result, SMTP_DATA_OK, "H6: line of 1000 octets with CRLF accepted");
	free(r.out);
	buf[0] = '.';
	buf[1] = '.';
	r = feed(buf, 1003, 0, 0, 50);
	is_int(r.result, SMTP_DATA_OK, "H6: the limit counts the stuffed dot (998 raw octets)");
	free(r.out);
	memset(buf, 'x', 999);
	memcpy(buf + 999, "\r\n.\r\n", 5);
	for (i = 0; i < 3; i++) {
		r = feed(buf, 1004, i == 0 ? 0 : i * 100, 0, 50);
		snprintf(name, sizeof(name), "H6: line of 1001 octets refused, not truncated (%zu)", i);
		ok(r.ended && r.result == SMTP_DATA_LONG_LINE && r.used == 1004, name);
		free(r.out);
	}

	r = feed("abcdefgh\r\n.\r\n", 13, 3, 10, 50);
	ok(r.result == SMTP_DATA_OK && r.outlen == 10, "H7: message of exactly the limit accepted");
	free(r.out);
	r = feed("abcdefghi\r\n.\r\n", 14, 3, 10, 50);
	ok(r.ended && r.result == SMTP_DATA_TOO_BIG && r.used == 14,
	    "H7: message over the limit refused at the end");
	free(r.out);
}

static void
test_hops(void)
{
	char		 buf[4096];
	size_t		 len = 0, i;
	struct run	 r;

	for (i = 0; i < 3; i++)
		len += (size_t)sprintf(buf + len, "Received: from x by y; hop %zu\r\n", i);
	len += (size_t)sprintf(buf + len, "RECEIVED:from z\r\n");
	len += (size_t)sprintf(buf + len, "X-Received: not a hop\r\n");
	len += (size_t)sprintf(buf + len, "Subject: t\r\n\r\nReceived: in the body\r\n.\r\n");
	r = feed(buf, len, 1, 0, 4);
	is_int(r.result, SMTP_DATA_OK, "H10: 4 Received: headers with a limit of 4 pass");
	free(r.out);
	r = feed(buf, len, 7, 0, 3);
	is_int(r.result, SMTP_DATA_TOO_MANY_HOPS, "H10: 4 Received: headers over a limit of 3 refused");
	free(r.out);
}

static void
test_replies(void)
{
	int		 code;
	const char	*st, *txt;

	smtp_data_reply(SMTP_DATA_BARE_EOL, &code, &st, &txt);
	ok(code == 554 && strcmp(st, "5.6.11") == 0, "H2/H9: bare CR/LF is 554 5.6.11");
	smtp_data_reply(SMTP_DATA_LONG_LINE, &code, &st, &txt);
	ok(code == 500 && strcmp(st, "5.5.6") == 0, "H6/H9: long line is 500 5.5.6");
	smtp_data_reply(SMTP_DATA_TOO_BIG, &code, &st, &txt);
	ok(code == 552 && strcmp(st, "5.3.4") == 0, "H7/H9: too big is 552 5.3.4");
	smtp_data_reply(SMTP_DATA_TOO_MANY_HOPS, &code, &st, &txt);
	ok(code == 554 && strcmp(st, "5.4.6") == 0, "H10/H9: loop is 554 5.4.6");
}

/*
 * H8: an octet over 127 marks the message 8-bit, whether it arrives inside a
 * run of plain content (taken in one step), in a header name being matched,
 * or octet by octet.
 */
static void
test_eightbit(void)
{
	static const struct { const char *in; int want; const char *name; } t[] = {
		{ "Subject: plain\r\n\r\nabc def\r\n.\r\n", 0, "7-bit text" },
		{ "Subject: plain\r\n\r\nabc d\xc3\xa9" "f ghi\r\n.\r\n", 1,
		    "an 8-bit octet inside a line of the body" },
		{ "Subject: caf\xc3\xa9 au lait\r\n\r\nx\r\n.\r\n", 1,
		    "an 8-bit octet in a header value" },
		{ "R\xc3\xa9" "ceived: x\r\n\r\nx\r\n.\r\n", 1,
		    "an 8-bit octet in a header name being matched" },
	};
	char	name[160];
	size_t	i, c;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		for (c = 0; ; c++) {
			struct run r = feed(t[i].in, strlen(t[i].in), chunks[c], 0, 50);

			snprintf(name, sizeof(name), "H8: %s, chunks of %zu: 8-bit %d",
			    t[i].name, chunks[c], t[i].want);
			is_int(r.eightbit, t[i].want, name);
			free(r.out);
			if (chunks[c] == 0)
				break;
		}
}

int
main(void)
{
	test_h2();
	test_end();
	test_limits();
	test_hops();
	test_replies();
	test_eightbit();
	return tap_done();
}
