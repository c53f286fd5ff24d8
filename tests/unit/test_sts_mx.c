/* test_sts_mx.c: name normalization and the mx pattern matcher (S1, S22). */
#include <string.h>

#include "policy/sts_mx.h"
#include "tests/tap.h"

static void
test_match(void)
{
	static const struct { const char *pat, *host; int want; } t[] = {
		{ "mail.d.test", "mail.d.test", 1 },
		{ "mail.d.test", "MAIL.D.Test", 1 },		/* case-insensitive */
		{ "MAIL.d.TEST", "mail.d.test", 1 },
		{ "mail.d.test", "mail.d.test.", 1 },		/* trailing dot: host */
		{ "mail.d.test.", "mail.d.test", 1 },		/* trailing dot: pattern */
		{ "mail.d.test.", "mail.d.test.", 1 },
		{ "mail.d.test", "mail.d.test..", 0 },		/* one dot only */
		{ "mail.d.test", "mx.mail.d.test", 0 },
		{ "mail.d.test", "ail.d.test", 0 },
		{ "mail.d.test", "", 0 },
		{ "", "mail.d.test", 0 },
		{ "*.d.test", "mail.d.test", 1 },
		{ "*.d.test", "MAIL.D.TEST.", 1 },
		{ "*.D.Test.", "mail.d.test", 1 },
		{ "*.d.test", "d.test", 0 },			/* not the base */
		{ "*.d.test", "a.b.d.test", 0 },		/* one label only */
		{ "*.d.test", ".d.test", 0 },			/* empty label */
		{ "*.d.test", "xd.test", 0 },
		{ "*.d.test", "mail.e.test", 0 },
		{ "*.d.test", "mail.d.test.evil", 0 },
		{ "*.d.test", "*.d.test", 0 },
		{ "*", "anything", 0 },
		{ "*.", "anything", 0 },
		{ "a*.d.test", "ab.d.test", 0 },
		{ "a*.d.test", "a*.d.test", 0 },
	};
	char	name[160];
	size_t	i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(name, sizeof(name), "S22: '%s' %s '%s'", t[i].pat,
		    t[i].want ? "matches" : "must not match", t[i].host);
		is_int(sts_mx_match(t[i].pat, t[i].host), t[i].want, name);
	}
}

static void
test_normalize(void)
{
	static const struct { const char *in, *out; } t[] = {
		{ "Example.COM", "example.com" },
		{ "example.com.", "example.com" },
		{ "xn--bcher-kva.example", "xn--bcher-kva.example" },
		{ "a-b.c-d.test", "a-b.c-d.test" },
		{ "3com.test", "3com.test" },
		{ "x", "x" },
		{ "", NULL },
		{ ".", NULL },
		{ "..", NULL },
		{ "a..b", NULL },
		{ ".a.b", NULL },
		{ "a.b..", NULL },
		{ "-a.test", NULL },
		{ "a-.test", NULL },
		{ "a_b.test", NULL },
		{ "a b.test", NULL },
		{ "b\xc3\xbc" "cher.example", NULL },		/* U-label refused */
		{ "192.0.2.1", NULL },
		{ "192.0.2.1.", NULL },
		{ "1.2.3.4.5", NULL },
		{ "[192.0.2.1]", NULL },
		{ "*.d.test", NULL },
	};
	char		out[STS_MX_NAMEBUF], name[160], big[300];
	const char	*why;
	size_t		i;
	int		r;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		why = NULL;
		r = sts_mx_domain_normalize(t[i].in, strlen(t[i].in), out, sizeof(out), &why);
		snprintf(name, sizeof(name), "S1: normalize '%s' -> %s", t[i].in,
		    t[i].out ? t[i].out : "refused");
		if (t[i].out != NULL) {
			is_int(r, 0, name);
			is_str(out, t[i].out, name);
		} else {
			is_int(r, -1, name);
			ok(why != NULL, "  with a reason");
		}
	}
	/* label of 63 octets ok, 64 refused */
	memset(big, 'a', 64);
	memcpy(big + 64, ".test", 6);
	ok(sts_mx_domain_normalize(big + 1, 68, out, sizeof(out), NULL) == 0,
	    "label of 63 octets accepted");
	ok(sts_mx_domain_normalize(big, 69, out, sizeof(out), &why) == -1,
	    "label of 64 octets refused");
	/* 253 ok, 254 refused: 63+1+63+1+63+1+61 = 253 */
	memset(big, 'a', sizeof(big));
	big[63] = big[127] = big[191] = '.';
	big[253] = '\0';
	ok(sts_mx_domain_normalize(big, 253, out, sizeof(out), NULL) == 0,
	    "name of 253 octets accepted");
	ok(sts_mx_domain_normalize(big, 254, out, sizeof(out), &why) == -1,
	    "name of 254 octets refused");
	big[253] = '.';
	ok(sts_mx_domain_normalize(big, 254, out, sizeof(out), NULL) == 0,
	    "name of 253 octets plus the trailing dot accepted");
	ok(sts_mx_domain_normalize("a.test", 6, out, 6, &why) == -1,
	    "a buffer too small is refused, not overrun");
}

static void
test_pattern(void)
{
	char		out[STS_MX_NAMEBUF];
	const char	*why;

	ok(sts_mx_pattern_parse("*.D.test.", 9, out, sizeof(out), &why) == 0 &&
	    strcmp(out, "*.d.test") == 0, "S17: wildcard pattern normalized");
	ok(sts_mx_pattern_parse("Mail.D.test", 11, out, sizeof(out), &why) == 0 &&
	    strcmp(out, "mail.d.test") == 0, "S17: plain pattern normalized");
	ok(sts_mx_pattern_parse("*.*.d.test", 10, out, sizeof(out), &why) == -1,
	    "S17: '*' only as the whole leftmost label");
	ok(sts_mx_pattern_parse("2001:db8::1", 11, out, sizeof(out), &why) == -1,
	    "S17: IPv6 address refused");
	is_str(why, "looks like an IP address", "  reason");
	ok(sts_mx_pattern_parse("*.10.1.2.3", 10, out, sizeof(out), &why) == -1,
	    "S17: wildcard over an IPv4 address refused");
}

int
main(void)
{
	test_match();
	test_normalize();
	test_pattern();
	return tap_done();
}
