#!/bin/sh
# lab-smtp-sink: every TLS behaviour checked with openssl s_client, delivery
# and records checked with swaks and a raw client (independent clients).
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_need openssl swaks perl sha256sum
lab_init
lab_pki || bail "lab-pki.sh failed"
P=$LAB_PKI

# One process, thirteen "MX hosts" on 127.0.0.2-14, all on the same port.
cat >"$LAB_DIR/sink.in" <<EOF
hostname mx.d.test
cert $P/valid.pem $P/valid.key
rcpt temp@* 451 4.2.1 mailbox busy
rcpt perm@* 550 5.1.1 no such user
listen valid 127.0.0.2:0
listen wildcard 127.0.0.3:0
cert $P/wildcard.pem $P/wildcard.key
listen expired 127.0.0.4:0
cert $P/expired.pem $P/expired.key
listen notyet 127.0.0.5:0
cert $P/notyet.pem $P/notyet.key
listen selfsigned 127.0.0.6:0
cert $P/selfsigned.pem $P/selfsigned.key
listen wrongname 127.0.0.7:0
cert $P/wrongname.pem $P/wrongname.key
listen cnonly 127.0.0.8:0
cert $P/cnonly.pem $P/cnonly.key
listen nointer 127.0.0.9:0
cert $P/valid.crt $P/valid.key
listen old 127.0.0.10:0
tls-versions 1.0 1.1
listen none 127.0.0.11:0
starttls none
8bitmime no
smtputf8 no
listen refuse 127.0.0.12:0
starttls refuse
listen abort 127.0.0.13:0
starttls abort
listen bounce 127.0.0.14:0
data-reply 554 5.6.0 content rejected
EOF
lab_sink sink "$LAB_DIR/sink.in" || bail "lab-smtp-sink did not start"
S=$LAB_SINK_PORT
LOG=$LAB_DIR/sink.log
IDX=$LAB_DIR/sink.spool/index

is "$(grep -c "listening name=[a-z]* addr=127\.0\.0\.[0-9]*:$S\$" "$LOG")" 13 "13 listeners share one port on 127.0.0.2-14"

tls() { # ADDR NAME [s_client options]: STARTTLS, verify NAME against the lab root
	_a=$1 _n=$2
	shift 2
	echo QUIT | openssl s_client -starttls smtp -connect "$_a:$S" -servername "$_n" \
	    -verify_hostname "$_n" -verify_return_error -CAfile "$P/root.pem" "$@" 2>&1
}
verify_ok() { tls "$@" | grep -q "Verify return code: 0 (ok)"; }
verify_err() { # ADDR NAME ERRNUM
	tls "$1" "$2" | grep -q "verify error:num=$3:"
}

verify_ok 127.0.0.2 mx1.d.test
ok $? "valid: verify OK for mx1.d.test"
verify_ok 127.0.0.3 mx1.d.test
ok $? "wildcard *.d.test: verify OK for mx1.d.test"
verify_err 127.0.0.3 a.mx1.d.test 62
ok $? "wildcard *.d.test: hostname mismatch for a.mx1.d.test"
verify_err 127.0.0.4 mx1.d.test 10
ok $? "expired: certificate has expired (10)"
lab_wait_grep 'listener=expired tls alert received level=fatal alert="certificate expired"' "$LOG" 5
ok $? "sink log: the client's fatal alert (certificate expired)"
verify_err 127.0.0.5 mx1.d.test 9
ok $? "not yet valid: certificate is not yet valid (9)"
verify_err 127.0.0.6 mx1.d.test 18
ok $? "self-signed: self-signed certificate (18)"
verify_err 127.0.0.7 mx1.d.test 62
ok $? "wrong name: hostname mismatch (62)"
verify_err 127.0.0.9 mx1.d.test 20
ok $? "missing intermediate: unable to get local issuer certificate (20)"
echo QUIT | openssl s_client -starttls smtp -connect "127.0.0.8:$S" -servername mx.d.test 2>/dev/null |
    openssl x509 -noout -subject -ext subjectAltName >"$LAB_DIR/cnonly.txt" 2>&1
grep -q "CN *= *mx.d.test" "$LAB_DIR/cnonly.txt" && ! grep -q "DNS:" "$LAB_DIR/cnonly.txt"
ok $? "CN only: subject CN=mx.d.test and no subjectAltName"

tls 127.0.0.10 mx1.d.test >"$LAB_DIR/old-default.txt"
grep -q "Cipher is (NONE)" "$LAB_DIR/old-default.txt"
ok $? "TLS 1.1-only sink: a default OpenSSL 3 client fails the handshake"
tls 127.0.0.10 mx1.d.test -tls1_1 -cipher DEFAULT@SECLEVEL=0 | grep -q "Protocol *: TLSv1.1"
ok $? "TLS 1.1-only sink: TLSv1.1 with a client at security level 0"
tls 127.0.0.10 mx1.d.test -tls1 -cipher DEFAULT@SECLEVEL=0 | grep -q "Protocol *: TLSv1\$"
ok $? "TLS 1.1-only sink: TLSv1 (1.0) too"
lab_wait_grep 'listener=old tls established version=TLSv1.1' "$LOG" 5
ok $? "sink log: TLS version of the old session"

