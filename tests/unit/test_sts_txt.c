/* test_sts_txt.c: the _mta-sts TXT record parser (RFC 8461 3.1; S3-S5). */
#include <string.h>

#include "policy/sts_txt.h"
#include "tests/tap.h"

#define MAXSTR	4
#define MAXREC	3

/* A record is up to MAXSTR strings; NULL ends the list. */
struct rec {
	const char	*s[MAXSTR];
};

static const struct {
	const char		*name;
	struct rec		 r[MAXREC];	/* records; r[i].s[0] == NULL ends */
	enum sts_txt_status	 want;
	const char		*id;
} cases[] = {
	{ "S5: plain record", { { { "v=STSv1; id=20160831085700Z;" } } },
	    STS_TXT_OK, "20160831085700Z" },
	{ "S5: no white space", { { { "v=STSv1;id=abc" } } }, STS_TXT_OK, "abc" },
	{ "S5: no trailing ';'", { { { "v=STSv1; id=abc" } } }, STS_TXT_OK, "abc" },
	{ "S5: trailing ';' and space", { { { "v=STSv1; id=abc; " } } },
	    STS_TXT_OK, "abc" },
	{ "S5: white space around '=' and ';'",
	    { { { "v = STSv1 ; id = abc ; " } } }, STS_TXT_OK, "abc" },
	{ "S5: tabs are WSP", { { { "v=STSv1\t;\tid=abc" } } }, STS_TXT_OK, "abc" },
	{ "S5: unknown field after id ignored",
	    { { { "v=STSv1; id=abc; foo=bar" } } }, STS_TXT_OK, "abc" },
	{ "S5: unknown field before id ignored",
	    { { { "v=STSv1; x_y-z.w=1:2<>; id=abc" } } }, STS_TXT_OK, "abc" },
	{ "S5: id of 32 characters", { { { "v=STSv1; id=0123456789abcdefABCDEF0123456789" } } },
	    STS_TXT_OK, "0123456789abcdefABCDEF0123456789" },
	{ "S5: id of 33 characters is malformed",
	    { { { "v=STSv1; id=0123456789abcdefABCDEF0123456789x" } } },
	    STS_TXT_MALFORMED, "" },
	{ "S5: empty id is malformed", { { { "v=STSv1; id=;" } } }, STS_TXT_MALFORMED, "" },
	{ "S5: empty id at end is malformed", { { { "v=STSv1; id=" } } },
	    STS_TXT_MALFORMED, "" },
	{ "S5: no id field is malformed", { { { "v=STSv1;" } } }, STS_TXT_MALFORMED, "" },
	{ "S5: only unknown fields is malformed", { { { "v=STSv1; a=b" } } },
	    STS_TXT_MALFORMED, "" },
	{ "S5: id with '-' is malformed", { { { "v=STSv1; id=abc-def" } } },
	    STS_TXT_MALFORMED, "" },
	{ "S5: trailing white space without ';' is malformed",
	    { { { "v=STSv1; id=abc " } } }, STS_TXT_MALFORMED, "" },
	{ "S5: two fields without ';' is malformed",
	    { { { "v=STSv1; id=abc foo=bar" } } }, STS_TXT_MALFORMED, "" },
	{ "S5: empty field ';;' is malformed", { { { "v=STSv1; id=abc;;" } } },
	    STS_TXT_MALFORMED, "" },
	{ "S5: extension value with '=' is malformed",
	    { { { "v=STSv1; id=abc; foo=a=b" } } }, STS_TXT_MALFORMED, "" },
	{ "S5: empty extension value is malformed",
	    { { { "v=STSv1; id=abc; foo=" } } }, STS_TXT_MALFORMED, "" },
	{ "S5: extension name starting with '_' is malformed",
	    { { { "v=STSv1; id=abc; _x=1" } } }, STS_TXT_MALFORMED, "" },
	{ "S5: field names are case-sensitive: ID is not id",
	    { { { "v=STSv1; ID=abc" } } }, STS_TXT_MALFORMED, "" },
	{ "S5: repeated id: the first wins", { { { "v=STSv1; id=first; id=second" } } },
	    STS_TXT_OK, "first" },
	{ "S5: NUL inside the record is malformed",
	    { { { "v=STSv1; id=a\0b" } } }, STS_TXT_MALFORMED, "" },
	{ "S4: no record at all", { { { NULL } } }, STS_TXT_NONE, "" },
	{ "S4: v=STSv1 without ';' is ignored", { { { "v=STSv1" } } }, STS_TXT_NONE, "" },
	{ "S4: v=STSv10 is ignored", { { { "v=STSv10; id=abc" } } }, STS_TXT_NONE, "" },
	{ "S4: version is case-sensitive", { { { "V=STSv1; id=abc" } } }, STS_TXT_NONE, "" },
	{ "S4: version is case-sensitive (value)", { { { "v=stsv1; id=abc" } } },
	    STS_TXT_NONE, "" },
	{ "S4: leading space is not v=STSv1;", { { { " v=STSv1; id=abc" } } },
	    STS_TXT_NONE, "" },
	{ "S4: missing ';' after version is not a candidate",
	    { { { "v=STSv1 id=abc" } } }, STS_TXT_NONE, "" },
	{ "S4: only other records", { { { "v=spf1 -all" } }, { { "google-site-verification=x" } } },
	    STS_TXT_NONE, "" },
	{ "S4: several TXT records, one STSv1",
	    { { { "v=spf1 -all" } }, { { "v=STSv1; id=one" } }, { { "foo" } } }, STS_TXT_OK, "one" },
	{ "S4: two STSv1 records: no policy",
	    { { { "v=STSv1; id=one" } }, { { "v=STSv1; id=two" } } }, STS_TXT_MULTIPLE, "" },
	{ "S4: two STSv1 records, even if identical",
	    { { { "v=STSv1; id=one" } }, { { "v=STSv1; id=one" } } }, STS_TXT_MULTIPLE, "" },
	{ "S4: two candidates, one malformed, still two",
	    { { { "v=STSv1; id=one" } }, { { "v=STSv1; id=" } } }, STS_TXT_MULTIPLE, "" },
	{ "S4: STSv1 record and a v=STSv1 without ';'",
	    { { { "v=STSv1" } }, { { "v=STSv1; id=ok" } } }, STS_TXT_OK, "ok" },
	{ "S3: strings joined with nothing",
	    { { { "v=STSv1; id=", "abc123" } } }, STS_TXT_OK, "abc123" },
	{ "S3: split inside the version",
	    { { { "v=STS", "v1;", " id=x" } } }, STS_TXT_OK, "x" },
	{ "S3: empty strings in between",
	    { { { "", "v=STSv1;", "", " id=x" } } }, STS_TXT_OK, "x" },
	{ "S3: split inside the id",
	    { { { "v=STSv1; id=0123456789abcdef", "0123456789abcdef" } } },
	    STS_TXT_OK, "0123456789abcdef0123456789abcdef" },
	{ "S3: id of 33 over two strings is malformed",
	    { { { "v=STSv1; id=0123456789abcdef", "0123456789abcdefX" } } },
	    STS_TXT_MALFORMED, "" },
	{ "S3: trailing space in a last string is malformed",
	    { { { "v=STSv1; id=abc", " " } } }, STS_TXT_MALFORMED, "" },
	{ "S3: strings are not separated by a space",
	    { { { "v=STSv1; id=abc", "def" } } }, STS_TXT_OK, "abcdef" },
};

