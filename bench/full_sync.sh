#!/usr/bin/env bash
# Full sync of one owner (>= 1,000,000 rows) against a raw binary
#   psql -c "COPY (...) TO STDOUT (FORMAT binary)" | psql -c "COPY ... FROM STDIN (FORMAT binary)"
# pipe of the same rows between the same two clusters, table by table, into
#   pipe_fk:   the schema sunsync creates (same tables, keys, foreign keys);
#   pipe_bare: the same tables without foreign keys (data movement alone).
# The three alternate, REPS times; the script prints each time and the
# median ratios.
#   bench/full_sync.sh [lessons] [reps]
set -euo pipefail
cd "$(dirname "$0")/.."
LESSONS=${1:-1000000}
REPS=${2:-5}
scripts/setup.sh >/dev/null
command -v bc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bc >/dev/null
export PATH=/usr/lib/postgresql/15/bin:$PATH
source test/lib/cluster.sh

conf=("shared_buffers = 1GB" "max_wal_size = 4GB" "checkpoint_timeout = 30min")
cluster_start bench-source 55460 trust "shared_preload_libraries = 'sunsync'" \
	"sunsync.allow_private_targets = on" "${conf[@]}"
cluster_start bench-target 55461 trust "${conf[@]}"
trap 'cluster_stop bench-source; cluster_stop bench-target' EXIT
src() { cluster_psql bench-source -d app -Atq "$@"; }
cluster_psql bench-source -qc "CREATE DATABASE app"
cluster_psql bench-target -qc "CREATE DATABASE viasunsync" -c "CREATE DATABASE viapipe" \
	-c "CREATE DATABASE viapipe_bare"
src -c "CREATE EXTENSION sunsync"
src -f examples/sunschool/schema.sql -f examples/sunschool/generate.sql >/dev/null
src -c "SELECT * FROM sunschool_generate(5, 3, 20, $LESSONS)" >/dev/null
src -f examples/sunschool/scope.sql >/dev/null
src -c "VACUUM ANALYZE"
id=$(src -c "SELECT sunsync_create_config(1, 'postgresql://postgres@127.0.0.1:55461/viasunsync')")
# the first push creates the schema; the pipe's database gets the same one
src -c "SELECT sunsync_push($id, true)" >/dev/null
as_postgres pg_dump -s -h "$(cluster_dir bench-target)" -p 55461 -U postgres viasunsync |
	cluster_psql bench-target -d viapipe -q >/dev/null
as_postgres pg_dump -s -h "$(cluster_dir bench-target)" -p 55461 -U postgres viasunsync |
	cluster_psql bench-target -d viapipe_bare -q >/dev/null
cluster_psql bench-target -d viapipe_bare -Atqc "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I;', conrelid::regclass, conname)
	FROM pg_constraint WHERE contype = 'f'" | cluster_psql bench-target -d viapipe_bare -q
rows=$(src -c "SELECT rows_upserted FROM sunsync_history ORDER BY run_id DESC LIMIT 1")

family="(SELECT id FROM users WHERE coalesce(parent_id, id) = 1)"
where_of() {
	case $1 in
	users) echo "coalesce(parent_id, id) = 1" ;;
	learner_profiles) echo "user_id IN $family" ;;
	rewards) echo "parent_id IN $family" ;;
	achievements) echo "learner_id IN (SELECT id::text FROM users WHERE coalesce(parent_id, id) = 1)" ;;
	*) echo "learner_id IN $family" ;;
	esac
}
tables=$(src -c "SELECT table_name FROM sunsync_tables ORDER BY position")

# Both end in the same state (the target holds exactly the family's rows), so
# the pipe's time includes emptying the target tables, as the sync's does.
pipe_once() {
	local db=$1
	local t0; t0=$(date +%s.%N)
	cluster_psql bench-target -d "$db" -qc "TRUNCATE $(echo $tables | tr ' ' ',')"
	for t in $tables; do
		cols=$(cluster_psql bench-target -d "$db" -Atqc \
			"SELECT string_agg(quote_ident(attname), ',' ORDER BY attnum) FROM pg_attribute
			  WHERE attrelid = 'public.$t'::regclass AND attnum > 0 AND NOT attisdropped")
		src -c "COPY (SELECT $cols FROM $t WHERE $(where_of $t)) TO STDOUT (FORMAT binary)" |
			cluster_psql bench-target -d "$db" -qc "COPY public.$t ($cols) FROM STDIN (FORMAT binary)"
	done
	echo "$(date +%s.%N) - $t0" | bc
}
push_once() {
	local t0; t0=$(date +%s.%N)
	# full: the target holds the copy already, and a plain push would be
	# an incremental run with nothing to do
	src -c "SELECT sunsync_push($id, wait => true, full => true)" >/dev/null
	echo "$(date +%s.%N) - $t0" | bc
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "rows per sync: $rows (family 1, 12 tables)"
printf '%-4s %9s %10s %10s %9s %10s\n' rep pipe_fk_s pipe_bare_s sunsync_s vs_fk vs_bare
fk_ratios=(); bare_ratios=()
for r in $(seq 1 "$REPS"); do
	pf=$(pipe_once viapipe)
	pb=$(pipe_once viapipe_bare)
	s=$(push_once)
	rf=$(echo "scale=3; $s / $pf" | bc); rb=$(echo "scale=3; $s / $pb" | bc)
	fk_ratios+=("$rf"); bare_ratios+=("$rb")
	printf '%-4s %9.3f %10.3f %10.3f %9.3f %10.3f\n' "$r" "$pf" "$pb" "$s" "$rf" "$rb"
done
echo "median ratio sunsync / pipe into the same schema (with foreign keys): $(median "${fk_ratios[@]}")"
echo "median ratio sunsync / pipe into tables without foreign keys:        $(median "${bare_ratios[@]}")"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), PostgreSQL $(pg_config --version | cut -d' ' -f2)"
