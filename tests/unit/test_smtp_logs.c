/*
 * test_smtp_logs.c: what the SMTP listener writes to its log at the most
 * verbose level, captured from stderr: never a client's credentials, even
 * from an AUTH line the parser refuses, and never a control character a
 * client sent (a CR that would forge or hide a log line).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/smtp_server.h"
#include "tests/tap.h"
#include "tests/unit/smtp_harness.h"

static struct h_server	hs;
static char		logpath[] = "/tmp/test_smtp_logs.XXXXXX";

/* Everything logged so far, NUL-terminated (with NULs kept as they are). */
static char *
log_text(size_t *len)
{
	char	*buf;
	off_t	 end;
	int	 fd;

	fflush(stderr);
	if ((fd = open(logpath, O_RDONLY)) == -1 || (end = lseek(fd, 0, SEEK_END)) == -1 ||
	    lseek(fd, 0, SEEK_SET) == -1) {
		printf("Bail out! %s: %s\n", logpath, strerror(errno));
		exit(1);
	}
	buf = xmalloc((size_t)end + 1);
	if (read(fd, buf, (size_t)end) != (ssize_t)end) {
		printf("Bail out! read %s\n", logpath);
		exit(1);
	}
	buf[end] = '\0';
	close(fd);
	*len = (size_t)end;
	return buf;
}

static int
log_has(const char *needle)
{
	size_t	 len;
	char	*t = log_text(&len);
	int	 r = memmem(t, len, needle, strlen(needle)) != NULL;

	free(t);
	return r;
}

static void
test_auth_never_logged(void)
{
	/* "\0user\0secret1", "...2", "...3" */
	static const char	*b64[] = { "AHVzZXIAc2VjcmV0MQ==", "AHVzZXIAc2VjcmV0Mg==",
				    "AHVzZXIAc2VjcmV0Mw==" };
	struct h_conn		 c;
	char			 line[128];

	h_config(&hs.cfg);
	if (h_start(&hs, line, sizeof(line)) != 0) {
		printf("Bail out! server: %s\n", line);
		exit(1);
	}
	ok(h_connect(&c, hs.port, NULL) == 0 && h_reply(&c) == 220, "connect");
	is_int(h_cmd(&c, "EHLO client.test"), 250, "EHLO");

	/* a TAB makes the parser refuse the line before it knows the verb */
	snprintf(line, sizeof(line), "AUTH PLAIN %s\t", b64[0]);
	is_int(h_cmd(&c, line), 500, "AUTH line with a control character is refused");
	ok(!log_has(b64[0]), "credentials never reach logs: refused AUTH line with a TAB");

	snprintf(line, sizeof(line), " AUTH PLAIN %s", b64[1]);
	is_int(h_cmd(&c, line), 500, "AUTH after a leading space is refused");
	ok(!log_has(b64[1]), "credentials never reach logs: refused AUTH line with a leading space");

	snprintf(line, sizeof(line), "auth plain %s", b64[2]);
	h_cmd(&c, line);
	ok(!log_has(b64[2]), "credentials never reach logs: AUTH in lower case");

	/* a bare CR in a command: the log shows no CR (no forged or hidden line) */
	is_int(h_cmd(&c, "NOOP\r2026-01-01T00:00:00.000Z stsrelay[1]: forged"), 500,
	    "bare CR in a command line is refused");
	ok(log_has("forged"), "the refused command is logged");
	ok(!log_has("\rforged") && !log_has("\r2026"), "log injection: no CR from the client in the log");

	is_int(h_cmd(&c, "QUIT"), 221, "QUIT");
	h_close(&c);
	h_stop(&hs);
}

int
main(void)
{
	int fd;

	if ((fd = mkstemp(logpath)) == -1 || dup2(fd, STDERR_FILENO) == -1) {
		printf("Bail out! cannot capture stderr\n");
		return 1;
	}
	close(fd);
	log_init("test_smtp_logs", LOG_DEST_STDERR, LOG_LVL_DEBUG);
	test_auth_never_logged();
	unlink(logpath);
	return tap_done();
}
