#!/usr/bin/env bash
# sunsync_verify of one owner (>= 1,000,000 rows) against a full sync of
# the same rows between the same two clusters: the two alternate, REPS
# times; the script prints each time, the verdict of every verify (all
# tables ok on the exact copy) and the median ratio verify / full sync.
#   bench/verify.sh [lessons] [reps]
set -euo pipefail
cd "$(dirname "$0")/.."
LESSONS=${1:-1000000}
REPS=${2:-3}
scripts/setup.sh >/dev/null
command -v bc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bc >/dev/null
export PATH=/usr/lib/postgresql/15/bin:$PATH
source test/lib/cluster.sh

conf=("shared_buffers = 1GB" "max_wal_size = 4GB" "checkpoint_timeout = 30min")
cluster_start bench-source 55460 trust "shared_preload_libraries = 'sunsync'" \
	"sunsync.allow_private_targets = on" "${conf[@]}"
cluster_start bench-target 55461 trust "${conf[@]}"
# KEEP=1 leaves the clusters running (to look into them; stop with cluster_stop)
[ -n "${KEEP:-}" ] || trap 'cluster_stop bench-source; cluster_stop bench-target' EXIT
src() { cluster_psql bench-source -d app -Atq "$@"; }
cluster_psql bench-source -qc "CREATE DATABASE app"
cluster_psql bench-target -qc "CREATE DATABASE viasunsync"
src -c "CREATE EXTENSION sunsync"
src -f examples/sunschool/schema.sql -f examples/sunschool/generate.sql >/dev/null
src -c "SELECT * FROM sunschool_generate(5, 3, 20, $LESSONS)" >/dev/null
src -f examples/sunschool/scope.sql >/dev/null
src -c "VACUUM ANALYZE"
id=$(src -c "SELECT sunsync_create_config(1, 'postgresql://postgres@127.0.0.1:55461/viasunsync')")
src -c "SELECT sunsync_push($id, true)" >/dev/null
cluster_psql bench-target -d viasunsync -qc "VACUUM ANALYZE"
rows=$(src -c "SELECT rows_upserted FROM sunsync_history ORDER BY run_id DESC LIMIT 1")

timed() {
	local t0; t0=$(date +%s.%N)
	src -c "$1" >"$2"
	echo "$(date +%s.%N) - $t0" | bc
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
verdict=$(mktemp)
echo "rows per sync: $rows (family 1, 12 tables)"
printf '%-4s %11s %9s %7s  %s\n' rep full_sync_s verify_s ratio verdict
ratios=()
for r in $(seq 1 "$REPS"); do
	s=$(timed "SELECT sunsync_push($id, wait => true, full => true)" /dev/null)
	v=$(timed "SELECT count(*) FILTER (WHERE ok) || '/' || count(*) || ' tables ok, ' || sum(source_rows)
	           || ' source rows, ' || sum(target_rows) || ' target rows, ' || sum(pending) || ' pending'
	           FROM sunsync_verify($id)" "$verdict")
	ratio=$(echo "scale=3; $v / $s" | bc)
	ratios+=("$ratio")
	printf '%-4s %11.3f %9.3f %7.3f  %s\n' "$r" "$s" "$v" "$ratio" "$(cat "$verdict")"
done
rm -f "$verdict"
echo "median ratio verify / full sync: $(median "${ratios[@]}")"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), PostgreSQL $(pg_config --version | cut -d' ' -f2)"
