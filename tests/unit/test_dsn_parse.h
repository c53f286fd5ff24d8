/*
 * test_dsn_parse.h: a small reader of the notifications queue/dsn.c writes, for
 * the tests: checks the line discipline and splits the MIME structure.
 */
#ifndef TESTS_UNIT_TEST_DSN_PARSE_H
#define TESTS_UNIT_TEST_DSN_PARSE_H

#include <stddef.h>

#define DP_PARTS_MAX	8
#define DP_BLOCKS_MAX	16

struct dp_part {
	char	*headers;	/* the part's header section, CRLF lines */
	char	*body;
};

struct dp_msg {
	char		*headers;	/* the message's header section */
	char		 boundary[128];
	struct dp_part	 parts[DP_PARTS_MAX];
	size_t		 nparts;
	int		 closed;	/* the close delimiter was seen */
	char		*blocks[DP_BLOCKS_MAX];	/* of the delivery-status part */
	size_t		 nblocks;
};

/*
 * 0 when every line ends in CRLF (no bare CR or LF) and is at most 998
 * octets; otherwise -1 and why.
 */
int	dp_lines_ok(const char *, size_t, const char **why);
/* Split a message; -1 when it is not a multipart with a boundary. */
int	dp_parse(const char *, size_t, struct dp_msg *);
void	dp_free(struct dp_msg *);
/*
 * The unfolded value of the first field called name in a header-like block
 * (static buffer), or NULL.
 */
const char *dp_field(const char *block, const char *name);
/* The part whose Content-Type starts with type, or NULL. */
const struct dp_part *dp_part(const struct dp_msg *, const char *type);

#endif
