#!/bin/sh
# The outbound SMTP client against a scripted server that misbehaves in ways
# the sink does not: overlong and inconsistent replies (bounds), EHLO refused
# (HELO fallback), MAIL refused, a connection lost in the middle, a silent
# final dot, and plaintext in the same packet as the 220 to STARTTLS (H4).
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
. "$top_srcdir/tests/lab/test-client-lib.sh"
lab_need perl
lab_init
lab_pki || bail "lab-pki.sh failed"

# A server for one connection playing a script: "> TEXT" sends TEXT CRLF,
# "= TEXT" sends TEXT as is (\r \n decoded), "< " reads one line, "<<." reads
# up to the end of DATA, "close" hangs up, "wait" waits for the client to close.
# Every line read goes to LOG.
cat >"$LAB_DIR/fake.pl" <<'EOF'
use strict; use IO::Socket::INET;
my ($port, $script, $log) = @ARGV;
my $srv = IO::Socket::INET->new(Listen => 5, LocalAddr => "127.0.0.1:$port", ReuseAddr => 1) or die "listen: $!";
open(my $ready, ">", "$log.ready") or die; print $ready "$port\n"; close($ready);
my $c = $srv->accept or die;
$c->autoflush(1);
open(my $l, '>>', $log) or die; select((select($l), $| = 1)[0]);
open(my $s, '<', $script) or die;
while (my $step = <$s>) {
	chomp $step;
	if ($step =~ /^> (.*)$/) { print $c "$1\r\n"; }
	elsif ($step =~ /^= (.*)$/) { my $t = $1; $t =~ s/\\r/\r/g; $t =~ s/\\n/\n/g; print $c $t; }
	elsif ($step eq '<') { my $x = <$c>; last unless defined $x; print $l "C: $x"; }
	elsif ($step eq '<<.') { while (my $x = <$c>) { print $l "D: $x"; last if $x eq ".\r\n"; } }
	elsif ($step eq 'close') { close($c); last; }
	elsif ($step eq 'wait') { while (my $x = <$c>) { print $l "C: $x"; } last; }
}
print $l "END\n";
EOF

# fake NAME: start the server for $LAB_DIR/NAME.script; sets FP (its port)
fake() {
	FP=$("$LAB_BIN/lab-port" free 127.0.0.1) || bail "no free port"
	lab_spawn "fake-$1" perl "$LAB_DIR/fake.pl" "$FP" "$LAB_DIR/$1.script" "$LAB_DIR/$1.log"
	lab_wait_file "$LAB_DIR/$1.log.ready" 10 || bail "scripted server $1 did not start"
}
script() { # NAME: the script on stdin
	cat >"$LAB_DIR/$1.script"
}
EHLO='> 250-fake.test
> 250-ENHANCEDSTATUSCODES
> 250 8BITMIME'

long=$(printf '%0600d' 0)
script longline <<EOF
> 220 $long
wait
EOF
fake longline
drive longline "127.0.0.1:$FP" opportunistic
is "$(get longline conn=1 status)/$(get longline conn=1 enhanced)" "temporary/4.5.0" \
    "a reply line over 512 octets fails the session, temporary"
grep -q 'text="protocol error: reply line too long"' "$LAB_DIR/longline.out"
ok $? "the reason names the bound"

{ echo '> 220 fake'; echo '<'; i=0; while [ $i -lt 100 ]; do echo "> 250-line$i"; i=$((i + 1)); done
  echo '> 250 last'; echo 'wait'; } | script manylines
fake manylines
drive manylines "127.0.0.1:$FP" opportunistic
grep -q 'text="protocol error: multi-line reply too long"' "$LAB_DIR/manylines.out"
ok $? "a reply of 101 lines fails the session"

script mixed <<EOF
> 220 fake
<
> 250-fake.test
> 251 mixed
wait
EOF
fake mixed
drive mixed "127.0.0.1:$FP" opportunistic
grep -q 'text="protocol error: bad or inconsistent reply code"' "$LAB_DIR/mixed.out"
ok $? "a multi-line reply whose codes differ fails the session"

script helo <<EOF
> 220 fake
<
> 502 5.5.1 no EHLO here
<
> 250 fake.test
<
> 250 ok
<
> 250 ok
<
> 354 go
<<.
> 250 queued
<
> 221 bye
close
EOF
fake helo
drive helo "127.0.0.1:$FP" opportunistic
is "$(get helo conn=1 status)/$(get helo conn=1 esmtp)/$(get helo rcpt= kind)" "ok/no/ok" \
    "EHLO refused with 5xx: HELO, then the message goes"
grep -q '^C: HELO relay.lab.test' "$LAB_DIR/helo.log"
ok $? "HELO sent after EHLO was refused"

script helov <<EOF
> 220 fake
<
> 502 5.5.1 no EHLO here
<
> 250 fake.test
wait
EOF
fake helov
drive helov "127.0.0.1:$FP" verify
is "$(get helov conn=1 status)/$(get helov conn=1 tls_result)/$(get helov conn=1 enhanced)" \
    "temporary/starttls-not-supported/4.7.4" "verify mode: HELO means no STARTTLS, 4.7.4"
