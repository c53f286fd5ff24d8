/*
 * control_status.h: the "status" command of the control socket:
 *   {"version","pid","started","uptime","hostname","listen":["127.0.0.1:2525"],
 *    "queue":{"messages","recipients_pending","held","deferred"},
 *    "sessions":{"current","total"}, "delivery":{...} when the daemon delivers}
 */
#ifndef RELAY_CONTROL_STATUS_H
#define RELAY_CONTROL_STATUS_H

#include <stdint.h>

#include <jansson.h>

struct config;
struct control;
struct queue;

/*
 * cfg and q must outlive the control. sessions (may be NULL) reports the
 * inbound SMTP sessions open now and since start. Uptime counts from this
 * call.
 */
void	control_status_register(struct control *, const struct config *,
	    struct queue *, void (*sessions)(void *arg, uint64_t *now, uint64_t *total),
	    void *arg);
/*
 * The same, and more (may be NULL) gives an object whose members are added
 * to the answer ("delivery", "policy"), or NULL.
 */
void	control_status_register_ext(struct control *, const struct config *,
	    struct queue *, void (*sessions)(void *arg, uint64_t *now, uint64_t *total),
	    json_t *(*more)(void *arg), void *arg);

#endif
