#!/bin/sh
# lab-dns answers as its zone says, checked with dig (an independent client).
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_need dig
lab_init

cat >"$LAB_DIR/zone" <<'EOF'
# the lab's internet
$TTL 300
d.test           MX    20 mx2.d.test
d.test           MX    10 mx1.d.test.
null.test        MX    0 .
mx1.d.test       A     127.0.0.2
mx1.d.test       AAAA  ::1
_mta-sts.d.test  TXT   "v=STSv1; " "id=20240101"
www.d.test       CNAME mx1.d.test
dangling.d.test  CNAME nowhere.d.test
fail.test        FAULT servfail
slow.test        FAULT timeout
big.test         FAULT truncate
big.test         MX    10 mx1.d.test
split.test       FAULT servfail TXT
split.test       A     127.0.0.9
EOF
lab_dns "$LAB_DIR/zone" || bail "lab-dns did not start"
Q="$LAB_DIR/dns.log"
d() { dig @127.0.0.1 -p "$LAB_DNS_PORT" +tries=1 +time=2 "$@" 2>&1; }
status() { d "$@" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }

is "$(d +short d.test MX | sort)" "10 mx1.d.test.
20 mx2.d.test." "MX: both records"
is "$(d +short D.Test. mx | sort | head -1)" "10 mx1.d.test." "names are case-insensitive"
is "$(d +short null.test MX)" "0 ." "null MX (MX 0 .)"
is "$(d +short mx1.d.test A)" "127.0.0.2" "A"
is "$(d +short mx1.d.test AAAA)" "::1" "AAAA"
is "$(d +short _mta-sts.d.test TXT)" '"v=STSv1; " "id=20240101"' "TXT with several strings keeps them apart"
is "$(d +short www.d.test A)" "mx1.d.test.
127.0.0.2" "CNAME is followed within the zone"
is "$(d +short www.d.test CNAME)" "mx1.d.test." "CNAME asked for itself"
is "$(status nope.d.test A)" "NXDOMAIN" "unknown name: NXDOMAIN"
is "$(status dangling.d.test A)" "NXDOMAIN" "CNAME to an unknown name: NXDOMAIN with the CNAME"
out=$(d mx1.d.test TXT)
echo "$out" | grep -q "status: NOERROR" && echo "$out" | grep -q "ANSWER: 0,"
ok $? "known name without the type: NODATA (NOERROR, no answer)"
is "$(status fail.test A)" "SERVFAIL" "fault servfail"
is "$(status split.test TXT)" "SERVFAIL" "fault servfail limited to TXT"
is "$(d +short split.test A)" "127.0.0.9" "the other types of that name still answer"

out=$(d slow.test A)
rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "timed out"
ok $? "fault timeout: no answer at all (dig: timed out)"
lab_wait_grep 'proto=udp .*name=slow.test type=A .*fault=timeout' "$Q" 5
ok $? "timeout query is in the log"

out=$(d +ignore +notcp big.test MX)
echo "$out" | grep -q "flags: qr aa tc" && echo "$out" | grep -q "ANSWER: 0,"
ok $? "fault truncate over UDP: TC bit, no answer"
is "$(d +tcp +short big.test MX)" "10 mx1.d.test." "fault truncate over TCP: the full answer"
is "$(d +short big.test MX)" "10 mx1.d.test." "dig retries in TCP after TC and gets the answer"
grep -q 'proto=tcp .*name=big.test type=MX rcode=NOERROR answers=1' "$Q"
ok $? "TCP query logged with its answer"

grep -q 'proto=udp client=127.0.0.1:[0-9]* name=d.test type=MX rcode=NOERROR answers=2 tc=0 fault=none' "$Q"
ok $? "query log: proto, client, name, type, rcode, answers, fault"
grep -q 'name=fail.test type=A rcode=SERVFAIL .*fault=servfail' "$Q"
ok $? "query log names the fault"

# SIGHUP reads the zone again (a lab changes the policy id mid-test)
sed 's/id=20240101/id=20250202/' "$LAB_DIR/zone" >"$LAB_DIR/zone.new" && mv "$LAB_DIR/zone.new" "$LAB_DIR/zone"
kill -HUP "$LAB_PID_dns"
lab_wait_grep '^.* reload entries=' "$Q" 5
ok $? "SIGHUP: reload logged"
is "$(d +short _mta-sts.d.test TXT)" '"v=STSv1; " "id=20250202"' "SIGHUP: new records served"

# a broken zone is refused with file:line, at start and on reload
printf 'a.test A 127.0.0.1\nb.test MX ten b.test\n' >"$LAB_DIR/bad.zone"
err=$("$LAB_BIN/lab-dns" -z "$LAB_DIR/bad.zone" 2>&1)
rc=$?
is "$rc" 78 "bad zone: exit 78 (EX_CONFIG)"
echo "$err" | grep -q "bad.zone:2: bad MX record"
ok $? "bad zone: message names file and line"
printf 'x.test TXT "unterminated\n' >"$LAB_DIR/bad2.zone"
"$LAB_BIN/lab-dns" -z "$LAB_DIR/bad2.zone" >/dev/null 2>&1
is $? 78 "unterminated quote refused"
long=$(printf '%0300d' 0)
printf 'x.test TXT %s\n' "$long" >"$LAB_DIR/bad3.zone"
"$LAB_BIN/lab-dns" -z "$LAB_DIR/bad3.zone" >/dev/null 2>&1
is $? 78 "TXT string over 255 bytes refused"
"$LAB_BIN/lab-dns" -h | grep -q "usage: lab-dns"
ok $? "-h prints the usage"
done_testing
