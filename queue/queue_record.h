/*
 * queue_record.h: the spool's on-disk encodings, pure code without I/O.
 *
 * An envelope record is a version byte followed by fixed-width big-endian
 * integers and length-prefixed strings; every length is checked on read so a
 * damaged record is refused, never trusted.
 */
#ifndef QUEUE_QUEUE_RECORD_H
#define QUEUE_QUEUE_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "queue/queue.h"

#define QUEUE_RECORD_VERSION	1
#define QUEUE_RECORD_STRMAX	65536	/* bytes in one string field */
#define QUEUE_RECORD_RCPTMAX	100000	/* recipients of one message */

/* Bytes in one body chunk: a 64 KiB overflow page less its header. */
#define QUEUE_CHUNK_SIZE	(65536 - 1024)
#define QUEUE_BODYKEY_MAX	(QUEUE_ID_MAX + 4)
#define QUEUE_SCHEDKEY_MAX	(8 + QUEUE_ID_MAX)

/*
 * Serialize everything in info except its id. Returns 0 and an allocated
 * buffer, or -1 when a field exceeds a bound (why says which).
 */
int	queue_record_encode(const struct queue_msg_info *, uint8_t **out,
	    size_t *outlen, const char **why);
/*
 * Parse a record into a new queue_msg_info (free with queue_info_free()).
 * The id is left empty. Returns 0, or -1 with a reason when the record is
 * truncated, oversized, has trailing bytes or an unknown version.
 */
int	queue_record_decode(const uint8_t *, size_t, struct queue_msg_info **,
	    const char **why);

/* Body chunk key: the id, a NUL, the chunk number big-endian. */
size_t	queue_record_bodykey(const char *id, uint32_t chunk,
	    uint8_t key[QUEUE_BODYKEY_MAX]);
/* Schedule key: the time big-endian (so the earliest sorts first), the id. */
size_t	queue_record_schedkey(time_t when, const char *id,
	    uint8_t key[QUEUE_SCHEDKEY_MAX]);
/* Split a schedule key; -1 when it is malformed. */
int	queue_record_schedkey_parse(const uint8_t *, size_t, time_t *when,
	    char id[QUEUE_ID_MAX]);

/* Queue ids: QUEUE_IDTIME_LEN base32 digits of microseconds, then a counter. */
#define QUEUE_IDTIME_LEN	11
#define QUEUE_IDCTR_LEN		5
#define QUEUE_ID_LEN		(QUEUE_IDTIME_LEN + QUEUE_IDCTR_LEN)
void	queue_record_make_id(uint64_t us, uint32_t ctr, char id[QUEUE_ID_MAX]);
/* The time part of an id; -1 when it is not one of ours. */
int	queue_record_id_time(const char *id, uint64_t *us);
/* An id as the relay makes them: for admin input before it reaches the db. */
int	queue_record_id_valid(const char *id);

#endif
