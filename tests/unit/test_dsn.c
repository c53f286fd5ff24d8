/* test_dsn.c: delivery status notifications (H11, RFC 3464), pure code. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/dsn.h"
#include "tests/tap.h"
#include "tests/unit/test_dsn_parse.h"

#define T_ARRIVAL	1795000000
#define T_NOW		1795400000

static const char orig_headers[] =
    "Received: from client.example.test ([192.0.2.7])\r\n"
    "\tby relay.example.test with ESMTP id 0ABC\r\n"
    "From: Sender <s@example.test>\r\n"
    "To: a@d1.test, b@d2.test\r\n"
    "Subject: quarterly figures\r\n"
    "\r\n"
    "Body line that must not appear.\r\n";

static void
test_status(void)
{
	static const struct {
		const char	*reason;
		const char	*want;
		const char	*name;
	} t[] = {
		{ "550 5.1.1 <a@d1.test>: no such user", "5.1.1",
		    "H11: Status from the reply's enhanced code" },
		{ "550-5.7.1 rejected", "5.7.1", "H11: Status after a '-' reply" },
		{ "5.4.7 delivery time expired: 451 4.7.5 certificate", "5.4.7",
		    "Ours 5.4.7: Status of an expired recipient" },
		{ "554 no enhanced code here", "5.0.0",
		    "H11: a reply without an enhanced code gives 5.0.0" },
		{ "4.7.5 certificate not trusted by policy", "5.0.0",
		    "H11: a failure never reports a class 4 Status" },
		{ "550 5.1234.1 odd", "5.0.0", "H11: a 4-digit subject is not a code" },
		{ "550 5.1.1.1 odd", "5.0.0", "H11: four parts are not a code" },
		{ "", "5.0.0", "H11: no reason gives 5.0.0" },
		{ "5.123.456", "5.123.456", "H11: three-digit parts are kept" },
	};
	char	s[DSN_STATUS_MAX];
	size_t	i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		dsn_status(t[i].reason, s);
		is_str(s, t[i].want, t[i].name);
	}
	dsn_status(NULL, s);
	is_str(s, "5.0.0", "H11: a NULL reason gives 5.0.0");
}

static void
test_date(void)
{
	char d[64];

	dsn_date(0, d, sizeof(d));
	is_str(d, "Thu, 01 Jan 1970 00:00:00 +0000", "RFC 5322 date of 0");
	dsn_date(1795400000, d, sizeof(d));
	is_str(d, "Mon, 23 Nov 2026 02:13:20 +0000", "RFC 5322 date in UTC");
}

static int
build(struct dsn_rcpt *r, size_t n, const char *hdrs, char **out, size_t *len)
{
	struct dsn_msg m;

	memset(&m, 0, sizeof(m));
	m.hostname = "relay.example.test";
	m.queue_id = "0ABCDEFGHJK12345";
	m.dsn_id = "0ABCDEFGHJK99999";
	m.sender = "s@example.test";
	m.arrival = T_ARRIVAL;
	m.now = T_NOW;
	m.headers = hdrs;
	m.headers_len = hdrs != NULL ? strlen(hdrs) : 0;
	m.rcpts = r;
	m.nrcpts = n;
	return dsn_build(&m, out, len);
}

static void
test_blocks(const struct dp_msg *m)
{
	char date[64];

	is_str(dp_field(m->blocks[0], "Reporting-MTA"), "dns; relay.example.test",
	    "H11: Reporting-MTA: dns; hostname");
	dsn_date(T_ARRIVAL, date, sizeof(date));
	is_str(dp_field(m->blocks[0], "Arrival-Date"), date, "H11: Arrival-Date");
	is_str(dp_field(m->blocks[0], "X-Stsrelay-Queue-ID"), "0ABCDEFGHJK12345",
	    "H11: the original queue id, for the postmaster");
	is_str(dp_field(m->blocks[1], "Final-Recipient"), "rfc822; a@d1.test",
	    "H11: Final-Recipient: rfc822; addr");
	is_str(dp_field(m->blocks[1], "Action"), "failed", "H11: Action: failed");
	is_str(dp_field(m->blocks[1], "Status"), "5.1.1",
	    "H11: Status from the reply");
	is_str(dp_field(m->blocks[1], "Remote-MTA"), "dns; mx1.d1.test",
	    "H11: Remote-MTA: dns; host (without the address)");
	is_str(dp_field(m->blocks[1], "Diagnostic-Code"),
	    "smtp; 550 5.1.1 <a@d1.test>: no such user",
	    "H11: Diagnostic-Code: smtp; the reply");
	dsn_date(T_NOW - 10, date, sizeof(date));
	is_str(dp_field(m->blocks[1], "Last-Attempt-Date"), date,
	    "H11: Last-Attempt-Date");
	is_str(dp_field(m->blocks[2], "Final-Recipient"), "rfc822; b@d2.test",
	    "H11: the second recipient");
	is_str(dp_field(m->blocks[2], "Status"), "5.4.7",
	    "Ours 5.4.7: lifetime exceeded");
	ok(dp_field(m->blocks[2], "Remote-MTA") == NULL,
	    "H11: no Remote-MTA when no server answered");
	is_str(dp_field(m->blocks[2], "Diagnostic-Code"),
	    "X-Stsrelay; 5.4.7 delivery time expired: 4.7.5 certificate not "
	    "trusted by policy",
	    "H11: a reason of our own is not labelled smtp");
}

static void
test_structure(void)
{
	struct dsn_rcpt	 r[2] = {
		{ "a@d1.test", "550 5.1.1 <a@d1.test>: no such user",
		    "mx1.d1.test[192.0.2.25]", T_NOW - 10 },
		{ "b@d2.test", "5.4.7 delivery time expired: 4.7.5 certificate "
		    "not trusted by policy", NULL, T_NOW },
	};
	struct dp_msg	 m;
	const struct dp_part *p;
	const char	*why = "", *v;
	char		*out, date[64];
	size_t		 len;

	ok(build(r, 2, orig_headers, &out, &len) == 0, "H11: a DSN is built");
	is_int(strlen(out), len, "H11: the length is the text's");
	ok(dp_lines_ok(out, len, &why) == 0, "H11: CRLF lines of at most 998 octets");
	ok(dp_parse(out, len, &m) == 0, "H11: the DSN parses as a multipart");
	is_str(dp_field(m.headers, "From"),
	    "MAILER-DAEMON@relay.example.test (Mail Delivery System)",
	    "H11: From: MAILER-DAEMON@hostname");
	is_str(dp_field(m.headers, "To"), "<s@example.test>",
	    "H11: To: the original sender");
	is_str(dp_field(m.headers, "Subject"),
	    "Undelivered Mail Returned to Sender", "H11: Subject");
	is_str(dp_field(m.headers, "Auto-Submitted"), "auto-replied",
	    "H11: Auto-Submitted: auto-replied (RFC 3834)");
	is_str(dp_field(m.headers, "MIME-Version"), "1.0", "H11: MIME-Version");
	dsn_date(T_NOW, date, sizeof(date));
	is_str(dp_field(m.headers, "Date"), date, "H11: Date is now");
	ok((v = dp_field(m.headers, "Message-ID")) != NULL && v[0] == '<' &&
	    strstr(v, "@relay.example.test>") != NULL, "H11: a Message-ID");
	v = dp_field(m.headers, "Content-Type");
	ok(v != NULL && strncmp(v, "multipart/report; report-type=delivery-status;",
	    46) == 0, "H11: multipart/report; report-type=delivery-status");
	is_int(m.nparts, 3, "H11: three parts");
	ok(m.closed, "H11: the close delimiter ends the report");
	ok(strstr(m.parts[0].headers, "text/plain") != NULL,
	    "H11: the first part is the human-readable text");
	ok(strstr(m.parts[1].headers, "message/delivery-status") != NULL,
	    "H11: the second part is message/delivery-status");
	ok(strstr(m.parts[2].headers, "text/rfc822-headers") != NULL,
	    "H11: the third part is text/rfc822-headers");
	p = &m.parts[0];
	ok(strstr(p->body, "relay.example.test") != NULL,
	    "H11: the text names the reporting host");
	ok(strstr(p->body, "<a@d1.test>: 550 5.1.1 <a@d1.test>: no such user") !=
	    NULL, "H11: the text gives each recipient and why");
	ok(strstr(p->body, "<b@d2.test>: 5.4.7 delivery time expired") != NULL,
	    "H11: the text gives the expired recipient and why");
	p = &m.parts[2];
	ok(strstr(p->body, "Subject: quarterly figures\r\n") != NULL &&
	    strstr(p->body, "\tby relay.example.test") != NULL,
	    "H11: the original header section, folded lines kept");
	ok(strstr(p->body, "Body line") == NULL,
	    "H11: the original body is not returned");
	is_int(m.nblocks, 3, "H11: per-message fields and two recipients");
	if (m.nblocks == 3)
		test_blocks(&m);
	dp_free(&m);
	free(out);
}

/* Remote text is cleaned, folded and bounded: no injected lines. */
static void
test_hostile(void)
{
	struct dsn_rcpt	 r[1];
	struct dp_msg	 m;
	char		 longword[3000], longtext[6000], *out, hdrs[40000];
	const char	*why = "", *v;
	size_t		 len, i, n = 0;

	memset(longword, 'x', sizeof(longword) - 1);
	longword[sizeof(longword) - 1] = '\0';
	r[0].addr = "a@d1.test";
	r[0].reason = "550 5.7.1 bad\r\nInjected: yes\r\n\r\n--fake";
	r[0].remote_mta = "mx\r\nX: y[192.0.2.1]";
	r[0].last_attempt = T_NOW;
	ok(build(r, 1, NULL, &out, &len) == 0, "H11: DSN with hostile text");
	ok(dp_lines_ok(out, len, &why) == 0, "H11: CR and LF in a reply do not "
	    "break lines");
	ok(strstr(out, "\r\nInjected:") == NULL, "H11: no injected field");
	ok(dp_parse(out, len, &m) == 0 && m.nparts == 2 && m.closed,
	    "H11: without headers, two parts");
	dp_free(&m);
	free(out);

	r[0].reason = longword;
	ok(build(r, 1, NULL, &out, &len) == 0 &&
	    dp_lines_ok(out, len, &why) == 0,
	    "H11: a 3000-octet word is cut below 998 octets a line");
	free(out);

	for (i = 0; i + 8 < sizeof(longtext) - 1; i += 8)
		memcpy(longtext + i, "abc def ", 8);
	longtext[i] = '\0';
	r[0].reason = longtext;
	ok(build(r, 1, NULL, &out, &len) == 0 &&
	    dp_lines_ok(out, len, &why) == 0, "H11: long text is folded");
	ok(dp_parse(out, len, &m) == 0 && m.nblocks == 2 &&
	    (v = dp_field(m.blocks[1], "Diagnostic-Code")) != NULL &&
	    strlen(v) < DSN_TEXT_MAX + 200 &&
	    strcmp(v + strlen(v) - 3, "...") == 0,
	    "H11: a long reason is bounded and marked as cut");
	dp_free(&m);
	free(out);

	/* A huge header section with a line of 2000 octets. */
	for (i = 0; n + 100 < sizeof(hdrs) - 3000; i++)
		n += (size_t)snprintf(hdrs + n, sizeof(hdrs) - n,
		    "X-Filler-%zu: some words to fill the section\r\n", i);
	n += (size_t)snprintf(hdrs + n, sizeof(hdrs) - n, "X-Long: %.2000s\r\n\r\n",
	    longword);
	r[0].reason = "550 5.1.1 no";
	ok(build(r, 1, hdrs, &out, &len) == 0 && dp_lines_ok(out, len, &why) == 0,
	    "H11: a huge header section keeps the line discipline");
	ok(dp_parse(out, len, &m) == 0 && m.nparts == 3 &&
	    strlen(m.parts[2].body) <= DSN_HEADERS_MAX,
	    "H11: the returned header section is bounded");
	dp_free(&m);
	free(out);
}

