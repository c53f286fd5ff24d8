/* test_smtp_parse.c: SMTP command lines, MAIL/RCPT paths and parameters. */
#include <stdio.h>
#include <string.h>

#include "relay/smtp_parse.h"
#include "tests/tap.h"

static void
test_cmd(void)
{
	static const struct {
		const char	*line;
		enum smtp_perr	 err;
		enum smtp_verb	 verb;
		const char	*arg;
	} t[] = {
		{ "EHLO client.test", SMTP_PERR_OK, SMTP_VERB_EHLO, "client.test" },
		{ "ehlo client.test", SMTP_PERR_OK, SMTP_VERB_EHLO, "client.test" },
		{ "HeLo x", SMTP_PERR_OK, SMTP_VERB_HELO, "x" },
		{ "EHLO", SMTP_PERR_ARG_REQUIRED, SMTP_VERB_EHLO, "" },
		{ "EHLO   ", SMTP_PERR_ARG_REQUIRED, SMTP_VERB_EHLO, "" },
		{ "MAIL FROM:<a@b.test>", SMTP_PERR_OK, SMTP_VERB_MAIL, "FROM:<a@b.test>" },
		{ "rcpt TO:<a@b.test>  ", SMTP_PERR_OK, SMTP_VERB_RCPT, "TO:<a@b.test>" },
		{ "DATA", SMTP_PERR_OK, SMTP_VERB_DATA, "" },
		{ "data ", SMTP_PERR_OK, SMTP_VERB_DATA, "" },
		{ "DATA x", SMTP_PERR_NO_ARG_ALLOWED, SMTP_VERB_DATA, "x" },
		{ "RSET", SMTP_PERR_OK, SMTP_VERB_RSET, "" },
		{ "NOOP hello", SMTP_PERR_OK, SMTP_VERB_NOOP, "hello" },
		{ "QUIT", SMTP_PERR_OK, SMTP_VERB_QUIT, "" },
		{ "VRFY root", SMTP_PERR_OK, SMTP_VERB_VRFY, "root" },
		{ "HELP", SMTP_PERR_OK, SMTP_VERB_HELP, "" },
		{ "StartTLS", SMTP_PERR_OK, SMTP_VERB_STARTTLS, "" },
		{ "STARTTLS now", SMTP_PERR_NO_ARG_ALLOWED, SMTP_VERB_STARTTLS, "now" },
		{ "AUTH PLAIN", SMTP_PERR_OK, SMTP_VERB_AUTH, "PLAIN" },
		{ "AUTH", SMTP_PERR_ARG_REQUIRED, SMTP_VERB_AUTH, "" },
		{ "MAILFROM:<a@b>", SMTP_PERR_UNKNOWN_CMD, SMTP_VERB_UNKNOWN, "" },
		{ "BDAT 10", SMTP_PERR_UNKNOWN_CMD, SMTP_VERB_UNKNOWN, "" },
		{ "", SMTP_PERR_UNKNOWN_CMD, SMTP_VERB_UNKNOWN, "" },
		{ "EHLO a\tb", SMTP_PERR_BAD_CHAR, SMTP_VERB_UNKNOWN, "" },
		{ "NOOP \x7f", SMTP_PERR_BAD_CHAR, SMTP_VERB_UNKNOWN, "" },
	};
	struct smtp_cmd	cmd;
	char		line[600], name[200];
	size_t		i;
	enum smtp_perr	e;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		strcpy(line, t[i].line);
		e = smtp_parse_cmd(line, strlen(line), &cmd);
		snprintf(name, sizeof(name), "command \"%s\": error", t[i].line);
		is_int(e, t[i].err, name);
		snprintf(name, sizeof(name), "command \"%s\": verb", t[i].line);
		is_int(cmd.verb, t[i].verb, name);
		if (t[i].err == SMTP_PERR_OK || t[i].err == SMTP_PERR_NO_ARG_ALLOWED) {
			snprintf(name, sizeof(name), "command \"%s\": argument", t[i].line);
			is_str(cmd.arg, t[i].arg, name);
		}
	}
	memset(line, 'a', 511);
	memcpy(line, "NOOP ", 5);
	line[510] = '\0';
	is_int(smtp_parse_cmd(line, 510, &cmd), SMTP_PERR_OK, "H6: 510 octets + CRLF is a legal command line");
	line[510] = 'a';
	line[511] = '\0';
	is_int(smtp_parse_cmd(line, 511, &cmd), SMTP_PERR_TOO_LONG, "H6: 511 octets + CRLF is too long");
}

