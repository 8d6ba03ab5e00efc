#!/usr/bin/env bash
# Source work of a full push of one small family (100 rows: 10 users and 90
# lessons) among 1,000,000 users and 1,000,000 lessons of other families,
# with the indexes sunsync_set_root and sunsync_add_table advise, against the
# same push without them (the reference), alternating REPS times.  "Source
# work" is the execution time of the run's row-reading queries on the source
# (pg_stat_statements, track = all, reset before each push); the push's wall
# time is printed beside it.
#   bench/owner_filter.sh [reps]
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-5}
scripts/setup.sh >/dev/null
export PATH=/usr/lib/postgresql/15/bin:$PATH
source test/lib/cluster.sh

cluster_start bench-source 55470 trust "shared_preload_libraries = 'sunsync,pg_stat_statements'" \
	"pg_stat_statements.track = all" "sunsync.allow_private_targets = on" "shared_buffers = 512MB"
cluster_start bench-target 55471 trust
trap 'cluster_stop bench-source; cluster_stop bench-target' EXIT
cluster_psql bench-source -qc "CREATE DATABASE indexed" -c "CREATE DATABASE bare"
cluster_psql bench-target -qc "CREATE DATABASE t_indexed" -c "CREATE DATABASE t_bare"
for db in indexed bare; do
	cluster_psql bench-source -d $db -q <<'SQL'
CREATE EXTENSION sunsync;
CREATE EXTENSION pg_stat_statements;
CREATE TABLE users (id int PRIMARY KEY, parent_id int REFERENCES users, name text);
CREATE TABLE lessons (id int PRIMARY KEY, learner_id int NOT NULL REFERENCES users, title text);
-- 100,000 families of a parent and 9 learners; 9 lessons per learner... of family 1 only
-- 10 per learner elsewhere on average, so that the other families hold 1,000,000 lessons
INSERT INTO users SELECT i, NULLIF((i - 1) / 10 * 10 + 1, i), 'user ' || i FROM generate_series(1, 1000000) i;
INSERT INTO lessons SELECT i, CASE WHEN i <= 90 THEN 2 + (i - 1) % 9
                                   ELSE 11 + ((i::bigint * 7919) % 999990)::int END, 'lesson ' || i
  FROM generate_series(1, 1000000) i;
SQL
	out=$(cluster_psql bench-source -d $db -qAt 2>&1 <<'SQL'
SELECT sunsync_set_root('users', 'coalesce(parent_id, id)');
SELECT sunsync_add_table('lessons');
SQL
)
	if [ $db = indexed ]; then
		echo "$out" | sed -n 's/^HINT:  Run: //p' | tee /dev/stderr | cluster_psql bench-source -d $db -q
	fi
	cluster_psql bench-source -d $db -qc "VACUUM ANALYZE"
done
echo "family 1: $(cluster_psql bench-source -d indexed -Atqc "SELECT (SELECT count(*) FROM users WHERE coalesce(parent_id, id) = 1) + (SELECT count(*) FROM lessons WHERE learner_id BETWEEN 1 AND 10)") rows"

push_once() { # db -> "source_ms wall_ms"
	local db=$1 id
	id=$(cluster_psql bench-source -d $db -Atqc "SELECT id FROM sunsync_configs LIMIT 1")
	cluster_psql bench-source -d $db -Atqc "SELECT pg_stat_statements_reset()" >/dev/null
	local t0; t0=$(date +%s%N)
	cluster_psql bench-source -d $db -Atqc "SELECT sunsync_push($id, true)" >/dev/null
	local t1; t1=$(date +%s%N)
	local src; src=$(cluster_psql bench-source -d $db -Atqc \
		"SELECT round(coalesce(sum(total_exec_time), 0)::numeric, 1) FROM pg_stat_statements WHERE query LIKE 'SELECT t0.%'")
	echo "$src $(( (t1 - t0) / 1000000 ))"
}
for db in indexed bare; do
	cluster_psql bench-source -d $db -Atqc "SELECT sunsync_create_config(1, 'postgresql://postgres@127.0.0.1:55471/t_$db')" >/dev/null
	push_once $db >/dev/null  # creates the target tables
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-4s %18s %14s %18s %14s\n' rep indexed_source_ms indexed_wall_ms bare_source_ms bare_wall_ms
is=(); bs=()
for r in $(seq 1 "$REPS"); do
	read -r i_src i_wall < <(push_once indexed)
	read -r b_src b_wall < <(push_once bare)
	is+=("$i_src"); bs+=("$b_src")
	printf '%-4s %18s %14s %18s %14s\n' "$r" "$i_src" "$i_wall" "$b_src" "$b_wall"
done
echo "median source work of a 100-row family push: $(median "${is[@]}") ms with the advised indexes, $(median "${bs[@]}") ms without"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), PostgreSQL $(pg_config --version | cut -d' ' -f2)"
