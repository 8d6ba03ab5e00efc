#!/usr/bin/env bash
# Continuous mode's latency (issue "Continuous mode at scale"): a single-row
# commit for an owner with a continuous configuration, to its visibility on
# the target, SAMPLES times (default 200), under a light background write
# load (pgbench at 50 transactions/s on owners without a configuration),
# default settings (sunsync.naptime = 1s).  Samples are taken more than a
# naptime apart, as single commits after a quiet spell.  The target is
# watched from inside (a function that polls every 2 ms), both clusters on
# this machine's clock.
#   bench/continuous_latency.sh [samples]
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLES=${1:-200}
scripts/setup.sh >/dev/null
export PATH=/usr/lib/postgresql/15/bin:$PATH
source test/lib/cluster.sh
source bench/lib/latency.sh

cluster_start lat-source 55490 trust "shared_preload_libraries = 'sunsync'" "sunsync.allow_private_targets = on"
cluster_start lat-target 55491 trust "log_connections = on"
[ -n "${KEEP:-}" ] || trap 'cluster_stop lat-source; cluster_stop lat-target' EXIT
cluster_psql lat-source -qc "CREATE DATABASE app"
cluster_psql lat-target -qc "CREATE DATABASE owner1"
src() { cluster_psql lat-source -d app "$@"; }
tgt() { cluster_psql lat-target -d owner1 "$@"; }
src -q <<'SQL'
CREATE EXTENSION sunsync;
CREATE TABLE parents (id int PRIMARY KEY, name text);
CREATE TABLE learners (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parents, name text);
CREATE TABLE lessons (id bigint PRIMARY KEY, learner_id int NOT NULL REFERENCES learners,
                      score int, updated_at timestamptz);
INSERT INTO parents SELECT p, 'parent ' || p FROM generate_series(1, 1000) p;
INSERT INTO learners SELECT l, (l - 1) / 3 + 1, 'learner ' || l FROM generate_series(1, 3000) l;
INSERT INTO lessons SELECT i, 1 + i % 3000, i % 101, now() FROM generate_series(1, 300000) i;
CREATE INDEX ON learners (parent_id);
CREATE INDEX ON lessons (learner_id);
SELECT sunsync_set_root('parents', 'id');
SELECT sunsync_add_table('learners');
SELECT sunsync_add_table('lessons');
VACUUM ANALYZE;
SQL
# owner 1 (learners 1-3, 300 lessons: learner 1 + id % 3000), continuous:
# its first copy by itself
src -qAtc "SELECT sunsync_create_config(1, 'postgresql://postgres@127.0.0.1:55491/owner1', continuous => true)" >/dev/null
for _ in $(seq 100); do
	[ "$(src -Atc "SELECT count(*) FROM sunsync_history WHERE status = 'COMPLETED'")" -gt 0 ] && break
	sleep 0.2
done
# lesson 3000: learner 1, owner 1
watch_function lat-target owner1 3000

dir=$(mktemp -d)
chmod 755 "$dir"
# background: owners without a configuration (lessons 4..2998: learners 5..2999)
cat > "$dir/background.sql" <<'SQL'
\set i random(4, 2998)
UPDATE lessons SET score = score + 1, updated_at = now() WHERE id = :i;
SQL
chmod 644 "$dir/background.sql"
as_postgres pgbench -n -c 1 -R 50 -T $((SAMPLES * 3 + 60)) -h "$(cluster_dir lat-source)" -p 55490 \
	-f "$dir/background.sql" app >"$dir/pgbench.log" 2>&1 &
load=$!

: > "$dir/latency"
sample_latency lat-source app lat-target owner1 3000 "$SAMPLES" "$dir/latency"
kill $load 2>/dev/null || true
wait 2>/dev/null || true

[ -n "${RAW:-}" ] && tr "\n" " " < "$dir/latency" && echo
echo "== latency of a single-row commit to the target, $SAMPLES samples (seconds)"
latency_summary "$dir/latency"
echo "histogram (ms):"
awk '{ ms = $1 * 1000
	if (ms < 10) b = "   0-10"; else if (ms < 20) b = "  10-20"; else if (ms < 50) b = "  20-50"
	else if (ms < 100) b = " 50-100"; else if (ms < 200) b = "100-200"; else if (ms < 500) b = "200-500"
	else if (ms < 1000) b = "500-1000"; else if (ms < 2000) b = "1000-2000"; else b = "2000+"
	n[b]++ } END { for (k in n) printf "%10s %4d\n", k, n[k] }' "$dir/latency" | sort -n
src -Atc "SELECT 'runs: ' || count(*) || ', median run ' ||
	round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at)) * 1000)::numeric, 1) || ' ms'
	FROM sunsync_history WHERE kind = 'incremental'"
echo "sunsync's logins to the target: $(grep -c 'application_name=sunsync' "$(cluster_dir lat-target)/server.log" || true)"
echo "background: $(src -Atc "SELECT n_tup_upd - $SAMPLES FROM pg_stat_user_tables WHERE relname = 'lessons'") updates of owners without a configuration (pgbench -R 50)"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(postgres --version)"
rm -rf "$dir"
