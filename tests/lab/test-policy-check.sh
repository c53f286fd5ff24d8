#!/bin/sh
# stsrelayctl policy check against the lab's DNS and HTTPS peers: every way a
# policy fetch can go right or wrong (RFC 8461 S3-S10, S15-S17 and "Ours"),
# each seen through the daemon's own DNS and CA configuration.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_have_relay || skip_all "stsrelayd is not built"
lab_init
lab_pki || bail "lab-pki.sh failed"
P=$LAB_PKI
WEB="ok charset big stall notfound redirect ctype none two split lf cap badmode nomatch gone"
NAMES=
for d in $WEB; do NAMES="$NAMES mta-sts.$d.test"; done
# shellcheck disable=SC2086
sh "$LAB_SRC/lab-pki.sh" "$P" leaf web-all valid mta-sts.ok.test $NAMES >/dev/null 2>&1 ||
    bail "cannot issue the policy hosts' certificate"
sh "$LAB_SRC/lab-pki.sh" "$P" leaf web-self selfsigned mta-sts.untrusted.test \
    mta-sts.untrusted.test >/dev/null 2>&1 || bail "cannot issue the self-signed certificate"

{
	for d in $WEB untrusted wrongname; do
		echo "_mta-sts.$d.test TXT \"v=STSv1; id=${d}1;\""
		echo "mta-sts.$d.test A 127.0.0.1"
		echo "$d.test MX 10 mx1.$d.test"
		echo "mx1.$d.test A 127.0.0.2"
	done
	echo "ok.test MX 20 mx2.elsewhere.test"
	echo "mx2.elsewhere.test A 127.0.0.3"
	echo "mx2.elsewhere.test AAAA ::1"
} | grep -v -e '^_mta-sts\.none\.' -e '^_mta-sts\.two\.' -e '^_mta-sts\.split\.' >"$LAB_DIR/zone"
cat >>"$LAB_DIR/zone" <<'EOF'
_mta-sts.none.test TXT "v=spf1 -all"
_mta-sts.two.test  TXT "v=STSv1; id=two1;"
_mta-sts.two.test  TXT "v=STSv1; id=two2;"
_mta-sts.two.test  TXT "something else"
_mta-sts.split.test TXT "v=STSv1; " "id=split" "1;"

EOF
lab_dns "$LAB_DIR/zone" || bail "lab-dns did not start"

for d in ok none two split untrusted wrongname ctype big; do
	printf 'version: STSv1\nmode: enforce\nmx: mx1.%s.test\nmax_age: 86400\n' "$d" >"$LAB_DIR/$d.txt"
done
printf 'version: STSv1\r\nmode: testing\r\nmx: *.charset.test\r\nmax_age: 604800\r\n' \
    >"$LAB_DIR/crlf.txt"
printf 'version: STSv1\nmode: enforce\nmx: mx1.lf.test\nmax_age: 3600' >"$LAB_DIR/lf.txt"
printf 'version: STSv1\nmode: enforce\nmx: mx1.cap.test\nmax_age: 9999999999\n' >"$LAB_DIR/cap.txt"
printf 'version: STSv1\nmax_age: 86400\nmode: enfroce\nmx: mx1.badmode.test\n' >"$LAB_DIR/bad.txt"
printf 'version: STSv1\nmode: enforce\nmx: mx9.nomatch.test\nmax_age: 86400\n' >"$LAB_DIR/nomatch.txt"
{
	echo "cert $P/web-all.pem $P/web-all.key"
	for d in ok none two split untrusted; do
		echo "host mta-sts.$d.test"
		echo "  body-file $LAB_DIR/$d.txt"
	done
	cat <<EOF
host mta-sts.untrusted.test
  cert $P/web-self.pem $P/web-self.key
host mta-sts.wrongname.test
  cert $P/wrongname.pem $P/wrongname.key
  body-file $LAB_DIR/wrongname.txt
host mta-sts.charset.test
  content-type "text/plain; charset=utf-8"
  body-file $LAB_DIR/crlf.txt
host mta-sts.ctype.test
  content-type text/html
  body-file $LAB_DIR/ctype.txt
host mta-sts.notfound.test
  status 404
  body-line not here
host mta-sts.redirect.test
  status 301
  location https://mta-sts.ok.test/.well-known/mta-sts.txt
host mta-sts.big.test
  body-file $LAB_DIR/big.txt
  oversize 70000
host mta-sts.stall.test
  action stall
host mta-sts.gone.test
  action close
host mta-sts.lf.test
  body-file $LAB_DIR/lf.txt
host mta-sts.cap.test
  body-file $LAB_DIR/cap.txt
host mta-sts.badmode.test
  body-file $LAB_DIR/bad.txt
host mta-sts.nomatch.test
  body-file $LAB_DIR/nomatch.txt
EOF
} >"$LAB_DIR/https.conf"
lab_https "$LAB_DIR/https.conf" || bail "lab-https did not start"
LAB_SINK_PORT=25
lab_relay -o policy_fetch_timeout=2s || bail "stsrelayd did not start (see $LAB_DIR/relay.out)"