/* The boundary never occurs in the content. */
static void
test_boundary(void)
{
	struct dsn_rcpt	 r[1] = { { "a@d1.test", "550 5.1.1 no", NULL, T_NOW } };
	struct dp_msg	 m;
	char		 hdrs[512], *out, delim[160];
	size_t		 len;

	(void)snprintf(hdrs, sizeof(hdrs), "X-Trap: --0ABCDEFGHJK99999/"
	    "relay.example.test\r\nX-Trap2: --0ABCDEFGHJK99999/"
	    "relay.example.test.1\r\n\r\n");
	ok(build(r, 1, hdrs, &out, &len) == 0 && dp_parse(out, len, &m) == 0,
	    "H11: DSN of a message quoting our boundary");
	ok(strcmp(m.boundary, "0ABCDEFGHJK99999/relay.example.test") != 0 &&
	    strcmp(m.boundary, "0ABCDEFGHJK99999/relay.example.test.1") != 0,
	    "H11: the boundary moves away from the quoted ones");
	(void)snprintf(delim, sizeof(delim), "--%s", m.boundary);
	ok(strstr(m.parts[2].body, delim) == NULL && m.nparts == 3 && m.closed,
	    "H11: the boundary is unique");
	ok(strlen(m.boundary) <= 70, "H11: the boundary fits RFC 2046's 70");
	dp_free(&m);
	free(out);
}

