/*
 * smtp_data.h: the DATA receive state machine. Fed raw bytes in any chunk
 * split, it finds the end of data (only <CRLF>.<CRLF>, H1), removes dot
 * stuffing and appends the message, CRLF lines, to an evbuffer. Anything
 * that could be read two ways by two MTAs (bare CR or LF, H2; NUL) or that
 * breaks a limit (H6, H7, H10) marks the message refused; reading goes on to
 * the real end and the refused message is never handed on.
 */
#ifndef RELAY_SMTP_DATA_H
#define RELAY_SMTP_DATA_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define SMTP_TEXT_LINE_MAX	1000	/* octets incl. CRLF (H6) */

/* Reasons a message is refused; the first one found decides the reply. */
enum smtp_data_result {
	SMTP_DATA_OK = 0,
	SMTP_DATA_BARE_EOL,	/* 554 5.6.11 bare CR or LF (H2) */
	SMTP_DATA_NUL,		/* 554 5.6.11 NUL octet */
	SMTP_DATA_LONG_LINE,	/* 500 5.5.6 line over 1000 octets (H6) */
	SMTP_DATA_TOO_BIG,	/* 552 5.3.4 over message_size_limit (H7) */
	SMTP_DATA_TOO_MANY_HOPS,/* 554 5.4.6 too many Received: headers (H10) */
	SMTP_DATA_RESULT_COUNT
};

struct smtp_data {
	struct evbuffer		*out;
	uint64_t		 size_limit;	/* 0 = none */
	uint64_t		 max_received;
	uint64_t		 size;		/* octets of the unstuffed message */
	uint64_t		 nreceived;	/* Received: headers seen */
	uint32_t		 linelen;	/* raw octets of this line so far */
	uint8_t			 state;
	uint8_t			 in_header;
	uint8_t			 hdrmatch;	/* "received:" octets matched, 0xff none */
	uint8_t			 result;	/* enum smtp_data_result */
	uint8_t			 eightbit;	/* an octet over 127 was seen (H8) */
};

void	smtp_data_init(struct smtp_data *, struct evbuffer *out,
	    uint64_t size_limit, uint64_t max_received);
/*
 * Consume up to len octets. Returns 1 when the end of data was found, with
 * *used octets consumed (the octets after the final CRLF belong to the next
 * command), or 0 when all len octets were consumed and more are needed.
 * On a refusal out is emptied and nothing more is appended.
 */
int	smtp_data_feed(struct smtp_data *, const void *, size_t len, size_t *used);
enum smtp_data_result smtp_data_result(const struct smtp_data *);
void	smtp_data_reply(enum smtp_data_result, int *code, const char **status,
	    const char **text);

#endif
