/* test_fetch_check.c: URL, media type and result classification (S6-S10). */
#include <string.h>

#include <curl/curl.h>

#include "policy/fetch_check.h"
#include "tests/tap.h"

static void
test_content_type(void)
{
	static const struct { const char *ct; int want; } t[] = {
		{ "text/plain", 1 },
		{ "text/plain; charset=utf-8", 1 },
		{ "TEXT/PLAIN", 1 },
		{ "Text/Plain;charset=\"UTF-8\"", 1 },
		{ "  text/plain  ", 1 },
		{ "text/plain ; format=flowed", 1 },
		{ "text/html", 0 },
		{ "text/plainx", 0 },
		{ "text/plain-ish", 0 },
		{ "text/", 0 },
		{ "application/octet-stream", 0 },
		{ "", 0 },
		{ "text /plain", 0 },
	};
	char	name[128];
	size_t	i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(name, sizeof(name), "S9: Content-Type '%s' %s", t[i].ct,
		    t[i].want ? "accepted" : "refused");
		is_int(fetch_check_content_type(t[i].ct), t[i].want, name);
	}
	is_int(fetch_check_content_type(NULL), 0, "S9: no Content-Type refused (Ours)");
}

static void
test_url(void)
{
	char	buf[300];

	ok(fetch_check_url("d.test", 443, buf, sizeof(buf)) == 0, "S6: url built");
	is_str(buf, "https://mta-sts.d.test/.well-known/mta-sts.txt",
	    "S6: https, mta-sts. prefix, well-known path, port 443 omitted");
	fetch_check_url("d.test", 8443, buf, sizeof(buf));
	is_str(buf, "https://mta-sts.d.test:8443/.well-known/mta-sts.txt",
	    "lab: other policy port written");
	fetch_check_url("d.test", 0, buf, sizeof(buf));
	is_str(buf, "https://mta-sts.d.test/.well-known/mta-sts.txt", "port 0 means 443");
	ok(fetch_check_url("d.test", 443, buf, 20) == -1, "short buffer refused");
	ok(fetch_check_host("d.test", buf, sizeof(buf)) == 0 &&
	    strcmp(buf, "mta-sts.d.test") == 0, "S6: host is mta-sts.<domain>");
}

static void
test_classify(void)
{
	static const struct { int code; long http; int big; enum fetch_status want;
	    const char *name; } t[] = {
		{ CURLE_OK, 200, 0, FETCH_OK, "S8: 200 is ok" },
		{ CURLE_OK, 301, 0, FETCH_FETCH_ERROR, "S8: 301 is not followed: fetch error" },
		{ CURLE_OK, 302, 0, FETCH_FETCH_ERROR, "S8: 302: fetch error" },
		{ CURLE_OK, 304, 0, FETCH_FETCH_ERROR, "S8: 304 (no caching): fetch error" },
		{ CURLE_OK, 404, 0, FETCH_FETCH_ERROR, "S8: 404: fetch error" },
		{ CURLE_OK, 500, 0, FETCH_FETCH_ERROR, "S8: 500: fetch error" },
		{ CURLE_OK, 204, 0, FETCH_FETCH_ERROR, "S8: 204: fetch error" },
		{ CURLE_PEER_FAILED_VERIFICATION, 0, 0, FETCH_WEBPKI_INVALID,
		    "S7: untrusted or wrong-name certificate: sts-webpki-invalid" },
		{ CURLE_SSL_CACERT_BADFILE, 0, 0, FETCH_WEBPKI_INVALID,
		    "S7: unusable CA bundle: sts-webpki-invalid" },
		{ CURLE_OPERATION_TIMEDOUT, 0, 0, FETCH_FETCH_ERROR, "S10: timeout: fetch error" },
		{ CURLE_COULDNT_CONNECT, 0, 0, FETCH_FETCH_ERROR, "refused: fetch error" },
		{ CURLE_SSL_CONNECT_ERROR, 0, 0, FETCH_FETCH_ERROR, "TLS handshake: fetch error" },
		{ CURLE_WRITE_ERROR, 200, 1, FETCH_FETCH_ERROR, "S10: body cap hit: fetch error" },
		{ CURLE_FILESIZE_EXCEEDED, 200, 0, FETCH_FETCH_ERROR,
		    "S10: announced size over the cap: fetch error" },
	};
	const char	*reason;
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		reason = NULL;
		is_int(fetch_check_classify(t[i].code, t[i].http, t[i].big, &reason),
		    t[i].want, t[i].name);
		ok(reason != NULL && reason[0] != '\0', "  with a reason");
	}
	is_str(fetch_check_result_type(FETCH_WEBPKI_INVALID), "sts-webpki-invalid",
	    "RFC 8460 name for certificate problems");
	is_str(fetch_check_result_type(FETCH_FETCH_ERROR), "sts-policy-fetch-error",
	    "RFC 8460 name for fetch problems");
	is_str(fetch_check_result_type(FETCH_POLICY_INVALID), "sts-policy-invalid",
	    "RFC 8460 name for bad policies");
}

int
main(void)
{
	test_content_type();
	test_url();
	test_classify();
	return tap_done();
}