static void
test_mail(void)
{
	static const struct {
		const char	*arg;
		enum smtp_perr	 err;
		const char	*addr;
		unsigned long long size;
		int		 body8, utf8;
	} t[] = {
		{ "FROM:<a@b.test>", SMTP_PERR_OK, "a@b.test", 0, 0, 0 },
		{ "from:<a@b.test>", SMTP_PERR_OK, "a@b.test", 0, 0, 0 },
		{ "FROM: <a@b.test>", SMTP_PERR_OK, "a@b.test", 0, 0, 0 },
		{ "FROM:<>", SMTP_PERR_OK, "", 0, 0, 0 },
		{ "FROM:<> SIZE=100", SMTP_PERR_OK, "", 100, 0, 0 },
		{ "FROM:<a@b.test> SIZE=12345 BODY=8BITMIME", SMTP_PERR_OK, "a@b.test", 12345, 1, 0 },
		{ "FROM:<a@b.test> body=7bit", SMTP_PERR_OK, "a@b.test", 0, 0, 0 },
		{ "FROM:<a@b.test> BODY=BINARYMIME", SMTP_PERR_PARAM_VALUE, "", 0, 0, 0 },
		{ "FROM:<a@b.test> BODY", SMTP_PERR_PARAM_VALUE, "", 0, 0, 0 },
		{ "FROM:<a@b.test> SIZE=", SMTP_PERR_SYNTAX, "", 0, 0, 0 },
		{ "FROM:<a@b.test> SIZE=12x", SMTP_PERR_PARAM_VALUE, "", 0, 0, 0 },
		{ "FROM:<a@b.test> SIZE=-1", SMTP_PERR_PARAM_VALUE, "", 0, 0, 0 },
		{ "FROM:<a@b.test> SIZE=99999999999999999999999", SMTP_PERR_PARAM_VALUE, "", 0, 0, 0 },
		/* H7: RFC 1870 size-value is 1*20DIGIT; past 64 bits it is over any limit */
		{ "FROM:<a@b.test> SIZE=99999999999999999999", SMTP_PERR_OK, "a@b.test",
		    UINT64_MAX, 0, 0 },
		{ "FROM:<a@b.test> SIZE=18446744073709551617", SMTP_PERR_OK, "a@b.test",
		    UINT64_MAX, 0, 0 },
		{ "FROM:<a@b.test> SIZE=18446744073709551615", SMTP_PERR_OK, "a@b.test",
		    UINT64_MAX, 0, 0 },
		{ "FROM:<a@b.test> SIZE=000000000000000000001", SMTP_PERR_PARAM_VALUE, "", 0, 0, 0 },
		{ "FROM:<a@b.test> SIZE=1 SIZE=2", SMTP_PERR_PARAM_VALUE, "", 0, 0, 0 },
		{ "FROM:<a@b.test> SMTPUTF8", SMTP_PERR_OK, "a@b.test", 0, 0, 1 },
		{ "FROM:<a@b.test> SMTPUTF8=yes", SMTP_PERR_PARAM_VALUE, "", 0, 0, 0 },
		{ "FROM:<a@b.test> AUTH=<>", SMTP_PERR_OK, "a@b.test", 0, 0, 0 },
		{ "FROM:<a@b.test> RET=HDRS", SMTP_PERR_PARAM_UNKNOWN, "", 0, 0, 0 },
		{ "FROM:<a@b.test> X-FOO", SMTP_PERR_PARAM_UNKNOWN, "", 0, 0, 0 },
		{ "FROM:<a@b.test>SIZE=1", SMTP_PERR_SYNTAX, "", 0, 0, 0 },
		{ "FROM:a@b.test", SMTP_PERR_ADDR_SYNTAX, "", 0, 0, 0 },
		{ "FROM:<a@b.test", SMTP_PERR_ADDR_SYNTAX, "", 0, 0, 0 },
		{ "TO:<a@b.test>", SMTP_PERR_SYNTAX, "", 0, 0, 0 },
		{ "FROM:<a>", SMTP_PERR_ADDR_SYNTAX, "", 0, 0, 0 },
		{ "FROM:<@a>", SMTP_PERR_SOURCE_ROUTE, "", 0, 0, 0 },
		{ "FROM:<@x.test,@y.test:u@d.test>", SMTP_PERR_SOURCE_ROUTE, "", 0, 0, 0 },
		{ "FROM:<a@[192.0.2.1]>", SMTP_PERR_OK, "a@[192.0.2.1]", 0, 0, 0 },
		{ "FROM:<a@[IPv6:2001:db8::1]>", SMTP_PERR_OK, "a@[IPv6:2001:db8::1]", 0, 0, 0 },
		{ "FROM:<a@[300.0.2.1]>", SMTP_PERR_ADDR_SYNTAX, "", 0, 0, 0 },
		{ "FROM:<a%b@c.test>", SMTP_PERR_OK, "a%b@c.test", 0, 0, 0 },
		{ "FROM:<\"a b\"@c.test>", SMTP_PERR_OK, "\"a b\"@c.test", 0, 0, 0 },
		{ "FROM:<\"a>b@\"@c.test>", SMTP_PERR_OK, "\"a>b@\"@c.test", 0, 0, 0 },
		{ "FROM:<a..b@c.test>", SMTP_PERR_ADDR_SYNTAX, "", 0, 0, 0 },
		{ "FROM:<.a@c.test>", SMTP_PERR_ADDR_SYNTAX, "", 0, 0, 0 },
		{ "FROM:<a b@c.test>", SMTP_PERR_ADDR_SYNTAX, "", 0, 0, 0 },
		{ "FROM:<a@-c.test>", SMTP_PERR_ADDR_SYNTAX, "", 0, 0, 0 },
		{ "FROM:<a@c-.test>", SMTP_PERR_ADDR_SYNTAX, "", 0, 0, 0 },
		{ "FROM:<a@c..test>", SMTP_PERR_ADDR_SYNTAX, "", 0, 0, 0 },
		{ "FROM:<a@c.test.>", SMTP_PERR_ADDR_SYNTAX, "", 0, 0, 0 },
		{ "FROM:<a@c_d.test>", SMTP_PERR_ADDR_SYNTAX, "", 0, 0, 0 },
		{ "FROM:<j\xc3\xb6rg@b.test>", SMTP_PERR_NEED_SMTPUTF8, "", 0, 0, 0 },
		{ "FROM:<j\xc3\xb6rg@b.test> SMTPUTF8", SMTP_PERR_OK, "j\xc3\xb6rg@b.test", 0, 0, 1 },
		{ "FROM:<a@b\xc3\xbc.test> SMTPUTF8", SMTP_PERR_OK, "a@b\xc3\xbc.test", 0, 0, 1 },
		{ "FROM:<j\xc3rg@b.test> SMTPUTF8", SMTP_PERR_ADDR_SYNTAX, "", 0, 0, 0 },
		{ "FROM:<j\xc0\xafrg@b.test> SMTPUTF8", SMTP_PERR_ADDR_SYNTAX, "", 0, 0, 0 },
	};
	struct smtp_mail	m;
	char			name[300];
	size_t			i;
	enum smtp_perr		e;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		e = smtp_parse_mail(t[i].arg, 1, &m);
		snprintf(name, sizeof(name), "MAIL %s: error", t[i].arg);
		is_int(e, t[i].err, name);
		if (t[i].err != SMTP_PERR_OK)
			continue;
		snprintf(name, sizeof(name), "MAIL %s: address", t[i].arg);
		is_str(m.addr, t[i].addr, name);
		snprintf(name, sizeof(name), "MAIL %s: SIZE", t[i].arg);
		is_int(m.size, t[i].size, name);
		snprintf(name, sizeof(name), "MAIL %s: BODY=8BITMIME", t[i].arg);
		is_int(m.body_8bit, t[i].body8, name);
		snprintf(name, sizeof(name), "MAIL %s: SMTPUTF8", t[i].arg);
		is_int(m.smtputf8, t[i].utf8, name);
	}
}

