#!/bin/sh
# lab-pki.sh makes the certificates it promises, checked with openssl verify.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_need openssl
lab_init
lab_pki || bail "lab-pki.sh failed"
P=$LAB_PKI
v() { # CERT [verify options]: the last line of openssl verify
	_c=$1
	shift
	openssl verify -CAfile "$P/ca-bundle.pem" -untrusted "$P/inter.pem" "$@" "$_c" 2>&1
}

cmp -s "$P/ca-bundle.pem" "$P/root.pem"
ok $? "ca-bundle.pem is the root alone"
is "$(grep -c 'BEGIN CERTIFICATE' "$P/ca-bundle.pem")" 1 "one certificate in the bundle"
v "$P/valid.crt" -verify_hostname mx1.d.test | grep -q ': OK$'
ok $? "valid: chains to the root, SAN mx1.d.test"
v "$P/valid.crt" -verify_hostname mta-sts.d.test | grep -q ': OK$'
ok $? "valid: SAN mta-sts.d.test too"
v "$P/web.crt" -verify_hostname mta-sts.d.test | grep -q ': OK$'
ok $? "web: mta-sts.d.test"
v "$P/wildcard.crt" -verify_hostname mx9.d.test | grep -q ': OK$'
ok $? "wildcard: *.d.test matches mx9.d.test"
v "$P/expired.crt" | grep -q 'certificate has expired'
ok $? "expired: expired"
v "$P/notyet.crt" | grep -q 'certificate is not yet valid'
ok $? "notyet: not yet valid"
v "$P/selfsigned.crt" | grep -q 'self-signed certificate'
ok $? "selfsigned: not trusted"
v "$P/wrongname.crt" -verify_hostname mx1.d.test | grep -q 'hostname mismatch'
ok $? "wrongname: hostname mismatch for mx1.d.test"
openssl x509 -in "$P/cnonly.crt" -noout -ext subjectAltName 2>&1 | grep -q 'DNS:'
ok $((1 - $?)) "cnonly: no subjectAltName"
! openssl verify -CAfile "$P/ca-bundle.pem" "$P/valid.crt" >/dev/null 2>&1
ok $? "the leaf alone (no intermediate) does not verify"
is "$(grep -c 'BEGIN CERTIFICATE' "$P/valid.pem")" 2 "NAME.pem is the leaf and the intermediate"
openssl x509 -in "$P/valid.pem" -noout -checkend 0 >/dev/null && openssl pkey -in "$P/valid.key" -noout
ok $? "leaf and key readable"
sh "$LAB_SRC/lab-pki.sh" "$P" leaf extra valid mx.e.test mx.e.test mx2.e.test >/dev/null 2>&1 &&
    v "$P/extra.crt" -verify_hostname mx2.e.test | grep -q ': OK$'
ok $? "leaf subcommand: one more certificate from the same CA"
sh "$LAB_SRC/lab-pki.sh" -h | grep -q 'lab-pki.sh DIR'
ok $? "-h prints the usage"
done_testing
