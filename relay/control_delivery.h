/*
 * control_delivery.h: the delivery counters as the "delivery" object of the
 * status command (stsrelayctl status):
 *   {"attempts","delivered","deferred","bounced","messages","in_flight",
 *    "groups_active","sessions_open","sessions_idle","connections",
 *    "handshakes","transactions","tls_transactions","reused"}
 */
#ifndef RELAY_CONTROL_DELIVERY_H
#define RELAY_CONTROL_DELIVERY_H

#include <jansson.h>

struct delivery;

/* A new object (NULL when d is NULL: delivery is off). */
json_t	*control_delivery_json(const struct delivery *d);

#endif
