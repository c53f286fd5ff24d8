/*
 * test_smtp_tls.c: STARTTLS (H3) and AUTH over loopback: plaintext sent
 * after STARTTLS is never executed, state is forgotten, AUTH only over TLS,
 * PLAIN and LOGIN, relay only for client networks or authenticated users;
 * password checks off the event loop, bounded, and safe against clients
 * that leave; AUTH responses up to RFC 4954's 12288 octets.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <poll.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/netaddr.h"
#include "common/strutil.h"
#include "relay/smtp_server.h"
#include "tests/tap.h"
#include "tests/unit/smtp_harness.h"

#define SMTP_AUTH_LINE_TEST	12288	/* RFC 4954 4 */

static struct h_server	hs;
static char		dir[] = "/tmp/test_smtp_tls.XXXXXX";
static char		cert[300], key[300], creds[300];

/* "slowpw" as sha512-crypt with 10^6 rounds: well over 100 ms per check */
static const char	slow_hash[] = "$6$rounds=1000000$stsrelayslow$xF3jGkIfPhzib3oCDY4WYhQ."
    "PKCoJJWztJIHWb4A2tg2Ud.erJfuWZJmws0pTD0HbLYE29CYduVwDXrDQvrfo/";

static void
bail(const char *why)
{
	printf("Bail out! %s\n", why);
	exit(1);
}

static void
setup_files(void)
{
	char	cmd[1200], hash[200];
	FILE	*p, *f;

	if (mkdtemp(dir) == NULL)
		bail("mkdtemp");
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(creds, sizeof(creds), "%s/passwd", dir);
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	    "-nodes -subj /CN=test -days 1 -keyout '%s' -out '%s' 2>/dev/null", key, cert);
	if (system(cmd) != 0)
		bail("openssl req failed");
	if ((p = popen("openssl passwd -6 -salt tlstest s3cret", "r")) == NULL ||
	    fgets(hash, sizeof(hash), p) == NULL)
		bail("openssl passwd failed");
	pclose(p);
	hash[strcspn(hash, "\n")] = '\0';
	if ((f = fopen(creds, "w")) == NULL || fprintf(f, "alice:%s\nslow:%s\n", hash, slow_hash) < 0 ||
	    fclose(f) != 0 || chmod(creds, 0600) != 0)
		bail("cannot write the credentials file");
}

static void
config(void)
{
	h_config(&hs.cfg);
	hs.cfg.tls_cert_file = cert;
	hs.cfg.tls_key_file = key;
	hs.cfg.smtp_auth = 1;
	hs.cfg.auth_credentials_file = creds;
	hs.cfg.timeout_tls_handshake = 1;
	hs.cfg.max_errors = 20;
	/* 127.0.0.1 is not a client network: only AUTH opens the relay */
	netaddr_cidr_parse("10.0.0.0/8", &hs.cfg.client_networks[0]);
}

static void
b64(const char *in, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)len);
}

static void
tls_session(struct h_conn *c)
{
	if (h_connect(c, hs.port, NULL) != 0 || h_reply(c) != 220 ||
	    h_cmd(c, "EHLO client.test") != 250 || h_cmd(c, "STARTTLS") != 220 ||
	    h_starttls(c) != 0 || h_cmd(c, "EHLO client.test") != 250)
		bail("cannot open a TLS session");
}

