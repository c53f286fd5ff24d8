/*
 * fetch.h: the HTTPS policy fetch (RFC 8461 3.3; S6-S10) with the libcurl
 * multi interface on the relay's libevent loop (socket and timer callbacks,
 * curl_multi_socket_action; no polling).
 *
 * libcurl never resolves names: the caller passes the addresses it found
 * for mta-sts.<domain> (CURLOPT_RESOLVE), so one DNS configuration governs
 * everything. HTTPS only, no redirects, peer and host verified against the
 * configured CA bundle, body capped at 64 KiB, only 200 with text/plain,
 * no HTTP cache, one fresh connection per fetch.
 */
#ifndef POLICY_FETCH_H
#define POLICY_FETCH_H

#include <sys/socket.h>
#include <stddef.h>

#include "policy/fetch_check.h"
#include "policy/sts_policy.h"

struct event_base;
struct fetcher;

struct fetch_params {
	const char	*cainfo;	/* CA bundle file; NULL or "": the system store */
	unsigned	 port;		/* policy port; 0 or 443: 443 */
	unsigned	 timeout_s;	/* whole fetch; 0: 60; capped at 60 (S10) */
};

struct fetch_outcome {
	enum fetch_status	 status;	/* maps to an RFC 8460 result type */
	const char		*reason;	/* human text: why not OK */
	const char		*url;
	long			 http_status;	/* 0 if none */
	const char		*content_type;	/* NULL if none */
	size_t			 size;		/* body octets received */
	const char		*curl_error;	/* libcurl's detail, "" if none */
	const struct sts_policy	*policy;	/* FETCH_OK: the parsed policy */
	const char		*body;		/* FETCH_OK: the raw text */
};

typedef void (*fetch_on_policy)(const struct fetch_outcome *, void *);

struct fetcher *fetch_new(struct event_base *, const struct fetch_params *);
/* Aborts transfers in flight without calling them back. */
void	fetch_free(struct fetcher *);

/*
 * Fetch and parse the policy of domain (A-label form), connecting to one of
 * addrs (their ports are ignored). Returns 0 when under way; the callback
 * always runs later from the loop. -1 on bad arguments (no address).
 */
int	fetch_query_policy(struct fetcher *, const char *domain,
	    const struct sockaddr_storage *addrs, size_t naddrs,
	    fetch_on_policy, void *);

#endif
