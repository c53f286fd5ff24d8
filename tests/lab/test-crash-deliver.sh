#!/bin/sh
# Delivery durability under SIGKILL (H10 on the delivery side). Clients of
# bench/smtp-load submit messages to three domains, each with an MTA-STS
# enforce policy and an MX served by one lab sink with a valid certificate,
# and a client of our own submits messages with a recipient in each of the
# three (N/10 of them), while the relay delivers; stsrelayd is killed with
# SIGKILL at jittered moments while it is delivering (each kill waits for
# the sink to have received a share of the first half of the messages) and
# restarted on the same spool and port each time. Then, once the queue is
# empty:
#   - every message acknowledged with 250 reached the sink for each of its
#     recipients at least once, and every copy the sink holds is intact: the
#     text after the relay's Received: header has the SHA-256 the client
#     recorded; the sink holds nothing that was never sent, and no DSN;
#   - the queue is empty and nothing was ever deferred;
#   - every delivery was made under the enforce policy over verified TLS;
#   - every kill found messages still to deliver;
#   - duplicates are counted (`# duplicates: N of M`, per recipient) and
#     bounded.
#
# The bound on duplicates. The relay records the outcome of an attempt when
# the message's last recipient group is done (relay/delivery.c msg_finish),
# with queue_record_attempt(), and the delivered recipients of a group that
# is done while others of its message go on at once, with
# queue_record_delivered() (record_delivered): each one transaction, committed with
# DB_TXN_WRITE_NOSYNC, so the record is in the log file (it survives the
# death of the process, not of the machine) before the session takes its
# next message; the flush thread syncs it to disk later. After a SIGKILL a
# recipient therefore gets a message again only if the sink had accepted it
# (the sink records before it sends its 250) and
#   a) its group was still in a session: one transaction at a time per
#      session, at most delivery_concurrency sessions, so at most
#      delivery_concurrency such duplicates per kill; or
#   b) its group's record was lost: the group's "status=sent" log line
#      comes just before its record, in the same turn of the loop, so a kill
#      falls between the two for one group at most.
# The copies are told apart with the relay's own logs: each run logs
# "status=sent (250 ... queued as <the sink's message>)" just before the
# group is done, so
#   - no run may have delivered a message to a recipient twice (that would
#     be a duplicate without a kill);
#   - a copy that no run logged was in flight at a kill (a);
#   - a copy a run logged means a lost record (b), whether that run logged
#     every recipient of the message or not (a group done before the others
#     used to wait for the last one to be recorded: 9 to 53 duplicates per
#     big run): at most one per kill. With DB_TXN_NOSYNC, as
#     before, every record committed since the last log flush began was
#     lost too: up to 66 duplicates at one kill with delivery_concurrency 8,
#     137 of 323 messages in one run;
#   - (a) and lost records together: at most kills x delivery_concurrency.
# The per-kill figures printed attribute in-flight copies by the sink's
# clock, which stamps a message when it has read it, under load possibly
# after the relay died: they are for the record, not checked.
#
# make check runs ~300 + 30 messages and 4 kills; a big run from the build
# tree (a few seconds more):
#   CRASH_DELIVER_MESSAGES=3000 CRASH_DELIVER_KILLS=8 top_srcdir=.. top_builddir=. \
#       bash ../tests/lab/test-crash-deliver.sh
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_have_relay || skip_all "stsrelayd is not built"
lab_relay_can delivery || skip_all "this stsrelayd does not deliver (stsrelayd -V)"
[ -x "$top_builddir/bench/smtp-load" ] || skip_all "bench/smtp-load is not built"
lab_need openssl python3
DOMAINS=3
N=${CRASH_DELIVER_MESSAGES:-300}
KILLS=${CRASH_DELIVER_KILLS:-4}
CONC=${CRASH_DELIVER_CONCURRENCY:-8}
# Generous deadlines: the machine may be loaded, and the ASan build is slow.
DEADLINE=${CRASH_DELIVER_DEADLINE:-120}
PER=$(( (N + DOMAINS - 1) / DOMAINS ))
N=$(( PER * DOMAINS ))
LAB_TIMEOUT=30
lab_init
T0=$(date +%s)
LAB_PKI_NAMES="mx.d.test" lab_pki || bail "lab-pki.sh failed"
P=$LAB_PKI
sh "$LAB_SRC/lab-pki.sh" "$P" leaf web-all valid mta-sts.c1.test mta-sts.c1.test \
    mta-sts.c2.test mta-sts.c3.test >/dev/null 2>&1 || bail "cannot issue the policy servers' certificate"
