/*
 * sink_msg.h: one message as lab-smtp-sink receives it: DATA lines go to a
 * spool file and a SHA-256 digest as they come, with the oddities a test
 * wants counted (bare LF, bare CR, 8-bit bytes).
 */
#ifndef LAB_SINK_MSG_H
#define LAB_SINK_MSG_H

#include <stdint.h>
#include <stdio.h>

#include <openssl/evp.h>

struct sink_msg {
	FILE		*fp;
	char		*tmppath;
	EVP_MD_CTX	*md;
	uint64_t	 max;
	uint64_t	 size;		/* bytes of text, dot-stuffing undone */
	int		 too_big;	/* over max, or a write failed */
	int		 prev_crlf;	/* the previous line ended in CRLF */
	unsigned long	 bare_lf;
	unsigned long	 bare_cr;
	int		 eightbit;
	char		 sha256[65];	/* hex, once committed */
};

/*
 * Start a message in tmppath (taken over), or with tmppath NULL only its
 * digest and counts. 0, or -1 when it cannot be written.
 */
int	sink_msg_open(struct sink_msg *, char *tmppath, uint64_t max);
/*
 * One line of DATA with its LF. Returns 1 for the end of data (".CRLF" after
 * a CRLF: a bare LF never ends a message), 0 otherwise.
 */
int	sink_msg_line(struct sink_msg *, const char *line, size_t len);
/* Finish: digest and rename to path (if kept). 0; -1 when too big or not stored. */
int	sink_msg_commit(struct sink_msg *, const char *path);
/* Drop an unfinished message (its temporary file goes). Safe to repeat. */
void	sink_msg_abort(struct sink_msg *);

#endif