CTL="$top_builddir/stsrelayctl"
SOCK=$LAB_DIR/relay.sock
# check DOMAIN: the human form in $OUT, the JSON in $JS, exit statuses RC, JRC
check() {
	OUT=$("$CTL" -s "$SOCK" policy check "$1" 2>&1)
	RC=$?
	JS=$("$CTL" -s "$SOCK" --json policy check "$1" 2>&1)
	JRC=$?
	[ -z "${VERBOSE_CHECK:-}" ] || printf '%s\n' "$OUT" | sed 's/^/# /'
}
has() { printf '%s\n' "$1" | grep -qF -- "$2"; }

check ok.test
is "$RC" 0 "valid enforce policy: exit 0"
is "$JRC" 0 "valid enforce policy: --json exits 0 too"
has "$JS" '"verdict":"valid"'
ok $? "valid: verdict valid in JSON"
has "$OUT" '[1] "v=STSv1; id=ok1;"' && has "$OUT" 'STSv1, id ok1' && has "$OUT" '=> policy id ok1'
ok $? "valid: the TXT record and the id chosen are shown"
has "$OUT" "GET https://mta-sts.ok.test:$LAB_HTTPS_PORT/.well-known/mta-sts.txt"
ok $? "valid: the fetch URL is shown, with the configured policy_port"
has "$OUT" 'HTTP 200, Content-Type text/plain, 60 bytes'
ok $? "valid: HTTP status, content type and size are shown"
has "$OUT" 'mode:    enforce' && has "$OUT" 'max_age: 86400 (1d)' && has "$OUT" 'mx:      mx1.ok.test'
ok $? "valid: the parsed policy is shown"
has "$OUT" 'mx1.ok.test' && has "$OUT" 'matches mx1.ok.test' &&
    has "$OUT" 'mx2.elsewhere.test' && has "$OUT" 'NOT named by the policy: never used (S27)'
ok $? "valid: MX hosts with which match the policy"
has "$OUT" '127.0.0.3 ::1'
ok $? "valid: MX host addresses (A and AAAA) are shown"
has "$OUT" 'after:  id ok1, enforce'
ok $? "valid: the cache after the check holds the policy"
has "$OUT" 'verdict: valid: valid policy id ok1: mode enforce, max_age 86400, 1 of 2 MX hosts match'
ok $? "valid: the verdict line"
lab_wait_grep 'sni=mta-sts.ok.test .*host=mta-sts.ok.test(:[0-9]+)? path=/.well-known/mta-sts.txt' \
    "$LAB_DIR/https.log" 2
ok $? "S6: fetched with SNI and Host mta-sts.ok.test"

check OK.Test.
is "$RC" 0 "S1: upper case and a trailing dot: the same policy domain"
has "$OUT" 'policy check ok.test (asked: OK.Test.)'
ok $? "S1: the normalized domain and the input are both shown"

check notfound.test
is "$RC" 1 "S8: HTTP 404: exit 1"
has "$OUT" 'HTTP 404' && has "$JS" '"result_type":"sts-policy-fetch-error"'
ok $? "S8: 404 is sts-policy-fetch-error"
has "$OUT" 'nothing cached: mail is delivered as without MTA-STS'
ok $? "S12: nothing cached: delivered as without MTA-STS"

NOK=$(grep -c 'request .*host=mta-sts.ok.test' "$LAB_DIR/https.log")
check redirect.test
is "$RC" 1 "S8: a redirect: exit 1"
has "$OUT" 'HTTP 301' && has "$JS" '"result_type":"sts-policy-fetch-error"'
ok $? "S8: 301 is a fetch error"
lab_wait_count 'request .*host=mta-sts.redirect.test' "$LAB_DIR/https.log" 2 2 &&
    [ "$(grep -c 'request .*host=mta-sts.ok.test' "$LAB_DIR/https.log")" -eq "$NOK" ]
ok $? "S8: the redirect was not followed (no request to its target)"

check ctype.test
is "$RC" 1 "S9: Content-Type text/html: exit 1"
has "$OUT" 'Content-Type text/html' && has "$JS" '"result_type":"sts-policy-invalid"'
ok $? "S9: wrong media type is sts-policy-invalid"

