/*
 * test_dns_zone.c: lab-dns's answers, table by table, from query bytes to
 * reply bytes; malformed and random queries must be bounded (run under the
 * sanitizer build to make that mean something).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/tap.h"
#include "tests/lab/dns_zone.h"

static const char zone_text[] =
    "$TTL 60\n"
    "d.test MX 10 mx1.d.test\n"
    "d.test MX 20 mx2.d.test\n"
    "null.test MX 0 .\n"
    "mx1.d.test A 127.0.0.2\n"
    "mx1.d.test AAAA ::1\n"
    "_mta-sts.d.test TXT \"v=STSv1; \" \"id=1\"\n"
    "www.d.test CNAME mx1.d.test\n"
    "loop1.test CNAME loop2.test\n"
    "loop2.test CNAME loop1.test\n"
    "fail.test FAULT servfail\n"
    "slow.test FAULT timeout\n"
    "cut.test FAULT truncate\n"
    "cut.test A 127.0.0.3\n"
    "no.test FAULT refused\n"
    "big.test TXT \"%s\" \"%s\" \"%s\" \"%s\"\n";

struct reply {
	uint8_t		b[DNS_TCP_MAX];
	size_t		len;
	struct dns_info	info;
};

static char *
write_file(const char *text)
{
	char	*path;
	FILE	*fp;
	int	 fd;

	if (asprintf(&path, "%s/test_dns_zone.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") :
	    "/tmp") == -1 || (fd = mkstemp(path)) == -1 || (fp = fdopen(fd, "w")) == NULL) {
		printf("Bail out! cannot make a temporary file\n");
		exit(1);
	}
	fputs(text, fp);
	fclose(fp);
	return path;
}

/* A query for name/type, id 0x1234, RD set; EDNS with size edns if not 0. */
static size_t
query(uint8_t *q, const char *name, uint16_t type, uint16_t edns)
{
	size_t		 n = 12, l;
	const char	*p = name, *dot;

	memset(q, 0, 12);
	q[0] = 0x12;
	q[1] = 0x34;
	q[2] = 0x01;
	q[5] = 1;
	while (*p != '\0') {
		dot = strchr(p, '.');
		l = dot != NULL ? (size_t)(dot - p) : strlen(p);
		q[n++] = (uint8_t)l;
		memcpy(q + n, p, l);
		n += l;
		p += l + (dot != NULL);
	}
	q[n++] = 0;
	q[n++] = (uint8_t)(type >> 8);
	q[n++] = (uint8_t)type;
	q[n++] = 0;
	q[n++] = 1;
	if (edns != 0) {
		q[11] = 1;
		q[n++] = 0;
		q[n++] = 0;
		q[n++] = 41;
		q[n++] = (uint8_t)(edns >> 8);
		q[n++] = (uint8_t)edns;
		memset(q + n, 0, 6);
		n += 6;
	}
	return n;
}

static void
ask(const struct dns_zone *z, const char *name, uint16_t type, uint16_t edns, int tcp,
    struct reply *r)
{
	uint8_t	q[512];
	size_t	n = query(q, name, type, edns);

	r->len = dns_zone_answer(z, q, n, tcp, r->b, sizeof(r->b), &r->info);
}

#define RCODE(r)	((r)->b[3] & 0x0f)
#define TC(r)		(((r)->b[2] & 0x02) != 0)
#define ANCOUNT(r)	((r)->b[6] << 8 | (r)->b[7])