/* After HELO (not EHLO) there are no SMTP extensions (RFC 5321 3.3, 4.1.1.11). */
static void
test_mail_helo(void)
{
	static const struct {
		const char	*arg;
		enum smtp_perr	 err;
	} t[] = {
		{ "FROM:<a@b.test>", SMTP_PERR_OK },
		{ "FROM:<>", SMTP_PERR_OK },
		{ "FROM:<a@b.test>  ", SMTP_PERR_OK },
		{ "FROM:<a@b.test> SIZE=100", SMTP_PERR_PARAM_NO_EHLO },
		{ "FROM:<a@b.test> BODY=8BITMIME", SMTP_PERR_PARAM_NO_EHLO },
		{ "FROM:<a@b.test> BODY=7BIT", SMTP_PERR_PARAM_NO_EHLO },
		{ "FROM:<a@b.test> SMTPUTF8", SMTP_PERR_PARAM_NO_EHLO },
		{ "FROM:<a@b.test> AUTH=<>", SMTP_PERR_PARAM_NO_EHLO },
		{ "FROM:<a@b.test> X-FOO", SMTP_PERR_PARAM_NO_EHLO },
		{ "FROM:<a@b.test> SIZE=x", SMTP_PERR_PARAM_NO_EHLO },
		{ "FROM:<j\xc3\xb6rg@b.test> SMTPUTF8", SMTP_PERR_PARAM_NO_EHLO },
		{ "FROM:<j\xc3\xb6rg@b.test>", SMTP_PERR_NEED_SMTPUTF8 },
		{ "FROM:<a@b.test>SIZE=1", SMTP_PERR_SYNTAX },
	};
	struct smtp_mail	m;
	char			name[300];
	size_t			i;
	int			code;
	const char		*st, *txt;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(name, sizeof(name), "RFC 5321 4.1.1.11: after HELO, MAIL %s", t[i].arg);
		is_int(smtp_parse_mail(t[i].arg, 0, &m), t[i].err, name);
	}
	smtp_perr_reply(SMTP_PERR_PARAM_NO_EHLO, &code, &st, &txt);
	ok(code == 555 && strcmp(st, "5.5.4") == 0,
	    "RFC 5321 4.1.1.11/H9: a MAIL parameter after HELO is 555 5.5.4");
}