tls 127.0.0.13 mx1.d.test >/dev/null
lab_wait_grep 'listener=abort tls aborted after [0-9]+ bytes of the ClientHello' "$LOG" 5
ok $? "abort: connection closed right after the ClientHello"

# a delivery over TLS with per-recipient replies
swaks --server "127.0.0.2:$S" --from a@e.test --to ok@d.test,temp@d.test,perm@d.test \
    -tls --tls-sni mx1.d.test --header "Subject: lab-tls" >"$LAB_DIR/swaks1.out" 2>&1
grep -q '<~\* 451 4.2.1 mailbox busy' "$LAB_DIR/swaks1.out" &&
    grep -q '<~\* 550 5.1.1 no such user' "$LAB_DIR/swaks1.out"
ok $? "per-recipient replies: 451 and 550 by pattern"
lab_wait_grep 'listener=valid ' "$IDX" 5
line=$(grep 'listener=valid ' "$IDX")
diag "$line"
echo "$line" | grep -q 'from=<a@e.test> to=<ok@d.test> '
ok $? "record: envelope with the accepted recipient only"
echo "$line" | grep -q 'tls=TLSv1.3 cipher=TLS_[A-Z0-9_]* sni=mx1.d.test ehlo_after_tls=yes mail_plaintext=no'
ok $? "record: TLS version, cipher, SNI, EHLO again after TLS, MAIL not in plaintext"
f=$LAB_DIR/sink.spool/$(echo "$line" | sed 's/.* file=\([^ ]*\) .*/\1/')
is "$(sha256sum "$f" | cut -d' ' -f1)" "$(echo "$line" | sed 's/.* sha256=\([0-9a-f]*\) .*/\1/')" "record: SHA-256 of the stored message"
is "$(wc -c <"$f" | tr -d ' ')" "$(echo "$line" | sed 's/.* size=\([0-9]*\) .*/\1/')" "record: size of the stored message"
grep -q '^Subject: lab-tls' "$f"
ok $? "the stored message is the message sent"

# plaintext on a sink without STARTTLS
swaks --server "127.0.0.11:$S" --from a@e.test --to x@d.test --quit-after EHLO >"$LAB_DIR/swaks2.out" 2>&1
! grep -Eq '250[ -](STARTTLS|8BITMIME|SMTPUTF8)' "$LAB_DIR/swaks2.out"
ok $? "starttls none, 8bitmime no, smtputf8 no: none of them advertised"
swaks --server "127.0.0.11:$S" --from a@e.test --to x@d.test --header "Subject: lab-plain" >/dev/null 2>&1
lab_wait_grep 'listener=none .*tls=none cipher=- sni=- ehlo_after_tls=- mail_plaintext=yes' "$IDX" 5
ok $? "record: plaintext delivery says tls=none mail_plaintext=yes"

swaks --server "127.0.0.12:$S" --from a@e.test --to x@d.test -tls >"$LAB_DIR/swaks3.out" 2>&1
grep -q '<\*\* 454 4.7.0' "$LAB_DIR/swaks3.out"
ok $? "starttls refuse: 454 to STARTTLS"
swaks --server "127.0.0.14:$S" --from a@e.test --to x@d.test >"$LAB_DIR/swaks4.out" 2>&1
grep -q '<\*\* 554 5.6.0 content rejected' "$LAB_DIR/swaks4.out"
ok $? "data-reply: the configured reply to the end of DATA"

# raw client: bare LF, dot-stuffing, unadvertised BODY=8BITMIME, pipelined STARTTLS
raw() { # ADDR [STOP-ERE]: send stdin after the greeting, print what comes
	# back until the server closes or what came back matches STOP-ERE.
	perl -MIO::Socket::INET -e '
		$SIG{ALRM} = sub { print STDERR "raw: no close within 10 s\n"; exit 1 };
		alarm 10;
		my $s = IO::Socket::INET->new(PeerAddr => $ARGV[0]) or die "connect: $!";
		binmode $s; binmode STDIN; local $/; my $in = <STDIN>;
		sysread($s, my $g, 512); print $g;
		print $s $in;
		my $all = "";
		while (sysread($s, my $b, 4096)) {
			print $b; $all .= $b;
			exit 0 if $ARGV[1] ne "" && $all =~ /$ARGV[1]/;
		}' "$1:$S" "${2:-}"
}
printf 'EHLO raw\r\nMAIL FROM:<r@e.test>\r\nRCPT TO:<x@d.test>\r\nDATA\r\nSubject: raw\r\n\r\nbare\nline\r\n..dot\r\n.\r\nQUIT\r\n' |
    raw 127.0.0.11 >"$LAB_DIR/raw1.out"