printf 'cert %s %s\nhostname mx.d.test\nlisten mx 127.0.0.10:0\n' "$P/wildcard.pem" \
    "$P/wildcard.key" >"$LAB_DIR/sink.in"
lab_sink sink "$LAB_DIR/sink.in" || bail "lab-smtp-sink did not start"
{
	for i in $(seq "$DOMAINS"); do
		echo "c$i.test MX 10 mx$i.d.test"
		echo "mx$i.d.test A 127.0.0.10"
		echo "_mta-sts.c$i.test TXT \"v=STSv1; id=crash1;\""
		echo "mta-sts.c$i.test A 127.0.0.1"
	done
} >"$LAB_DIR/zone"
lab_dns "$LAB_DIR/zone" || bail "lab-dns did not start"
printf 'version: STSv1\nmode: enforce\nmx: *.d.test\nmax_age: 86400\n' >"$LAB_DIR/pol.txt"
printf 'cert %s %s\nhost *\n  path /.well-known/mta-sts.txt\n  body-file %s\n' \
    "$P/web-all.pem" "$P/web-all.key" "$LAB_DIR/pol.txt" >"$LAB_DIR/https.conf"
lab_https "$LAB_DIR/https.conf" || bail "lab-https did not start"

# retry_schedule = 1s: a deferral (which nothing here should cause) fails
# its own check below, not the wait for an empty queue.
OPTS="-o log_level=info -o hostname=relay.lab.test -o delivery_concurrency=$CONC
    -o delivery_concurrency_per_domain=$CONC -o retry_schedule=1s"
# shellcheck disable=SC2086
lab_relay $OPTS || bail "stsrelayd did not start (see $LAB_DIR/relay.out)"
IDX=$LAB_DIR/sink.spool/index
CTL="$top_builddir/stsrelayctl -s $LAB_DIR/relay.sock"
now_ms() { date +%s%3N; }
sink_count() { [ -f "$IDX" ] && wc -l <"$IDX" || echo 0; }

# The clients submit as fast as the relay accepts (CRASH_DELIVER_PACE
# messages a second per domain to slow them); the relay delivers meanwhile
# and, after each restart, works off what piled up with every session busy.
PACE=${CRASH_DELIVER_PACE:-0}
for i in $(seq "$DOMAINS"); do
	"$top_builddir/bench/smtp-load" -s "127.0.0.1:$LAB_RELAY_PORT" -c 3 -n "$PER" -z 2048 \
	    -f "s$i@e.test" -r "u$i@c$i.test" -p "$PACE" -R -T "$DEADLINE" -o "$LAB_DIR/load$i.log" \
	    >"$LAB_DIR/load$i.out" 2>&1 &
	eval "LPID$i=\$!"
done
# And MULTI messages with a recipient in each domain (three groups, one
# record when the last is done), from one client that reconnects as
# smtp-load -R does and writes the same SENT and ACK lines, plus the
# recipients of each message.
MULTI=${CRASH_DELIVER_MULTI:-$(( N / 10 ))}
python3 - "$LAB_RELAY_PORT" "$MULTI" "$DEADLINE" "$LAB_DIR/load0.log" >"$LAB_DIR/load0.out" 2>&1 <<'PY' &
import hashlib, os, smtplib, sys, time
port, n, deadline, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rcpts = ["m@c1.test", "m@c2.test", "m@c3.test"]
log = open(out, "a")
end = time.time() + deadline
filler = b"".join(b"%08u multi-recipient filler text to make the message about 2 KiB\r\n" % i
                  for i in range(28))
