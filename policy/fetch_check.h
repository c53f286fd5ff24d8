/*
 * fetch_check.h: the pure parts of the policy fetch (RFC 8461 3.3; S6-S10):
 * the URL, the Content-Type test and the mapping of a transfer's outcome to
 * an RFC 8460 result type. No I/O.
 */
#ifndef POLICY_FETCH_CHECK_H
#define POLICY_FETCH_CHECK_H

#include <stddef.h>

enum fetch_status {
	FETCH_OK = 0,
	FETCH_WEBPKI_INVALID,	/* sts-webpki-invalid: certificate problems (S7) */
	FETCH_FETCH_ERROR,	/* sts-policy-fetch-error: network, HTTP (S8, S10) */
	FETCH_POLICY_INVALID	/* sts-policy-invalid: media type, syntax (S9, S17) */
};

/* "sts-webpki-invalid", ... ; "" for FETCH_OK. */
const char *fetch_check_result_type(enum fetch_status);

/*
 * S6: https://mta-sts.<domain>[:port]/.well-known/mta-sts.txt, the port
 * written only when it is not 443. Also the host part, "mta-sts.<domain>".
 * Return 0, or -1 when the buffer is too small.
 */
int	fetch_check_url(const char *domain, unsigned port, char *, size_t);
int	fetch_check_host(const char *domain, char *, size_t);

/*
 * S9: 1 when the Content-Type header value is text/plain, ignoring case,
 * surrounding white space and any parameters ("text/plain; charset=utf-8").
 * NULL (no header) is 0.
 */
int	fetch_check_content_type(const char *);

/*
 * Classify a finished transfer from libcurl's result code, the HTTP status
 * (0 if none) and whether our body cap aborted it. The reason is a static
 * string. HTTP 200 with curl_code 0 gives FETCH_OK: the caller then checks
 * the media type and parses the body.
 */
enum fetch_status fetch_check_classify(int curl_code, long http_status,
	    int too_big, const char **reason);

#endif
