/*
 * test_smtp_session.c: the SMTP server end to end over loopback, with a fake
 * queue: greeting, EHLO, transactions, pipelining, limits, every H2 variant,
 * relay access, timeouts, connection limits, Received: and loop detection.
 */
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include "common/netaddr.h"
#include "common/strutil.h"
#include "relay/smtp_server.h"
#include "tests/tap.h"
#include "tests/unit/smtp_harness.h"

static struct h_server	hs;

static int
start(void)
{
	char err[256];

	if (h_start(&hs, err, sizeof(err)) != 0) {
		printf("Bail out! server: %s\n", err);
		exit(1);
	}
	return hs.port;
}

static void
open_session(struct h_conn *c)
{
	if (h_connect(c, hs.port, NULL) != 0 || h_reply(c) != 220 ||
	    h_cmd(c, "EHLO client.test") != 250) {
		printf("Bail out! cannot open a session\n");
		exit(1);
	}
}

/* MAIL, RCPT, DATA; returns the code after the 354 and the body. */
static int
transaction(struct h_conn *c, const char *body, size_t len)
{
	if (h_cmd(c, "MAIL FROM:<s@a.test>") != 250 || h_cmd(c, "RCPT TO:<r@b.test>") != 250 ||
	    h_cmd(c, "DATA") != 354)
		return -1;
	if (h_send(c, body, len) != 0)
		return -1;
	return h_reply(c);
}