static void
test_starttls(void)
{
	struct h_conn c;

	ok(h_connect(&c, hs.port, NULL) == 0 && h_reply(&c) == 220, "connect");
	is_int(h_cmd(&c, "EHLO client.test"), 250, "EHLO");
	ok(strstr(c.reply, "250-STARTTLS\r\n") != NULL || strstr(c.reply, "250 STARTTLS\r\n") != NULL,
	    "STARTTLS offered with a certificate");
	ok(strstr(c.reply, "AUTH") == NULL, "H3: AUTH not offered before TLS");
	is_int(h_cmd(&c, "AUTH PLAIN AGFsaWNlAHMzY3JldA=="), 538, "H3: AUTH before TLS refused");
	ok(strstr(c.reply, "538 5.7.11") != NULL, "H9: 538 5.7.11");
	is_int(h_cmd(&c, "MAIL FROM:<a@b.test>"), 250, "MAIL");
	is_int(h_cmd(&c, "RCPT TO:<r@b.test>"), 554, "H5: not a client network, not authenticated");
	is_int(h_cmd(&c, "STARTTLS"), 503, "STARTTLS inside a transaction refused");
	is_int(h_cmd(&c, "RSET"), 250, "RSET");
	h_sends(&c, "STARTTLS\r\nMAIL FROM:<x@y.test>\r\n");
	is_int(h_reply(&c), 220, "STARTTLS pipelined with a plaintext MAIL");
	is_str(c.reply, "220 2.0.0 Ready to start TLS\r\n", "220 2.0.0 Ready to start TLS");
	is_int(h_pending(&c), 0, "H3: no plaintext reply to the injected MAIL");
	ok(h_starttls(&c) == 0, "TLS handshake");
	is_int(h_cmd(&c, "RCPT TO:<r@b.test>"), 503, "H3: the injected MAIL was never executed");
	is_int(h_cmd(&c, "MAIL FROM:<a@b.test>"), 503, "H3: EHLO forgotten after STARTTLS");
	is_int(h_cmd(&c, "EHLO client.test"), 250, "EHLO over TLS");
	ok(strstr(c.reply, "STARTTLS") == NULL, "no STARTTLS over TLS");
	ok(strstr(c.reply, "250-AUTH PLAIN LOGIN\r\n") != NULL || strstr(c.reply,
	    "250 AUTH PLAIN LOGIN\r\n") != NULL, "AUTH PLAIN LOGIN offered over TLS");
	is_int(h_cmd(&c, "STARTTLS"), 503, "STARTTLS twice: 503");
	ok(strstr(c.reply, "503 5.5.1") != NULL, "STARTTLS twice: 503 5.5.1");
	h_close(&c);
}

static void
test_auth_plain(void)
{
	struct h_conn	c;
	char		line[200], enc[100];
	const char	*m;

	tls_session(&c);
	b64("\0alice\0wrong", 12, enc);
	snprintf(line, sizeof(line), "AUTH PLAIN %s", enc);
	is_int(h_cmd(&c, line), 535, "AUTH PLAIN with a wrong password: 535");
	ok(strstr(c.reply, "535 5.7.8") != NULL, "H9: 535 5.7.8");
	is_int(h_cmd(&c, "AUTH PLAIN !!!!"), 501, "undecodable response: 501");
	is_int(h_cmd(&c, "AUTH CRAM-MD5"), 504, "unknown mechanism: 504");
	is_int(h_cmd(&c, "AUTH PLAIN"), 334, "AUTH PLAIN without initial response: 334");
	is_int(h_cmd(&c, "*"), 501, "'*' cancels");
	b64("\0alice\0s3cret", 13, enc);
	snprintf(line, sizeof(line), "AUTH PLAIN %s", enc);
	is_int(h_cmd(&c, line), 235, "AUTH PLAIN with the right password: 235");
	ok(strstr(c.reply, "235 2.7.0") != NULL, "H9: 235 2.7.0");
	is_int(h_cmd(&c, line), 503, "AUTH twice: 503");
	is_int(h_cmd(&c, "MAIL FROM:<a@b.test>"), 250, "MAIL");
	is_int(h_cmd(&c, "RCPT TO:<r@b.test>"), 250, "H5: authenticated clients may relay");
	is_int(h_cmd(&c, "DATA"), 354, "DATA");
	is_int(h_cmd(&c, "Subject: t\r\n\r\nhello\r\n."), 250, "queued");
	is_int(h_nmsgs(&hs), 1, "stored");
	m = hs.q.msgs[0].body;
	ok(strstr(m, " with ESMTPSA id ") != NULL, "Received: says ESMTPSA");
	ok(strstr(m, "\r\n\t(using TLSv1.3 with cipher ") != NULL, "Received: names the TLS version and cipher");
	is_str(hs.q.msgs[0].auth_user, "alice", "envelope carries the authenticated user");
	/* RFC 4954 4: authentication lasts the session; RSET and EHLO keep it */
	is_int(h_cmd(&c, "RSET"), 250, "RSET after AUTH");
	is_int(h_cmd(&c, "EHLO client.test"), 250, "EHLO after AUTH");
	ok(strstr(c.reply, "AUTH") == NULL, "no AUTH offered once authenticated");
	is_int(h_cmd(&c, "MAIL FROM:<a@b.test>"), 250, "MAIL after RSET");
	is_int(h_cmd(&c, "RCPT TO:<r@b.test>"), 250, "H5: authentication survives RSET and EHLO");
	is_int(h_cmd(&c, "RSET"), 250, "RSET");
	is_int(h_cmd(&c, "STARTTLS"), 503, "H3: a second STARTTLS is refused");
	h_close(&c);
}

