/* test_smtp_client_reply.c: reply and EHLO capability parsing of the outbound client. */
#include <stdio.h>
#include <string.h>

#include "relay/smtp_client_reply.h"
#include "tests/tap.h"

/* Feed lines separated by '|'; returns the last status. */
static enum smtpc_reply_status
feed(struct smtpc_reply *r, const char *lines)
{
	char			 buf[70000], *p, *bar;
	enum smtpc_reply_status	 st = SMTPC_REPLY_MORE;

	smtpc_reply_init(r);
	snprintf(buf, sizeof(buf), "%s", lines);
	for (p = buf; p != NULL; p = bar ? bar + 1 : NULL) {
		if ((bar = strchr(p, '|')) != NULL)
			*bar = '\0';
		st = smtpc_reply_feed(r, p, strlen(p));
		if (st != SMTPC_REPLY_MORE)
			break;
	}
	return st;
}

static const struct {
	const char		*in;
	enum smtpc_reply_status	 st;
	int			 code;
	const char		*enh;
	const char		*text;
	const char		*name;
} cases[] = {
	{ "250 OK", SMTPC_REPLY_DONE, 250, "", "OK", "a one-line reply" },
	{ "250", SMTPC_REPLY_DONE, 250, "", "", "code alone" },
	{ "250 2.1.0 Sender ok", SMTPC_REPLY_DONE, 250, "2.1.0", "Sender ok",
	  "H9: enhanced status code extracted" },
	{ "550 5.1.1 no such user", SMTPC_REPLY_DONE, 550, "5.1.1", "no such user",
	  "H9: 5.1.1 on a 550" },
	{ "451 4.123.456 busy", SMTPC_REPLY_DONE, 451, "4.123.456", "busy",
	  "H9: three-digit subject and detail" },
	{ "550 4.1.1 wrong class", SMTPC_REPLY_DONE, 550, "", "4.1.1 wrong class",
	  "H9: enhanced code of another class is text" },
	{ "550 5.1 short", SMTPC_REPLY_DONE, 550, "", "5.1 short", "H9: x.y is not a code" },
	{ "550 5.1.1234 long", SMTPC_REPLY_DONE, 550, "", "5.1.1234 long",
	  "H9: four-digit detail is not a code" },
	{ "250-mx.d.test|250-PIPELINING|250 8BITMIME", SMTPC_REPLY_DONE, 250, "",
	  "mx.d.test / PIPELINING / 8BITMIME", "multi-line reply joined" },
	{ "451-4.3.0 first|451-4.3.0 second|451 4.3.0 third", SMTPC_REPLY_DONE, 451, "4.3.0",
	  "first / second / third", "multi-line: repeated enhanced code dropped from text" },
	{ "250-a|251 b", SMTPC_REPLY_ERR_CODE, 251, "", "a", "code differs between lines" },
	{ "250-a|550 b", SMTPC_REPLY_ERR_CODE, 250, "", "a", "class differs between lines" },
	{ "25", SMTPC_REPLY_ERR_SYNTAX, 0, "", "", "two digits" },
	{ "2x0 nope", SMTPC_REPLY_ERR_SYNTAX, 0, "", "", "not digits" },
	{ "250_nope", SMTPC_REPLY_ERR_SYNTAX, 250, "", "", "bad separator" },
	{ "150 early", SMTPC_REPLY_ERR_CODE, 0, "", "", "1xx is not a valid SMTP reply" },
	{ "650 out", SMTPC_REPLY_ERR_CODE, 0, "", "", "6xx is not a valid SMTP reply" },
	{ "270 bad second digit", SMTPC_REPLY_ERR_CODE, 0, "", "", "second digit above 5" },
	{ "250 ctl\x01" "x\xff", SMTPC_REPLY_DONE, 250, "", "ctl?x?",
	  "control and 8-bit octets shown as ? in reports" },
};