/* "; Sun, 22 Nov 2026 11:40:00 +0000\r\n" ends the Received: header, within a second of now */
static int
received_date_ok(const char *msg)
{
	const char	*p = strstr(msg, "; "), *end;
	struct tm	 tm;
	time_t		 t, now = time(NULL);

	if (p == NULL || (end = strstr(p, "\r\n")) == NULL || end - p < 31)
		return 0;
	memset(&tm, 0, sizeof(tm));
	end = strptime(p + 2, "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (end == NULL || strncmp(end, "\r\n", 2) != 0)
		return 0;
	t = timegm(&tm) - tm.tm_gmtoff;
	return t <= now && now - t <= 5;
}

static void
test_basics(void)
{
	struct h_conn	c;
	const char	*m;

	h_config(&hs.cfg);
	hs.cfg.max_errors = 20;
	start();
	ok(h_connect(&c, hs.port, NULL) == 0, "connect");
	is_int(h_reply(&c), 220, "greeting is 220");
	is_str(c.reply, "220 relay.test ESMTP stsrelay\r\n", "greeting text");
	is_int(h_cmd(&c, "MAIL FROM:<a@b.test>"), 503, "MAIL before EHLO is 503");
	ok(strstr(c.reply, "503 5.5.1") != NULL, "H9: 503 carries 5.5.1");
	is_int(h_cmd(&c, "EHLO client.test"), 250, "EHLO is 250");
	ok(strstr(c.reply, "250-relay.test\r\n") == c.reply, "EHLO first line names the host");
	ok(strstr(c.reply, "PIPELINING") && strstr(c.reply, "SIZE 100000") &&
	    strstr(c.reply, "8BITMIME") && strstr(c.reply, "ENHANCEDSTATUSCODES") &&
	    strstr(c.reply, "SMTPUTF8"), "EHLO advertises PIPELINING SIZE 8BITMIME "
	    "ENHANCEDSTATUSCODES SMTPUTF8");
	ok(strstr(c.reply, "STARTTLS") == NULL, "no STARTTLS without a certificate");
	ok(strstr(c.reply, "AUTH") == NULL, "H3: no AUTH without TLS");
	is_int(h_cmd(&c, "STARTTLS"), 454, "STARTTLS without a certificate is 454");
	ok(strstr(c.reply, "454 4.7.0") != NULL, "H9: 454 4.7.0");
	is_int(h_cmd(&c, "NOOP"), 250, "NOOP");
	is_int(h_cmd(&c, "VRFY x"), 252, "VRFY 252");
	is_int(h_cmd(&c, "HELP"), 214, "HELP 214");
	is_int(h_cmd(&c, "FOO"), 500, "unknown command 500");
	ok(strstr(c.reply, "500 5.5.1") != NULL, "H9: unknown command 500 5.5.1");
	is_int(h_cmd(&c, "RCPT TO:<a@b.test>"), 503, "RCPT before MAIL is 503");
	is_int(h_cmd(&c, "MAIL FROM:<@x.test:a@b.test>"), 553, "H5: source route in MAIL 553");
	is_int(h_cmd(&c, "MAIL FROM:<a@b.test> FOO=BAR"), 555, "unknown MAIL parameter 555");
	is_int(h_cmd(&c, "MAIL FROM:<a@b.test> SIZE=100001"), 552, "H7: SIZE over the limit at MAIL");
	ok(strstr(c.reply, "552 5.3.4") != NULL, "H7/H9: 552 5.3.4");
	is_int(h_cmd(&c, "MAIL FROM:<a@b.test> SIZE=99999999999999999999"), 552,
	    "H7: a 20-digit SIZE beyond 64 bits is over the limit: 552");
	is_int(h_cmd(&c, "MAIL FROM:<a@b.test> SIZE=18446744073709551617"), 552,
	    "H7: SIZE of 2^64 + 1 does not wrap to 1: 552");
	is_int(h_cmd(&c, "MAIL FROM:<a@b.test> SIZE=100000 BODY=8BITMIME"), 250, "MAIL with SIZE");
	ok(strstr(c.reply, "250 2.1.0") != NULL, "H9: 250 2.1.0 to MAIL");
	is_int(h_cmd(&c, "MAIL FROM:<a@b.test>"), 503, "nested MAIL 503");
	is_int(h_cmd(&c, "DATA"), 503, "DATA without RCPT 503");
	is_int(h_cmd(&c, "RCPT TO:<u%v@b.test>"), 553, "H5: percent hack refused");
	is_int(h_cmd(&c, "RCPT TO:<u@[192.0.2.1]>"), 553, "H5: address literal refused");
	is_int(h_cmd(&c, "RCPT TO:<>"), 501, "null recipient refused");
	is_int(h_cmd(&c, "RCPT TO:<r@b.test>"), 250, "RCPT");
	ok(strstr(c.reply, "250 2.1.5") != NULL, "H9: 250 2.1.5 to RCPT");
	is_int(h_cmd(&c, "DATA"), 354, "DATA 354");
	h_sends(&c, "Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\n");
	is_int(h_reply(&c), 250, "H10: 250 after the queue's callback");
	ok(strstr(c.reply, "250 2.0.0 Ok: queued as TEST") != NULL, "reply names the queue id");
	is_int(h_nmsgs(&hs), 1, "one message stored");
	m = hs.q.msgs[0].body;
	ok(strncmp(m, "Received: from client.test ([127.0.0.1])\r\n\tby relay.test (stsrelay) "
	    "with ESMTP id TEST", 76) == 0, "H10: Received: header first");
	ok(strstr(m, "\tfor <r@b.test>; ") != NULL, "Received: names the single recipient");
	ok(strstr(m, "\r\nSubject: hi\r\n\r\n.dot\r\nbody\r\n") != NULL, "body unstuffed");
	ok(received_date_ok(m), "H10: Received: ends in an RFC 5322 date (cached per second)");
	is_str(hs.q.msgs[0].sender, "a@b.test", "envelope sender");
	is_int(hs.q.msgs[0].flags, QUEUE_F_8BITMIME, "BODY=8BITMIME flag");
	/* H8: a next hop must learn of 8-bit text the client did not declare */
	is_int(transaction(&c, "Subject: caf\xc3\xa9\r\n\r\nx\r\n.\r\n", 24), 250,
	    "8-bit text without BODY=8BITMIME is taken");
	is_int(h_nmsgs(&hs) == 2 ? hs.q.msgs[1].flags : 0, QUEUE_F_8BITMIME,
	    "H8: undeclared 8-bit text is stored as 8BITMIME");
	is_int(transaction(&c, "Subject: plain\r\n\r\nx\r\n.\r\n", 24), 250,
	    "7-bit text without BODY=8BITMIME is taken");
	is_int(h_nmsgs(&hs) == 3 ? (int)hs.q.msgs[2].flags : -1, 0,
	    "H8: 7-bit text without BODY= is stored as 7-bit");
	is_int(h_cmd(&c, "QUIT"), 221, "QUIT 221");
	ok(h_eof(&c), "closed after QUIT");
	h_close(&c);
	h_stop(&hs);
}

static void
test_pipelining(void)
{
	struct h_conn	c;
	int		codes[8], i;

	h_config(&hs.cfg);
	start();
	open_session(&c);
	h_sends(&c, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nRCPT TO:<z@y.test>\r\nDATA\r\n");
	for (i = 0; i < 4; i++)
		codes[i] = h_reply(&c);
	ok(codes[0] == 250 && codes[1] == 250 && codes[2] == 250 && codes[3] == 354,
	    "pipelined MAIL RCPT RCPT DATA answered in order");
	h_sends(&c, "one\r\n.\r\nMAIL FROM:<b@b.test>\r\nRCPT TO:<w@y.test>\r\nDATA\r\n"
	    "two\r\n.\r\nQUIT\r\n");
	for (i = 0; i < 6; i++)
		codes[i] = h_reply(&c);
	ok(codes[0] == 250 && codes[1] == 250 && codes[2] == 250 && codes[3] == 354 &&
	    codes[4] == 250 && codes[5] == 221,
	    "commands after the end of DATA wait for the commit, then run in order");
	is_int(h_nmsgs(&hs), 2, "two messages stored");
	ok(hs.q.msgs[0].nrcpts == 2 && strstr(hs.q.msgs[0].body, "\r\none\r\n") != NULL,
	    "first message: two recipients, its body");
	ok(strstr(hs.q.msgs[0].body, "\tfor <") == NULL, "no 'for' with several recipients");
	ok(hs.q.msgs[1].nrcpts == 1 && strstr(hs.q.msgs[1].body, "\r\ntwo\r\n") != NULL &&
	    strstr(hs.q.msgs[1].body, "one") == NULL, "second message: its own body");
	h_close(&c);

	/* QUIT in the middle of a pipelined transaction: nothing after it runs */
	open_session(&c);
	h_sends(&c, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nQUIT\r\nDATA\r\n"
	    "three\r\n.\r\n");
	for (i = 0; i < 3; i++)
		codes[i] = h_reply(&c);
	ok(codes[0] == 250 && codes[1] == 250 && codes[2] == 221,
	    "pipelined QUIT after RCPT: 250 250 221");
	ok(h_eof(&c), "closed after the pipelined QUIT, nothing answered after it");
	is_int(h_nmsgs(&hs), 2, "nothing after QUIT was stored");
	h_close(&c);
	h_stop(&hs);
}

static void
test_duplicate_rcpts(void)
{
	static const struct {
		const char	*cmd;
		int		 code;
	} t[] = {
		{ "RCPT TO:<r@b.test>", 250 },
		{ "RCPT TO:<r@B.TEST>", 250 },		/* the domain in another case */
		{ "RCPT TO: <r@b.test>", 250 },		/* a blank before the path */
		{ "RCPT TO:<R@b.test>", 250 },		/* another local part */
		{ "RCPT TO:<postmaster>", 250 },
		{ "RCPT TO:<postmaster@relay.test>", 250 },
		{ "RCPT TO:<postmaster@RELAY.test>", 250 },
		/* no DSN offered (EHLO), so no ORCPT: nothing to compare */
		{ "RCPT TO:<r@b.test> ORCPT=rfc822;r@b.test", 555 },
		{ "rcpt to:<r@b.test>", 250 },		/* 8th RCPT answered 250 */
		{ "RCPT TO:<new@b.test>", 452 },	/* over recipient_limit = 8 */
	};
	struct h_conn	c;
	struct h_msg	*m;
	char		name[200];
	size_t		i;
	int		n250 = 0, code;

	h_config(&hs.cfg);
	hs.cfg.recipient_limit = 8;
	start();
	open_session(&c);
	is_int(h_cmd(&c, "MAIL FROM:<s@a.test>"), 250, "MAIL");
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		code = h_cmd(&c, t[i].cmd);
		n250 += code == 250;
		snprintf(name, sizeof(name), "duplicate RCPT: %s answered %d", t[i].cmd, t[i].code);
		is_int(code, t[i].code, name);
	}
	is_int(n250, 8, "duplicate RCPT: every repeat is answered 250 (as Postfix does)");
	ok(strstr(c.reply, "452 4.5.3") != NULL,
	    "H6: recipient_limit counts every RCPT answered 250, repeats too");
	is_int(h_cmd(&c, "DATA"), 354, "DATA");
	h_sends(&c, "Subject: dup\r\n\r\nx\r\n.\r\n");
	is_int(h_reply(&c), 250, "message taken");
	is_int(h_nmsgs(&hs), 1, "one message stored");
	m = &hs.q.msgs[0];
	is_int(m->nrcpts, 3, "duplicate RCPT: the spool record holds each recipient once");
	ok(m->nrcpts == 3 && strcmp(m->rcpts[0], "r@b.test") == 0 &&
	    strcmp(m->rcpts[1], "R@b.test") == 0 &&
	    strcmp(m->rcpts[2], "postmaster@relay.test") == 0,
	    "duplicate RCPT: the first spelling is kept, in order; local parts keep their case");

	/* a single recipient named twice is one recipient: Received: says for <...> */
	is_int(h_cmd(&c, "MAIL FROM:<s@a.test>"), 250, "MAIL");
	is_int(h_cmd(&c, "RCPT TO:<one@b.test>"), 250, "RCPT");
	is_int(h_cmd(&c, "RCPT TO:<one@B.test>"), 250, "the same RCPT again");
	is_int(h_cmd(&c, "DATA"), 354, "DATA");
	h_sends(&c, "x\r\n.\r\n");
	is_int(h_reply(&c), 250, "message taken");
	ok(h_nmsgs(&hs) == 2 && hs.q.msgs[1].nrcpts == 1 &&
	    strstr(hs.q.msgs[1].body, "\tfor <one@b.test>; ") != NULL,
	    "duplicate RCPT: one recipient stored, Received: names it");
	/* a new transaction starts its count and its list afresh */
	is_int(h_cmd(&c, "MAIL FROM:<s@a.test>"), 250, "MAIL");
	is_int(h_cmd(&c, "RCPT TO:<one@b.test>"), 250, "a recipient of the last message is new again");
	h_close(&c);
	h_stop(&hs);
}

/* RFC 5321 3.3, 4.1.1.11: no extension parameters in a session begun with HELO. */
static void
test_helo_params(void)
{
	static const char *const refused[] = {
		"MAIL FROM:<s@a.test> SIZE=100",
		"MAIL FROM:<s@a.test> BODY=8BITMIME",
		"MAIL FROM:<s@a.test> SMTPUTF8",
		"MAIL FROM:<s@a.test> AUTH=<>",
	};
	struct h_conn	c;
	char		name[200];
	size_t		i;

	h_config(&hs.cfg);
	start();
	ok(h_connect(&c, hs.port, NULL) == 0 && h_reply(&c) == 220, "connect");
	is_int(h_cmd(&c, "HELO client.test"), 250, "HELO");
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(name, sizeof(name), "RFC 5321 4.1.1.11: after HELO, %s is 555 5.5.4",
		    refused[i]);
		ok(h_cmd(&c, refused[i]) == 555 && strstr(c.reply, "555 5.5.4") != NULL, name);
	}
	is_int(h_cmd(&c, "MAIL FROM:<s@a.test>"), 250, "after HELO, MAIL without parameters is 250");
	ok(h_cmd(&c, "RCPT TO:<r@b.test> NOTIFY=NEVER") == 555 &&
	    strstr(c.reply, "555 5.5.4") != NULL, "after HELO, a RCPT parameter is 555 5.5.4");
	is_int(h_cmd(&c, "RCPT TO:<r@b.test>"), 250, "RCPT without parameters");
	is_int(h_cmd(&c, "DATA"), 354, "DATA");
	h_sends(&c, "x\r\n.\r\n");
	is_int(h_reply(&c), 250, "a plain SMTP message is taken");
	ok(h_nmsgs(&hs) == 1 && hs.q.msgs[0].flags == 0 &&
	    strstr(hs.q.msgs[0].body, " with SMTP id ") != NULL,
	    "stored without 8BITMIME/SMTPUTF8, Received: says with SMTP");
	is_int(h_cmd(&c, "EHLO client.test"), 250, "EHLO in the same session");
	is_int(h_cmd(&c, "MAIL FROM:<s@a.test> SIZE=100 BODY=8BITMIME"), 250,
	    "after EHLO the same parameters are taken");
	is_int(h_cmd(&c, "RSET"), 250, "RSET");
	is_int(h_cmd(&c, "HELO client.test"), 250, "HELO again");
	is_int(h_cmd(&c, "MAIL FROM:<s@a.test> SIZE=100"), 555,
	    "a HELO after EHLO takes the extensions away again");
	h_close(&c);
	h_stop(&hs);
}

