/*
 * smtp_client_reply.h: the outbound client's pure parsers: SMTP replies
 * (RFC 5321 4.2, multi-line, enhanced status codes of RFC 3463 / RFC 2034)
 * and EHLO capabilities. No I/O: the session hands over one line at a time.
 */
#ifndef RELAY_SMTP_CLIENT_REPLY_H
#define RELAY_SMTP_CLIENT_REPLY_H

#include <stddef.h>
#include <stdint.h>

#define SMTPC_REPLY_LINE_MAX	512		/* octets incl. CRLF (RFC 5321 4.5.3.1.5) */
#define SMTPC_REPLY_LINES_MAX	100		/* lines of one multi-line reply */
#define SMTPC_REPLY_OCTETS_MAX	(64 * 1024)	/* octets of one reply */
#define SMTPC_REPLY_TEXT_MAX	512		/* text kept for reports */
#define SMTPC_ENH_MAX		16		/* "5.123.123" + NUL fits */

enum smtpc_reply_status {
	SMTPC_REPLY_MORE = 0,		/* a continuation line: feed the next one */
	SMTPC_REPLY_DONE,		/* the last line: the reply is complete */
	SMTPC_REPLY_ERR_SYNTAX,		/* not "ddd", "ddd-text" or "ddd text" */
	SMTPC_REPLY_ERR_CODE,		/* code out of range or differs between lines */
	SMTPC_REPLY_ERR_LONG,		/* a line over SMTPC_REPLY_LINE_MAX */
	SMTPC_REPLY_ERR_TOO_BIG		/* too many lines or octets */
};

struct smtpc_reply {
	int		code;			/* 200..599 */
	char		enhanced[SMTPC_ENH_MAX];/* from the first line, "" if none */
	char		text[SMTPC_REPLY_TEXT_MAX];	/* lines' text joined by " / " */
	size_t		nlines;
	size_t		octets;
	const char	*line_text;	/* this line's text after "ddd-" (valid until the next feed) */
};

void	smtpc_reply_init(struct smtpc_reply *);
/*
 * One line, CRLF (or LF) removed, with room for a NUL at line[len]; len
 * counts the line without the line end, so the
 * session passes the length it received (the bound includes the CRLF).
 * After DONE or an error, init again for the next reply.
 */
enum smtpc_reply_status smtpc_reply_feed(struct smtpc_reply *, char *line, size_t len);
const char *smtpc_reply_strerror(enum smtpc_reply_status);

/* An "x.y.z" enhanced status code at the start of text, class must match. */
size_t	smtpc_reply_enhanced(const char *text, int cls, char *out, size_t outlen);

#define SMTPC_CAP_PIPELINING	0x01
#define SMTPC_CAP_SIZE		0x02
#define SMTPC_CAP_8BITMIME	0x04
#define SMTPC_CAP_SMTPUTF8	0x08
#define SMTPC_CAP_STARTTLS	0x10
#define SMTPC_CAP_ENHANCED	0x20	/* ENHANCEDSTATUSCODES */

struct smtpc_caps {
	unsigned	flags;
	uint64_t	size;		/* SIZE n; 0 = no limit announced */
};

/* One EHLO reply line's text (not the first line, which is the domain). */
void	smtpc_caps_line(struct smtpc_caps *, const char *text);
/* "PIPELINING SIZE=1024 8BITMIME" for logs and reports */
void	smtpc_caps_format(const struct smtpc_caps *, char *, size_t);

#endif
