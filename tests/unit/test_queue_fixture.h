/* test_queue_fixture.h: a temporary spool on its own event base, for tests. */
#ifndef TESTS_UNIT_TEST_QUEUE_FIXTURE_H
#define TESTS_UNIT_TEST_QUEUE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "queue/queue.h"

struct event_base;

struct qf {
	char			 dir[64];
	struct event_base	*base;
	struct queue		*q;
	int			 ready;		/* on_ready calls */
};

/* A spool with the given lifetime and retry schedule; 0 on success. */
int	qf_init(struct qf *, uint64_t lifetime, const uint64_t *retry,
	    size_t nretry);
void	qf_fini(struct qf *);
/* Run the loop until *counter >= want or secs pass; 1 when reached. */
int	qf_run_until(struct qf *, const int *counter, int want, int secs);
/* Submit (durably) a message; its id goes to id. */
enum queue_status qf_submit(struct qf *, char id[QUEUE_ID_MAX],
	    const char *sender, const char **rcpts, size_t n, const char *body,
	    time_t arrival);
/* Count ready callbacks in f->ready from now on. */
void	qf_count_ready(struct qf *);
/* The message, or NULL (free with queue_info_free()). */
struct queue_msg_info *qf_info(struct qf *, const char *id);
/* The stored message text of id, allocated, or NULL. */
char	*qf_body(struct qf *, const char *id, size_t *len);
/* The id of the first queued message whose sender is "" (a DSN), or 0. */
int	qf_find_dsn(struct qf *, char id[QUEUE_ID_MAX]);
size_t	qf_count_messages(struct qf *);

#endif