static void
test_table(void)
{
	struct sts_txt_string	strs[MAXREC][MAXSTR];
	struct sts_txt_record	recs[MAXREC];
	struct sts_txt_result	res;
	size_t			i, s, nrec;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (nrec = 0; nrec < MAXREC && cases[i].r[nrec].s[0] != NULL; nrec++) {
			for (s = 0; s < MAXSTR && cases[i].r[nrec].s[s] != NULL; s++) {
				strs[nrec][s].data = cases[i].r[nrec].s[s];
				strs[nrec][s].len = strlen(cases[i].r[nrec].s[s]);
			}
			recs[nrec].strings = strs[nrec];
			recs[nrec].nstrings = s;
		}
		/* the NUL case: count the bytes after the NUL too */
		if (strstr(cases[i].name, "NUL") != NULL)
			strs[0][0].len = sizeof("v=STSv1; id=a\0b") - 1;
		sts_txt_parse(recs, nrec, &res);
		is_str(sts_txt_strstatus(res.status), sts_txt_strstatus(cases[i].want),
		    cases[i].name);
		is_str(res.id, cases[i].id, cases[i].name);
		if (res.status != STS_TXT_OK)
			ok(res.reason[0] != '\0', "a reason is given when not OK");
	}
}

static void
test_single(void)
{
	char	id[STS_TXT_ID_MAX + 1], reason[160];

	ok(sts_txt_is_candidate("v=STSv1;", 8), "S4: v=STSv1; is a candidate");
	ok(sts_txt_is_candidate("v =\tSTSv1 ;x", 12), "S4: WSP variants are candidates");
	ok(!sts_txt_is_candidate("v=STSv1", 7), "S4: v=STSv1 alone is not");
	ok(!sts_txt_is_candidate("", 0), "S4: empty is not");
	ok(sts_txt_parse_record("v=STSv1; id=abc", 15, id, reason, sizeof(reason)) == 0,
	    "joined record parses");
	is_str(id, "abc", "joined record id");
	ok(sts_txt_parse_record("v=STSv1; id=abc;;", 17, id, reason, sizeof(reason)) == -1,
	    "S5: ';;' refused");
	ok(strstr(reason, "offset 16") != NULL, "reason gives the offset");
	diag("%s", reason);
}

int
main(void)
{
	test_table();
	test_single();
	return tap_done();
}
