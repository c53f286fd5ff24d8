/* test_tls_client.c: RFC 8460 result types from X509 errors; context creation. */
#include <stdio.h>

#include <openssl/x509_vfy.h>

#include "relay/tls_client.h"
#include "tests/tap.h"

static const struct {
	long			 err;
	enum tls_client_result	 want;
	const char		*name;
} cases[] = {
	{ X509_V_OK, TLS_CLIENT_OK, "verify OK: no failure" },
	{ X509_V_ERR_HOSTNAME_MISMATCH, TLS_CLIENT_HOST_MISMATCH,
	  "S24: hostname mismatch -> certificate-host-mismatch" },
	{ X509_V_ERR_CERT_HAS_EXPIRED, TLS_CLIENT_EXPIRED,
	  "S24: expired -> certificate-expired" },
	{ X509_V_ERR_CERT_NOT_YET_VALID, TLS_CLIENT_EXPIRED,
	  "S24: not yet valid -> certificate-expired" },
	{ X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, TLS_CLIENT_NOT_TRUSTED,
	  "S24: self-signed -> certificate-not-trusted" },
	{ X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, TLS_CLIENT_NOT_TRUSTED,
	  "S24: self-signed in chain -> certificate-not-trusted" },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, TLS_CLIENT_NOT_TRUSTED,
	  "S24: missing intermediate -> certificate-not-trusted" },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, TLS_CLIENT_NOT_TRUSTED,
	  "S24: unknown issuer -> certificate-not-trusted" },
	{ X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, TLS_CLIENT_NOT_TRUSTED,
	  "S24: leaf not verifiable -> certificate-not-trusted" },
	{ X509_V_ERR_CERT_UNTRUSTED, TLS_CLIENT_NOT_TRUSTED,
	  "S24: untrusted -> certificate-not-trusted" },
	{ X509_V_ERR_CERT_SIGNATURE_FAILURE, TLS_CLIENT_VALIDATION_FAILURE,
	  "bad signature -> validation-failure" },
	{ X509_V_ERR_INVALID_PURPOSE, TLS_CLIENT_VALIDATION_FAILURE,
	  "wrong purpose -> validation-failure" },
};

int
main(void)
{
	struct tls_client	*t;
	char			 err[256];
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(tls_client_map_verify(cases[i].err), cases[i].want, cases[i].name);
	is_str(tls_client_result_name(TLS_CLIENT_STARTTLS_NOT_SUPPORTED), "starttls-not-supported",
	    "R3: starttls-not-supported spelled as RFC 8460");
	is_str(tls_client_result_name(TLS_CLIENT_HOST_MISMATCH), "certificate-host-mismatch",
	    "R3: certificate-host-mismatch");
	is_str(tls_client_result_name(TLS_CLIENT_EXPIRED), "certificate-expired",
	    "R3: certificate-expired");
	is_str(tls_client_result_name(TLS_CLIENT_NOT_TRUSTED), "certificate-not-trusted",
	    "R3: certificate-not-trusted");
	is_str(tls_client_result_name(TLS_CLIENT_VALIDATION_FAILURE), "validation-failure",
	    "R3: validation-failure");
	is_str(tls_client_result_enhanced(TLS_CLIENT_STARTTLS_NOT_SUPPORTED), "4.7.4",
	    "Ours: no STARTTLS is 4.7.4");
	is_str(tls_client_result_enhanced(TLS_CLIENT_NOT_TRUSTED), "4.7.5",
	    "Ours: certificate failure is 4.7.5");
	is_str(tls_client_result_text(TLS_CLIENT_NOT_TRUSTED), "certificate not trusted",
	    "reply text of certificate-not-trusted");

	t = tls_client_new(NULL, 16, err, sizeof(err));
	ok(t != NULL, "a context on the system store");
	if (t != NULL)
		is_int(tls_client_cache_size(t), 0, "session cache starts empty");
	tls_client_free(t);
	t = tls_client_new("/nonexistent/ca.pem", 16, err, sizeof(err));
	ok(t == NULL && err[0] != '\0', "a missing CA bundle is an error with a message");
	return tap_done();
}
