/*
 * test_smtp_limits.c: the listener against clients that hold it up: lines
 * and DATA trickled an octet at a time, sessions that never end, clients
 * that never read their replies, and a shutdown with sessions in every
 * phase. Deadlines are 1-2 s; the tests poll, never sleep to assert.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/strutil.h"
#include "relay/smtp_server.h"
#include "tests/tap.h"
#include "tests/unit/smtp_harness.h"

static struct h_server	hs;

static void
bail(const char *why)
{
	printf("Bail out! %s\n", why);
	exit(1);
}

static void
start(void)
{
	char err[256];

	if (h_start(&hs, err, sizeof(err)) != 0)
		bail(err);
}

static void
open_session(struct h_conn *c)
{
	if (h_connect(c, hs.port, NULL) != 0 || h_reply(c) != 220 ||
	    h_cmd(c, "EHLO client.test") != 250)
		bail("cannot open a session");
}

static int
readable(struct h_conn *c, int ms)
{
	struct pollfd pfd = { c->fd, POLLIN, 0 };

	return c->len > 0 || poll(&pfd, 1, ms) > 0;
}

/*
 * Send text one octet every 150 ms until the server says something or the
 * text runs out; the number of octets sent.
 */
static size_t
trickle(struct h_conn *c, const char *text)
{
	size_t i;

	for (i = 0; text[i] != '\0'; i++) {
		if (h_send(c, text + i, 1) != 0 || readable(c, 150))
			return i + 1;
	}
	return i;
}

static void
test_trickled_line(void)
{
	static const char	line[] = "HELP slowly slowly slowly slowly slowly slowly\r\n";
	struct h_conn		c;
	uint64_t		t0;
	size_t			n;

	h_config(&hs.cfg);
	hs.cfg.timeout_command = 1;
	start();
	open_session(&c);
	t0 = strutil_now_ms();
	n = trickle(&c, line);
	ok(n < sizeof(line) - 1, "a line trickled an octet per 150 ms is cut off before its end");
	is_int(h_reply(&c), 421, "trickled command line: 421");
	ok(strstr(c.reply, "421 4.4.2") != NULL, "trickled command line: 421 4.4.2");
	ok(strutil_now_ms() - t0 < 4000, "cut off near timeout_command after the first octet");
	ok(h_eof(&c), "trickled command line: closed");
	h_close(&c);

	/* an AUTH-free session: the same holds for the first line after the greeting */
	if (h_connect(&c, hs.port, NULL) != 0 || h_reply(&c) != 220)
		bail("connect");
	n = trickle(&c, line);
	ok(n < sizeof(line) - 1 && h_reply(&c) == 421 && strstr(c.reply, "421 4.4.2") != NULL,
	    "trickled first line after the greeting: 421 4.4.2");
	h_close(&c);

	/* whole lines at a normal pace are not affected */
	open_session(&c);
	is_int(h_cmd(&c, "NOOP"), 250, "a whole line is answered");
	h_close(&c);
	h_stop(&hs);
}

