#!/bin/sh
# STYLE.md: folders are libraries with a direction. common/ includes no other
# folder; policy/ and queue/ include only common/ (never each other); relay/
# uses only policy/policy.h and queue/queue.h from those two.
. "$top_srcdir/tests/tap.sh"
cd "$top_srcdir" || bail "no source tree"

check() { # check NAME FOLDER ALLOWED-REGEX
	bad=$(grep -HnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$2"/*.c "$2"/*.h 2>/dev/null |
	    sed -nE 's/^([^:]+:[0-9]+):.*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1 \2/p' |
	    awk -v ok="$3" '{ if ($2 !~ ok) print }')
	if [ -z "$bad" ]; then ok 0 "$1"; else ok 1 "$1"; echo "$bad" | sed 's/^/# breaks the rule: /'; fi
}

check "common/ includes only common/" common '^(common/|config\.h$)'
check "queue/ includes only common/ and queue/" queue '^(common/|queue/|config\.h$)'
check "policy/ includes only common/ and policy/" policy '^(common/|policy/|config\.h$)'
check "relay/ uses only the public headers of queue/ and policy/" relay \
    '^(common/|relay/|queue/queue\.h$|policy/policy\.h$|config\.h$)'
done_testing
