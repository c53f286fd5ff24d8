/* test_sts_policy.c: the policy text parser (RFC 8461 3.2; S15-S17, Ours). */
#include <string.h>

#include "common/xmalloc.h"
#include "policy/sts_policy.h"
#include "tests/tap.h"

#define BASE	"version: STSv1\nmode: enforce\nmax_age: 86400\n"

static const struct {
	const char	*name;
	const char	*text;
	int		 ok;		/* 0 valid, -1 invalid */
	const char	*mode;		/* valid: the mode */
	long long	 max_age;	/* valid: capped max_age */
	const char	*mx;		/* valid: patterns joined by ',' */
	const char	*err;		/* invalid: exact error text (or NULL) */
} cases[] = {
	{ "S15: LF-only policy", BASE "mx: mail.d.test\n", 0, "enforce", 86400,
	    "mail.d.test", NULL },
	{ "S16: CRLF policy", "version: STSv1\r\nmode: testing\r\nmx: mail.d.test\r\n"
	    "max_age: 604800\r\n", 0, "testing", 604800, "mail.d.test", NULL },
	{ "S16: no final newline", "version: STSv1\nmode: enforce\nmx: a.d.test\n"
	    "max_age: 5", 0, "enforce", 5, "a.d.test", NULL },
	{ "S16: no final CRLF", "version: STSv1\r\nmode: enforce\r\nmax_age: 5\r\n"
	    "mx: a.d.test", 0, "enforce", 5, "a.d.test", NULL },
	{ "S16: mixed LF and CRLF", "version: STSv1\r\nmode: enforce\nmax_age: 5\r\n"
	    "mx: a.d.test\n", 0, "enforce", 5, "a.d.test", NULL },
	{ "S16: any order", "mx: a.d.test\nmax_age: 7\nmode: none\nversion: STSv1\n",
	    0, "none", 7, "a.d.test", NULL },
	{ "S16: trailing white space", "version: STSv1  \nmode: enforce\t\r\n"
	    "max_age: 9 \t \nmx: a.d.test \n", 0, "enforce", 9, "a.d.test", NULL },
	{ "S16: no space after ':'", "version:STSv1\nmode:enforce\nmax_age:1\nmx:a.d.test",
	    0, "enforce", 1, "a.d.test", NULL },
	{ "S16: tabs after ':'", "version:\tSTSv1\nmode: \tenforce\nmax_age:\t1\n"
	    "mx:\t a.d.test", 0, "enforce", 1, "a.d.test", NULL },
	{ "S16: unknown fields ignored", BASE "mx: a.d.test\nfoo: bar baz\n"
	    "x-y_z.1: \xc3\xa9t\xc3\xa9\n", 0, "enforce", 86400, "a.d.test", NULL },
	{ "S16: blank lines skipped (ours)", "\nversion: STSv1\n\n  \nmode: enforce\r\n"
	    "\r\nmax_age: 1\nmx: a.d.test\n\n", 0, "enforce", 1, "a.d.test", NULL },
	{ "S16: repeated mode: the first wins", "version: STSv1\nmode: testing\n"
	    "mode: enforce\nmax_age: 1\nmx: a.d.test\n", 0, "testing", 1, "a.d.test", NULL },
	{ "S16: repeated max_age: the first wins", BASE "max_age: 5\nmx: a.d.test\n",
	    0, "enforce", 86400, "a.d.test", NULL },
	{ "S16: a bad repeated field is ignored", BASE "version: STSv2\nmode: bogus\n"
	    "max_age: x\nmx: a.d.test\n", 0, "enforce", 86400, "a.d.test", NULL },
	{ "S15: several mx lines, wildcard kept", BASE "mx: mail.d.test\nmx: *.d.test\n"
	    "mx: backup.e.test\n", 0, "enforce", 86400, "mail.d.test,*.d.test,backup.e.test",
	    NULL },
	{ "S22: mx normalized (case, trailing dot)", BASE "mx: MAIL.D.Test.\n", 0,
	    "enforce", 86400, "mail.d.test", NULL },
	{ "S15: A-label mx accepted", BASE "mx: xn--bcher-kva.test\n", 0, "enforce",
	    86400, "xn--bcher-kva.test", NULL },
	{ "S15: mode none needs no mx", "version: STSv1\nmode: none\nmax_age: 1\n",
	    0, "none", 1, "", NULL },
	{ "S17: invalid mx among valid ones is skipped", BASE "mx: 192.0.2.1\n"
	    "mx: a.d.test\n", 0, "enforce", 86400, "a.d.test", NULL },
	{ "Ours: max_age 0 allowed", "version: STSv1\nmode: enforce\nmax_age: 0\n"
	    "mx: a.d.test\n", 0, "enforce", 0, "a.d.test", NULL },
	{ "Ours: max_age above the cap is capped", "version: STSv1\nmode: enforce\n"
	    "max_age: 9999999999\nmx: a.d.test\n", 0, "enforce", 31557600, "a.d.test", NULL },
	{ "Ours: max_age at the cap kept", "version: STSv1\nmode: enforce\n"
	    "max_age: 31557600\nmx: a.d.test\n", 0, "enforce", 31557600, "a.d.test", NULL },
	{ "S15: max_age with leading zeros", "version: STSv1\nmode: enforce\n"
	    "max_age: 0000000042\nmx: a.d.test\n", 0, "enforce", 42, "a.d.test", NULL },

	{ "S17: enforce with no mx line", "version: STSv1\nmode: enforce\n" "max_age: 1\n",
	    -1, NULL, 0, NULL, "mx: mode enforce needs at least one valid mx line (0 invalid ignored)" },
	{ "S15: unknown mode value", "version: STSv1\nmx: a.d.test\nmode: enfroce\n",
	    -1, NULL, 0, NULL, "line 3: mode: unknown value 'enfroce'" },
	{ "S15: mode is case-sensitive", "version: STSv1\nmode: ENFORCE\n", -1, NULL, 0,
	    NULL, "line 2: mode: unknown value 'ENFORCE'" },
	{ "S15: unknown version", "version: STSv2\n", -1, NULL, 0, NULL,
	    "line 1: version: unknown value 'STSv2'" },
	{ "S15: version missing", "mode: enforce\nmax_age: 1\nmx: a.d.test\n", -1, NULL,
	    0, NULL, "version: missing" },
	{ "S15: mode missing", "version: STSv1\nmax_age: 1\nmx: a.d.test\n", -1, NULL,
	    0, NULL, "mode: missing" },
	{ "S15: max_age missing", "version: STSv1\nmode: enforce\nmx: a.d.test\n", -1,
	    NULL, 0, NULL, "max_age: missing" },
	{ "S15: key names are case-sensitive", "version: STSv1\nMode: enforce\n"
	    "max_age: 1\nmx: a.d.test\n", -1, NULL, 0, NULL, "mode: missing" },
	{ "S15: max_age of 11 digits", "version: STSv1\nmode: enforce\n"
	    "max_age: 12345678901\n", -1, NULL, 0, NULL,
	    "line 3: max_age: must be 1-10 digits, not '12345678901'" },
	{ "S15: negative max_age", "version: STSv1\nmode: enforce\nmax_age: -1\n", -1,
	    NULL, 0, NULL, "line 3: max_age: must be 1-10 digits, not '-1'" },
	{ "S15: max_age with a unit", "version: STSv1\nmode: enforce\nmax_age: 1d\n", -1,
	    NULL, 0, NULL, "line 3: max_age: must be 1-10 digits, not '1d'" },
	{ "S17: enforce whose only mx is invalid", BASE "mx: 192.0.2.1\n", -1, NULL, 0,
	    NULL, "mx: mode enforce needs at least one valid mx line (1 invalid ignored)" },
	{ "S17: testing with no mx", "version: STSv1\nmode: testing\nmax_age: 1\n", -1,
	    NULL, 0, NULL, "mx: mode testing needs at least one valid mx line (0 invalid ignored)" },
	{ "S16: white space before ':'", "version : STSv1\n", -1, NULL, 0, NULL,
	    "line 1: version: expected ':' right after the key, got 'version : STSv1'" },
	{ "S16: leading white space", "version: STSv1\n mode: enforce\n", -1, NULL, 0,
	    NULL, "line 2: syntax: expected 'key: value', got ' mode: enforce'" },
	{ "S16: a line without ':'", "version: STSv1\nhello\n", -1, NULL, 0, NULL,
	    "line 2: hello: expected ':' right after the key, got 'hello'" },
	{ "S16: empty value", "version: STSv1\nmode:\n", -1, NULL, 0, NULL,
	    "line 2: mode: empty value" },
	{ "S16: bare CR is not a line end", "version: STSv1\rmode: enforce\n", -1, NULL,
	    0, NULL, "line 1: version: control character, bare CR or bad UTF-8 in value "
	    "'STSv1\\x0dmode: enforce'" },
	{ "S16: bad UTF-8 in an unknown field", BASE "mx: a.d.test\nfoo: \xff\n", -1,
	    NULL, 0, NULL, "line 5: foo: control character, bare CR or bad UTF-8 in value '\\xff'" },
	{ "S16: HTML is not a policy", "<html><body>Not here</body></html>\n", -1, NULL,
	    0, NULL, "line 1: syntax: expected 'key: value', got '<html><body>Not here</body></html>'" },
	{ "S16: empty body", "", -1, NULL, 0, NULL, "version: missing" },
	{ "S16: key longer than 32", "abcdefghijabcdefghijabcdefghijabc: x\n", -1, NULL,
	    0, NULL, "line 1: syntax: expected 'key: value', got "
	    "'abcdefghijabcdefghijabcdefghijabc: x'" },
};

