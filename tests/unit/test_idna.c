/* test_idna.c: recipient domains in A-label form (RFC 5891, RFC 8461 4.1). */
#include <stdio.h>
#include <string.h>

#include "common/idna.h"
#include "tests/tap.h"

static void
test_vectors(void)
{
	static const struct { const char *in, *want, *name; } t[] = {
		{ "d.test", "d.test", "ASCII passes through" },
		{ "Mail.D.TEST", "mail.d.test", "ASCII goes to lower case" },
		{ "d.test.", "d.test.", "a final dot is kept" },
		{ "under_score.d.test", "under_score.d.test",
		    "an ASCII name libidn2 would refuse (STD3) passes through" },
		{ "r3--sn.d.test", "r3--sn.d.test",
		    "an ASCII name with -- in positions 3-4 passes through" },
		{ "b\xc3\xbc" "cher.example", "xn--bcher-kva.example",
		    "RFC 5891: bücher.example is xn--bcher-kva.example" },
		{ "B\xc3\x9c" "CHER.Example", "xn--bcher-kva.example",
		    "UTS 46: BÜCHER.Example maps to lower case" },
		{ "bu\xcc\x88" "cher.example", "xn--bcher-kva.example",
		    "NFC: a decomposed u + diaeresis is the same name" },
		{ "m\xc3\xbc" "nchen.de", "xn--mnchen-3ya.de", "münchen.de" },
		{ "fa\xc3\x9f.de", "xn--fa-hia.de",
		    "non-transitional: faß.de keeps its sharp s" },
		{ "\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88",
		    "xn--r8jz45g.xn--zckzah", "every label converted (例え.テスト)" },
		{ "b\xc3\xbc" "cher\xe3\x80\x82" "example", "xn--bcher-kva.example",
		    "UTS 46: the ideographic full stop separates labels" },
		{ "xn--bcher-kva.example", "xn--bcher-kva.example",
		    "an A-label passes unchanged" },
		{ "XN--BCHER-KVA.Example", "xn--bcher-kva.example",
		    "an upper case A-label goes to lower case" },
		{ "m\xc3\xbc" "nchen.xn--bcher-kva.example",
		    "xn--mnchen-3ya.xn--bcher-kva.example", "U-label and A-label mixed" },
	};
	char		 out[256];
	const char	*err;
	size_t		 i;
	int		 rc;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		err = "unset";
		rc = idna_to_alabel(t[i].in, out, sizeof(out), &err);
		is_int(rc, 0, t[i].name);
		is_str(rc == 0 ? out : err, t[i].want, t[i].name);
		ok(err == NULL, "no error text on success");
	}
}

static void
test_invalid(void)
{
	static const struct { const char *in, *name; } t[] = {
		{ "\xe2\x98\x83.example", "IDNA2008: a snowman label is disallowed" },
		{ "a\xe2\x98\x83" "b.example", "a disallowed code point inside a label" },
		{ "XN--B\xc3\x9c" "CHER.example", "xn-- with non-ASCII" },
		{ "b\xff" "cher.example", "bytes that are not UTF-8" },
		{ "b\xc3\xbc" "cher@x.example", "an @ in a U-label name" },
		{ "", "an empty name" },
		{ ".", "the root alone" },
		{ "\xc2\xad", "UTS 46: a soft hyphen alone maps to an empty name" },
		{ "\xc2\xad.", "... also with a final dot" },
	};
	char		 out[256];
	const char	*err;
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		err = NULL;
		strcpy(out, "junk");
		is_int(idna_to_alabel(t[i].in, out, sizeof(out), &err), -1, t[i].name);
		ok(err != NULL && err[0] != '\0', "the reason is given");
		is_str(out, "", "nothing is left in out");
		if (err != NULL)
			diag("%s: %s", t[i].name, err);
	}
}

