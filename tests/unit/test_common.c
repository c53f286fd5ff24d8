/* test_common.c: networks, endpoints, durations, sizes, base32, lists. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/netaddr.h"
#include "common/strutil.h"
#include "tests/tap.h"

static struct sockaddr_storage
sa(const char *s)
{
	struct netaddr_endpoint ep;

	if (netaddr_endpoint_parse(s, 25, &ep) != 0)
		memset(&ep, 0, sizeof(ep));
	return ep.ss;
}

static void
test_cidr(void)
{
	static const struct { const char *net, *addr; int want; } t[] = {
		{ "10.0.0.0/8", "10.1.2.3", 1 },
		{ "10.0.0.0/8", "11.1.2.3", 0 },
		{ "192.168.1.0/24", "192.168.1.255", 1 },
		{ "192.168.1.0/25", "192.168.1.200", 0 },
		{ "127.0.0.1", "127.0.0.1", 1 },
		{ "127.0.0.1", "127.0.0.2", 0 },
		{ "0.0.0.0/0", "203.0.113.9", 1 },
		{ "::1/128", "::1", 1 },
		{ "::1/128", "::2", 0 },
		{ "2001:db8::/32", "2001:db8:ffff::1", 1 },
		{ "2001:db8::/33", "2001:db8:ffff::1", 0 },
		{ "127.0.0.0/8", "::ffff:127.0.0.5", 1 },	/* v4-mapped */
		{ "10.0.0.0/8", "::1", 0 },
		{ "::/0", "10.0.0.1", 0 },
	};
	struct netaddr_cidr	c;
	struct sockaddr_storage	a;
	char			name[128];
	size_t			i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(name, sizeof(name), "cidr %s contains %s: %d", t[i].net, t[i].addr, t[i].want);
		a = sa(t[i].addr);
		ok(netaddr_cidr_parse(t[i].net, &c) == 0 &&
		    netaddr_cidr_match(&c, (struct sockaddr *)&a) == t[i].want, name);
	}
	ok(netaddr_cidr_parse("10.0.0.0/33", &c) == -1, "cidr: prefix 33 refused for IPv4");
	ok(netaddr_cidr_parse("::/129", &c) == -1, "cidr: prefix 129 refused for IPv6");
	ok(netaddr_cidr_parse("10.0.0.0/", &c) == -1, "cidr: empty prefix refused");
	ok(netaddr_cidr_parse("10.0.0.0/-1", &c) == -1, "cidr: negative prefix refused");
	ok(netaddr_cidr_parse("example.org/8", &c) == -1, "cidr: name refused");
	netaddr_cidr_parse("10.9.8.7/8", &c);
	netaddr_cidr_format(&c, name, sizeof(name));
	is_str(name, "10.0.0.0/8", "cidr: host bits cleared");
}

static void
test_endpoint(void)
{
	struct netaddr_endpoint	ep;
	char			buf[NETADDR_STRLEN];

	ok(netaddr_endpoint_parse("127.0.0.1:2525", 25, &ep) == 0, "endpoint: v4 with port");
	netaddr_format((struct sockaddr *)&ep.ss, buf, sizeof(buf));
	is_str(buf, "127.0.0.1:2525", "endpoint: v4 formatted");
	ok(netaddr_endpoint_parse("[::1]:53", 25, &ep) == 0, "endpoint: v6 bracketed with port");
	netaddr_format((struct sockaddr *)&ep.ss, buf, sizeof(buf));
	is_str(buf, "[::1]:53", "endpoint: v6 formatted");
	ok(netaddr_endpoint_parse("::1", 53, &ep) == 0 && netaddr_port((struct sockaddr *)&ep.ss) == 53,
	    "endpoint: bare v6 takes the default port");
	ok(netaddr_endpoint_parse("127.0.0.1", 53, &ep) == 0 && netaddr_port((struct sockaddr *)&ep.ss) == 53,
	    "endpoint: bare v4 takes the default port");
	ok(netaddr_endpoint_parse("127.0.0.1:0", 25, &ep) == -1, "endpoint: port 0 refused");
	ok(netaddr_endpoint_parse("127.0.0.1:65536", 25, &ep) == -1, "endpoint: port 65536 refused");
	ok(netaddr_endpoint_parse("127.0.0.1:2x", 25, &ep) == -1, "endpoint: junk after port refused");
	ok(netaddr_endpoint_parse("localhost:25", 25, &ep) == -1, "endpoint: names refused");
	ok(netaddr_endpoint_parse("[::1", 25, &ep) == -1, "endpoint: unclosed bracket refused");
}

static int
count_item(const char *s, void *arg)
{
	int *n = arg;

	(*n)++;
	return strcmp(s, "stop") == 0 ? 7 : 0;
}

