/*
 * delivery_int.h: what the files of the delivery orchestrator share.
 *	delivery.c		the scheduler: taking due messages, groups per domain,
 *				concurrency, recording attempts
 *	delivery_route.c	policy, MX hosts and addresses of a group
 *	delivery_dns.c		MX and address lookups, shared and kept
 *	delivery_attempt.c	connections, TLS fallback, sending, idle reuse
 *	delivery_log.c		the log line and the TLS report counters
 *	delivery_rules.c	the plain decisions (delivery_rules.h)
 * Not for use outside relay/delivery*.c.
 */
#ifndef RELAY_DELIVERY_INT_H
#define RELAY_DELIVERY_INT_H

#include <sys/queue.h>
#include <sys/socket.h>

#include "policy/policy.h"
#include "queue/queue.h"
#include "relay/delivery.h"
#include "relay/delivery_rules.h"
#include "relay/smtp_client.h"

#define DLV_MAX_ADDRS	8	/* addresses tried per MX host */
#define DLV_INTAKE	20	/* messages held in memory per unit of concurrency */
#define DLV_DNS_MS	10000	/* MX and address answers reused this long at most */
#define DLV_DNS_MAX	1024	/* answers kept */
#define DLV_SLOW_MS	30000	/* a domain with no delivery done this long is stuck */
#define DLV_TICK_MS	5000	/* the scheduler looks at the queue and the domains */
#define DLV_TALLY_MAX	32	/* TLS report counters added up before they are written */
#define DLV_DOM_HASH	1024	/* buckets of the domains with work, by name */
#define DLV_REUSE_BURST	50	/* groups in a row a domain starts on its kept connections */
#define DLV_REUSE_MS	5000	/* ... and for this long at most */

enum dlv_gstate {
	DLV_G_WAIT = 0,		/* queued behind the domain's or the global limit */
	DLV_G_POLICY,		/* policy_lookup */
	DLV_G_MX,		/* MX query */
	DLV_G_ADDR,		/* A and AAAA of the current candidate */
	DLV_G_CONNECT,		/* a session is being set up */
	DLV_G_SEND,		/* the transaction */
	DLV_G_RECHECK,		/* S21: policy looked up again before a bounce */
	DLV_G_DONE,
	DLV_G_COUNT
};

struct dlv_msg;
struct dlv_domain;

struct dlv_addr {
	struct sockaddr_storage	ss;
	socklen_t		len;
};

struct dlv_group {
	TAILQ_ENTRY(dlv_group)	 entry;		/* the domain's waiting list */
	TAILQ_ENTRY(dlv_group)	 dns_entry;	/* waiting on a DNS answer */
	struct delivery		*d;
	struct dlv_msg		*msg;
	struct dlv_domain	*dom;
	enum dlv_gstate		 state;
	size_t			*rcpt_idx;	/* indexes in the message */
	const char		**rcpts;
	size_t			 nrcpts;
	struct policy_result	*pol;
	struct dlv_cand		 cands[DLV_MAX_CANDS];
	size_t			 ncands, cand;
	struct dlv_addr		 addrs[DLV_MAX_ADDRS];
	size_t			 naddrs, addr;
	struct smtpc_session	*sess;
	enum smtpc_tls_mode	 want;		/* what the policy asks for */
	enum smtpc_tls_mode	 mode;		/* of the session being set up */
	char			 last_relay[330];	/* of the last failed candidate */
	char			 violation[DLV_RESULT_MAX];	/* testing mode */
	struct dlv_verdict	 last;		/* why the last candidate failed */
	int			 contacted;	/* a server answered */
	struct smtpc_message	 smsg;
	uint64_t		 start_ms;
	char			*held_log;	/* bounce lines until S21 decides */
};

struct dlv_msg {
	TAILQ_ENTRY(dlv_msg)	 entry;
	struct delivery		*d;
	char			 id[QUEUE_ID_MAX];
	struct queue_msg_info	*info;
	struct evbuffer		*body;		/* loaded at the first send */
	struct dlv_group	**groups;
	size_t			 ngroups, left;
	struct queue_rcpt_result *res;		/* per recipient; state PENDING: none */
	unsigned char		*recorded;	/* per recipient: delivered, in the spool */
	char			**reasons, **remotes;
	uint64_t		 start_ms;
};

struct dlv_domain {
	TAILQ_ENTRY(dlv_domain)	 entry;
	struct dlv_domain	*hnext;		/* in its hash bucket */
	TAILQ_HEAD(dlv_group_head, dlv_group) waiting;
	char			 name[DLV_DOMAIN_MAX];
	size_t			 active, nwaiting;
	size_t			 streak;	/* started on a kept connection in a row */
	uint64_t		 streak_ms;	/* ... since */
	uint64_t		 progress_ms;	/* created, or a delivery done */
};

/*
 * A DNS answer, pending (groups wait on it) or kept for its TTL (DLV_DNS_MS
 * at most): an MX set under a policy id, or the addresses of a host.
 */
