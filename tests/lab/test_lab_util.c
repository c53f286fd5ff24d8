/* test_lab_util.c: the word splitter, escaping and addresses every lab program uses. */
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>

#include "common/netaddr.h"
#include "tests/tap.h"
#include "tests/lab/lab_util.h"

static const struct {
	const char	*line;
	int		 argc;		/* -1 = refused */
	const char	*joined;	/* the words joined with '|' */
} split_cases[] = {
	{ "", 0, "" },
	{ "   \t  ", 0, "" },
	{ "# a comment", 0, "" },
	{ "a b\tc", 3, "a|b|c" },
	{ "  lead and trail  \n", 3, "lead|and|trail" },
	{ "x TXT \"v=STSv1; \" \"id=1\"", 4, "x|TXT|v=STSv1; |id=1" },
	{ "q \"with \\\"quote\\\" and \\\\\"", 2, "q|with \"quote\" and \\" },
	{ "a # the rest is a comment", 1, "a" },
	{ "a \"# not a comment\"", 2, "a|# not a comment" },
	{ "\"\"", 1, "" },
	{ "a \"unterminated", -1, NULL },
	{ "a \"glued\"b", -1, NULL },
	{ "a \"x\"\tb", 3, "a|x|b" },
};

static void
test_split(void)
{
	char	 line[256], joined[256], name[160], esc[100], *argv[4];
	size_t	 i;
	int	 argc, j;

	for (i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		strcpy(line, split_cases[i].line);
		argc = lab_split(line, argv, 4);
		lab_escape(split_cases[i].line, strlen(split_cases[i].line), esc, sizeof(esc));
		snprintf(name, sizeof(name), "split [%s]: %d words", esc, split_cases[i].argc);
		is_int(argc, split_cases[i].argc, name);
		if (argc < 0 || split_cases[i].joined == NULL)
			continue;
		joined[0] = '\0';
		for (j = 0; j < argc; j++) {
			if (j > 0)
				strcat(joined, "|");
			strcat(joined, argv[j]);
		}
		snprintf(name, sizeof(name), "split [%s]: the words", esc);
		is_str(joined, split_cases[i].joined, name);
	}
	strcpy(line, "1 2 3 4 5");
	is_int(lab_split(line, argv, 4), -1, "more words than room: refused, not truncated");
}

static void
test_escape(void)
{
	char	out[64];

	lab_escape("MAIL FROM:<a@b>", 15, out, sizeof(out));
	is_str(out, "MAIL FROM:<a@b>", "escape: printable text unchanged");
	lab_escape("a\r\nb\tc\"d\\e", 10, out, sizeof(out));
	is_str(out, "a\\r\\nb\\tc\\\"d\\\\e", "escape: CR LF TAB quote backslash");
	lab_escape("\x01\xff", 2, out, sizeof(out));
	is_str(out, "\\x01\\xff", "escape: control and 8-bit bytes as \\xNN");
	lab_escape("a\0b", 3, out, sizeof(out));
	is_str(out, "a\\x00b", "escape: NUL inside the data");
	lab_escape("abcdef", 6, out, 4);
	is_str(out, "abc", "escape: bounded by the output size");
	lab_escape("ab\x01", 3, out, 5);
	is_str(out, "ab", "escape: never half an escape");
}

static void
test_addresses(void)
{
	struct netaddr_endpoint	ep;
	int			port;

	ok(lab_endpoint("127.0.0.2:0", &ep) == 0 && netaddr_port((struct sockaddr *)&ep.ss) == 0,
	    "endpoint: port 0 accepted (pick one)");
	ok(lab_endpoint("[::1]:0", &ep) == 0 && ep.ss.ss_family == AF_INET6,
	    "endpoint: [::1]:0");
	ok(lab_endpoint("127.0.0.1:2525", &ep) == 0 &&
	    netaddr_port((struct sockaddr *)&ep.ss) == 2525, "endpoint: a given port");
	ok(lab_endpoint("localhost:25", &ep) == -1, "endpoint: names refused");
	ok(lab_endpoint("127.0.0.1:10", &ep) == 0 &&
	    netaddr_port((struct sockaddr *)&ep.ss) == 10, "endpoint: port 10 is not port 0");
	ok(lab_parse_port("0", &port) == 0 && port == 0, "port: 0");
	ok(lab_parse_port("65535", &port) == 0 && port == 65535, "port: 65535");
	ok(lab_parse_port("65536", &port) == -1, "port: 65536 refused");
	ok(lab_parse_port("25x", &port) == -1 && lab_parse_port("", &port) == -1,
	    "port: junk and empty refused");
}

int
main(void)
{
	test_split();
	test_escape();
	test_addresses();
	return tap_done();
}
