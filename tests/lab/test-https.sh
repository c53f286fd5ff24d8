#!/bin/sh
# lab-https serves per-Host policies and per-SNI certificates, checked with
# curl and openssl s_client (independent clients).
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_need curl openssl
lab_init
lab_pki || bail "lab-pki.sh failed"
P=$LAB_PKI

printf 'version: STSv1\r\nmode: enforce\r\nmx: mx1.d.test\r\nmax_age: 86400\r\n' >"$LAB_DIR/policy.txt"
cat >"$LAB_DIR/https.conf" <<EOF
# default certificate: for SNI names without a section certificate
cert $P/wrongname.pem $P/wrongname.key
host mta-sts.d.test
  cert $P/web.pem $P/web.key
  path /.well-known/mta-sts.txt
  body-file $LAB_DIR/policy.txt
host mta-sts.redirect.test
  status 301
  location https://mta-sts.d.test/.well-known/mta-sts.txt
host mta-sts.html.test
  content-type "text/html; charset=utf-8"
  body-line <html>policy</html>
host mta-sts.notype.test
  content-type none
  body-line version: STSv1
host mta-sts.big.test
  oversize 70000
host mta-sts.stall.test
  action stall
host mta-sts.close.test
  action close
host mta-sts.slow.test
  delay 400
  body-line slow
host mta-sts.gone.test
  status 404
  header "X-Lab: gone"
host tlsrpt.d.test
  path /report
  status 201
  save-body $LAB_DIR/reports
EOF
mkdir "$LAB_DIR/reports"
lab_https "$LAB_DIR/https.conf" || bail "lab-https did not start"
H=$LAB_HTTPS_PORT
L=$LAB_DIR/https.log
URL=/.well-known/mta-sts.txt
get() { # NAME [curl options]: fetch https://NAME:PORT/.well-known/mta-sts.txt
	_h=$1
	shift
	curl -sS --max-time 5 --cacert "$P/root.pem" --resolve "$_h:$H:127.0.0.1" "$@" \
	    "https://$_h:$H$URL" 2>"$LAB_DIR/curl.err"
}

out=$(get mta-sts.d.test -o "$LAB_DIR/body" -w '%{http_code} %{content_type}')
is "$out" "200 text/plain" "policy host: 200 text/plain, certificate verified against the lab root"
cmp -s "$LAB_DIR/body" "$LAB_DIR/policy.txt"
ok $? "policy host: the body is the file, byte for byte"
lab_wait_grep "request conn=[0-9]+ peer=127.0.0.1:[0-9]+ sni=mta-sts.d.test method=GET host=mta-sts.d.test:$H path=$URL section=mta-sts.d.test" "$L" 5
ok $? "request log: SNI, Host, path, section"
grep -q 'headers="Host: mta-sts.d.test:[0-9]* | User-Agent: curl/' "$L"
ok $? "request log: the headers"
is "$(curl -sS --max-time 5 --cacert "$P/root.pem" --resolve "mta-sts.d.test:$H:127.0.0.1" \
    -o /dev/null -w '%{http_code}' "https://mta-sts.d.test:$H/other")" 404 "path not configured: 404"

out=$(get mta-sts.redirect.test -k -o /dev/null -w '%{http_code} %{redirect_url} %{num_redirects}')
is "$out" "301 https://mta-sts.d.test/.well-known/mta-sts.txt 0" "redirect: 301 with Location, curl does not follow"
is "$(get mta-sts.html.test -k -o /dev/null -w '%{content_type}')" "text/html; charset=utf-8" "content type as configured"
get mta-sts.notype.test -k -D "$LAB_DIR/hdr" -o /dev/null
grep -qi '^content-type' "$LAB_DIR/hdr"
ok $((1 - $?)) "content-type none: no Content-Type header at all"
is "$(get mta-sts.big.test -k -o "$LAB_DIR/big" -w '%{http_code} %{size_download}')" "200 70000" "oversize: a 70000-byte body"
is "$(get mta-sts.gone.test -k -D "$LAB_DIR/hdr" -o /dev/null -w '%{http_code}')" 404 "status as configured"
grep -q '^X-Lab: gone' "$LAB_DIR/hdr"
ok $? "extra header sent"

get mta-sts.stall.test -k --max-time 1 -o /dev/null
is $? 28 "stall: no answer, curl times out (exit 28)"
grep -q 'host=mta-sts.stall.test.* action=stall' "$L"
ok $? "stall is logged"
get mta-sts.close.test -k -o /dev/null
is $? 52 "close: connection closed without a reply (curl exit 52)"
t=$(get mta-sts.slow.test -k -o /dev/null -w '%{time_total}')
awk -v t="$t" 'BEGIN { exit !(t >= 0.4) }'
ok $? "delay 400 ms: the answer takes at least that long ($t s)"

