#!/bin/sh
# The outbound SMTP client's transactions against the lab's sink: per-recipient
# results, pipelining on and off, two messages over one connection, RSET when
# every recipient fails, H8 (8BITMIME, SMTPUTF8), SIZE, H2 on the wire, and
# connection failures and timeouts (RFC 5321 4.5.3.2, 4.4.1 / 4.4.2).
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
. "$top_srcdir/tests/lab/test-client-lib.sh"
lab_need openssl perl sha256sum
lab_init
lab_pki || bail "lab-pki.sh failed"
P=$LAB_PKI

cat >"$LAB_DIR/sink.in" <<EOF
hostname mx1.d.test
cert $P/valid.pem $P/valid.key
rcpt temp@* 451 4.2.1 mailbox busy
rcpt perm@* 550 5.1.1 no such user
listen mx 127.0.0.2:0
listen seven 127.0.0.3:0
8bitmime no
smtputf8 no
listen small 127.0.0.4:0
max-size 1k
listen bounce 127.0.0.5:0
data-reply 554 5.6.0 content rejected
listen later 127.0.0.6:0
data-reply 451 4.3.0 try again later
listen closed 127.0.0.7:0
greeting 554 5.3.2 not accepting mail
listen allfail 127.0.0.8:0
listen allfailp 127.0.0.9:0
listen one 127.0.0.10:0
listen nopipe 127.0.0.11:0
EOF
client_sink "$LAB_DIR/sink.in"

# --- per-recipient results (RFC 5321 3.3)
drive rcpts "127.0.0.2:$S" verify -r ok1@d.test -r temp@d.test -r perm@d.test -r ok2@d.test
is "$(get rcpts rcpt=ok1@ kind)/$(get rcpts rcpt=temp@ kind)/$(get rcpts rcpt=perm@ kind)/$(get rcpts rcpt=ok2@ kind)" \
    "ok/temporary/permanent/ok" "each recipient has its own result"
is "$(get rcpts rcpt=temp@ code) $(get rcpts rcpt=temp@ enhanced) $(get rcpts rcpt=perm@ code) $(get rcpts rcpt=perm@ enhanced)" \
    "451 4.2.1 550 5.1.1" "H9: the remote's codes and enhanced codes per recipient"
is "$(get rcpts msg=1 delivered)" 2 "the final reply applies to the two accepted recipients"
lab_wait_grep 'to=<ok1@d.test>,<ok2@d.test> ' "$IDX" 5
ok $? "the sink has one message for the two accepted recipients"

# --- PIPELINING (RFC 2920): MAIL, RCPTs and DATA in one go, or one by one
drive pipe "127.0.0.2:$S" verify -v -r a@d.test -r b@d.test
first() { grep -n -- "$2" "$LAB_DIR/$1.err" | head -1 | cut -d: -f1; }
[ -n "$(first pipe '>>> DATA')" ] && [ "$(first pipe '>>> DATA')" -lt "$(first pipe '<<< 250 2.1.0')" ]
ok $? "PIPELINING offered: DATA sent before the reply to MAIL"
drive nopipe "127.0.0.11:$S" verify -v -P -r a@d.test -r b@d.test
[ -n "$(first nopipe '>>> DATA')" ] && [ "$(first nopipe '>>> DATA')" -gt "$(first nopipe '<<< 250 2.1.5')" ] &&
    [ "$(first nopipe '>>> RCPT')" -gt "$(first nopipe '<<< 250 2.1.0')" ]
ok $? "no pipelining: RCPT after the reply to MAIL, DATA after the RCPT replies"
is "$(get nopipe msg=1 delivered)" 2 "no pipelining: delivered to both"

# --- connection reuse: two messages over one connection
drive two "127.0.0.10:$S" verify -k 2 -r two@d.test
is "$(get two msg=2 conn)/$(get two msg=2 delivered)/$(get two done connections)" "1/1/1" \
    "two messages over one connection"
lab_wait_count 'listener=one .*to=<two@d.test>' "$IDX" 2 5
ok $? "the sink recorded both"
is "$(grep 'listener=one ' "$IDX" | sed 's/.* peer=\([^ ]*\) .*/\1/' | sort -u | wc -l | tr -d ' ')" 1 \
    "both came from the same client port (one connection)"

