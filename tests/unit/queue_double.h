/* queue_double.h: an in-memory queue for the control socket's tests. */
#ifndef TESTS_UNIT_QUEUE_DOUBLE_H
#define TESTS_UNIT_QUEUE_DOUBLE_H

#include <stddef.h>

#include "queue/queue.h"

#define TQ_MAX	8

struct tq_msg {
	char		 id[QUEUE_ID_MAX];
	const char	*sender;
	const char	*rcpts[2];
	size_t		 nrcpts;
	const char	*reason;	/* first recipient's; NULL: a default */
	const char	*body;
	size_t		 bodylen;
	int		 held;
	int		 flushed;
	int		 used;
};

struct queue {
	struct tq_msg	msgs[TQ_MAX];
	int		flushed_all;
	int		broken;		/* list and counts fail with QUEUE_ETEMP */
};

/* A message with rcpt (deferred, 3 attempts) and carol@example.net (pending). */
void	tq_add(struct queue *, const char *id, const char *sender, const char *rcpt,
	    const char *body, size_t bodylen);

#endif