static void
test_limits(void)
{
	struct h_conn	c;
	char		line[1200], *big;
	int		i, n250 = 0, last = 0;
	size_t		len;

	h_config(&hs.cfg);
	start();
	open_session(&c);
	memset(line, 'a', sizeof(line));
	memcpy(line, "HELO ", 5);
	memcpy(line + 600, "\r\n", 3);
	h_sends(&c, line);
	is_int(h_reply(&c), 500, "H6: command line over 512 octets refused");
	ok(strstr(c.reply, "500 5.5.2") != NULL, "H6/H9: 500 5.5.2 line too long");
	memset(line, 'x', 1000);
	memcpy(line + 1000, "QUIT\r\n", 7);
	h_sends(&c, line);
	is_int(h_reply(&c), 500, "H6: overlong line with QUIT at its tail refused");
	is_int(h_cmd(&c, "NOOP"), 250, "H6: the tail of an overlong line is never executed");
	h_sends(&c, "NOOP\n");
	is_int(h_reply(&c), 500, "bare LF command refused");
	is_int(h_cmd(&c, "MAIL FROM:<a@b.test>"), 250, "MAIL");
	for (i = 0; i < 101; i++) {
		snprintf(line, sizeof(line), "RCPT TO:<r%d@b.test>\r\n", i);
		h_sends(&c, line);
	}
	for (i = 0; i < 101; i++) {
		last = h_reply(&c);
		n250 += last == 250;
	}
	is_int(n250, 100, "H6: 100 recipients accepted");
	is_int(last, 452, "H6: the 101st gets 452");
	ok(strstr(c.reply, "452 4.5.3") != NULL, "H6/H9: 452 4.5.3");
	is_int(h_cmd(&c, "RSET"), 250, "RSET");

	len = 100001 + 5;
	big = malloc(len + 1);
	memset(big, 'y', len);
	for (i = 998; i < 100000; i += 1000)
		memcpy(big + i, "\r\n", 2);
	memcpy(big + len - 5, "\r\n.\r\n", 5);
	is_int(transaction(&c, big, len), 552, "H7: message over the limit refused at end of DATA");
	ok(strstr(c.reply, "552 5.3.4") != NULL, "H7/H9: 552 5.3.4");
	free(big);
	is_int(h_nmsgs(&hs), 0, "nothing stored");
	is_int(h_cmd(&c, "NOOP"), 250, "session goes on after a refused message");
	h_close(&c);
	h_stop(&hs);
}