# --- every recipient refused: RSET instead of the message
drive allfail "127.0.0.8:$S" verify -r temp@d.test -r perm@d.test
is "$(get allfail msg=1 delivered)/$(get allfail msg=1 data_sent)" "0/no" "all recipients refused: no message sent"
lab_wait_grep 'listener=allfail C: RSET' "$LOG" 5
ok $? "all recipients refused (pipelined): RSET"
drive allfailp "127.0.0.9:$S" verify -P -r temp@d.test -r perm@d.test
lab_wait_grep 'listener=allfailp C: RSET' "$LOG" 5 && ! grep -q 'listener=allfailp C: DATA' "$LOG"
ok $? "all recipients refused (one by one): RSET, DATA never sent"

# --- H8: 8BITMIME and SMTPUTF8; SIZE (RFC 1870)
drive eight "127.0.0.3:$S" verify -8
is "$(get eight rcpt= kind)/$(get eight rcpt= enhanced)/$(get eight msg=1 data_sent)" "permanent/5.6.3/no" \
    "H8: 8-bit message to a server without 8BITMIME fails permanently with 5.6.3"
drive utf8 "127.0.0.3:$S" verify -u
is "$(get utf8 rcpt= kind)/$(get utf8 rcpt= enhanced)" "permanent/5.6.7" \
    "H8: SMTPUTF8 message to a server without SMTPUTF8 fails permanently with 5.6.7"
no_mail seven
ok $? "H8: nothing was sent to the server without 8BITMIME/SMTPUTF8"
drive params "127.0.0.2:$S" verify -8 -u -s 200
lab_wait_grep 'to=<params@d.test> .*mail_params="BODY=8BITMIME SMTPUTF8 SIZE=200"' "$IDX" 5
ok $? "MAIL FROM carries BODY=8BITMIME, SMTPUTF8 and SIZE= when offered"
drive big "127.0.0.4:$S" verify -s 5000
is "$(get big rcpt= kind)/$(get big rcpt= enhanced)/$(get big msg=1 data_sent)" "permanent/5.3.4/no" \
    "H7: declared size over the server's SIZE fails permanently with 5.3.4"
no_mail small
ok $? "H7: nothing sent to the server whose SIZE is too small"

# --- the final reply
drive bounce "127.0.0.5:$S" verify
is "$(get bounce rcpt= kind)/$(get bounce rcpt= code)/$(get bounce rcpt= enhanced)" "permanent/554/5.6.0" \
    "a 554 after the dot fails the accepted recipient permanently"
drive later "127.0.0.6:$S" verify
is "$(get later rcpt= kind)/$(get later rcpt= code)/$(get later rcpt= enhanced)" "temporary/451/4.3.0" \
    "a 451 after the dot fails the accepted recipient temporarily"

# --- addresses that cannot go on the wire as they are (no command injection)
drive crlf "127.0.0.10:$S" verify -r "$(printf 'x@d.test>\r\nRSET')" -r crlfok@d.test
is "$(get crlf 'rcpt=x@' kind)/$(get crlf 'rcpt=x@' enhanced)/$(get crlf rcpt=crlfok@ kind)" \
    "permanent/5.1.3/ok" "a recipient with CR LF is refused by the client, the others go"
! grep -q 'listener=one C: RSET' "$LOG"
ok $? "nothing of it reached the server"

# --- null sender
drive nullsender "127.0.0.2:$S" verify -f ''
lab_wait_grep 'to=<nullsender@d.test> ' "$IDX" 5 && grep -q 'C: MAIL FROM:<>' "$LOG"
ok $? "the null sender is sent as MAIL FROM:<>"

# --- H2: whatever the stored body holds, only CRLF and dot-stuffing on the wire
printf 'Received: from lab\r\nSubject: h2\r\n\r\na\n.\nb\r.\rc\r.\nd\n.\re\n.\r\nf\r\n.\ng\r.\r\nh\r\n.\ri\r\n\000.\r\nj\r\r\nk\r\n.\r\n..\r\n.x\r\nend' \
    >"$LAB_DIR/h2.body"
