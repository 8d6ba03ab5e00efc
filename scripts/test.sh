#!/usr/bin/env bash
# Runs every test of sunsync and ends with one line "N passed, N failed".
#   unit      GoogleTest (ctest), no server; again under ASan + UBSan
#   fuzz      libFuzzer targets of test/fuzz, fixed runs (scripts/fuzz.sh)
#   regress   pg_regress suites in sql/, on a temporary instance it starts itself
#   pgtap     pgTAP suites in test/pgtap/, run by pg_prove on a throwaway cluster
#   checks    what the suites cannot see from inside: server log, key file mode
#   tap       integration tests across two clusters (test/tap/t), scripts/tap.sh
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
export PATH=/usr/lib/postgresql/15/bin:$PATH
source test/lib/cluster.sh

passed=0
failed=0
pass() { passed=$((passed + $1)); }
fail() { failed=$((failed + $1)); [ -n "${2:-}" ] && echo "FAILED: $2"; }
check() { # check NAME COMMAND...: one test that passes when the command does
	local name=$1; shift
	if "$@"; then pass 1; echo "ok - $name"; else fail 1 "$name"; fi
}

# unit_tests TITLE BUILD_DIR [CMAKE_ARGS...]: build the GoogleTest suite, run it with ctest
unit_tests() {
	local title=$1 dir=$2; shift 2
	echo "== $title"
	if cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug "$@" >"$dir.log" 2>&1 && cmake --build "$dir" -j2 >>"$dir.log" 2>&1; then
		out=$(cd "$dir" && ctest 2>&1)
		echo "$out" | tail -n 3
		total=$(echo "$out" | sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p')
		bad=$(echo "$out" | sed -n 's/.*, \([0-9]*\) tests failed out of.*/\1/p')
		pass $((${total:-0} - ${bad:-0})); fail ${bad:-0}
		[ -z "$total" ] && fail 1 "ctest printed no summary ($title)"
		[ "${bad:-0}" -gt 0 ] && (cd "$dir" && ctest --output-on-failure 2>&1 | grep -E "ERROR: (Address|Undefined)Sanitizer|runtime error|Failure" | head -20)
	else
		cat "$dir.log"; fail 1 "unit test build ($title)"
	fi
}
unit_tests "unit tests (GoogleTest)" build
# the same tests under AddressSanitizer + UndefinedBehaviorSanitizer: a
# finding aborts the test (-fno-sanitize-recover=all), which fails it
unit_tests "unit tests under ASan + UBSan" build-sanitize -DSUNSYNC_SANITIZE=ON

echo "== fuzzing (libFuzzer, ASan + UBSan): the parsers of text a user supplies"
out=$(scripts/fuzz.sh 200000 2>&1)
echo "$out" | grep -E '^(ok - |FAILED)' || echo "$out"
pass "$(echo "$out" | grep -c '^ok - ')"
n_bad=$(echo "$out" | grep -c '^FAILED')
fail "$n_bad"
[ "$(echo "$out" | grep -cE '^(ok - |FAILED)')" -eq 0 ] && fail 1 "fuzzing ran no target"

echo "== pg_regress"
work=/tmp/sunsync-regress
rm -rf "$work" && mkdir -p "$work"
cp -r sql expected test/regress.conf "$work/"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"
tests=$(sed -n 's/^REGRESS = //p' Makefile)
out=$(cd "$work" && as_postgres "$(pg_config --pkglibdir)/pgxs/src/test/regress/pg_regress" \
	--temp-instance="$work/tmp_check" --temp-config="$work/regress.conf" \
	--inputdir="$work" --outputdir="$work" --bindir=/usr/lib/postgresql/15/bin \
	--port=58432 $tests 2>&1)
echo "$out" | grep -E '^(test|     |ok|not ok)|tests (passed|failed)' || echo "$out"
n_ok=$(echo "$out" | grep -cE '^(test |ok ).* ok ' || true)
n_bad=$(echo "$out" | grep -cE 'FAILED|^not ok' || true)
pass "$n_ok"; fail "$n_bad"
[ "$n_bad" -gt 0 ] && [ -f "$work/regression.diffs" ] && head -n 200 "$work/regression.diffs"
[ $((n_ok + n_bad)) -eq 0 ] && fail 1 "pg_regress ran no test"
log="$work/log/postmaster.log"
check "server log of the regress run holds no password" \
	bash -c "test -s '$log' && ! grep -qE 'S3cret|Sup3r|N3w' '$log'"

echo "== pgTAP (pg_prove)"
if ls test/pgtap/*.sql >/dev/null 2>&1; then
	cluster_start pgtap 58433 trust "shared_preload_libraries = 'sunsync'" "sunsync.launch_continuous = off" || fail 1 "pgtap cluster"
	cluster_psql pgtap -q -c "CREATE EXTENSION pgtap" >/dev/null
	suites="$(cluster_dir pgtap)/src"  # the suites include files of examples/
	mkdir -p "$suites/test" && cp -r test/pgtap "$suites/test/" && cp -r examples "$suites/"
	[ "$(id -u)" = 0 ] && chown -R postgres: "$suites"
	out=$(as_postgres pg_prove -v -h "$(cluster_dir pgtap)" -p 58433 -U postgres -d postgres \
		"$suites"/test/pgtap/*.sql 2>&1)
	echo "$out" | grep -E '\.sql \.\.|^(not ok|# )|Result|Dubious|Parse errors' | head -n 100
	n_ok=$(echo "$out" | grep -cE '^ok ' || true)
	n_bad=$(echo "$out" | grep -cE '^not ok ' || true)
	pass "$n_ok"; fail "$n_bad"
	echo "$out" | grep -q "Result: PASS" || fail 1 "pg_prove did not pass"
	check "key file sunsync.key was created with mode 0600" \
		bash -c "test \"\$(stat -c %a '$(cluster_dir pgtap)/data/sunsync.key')\" = 600"
	check "server log of the pgTAP run holds no password" \
		bash -c "! grep -qE 'S3cret' '$(cluster_dir pgtap)/server.log'"
	cluster_stop pgtap
fi

echo "== integration (two clusters, TAP)"
out=$(scripts/tap.sh 2>&1)
echo "$out" | grep -E '^t/|^not ok|^#   Failed|Result|Files=' | head -n 80
n_ok=$(echo "$out" | grep -cE '^ok ' || true)
n_bad=$(echo "$out" | grep -cE '^not ok ' || true)
pass "$n_ok"; fail "$n_bad"
echo "$out" | grep -q "^Result: PASS" || fail 1 "integration tests did not pass"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