static void
test_h2(void)
{
	static const struct { const char *seq; size_t len; } v[] = {
		{ "\n.\n", 3 }, { "\r.\r", 3 }, { "\r.\n", 3 }, { "\n.\r", 3 },
		{ "\n.\r\n", 4 }, { "\r\n.\n", 4 }, { "\r.\r\n", 4 }, { "\r\n.\r", 4 },
		{ "\r\n\0.\r\n", 6 }, { "\r\r\n", 3 },
	};
	static const char	smuggled[] = "MAIL FROM:<evil@x.test>\r\nRCPT TO:<v@y.test>\r\n"
	    "DATA\r\nsmuggled\r\n";
	struct h_conn		c;
	char			msg[512], name[200];
	size_t			i, len;
	int			code;

	h_config(&hs.cfg);
	start();
	open_session(&c);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		len = 0;
		len = strlen("Subject: x\r\n\r\nline");
		memcpy(msg, "Subject: x\r\n\r\nline", len);
		memcpy(msg + len, v[i].seq, v[i].len);
		len += v[i].len;
		memcpy(msg + len, smuggled, sizeof(smuggled) - 1);
		len += sizeof(smuggled) - 1;
		memcpy(msg + len, ".\r\n", 3);
		len += 3;
		code = transaction(&c, msg, len);
		snprintf(name, sizeof(name), "H2: variant %zu refused end to end with 554 5.6.11", i);
		ok(code == 554 && strstr(c.reply, "554 5.6.11") != NULL, name);
		snprintf(name, sizeof(name), "H2: variant %zu: no smuggled command ran", i);
		ok(h_cmd(&c, "NOOP") == 250 && strstr(c.reply, "250 2.0.0 Ok") != NULL, name);
	}
	is_int(h_nmsgs(&hs), 0, "H2: nothing stored");
	h_close(&c);
	h_stop(&hs);
}