static void
test_rcpt(void)
{
	static const struct {
		const char	*arg;
		int		 utf8;
		enum smtp_perr	 err;
		const char	*addr;
		const char	*rule;
	} t[] = {
		{ "TO:<a@b.test>", 0, SMTP_PERR_OK, "a@b.test", "plain recipient" },
		{ "to:<A.B+c@Sub.B.test>", 0, SMTP_PERR_OK, "A.B+c@Sub.B.test", "case kept" },
		{ "TO:<>", 0, SMTP_PERR_NULL_RCPT, "", "null recipient refused" },
		{ "TO:<postmaster>", 0, SMTP_PERR_OK, "postmaster@relay.test",
		    "RFC 5321 4.5.1: <postmaster> maps to postmaster@hostname" },
		{ "TO:<PostMaster>", 0, SMTP_PERR_OK, "postmaster@relay.test", "postmaster any case" },
		{ "TO:<a>", 0, SMTP_PERR_ADDR_SYNTAX, "", "no domain" },
		{ "TO:<@x.test,@y.test:u@d.test>", 0, SMTP_PERR_SOURCE_ROUTE, "", "H5: source route" },
		{ "TO:<@x.test:u@d.test>", 0, SMTP_PERR_SOURCE_ROUTE, "", "H5: source route" },
		{ "TO:<u%d.test@relay.test>", 0, SMTP_PERR_ROUTING_CHAR, "", "H5: percent hack" },
		{ "TO:<d.test!u@relay.test>", 0, SMTP_PERR_ROUTING_CHAR, "", "H5: bang path" },
		{ "TO:<\"u%d\"@relay.test>", 0, SMTP_PERR_ROUTING_CHAR, "", "H5: quoted percent hack" },
		{ "TO:<u@[192.0.2.1]>", 0, SMTP_PERR_ADDR_LITERAL, "", "H5: address literal" },
		{ "TO:<u@[IPv6:::1]>", 0, SMTP_PERR_ADDR_LITERAL, "", "H5: IPv6 address literal" },
		{ "TO:<a@b.test> NOTIFY=NEVER", 0, SMTP_PERR_PARAM_UNKNOWN, "", "unknown parameter 555" },
		{ "TO:<a@b.test>x", 0, SMTP_PERR_SYNTAX, "", "junk after the path" },
		{ "FROM:<a@b.test>", 0, SMTP_PERR_SYNTAX, "", "wrong keyword" },
		{ "TO:<\xc3\xbc@b.test>", 0, SMTP_PERR_NEED_SMTPUTF8, "", "UTF-8 without SMTPUTF8" },
		{ "TO:<\xc3\xbc@b.test>", 1, SMTP_PERR_OK, "\xc3\xbc@b.test", "UTF-8 with SMTPUTF8" },
		{ "TO:<\xed\xa0\x80@b.test>", 1, SMTP_PERR_ADDR_SYNTAX, "", "UTF-8 surrogate refused" },
	};
	struct smtp_rcpt	r;
	char			name[300];
	size_t			i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(name, sizeof(name), "%s: RCPT %s", t[i].rule, t[i].arg);
		is_int(smtp_parse_rcpt(t[i].arg, t[i].utf8, "relay.test", &r), t[i].err, name);
		if (t[i].err == SMTP_PERR_OK)
			is_str(r.addr, t[i].addr, name);
	}
}

