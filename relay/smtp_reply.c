/*
 * smtp_reply.c: the SMTP server's reply lines, formatted in one pass
 * straight into the session's output buffer (smtp_session.c writes them).
 * Part of the session module: its functions keep the smtp_session_ prefix.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "common/log.h"
#include "relay/smtp_session.h"

/* A reply line without its CRLF, and the text in it (RFC 5321 4.5.3.1.5: 512 with CRLF). */
#define SMTP_REPLY_MAX		599
#define SMTP_REPLY_TEXT_MAX	511

/* Queue one reply line; the CRLF is added here. */
static void
queue_line(struct smtp_session *s, char *line, size_t len)
{
	if (log_get_level() >= LOG_LVL_DEBUG)
		log_debug("%s: >>> %.*s", s->addr, (int)len, line);
	if (s->bev == NULL)
		return;
	line[len] = '\r';
	line[len + 1] = '\n';
	if (evbuffer_add(bufferevent_get_output(s->bev), line, len + 2) != 0)
		log_warnx("%s: cannot queue reply", s->addr);
}

void
smtp_session_raw(struct smtp_session *s, const char *text)
{
	char	line[SMTP_REPLY_MAX + 2];
	size_t	len = strlen(text);

	if (len > SMTP_REPLY_MAX)
		len = SMTP_REPLY_MAX;
	memcpy(line, text, len);
	queue_line(s, line, len);
}

/* One formatting pass: "code status text" straight into the line. */
void
smtp_session_reply(struct smtp_session *s, int code, const char *status, const char *fmt, ...)
{
	char	line[SMTP_REPLY_MAX + 2];
	size_t	len = 0, room;
	va_list	ap;
	int	n;

	if (code < 200 || code > 599)
		fatalx("smtp_session_reply: code %d", code);
	line[len++] = (char)('0' + code / 100);
	line[len++] = (char)('0' + code / 10 % 10);
	line[len++] = (char)('0' + code % 10);
	line[len++] = ' ';
	if (status != NULL) {
		n = (int)strnlen(status, 16);
		memcpy(line + len, status, (size_t)n);
		len += (size_t)n;
		line[len++] = ' ';
	}
	/* the text, as before, at most 511 octets */
	room = SMTP_REPLY_MAX + 1 - len;
	if (room > SMTP_REPLY_TEXT_MAX + 1)
		room = SMTP_REPLY_TEXT_MAX + 1;
	va_start(ap, fmt);
	n = vsnprintf(line + len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	len += (size_t)n < room ? (size_t)n : room - 1;
	queue_line(s, line, len);
}
