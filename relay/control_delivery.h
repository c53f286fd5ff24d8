/*
 * control_delivery.h: the delivery counters as the "delivery" object of the
 * status command (stsrelayctl status):
 *   {"attempts","delivered","deferred","bounced","messages","in_flight",
 *    "groups_active","sessions_open","sessions_idle","connections",
 *    "handshakes","transactions","tls_transactions","reused"}
 * and the "tls.counts" command: the TLS report counters of one UTC day
 * (RFC 8460), {"id":"2026-11-22"} or today:
 *   {"day","counts":[{"policy_domain","policy_type","mx_host","result","count"}]}
 */
#ifndef RELAY_CONTROL_DELIVERY_H
#define RELAY_CONTROL_DELIVERY_H

#include <jansson.h>

struct control;
struct delivery;
struct queue;

/* A new object (NULL when d is NULL: delivery is off). */
json_t	*control_delivery_json(const struct delivery *d);
/* Registers tls.counts; q must outlive the control. */
void	 control_delivery_register(struct control *, struct queue *q);

#endif