static void
test_lengths(void)
{
	struct smtp_rcpt	r;
	char			arg[600], local[100], dom[300];
	size_t			i;

	/* local part 64 ok, 65 too long (H6) */
	memset(local, 'l', 65);
	local[64] = '\0';
	snprintf(arg, sizeof(arg), "TO:<%s@d.test>", local);
	is_int(smtp_parse_rcpt(arg, 0, "h", &r), SMTP_PERR_OK, "H6: local part of 64 octets accepted");
	local[64] = 'l';
	local[65] = '\0';
	snprintf(arg, sizeof(arg), "TO:<%s@d.test>", local);
	is_int(smtp_parse_rcpt(arg, 0, "h", &r), SMTP_PERR_ADDR_TOO_LONG, "H6: local part of 65 octets refused");

	/* a path of 256 octets (with brackets) ok, 257 too long */
	for (i = 0; i < 250; i++)
		dom[i] = (i % 50 == 49 && i < 249) ? '.' : 'd';
	dom[250] = '\0';
	/* "<" + "ab@" + 250 + ">" = 255; one more local octet = 256 */
	snprintf(arg, sizeof(arg), "TO:<abc@%s>", dom);
	is_int(smtp_parse_rcpt(arg, 0, "h", &r), SMTP_PERR_OK, "H6: path of 256 octets accepted");
	snprintf(arg, sizeof(arg), "TO:<abcd@%s>", dom);
	is_int(smtp_parse_rcpt(arg, 0, "h", &r), SMTP_PERR_ADDR_TOO_LONG, "H6: path of 257 octets refused");

	memset(dom, 'x', 64);
	memcpy(dom + 64, ".test", 6);
	snprintf(arg, sizeof(arg), "TO:<a@%s>", dom);
	is_int(smtp_parse_rcpt(arg, 0, "h", &r), SMTP_PERR_ADDR_SYNTAX, "domain label of 64 octets refused");
	ok(smtp_parse_domain_ok("a.b", 3, 0, 0), "domain a.b accepted");
	ok(!smtp_parse_domain_ok("[127.0.0.1]", 11, 0, 0), "literal refused when not allowed");
	ok(smtp_parse_domain_ok("[127.0.0.1]", 11, 0, 1), "literal accepted when allowed");
}