struct dlv_dns {
	TAILQ_ENTRY(dlv_dns)	 entry;
	struct delivery		*d;
	TAILQ_HEAD(, dlv_group)	 waiters;
	int			 pending;	/* answers still due */
	int			 tempfail;
	char			 name[DLV_DOMAIN_MAX];
	int			 is_mx;
	char			 id[64];		/* policy id of an MX answer */
	uint64_t		 expires_ms;
	uint32_t		 ttl;		/* s; of both answers for addresses */
	enum resolver_status	 status;	/* OK or NODATA */
	struct resolver_mx	 mx[DLV_MAX_CANDS];
	size_t			 nmx;
	struct dlv_addr		 addrs[DLV_MAX_ADDRS];
	size_t			 naddrs;
};

struct dlv_idle {
	TAILQ_ENTRY(dlv_idle)	 entry;
	struct delivery		*d;
	struct smtpc_session	*s;
	char			 mx[DLV_DOMAIN_MAX];
	char			 domain[DLV_DOMAIN_MAX];	/* of the group that kept it */
	struct dlv_addr		 addr;
	enum smtpc_tls_mode	 mode;		/* asked for */
	char			 violation[DLV_RESULT_MAX];
	struct event		*timer;
};

/* A TLS report counter not written yet (delivery_log.c). */
struct dlv_tally {
	char			 domain[DLV_DOMAIN_MAX];
	char			 mx[256];
	char			 result[DLV_RESULT_MAX];
	enum queue_tls_policy	 type;
	time_t			 when;		/* the first: its UTC day is the key's */
	uint64_t		 n;
};

struct delivery {
	struct event_base	*base;
	struct queue		*q;
	struct policy		*pol;
	struct resolver		*res;
	struct tls_client	*tls;
	struct delivery_params	 p;
	struct smtpc_params	 sp;
	TAILQ_HEAD(, dlv_msg)	 msgs;
	TAILQ_HEAD(, dlv_domain) domains;
	TAILQ_HEAD(dlv_idle_head, dlv_idle) idle;
	TAILQ_HEAD(, dlv_dns)	 dns;
	size_t			 ndns;
	size_t			 nmsgs, active;
	struct event		*ev_pump, *ev_tick;
	int			 stopping;
	struct delivery_stats	 st;
	struct dlv_domain	*dom_hash[DLV_DOM_HASH];
	struct dlv_tally	 tally[DLV_TALLY_MAX];
	size_t			 ntally;
	struct event		*ev_tally;	/* writes them after this turn of the loop */
};

/* delivery.c */
const char	*dlv_strstate(enum dlv_gstate);
void		 dlv_transition(struct dlv_group *, enum dlv_gstate);
/* The group is over: its results are in the message (dlv_set_*). */
void		 dlv_group_done(struct dlv_group *);
/* The domain of that name with work (waiting or active), or NULL. */
struct dlv_domain *dlv_domain_find(struct delivery *, const char *);
/* Defer the groups waiting behind g in its domain with v (see delivery.c). */
void		 dlv_fail_backlog(struct dlv_group *, const struct dlv_verdict *);
void		 dlv_set_all(struct dlv_group *, const struct dlv_verdict *,
		    const char *remote);
void		 dlv_set_rcpt(struct dlv_group *, size_t i, enum queue_rcpt_state,
		    const char *text, const char *remote);
/* The body of the group's message, loaded on first use; NULL on error. */
struct evbuffer	*dlv_body(struct dlv_group *);

/* delivery_route.c */
void		 dlv_route_start(struct dlv_group *);
/* After a candidate's addresses are used up: the next one, or the end. */
void		 dlv_route_next_host(struct dlv_group *);
/*
 * The group's results are set: S21 (a bounce under a cached policy waits
 * for the policy again), then dlv_group_done().
 */
void		 dlv_route_finish(struct dlv_group *);
/* Will dlv_route_finish look the policy up again before its bounces stand (S21)? */
int		 dlv_route_will_recheck(const struct dlv_group *);
/* From delivery_dns.c: the answers a group waited for. */
void		 dlv_route_on_mx(struct dlv_group *, const struct resolver_mx_result *);
void		 dlv_route_on_addrs(struct dlv_group *, const struct dlv_addr *, size_t,
		    int tempfail);

/* delivery_dns.c */
void		 dlv_dns_mx(struct dlv_group *);
void		 dlv_dns_addr(struct dlv_group *, const char *host);
void		 dlv_dns_free(struct delivery *);

/* delivery_attempt.c */
void		 dlv_attempt_next(struct dlv_group *);
void		 dlv_attempt_free_idle(struct delivery *);
/* The group is dropped (shutdown): close its session without callbacks. */
void		 dlv_attempt_cancel(struct dlv_group *);

/* delivery_log.c */
void		 dlv_log_verdict(struct dlv_group *, const struct dlv_verdict *);
void		 dlv_log_sent(struct dlv_group *, const struct smtpc_outcome *,
		    const struct smtpc_result *);
void		 dlv_log_count(struct dlv_group *, const struct smtpc_outcome *);
/*
 * The bounce lines held while S21 re-checks the policy: logged when the
 * bounces stand (print 1), dropped when they became deferrals (logged then).
 */
void		 dlv_log_release(struct dlv_group *, int print);
void		 dlv_log_policy_count(struct dlv_group *);
/* Write the TLS report counters added up since the last time. */
void		 dlv_log_flush_counts(struct delivery *);

#endif
