/*
 * control_queue.h: the queue commands of the control socket.
 *
 *   queue.list [limit]  {"messages":[{id,sender,size,arrival,held,next_attempt,
 *                        8bitmime,smtputf8,recipients:[{addr,state,attempts,
 *                        last_reason}]}],"count":N,"bytes":N,"truncated":bool}
 *   queue.show id       the envelope (plus helo, client_addr, auth_user) and
 *                       "headers": the header section (or "headers_base64"
 *                       when it is not UTF-8)
 *   queue.cat id        {"id","size","message"} (or "message_base64")
 *   queue.delete id, queue.hold id, queue.release id   {"id"}
 *   queue.flush [id]    every message that is not held, or one
 * A missing message answers {"ok":false,"error":"no such message: ID"}.
 */
#ifndef RELAY_CONTROL_QUEUE_H
#define RELAY_CONTROL_QUEUE_H

struct control;
struct queue;

#define CONTROL_QUEUE_LIST_MAX		10000		/* messages in one list */
#define CONTROL_QUEUE_HEADERS_MAX	(256 * 1024)	/* bytes of headers shown */
#define CONTROL_QUEUE_CAT_MAX		(64 * 1024 * 1024) /* bytes of queue.cat */

void	control_queue_register(struct control *, struct queue *);

#endif
