/*
 * sts_txt.h: the _mta-sts TXT record parser (RFC 8461 section 3.1,
 * checklist S3, S4, S5). Pure: no I/O, no allocation.
 */
#ifndef POLICY_STS_TXT_H
#define POLICY_STS_TXT_H

#include <stddef.h>

#define STS_TXT_ID_MAX	32

/* One character-string of a TXT record (may hold any octet, even NUL). */
struct sts_txt_string {
	const char	*data;
	size_t		 len;
};

/* One TXT record: its strings, joined with nothing in between (S3). */
struct sts_txt_record {
	const struct sts_txt_string	*strings;
	size_t				 nstrings;
};

enum sts_txt_status {
	STS_TXT_OK = 0,		/* exactly one valid STSv1 record: id is set */
	STS_TXT_NONE,		/* no record starts with v=STSv1; (S4) */
	STS_TXT_MULTIPLE,	/* more than one STSv1 record (S4) */
	STS_TXT_MALFORMED	/* the one STSv1 record breaks the grammar (S5) */
};

struct sts_txt_result {
	enum sts_txt_status	status;
	char			id[STS_TXT_ID_MAX + 1];
	char			reason[160];	/* why it is not OK; "" when OK */
};

/*
 * Decide the policy id from all TXT records of _mta-sts.<domain> (S4):
 * records that do not start with the STSv1 version and a ";" are ignored;
 * exactly one must remain and be valid. Returns result->status.
 */
enum sts_txt_status sts_txt_parse(const struct sts_txt_record *, size_t nrecords,
	    struct sts_txt_result *);

/*
 * The same for one record whose strings are already joined (S3).
 * sts_txt_is_candidate() tells whether it starts like an STSv1 record.
 * sts_txt_parse_record() returns 0 with id set, or -1 with a reason.
 */
int	sts_txt_is_candidate(const char *, size_t);
int	sts_txt_parse_record(const char *, size_t, char id[STS_TXT_ID_MAX + 1],
	    char *reason, size_t reasonlen);

const char *sts_txt_strstatus(enum sts_txt_status);

#endif
