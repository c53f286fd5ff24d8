/* control_delivery.c: the delivery counters for the status command. */
#include "common/log.h"
#include "relay/control_delivery.h"
#include "relay/delivery.h"

json_t *
control_delivery_json(const struct delivery *d)
{
	struct delivery_stats	 st;
	json_t			*o;

	if (d == NULL)
		return NULL;
	delivery_stats(d, &st);
	o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "attempts", (json_int_t)st.attempts, "delivered", (json_int_t)st.delivered,
	    "deferred", (json_int_t)st.deferred, "bounced", (json_int_t)st.bounced,
	    "messages", (json_int_t)st.messages, "in_flight", (json_int_t)st.in_flight,
	    "groups_active", (json_int_t)st.groups_active,
	    "sessions_open", (json_int_t)st.sessions_open,
	    "sessions_idle", (json_int_t)st.sessions_idle,
	    "connections", (json_int_t)st.connections, "handshakes", (json_int_t)st.handshakes,
	    "transactions", (json_int_t)st.transactions,
	    "tls_transactions", (json_int_t)st.tls_transactions, "reused", (json_int_t)st.reused);
	if (o == NULL)
		fatalx("control_delivery_json: json_pack failed");
	return o;
}