attempt = 0
for i in range(n):
    acked = False
    while not acked:
        attempt += 1
        mid = "multi-%d-%d-%d@crash.test" % (os.getpid(), i, attempt)
        msg = (b"From: <m@e.test>\r\nTo: <m@c1.test>, <m@c2.test>, <m@c3.test>\r\n"
               b"Subject: multi %d\r\nMessage-ID: <%s>\r\n\r\n" % (i, mid.encode())) + filler
        print("SENT %s %s" % (mid, hashlib.sha256(msg).hexdigest()), file=log, flush=True)
        print("TO %s %s" % (mid, ",".join(rcpts)), file=log, flush=True)
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=20) as c:
                c.ehlo("multi.test")
                if c.mail("m@e.test")[0] != 250:
                    raise smtplib.SMTPException("MAIL")
                for r in rcpts:
                    if c.rcpt(r)[0] != 250:
                        raise smtplib.SMTPException("RCPT")
                code, resp = c.data(msg)
                if code != 250:
                    raise smtplib.SMTPException("DATA %d" % code)
                print("ACK - %s" % mid, file=log, flush=True)
                acked = True
        except (OSError, smtplib.SMTPException) as e:
            if acked:
                break
            if time.time() > end:
                sys.exit("multi: %s" % e)
            time.sleep(0.02)
PY
LPID0=$!

# kill_relay: SIGKILL, wait, forget the pid (it is not ours any more).
kill_relay() {
	_p=$LAB_PID_relay
	kill -KILL "$_p" 2>/dev/null
	wait "$_p" 2>/dev/null
	LAB_PIDS=$(echo " $LAB_PIDS " | sed "s/ $_p / /")
	LAB_PID_relay=
}
# restart_relay K: the same configuration, spool and port; the log of the
# killed run is kept as relay-run-K.out (checked for sanitizer reports too).
restart_relay() {
	mv "$LAB_DIR/relay.out" "$LAB_DIR/relay-run-$1.out"
	# shellcheck disable=SC2086
	lab_spawn relay "$top_builddir/stsrelayd" -d -f "$LAB_DIR/relay.conf" $OPTS
	"$LAB_BIN/lab-port" wait "127.0.0.1:$LAB_RELAY_PORT" "$DEADLINE" >/dev/null 2>&1
}

: >"$LAB_DIR/kills"
# wait_sink COUNT: poll the sink's index every few milliseconds (the kills
# must land on a moving target) until it has COUNT lines, with the deadline.
wait_sink() {
	_end=$(( $(date +%s) + DEADLINE ))
	while [ "$(sink_count)" -lt "$1" ]; do
		[ "$(date +%s)" -lt "$_end" ] || return 1
		sleep 0.002
	done
}
k=1
# The kills fall in the first half of the deliveries, so that even on a
# loaded machine (the poll stalled, the relay not) the last one finds
# the relay busy; jitter in messages, not time (a loaded machine is slower,
# not different): anywhere in the last half of each kill's share.
STEP=$(( N / (2 * KILLS) ))
while [ "$k" -le "$KILLS" ]; do
	target=$(( k * STEP - $(od -An -N2 -tu2 /dev/urandom) % (STEP / 2 + 1) ))
	wait_sink "$target" || bail "no progress to $target messages at the sink before kill $k"
	t_kill=$(now_ms)
	kill_relay
	t_dead=$(now_ms)
	before=$(sink_count)
	restart_relay "$k" || bail "stsrelayd did not restart after kill $k"
	echo "$k $t_kill $t_dead" >>"$LAB_DIR/kills"
	diag "kill $k: SIGKILL with $before copies at the sink (target $target)"
	k=$((k + 1))
done
rc=0
for i in 0 $(seq "$DOMAINS"); do
	eval "wait \$LPID$i" || rc=1