static void
test_answers(const struct dns_zone *z)
{
	struct reply	*r = malloc(sizeof(*r));

	ask(z, "d.test", 15, 0, 0, r);
	ok(r->len > 12 && r->b[0] == 0x12 && r->b[1] == 0x34, "reply carries the query id");
	ok((r->b[2] & 0x80) && (r->b[2] & 0x04) && (r->b[2] & 0x01),
	    "QR, AA set and RD copied");
	is_int(RCODE(r), 0, "MX d.test: NOERROR");
	is_int(ANCOUNT(r), 2, "MX d.test: two answers");
	ask(z, "D.TEST", 15, 0, 0, r);
	is_int(ANCOUNT(r), 2, "names compare without case");
	ask(z, "null.test", 15, 0, 0, r);
	is_int(ANCOUNT(r), 1, "null MX answers one record");
	ok(r->len >= 3 && memcmp(r->b + r->len - 3, "\0\0\0", 3) == 0,
	    "null MX: preference 0, root name");
	ask(z, "nope.test", 1, 0, 0, r);
	is_int(RCODE(r), 3, "unknown name: NXDOMAIN");
	ask(z, "mx1.d.test", 16, 0, 0, r);
	ok(RCODE(r) == 0 && ANCOUNT(r) == 0, "known name, no TXT: NODATA");
	ask(z, "www.d.test", 28, 0, 0, r);
	is_int(ANCOUNT(r), 2, "CNAME then the target's AAAA");
	ask(z, "loop1.test", 1, 0, 0, r);
	is_int(RCODE(r), 2, "CNAME loop: SERVFAIL");
	ask(z, "_mta-sts.d.test", 16, 0, 0, r);
	ok(r->len > 20 && memmem(r->b, r->len, "\x09v=STSv1; \x04id=1", 15) != NULL,
	    "TXT strings kept apart on the wire");
	ask(z, "fail.test", 1, 0, 0, r);
	is_int(RCODE(r), 2, "fault servfail");
	is_str(r->info.fault, "servfail", "info names the fault");
	ask(z, "no.test", 1, 0, 0, r);
	is_int(RCODE(r), 5, "fault refused");
	ask(z, "slow.test", 1, 0, 0, r);
	is_int(r->len, 0, "fault timeout: nothing to send");
	ask(z, "cut.test", 1, 0, 0, r);
	ok(TC(r) && ANCOUNT(r) == 0, "fault truncate over UDP: TC, no answer");
	ask(z, "cut.test", 1, 0, 1, r);
	ok(!TC(r) && ANCOUNT(r) == 1, "fault truncate over TCP: the answer");
	ask(z, "big.test", 16, 0, 0, r);
	ok(TC(r) && r->len <= 512, "800-byte TXT over UDP without EDNS: TC within 512");
	ask(z, "big.test", 16, 4096, 0, r);
	ok(!TC(r) && ANCOUNT(r) == 1 && r->len > 512, "with EDNS 4096: the full answer");
	ask(z, "big.test", 16, 0, 1, r);
	ok(!TC(r) && ANCOUNT(r) == 1, "over TCP: the full answer");
	free(r);
}

static void
test_malformed(const struct dns_zone *z)
{
	struct reply	*r = malloc(sizeof(*r));
	uint8_t		 q[600];
	size_t		 n;

	n = query(q, "d.test", 15, 0);
	r->len = dns_zone_answer(z, q, 11, 0, r->b, sizeof(r->b), &r->info);
	is_int(r->len, 0, "shorter than a header: ignored");
	q[2] |= 0x80;
	r->len = dns_zone_answer(z, q, n, 0, r->b, sizeof(r->b), &r->info);
	is_int(r->len, 0, "a response (QR set): never answered");
	n = query(q, "d.test", 15, 0);
	q[5] = 2;
	r->len = dns_zone_answer(z, q, n, 0, r->b, sizeof(r->b), &r->info);
	ok(r->len == 12 && RCODE(r) == 1, "two questions: FORMERR");
	n = query(q, "d.test", 15, 0);
	q[2] = 0x10;		/* opcode 2 */
	r->len = dns_zone_answer(z, q, n, 0, r->b, sizeof(r->b), &r->info);
	ok(r->len == 12 && RCODE(r) == 4, "opcode STATUS: NOTIMP");
	n = query(q, "d.test", 15, 0);
	q[12] = 0xc0;
	r->len = dns_zone_answer(z, q, n, 0, r->b, sizeof(r->b), &r->info);
	is_int(RCODE(r), 1, "compression pointer in the question: FORMERR");
	n = query(q, "d.test", 15, 0);
	r->len = dns_zone_answer(z, q, 16, 0, r->b, sizeof(r->b), &r->info);
	is_int(RCODE(r), 1, "name running past the end: FORMERR");
	r->len = dns_zone_answer(z, q, n - 3, 0, r->b, sizeof(r->b), &r->info);
	is_int(RCODE(r), 1, "question without its class: FORMERR");
	memset(q, 0, sizeof(q));
	q[5] = 1;
	for (n = 12; n < 12 + 5 * 60; n += 60) {
		q[n] = 59;
		memset(q + n + 1, 'a', 59);
	}
	q[n++] = 0;
	n += 4;
	r->len = dns_zone_answer(z, q, n, 0, r->b, sizeof(r->b), &r->info);
	is_int(RCODE(r), 1, "name over 255 bytes: FORMERR");
	free(r);
}