static void
test_strutil(void)
{
	uint64_t	v;
	char		buf[32];
	int		n = 0;

	ok(strutil_parse_duration("90", &v) == 0 && v == 90, "duration: bare seconds");
	ok(strutil_parse_duration("5m", &v) == 0 && v == 300, "duration: minutes");
	ok(strutil_parse_duration("5d", &v) == 0 && v == 432000, "duration: days");
	ok(strutil_parse_duration("1W", &v) == 0 && v == 604800, "duration: weeks, upper case");
	ok(strutil_parse_duration("5x", &v) == -1, "duration: unknown unit refused");
	ok(strutil_parse_duration("-5", &v) == -1, "duration: sign refused");
	ok(strutil_parse_duration("5mm", &v) == -1, "duration: trailing junk refused");
	ok(strutil_parse_duration("", &v) == -1, "duration: empty refused");
	ok(strutil_parse_duration("99999999999999999999", &v) == -1, "duration: overflow refused");
	ok(strutil_parse_duration("999999999999999999w", &v) == -1, "duration: unit overflow refused");
	ok(strutil_parse_size("64k", &v) == 0 && v == 65536, "size: k");
	ok(strutil_parse_size("10m", &v) == 0 && v == 10485760, "size: m");
	ok(strutil_parse_size("10240000", &v) == 0 && v == 10240000, "size: bytes");
	ok(strutil_parse_uint("12a", &v) == -1, "uint: no unit allowed");
	strutil_format_duration(432000, buf, sizeof(buf));
	is_str(buf, "5d", "format: 5d");
	strutil_format_duration(90, buf, sizeof(buf));
	is_str(buf, "90s", "format: 90s");
	strutil_base32(0, buf, 4);
	is_str(buf, "0000", "base32: zero padded");
	strutil_base32(31, buf, 2);
	is_str(buf, "0Z", "base32: 31 is Z");
	ok(strutil_split(" a, b,,c\td ", count_item, &n) == 0 && n == 4, "split: four items");
	n = 0;
	ok(strutil_split("a stop b", count_item, &n) == 7 && n == 2, "split: callback stops it");
	ok(strutil_lcpy(buf, "abcdef", 4) == 6 && strcmp(buf, "abc") == 0, "lcpy truncates");
	strcpy(buf, "ab");
	ok(strutil_lcat(buf, "cdef", 5) == 6 && strcmp(buf, "abcd") == 0, "lcat truncates");
	strcpy(buf, "MiXeD.TeSt");
	strutil_lower(buf);
	is_str(buf, "mixed.test", "lower");
}

/* RFC 4648 base64, strict (SASL in AUTH, bodies over the control socket). */
static void
test_base64(void)
{
	static const struct { const char *in; int rc; const char *out; } t[] = {
		{ "", 0, "" },
		{ "YQ==", 0, "a" },
		{ "YWI=", 0, "ab" },
		{ "YWJj", 0, "abc" },
		{ "AGFsaWNlAHMzY3JldA==", 0, "\0alice\0s3cret" },
		{ "YQ=", -1, "" },
		{ "Y===", -1, "" },
		{ "=YWJ", -1, "" },
		{ "YQ==YWJj", -1, "" },
		{ "YR==", -1, "" },	/* non-zero bits under the padding */
		{ "YW J", -1, "" },
		{ "YW\nJ", -1, "" },
		{ "YWJ*", -1, "" },
	};
	unsigned char	out[64];
	size_t		i, len;
	char		name[100];
	int		rc;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		rc = base64_decode(t[i].in, strlen(t[i].in), out, sizeof(out), &len);
		snprintf(name, sizeof(name), "base64 case %zu: %s", i, t[i].rc ? "refused" : "decoded");
		if (t[i].rc == 0)
			ok(rc == 0 && len == (i == 4 ? 13 : strlen(t[i].out)) &&
			    memcmp(out, t[i].out, len) == 0, name);
		else
			is_int(rc, -1, name);
	}
	is_int(base64_decode("YWJj", 4, out, 2, &len), -1, "base64: output bound respected");
	for (i = 0; i <= 40; i++) {
		unsigned char	 in[40];
		char		*enc;
		size_t		 k;

		for (k = 0; k < i; k++)
			in[k] = (unsigned char)(k * 37 + 11);
		enc = base64_encode(in, i);
		snprintf(name, sizeof(name), "base64: %zu bytes encode to %zu characters and back",
		    i, (i + 2) / 3 * 4);
		ok(strlen(enc) == (i + 2) / 3 * 4 &&
		    base64_decode(enc, strlen(enc), out, sizeof(out), &len) == 0 &&
		    len == i && memcmp(out, in, i) == 0, name);
		free(enc);
	}
	{
		char *enc = base64_encode("abc\0\xff", 5);

		is_str(enc, "YWJjAP8=", "base64: binary bytes, one pad");
		free(enc);
	}
}

int
main(void)
{
	test_base64();
	test_cidr();
	test_endpoint();
	test_strutil();
	return tap_done();
}
