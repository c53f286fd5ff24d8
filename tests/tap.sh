# tap.sh: TAP for shell tests. Source it: . "$top_srcdir/tests/tap.sh"
tap_n=0
tap_failed=0
ok() { # ok CONDITION-EXIT-STATUS NAME
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $tap_n - $2"; else echo "not ok $tap_n - $2"; tap_failed=$((tap_failed + 1)); fi
}
is() { # is GOT WANT NAME
	tap_n=$((tap_n + 1))
	if [ "$1" = "$2" ]; then echo "ok $tap_n - $3"; else
		echo "not ok $tap_n - $3"; echo "# got '$1', want '$2'"; tap_failed=$((tap_failed + 1)); fi
}
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
diag() { echo "# $*"; }
bail() { echo "Bail out! $*"; exit 1; }
done_testing() { echo "1..$tap_n"; [ "$tap_failed" -eq 0 ]; }