static void
test_bounds(void)
{
	struct smtpc_reply	r;
	char			line[600], many[100 * 12 + 64];
	size_t			i;

	memset(line, 'a', sizeof(line));
	memcpy(line, "250 ", 4);
	smtpc_reply_init(&r);
	is_int(smtpc_reply_feed(&r, line, 510), SMTPC_REPLY_DONE,
	    "a 512-octet reply line (with CRLF) is accepted");
	smtpc_reply_init(&r);
	is_int(smtpc_reply_feed(&r, line, 511), SMTPC_REPLY_ERR_LONG,
	    "a 513-octet reply line fails the session");
	many[0] = '\0';
	for (i = 0; i < 100; i++)
		strcat(many, i == 99 ? "250 x" : "250-x|");
	is_int(feed(&r, many), SMTPC_REPLY_DONE, "a reply of 100 lines is accepted");
	many[0] = '\0';
	for (i = 0; i < 101; i++)
		strcat(many, i == 100 ? "250 x" : "250-x|");
	is_int(feed(&r, many), SMTPC_REPLY_ERR_TOO_BIG, "a reply of 101 lines fails the session");
	smtpc_reply_init(&r);
	line[0] = '2'; line[1] = '5'; line[2] = '0'; line[3] = ' '; line[4] = '\0';
	is_int(smtpc_reply_feed(&r, line, 6), SMTPC_REPLY_ERR_SYNTAX, "a NUL in a reply line");
}

static void
test_caps(void)
{
	struct smtpc_caps	c;
	char			buf[128];

	memset(&c, 0, sizeof(c));
	smtpc_caps_line(&c, "PIPELINING");
	smtpc_caps_line(&c, "size 10485760");
	smtpc_caps_line(&c, "8BITMIME");
	smtpc_caps_line(&c, "SMTPUTF8");
	smtpc_caps_line(&c, "STARTTLS");
	smtpc_caps_line(&c, "ENHANCEDSTATUSCODES");
	smtpc_caps_line(&c, "AUTH PLAIN LOGIN");
	smtpc_caps_line(&c, "PIPELININGX");
	smtpc_caps_format(&c, buf, sizeof(buf));
	is_str(buf, "PIPELINING SIZE=10485760 8BITMIME SMTPUTF8 STARTTLS ENHANCEDSTATUSCODES",
	    "capabilities: all six, case-insensitive, unknown and prefixed keywords ignored");
	is_int(c.size, 10485760, "SIZE n read");
	memset(&c, 0, sizeof(c));
	smtpc_caps_line(&c, "SIZE");
	ok((c.flags & SMTPC_CAP_SIZE) && c.size == 0, "SIZE without a number: no fixed limit");
	memset(&c, 0, sizeof(c));
	smtpc_caps_line(&c, "SIZE 12x");
	is_int(c.size, 0, "SIZE with junk: no limit taken");
	memset(&c, 0, sizeof(c));
	smtpc_caps_line(&c, "STARTTLSX");
	smtpc_caps_line(&c, "X-STARTTLS");
	is_int(c.flags, 0, "H4: only the STARTTLS keyword itself counts");
}

int
main(void)
{
	struct smtpc_reply	r;
	size_t			i;
	char			name[200];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum smtpc_reply_status st = feed(&r, cases[i].in);

		snprintf(name, sizeof(name), "%s: status", cases[i].name);
		is_int(st, cases[i].st, name);
		if (st != SMTPC_REPLY_DONE)
			continue;
		snprintf(name, sizeof(name), "%s: code", cases[i].name);
		is_int(r.code, cases[i].code, name);
		snprintf(name, sizeof(name), "%s: enhanced code", cases[i].name);
		is_str(r.enhanced, cases[i].enh, name);
		snprintf(name, sizeof(name), "%s: text", cases[i].name);
		is_str(r.text, cases[i].text, name);
	}
	test_bounds();
	test_caps();
	return tap_done();
}