lab_wait_grep '^END' "$LAB_DIR/helov.log" 5 && ! grep -q 'MAIL' "$LAB_DIR/helov.log"
ok $? "H4: verify mode sent no MAIL FROM in plaintext"

script mailno <<EOF
> 220 fake
<
$EHLO
<
> 550 5.1.8 bad sender domain
<
> 250 2.0.0 reset
<
> 221 bye
wait
EOF
fake mailno
drive mailno "127.0.0.1:$FP" opportunistic -r a@d.test -r b@d.test
is "$(get mailno rcpt=a@ kind)/$(get mailno rcpt=a@ enhanced)/$(get mailno rcpt=b@ enhanced)" \
    "permanent/5.1.8/5.1.8" "MAIL refused: every recipient gets its reply"
lab_wait_grep '^END' "$LAB_DIR/mailno.log" 5 && grep -q '^C: RSET' "$LAB_DIR/mailno.log" &&
    ! grep -q '^C: RCPT' "$LAB_DIR/mailno.log"
ok $? "MAIL refused (no pipelining): RSET, no RCPT"

PIPE='> 250-fake.test
> 250-PIPELINING
> 250 ENHANCEDSTATUSCODES'
script pipemailno <<EOF
> 220 fake
<
$PIPE
<
<
<
> 550 5.7.1 sender refused
> 503 5.5.1 no MAIL
> 503 5.5.1 no valid recipients
<
> 250 2.0.0 reset
<
> 221 bye
wait
EOF
fake pipemailno
drive pipemailno "127.0.0.1:$FP" opportunistic
is "$(get pipemailno rcpt= kind)/$(get pipemailno rcpt= enhanced)/$(get pipemailno msg=1 data_sent)" \
    "permanent/5.7.1/no" "pipelined MAIL refused: the recipient gets the MAIL reply, not the 503"
lab_wait_grep '^END' "$LAB_DIR/pipemailno.log" 5 && grep -q '^C: RSET' "$LAB_DIR/pipemailno.log"
ok $? "pipelined MAIL refused: the RCPT and DATA replies are read, then RSET"

script pipe354 <<EOF
> 220 fake
<
$PIPE
<
<
<
> 250 2.1.0 ok
> 550 5.1.1 no such user
> 354 go ahead anyway
<
> 250 2.0.0 empty message
<
> 250 2.0.0 reset
<
> 221 bye
wait
EOF
fake pipe354
drive pipe354 "127.0.0.1:$FP" opportunistic
is "$(get pipe354 rcpt= kind)/$(get pipe354 msg=1 delivered)/$(get pipe354 msg=1 data_sent)" \
    "permanent/0/no" "354 with no recipient accepted: nothing delivered"
lab_wait_grep '^END' "$LAB_DIR/pipe354.log" 5 && grep -q '^C: \.' "$LAB_DIR/pipe354.log" &&
    ! grep -q 'Subject' "$LAB_DIR/pipe354.log" && grep -q '^C: RSET' "$LAB_DIR/pipe354.log"
ok $? "354 with no recipient accepted: only the dot, never the message, then RSET"

script nocode <<EOF
> 220 fake
<
> 250 fake.test
<
> 250 ok
<
> 550 no such user
<
> 250 ok
<
> 221 bye
wait
EOF
fake nocode
drive nocode "127.0.0.1:$FP" opportunistic
is "$(get nocode rcpt= code)/$(get nocode rcpt= enhanced)" "550/5.0.0" \
    "a reply without an enhanced code gets the class default 5.0.0"

script lost <<EOF
> 220 fake
<
$EHLO
<
> 250 ok
<
> 250 ok
<
> 354 go
<
close
EOF
fake lost
drive lost "127.0.0.1:$FP" opportunistic
is "$(get lost rcpt= kind)/$(get lost rcpt= enhanced)" "temporary/4.4.2" \
    "connection lost during DATA: the accepted recipient fails temporarily (4.4.2)"

script silentdot <<EOF
> 220 fake
<
$EHLO
<
> 250 ok
<
> 250 ok
<
> 354 go
<<.
wait
EOF
fake silentdot
drive silentdot "127.0.0.1:$FP" opportunistic -t 1000
is "$(get silentdot rcpt= kind)/$(get silentdot rcpt= enhanced)" "temporary/4.4.2" \
    "no reply to the final dot: temporary 4.4.2"
grep -q 'timeout in state DOT' "$LAB_DIR/silentdot.err"
ok $? "the timeout is the final dot's"

script inject <<EOF
> 220 fake
<
> 250-fake.test
> 250 STARTTLS
<
= 220 2.0.0 go ahead\r\n250 2.0.0 injected\r\n
wait
EOF
fake inject
drive inject "127.0.0.1:$FP" opportunistic
is "$(get inject conn=1 status)/$(get inject conn=1 tls)" "temporary/none" \
    "H4: bytes in the same packet as the 220 to STARTTLS abort the session"
grep -q 'tls_detail="20 bytes of plaintext after the 220 to STARTTLS"' "$LAB_DIR/inject.out"
ok $? "H4: the injected bytes are counted"
lab_wait_grep '^END' "$LAB_DIR/inject.log" 5 && ! grep -q 'MAIL' "$LAB_DIR/inject.log"
ok $? "H4: no MAIL after the injection"
done_testing