/*
 * Over TLS too, a client that shuts down its sending side right after the
 * final dot (no close_notify, a plain shutdown(SHUT_WR)) gets its 250.
 */
static void
test_half_close(void)
{
	struct h_conn	c;
	char		line[200], enc[100];
	size_t		n0 = h_nmsgs(&hs);

	tls_session(&c);
	b64("\0alice\0s3cret", 13, enc);
	snprintf(line, sizeof(line), "AUTH PLAIN %s", enc);
	ok(h_cmd(&c, line) == 235 && h_cmd(&c, "MAIL FROM:<a@b.test>") == 250 &&
	    h_cmd(&c, "RCPT TO:<r@b.test>") == 250 && h_cmd(&c, "DATA") == 354,
	    "TLS: AUTH MAIL RCPT DATA");
	hs.q.delay_ms = 300;
	/* the server closes without close_notify: no alert back into our shut-down side */
	SSL_set_options(c.ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	ok(h_sends(&c, "x\r\n.\r\n") == 0 && shutdown(c.fd, SHUT_WR) == 0,
	    "TLS: final dot, then shutdown(SHUT_WR) while the commit is in flight");
	is_int(h_reply(&c), 250, "TLS half-close after the dot: the 250 still comes");
	ok(h_eof(&c), "TLS half-close: then the server closes");
	is_int(h_nmsgs(&hs), n0 + 1, "TLS half-close: the message is stored");
	hs.q.delay_ms = 0;
	h_close(&c);
}

static void
test_auth_login(void)
{
	struct h_conn	c;
	char		enc[100];

	tls_session(&c);
	is_int(h_cmd(&c, "AUTH LOGIN"), 334, "AUTH LOGIN: 334");
	is_str(c.reply, "334 VXNlcm5hbWU6\r\n", "asks for the user name");
	b64("alice", 5, enc);
	is_int(h_cmd(&c, enc), 334, "user name: 334");
	is_str(c.reply, "334 UGFzc3dvcmQ6\r\n", "asks for the password");
	b64("s3cret", 6, enc);
	is_int(h_cmd(&c, enc), 235, "AUTH LOGIN: 235");
	h_close(&c);

	tls_session(&c);
	b64("alice", 5, enc);
	{
		char line[120];

		snprintf(line, sizeof(line), "AUTH LOGIN %s", enc);
		is_int(h_cmd(&c, line), 334, "AUTH LOGIN with the user as initial response");
	}
	b64("nope", 4, enc);
	is_int(h_cmd(&c, enc), 535, "AUTH LOGIN wrong password: 535");
	is_int(h_cmd(&c, "MAIL FROM:<a@b.test>"), 250, "MAIL");
	is_int(h_cmd(&c, "RCPT TO:<r@b.test>"), 554, "H5: failed AUTH does not open the relay");
	h_close(&c);
}

/* Poll until n password checks are pending; 1 if they got there. */
static int
wait_auth_pending(uint64_t n)
{
	uint64_t t0 = strutil_now_ms();

	while (h_auth_pending(&hs) != n) {
		if (strutil_now_ms() - t0 > 5000)
			return 0;
		usleep(5000);
	}
	return 1;
}

static void
plain_cmd(char *line, size_t len, const char *user, const char *pass)
{
	char	raw[200], enc[300];
	size_t	n;

	n = (size_t)snprintf(raw, sizeof(raw), "%c%s%c%s", 0, user, 0, pass);
	b64(raw, n, enc);
	snprintf(line, len, "AUTH PLAIN %s", enc);
}

static void
test_auth_off_loop(void)
{
	struct h_conn	a, b;
	char		line[400];

	tls_session(&a);
	tls_session(&b);
	plain_cmd(line, sizeof(line), "slow", "slowpw");
	strcat(line, "\r\n");
	/*
	 * The worker is held so the check cannot finish before the NOOP is
	 * answered however slow the machine: the order below is then decided
	 * by the server alone, not by timing.
	 */
	h_auth_hold(&hs, 1);
	h_sends(&a, line);
	ok(wait_auth_pending(1), "an expensive password check is under way");
	is_int(h_cmd(&b, "NOOP"), 250, "another session is answered meanwhile");
	is_int(h_pending(&a), 0, "its NOOP reply came before the AUTH reply (the loop never blocked)");
	h_auth_hold(&hs, 0);
	is_int(h_reply(&a), 235, "the expensive check succeeds: 235");
	ok(wait_auth_pending(0), "no check left");
	h_close(&a);
	h_close(&b);
}

static void
test_auth_queue(void)
{
	struct h_conn	a, b, c, d;
	char		line[400];
	uint64_t	before;

	tls_session(&a);
	tls_session(&b);
	tls_session(&c);
	tls_session(&d);
	h_auth_hold(&hs, 1);
	plain_cmd(line, sizeof(line), "alice", "s3cret");
	strcat(line, "\r\nNOOP\r\n");
	h_sends(&a, line);		/* AUTH with a NOOP pipelined behind it */
	ok(wait_auth_pending(1), "held: one check queued");
	plain_cmd(line, sizeof(line), "alice", "s3cret");
	strcat(line, "\r\n");
	h_sends(&d, line);
	ok(wait_auth_pending(2), "held: two checks queued (the limit)");
	plain_cmd(line, sizeof(line), "alice", "s3cret");
	is_int(h_cmd(&c, line), 454, "a third AUTH while the queue is full: 454");
	ok(strstr(c.reply, "454 4.7.0") != NULL, "H9: 454 4.7.0 temporary failure");
	is_int(h_cmd(&b, "NOOP"), 250, "other sessions go on while checks wait");
	is_int(h_pending(&a), 0, "the session in AUTH_VERIFY says nothing, not even to its NOOP");
	before = h_sessions_now(&hs);
	h_close(&d);
	ok(h_wait_sessions(&hs, before - 1, 5000), "a session waiting for its check closes");
	ok(wait_auth_pending(1), "its queued check is dropped");
	h_auth_hold(&hs, 0);
	is_int(h_reply(&a), 235, "released: 235");
	is_int(h_reply(&a), 250, "then the pipelined NOOP: 250");
	ok(wait_auth_pending(0), "queue empty");
	is_int(h_cmd(&c, line), 235, "AUTH after the 454 succeeds");
	h_close(&a);
	h_close(&b);
	h_close(&c);
}

static void
test_auth_gone(void)
{
	struct h_conn	a, b;
	char		line[400];
	uint64_t	before;

	tls_session(&a);
	tls_session(&b);
	plain_cmd(line, sizeof(line), "slow", "slowpw");
	strcat(line, "\r\n");
	h_sends(&a, line);
	ok(wait_auth_pending(1), "an expensive check under way");
	before = h_sessions_now(&hs);
	h_close(&a);
	ok(h_wait_sessions(&hs, before - 1, 5000), "its session closes while the check runs");
	ok(wait_auth_pending(0), "the result arrives and is dropped");
	is_int(h_cmd(&b, "NOOP"), 250, "the server goes on");
	h_close(&b);
}

static void
test_auth_long_lines(void)
{
	struct h_conn	c;
	char		*big;
	size_t		n;

	tls_session(&c);
	big = malloc(SMTP_AUTH_LINE_TEST + 16);
	/* 12288 octets of valid base64: decodes, but no account has such fields */
	memset(big, 'A', SMTP_AUTH_LINE_TEST);
	memcpy(big + SMTP_AUTH_LINE_TEST, "\r\n", 3);
	is_int(h_cmd(&c, "AUTH PLAIN"), 334, "AUTH PLAIN: 334");
	h_sends(&c, big);
	is_int(h_reply(&c), 535, "a 12288-octet response is read whole (RFC 4954 4): 535, not 500");
	ok(strstr(c.reply, "535 5.7.8") != NULL, "535 5.7.8");
	n = SMTP_AUTH_LINE_TEST + 4;
	memset(big, 'A', n);
	memcpy(big + n, "\r\n", 3);
	is_int(h_cmd(&c, "AUTH PLAIN"), 334, "AUTH PLAIN again: 334");
	h_sends(&c, big);
	is_int(h_reply(&c), 500, "a 12292-octet response: 500");
	ok(strstr(c.reply, "500 5.5.6") != NULL, "500 5.5.6 Authentication Exchange line is too long");
	is_int(h_cmd(&c, "NOOP"), 250, "back to commands, nothing of the long line executed");
	is_int(h_cmd(&c, "AUTH LOGIN"), 334, "AUTH LOGIN: 334");
	memset(big, 'A', 400);
	memcpy(big + 400, "\r\n", 3);
	h_sends(&c, big);
	is_int(h_reply(&c), 535, "a 300-octet user name is refused, not cut short: 535");
	is_int(h_cmd(&c, "AUTH LOGIN"), 334, "AUTH LOGIN: 334");
	is_int(h_cmd(&c, "YWxpY2U="), 334, "user name: 334");
	h_sends(&c, big);
	is_int(h_reply(&c), 535, "a 300-octet password is refused, not cut short: 535");
	free(big);
	h_close(&c);
}

static void
test_handshake_timeout(void)
{
	struct h_conn	c;
	uint64_t	t0;

	ok(h_connect(&c, hs.port, NULL) == 0 && h_reply(&c) == 220 &&
	    h_cmd(&c, "EHLO x") == 250 && h_cmd(&c, "STARTTLS") == 220, "STARTTLS, then silence");
	t0 = strutil_now_ms();
	ok(h_eof(&c), "TLS handshake timeout closes the connection");
	ok(strutil_now_ms() - t0 < 5000, "within the deadline");
	h_close(&c);
}

/* A handshake record announced as 16 KiB, trickled: the handshake has a deadline. */
static void
test_handshake_trickle(void)
{
	static const char	hello[] = "\x16\x03\x01\x40\x00";
	struct h_conn		c;
	uint64_t		t0;
	struct pollfd		pfd = { -1, POLLIN, 0 };
	char			zero = 0;
	int			closed = 0, i;

	ok(h_connect(&c, hs.port, NULL) == 0 && h_reply(&c) == 220 &&
	    h_cmd(&c, "EHLO x") == 250 && h_cmd(&c, "STARTTLS") == 220, "STARTTLS");
	pfd.fd = c.fd;
	t0 = strutil_now_ms();
	h_send(&c, hello, sizeof(hello) - 1);
	for (i = 0; i < 40 && !closed; i++) {
		if (h_send(&c, &zero, 1) != 0)
			closed = 1;
		else if (poll(&pfd, 1, 150) > 0)
			closed = 1;	/* the server closed (nothing else comes) */
	}
	ok(closed && i < 40, "a handshake trickled an octet at a time is cut off");
	ok(strutil_now_ms() - t0 < 5000, "near timeout_tls_handshake");
	h_close(&c);
}

static void
stop_server(void *arg)
{
	smtp_server_stop(arg);
}

/* Shutdown: a password check and a TLS handshake finish, then 421 4.3.2. */
static void
test_stop(void)
{
	struct h_conn	a, b, c;
	char		line[400];

	tls_session(&a);
	tls_session(&b);
	if (h_connect(&c, hs.port, NULL) != 0 || h_reply(&c) != 220 ||
	    h_cmd(&c, "EHLO client.test") != 250 || h_cmd(&c, "STARTTLS") != 220)
		bail("STARTTLS");
	h_auth_hold(&hs, 1);
	plain_cmd(line, sizeof(line), "alice", "s3cret");
	strcat(line, "\r\n");
	h_sends(&a, line);
	ok(wait_auth_pending(1), "stop: a password check pending");
	h_call(&hs, stop_server, hs.srv);
	ok(h_reply(&b) == 421 && strstr(b.reply, "421 4.3.2") != NULL, "stop: idle TLS session 421 4.3.2");
	is_int(h_pending(&a), 0, "stop: nothing while the check is pending");
	h_auth_hold(&hs, 0);
	is_int(h_reply(&a), 235, "stop: the check is answered");
	ok(h_reply(&a) == 421 && strstr(a.reply, "421 4.3.2") != NULL && h_eof(&a),
	    "stop: then 421 4.3.2 and closed");
	ok(h_starttls(&c) == 0, "stop: a handshake under way completes");
	ok(h_reply(&c) == 421 && strstr(c.reply, "421 4.3.2") != NULL && h_eof(&c),
	    "stop: then 421 4.3.2 over TLS and closed");
	h_close(&a);
	h_close(&b);
	h_close(&c);
}

static void
test_config_errors(void)
{
	struct config	 cfg;
	char		 err[300];
	struct smtp_server *srv;

	h_config(&cfg);
	cfg.smtp_auth = 1;
	cfg.auth_credentials_file = creds;
	srv = smtp_server_new(NULL, &cfg, err, sizeof(err));
	ok(srv == NULL && strstr(err, "tls_cert_file") != NULL, "smtp_auth without TLS refused");
	cfg.tls_cert_file = cert;
	cfg.tls_key_file = cert;
	srv = smtp_server_new(NULL, &cfg, err, sizeof(err));
	ok(srv == NULL && strstr(err, cert) != NULL, "certificate without its key refused");
	cfg.tls_key_file = key;
	chmod(creds, 0644);
	srv = smtp_server_new(NULL, &cfg, err, sizeof(err));
	ok(srv == NULL && strstr(err, creds) != NULL, "readable credentials file refused");
	chmod(creds, 0600);
}

int
main(void)
{
	char cmd[400], err[300];

	setup_files();
	config();
	hs.tune.auth_max_pending = 2;
	if (h_start(&hs, err, sizeof(err)) != 0)
		bail(err);
	test_starttls();
	test_auth_plain();
	test_half_close();
	test_auth_login();
	test_auth_off_loop();
	test_auth_queue();
	test_auth_gone();
	test_auth_long_lines();
	test_handshake_timeout();
	test_handshake_trickle();
	test_stop();
	h_stop(&hs);
	test_config_errors();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("cannot remove %s", dir);
	return tap_done();
}