static void
join_mx(const struct sts_policy *pol, char *buf, size_t len)
{
	size_t	i;

	buf[0] = '\0';
	for (i = 0; i < pol->nmx; i++) {
		if (i > 0)
			strncat(buf, ",", len - strlen(buf) - 1);
		strncat(buf, pol->mx[i], len - strlen(buf) - 1);
	}
}

static void
test_table(void)
{
	struct sts_policy	pol;
	char			err[256], mx[1024], name[256];
	size_t			i;
	int			r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = sts_policy_parse(cases[i].text, strlen(cases[i].text), &pol,
		    err, sizeof(err));
		snprintf(name, sizeof(name), "%s: %s", cases[i].name,
		    cases[i].ok == 0 ? "valid" : "invalid");
		is_int(r, cases[i].ok, name);
		if (r != 0)
			diag("error: %s", err);
		if (cases[i].ok == 0 && r == 0) {
			is_str(sts_mode_name(pol.mode), cases[i].mode, "  mode");
			is_int(pol.max_age, cases[i].max_age, "  max_age");
			join_mx(&pol, mx, sizeof(mx));
			is_str(mx, cases[i].mx, "  mx patterns");
		} else if (cases[i].ok == -1 && r == -1) {
			is_str(err, cases[i].err, "  error message");
			ok(pol.mx == NULL && pol.nmx == 0, "  nothing left allocated");
		}
		sts_policy_free(&pol);
	}
}