static void
test_same_rcpt(void)
{
	static const struct {
		const char	*a, *b;
		int		 same;
		const char	*rule;
	} t[] = {
		{ "u@b.test", "u@b.test", 1, "the same address" },
		{ "u@b.test", "u@B.TEST", 1, "RFC 5321 2.4: domains compare without case" },
		{ "u@b.test", "U@b.test", 0, "RFC 5321 2.4: the local part keeps its case" },
		{ "u@b.test", "u@b.test2", 0, "different domains" },
		{ "u@b.test", "uu@b.test", 0, "local part a prefix of the other" },
		{ "\"a@b\"@c.test", "\"a@b\"@C.test", 1, "quoted local part holding '@'" },
		{ "\"a@b\"@c.test", "\"a@B\"@c.test", 0, "quoted local part keeps its case" },
		{ "postmaster@relay.test", "postmaster@RELAY.test", 1, "postmaster" },
		{ "u@b\xc3\xbc.test", "u@b\xc3\xbc.TEST", 1, "U-label domain, ASCII case" },
	};
	char	name[300];
	size_t	i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(name, sizeof(name), "duplicate RCPT: %s: %s vs %s", t[i].rule, t[i].a, t[i].b);
		is_int(smtp_parse_same_rcpt(t[i].a, t[i].b), t[i].same, name);
		is_int(smtp_parse_same_rcpt(t[i].b, t[i].a), t[i].same, name);
	}
}

static void
test_replies(void)
{
	int		 code, e;
	const char	*st, *txt;

	smtp_perr_reply(SMTP_PERR_PARAM_UNKNOWN, &code, &st, &txt);
	ok(code == 555 && strcmp(st, "5.5.4") == 0, "H9: unknown parameter is 555 5.5.4");
	smtp_perr_reply(SMTP_PERR_SOURCE_ROUTE, &code, &st, &txt);
	ok(code == 553 && strcmp(st, "5.1.3") == 0, "H9: source route is 553 5.1.3");
	smtp_perr_reply(SMTP_PERR_ADDR_SYNTAX, &code, &st, &txt);
	ok(code == 501 && strcmp(st, "5.1.3") == 0, "H9: address syntax is 501 5.1.3");
	for (e = 1; e < SMTP_PERR_COUNT; e++) {
		smtp_perr_reply((enum smtp_perr)e, &code, &st, &txt);
		if (code < 500 || code > 599 || st[0] != '5' || txt == NULL)
			break;
	}
	is_int(e, SMTP_PERR_COUNT, "H9: every parse error has a 5xx code and enhanced status");
}

int
main(void)
{
	test_cmd();
	test_mail();
	test_mail_helo();
	test_rcpt();
	test_lengths();
	test_same_rcpt();
	test_replies();
	return tap_done();
}
