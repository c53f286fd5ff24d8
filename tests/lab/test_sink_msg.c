/*
 * test_sink_msg.c: how lab-smtp-sink reads DATA: only CRLF.CRLF ends a
 * message (H1), bare LF and bare CR are counted, not hidden (H2), dots are
 * unstuffed, the size cap holds, and the digest is the stored file's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/tap.h"
#include "tests/lab/sink_msg.h"

struct run {
	int		ended;		/* the line that ended the message, 1-based; 0 = none */
	unsigned long	bare_lf;
	unsigned long	bare_cr;
	int		eightbit;
	char		stored[256];
	size_t		size;
	int		too_big;
	char		sha256[65];
};

static char *
tmpname(const char *tag)
{
	char	*p;

	if (asprintf(&p, "%s/test_sink_msg.%ld.%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
	    (long)getpid(), tag) == -1) {
		printf("Bail out! asprintf\n");
		exit(1);
	}
	return p;
}

/* Feed text split after each LF, as the session does; stop at the end line. */
static void
feed(const char *text, uint64_t max, struct run *r)
{
	struct sink_msg	 m;
	char		*tmp = tmpname("tmp"), *final = tmpname("eml");
	const char	*p = text, *lf;
	FILE		*fp;
	size_t		 len;
	int		 n = 0;

	memset(r, 0, sizeof(*r));
	if (sink_msg_open(&m, tmp, max) == -1) {
		printf("Bail out! cannot open %s\n", tmp);
		exit(1);
	}
	while (*p != '\0') {
		lf = strchr(p, '\n');
		len = lf != NULL ? (size_t)(lf - p) + 1 : strlen(p);
		n++;
		if (sink_msg_line(&m, p, len) == 1) {
			r->ended = n;
			break;
		}
		p += len;
	}
	r->bare_lf = m.bare_lf;
	r->bare_cr = m.bare_cr;
	r->eightbit = m.eightbit;
	r->size = (size_t)m.size;
	if (sink_msg_commit(&m, final) == 0) {
		strcpy(r->sha256, m.sha256);
		if ((fp = fopen(final, "r")) != NULL) {
			len = fread(r->stored, 1, sizeof(r->stored) - 1, fp);
			r->stored[len] = '\0';
			fclose(fp);
		}
		unlink(final);
	}
	r->too_big = m.too_big;
	free(final);
}

/* RFC-CHECKLIST H2: each of these inside DATA is text, never an end. */
static const struct {
	const char	*name;
	const char	*seq;
	size_t		 len;
} smuggle[] = {
	{ "\\n.\\n", "\n.\n", 3 },
	{ "\\r.\\r", "\r.\r", 3 },
	{ "\\r.\\n", "\r.\n", 3 },
	{ "\\n.\\r", "\n.\r", 3 },
	{ "\\n.\\r\\n", "\n.\r\n", 4 },
	{ "\\r\\n.\\n", "\r\n.\n", 4 },
	{ "\\r.\\r\\n", "\r.\r\n", 4 },
	{ "\\r\\n.\\r", "\r\n.\r", 4 },
	{ "\\r\\n\\0.\\r\\n", "\r\n\0.\r\n", 6 },
	{ "\\r\\r\\n", "\r\r\n", 3 },
};

/* Like feed(), with NUL bytes allowed: text of len bytes. */
static int
feed_bytes(const char *text, size_t len, char *stored, size_t storedlen)
{
	struct sink_msg	 m;
	char		*tmp = tmpname("tmp"), *final = tmpname("eml");
	size_t		 off = 0, l, got = 0;
	const char	*lf;
	FILE		*fp;
	int		 ended = 0;

	if (sink_msg_open(&m, tmp, 1000) == -1)
		exit(1);
	while (off < len && !ended) {
		lf = memchr(text + off, '\n', len - off);
		l = lf != NULL ? (size_t)(lf - (text + off)) + 1 : len - off;
		ended = sink_msg_line(&m, text + off, l);
		off += l;
	}
	if (sink_msg_commit(&m, final) == 0 && (fp = fopen(final, "r")) != NULL) {
		got = fread(stored, 1, storedlen, fp);
		fclose(fp);
		unlink(final);
	}
	free(final);
	return ended && off == len ? (int)got : -1;
}