static void
test_trickled_data(void)
{
	static const char	slow[] = "Subject: slow\r\n\r\none octet at a time, for ever "
	    "and ever and ever and ever and ever\r\n.\r\n";
	struct h_conn		c;
	char			*big;
	uint64_t		t0;
	size_t			n, len = 50000, i;

	h_config(&hs.cfg);
	hs.cfg.timeout_data = 1;
	hs.tune.data_min_rate = 4096;
	start();
	open_session(&c);
	ok(h_cmd(&c, "MAIL FROM:<a@b.test>") == 250 && h_cmd(&c, "RCPT TO:<r@b.test>") == 250 &&
	    h_cmd(&c, "DATA") == 354, "DATA");
	t0 = strutil_now_ms();
	n = trickle(&c, slow);
	ok(n < sizeof(slow) - 1, "DATA trickled an octet per 150 ms is cut off before its end");
	is_int(h_reply(&c), 421, "trickled DATA: 421");
	ok(strstr(c.reply, "421 4.4.2") != NULL, "trickled DATA: 421 4.4.2");
	ok(strutil_now_ms() - t0 < 4000, "trickled DATA: cut off near timeout_data");
	ok(h_eof(&c), "trickled DATA: closed");
	is_int(h_nmsgs(&hs), 0, "trickled DATA: nothing stored");
	h_close(&c);

	/* a message sent at a normal rate takes longer than timeout_data: fine */
	big = malloc(len);
	for (i = 0; i < len; i++)
		big[i] = (i % 100 == 98) ? '\r' : (i % 100 == 99) ? '\n' : 'z';
	memcpy(big + len - 5, "\r\n.\r\n", 5);
	open_session(&c);
	ok(h_cmd(&c, "MAIL FROM:<a@b.test>") == 250 && h_cmd(&c, "RCPT TO:<r@b.test>") == 250 &&
	    h_cmd(&c, "DATA") == 354, "DATA again");
	for (i = 0; i < len; i += 10000) {
		h_send(&c, big + i, len - i < 10000 ? len - i : 10000);
		usleep(200000);
	}
	is_int(h_reply(&c), 250, "50 kB in 1 s (over timeout_data, above the rate) accepted");
	free(big);
	h_close(&c);
	h_stop(&hs);
}

static void
test_lifetime(void)
{
	struct h_conn	c;
	uint64_t	t0;
	int		code = 0;

	h_config(&hs.cfg);
	hs.tune.session_lifetime = 1;
	start();
	open_session(&c);
	t0 = strutil_now_ms();
	while (strutil_now_ms() - t0 < 5000 && (code = h_cmd(&c, "NOOP")) == 250)
		usleep(100000);
	is_int(code, 421, "a busy idle session gets 421 at its lifetime");
	ok(strstr(c.reply, "421 4.4.2") != NULL, "session lifetime: 421 4.4.2");
	ok(h_eof(&c), "session lifetime: closed");
	h_close(&c);

	/* a transaction running over the lifetime finishes first */
	open_session(&c);
	ok(h_cmd(&c, "MAIL FROM:<a@b.test>") == 250 && h_cmd(&c, "RCPT TO:<r@b.test>") == 250 &&
	    h_cmd(&c, "DATA") == 354 && h_sends(&c, "Subject: x\r\n\r\n") == 0, "DATA begun");
	usleep(1500000);	/* let the lifetime pass while in DATA */
	h_sends(&c, "body\r\n.\r\n");
	is_int(h_reply(&c), 250, "the message in flight at the lifetime is accepted");
	is_int(h_reply(&c), 421, "then 421");
	ok(strstr(c.reply, "421 4.4.2") != NULL && h_eof(&c), "then 421 4.4.2 and closed");
	is_int(h_nmsgs(&hs), 1, "the message was stored");
	h_close(&c);
	h_stop(&hs);
}

/* Pipeline NOOPs without reading a reply until the socket takes no more. */
static size_t
flood(struct h_conn *c, size_t max)
{
	static const char	noop[] = "NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n"
	    "NOOP\r\nNOOP\r\nNOOP\r\n";
	struct pollfd		pfd;
	size_t			sent = 0, off = 0;
	ssize_t			n;

	if (fcntl(c->fd, F_SETFL, O_NONBLOCK) != 0)
		bail("fcntl");
	while (sent < max) {
		n = send(c->fd, noop + off, sizeof(noop) - 1 - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			if (off == sizeof(noop) - 1) {
				off = 0;
				sent += 10;
			}
			continue;
		}
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			break;
		pfd.fd = c->fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, 300) <= 0)
			break;		/* the server takes no more */
	}
	return sent;
}

