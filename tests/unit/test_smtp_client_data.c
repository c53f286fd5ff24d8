/*
 * test_smtp_client_data.c: the outgoing body (H2): whatever the stored body
 * holds, only CRLF line ends and dot-stuffed lines leave, ending in CRLF.CRLF,
 * in every split of the input.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "relay/smtp_client_data.h"
#include "tests/tap.h"

static const struct {
	const char	*in;
	size_t		 inlen;		/* 0: strlen */
	const char	*out;
	unsigned	 repairs;
	const char	*name;
} cases[] = {
	{ "", 0, ".\r\n", 0, "empty body: only the dot" },
	{ "a\r\nb\r\n", 0, "a\r\nb\r\n.\r\n", 0, "CRLF lines pass unchanged" },
	{ ".\r\n", 0, "..\r\n.\r\n", 0, "a lone dot line is stuffed" },
	{ "a\r\n.b\r\n..\r\n", 0, "a\r\n..b\r\n...\r\n.\r\n", 0, "dots at line start stuffed" },
	{ "a.b\r\n", 0, "a.b\r\n.\r\n", 0, "a dot inside a line is not stuffed" },
	{ "no end", 0, "no end\r\n.\r\n", 1, "missing final CRLF added" },
	{ "a\n.\nb\r\n", 0, "a\r\n..\r\nb\r\n.\r\n", 2, "H2: \\n.\\n becomes CRLF, stuffed" },
	{ "a\r.\rb\r\n", 0, "a\r\n..\r\nb\r\n.\r\n", 2, "H2: \\r.\\r becomes CRLF, stuffed" },
	{ "a\r.\nb\r\n", 0, "a\r\n..\r\nb\r\n.\r\n", 2, "H2: \\r.\\n becomes CRLF, stuffed" },
	{ "a\n.\rb\r\n", 0, "a\r\n..\r\nb\r\n.\r\n", 2, "H2: \\n.\\r becomes CRLF, stuffed" },
	{ "a\n.\r\nb\r\n", 0, "a\r\n..\r\nb\r\n.\r\n", 1, "H2: \\n.\\r\\n becomes CRLF, stuffed" },
	{ "a\r\n.\nb\r\n", 0, "a\r\n..\r\nb\r\n.\r\n", 1, "H2: \\r\\n.\\n becomes CRLF, stuffed" },
	{ "a\r.\r\nb\r\n", 0, "a\r\n..\r\nb\r\n.\r\n", 1, "H2: \\r.\\r\\n becomes CRLF, stuffed" },
	{ "a\r\n.\rb\r\n", 0, "a\r\n..\r\nb\r\n.\r\n", 1, "H2: \\r\\n.\\r becomes CRLF, stuffed" },
	{ "a\r\n\0.\r\nb\r\n", 10, "a\r\n..\r\nb\r\n.\r\n", 1,
	  "H2: \\r\\n\\0.\\r\\n: NUL dropped, the dot stuffed" },
	{ "a\r\r\nb\r\n", 0, "a\r\n\r\nb\r\n.\r\n", 1, "H2: \\r\\r\\n: the bare CR becomes CRLF" },
	{ "a\r", 0, "a\r\n.\r\n", 1, "a trailing bare CR completes the line" },
	{ "x\r\n.\r\n", 0, "x\r\n..\r\n.\r\n", 0,
	  "an end-of-data sequence inside the body is stuffed (H1)" },
};

/* Encode in pieces of step octets; the output as a string. */
static size_t
encode(const char *in, size_t inlen, size_t step, char *out, size_t outlen,
    struct smtpc_data *d)
{
	struct evbuffer	*b = evbuffer_new();
	size_t		 i, n, len;

	smtpc_data_init(d);
	for (i = 0; i < inlen; i += n) {
		n = inlen - i < step ? inlen - i : step;
		smtpc_data_encode(d, in + i, n, b);
	}
	smtpc_data_finish(d, b);
	len = evbuffer_get_length(b);
	if (len >= outlen)
		len = outlen - 1;
	evbuffer_remove(b, out, len);
	out[len] = '\0';
	evbuffer_free(b);
	return len;
}