static void
test_smuggling(void)
{
	char	text[64], stored[64], name[96];
	size_t	i, n;
	int	got;

	for (i = 0; i < sizeof(smuggle) / sizeof(smuggle[0]); i++) {
		n = 0;
		memcpy(text, "a", 1);
		n += 1;
		memcpy(text + n, smuggle[i].seq, smuggle[i].len);
		n += smuggle[i].len;
		memcpy(text + n, "b\r\n.\r\n", 6);
		n += 6;
		got = feed_bytes(text, n, stored, sizeof(stored));
		snprintf(name, sizeof(name), "H2: %s inside DATA is text; the message ends "
		    "only at the real CRLF.CRLF", smuggle[i].name);
		ok(got > 0 && memchr(stored, 'b', (size_t)got) != NULL, name);
	}
}

/* "record index": no file, the same counts and digest as with one. */
static void
test_no_file(void)
{
	static const char	 text[] = "Subject: a\r\n\r\nb\nc\r\n..d\r\n.\r\n";
	struct sink_msg		 m;
	struct run		 r;
	char			*final = tmpname("nofile");
	const char		*p = text, *lf;
	size_t			 len;
	int			 ended = 0;

	feed(text, 1000, &r);
	if (sink_msg_open(&m, NULL, 1000) == -1) {
		printf("Bail out! sink_msg_open without a file\n");
		exit(1);
	}
	while (*p != '\0' && !ended) {
		lf = strchr(p, '\n');
		len = (size_t)(lf - p) + 1;
		ended = sink_msg_line(&m, p, len);
		p += len;
	}
	ok(ended && m.size == r.size && m.bare_lf == r.bare_lf,
	    "without a file: the end, size and bare LF count as with one");
	is_int(sink_msg_commit(&m, final), 0, "without a file: committed");
	is_str(m.sha256, r.sha256, "without a file: the digest of the text a file would hold");
	ok(access(final, F_OK) == -1, "without a file: nothing written");
	free(final);
	if (sink_msg_open(&m, NULL, 5) == -1)
		exit(1);
	(void)sink_msg_line(&m, "0123456789\r\n", 12);
	(void)sink_msg_line(&m, ".\r\n", 3);
	is_int(sink_msg_commit(&m, "unused"), -1, "without a file: over the size cap, refused");
}

int
main(void)
{
	struct run	r;

	test_smuggling();
	test_no_file();

	feed("Subject: a\r\n\r\nbody\r\n.\r\n", 1000, &r);
	is_int(r.ended, 4, "H1: CRLF.CRLF ends the message");
	is_str(r.stored, "Subject: a\r\n\r\nbody\r\n", "the stored text, terminator excluded");
	is_int(r.size, 20, "size counts the stored bytes");
	feed(".\r\n", 1000, &r);
	is_int(r.ended, 1, "an empty message ends at once");
	feed("a\n.\nb\r\n.\r\n", 1000, &r);
	is_int(r.ended, 4, "H2: LF.LF does not end the message");
	is_int(r.bare_lf, 2, "H2: both bare LF lines counted");
	is_str(r.stored, "a\n\nb\r\n", "bare LF lines stored as sent, the lone dot unstuffed");
	feed("a\r\n.\nb\r\n.\r\n", 1000, &r);
	is_int(r.ended, 4, "H2: CRLF.LF does not end the message");
	feed("a\n.\r\nb\r\n.\r\n", 1000, &r);
	is_int(r.ended, 4, "H2: LF.CRLF does not end the message");
	feed("a\r.\rb\r\n.\r\n", 1000, &r);
	is_int(r.ended, 2, "H2: CR.CR is text");
	is_int(r.bare_cr, 2, "H2: both bare CRs counted");
	feed("..dot\r\n...two\r\n.\r\n", 1000, &r);
	is_str(r.stored, ".dot\r\n..two\r\n", "dot-stuffing undone, one dot per line");
	feed("caf\xc3\xa9\r\n.\r\n", 1000, &r);
	is_int(r.eightbit, 1, "8-bit text noticed");
	feed("plain\r\n.\r\n", 1000, &r);
	is_int(r.eightbit, 0, "7-bit text");
	is_str(r.sha256, "8ea6051a1ecc63179889ff395ef31798046f8c32d33ad4312719dcc3d0da02a0", "SHA-256 of the stored text");
	feed("0123456789\r\n0123456789\r\n.\r\n", 15, &r);
	ok(r.ended == 3 && r.too_big, "over the size cap: read to the end, then refused");
	is_str(r.stored, "", "over the size cap: nothing stored");
	return tap_done();
}