static void
test_refusals(void)
{
	struct dsn_rcpt	 r[1] = { { "a@d1.test", "550 5.1.1 no", NULL, T_NOW } };
	struct dsn_msg	 m;
	char		*out;
	size_t		 len;

	memset(&m, 0, sizeof(m));
	m.hostname = "relay.example.test";
	m.sender = "";
	m.rcpts = r;
	m.nrcpts = 1;
	ok(dsn_build(&m, &out, &len) == -1 && out == NULL,
	    "H11: never a DSN to the null sender");
	m.sender = "s@example.test";
	m.nrcpts = 0;
	ok(dsn_build(&m, &out, &len) == -1, "H11: no DSN without a recipient");
}

/* RFC 6533: UTF-8 addresses make the global form. */
static void
test_global(void)
{
	struct dsn_rcpt	 r[2] = {
		{ "j\xc3\xb6rg+tag@b\xc3\xbc" "cher.example", "550 5.1.1 no such user",
		    "mx.xn--bcher-kva.example[192.0.2.7]", T_NOW },
		{ "plain@d1.test", "550 5.1.1 no such user", NULL, T_NOW },
	};
	const char	*hdrs = "Subject: Gr\xc3\xbc\xc3\x9f" "e\r\nFrom: a@b.test\r\n\r\n";
	struct dp_msg	 m;
	const char	*v, *why = "";
	char		*out;
	size_t		 len;

	ok(build(r, 2, hdrs, &out, &len) == 0, "RFC 6533: a DSN for a UTF-8 recipient is built");
	ok(dp_lines_ok(out, len, &why) == 0, "RFC 6533: CRLF lines of at most 998 octets");
	ok(dp_parse(out, len, &m) == 0, "RFC 6533: it parses as a multipart");
	v = dp_field(m.headers, "Content-Type");
	ok(v != NULL && strstr(v, "report-type=global-delivery-status;") != NULL,
	    "RFC 6533: multipart/report; report-type=global-delivery-status");
	ok(m.nparts == 3 && strstr(m.parts[1].headers, "message/global-delivery-status") != NULL,
	    "RFC 6533: the status part is message/global-delivery-status");
	ok(m.nparts == 3 && strstr(m.parts[2].headers, "message/global-headers") != NULL,
	    "RFC 6533 6.3: a header section with UTF-8 is message/global-headers");
	is_int(m.nblocks, 3, "RFC 6533: per-message fields and two recipients");
	if (m.nblocks == 3) {
		is_str(dp_field(m.blocks[1], "Final-Recipient"),
		    "utf-8; j\xc3\xb6rg\\x{2B}tag@b\xc3\xbc" "cher.example",
		    "RFC 6533 3: utf-8 address type, \"+\" as \\x{2B}");
		is_str(dp_field(m.blocks[2], "Final-Recipient"), "rfc822; plain@d1.test",
		    "an ASCII address keeps type rfc822");
	}
	dp_free(&m);
	free(out);
	ok(build(r + 1, 1, "Subject: x\r\n\r\n", &out, &len) == 0 &&
	    strstr(out, "report-type=delivery-status;") != NULL &&
	    strstr(out, "message/global") == NULL,
	    "ASCII addresses and headers: the RFC 3464 form, unchanged");
	free(out);
}

int
main(void)
{
	test_status();
	test_date();
	test_structure();
	test_hostile();
	test_boundary();
	test_refusals();
	test_global();
	return tap_done();
}
