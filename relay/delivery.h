/*
 * delivery.h: the delivery orchestrator. It takes due messages from the
 * queue, groups their recipients by domain, looks up each domain's MTA-STS
 * policy and MX hosts, delivers only as the policy demands (RFC 8461 S21-S29
 * and the "Ours" rules of RFC-CHECKLIST.md) through relay/smtp_client, and
 * records one attempt per message in the queue. Idle connections are kept
 * for a while and handed the next message for the same MX.
 */
#ifndef RELAY_DELIVERY_H
#define RELAY_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct queue;
struct policy;
struct tls_client;
struct delivery;

struct delivery_params {
	const char	*helo_name;	/* our name in EHLO */
	unsigned	 port;		/* of the MX hosts; 0: 25 */
	size_t		 concurrency;	/* recipient groups in delivery at once; 0: 100 */
	size_t		 per_domain;	/* ... for one domain; 0: 10 */
	unsigned	 idle_ms;	/* an idle connection is kept this long; 0: none */
	unsigned	 timeout_ms;	/* every SMTP timeout of the client; 0: its defaults */
};

struct delivery_stats {
	uint64_t	attempts;	/* recipient groups tried */
	uint64_t	delivered;	/* recipients */
	uint64_t	deferred;
	uint64_t	bounced;
	uint64_t	messages;	/* attempts recorded in the queue */
	uint64_t	in_flight;	/* messages taken and not yet recorded */
	uint64_t	groups_active;
	uint64_t	sessions_open;	/* connections now, idle ones included */
	uint64_t	sessions_idle;
	uint64_t	connections;	/* connections started */
	uint64_t	handshakes;	/* TLS handshakes completed */
	uint64_t	transactions;	/* messages sent over a connection */
	uint64_t	tls_transactions;	/* ... of them over TLS */
	uint64_t	reused;		/* transactions on a connection kept idle */
};

/* Starts taking due messages at once (the queue's ready callback). */
struct delivery	*delivery_new(struct event_base *, struct queue *, struct policy *,
		    struct tls_client *, const struct delivery_params *);
/*
 * Stops: every connection is closed, every message in delivery is given
 * back to the queue unrecorded (due again at the next start). Call before
 * policy_free() and queue_close().
 */
void		 delivery_free(struct delivery *);
void		 delivery_stats(const struct delivery *, struct delivery_stats *);

#endif