perl -e 'local $/; $_ = <STDIN>; s/\0//g; s/\r\n|\r|\n/\r\n/g; $_ .= "\r\n" unless /\r\n\z/; print' \
    <"$LAB_DIR/h2.body" >"$LAB_DIR/h2.expected"
drive h2 "127.0.0.2:$S" verify -b "$LAB_DIR/h2.body"
is "$(get h2 rcpt= kind)" ok "H2: the message with every bare CR/LF variant is delivered"
[ "$(get h2 msg=1 repairs)" -gt 0 ]
ok $? "H2: the repairs are counted (a bug upstream), got $(get h2 msg=1 repairs)"
lab_wait_grep 'to=<h2@d.test> .*bare_lf=0 bare_cr=0' "$IDX" 5
ok $? "H2: the sink saw no bare LF and no bare CR"
f=$LAB_DIR/sink.spool/$(grep 'to=<h2@d.test> ' "$IDX" | sed 's/.* file=\([^ ]*\) .*/\1/')
is "$(sha256sum <"$f" | cut -d' ' -f1)" "$(sha256sum <"$LAB_DIR/h2.expected" | cut -d' ' -f1)" \
    "H2/H1: the sink stored every line (dots unstuffed), CRLF only, nothing cut short"

# --- a large body goes out in blocks as the connection drains
perl -e 'print "Received: from lab\r\nSubject: big\r\n\r\n";
    for my $i (1 .. 80000) { print(($i % 3 ? "" : ".") . ("x" x 75) . "\r\n"); }' >"$LAB_DIR/big.body"
drive bigbody "127.0.0.2:$S" verify -v -b "$LAB_DIR/big.body" -s "$(wc -c <"$LAB_DIR/big.body" | tr -d ' ')"
is "$(get bigbody rcpt= kind)/$(get bigbody msg=1 repairs)" "ok/0" "a 6 MB message is delivered, nothing repaired"
lab_wait_grep 'to=<bigbody@d.test> ' "$IDX" 10
f=$LAB_DIR/sink.spool/$(grep 'to=<bigbody@d.test> ' "$IDX" | sed 's/.* file=\([^ ]*\) .*/\1/')
is "$(sha256sum <"$f" | cut -d' ' -f1)" "$(sha256sum <"$LAB_DIR/big.body" | cut -d' ' -f1)" \
    "the 6 MB message arrives intact, dot-stuffing undone by the sink"
[ "$(grep -c -- '-> BODY' "$LAB_DIR/bigbody.err")" -gt 10 ]
ok $? "the body went out in blocks, each with its own timeout"

# --- connection failures and timeouts
FREE=$("$LAB_BIN/lab-port" free 127.0.0.1)
drive refused "127.0.0.1:$FREE" verify
is "$(get refused conn=1 status)/$(get refused conn=1 enhanced)" "temporary/4.4.1" \
    "connection refused: temporary, 4.4.1"
drive closed "127.0.0.7:$S" verify
is "$(get closed conn=1 status)/$(get closed conn=1 code)/$(get closed conn=1 enhanced)" "permanent/554/5.3.2" \
    "a 554 greeting: the remote's reply, permanent"
SILENT=$("$LAB_BIN/lab-port" free 127.0.0.1)
lab_spawn silent perl -MIO::Socket::INET -e \
    '$s = IO::Socket::INET->new(Listen => 5, LocalAddr => "127.0.0.1:'"$SILENT"'", ReuseAddr => 1) or die; sleep 60'
"$LAB_BIN/lab-port" wait "127.0.0.1:$SILENT" 10 || bail "silent listener did not start"
drive silent "127.0.0.1:$SILENT" verify -t 1000
is "$(get silent conn=1 status)/$(get silent conn=1 enhanced)" "temporary/4.4.2" \
    "no greeting within the timeout: temporary, 4.4.2"
grep -q 'timeout in state GREETING' "$LAB_DIR/silent.err"
ok $? "the timeout is the greeting's (per-state table)"
done_testing