static void
test_relay_and_loops(void)
{
	struct h_conn	c;
	char		msg[2048];
	size_t		len = 0;
	int		i;

	h_config(&hs.cfg);
	netaddr_cidr_parse("10.0.0.0/8", &hs.cfg.client_networks[0]);
	hs.cfg.max_errors = 3;
	start();
	open_session(&c);
	is_int(h_cmd(&c, "MAIL FROM:<a@b.test>"), 250, "MAIL from outside the client networks");
	is_int(h_cmd(&c, "RCPT TO:<r@b.test>"), 554, "H5: RCPT from outside is refused");
	ok(strstr(c.reply, "554 5.7.1") && strstr(c.reply, "Relay access denied"),
	    "H5: 554 5.7.1 Relay access denied");
	is_int(h_cmd(&c, "RCPT TO:<postmaster>"), 554,
	    "H5: <postmaster> (postmaster@hostname) is relay-checked too");
	is_int(h_cmd(&c, "FOO"), 500, "third error: its own reply first");
	is_int(h_reply(&c), 421, "max_errors bad commands: then 421");
	ok(strstr(c.reply, "421 4.7.0") != NULL, "too many errors: 421 4.7.0");
	ok(h_eof(&c), "closed after too many errors");
	h_close(&c);
	h_stop(&hs);

	h_config(&hs.cfg);
	hs.cfg.max_received_headers = 3;
	start();
	open_session(&c);
	for (i = 0; i < 4; i++)
		len += (size_t)snprintf(msg + len, sizeof(msg) - len,
		    "Received: from h%d by h%d; Sun, 1 Jan 2026 00:00:00 +0000\r\n", i, i + 1);
	len += (size_t)snprintf(msg + len, sizeof(msg) - len, "Subject: loop\r\n\r\nx\r\n.\r\n");
	is_int(transaction(&c, msg, len), 554, "H10: 4 Received: headers over a limit of 3");
	ok(strstr(c.reply, "554 5.4.6") != NULL, "H10/H9: 554 5.4.6 too many hops");
	is_int(h_nmsgs(&hs), 0, "looping message not stored");
	h_close(&c);
	h_stop(&hs);
}