static void
test_lengths(void)
{
	char		 in[600], out[256], small[16];
	const char	*err;
	size_t		 i;

	memset(in, 'a', 64);
	strcpy(in + 64, ".example");
	is_int(idna_to_alabel(in, out, sizeof(out), &err), -1,
	    "RFC 1035: an ASCII label of 64 octets is refused");
	in[63] = '.';
	is_int(idna_to_alabel(in + 1, out, sizeof(out), &err), 0,
	    "RFC 1035: an ASCII label of 63 octets is fine");

	/* 58 a's and a u-umlaut: the A-label is longer than 63 octets */
	memset(in, 'a', 58);
	strcpy(in + 58, "\xc3\xbc.example");
	is_int(idna_to_alabel(in, out, sizeof(out), &err), -1,
	    "RFC 5890: a U-label whose A-label exceeds 63 octets is refused");
	ok(err != NULL, "with a reason");
	if (err != NULL)
		diag("%s", err);

	/* 60 labels of "\xc3\xbc" (xn--tda): 8 * 60 - 1 = 479 characters */
	in[0] = '\0';
	for (i = 0; i < 60; i++)
		strcat(in, i == 0 ? "\xc3\xbc" : ".\xc3\xbc");
	is_int(idna_to_alabel(in, out, sizeof(out), &err), -1,
	    "a name whose A-label form exceeds 253 characters is refused");

	/* 32 labels of "\xc3\xbc": 255 characters, 2 over */
	in[0] = '\0';
	for (i = 0; i < 32; i++)
		strcat(in, i == 0 ? "\xc3\xbc" : ".\xc3\xbc");
	is_int(idna_to_alabel(in, out, sizeof(out), &err), -1,
	    "an A-label form of 255 characters is refused");
	in[strlen(in) - 3] = '\0';	/* 31 labels: 247 characters */
	is_int(idna_to_alabel(in, out, sizeof(out), &err), 0,
	    "an A-label form of 247 characters is fine");
	is_int(strlen(out), 247, "... and complete");

	is_int(idna_to_alabel("b\xc3\xbc" "cher.example", small, sizeof(small), &err), -1,
	    "a result that does not fit the buffer is refused");
	is_str(small, "", "... and nothing half is left");
	is_int(idna_to_alabel("a-long-ascii-name.test", small, sizeof(small), &err), -1,
	    "an ASCII name that does not fit the buffer is refused");
	is_int(idna_to_alabel("d.test", small, 0, &err), -1, "a zero-length buffer");
	is_int(idna_to_alabel("D.test", small, sizeof(small), NULL), 0,
	    "err may be NULL");
}

/* ASCII A-labels are lowercased, not checked: DNS decides (RFC 5891 5.3) */
static void
test_ascii_alabels(void)
{
	static const struct { const char *in, *want, *name; } t[] = {
		{ "xn--ls8h.la", "xn--ls8h.la",
		    "an IDNA2003 registration IDNA2008 disallows is still mail's" },
		{ "XN--N3H.net", "xn--n3h.net", "... lowercased" },
		{ "xn--garbage.example", "xn--garbage.example",
		    "an A-label that does not decode: left to DNS (NXDOMAIN)" },
		{ "xn--.example", "xn--.example", "\"xn--\" alone: left to DNS" },
	};
	char		 out[256];
	const char	*err;
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		err = NULL;
		if (idna_to_alabel(t[i].in, out, sizeof(out), &err) == -1)
			snprintf(out, sizeof(out), "(refused: %s)", err != NULL ? err : "?");
		is_str(out, t[i].want, t[i].name);
	}
}

static void
test_needs_library(void)
{
	is_int(idna_needs_library("mail.d.test"), 0, "plain ASCII: no library call");
	is_int(idna_needs_library("axn--b.test"), 0, "xn-- inside a label is not an A-label");
	is_int(idna_needs_library("a.Xn--b.test"), 0,
	    "RFC 5891 5.3: an ASCII A-label is not checked by the library");
	is_int(idna_needs_library("xn--b"), 0, "... nor first");
	is_int(idna_needs_library("b\xc3\xbc.test"), 1, "non-ASCII");
}

int
main(void)
{
	test_vectors();
	test_ascii_alabels();
	test_invalid();
	test_lengths();
	test_needs_library();
	return tap_done();
}
