#!/usr/bin/env bash
# Builds the libFuzzer targets of test/fuzz (clang-14, with ASan + UBSan)
# and runs each from its seed corpus (test/fuzz/corpus/<target>) for RUNS
# inputs (default 100000; 0 runs until stopped), seed 1.  The committed
# corpus is not changed: new inputs go to a copy.  A finding (a crash, a
# sanitizer report, a broken invariant) is saved as build-fuzz/crash-* and
# fails the target.  One line per target: "ok - fuzz TARGET: N runs" or
# "FAILED: fuzz TARGET".
#   scripts/fuzz.sh [runs] [target...]      e.g. scripts/fuzz.sh 0 url
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-100000}
shift $(($# > 0 ? 1 : 0))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(url address mask_text via)
dir=build-fuzz
if ! { cmake -S . -B "$dir" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSUNSYNC_FUZZ=ON &&
	cmake --build "$dir" -j2 --target "${targets[@]/%/_fuzz}"; } >"$dir.log" 2>&1; then
	cat "$dir.log"
	for t in "${targets[@]}"; do echo "FAILED: fuzz $t (build)"; done
	exit 1
fi
status=0
for t in "${targets[@]}"; do
	work=$(mktemp -d)
	cp -r "test/fuzz/corpus/$t/." "$work/"
	if (cd "$dir" && ./"${t}_fuzz" -runs="$RUNS" -seed=1 -max_len=4096 -artifact_prefix="$PWD/" "$work" >"$t.log" 2>&1); then
		done_runs=$(grep -oE 'Done [0-9]+ runs' "$dir/$t.log" | grep -oE '[0-9]+' || echo "$RUNS")
		echo "ok - fuzz $t: $done_runs runs, no finding"
	else
		grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$dir/$t.log" | head -8
		echo "FAILED: fuzz $t"
		status=1
	fi
	rm -rf "$work"
done
exit $status