static void
test_queue_failures(void)
{
	struct h_conn	c;
	uint64_t	t0;

	h_config(&hs.cfg);
	start();
	open_session(&c);
	hs.q.status = QUEUE_ETEMP;
	is_int(transaction(&c, "x\r\n.\r\n", 6), 451, "QUEUE_ETEMP: 451");
	ok(strstr(c.reply, "451 4.3.0") != NULL, "QUEUE_ETEMP: 451 4.3.0");
	hs.q.status = QUEUE_ENOSPC;
	is_int(transaction(&c, "x\r\n.\r\n", 6), 452, "H7: QUEUE_ENOSPC: 452");
	ok(strstr(c.reply, "452 4.3.1") != NULL, "H7: QUEUE_ENOSPC: 452 4.3.1");
	hs.q.status = QUEUE_OK;
	hs.q.delay_ms = 300;
	h_sends(&c, "MAIL FROM:<a@b.test>\r\nRCPT TO:<r@b.test>\r\nDATA\r\n");
	h_reply(&c);
	h_reply(&c);
	h_reply(&c);
	h_sends(&c, "x\r\n.\r\n");
	h_close(&c);
	t0 = strutil_now_ms();
	while (h_sessions_now(&hs) != 0 && strutil_now_ms() - t0 < 5000)
		usleep(10000);
	is_int(h_sessions_now(&hs), 0, "client gone while committing: session closed");
	usleep(400000);
	is_int(h_nmsgs(&hs), 1, "client gone while committing: message still committed");

	/* the server goes away while a commit is pending: the session waits for it */
	open_session(&c);
	h_sends(&c, "MAIL FROM:<a@b.test>\r\nRCPT TO:<r@b.test>\r\nDATA\r\n");
	h_reply(&c);
	h_reply(&c);
	h_reply(&c);
	h_sends(&c, "y\r\n.\r\n");
	usleep(100000);
	h_free_server(&hs);
	ok(h_eof(&c), "server freed during a commit: connection closed");
	usleep(400000);
	is_int(h_nmsgs(&hs), 2, "server freed during a commit: message stored, session left to its callback");
	h_close(&c);
	h_stop(&hs);
}

/* Send MAIL RCPT DATA and read their three replies; 0 when they are 250 250 354. */
static int
begin_data(struct h_conn *c)
{
	int a, b, d;

	if (h_sends(c, "MAIL FROM:<a@b.test>\r\nRCPT TO:<r@b.test>\r\nDATA\r\n") != 0)
		return -1;
	a = h_reply(c);
	b = h_reply(c);
	d = h_reply(c);
	return a == 250 && b == 250 && d == 354 ? 0 : -1;
}

/*
 * A client that shuts down its sending side (shutdown(SHUT_WR)) right after
 * the final dot, while the commit is in flight, still gets its 250: without
 * it, it would take the message for lost and send it again.
 */