/* No bare CR or LF, no line starting with a single dot except the end. */
static int
wire_clean(const char *w, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (w[i] == '\r' && (i + 1 >= len || w[i + 1] != '\n'))
			return 0;
		if (w[i] == '\n' && (i == 0 || w[i - 1] != '\r'))
			return 0;
		if (w[i] == '\0')
			return 0;
	}
	/* the only CRLF.CRLF is the end */
	for (i = 0; i + 5 <= len; i++)
		if (memcmp(w + i, "\r\n.\r\n", 5) == 0 && i + 5 != len)
			return 0;
	return len >= 3 && memcmp(w + len - 3, ".\r\n", 3) == 0;
}

/* An octet at a time, written apart from the encoder: what H2 asks for. */
static size_t
reference(const unsigned char *in, size_t len, char *out)
{
	size_t	i, w = 0;
	int	bol = 1, cr = 0;

	for (i = 0; i < len; i++) {
		if (cr) {
			cr = 0;
			out[w++] = '\r';
			out[w++] = '\n';
			bol = 1;
			if (in[i] == '\n')
				continue;
		}
		if (in[i] == '\r') {
			cr = 1;
		} else if (in[i] == '\n') {
			out[w++] = '\r';
			out[w++] = '\n';
			bol = 1;
		} else if (in[i] != '\0') {
			if (bol && in[i] == '.')
				out[w++] = '.';
			bol = 0;
			out[w++] = (char)in[i];
		}
	}
	if (cr || !bol) {
		out[w++] = '\r';
		out[w++] = '\n';
	}
	memcpy(out + w, ".\r\n", 3);
	return w + 3;
}

/* Random bodies of the awkward octets, in random splits, against the reference. */
static void
test_random(void)
{
	static const unsigned char	 alpha[] = { 'a', 'b', '.', '.', '\r', '\n', '\0', '\r' };
	static unsigned char		 in[4096];
	static char			 want[2 * sizeof(in) + 8], got[sizeof(want)];
	struct smtpc_data		 d;
	struct evbuffer			*b;
	unsigned long			 seed = 20261122;
	size_t				 round, i, len, wlen, glen, n;
	int				 bad = 0, counted = 1;

	for (round = 0; round < 2000; round++) {
		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		len = (seed >> 33) % sizeof(in);
		for (i = 0; i < len; i++) {
			seed = seed * 6364136223846793005UL + 1442695040888963407UL;
			in[i] = alpha[(seed >> 40) % sizeof(alpha)];
		}
		wlen = reference(in, len, want);
		if ((b = evbuffer_new()) == NULL)
			return;
		smtpc_data_init(&d);
		for (i = 0; i < len; i += n) {
			seed = seed * 6364136223846793005UL + 1442695040888963407UL;
			n = 1 + (seed >> 35) % 600;
			if (n > len - i)
				n = len - i;
			if (smtpc_data_encode(&d, in + i, n, b) == -1)
				bad++;
		}
		if (smtpc_data_finish(&d, b) == -1)
			bad++;
		glen = evbuffer_get_length(b);
		if (glen != wlen || evbuffer_remove(b, got, glen) != (int)glen ||
		    memcmp(got, want, wlen) != 0)
			bad++;
		if (d.in != len || d.out != glen)
			counted = 0;
		evbuffer_free(b);
	}
	is_int(bad, 0, "H2: 2,000 random bodies of CR, LF, NUL, dots in random splits: "
	    "the same octets as an encoder taking one octet at a time");
	ok(counted, "octets in and out counted");
}

int
main(void)
{
	struct smtpc_data	d;
	char			out[256], name[200];
	size_t			i, step, inlen, len;
	int			split_ok;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		inlen = cases[i].inlen ? cases[i].inlen : strlen(cases[i].in);
		len = encode(cases[i].in, inlen, 4096, out, sizeof(out), &d);
		is_str(out, cases[i].out, cases[i].name);
		snprintf(name, sizeof(name), "%s: counted as %u repair(s)", cases[i].name,
		    cases[i].repairs);
		is_int(smtpc_data_repairs(&d), cases[i].repairs, name);
		snprintf(name, sizeof(name), "%s: no bare CR/LF on the wire, one end", cases[i].name);
		ok(wire_clean(out, len), name);
		split_ok = 1;
		for (step = 1; step < 8; step++) {
			char again[256];

			encode(cases[i].in, inlen, step, again, sizeof(again), &d);
			if (strcmp(again, out) != 0)
				split_ok = 0;
		}
		snprintf(name, sizeof(name), "%s: same in any split", cases[i].name);
		ok(split_ok, name);
	}
	test_random();
	return tap_done();
}