done
ok $rc "the clients had all their messages acknowledged, across $KILLS kills"
queue_empty() { $CTL --json queue list 2>/dev/null | python3 -c '
import json, sys
sys.exit(0 if json.load(sys.stdin)["messages"] == [] else 1)'; }
lab_wait_until "$DEADLINE" queue_empty
ok $? "the queue ends empty: nothing stuck, nothing left deferred"
if ! queue_empty; then
	$CTL queue list 2>&1 | sed -n '1,20s/^/# /p'
fi

cat "$LAB_DIR"/load[0-9]*.log >"$LAB_DIR/load.all"
python3 - "$LAB_DIR/load.all" "$IDX" "$LAB_DIR/sink.spool" "$LAB_DIR/kills" "$CONC" \
    "$LAB_DIR" >"$LAB_DIR/verify.out" 2>&1 <<'PY'
import calendar, hashlib, os, re, sys, time
loadlog, idx, spool, killfile, conc, labdir = sys.argv[1:7]
conc = int(conc)
sent, acked, expect = {}, [], {}
for line in open(loadlog):
    f = line.split()
    if f[0] == "SENT":
        sent[f[1]] = f[2]
    elif f[0] == "ACK":
        acked.append(f[2])
    elif f[0] == "TO":
        expect[f[1]] = set(f[2].split(","))
# Per kill, in ms: just before the SIGKILL, and once the relay was gone.
kills = [tuple(int(x) for x in l.split()[1:3]) for l in open(killfile)]
# The run of the relay that read the sink's 250 for each copy: its log
# says "status=sent (250 ... queued as <the sink's msg>)". A copy no run
# logged is one whose 250 never reached the relay: it was killed first.
runs = ["relay-run-%d.out" % (n + 1) for n in range(len(kills))] + ["relay.out"]
run_of, qid_of, logged = {}, {}, []
sent_re = re.compile(r" (\w+): to=<([^>]*)> .* status=sent \(250 .*queued as (\S+)\)")
for r, name in enumerate(runs):
    seen = set()
    for line in open(os.path.join(labdir, name), errors="replace"):
        m = sent_re.search(line)
        if not m:
            continue
        if m.group(1, 2) in seen:
            print("PROBLEM: run", r + 1, "delivered", m.group(1, 2), "twice")
        seen.add(m.group(1, 2))
        run_of[m.group(3)] = r
        qid_of[m.group(3)] = m.group(1)
    logged.append(seen)
problems = 0
def problem(*a):
    global problems
    print("PROBLEM:", *a)
    problems += 1
def ms_of(stamp):  # 2026-01-02T03:04:05.678Z
    t, frac = stamp.rstrip("Z").split(".")
    return calendar.timegm(time.strptime(t, "%Y-%m-%dT%H:%M:%S")) * 1000 + int(frac[:3])
copies = {}         # (message-id, recipient) -> [(ms, run or None, sink msg)]
dsns = 0
for line in open(idx):
    stamp = line.split(" ", 1)[0]
    fields = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line))
    if fields.get("from") == "<>":
        dsns += 1
        continue
    data = open(os.path.join(spool, fields["file"]), "rb").read()
    lines = data.split(b"\r\n")
    if not lines[0].startswith(b"Received:"):
        problem("no Received: first in", fields["file"]); continue
    i = 1
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
    body = b"\r\n".join(lines[i:])
    m = re.search(rb"^Message-ID: <([^>]*)>", body, re.M | re.I)
    mid = m.group(1).decode() if m else None
    if mid not in sent:
        problem("the sink holds a message never sent:", fields["file"], mid); continue
    if hashlib.sha256(body).hexdigest() != sent[mid]:
        problem("corrupt body in", fields["file"], "for", mid)
    for to in fields["to"].split(","):
        copies.setdefault((mid, to.strip("<>")), []).append(
            (ms_of(stamp), run_of.get(fields["msg"]), fields["msg"]))
if dsns:
    problem(dsns, "DSN(s) reached the sink")
rcpts = {}
for mid, rcpt in copies:
    rcpts.setdefault(mid, []).append(rcpt)
for mid in acked:
    if mid not in rcpts:
        problem("acknowledged", mid, "never reached the sink")
    elif mid in expect and set(rcpts[mid]) != expect[mid]:
        problem("acknowledged", mid, "reached the sink for", rcpts[mid], "only")
    elif mid not in expect and len(rcpts[mid]) != 1:
        problem("acknowledged", mid, "reached the sink for", rcpts[mid])
