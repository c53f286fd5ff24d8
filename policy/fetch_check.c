/*
 * fetch_check.c: URL, media type and outcome classification for the policy
 * fetch (RFC 8461 3.3, RFC 8460 4.3). No I/O.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "policy/fetch_check.h"

const char *
fetch_check_result_type(enum fetch_status st)
{
	switch (st) {
	case FETCH_OK:
		return "";
	case FETCH_WEBPKI_INVALID:
		return "sts-webpki-invalid";
	case FETCH_FETCH_ERROR:
		return "sts-policy-fetch-error";
	case FETCH_POLICY_INVALID:
		return "sts-policy-invalid";
	}
	return "sts-policy-fetch-error";
}

int
fetch_check_host(const char *domain, char *buf, size_t len)
{
	int	n = snprintf(buf, len, "mta-sts.%s", domain);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
fetch_check_url(const char *domain, unsigned port, char *buf, size_t len)
{
	int	n;

	if (port == 0 || port == 443)
		n = snprintf(buf, len, "https://mta-sts.%s/.well-known/mta-sts.txt",
		    domain);
	else
		n = snprintf(buf, len,
		    "https://mta-sts.%s:%u/.well-known/mta-sts.txt", domain, port);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
fetch_check_content_type(const char *ct)
{
	static const char	type[] = "text/plain";

	if (ct == NULL)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, type, sizeof(type) - 1) != 0)
		return 0;
	ct += sizeof(type) - 1;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static enum fetch_status
classify_http(long http, const char **reason)
{
	if (http == 200) {
		*reason = "ok";
		return FETCH_OK;
	}
	if (http >= 300 && http < 400)
		*reason = "HTTP redirect, not followed (S8)";
	else if (http == 0)
		*reason = "no HTTP status";
	else
		*reason = "HTTP status other than 200 (S8)";
	return FETCH_FETCH_ERROR;
}

enum fetch_status
fetch_check_classify(int code, long http, int too_big, const char **reason)
{
	const char	*dummy;

	if (reason == NULL)
		reason = &dummy;
	if (too_big) {
		/* we never received the policy: a fetch error, not a bad policy */
		*reason = "body larger than 64 KiB (S10)";
		return FETCH_FETCH_ERROR;
	}
	switch ((CURLcode)code) {
	case CURLE_OK:
		return classify_http(http, reason);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		*reason = "certificate not valid for the policy host (S7)";
		return FETCH_WEBPKI_INVALID;
	case CURLE_FILESIZE_EXCEEDED:
		*reason = "body larger than 64 KiB (S10)";
		return FETCH_FETCH_ERROR;
	case CURLE_OPERATION_TIMEDOUT:
		*reason = "timed out (S10)";
		return FETCH_FETCH_ERROR;
	case CURLE_UNSUPPORTED_PROTOCOL:
		*reason = "not https";
		return FETCH_FETCH_ERROR;
	default:
		*reason = "network or TLS failure";
		return FETCH_FETCH_ERROR;
	}
}
