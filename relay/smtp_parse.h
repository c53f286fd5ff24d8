/*
 * smtp_parse.h: SMTP command lines and MAIL/RCPT paths (RFC 5321, 1870,
 * 6152, 6531). Pure code, no I/O: every parse error maps to one reply with
 * its enhanced status code (H9).
 */
#ifndef RELAY_SMTP_PARSE_H
#define RELAY_SMTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define SMTP_LINE_MAX		512	/* command line incl. CRLF (H6) */
#define SMTP_LOCAL_MAX		64	/* local part (H6) */
#define SMTP_DOMAIN_MAX		255	/* domain (H6) */
#define SMTP_PATH_MAX		256	/* path incl. the angle brackets */

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_COUNT
};

enum smtp_perr {
	SMTP_PERR_OK = 0,
	SMTP_PERR_UNKNOWN_CMD,		/* 500 5.5.1 */
	SMTP_PERR_BAD_CHAR,		/* 500 5.5.2 control character in command */
	SMTP_PERR_TOO_LONG,		/* 500 5.5.2 line over 512 octets (H6) */
	SMTP_PERR_SYNTAX,		/* 501 5.5.4 */
	SMTP_PERR_NO_ARG_ALLOWED,	/* 501 5.5.4 */
	SMTP_PERR_ARG_REQUIRED,		/* 501 5.5.4 */
	SMTP_PERR_ADDR_SYNTAX,		/* 501 5.1.3 */
	SMTP_PERR_ADDR_TOO_LONG,	/* 501 5.1.3 (H6) */
	SMTP_PERR_NULL_RCPT,		/* 501 5.1.3 */
	SMTP_PERR_SOURCE_ROUTE,		/* 553 5.1.3 (H5) */
	SMTP_PERR_ROUTING_CHAR,		/* 553 5.1.3 '%' or '!' (H5) */
	SMTP_PERR_ADDR_LITERAL,		/* 553 5.1.3 literal recipient domain (H5) */
	SMTP_PERR_NEED_SMTPUTF8,	/* 553 5.6.7 non-ASCII without SMTPUTF8 */
	SMTP_PERR_PARAM_UNKNOWN,	/* 555 5.5.4 */
	SMTP_PERR_PARAM_VALUE,		/* 501 5.5.4 */
	SMTP_PERR_PARAM_NO_EHLO,	/* 555 5.5.4 parameter after HELO, not EHLO */
	SMTP_PERR_COUNT
};

struct smtp_cmd {
	enum smtp_verb	 verb;
	const char	*arg;		/* after the verb and its space; "" if none */
};

struct smtp_mail {
	char		 addr[SMTP_PATH_MAX];	/* "" for the null sender */
	uint64_t	 size;			/* SIZE=, 0 when absent */
	int		 has_size;
	int		 body_8bit;		/* BODY=8BITMIME */
	int		 smtputf8;		/* SMTPUTF8 */
};

struct smtp_rcpt {
	char		 addr[SMTP_PATH_MAX];
};

/*
 * line: the command without its CRLF, NUL-terminated, len = strlen; trailing
 * spaces are cut in place. Verbs are case-insensitive. Checks that DATA, RSET, QUIT, STARTTLS carry
 * no argument and HELO, EHLO, MAIL, RCPT, AUTH carry one.
 */
enum smtp_perr	smtp_parse_cmd(char *line, size_t len, struct smtp_cmd *);
/*
 * arg of MAIL: "FROM:<path> [params]". esmtp: the session began with EHLO;
 * after HELO any parameter is refused (RFC 5321 3.3, 4.1.1.11: SMTP
 * extensions exist only in a session that began with EHLO).
 */
enum smtp_perr	smtp_parse_mail(const char *arg, int esmtp, struct smtp_mail *);
/*
 * arg of RCPT: "TO:<path>". smtputf8: the transaction said SMTPUTF8.
 * RCPT TO:<postmaster> (no domain, any case) is accepted and mapped to
 * postmaster@<hostname> (RFC 5321 4.5.1).
 */
enum smtp_perr	smtp_parse_rcpt(const char *arg, int smtputf8,
		    const char *hostname, struct smtp_rcpt *);

/*
 * Two recipients as stored by smtp_parse_rcpt() name the same mailbox:
 * local parts equal octet for octet, domains equal ignoring ASCII case
 * (RFC 5321 2.4: only the local part may be case-sensitive).
 */
int		smtp_parse_same_rcpt(const char *, const char *);

/* Domain syntax: LDH labels (U-labels when utf8), or an address literal when literal_ok. */
int		smtp_parse_domain_ok(const char *, size_t, int utf8, int literal_ok);
/* Well-formed UTF-8, no overlongs, no surrogates. */
int		smtp_parse_utf8_ok(const char *, size_t);

const char	*smtp_verb_name(enum smtp_verb);
/* The reply for an error: code (501), enhanced status ("5.1.3"), text. */
void		 smtp_perr_reply(enum smtp_perr, int *code, const char **status,
		    const char **text);

#endif