static void
test_mx_values(void)
{
	static const char *bad[] = {
		"192.0.2.1", "[192.0.2.1]", "2001:db8::1", "*", "*.", "a.*.d.test",
		"*d.test", "mail*.d.test", "*.*.d.test", "-a.d.test", "a-.d.test",
		"a..d.test", ".d.test", "b\xc3\xbc" "cher.test", "a_b.d.test", "mail.d.test..",
		"10.1", "",
	};
	struct sts_policy	pol;
	char			text[512], err[256], name[128];
	size_t			i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), BASE "mx: %s\nmx: ok.d.test\n", bad[i]);
		snprintf(name, sizeof(name), "S17: mx '%s' is skipped as invalid", bad[i]);
		ok(sts_policy_parse(text, strlen(text), &pol, err, sizeof(err)) == 0 &&
		    pol.nmx == 1 && pol.nmx_skipped == 1 &&
		    strcmp(pol.mx[0], "ok.d.test") == 0, name);
		if (i == 0)
			is_str(pol.warning, "line 4: mx: '192.0.2.1' ignored: looks like an "
			    "IP address", "S17: the skipped mx is reported as a warning");
		sts_policy_free(&pol);
	}
}

static void
test_bounds(void)
{
	struct sts_policy	 pol, copy;
	char			*text, err[256];
	size_t			 len, i;

	/* 64 KiB exactly: valid; one octet more: refused */
	text = xmalloc(STS_POLICY_MAX_BODY + 2);
	len = strlen(BASE "mx: a.d.test\n");
	memcpy(text, BASE "mx: a.d.test\n", len);
	memcpy(text + len, "pad: ", 5);
	memset(text + len + 5, 'x', STS_POLICY_MAX_BODY - len - 5);
	ok(sts_policy_parse(text, STS_POLICY_MAX_BODY, &pol, err, sizeof(err)) == 0,
	    "S10: a body of exactly 64 KiB is parsed");
	sts_policy_free(&pol);
	text[STS_POLICY_MAX_BODY] = 'x';
	ok(sts_policy_parse(text, STS_POLICY_MAX_BODY + 1, &pol, err, sizeof(err)) == -1,
	    "S10: a body over 64 KiB is refused");
	is_str(err, "body of 65537 octets exceeds 65536", "S10: the error says why");
	free(text);

	/* NUL in a value */
	ok(sts_policy_parse(BASE "mx: a.d\0.test\n", sizeof(BASE "mx: a.d\0.test\n") - 1,
	    &pol, err, sizeof(err)) == -1, "S16: NUL in a line is refused");

	/* 256 mx lines accepted, 257 refused */
	text = xmalloc(16 * 300 + 100);
	len = (size_t)snprintf(text, 100, BASE);
	for (i = 0; i < 256; i++)
		len += (size_t)sprintf(text + len, "mx: m%zu.d.test\n", i);
	ok(sts_policy_parse(text, len, &pol, err, sizeof(err)) == 0 && pol.nmx == 256,
	    "256 mx lines accepted");
	sts_policy_copy(&copy, &pol);
	ok(copy.nmx == 256 && strcmp(copy.mx[255], "m255.d.test") == 0 &&
	    copy.mx[0] != pol.mx[0], "sts_policy_copy copies deeply");
	ok(sts_policy_mx_match(&copy, "M17.D.TEST.") && !sts_policy_mx_match(&copy, "x.d.test"),
	    "S22: sts_policy_mx_match over all patterns");
	sts_policy_free(&copy);
	sts_policy_free(&pol);
	len += (size_t)sprintf(text + len, "mx: one-more.d.test\n");
	ok(sts_policy_parse(text, len, &pol, err, sizeof(err)) == -1, "257 mx lines refused");
	is_str(err, "line 260: mx: too many mx lines (limit 256)", "  error message");
	free(text);

	/* repeated field warning */
	ok(sts_policy_parse(BASE "mode: testing\nmx: a.d.test\n", strlen(BASE
	    "mode: testing\nmx: a.d.test\n"), &pol, err, sizeof(err)) == 0, "S16: repeat ok");
	is_str(pol.warning, "line 4: mode: 'testing' ignored: repeated field, the first wins",
	    "S16: the ignored repeat is reported");
	is_int(pol.max_age_published, 86400, "max_age as published");
	sts_policy_free(&pol);
	ok(sts_policy_parse("version: STSv1\nmode: none\nmax_age: 99999999\n", 44, &pol,
	    NULL, 0) == 0 && pol.max_age == 31557600 && pol.max_age_published == 99999999,
	    "Ours: capped max_age keeps the published value");
	sts_policy_free(&pol);
}

static void
test_modes(void)
{
	enum sts_mode	m;

	ok(sts_mode_parse("enforce", &m) == 0 && m == STS_MODE_ENFORCE, "mode parse enforce");
	ok(sts_mode_parse("testing", &m) == 0 && m == STS_MODE_TESTING, "mode parse testing");
	ok(sts_mode_parse("none", &m) == 0 && m == STS_MODE_NONE, "mode parse none");
	ok(sts_mode_parse("Enforce", &m) == -1, "mode parse is case-sensitive");
}

int
main(void)
{
	test_table();
	test_mx_values();
	test_bounds();
	test_modes();
	return tap_done();
}