static void
test_unread_replies(void)
{
	struct h_conn	c;
	size_t		sent, nsess, in, out, replies = 0, i;
	char		buf[65536];
	ssize_t		n;

	h_config(&hs.cfg);
	hs.cfg.timeout_command = 2;
	start();
	open_session(&c);
	sent = flood(&c, 2000000);
	nsess = h_buffers(&hs, &in, &out);
	diag("%zu NOOPs sent before the socket was full; server buffers in=%zu out=%zu",
	    sent, in, out);
	ok(sent < 2000000, "a client that does not read cannot pipeline without end");
	ok(nsess == 1 && in <= 16 * 1024 && out <= 17 * 1024,
	    "server buffers stay bounded (16 KiB in, 16 KiB + one reply out)");
	ok(h_wait_sessions(&hs, 0, 8000), "a client that stops reading is dropped after the timeout");
	if (fcntl(c.fd, F_SETFL, 0) != 0)
		bail("fcntl");
	while ((n = read(c.fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < (size_t)n; i++)
			replies += buf[i] == '\n';
	ok(replies < sent, "not every pipelined NOOP was answered");
	diag("%zu replies read after the drop", replies);
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
	struct h_conn	idle, mail, data, bad, auth;
	uint64_t	t0;

	h_config(&hs.cfg);
	start();
	open_session(&idle);
	open_session(&mail);
	ok(h_cmd(&mail, "MAIL FROM:<a@b.test>") == 250 && h_cmd(&mail, "RCPT TO:<r@b.test>") == 250,
	    "a session with an open transaction");
	open_session(&data);
	ok(h_cmd(&data, "MAIL FROM:<a@b.test>") == 250 && h_cmd(&data, "RCPT TO:<r@b.test>") == 250 &&
	    h_cmd(&data, "DATA") == 354 && h_sends(&data, "Subject: x\r\n\r\nbody") == 0,
	    "a session in the middle of DATA");
	open_session(&bad);
	ok(h_cmd(&bad, "MAIL FROM:<a@b.test>") == 250 && h_cmd(&bad, "RCPT TO:<r@b.test>") == 250 &&
	    h_cmd(&bad, "DATA") == 354 && h_sends(&bad, "bare\nLF") == 0,
	    "a session in the middle of a message that will be refused");
	if (h_connect(&auth, hs.port, NULL) != 0 || h_reply(&auth) != 220)
		bail("connect");
	h_sends(&auth, "EHLO client.test\r\nHELP partial");
	is_int(h_reply(&auth), 250, "a session with half a command line");
	t0 = strutil_now_ms();
	h_call(&hs, stop_server, hs.srv);
	ok(h_reply(&idle) == 421 && strstr(idle.reply, "421 4.3.2") != NULL && h_eof(&idle),
	    "stop: idle session gets 421 4.3.2 and is closed");
	ok(h_reply(&mail) == 421 && strstr(mail.reply, "421 4.3.2") != NULL && h_eof(&mail),
	    "stop: session in MAIL/RCPT gets 421 4.3.2 at once and is closed");
	ok(h_reply(&auth) == 421 && h_eof(&auth), "stop: session with half a line gets 421");
	ok(strutil_now_ms() - t0 < 3000, "stop: those without a message in flight go at once");
	is_int(h_pending(&data), 0, "stop: no 421 in the middle of DATA");
	h_sends(&data, "\r\n.\r\n");
	is_int(h_reply(&data), 250, "stop: the message in flight is answered");
	is_int(h_reply(&data), 421, "stop: then 421");
	ok(strstr(data.reply, "421 4.3.2") != NULL && h_eof(&data),
	    "stop: 421 4.3.2 after the message, then closed without waiting for QUIT");
	h_sends(&bad, "\r\n.\r\n");
	is_int(h_reply(&bad), 554, "stop: the refused message is answered");
	ok(h_reply(&bad) == 421 && strstr(bad.reply, "421 4.3.2") != NULL && h_eof(&bad),
	    "stop: then 421 4.3.2 and closed");
	is_int(h_nmsgs(&hs), 1, "stop: one message stored");
	ok(h_wait_sessions(&hs, 0, 5000), "stop: no session left");
	h_close(&idle);
	h_close(&mail);
	h_close(&data);
	h_close(&bad);
	h_close(&auth);
	h_stop(&hs);
}

int
main(void)
{
	test_trickled_line();
	test_trickled_data();
	test_lifetime();
	test_unread_replies();
	test_stop();
	return tap_done();
}
