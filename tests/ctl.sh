#!/bin/sh
# ctl.sh: stsrelayctl without a daemon: exit codes and messages people see.
. "$top_srcdir/tests/tap.sh"
ctl="$top_builddir/stsrelayctl"
[ -x "$ctl" ] || skip_all "stsrelayctl not built"
tmp=$(mktemp -d) || bail "mktemp"
trap 'rm -rf "$tmp"' EXIT

"$ctl" -s "$tmp/none.sock" status >"$tmp/out" 2>"$tmp/err"
is "$?" 69 "no daemon: exit 69 (EX_UNAVAILABLE)"
is "$(cat "$tmp/err")" "stsrelayctl: cannot connect to $tmp/none.sock: is stsrelayd running? (No such file or directory)" \
    "no daemon: says so, naming the socket"

# A socket file whose daemon is gone: connection refused.
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$tmp/dead.sock" 2>/dev/null
if [ -S "$tmp/dead.sock" ]; then
	"$ctl" -s "$tmp/dead.sock" queue list >/dev/null 2>"$tmp/err"
	is "$?" 69 "dead daemon: exit 69"
	is "$(cat "$tmp/err")" "stsrelayctl: cannot connect to $tmp/dead.sock: is stsrelayd running? (Connection refused)" \
	    "dead daemon: connection refused explained"
fi

# The socket comes from the configuration file.
printf 'control_socket = %s/from-config.sock\n' "$tmp" >"$tmp/c.conf"
"$ctl" -f "$tmp/c.conf" status 2>"$tmp/err"
is "$?" 69 "config: the socket of -f is used"
grep -q "from-config.sock" "$tmp/err"; ok $? "config: error names the configured socket"
"$ctl" -f "$tmp/c.conf" -o control_socket="$tmp/o.sock" status 2>"$tmp/err"
grep -q "$tmp/o.sock" "$tmp/err"; ok $? "config: -o overrides the file"

printf 'bogus = 1\n' >"$tmp/bad.conf"
"$ctl" -f "$tmp/bad.conf" status 2>"$tmp/err"
is "$?" 78 "bad config: exit 78 (EX_CONFIG)"
is "$(cat "$tmp/err")" "stsrelayctl: $tmp/bad.conf:1: unknown key \"bogus\" (see stsrelay.conf(5) for the list)" \
    "bad config: file:line and the key"
"$ctl" -f "$tmp/missing.conf" status 2>/dev/null
is "$?" 78 "missing config given with -f: exit 78"

"$ctl" >/dev/null 2>"$tmp/err"
is "$?" 64 "no command: exit 64 (EX_USAGE)"
grep -q "^usage: stsrelayctl" "$tmp/err"; ok $? "no command: usage text"
"$ctl" frobnicate 2>"$tmp/err"
is "$?" 64 "unknown command: exit 64"
grep -q "unknown command: frobnicate" "$tmp/err"; ok $? "unknown command: named"
"$ctl" queue show 2>"$tmp/err"
is "$?" 64 "queue show without ID: exit 64"
is "$(cat "$tmp/err")" "usage: stsrelayctl [options] queue show ID" "queue show without ID: usage of that command"
"$ctl" -t 0 status 2>/dev/null
is "$?" 64 "-t 0 refused"
"$ctl" --bogus status 2>/dev/null
is "$?" 64 "unknown option: exit 64"
"$ctl" --help >"$tmp/out"
is "$?" 0 "--help: exit 0"
grep -q "queue flush \[ID\]" "$tmp/out"; ok $? "--help lists the commands"

"$ctl" -f "$top_srcdir/etc/stsrelay.conf" config >"$tmp/out"
is "$?" 0 "config: etc/stsrelay.conf checks out"
grep -q "^listen = 127.0.0.1:2525$" "$tmp/out"; ok $? "config: prints effective values"
"$ctl" -f "$tmp/out" config >"$tmp/out2"
cmp -s "$tmp/out" "$tmp/out2"; ok $? "config: its output reads back the same"
done_testing
