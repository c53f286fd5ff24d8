/* test_queue_fixture.h: a temporary spool on its own event base, for tests. */
#ifndef TESTS_UNIT_TEST_QUEUE_FIXTURE_H
#define TESTS_UNIT_TEST_QUEUE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <db.h>

#include "queue/queue.h"

struct event_base;

struct qf {
	char			 dir[64];
	struct event_base	*base;
	struct queue		*q;
	int			 ready;		/* on_ready calls */
	uint64_t		 lifetime;	/* what qf_init was given, */
	const uint64_t		*retry;		/* ... for qf_reopen */
	size_t			 nretry;
};

/* A spool with the given lifetime and retry schedule; 0 on success. */
int	qf_init(struct qf *, uint64_t lifetime, const uint64_t *retry,
	    size_t nretry);
/* The usual spool of the tests: 5 days, retries 300 900 3600; fatal if not. */
void	qf_init_std(struct qf *);
void	qf_fini(struct qf *);
/* Open the spool again (after queue_close); 1 when it opened, 0 if not. */
int	qf_reopen(struct qf *);
/* The spool could not be reopened: free the rest and remove the files. */
void	qf_discard(struct qf *);
/* Run the loop until *counter >= want or secs pass; 1 when reached. */
int	qf_run_until(struct qf *, const int *counter, int want, int secs);
/* Submit (durably) a message; its id goes to id. */
enum queue_status qf_submit(struct qf *, char id[QUEUE_ID_MAX],
	    const char *sender, const char **rcpts, size_t n, const char *body,
	    time_t arrival);
/* Submit a message under the given id (arrival now); its status. */
enum queue_status qf_submit_id(struct qf *, const char *id, const char *sender,
	    const char **rcpts, size_t n, const void *body, size_t len);
/* A new id, one recipient, the body given. */
enum queue_status qf_simple(struct qf *, char id[QUEUE_ID_MAX], const char *body);
/* Is the stored body of id exactly want? */
int	qf_body_is(struct qf *, const char *id, const void *want, size_t len);
/* Count the results of submissions made with qf_on_burst. */
struct qf_burst {
	int	done, ok;
};
void	qf_on_burst(enum queue_status, void *);
/* One of the spool's databases, opened through its environment, or NULL. */
DB	*qf_raw_db(struct qf *, const char *file);
int	qf_raw_put(DB *, const void *k, size_t klen, const void *d, size_t dlen);
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