/* Random mutations of good queries: bounded output, never a crash. */
static void
test_random(const struct dns_zone *z)
{
	static const char *const names[] = { "d.test", "www.d.test", "big.test", "cut.test" };
	struct reply	*r = malloc(sizeof(*r));
	uint8_t		 q[600];
	size_t		 n, k, limit;
	uint32_t	 seed = 12345;
	int		 i, bad = 0;

	for (i = 0; i < 20000; i++) {
		seed = seed * 1103515245 + 12345;
		n = query(q, names[(seed >> 8) % 4], (uint16_t)(seed >> 16) % 40, seed & 1 ? 1232 : 0);
		for (k = 0; k < 1 + (seed >> 20) % 6; k++) {
			seed = seed * 1103515245 + 12345;
			q[(seed >> 8) % n] = (uint8_t)(seed >> 16);
		}
		seed = seed * 1103515245 + 12345;
		n = (seed >> 8) % 4 == 0 ? (seed >> 12) % (n + 1) : n;
		limit = i % 3 == 0 ? 64 : sizeof(r->b);
		r->len = dns_zone_answer(z, q, n, (int)(seed & 1), r->b, limit, &r->info);
		if (r->len > limit || (r->len > 0 && (r->b[0] != q[0] || r->b[1] != q[1])))
			bad++;
	}
	is_int(bad, 0, "20000 mutated queries: answers bounded and carrying the id");
	free(r);
}

static void
test_zone_errors(void)
{
	static const char *const bad[] = {
		"a.test A 300.0.0.1\n",
		"a.test MX mx.a.test\n",
		"a.test MX 70000 mx.a.test\n",
		"a..test A 127.0.0.1\n",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test A 127.0.0.1\n",
		"a.test SPF \"v=spf1\"\n",
		"a.test FAULT sometimes\n",
		"a.test TXT \"unterminated\n",
		"a.test CNAME\n",
		"$TTL -1\n",
	};
	struct dns_zone	*z;
	char		 err[1024], *path, want[64];
	size_t		 i;
	int		 good = 0;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		path = write_file(bad[i]);
		snprintf(want, sizeof(want), "%s:1: ", path);
		z = dns_zone_load(path, err, sizeof(err));
		if (z == NULL && strncmp(err, want, strlen(want)) == 0)
			good++;
		else
			diag("accepted or wrong message: %s -> %s", bad[i], z == NULL ? err : "loaded");
		dns_zone_free(z);
		unlink(path);
		free(path);
	}
	is_int(good, (int)(sizeof(bad) / sizeof(bad[0])), "every bad zone line refused with file:line");
}

int
main(void)
{
	struct dns_zone	*z;
	char		 seg[201], *text, *path, err[1024];

	memset(seg, 'x', 200);
	seg[200] = '\0';
	if (asprintf(&text, zone_text, seg, seg, seg, seg) == -1)
		return 1;
	path = write_file(text);
	z = dns_zone_load(path, err, sizeof(err));
	ok(z != NULL, "the test zone loads");
	if (z == NULL) {
		diag("%s", err);
		return tap_done();
	}
	is_int(dns_zone_count(z), 15, "15 entries");
	test_answers(z);
	test_malformed(z);
	test_random(z);
	test_zone_errors();
	dns_zone_free(z);
	unlink(path);
	free(path);
	free(text);
	return tap_done();
}
