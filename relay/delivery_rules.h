/*
 * delivery_rules.h: the plain decisions of delivery, with no I/O so that
 * they can be table-tested: which recipients go together (one group per
 * recipient domain, S1), which MX hosts may be contacted under the domain's
 * MTA-STS policy and in what order (S22, S23, S27, Ours), what a session's
 * failure or a reply means for the queue, and the RFC 8460 result type to
 * count.
 */
#ifndef RELAY_DELIVERY_RULES_H
#define RELAY_DELIVERY_RULES_H

#include <stddef.h>

#include "policy/policy.h"
#include "queue/queue.h"
#include "relay/smtp_client.h"

#define DLV_DOMAIN_MAX		256	/* a domain name and its NUL */
#define DLV_MAX_CANDS		16	/* MX hosts tried per attempt */
#define DLV_TEXT_MAX		600	/* "4.7.5 certificate not trusted (...)" */
#define DLV_RESULT_MAX		48	/* an RFC 8460 result type and its NUL */
#define DLV_NO_GROUP		((size_t)-1)

/* One recipient domain of a message. */
struct dlv_split {
	size_t	  ngroups;
	char	**domains;	/* ngroups domains, A-label form, first-seen order */
	size_t	 *group_of;	/* per recipient: its group, or DLV_NO_GROUP */
};

/*
 * The domain of an address (after the last '@'), lower case, without a
 * trailing dot. -1 when there is none or it does not fit.
 */
int	dlv_rcpt_domain(const char *addr, char *out, size_t outlen);
/*
 * Group the recipients whose todo[i] is set by domain, in A-label form (a
 * U-label and its A-label are one group; a name that is not valid IDNA
 * keeps its own, and delivery bounces it 5.1.2). A recipient to try that
 * has no domain gets DLV_NO_GROUP and its todo[i] stays set: the caller
 * bounces it.
 */
void	dlv_split(struct dlv_split *, const char *const *rcpts,
	    const unsigned char *todo, size_t n);
void	dlv_split_free(struct dlv_split *);

/* A group-level verdict: what to record for every recipient of the group. */
struct dlv_verdict {
	enum queue_rcpt_state	state;		/* DELIVERED, DEFERRED or BOUNCED */
	char			text[DLV_TEXT_MAX];	/* "4.7.0 no MX host ..." */
	char			result[DLV_RESULT_MAX];	/* RFC 8460 type, "" */
};

struct dlv_cand {
	char	host[DLV_DOMAIN_MAX];
	unsigned pref;
	int	matches;	/* the policy names it (always 1 without a policy) */
};

/*
 * S23 and the policy: the MX hosts to try, in preference order, from an MX
 * answer for domain. 0 with cands filled (enforce: only matching hosts,
 * never the others, Ours; testing: all of them, matches says which are a
 * violation), or -1 with the verdict: null MX 5.1.10, NXDOMAIN 5.1.2, DNS
 * trouble 4.4.3, policy TEMPFAIL 4.4.3, no MX host matching an enforce
 * policy 4.7.0. With NODATA the domain itself is the implicit MX.
 */
int	dlv_plan(const char *domain, const struct policy_result *,
	    const struct resolver_mx_result *, struct dlv_cand *cands,
	    size_t *ncands, struct dlv_verdict *);
/* A policy TEMPFAIL: the verdict before any MX lookup (4.4.3). */
void	dlv_policy_tempfail(const struct policy_result *, struct dlv_verdict *);

/* The client's TLS mode for a policy mode (S27-S29). */
enum smtpc_tls_mode dlv_tls_mode(enum policy_mode);
/*
 * After a failed session: may the same address be tried again in
 * plaintext (testing and no policy: Ours and S28)? Never in enforce mode.
 */
int	dlv_retry_plaintext(const struct smtpc_outcome *, enum policy_mode);
/* A session that failed before a message could go: always DEFERRED. */
void	dlv_session_verdict(const struct smtpc_outcome *, struct dlv_verdict *);
/* One recipient's reply: 2xx DELIVERED, 4xx DEFERRED, 5xx BOUNCED. */
enum queue_rcpt_state dlv_rcpt_state(const struct smtpc_status *);
/*
 * The RFC 8460 result of a session for the counters: "success" or a
 * result type; a testing-mode violation (violation, may be NULL or "")
 * counts as its type.
 */
const char *dlv_tls_result(const struct smtpc_outcome *, const char *violation);
/*
 * S21: a bounce may stand only if the policy did not change: same id and
 * mode, the TXT record read again and still publishing that id (a new id
 * whose policy could not be fetched, or a TXT query that failed, leaves the
 * cached policy in force but must not let a bounce stand on it).
 */
int	dlv_policy_changed(const struct policy_result *before,
	    const struct policy_result *after);

#endif
