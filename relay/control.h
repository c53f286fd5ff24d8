/*
 * control.h: the daemon's control socket, spoken to by stsrelayctl.
 *
 * A UNIX stream socket on the event loop. The client sends one JSON object
 * per line, {"cmd":"queue.hold","id":"..."}; the server answers each with one
 * JSON object per line, {"ok":true,...} or {"ok":false,"error":"..."}, in
 * order: a client's next request is read only after the previous one is
 * answered.
 *
 * A handler gets the request and must answer it exactly once, with
 * control_reply() or control_reply_error(), either before it returns or
 * later from any event loop callback (a policy check that needs DNS and
 * HTTPS). If the client has gone away in between, the late answer is
 * dropped and the request freed; the handler need not know.
 */
#ifndef RELAY_CONTROL_H
#define RELAY_CONTROL_H

#include <sys/types.h>
#include <stddef.h>

#include <jansson.h>

struct event_base;
struct control;
struct control_request;

#define CONTROL_MAX_REQUEST	(64 * 1024)	/* bytes of one request line */
#define CONTROL_MAX_CLIENTS	16		/* control connections at once */
#define CONTROL_IDLE_TIMEOUT	60		/* seconds a client may stay silent */
#define CONTROL_MAX_OUTPUT	(1024 * 1024)	/* answers not yet taken: read no more */

typedef void (*control_handler)(struct control_request *, const json_t *args, void *arg);

/*
 * Listen on path: its folder is created (mode 0700) when missing, a stale
 * socket left by a dead daemon is removed, and the socket gets mode 0600.
 * Fails when another daemon answers on path, or path is not a socket.
 * Only clients running as root or as the daemon's user are served.
 */
struct control	*control_new(struct event_base *, const char *path,
		    char *err, size_t errlen);
/*
 * Give the socket (and its folder, when control_new() made it) to the user
 * the daemon is about to become, so that stsrelayctl run as that user works
 * after privileges are dropped. -1 with err on failure.
 */
int		 control_chown(struct control *, uid_t, gid_t, char *err, size_t errlen);
/* Closes every client (pending requests are answered into the void) and
 * removes the socket file. */
void		 control_free(struct control *);

/* cmd like "queue.list"; -1 when it is taken. args is the whole request. */
int		 control_register(struct control *, const char *cmd,
		    control_handler, void *arg);

/* Answer: result (may be NULL) is taken over and gets "ok": true. */
void		 control_reply(struct control_request *, json_t *result);
void		 control_reply_error(struct control_request *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
const char	*control_request_cmd(const struct control_request *);

/* args["key"] when it is a string, else NULL. */
const char	*control_arg_string(const json_t *args, const char *key);
/* free(p) in control_free(): state that handlers share with the control. */
void		 control_adopt(struct control *, void *);
/*
 * A JSON string of any bytes: as they are when they are UTF-8, else with
 * every byte outside printable ASCII replaced by '?' (remote servers' reply
 * texts and envelope addresses are not always UTF-8). Never NULL.
 */
json_t		*control_json_string(const char *);
/* Control connections open now. */
size_t		 control_nclients(const struct control *);

#endif
