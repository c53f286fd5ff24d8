/*
 * policy_diag.h: "stsrelayctl policy check": one live MTA-STS resolution of
 * a domain, traced step by step, with the daemon's own DNS servers, CA
 * bundle and policy port. Included by policy.h; relay/ sees it from there.
 *
 * The trace runs the engine's own check (policy_check: TXT, A/AAAA of
 * mta-sts.<domain>, HTTPS fetch, parse, store) and records what each step
 * saw, then resolves the domain's MX hosts and their addresses and tells
 * which of them the policy names (S22). The cached record is read before
 * and after, so the admin sees what the check changed.
 */
#ifndef POLICY_POLICY_DIAG_H
#define POLICY_POLICY_DIAG_H

#include <stddef.h>
#include <stdint.h>

#include "common/netaddr.h"

struct policy;
struct policy_result;

#define POLICY_DIAG_MAX_TXT	16	/* TXT records shown */
#define POLICY_DIAG_TXT_SHOWN	512	/* octets of one record shown */
#define POLICY_DIAG_MAX_ADDRS	8	/* addresses of one host */
#define POLICY_DIAG_MAX_MX	16	/* MX hosts resolved and shown */
#define POLICY_DIAG_ID		33	/* STSv1 id: 1-32 characters and NUL */

/* The exit status of "stsrelayctl policy check" (docs/stsrelayctl.8). */
enum policy_diag_verdict {
	POLICY_DIAG_VALID = 0,	/* a valid policy was fetched just now */
	POLICY_DIAG_ERROR = 1,	/* a policy is announced but unusable, or DNS failed */
	POLICY_DIAG_NONE = 2	/* no STSv1 TXT record: the domain has no policy */
};

/* One TXT record of _mta-sts.<domain>, its strings joined (S3). */
struct policy_diag_txt {
	char	text[POLICY_DIAG_TXT_SHOWN];	/* printable: other octets as \xNN */
	size_t	len;				/* octets of the record */
	int	sts;				/* starts with "v=STSv1;" (S4) */
	char	id[POLICY_DIAG_ID];		/* sts and valid: its id */
	char	error[160];			/* sts and malformed: why (S5) */
};

/* A host and the addresses it resolved to (A and AAAA). */
struct policy_diag_host {
	char	name[256];
	char	addrs[POLICY_DIAG_MAX_ADDRS][NETADDR_STRLEN];
	size_t	naddrs;
	char	error[128];	/* why there is no address, "" otherwise */
};

struct policy_diag_mx {
	unsigned		pref;
	struct policy_diag_host	host;
	int			match;		/* S22: the policy names this host */
	char			pattern[256];	/* ... with this pattern */
};

/* policy.db's record of the domain at one moment. */
struct policy_diag_cache {
	int		present;
	int		corrupt;
	char		id[POLICY_DIAG_ID];	/* "" when only a failure is kept */
	int		mode;			/* enum policy_mode */
	uint64_t	fetched;
	uint32_t	max_age;
	int		fresh;			/* S19: unexpired now */
	char		fail_id[POLICY_DIAG_ID];	/* S11 */
	uint64_t	fail_time;
};

struct policy_diag {
	char		input[256];	/* as asked, printable */
	char		domain[256];	/* normalized policy domain (S1) */
	uint64_t	now;		/* unix seconds at the start */
	uint64_t	elapsed_ms;

	/* 1: TXT _mta-sts.<domain> (S2-S5) */
	char		txt_name[300];
	int		txt_status;	/* enum resolver_status */
	char		txt_error[200];
	struct policy_diag_txt txt[POLICY_DIAG_MAX_TXT];
	size_t		ntxt;		/* records received (may exceed those kept) */
	size_t		nsts;		/* ... starting with v=STSv1; */
	char		id[POLICY_DIAG_ID];	/* the id chosen, "" if none */
	char		txt_reason[200];	/* why there is no id */

	/* 2: the policy host and the fetch (S6-S10) */
	int		fetch_tried;
	struct policy_diag_host web;
	char		url[300];
	long		http_status;	/* 0: no HTTP answer */
	char		content_type[128];	/* "" when the header was missing */
	int		content_type_seen;
	size_t		size;		/* body octets received */
	char		curl_error[256];
	int		fetch_ok;
	char		result_type[40];	/* RFC 8460 type when the fetch failed */
	char		fetch_reason[400];

	/* 3: the policy text (S15-S17) */
	int		have_policy;
	int		mode;		/* enum policy_mode */
	uint32_t	max_age;	/* capped ("Ours") */
	uint64_t	max_age_published;
	char		**mx;		/* patterns */
	size_t		nmx;
	char		policy_warning[160];
	char		parse_error[400];	/* "line 3: mode: unknown value 'enfroce'" */

	/* 4: the MX hosts (S22, S23) */
	int		mx_status;	/* enum resolver_status */
	char		mx_error[200];
	int		null_mx;
	struct policy_diag_mx mxs[POLICY_DIAG_MAX_MX];
	size_t		nmxs;		/* kept */
	size_t		nmxs_total;	/* in the answer */
	size_t		nmatch;

	/* 5: the cache, and what the engine decided */
	struct policy_diag_cache before, after;
	const struct policy_result *result;	/* the engine's answer to the check */

	enum policy_diag_verdict verdict;
	char		summary[1400];
};

typedef void (*policy_on_diag)(const struct policy_diag *, void *);

/*
 * Trace a live resolution of domain (upper case and a trailing dot are
 * fine). Returns 0 and calls cb later from the event loop, exactly once;
 * -1 (no callback) when domain is not a valid A-label name. What cb gets
 * lives only during the call. Stores what it fetches, like policy_check.
 */
int	policy_diagnose(struct policy *, const char *domain, policy_on_diag, void *);

const char *policy_diag_verdict_name(enum policy_diag_verdict);

/*
 * "policy show": the cached record of one domain, passed to fn (see
 * policy_list in policy.h). 0 after fn ran, 1 when nothing is cached,
 * -1 on a bad name or a database error.
 */
struct policy_cached;
int	policy_show(struct policy *, const char *domain,
	    void (*fn)(const struct policy_cached *, void *), void *);

#endif