static void
test_half_close(void)
{
	struct linger	lg = { 1, 0 };
	struct h_conn	c;
	int		codes[4];

	h_config(&hs.cfg);
	start();
	hs.q.delay_ms = 300;
	open_session(&c);
	ok(begin_data(&c) == 0, "MAIL RCPT DATA");
	ok(h_sends(&c, "x\r\n.\r\n") == 0 && shutdown(c.fd, SHUT_WR) == 0,
	    "final dot, then shutdown(SHUT_WR) while the commit is in flight");
	is_int(h_reply(&c), 250, "half-close after the dot: the 250 still comes");
	ok(strstr(c.reply, "250 2.0.0 Ok: queued as TEST") != NULL, "half-close: it names the queue id");
	ok(h_eof(&c), "half-close: then the server closes");
	is_int(h_nmsgs(&hs), 1, "half-close: the message is stored");
	ok(h_wait_sessions(&hs, 0, 5000), "half-close: the session is gone");
	h_close(&c);

	/* commands pipelined after the dot are answered too, in order */
	open_session(&c);
	ok(begin_data(&c) == 0, "MAIL RCPT DATA");
	ok(h_sends(&c, "y\r\n.\r\nNOOP\r\nQUIT\r\n") == 0 && shutdown(c.fd, SHUT_WR) == 0,
	    "dot, NOOP, QUIT, then shutdown(SHUT_WR)");
	codes[0] = h_reply(&c);
	codes[1] = h_reply(&c);
	codes[2] = h_reply(&c);
	ok(codes[0] == 250 && codes[1] == 250 && codes[2] == 221,
	    "half-close with pipelined commands: 250 250 221");
	ok(h_eof(&c), "then closed");
	is_int(h_nmsgs(&hs), 2, "the second message is stored");
	h_close(&c);

	/* commands without a commit: every one answered before the close */
	hs.q.delay_ms = 0;
	open_session(&c);
	ok(h_sends(&c, "NOOP\r\nRSET\r\nNOOP\r\n") == 0 && shutdown(c.fd, SHUT_WR) == 0,
	    "NOOP RSET NOOP, then shutdown(SHUT_WR)");
	codes[0] = h_reply(&c);
	codes[1] = h_reply(&c);
	codes[2] = h_reply(&c);
	ok(codes[0] == 250 && codes[1] == 250 && codes[2] == 250,
	    "half-close: all three answered");
	ok(h_eof(&c), "then closed");
	h_close(&c);

	/* half-close in the middle of the message: nothing stored */
	open_session(&c);
	ok(begin_data(&c) == 0, "MAIL RCPT DATA");
	ok(h_sends(&c, "partial\r\n") == 0 && shutdown(c.fd, SHUT_WR) == 0,
	    "half a message, then shutdown(SHUT_WR)");
	ok(h_eof(&c), "half-close in DATA: closed");
	is_int(h_nmsgs(&hs), 2, "half-close in DATA: nothing stored");
	h_close(&c);

	/* a client that closes fully (reset) during the commit loses nothing */
	hs.q.delay_ms = 300;
	open_session(&c);
	ok(begin_data(&c) == 0, "MAIL RCPT DATA");
	ok(h_sends(&c, "z\r\n.\r\n") == 0 &&
	    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0, "final dot");
	h_close(&c);	/* SO_LINGER 0: the close is a reset */
	ok(h_wait_sessions(&hs, 0, 5000), "reset during the commit: the session is gone");
	is_int(h_nmsgs(&hs), 3, "reset during the commit: the message stays stored");

	/* closed fully (FIN) during the commit: the 250 goes nowhere, nothing is lost */
	open_session(&c);
	ok(begin_data(&c) == 0, "MAIL RCPT DATA");
	ok(h_sends(&c, "w\r\n.\r\n") == 0, "final dot");
	h_close(&c);
	ok(h_wait_sessions(&hs, 0, 5000), "close during the commit: the session is gone");
	is_int(h_nmsgs(&hs), 4, "close during the commit: the message stays stored");
	h_stop(&hs);
}

