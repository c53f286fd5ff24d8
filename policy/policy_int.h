/*
 * policy_int.h: what the lookup flow (policy.c) shares with the diagnostic
 * trace (policy_diag.c) inside policy/. Not part of the public API.
 */
#ifndef POLICY_POLICY_INT_H
#define POLICY_POLICY_INT_H

#include <sys/queue.h>
#include <stdint.h>

#include "policy/cache.h"
#include "policy/fetch.h"
#include "policy/policy.h"
#include "policy/resolver.h"
#include "policy/sts_policy.h"

struct diag_run;
TAILQ_HEAD(diag_runs, diag_run);

struct cache	*policy_int_cache(struct policy *);
uint64_t	 policy_int_now(struct policy *);
uint64_t	 policy_int_backoff(struct policy *);	/* S11, seconds */
struct diag_runs *policy_int_diags(struct policy *);
enum policy_mode policy_int_mode(enum sts_mode);
/* Normalize a domain (S1); -1 (logged) when it is not a valid name. */
int		 policy_int_normalize(const char *, char *norm);
/* policy_check of a normalized domain, every step reported to run. */
void		 policy_int_check(struct policy *, const char *norm, struct diag_run *,
		    policy_on_result, void *);

/* The steps of a traced check (policy_diag.c). */
void	policy_diag_note_txt(struct diag_run *, const struct resolver_txt_result *);
void	policy_diag_note_addr(struct diag_run *, const struct resolver_addr_result *);
void	policy_diag_note_fetch(struct diag_run *, const struct fetch_outcome *);
/* policy_free: drop every trace in flight without its callback. */
void	policy_diag_free_all(struct policy *);

#endif
