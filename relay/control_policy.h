/*
 * control_policy.h: the MTA-STS policy commands of the control socket.
 *
 *   policy.check domain  a live, traced resolution (policy_diagnose): every
 *                        step, the verdict ("valid", "none", "error") and
 *                        "exit", the status stsrelayctl exits with (0, 2, 1)
 *   policy.show domain   the cached record: id, mode, mx, fetched, max_age,
 *                        expires, age, fresh, last failure, the policy text
 *   policy.list          {"policies":[...],"count":N}: every cached record
 *   policy.flush domain  forget one cached policy; {"all":true}: every one
 * A domain without a cached record answers {"ok":false,"error":"no cached
 * policy for DOMAIN"}.
 */
#ifndef RELAY_CONTROL_POLICY_H
#define RELAY_CONTROL_POLICY_H

#include "policy/policy.h"

struct config;
struct control;

#define CONTROL_POLICY_LIST_MAX	100000	/* records in one policy.list */

void	control_policy_register(struct control *, struct policy *);
/*
 * The engine's parameters from the configuration (pointers into cfg): the
 * front cache of decisions is on, reused for policy_txt_recheck.
 */
void	control_policy_params(const struct config *, struct policy_params *);

/* The engine's counters (policy_get_stats) for the status command. */
json_t	*control_policy_json(struct policy *);

#endif