static void
test_timeouts_and_limits(void)
{
	struct h_conn	a, b, c, d;
	uint64_t	t0;

	h_config(&hs.cfg);
	hs.cfg.timeout_greeting = 1;
	hs.cfg.timeout_command = 1;
	hs.cfg.timeout_data = 1;
	start();
	ok(h_connect(&a, hs.port, NULL) == 0 && h_reply(&a) == 220, "connect");
	t0 = strutil_now_ms();
	is_int(h_reply(&a), 421, "greeting timeout: 421");
	ok(strstr(a.reply, "421 4.4.2") != NULL, "timeout: 421 4.4.2");
	ok(strutil_now_ms() - t0 < 5000, "timeout: within the deadline");
	ok(h_eof(&a), "timeout: closed");
	h_close(&a);
	open_session(&a);
	is_int(h_reply(&a), 421, "command timeout: 421");
	h_close(&a);
	open_session(&a);
	ok(h_cmd(&a, "MAIL FROM:<a@b.test>") == 250 && h_cmd(&a, "RCPT TO:<r@b.test>") == 250 &&
	    h_cmd(&a, "DATA") == 354 && h_sends(&a, "partial line") == 0, "DATA, then silence");
	t0 = strutil_now_ms();
	is_int(h_reply(&a), 421, "DATA timeout: 421");
	ok(strutil_now_ms() - t0 < 5000 && h_eof(&a), "DATA timeout: closed within the deadline");
	is_int(h_nmsgs(&hs), 0, "DATA timeout: nothing stored");
	h_close(&a);
	h_stop(&hs);

	h_config(&hs.cfg);
	hs.cfg.max_connections = 2;
	hs.cfg.max_connections_per_client = 1;
	start();
	ok(h_connect(&a, hs.port, "127.0.0.1") == 0 && h_reply(&a) == 220, "first connection");
	ok(h_connect(&b, hs.port, "127.0.0.1") == 0 && h_reply(&b) == 421 &&
	    strstr(b.reply, "421 4.7.0") != NULL, "per-client limit: 421 4.7.0");
	ok(h_eof(&b), "per-client limit: closed");
	ok(h_connect(&c, hs.port, "127.0.0.2") == 0 && h_reply(&c) == 220, "other client accepted");
	ok(h_connect(&d, hs.port, "127.0.0.3") == 0 && h_reply(&d) == 421 &&
	    strstr(d.reply, "Too many connections") != NULL, "global limit: 421 4.7.0");
	h_close(&b);
	h_close(&d);
	h_close(&a);
	t0 = strutil_now_ms();
	while (h_sessions_now(&hs) != 1 && strutil_now_ms() - t0 < 5000)
		usleep(10000);
	ok(h_connect(&a, hs.port, "127.0.0.1") == 0 && h_reply(&a) == 220,
	    "a slot is free again after a disconnect");
	h_close(&a);
	h_close(&c);
	h_stop(&hs);
}

static void
test_ipv6(void)
{
	struct sockaddr_in6	*sin6;
	struct h_conn		 c;
	char			 err[256];

	h_config(&hs.cfg);
	memset(&hs.cfg.listen[0], 0, sizeof(hs.cfg.listen[0]));
	sin6 = (struct sockaddr_in6 *)&hs.cfg.listen[0].ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_addr = in6addr_loopback;
	hs.cfg.listen[0].len = sizeof(*sin6);
	netaddr_cidr_parse("::1/128", &hs.cfg.client_networks[1]);
	hs.cfg.nclient_networks = 2;
	if (h_start(&hs, err, sizeof(err)) != 0) {
		ok(1, "# SKIP no IPv6 loopback");
		return;
	}
	ok(h_connect6(&c, hs.port) == 0 && h_reply(&c) == 220, "IPv6 listener");
	is_int(h_cmd(&c, "EHLO bad(helo)\xc3\xa4"), 250, "EHLO with odd characters");
	is_int(transaction(&c, "x\r\n.\r\n", 6), 250, "IPv6 client in ::1/128 may relay");
	ok(h_nmsgs(&hs) == 1 && strstr(hs.q.msgs[0].body, "Received: from bad?helo??? "
	    "([IPv6:::1])\r\n") != NULL, "Received: names [IPv6:::1], HELO made printable");
	h_close(&c);
	h_stop(&hs);
}

static void
stop_server(void *arg)
{
	smtp_server_stop(arg);
}

static void
test_stop(void)
{
	struct h_conn c;

	h_config(&hs.cfg);
	start();
	open_session(&c);
	h_call(&hs, stop_server, hs.srv);
	is_int(h_reply(&c), 421, "stop: idle session gets 421");
	ok(strstr(c.reply, "421 4.3.2") != NULL, "stop: 421 4.3.2");
	ok(h_eof(&c), "stop: closed");
	h_close(&c);
	h_stop(&hs);
}

int
main(void)
{
	test_basics();
	test_pipelining();
	test_duplicate_rcpts();
	test_helo_params();
	test_limits();
	test_h2();
	test_relay_and_loops();
	test_queue_failures();
	test_half_close();
	test_timeouts_and_limits();
	test_stop();
	test_ipv6();
	return tap_done();
}
