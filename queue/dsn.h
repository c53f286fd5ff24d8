/*
 * dsn.h: delivery status notifications (RFC 3464, RFC 3462 multipart/report),
 * pure code without I/O or clocks, so that it is table-tested and fuzzed.
 *
 * The notification is a complete message (header section and body), CRLF
 * lines only, no line longer than DSN_LINE_MAX octets: text from the remote
 * side or the original message is folded, cleaned of control characters and
 * bounded, never passed through raw.
 */
#ifndef QUEUE_DSN_H
#define QUEUE_DSN_H

#include <stddef.h>
#include <time.h>

#define DSN_LINE_MAX		998	/* octets before CRLF (RFC 5322) */
#define DSN_TEXT_MAX		2000	/* octets of one reason that are kept */
#define DSN_HEADERS_MAX		16384	/* octets of the original header section */
#define DSN_RCPTS_MAX		1000	/* recipients described in detail */
#define DSN_STATUS_MAX		16	/* "5.123.123" and its NUL */

struct dsn_rcpt {
	const char	*addr;		/* the recipient as the envelope had it */
	const char	*reason;	/* "550 5.1.1 no such user", "5.4.7 ..." */
	const char	*remote_mta;	/* "mx.example.com[192.0.2.1]", NULL or "" */
	time_t		 last_attempt;
};

struct dsn_msg {
	const char		*hostname;	/* the reporting MTA */
	const char		*queue_id;	/* of the original message */
	const char		*dsn_id;	/* of the notification (boundary, Message-ID) */
	const char		*sender;	/* the original sender, the DSN's recipient */
	time_t			 arrival;	/* of the original message */
	time_t			 now;		/* Date: */
	const char		*headers;	/* original header section, may be NULL */
	size_t			 headers_len;
	const struct dsn_rcpt	*rcpts;
	size_t			 nrcpts;
};

/*
 * Build the notification into an allocated, NUL-terminated buffer (*len
 * excludes the NUL). Fails (-1) only when there is nothing to report (no
 * recipient) or no sender to report to.
 */
int	dsn_build(const struct dsn_msg *, char **out, size_t *len);

/*
 * The enhanced status code (RFC 3463) of a reason: the first "c.s.d" after
 * an optional 3-digit reply code, for a failure always of class 5; "5.0.0"
 * when the reason has none or one of another class.
 */
void	dsn_status(const char *reason, char status[DSN_STATUS_MAX]);

/* RFC 5322 date-time in UTC ("Sun, 22 Nov 2026 09:00:00 +0000"). */
void	dsn_date(time_t, char *buf, size_t len);

#endif