# Duplicates (see the header): the copy of the last run that logged one is
# the one that counted; every other copy was in flight at a kill, or its
# run had not logged all the recipients (a group not done), or its record
# was lost.
dups = lost = flight = partial = 0
per_kill = [[] for _ in kills]
for key, cs in copies.items():
    cs.sort(key=lambda c: c[0])
    acked_runs = [r for _, r, _ in cs if r is not None]
    if len(acked_runs) != len(set(acked_runs)):
        problem(key, "acknowledged twice to the same run")
    last = max(acked_runs, default=None)
    for t, r, msg in cs:
        if r is not None and r == last:
            continue
        dups += 1
        if r is None:
            flight += 1
            n = min(range(len(kills)), key=lambda n: abs(kills[n][0] - t))
        else:
            n = r
            # Each group's delivered recipients are recorded when it is
            # done: a logged copy is a lost record either way.
            if any((qid_of[msg], x) not in logged[r] for x in expect.get(key[0], ())):
                partial += 1
            else:
                lost += 1
        per_kill[n].append(kills[n][0] - t)
firsts = [cs[0][0] for cs in copies.values()]
for n, (tk, td) in enumerate(kills):
    left = sum(1 for t in firsts if t > td)
    print("kill %d: %d messages still to deliver; %d duplicates (first copies %s ms "
          "before the kill)" % (n + 1, left, len(per_kill[n]),
          ",".join(str(x) for x in sorted(per_kill[n])) or "-"))
    if left == 0:
        problem("kill", n + 1, "came after the last delivery")
print("duplicates in flight at a kill: %d, with the result lost: %d, of a message with a "
      "group not done: %d" % (flight, lost, partial))
# The log line of the last group comes just before the record, in one turn
# of the loop: a kill lands between the two for one message at most.
if lost + partial > len(kills):
    problem(lost + partial, "duplicates whose 250 the relay had logged: results were lost")
if flight + lost + partial > conc * len(kills):
    problem(flight + lost + partial, "duplicates, more than", len(kills), "kills x delivery_concurrency", conc)
print("delivered %d of %d acknowledged (%d sent); %d copies at the sink" % (
    sum(1 for m in acked if m in rcpts), len(acked), len(sent),
    sum(len(cs) for cs in copies.values())))
print("duplicates: %d of %d" % (dups, len(copies)))
print("problems", problems)
sys.exit(1 if problems else 0)
PY
rc=$?
sed 's/^/# /' "$LAB_DIR/verify.out"
ok $rc "H10: every acknowledged message delivered intact to each recipient; duplicates only from kills: lost records at most one per kill, with those in flight at most kills x delivery_concurrency"
grep -q '^duplicates: ' "$LAB_DIR/verify.out"
ok $? "the verifier read the sink"
n_acked=$(cat "$LAB_DIR"/load[1-9]*.log | grep -c '^ACK')
n_multi=$(grep -c '^ACK' "$LAB_DIR/load0.log")
[ "$n_acked" -ge "$N" ] && [ "$n_multi" -eq "$MULTI" ]
ok $? "the clients recorded at least $N + $MULTI acknowledgements (got $n_acked + $n_multi)"
! grep -q 'non-delivery notification\|status=bounced' "$LAB_DIR"/relay*.out
ok $? "no recipient bounced, no DSN made"
cat "$LAB_DIR"/relay*.out | grep 'status=sent' >"$LAB_DIR/sent.log"
bad=$(grep -v 'verified=yes policy=enforce' "$LAB_DIR/sent.log" | head -n 5)
[ -s "$LAB_DIR/sent.log" ] && [ -z "$bad" ]
ok $? "S27: every delivery under the enforce policy, over verified TLS"
[ -z "$bad" ] || echo "$bad" | sed 's/^/# /'
deferred=$(cat "$LAB_DIR"/relay*.out | grep -c 'status=deferred' || true)
[ "$deferred" -eq 0 ]
ok $? "nothing was deferred: a kill costs no retry interval (got $deferred)"
lab_stop relay
grep -q 'stsrelayd stopped' "$LAB_DIR/relay.out"
ok $? "stsrelayd stops cleanly after the crashes"
diag "$N messages, $KILLS kills, delivery_concurrency $CONC: $(( $(date +%s) - T0 )) s"
done_testing