check charset.test
is "$RC" 0 "S9: text/plain; charset=utf-8 is accepted"
has "$OUT" 'mode:    testing' && has "$OUT" 'mx:      *.charset.test'
ok $? "S16: a CRLF policy parses"

check big.test
is "$RC" 1 "S10: a body over 64 KiB: exit 1"
has "$JS" '"result_type":"sts-policy-fetch-error"'
ok $? "S10: oversize is a fetch error"

check stall.test
is "$RC" 1 "S10: a stalled server: exit 1"
has "$JS" '"result_type":"sts-policy-fetch-error"' && has "$OUT" 'timed out (S10)'
ok $? "S10: the stalled fetch timed out (policy_fetch_timeout)"
MS=$(printf '%s' "$JS" | sed -n 's/.*"elapsed_ms":\([0-9]*\).*/\1/p')
[ "${MS:-0}" -ge 2000 ] && [ "${MS:-0}" -lt 30000 ]
ok $? "S10: the check waited for policy_fetch_timeout (2 s), not the default 60 s (took ${MS:-?} ms)"

check gone.test
is "$RC" 1 "a server that hangs up: exit 1"
has "$JS" '"result_type":"sts-policy-fetch-error"'
ok $? "a closed connection is a fetch error"

check untrusted.test
is "$RC" 1 "S7: self-signed certificate: exit 1"
has "$JS" '"result_type":"sts-webpki-invalid"'
ok $? "S7: untrusted certificate is sts-webpki-invalid"

check wrongname.test
is "$RC" 1 "S7: certificate for another name: exit 1"
has "$JS" '"result_type":"sts-webpki-invalid"'
ok $? "S7: wrong-name certificate is sts-webpki-invalid"

check none.test
is "$RC" 2 "S4: no STSv1 TXT record: exit 2"
has "$OUT" 'not STSv1: ignored (S4)' && has "$OUT" 'verdict: none: no MTA-STS policy'
ok $? "S4: the other record is shown and ignored"
! grep -q 'host=mta-sts.none.test' "$LAB_DIR/https.log"
ok $? "S4: no fetch without an STSv1 record"

check nxdomain.test
is "$RC" 2 "no TXT record at all (NXDOMAIN): exit 2"
has "$OUT" '1. TXT _mta-sts.nxdomain.test: nxdomain'
ok $? "NXDOMAIN is shown"

check two.test
is "$RC" 1 "S4: two STSv1 records: exit 1"
has "$OUT" 'STSv1, id two1' && has "$OUT" 'STSv1, id two2' && has "$OUT" 'not STSv1'
ok $? "S4: both STSv1 records and the other one are listed"
has "$JS" '"id":""' && ! grep -q 'host=mta-sts.two.test' "$LAB_DIR/https.log"
ok $? "S4: no id chosen, nothing fetched"

check split.test
is "$RC" 0 "S3: a TXT record in three strings: exit 0"
has "$OUT" '"v=STSv1; id=split1;"' && has "$OUT" '=> policy id split1'
ok $? "S3: the strings are joined with nothing between them"

check lf.test
is "$RC" 0 "S16: LF line ends, no final newline: exit 0"
has "$OUT" 'max_age: 3600 (1h)'
ok $? "S16: the last line without a newline is read"

check cap.test
is "$RC" 0 "Ours: max_age above the cap: exit 0"
has "$OUT" 'max_age: 31557600 (365d6h), published 9999999999, capped'
ok $? "Ours: max_age capped at 31557600, the published value shown"

check badmode.test
is "$RC" 1 "S17: an invalid policy: exit 1"
has "$OUT" "3. policy: invalid (sts-policy-invalid, S17): line 3: mode: unknown value 'enfroce'"
ok $? "S17: the exact parse error, with its line"

check nomatch.test
is "$RC" 1 "S27: enforce policy naming none of the MX hosts: exit 1"
has "$OUT" 'none of the 1 MX hosts matches'
ok $? "S27: the verdict says mail would be deferred"

"$CTL" -s "$SOCK" policy check 'bad domain!' >/dev/null 2>"$LAB_DIR/err"
is "$?" 1 "an invalid domain name: exit 1"
grep -q 'not a valid domain name' "$LAB_DIR/err"
ok $? "an invalid domain name is refused by name"

grep -q 'tls-error .*sni=mta-sts.untrusted.test\|tls-error conn=' "$LAB_DIR/https.log"
ok $? "S7: the web server saw the relay refuse its certificate"
done_testing