lab_wait_grep 'from=<r@e.test>.* bare_lf=1 bare_cr=0' "$IDX" 5
ok $? "record: a bare LF in DATA is counted (bare_lf=1)"
f=$LAB_DIR/sink.spool/$(grep 'from=<r@e.test>' "$IDX" | sed 's/.* file=\([^ ]*\) .*/\1/')
grep -q '^\.dot' "$f" && ! grep -q '^\.\.dot' "$f"
ok $? "dot-stuffing undone in the stored message"
printf 'EHLO raw\r\nMAIL FROM:<r@e.test> BODY=8BITMIME\r\nQUIT\r\n' | raw 127.0.0.11 >"$LAB_DIR/raw2.out"
grep -q '^555 5.5.4' "$LAB_DIR/raw2.out"
ok $? "BODY=8BITMIME refused (555) where 8BITMIME is not advertised"
printf 'EHLO raw\r\nSTARTTLS\r\nRSET\r\n' | raw 127.0.0.2 '220 2.0.0' >"$LAB_DIR/raw3.out"
lab_wait_grep 'discarded=6 bytes of plaintext sent after STARTTLS' "$LOG" 5
ok $? "plaintext pipelined after STARTTLS is discarded and logged"

long=$(printf '%05000d' 0)
printf 'EHLO raw\r\nNOOP %s\r\n' "$long" | raw 127.0.0.11 >"$LAB_DIR/raw4.out"
grep -q '^500 5.5.6 Line too long' "$LAB_DIR/raw4.out"
ok $? "a command line over 4096 bytes: 500, then the connection closes (bounded)"

# raw client over TLS: MAIL right after the handshake, without EHLO again
rawtls() { # ADDR SNI: EHLO, STARTTLS, then stdin inside TLS; print the TLS replies
	perl -MIO::Socket::INET -MNet::SSLeay -e '
		$SIG{ALRM} = sub { print STDERR "rawtls: no close within 10 s\n"; exit 1 };
		alarm 10;
		my $s = IO::Socket::INET->new(PeerAddr => $ARGV[0]) or die "connect: $!";
		sub reply { my $a = ""; while ($a !~ /(^|\n)\d{3} [^\n]*\n\z/) {
			sysread($s, my $b, 1) or die "eof"; $a .= $b; } return $a; }
		reply(); print $s "EHLO raw\r\n"; reply();
		print $s "STARTTLS\r\n"; reply() =~ /^220/ or die "no 220";
		Net::SSLeay::initialize();
		my $ctx = Net::SSLeay::CTX_new() or die; my $ssl = Net::SSLeay::new($ctx) or die;
		Net::SSLeay::set_fd($ssl, fileno($s));
		Net::SSLeay::set_tlsext_host_name($ssl, $ARGV[1]);
		Net::SSLeay::connect($ssl) == 1 or die "handshake failed";
		binmode STDIN; local $/; Net::SSLeay::ssl_write_all($ssl, <STDIN>);
		while (defined(my $r = Net::SSLeay::read($ssl))) { last if $r eq ""; print $r; }' "$1:$S" "$2"
}
printf 'MAIL FROM:<noehlo@e.test>\r\nRCPT TO:<x@d.test>\r\nDATA\r\nSubject: raw\r\n\r\nhi\r\n.\r\nQUIT\r\n' |
    rawtls 127.0.0.2 mx1.d.test >"$LAB_DIR/rawtls.out"
grep -q '^221 ' "$LAB_DIR/rawtls.out"
ok $? "TLS session closed promptly after QUIT (221, then close_notify and close)"
lab_wait_grep 'from=<noehlo@e.test>.* tls=TLSv1.3 .*sni=mx1.d.test ehlo_after_tls=no mail_plaintext=no' "$IDX" 5
ok $? "record: a client that skips EHLO after TLS is recorded as ehlo_after_tls=no"

grep -q 'conn=[0-9]* listener=valid C: MAIL FROM:<a@e.test>' "$LOG" &&
    grep -q 'listener=valid S: 220 2.0.0 Ready to start TLS' "$LOG"
ok $? "session log: commands and replies"
"$LAB_BIN/lab-smtp-sink" -h | grep -q "usage: lab-smtp-sink"
ok $? "-h prints the usage"
printf 'spool /nonexistent\nlisten a 127.0.0.1:0\nstarttls sometimes\n' >"$LAB_DIR/bad.conf"
"$LAB_BIN/lab-smtp-sink" -f "$LAB_DIR/bad.conf" 2>"$LAB_DIR/bad.err"
is $? 78 "bad configuration: exit 78"
grep -q 'bad.conf:3: starttls' "$LAB_DIR/bad.err"
ok $? "bad configuration: file:line in the message"
done_testing
