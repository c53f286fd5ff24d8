/*
 * smtp_client_data.h: the message body on its way out (H2). The stored body
 * should be CRLF lines; whatever it holds, only CRLF line ends leave, every
 * line starting with "." gets another "." (RFC 5321 4.5.2), NUL octets are
 * dropped, and the body ends with CRLF "." CRLF. Pure: no I/O.
 */
#ifndef RELAY_SMTP_CLIENT_DATA_H
#define RELAY_SMTP_CLIENT_DATA_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

struct smtpc_data {
	int		bol;		/* at the beginning of a line */
	int		cr;		/* the last octet was a CR, its LF not yet seen */
	uint64_t	in;		/* octets read */
	uint64_t	out;		/* octets written */
	uint64_t	bare_cr;	/* CRs not followed by LF: sent as CRLF */
	uint64_t	bare_lf;	/* LFs not preceded by CR: sent as CRLF */
	uint64_t	nul;		/* NUL octets dropped */
	uint64_t	stuffed;	/* dots added */
	int		no_final_eol;	/* the body did not end with a line end */
};

void	smtpc_data_init(struct smtpc_data *);
/* Encode len octets of the body, in any split, appending to out; -1 on allocation failure. */
int	smtpc_data_encode(struct smtpc_data *, const void *, size_t len, struct evbuffer *out);
/* After the last octet: complete the last line, then ".\r\n". */
int	smtpc_data_finish(struct smtpc_data *, struct evbuffer *out);
/* Anything the stored body should not have held (bare CR/LF, NUL, no final CRLF). */
uint64_t smtpc_data_repairs(const struct smtpc_data *);

#endif