# certificate choice by SNI: the section's certificate, else the default
subject() {
	openssl s_client -connect "127.0.0.1:$H" -servername "$1" </dev/null 2>/dev/null |
	    openssl x509 -noout -subject 2>/dev/null | sed 's/^subject= *//; s/ //g'
}
is "$(subject mta-sts.d.test)" "CN=mta-sts.d.test" "SNI mta-sts.d.test: the section's certificate"
is "$(subject mta-sts.html.test)" "CN=mx.wrong.test" "SNI without a section certificate: the default one"
get mta-sts.html.test -o /dev/null
is $? 60 "curl refuses the wrong-name default certificate (exit 60)"

c=$(grep -c '^.* closed conn=[0-9]* state=request by=peer' "$L")
get mta-sts.html.test -o /dev/null
lab_wait_count 'closed conn=[0-9]+ state=request by=peer' "$L" $((c + 1)) 5
ok $? "curl refusing the certificate: the connection closes before any request"
echo | openssl s_client -connect "127.0.0.1:$H" -servername mta-sts.html.test \
    -verify_hostname mta-sts.html.test -verify_return_error -CAfile "$P/root.pem" >/dev/null 2>&1
lab_wait_grep 'tls-alert conn=[0-9]+ dir=received level=fatal alert="bad certificate"' "$L" 5
ok $? "s_client refusing the certificate: its fatal alert is logged"

long=$(printf '%09000d' 0)
is "$(get mta-sts.d.test -H "X-Long: $long" -o /dev/null -w '%{http_code}')" 431 "a header line over 8 KiB: 431 (bounded)"

# a TLS report POSTed (RFC 8460 https: rua): stored for the test to read
printf 'report body \000\001\002 binary' >"$LAB_DIR/report.gz"
out=$(curl -sS --max-time 5 -k --resolve "tlsrpt.d.test:$H:127.0.0.1" -X POST \
    -H 'Content-Type: application/tlsrpt+gzip' --data-binary "@$LAB_DIR/report.gz" \
    -o /dev/null -w '%{http_code}' "https://tlsrpt.d.test:$H/report")
is "$out" 201 "POST: the configured status"
lab_wait_grep 'saved conn=[0-9]+ file=.*/reports/body-' "$L" 5
cmp -s "$LAB_DIR/report.gz" "$(ls "$LAB_DIR"/reports/body-* | head -1)"
ok $? "POST: the body is saved byte for byte"
grep -q 'method=POST host=tlsrpt.d.test:[0-9]* path=/report .* body=22 headers=".*Content-Type: application/tlsrpt+gzip' "$L"
ok $? "POST: method, size and content type in the request log"
out=$(curl -sS --max-time 5 -k --resolve "tlsrpt.d.test:$H:127.0.0.1" -X POST \
    -H 'Transfer-Encoding: chunked' --data-binary "@$LAB_DIR/report.gz" \
    -o /dev/null -w '%{http_code}' "https://tlsrpt.d.test:$H/report")
is "$out" 411 "POST with a chunked body: 411 (send a Content-Length)"

# stall-accept: TCP accepted, TLS never started
printf 'cert %s %s\nstall-accept 1\n' "$P/web.pem" "$P/web.key" >"$LAB_DIR/stall.conf"
lab_https "$LAB_DIR/stall.conf" stall || bail "second lab-https did not start"
curl -sS --max-time 1 --cacert "$P/root.pem" --resolve "mta-sts.d.test:$LAB_HTTPS_PORT:127.0.0.1" \
    -o /dev/null "https://mta-sts.d.test:$LAB_HTTPS_PORT$URL" 2>/dev/null
is $? 28 "stall-accept: connection accepted, no TLS, curl times out (exit 28)"
grep -q 'accept peer=127.0.0.1:[0-9]* action=stall-accept' "$LAB_DIR/stall.log"
ok $? "stall-accept is logged"

"$LAB_BIN/lab-https" -h | grep -q "usage: lab-https"
ok $? "-h prints the usage"
printf 'host x\n  status abc\n' >"$LAB_DIR/bad.conf"
"$LAB_BIN/lab-https" -f "$LAB_DIR/bad.conf" 2>"$LAB_DIR/bad.err"
is $? 78 "bad configuration: exit 78"
grep -q 'bad.conf:2: status' "$LAB_DIR/bad.err"
ok $? "bad configuration: file:line in the message"
done_testing
