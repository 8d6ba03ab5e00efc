#!/usr/bin/env bash
# Continuous mode at scale (issue "Continuous mode at scale"): CONFIGS
# continuous configurations on one source, one per owner, their targets
# CONFIGS target_schemas spread over DBS databases of one target cluster.
# Writers (pgbench, -R) change random lessons of random owners at RATE rows/s
# for SECONDS.  Sampled each second: the largest sunsync_configs.lag, the
# pending changes, failed configs, sunsync's connections on the target.  At
# the end: logins on the target, CPU of the sunsync processes, runs, and
# every owner's lessons on the target against the source (count and md5).
#   bench/scale.sh [configs] [rate] [seconds] [dbs]
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIGS=${1:-1000}
RATE=${2:-500}
SECONDS_RUN=${3:-120}
DBS=${4:-4}
LESSONS_PER_LEARNER=30
scripts/setup.sh >/dev/null
export PATH=/usr/lib/postgresql/15/bin:$PATH
source test/lib/cluster.sh

cluster_start scale-source 55510 trust "shared_preload_libraries = 'sunsync'" "sunsync.allow_private_targets = on" \
	"shared_buffers = 512MB" "max_wal_size = 4GB" ${EXTRA_SOURCE_CONF:+"$EXTRA_SOURCE_CONF"}
cluster_start scale-target 55511 trust "shared_buffers = 512MB" "max_wal_size = 4GB" "max_connections = 400" ${EXTRA_TARGET_CONF:+"$EXTRA_TARGET_CONF"}
work=$(mktemp -d)
chmod 777 "$work"
# KEEP=1: the clusters stay up, and the samples are kept in /tmp/scale-samples.txt
cleanup() {
	if [ -n "${KEEP:-}" ]; then cp "$work/samples" /tmp/scale-samples.txt 2>/dev/null || true
	else cluster_stop scale-source; cluster_stop scale-target; fi
	rm -rf "$work"
}
trap cleanup EXIT
cluster_psql scale-source -qc "CREATE DATABASE app"
for d in $(seq "$DBS"); do cluster_psql scale-target -qc "CREATE DATABASE t$d"; done
src() { cluster_psql scale-source -d app "$@"; }
tgt() { cluster_psql scale-target -d postgres "$@"; }
lessons=$((CONFIGS * 3 * LESSONS_PER_LEARNER))
src -q <<SQL >/dev/null
CREATE EXTENSION sunsync;
CREATE TABLE parents (id int PRIMARY KEY, name text);
CREATE TABLE learners (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parents, name text);
CREATE TABLE lessons (id bigint PRIMARY KEY, learner_id int NOT NULL REFERENCES learners,
                      score int, updated_at timestamptz);
INSERT INTO parents SELECT p, 'parent ' || p FROM generate_series(1, $CONFIGS) p;
INSERT INTO learners SELECT l, (l - 1) / 3 + 1, 'learner ' || l FROM generate_series(1, $CONFIGS * 3) l;
INSERT INTO lessons SELECT i, 1 + i % ($CONFIGS * 3), i % 101, now() FROM generate_series(1, $lessons) i;
CREATE INDEX ON learners (parent_id);
CREATE INDEX ON lessons (learner_id);
SELECT sunsync_set_root('parents', 'id');
SELECT sunsync_add_table('learners');
SELECT sunsync_add_table('lessons');
VACUUM ANALYZE;
SQL

echo "== $CONFIGS continuous configs (owner p -> database t((p-1)%$DBS+1), schema o<p>); $lessons lessons"
t0=$(date +%s.%N)
src -qAt <<SQL >/dev/null
SELECT sunsync_create_config(p, format('postgresql://postgres@127.0.0.1:55511/t%s', (p - 1) % $DBS + 1),
                             continuous => true, target_schema => 'o' || p)
FROM generate_series(1, $CONFIGS) p;
SQL
until [ "$(src -Atc "SELECT count(*) FROM sunsync_configs WHERE status = 'COMPLETED'")" = "$CONFIGS" ]; do
	sleep 1
	[ "$(awk -v t0="$t0" -v now="$(date +%s.%N)" 'BEGIN { print (now - t0 > 900) }')" = 0 ] || {
		src -c "SELECT status, count(*), min(last_error) FROM sunsync_configs GROUP BY 1"; exit 1; }
done
awk -v t0="$t0" -v now="$(date +%s.%N)" -v n="$CONFIGS" \
	'BEGIN { printf "first copies of all %d configs, by themselves: %.1f s\n", n, now - t0 }'

# The load: each transaction changes one random lesson (so one owner).
cat > "$work/update.sql" <<SQL
\set id random(1, $lessons)
UPDATE lessons SET score = score + 1, updated_at = clock_timestamp() WHERE id = :id;
SQL
cpu_of_sunsync() { # pid utime+stime (clock ticks), one line per sunsync process on the source
	local pid
	for pid in $(src -Atc "SELECT pid FROM pg_stat_activity WHERE backend_type LIKE 'sunsync%'"); do
		[ -r "/proc/$pid/stat" ] && awk -v pid="$pid" '{ print pid, $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || true
	done
}
logins0=$(tgt -Atc "SELECT sum(sessions) FROM pg_stat_database")
runs0=$(src -Atc "SELECT count(*) FROM sunsync_history")
cpu_of_sunsync > "$work/cpu0"
machine0=$(awk '/^cpu / { print $2 + $3 + $4 + $6 + $7 + $8, $5 }' /proc/stat)

echo "== writers: $RATE changed rows/s for $SECONDS_RUN s (pgbench -R $RATE, 4 clients)"
as_postgres pgbench -n -h "$(cluster_dir scale-source)" -p 55510 -U postgres -c 4 -j 2 -R "$RATE" \
	-T "$SECONDS_RUN" -f "$work/update.sql" app > "$work/pgbench.log" 2>&1 &
bench=$!
# (a sample reads sunsync_configs whole: its own duration is recorded, what
# a DBA's alert query on the view costs with this many configurations)
printf '%6s %8s %8s %7s %12s %9s\n' second max_lag pending failed connections view_ms > "$work/samples"
start=$(date +%s.%N)
while kill -0 $bench 2>/dev/null; do
	sleep 1
	s=$(awk -v t0="$start" -v now="$(date +%s.%N)" 'BEGIN { printf "%.0f", now - t0 }')
	q0=$(date +%s%N)
	line=$(src -Atc "SELECT coalesce(round(extract(epoch FROM max(lag))::numeric, 2), 0), coalesce(sum(pending_changes), 0),
	                        count(*) FILTER (WHERE status = 'FAILED') FROM sunsync_configs" | tr '|' ' ')
	view_ms=$(( ($(date +%s%N) - q0) / 1000000 ))
	conns=$(tgt -Atc "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sunsync'")
	cpu_of_sunsync >> "$work/cpu1"
	printf '%6s %8s %8s %7s %12s %9s\n' "$s" $line "$conns" "$view_ms" >> "$work/samples"
done
wait $bench || { cat "$work/pgbench.log"; exit 1; }
machine1=$(awk '/^cpu / { print $2 + $3 + $4 + $6 + $7 + $8, $5 }' /proc/stat)
logins1=$(tgt -Atc "SELECT sum(sessions) FROM pg_stat_database")
runs1=$(src -Atc "SELECT count(*) FROM sunsync_history")
# every 10th sample, then the summary
awk 'NR == 1 || (NR - 1) % 10 == 0' "$work/samples"
grep -E 'number of transactions actually processed|^tps' "$work/pgbench.log" | sed 's/^/pgbench: /'
awk 'NR > 1 { if ($2 > lag) lag = $2; if ($5 > c) c = $5; sum += $5; v += $6; n++ }
	END { printf "max lag during the run: %.2f s (aim <= 5 s, %d samples); sunsync connections on the target: max %d, mean %.1f; sunsync_configs read in %.0f ms on average\n", lag, n, c, sum / n, v / n }' \
	"$work/samples"
echo "target logins during the run: $((logins1 - logins0)); runs: $((runs1 - runs0))"
# CPU: per process, the last reading less the first (processes seen at the start from there)
cat "$work/cpu0" "$work/cpu1" | awk -v secs="$SECONDS_RUN" -v hz="$(getconf CLK_TCK)" -v m0="$machine0" -v m1="$machine1" '
	{ if (!($1 in first)) first[$1] = $2; last[$1] = $2 }
	END {
		for (p in last) { t += last[p] - first[p]; n++ }
		split(m0, a, " "); split(m1, b, " ")
		printf "sunsync processes (%d seen): %.1f CPU s in %d s = %.2f cores; machine busy %.0f%% of 2 cores (source, target and pgbench together)\n",
			n, t / hz, secs, t / hz / secs, 100 * (b[1] - a[1]) / ((b[1] - a[1]) + (b[2] - a[2]))
	}'

echo "== the end: every owner's lessons on the target against the source"
t0=$(date +%s.%N)
until [ "$(src -Atc "SELECT count(*) FROM sunsync_configs WHERE pending_changes > 0 OR status <> 'COMPLETED'")" = 0 ]; do
	sleep 0.5
done
awk -v t0="$t0" -v now="$(date +%s.%N)" 'BEGIN { printf "all pending changes shipped %.1f s after the writers stopped\n", now - t0 }'
hash_row="s.id || ':' || s.learner_id || ':' || s.score || ':' || extract(epoch FROM s.updated_at)"
src -Atc "SELECT l.parent_id, count(*), md5(string_agg($hash_row, ',' ORDER BY s.id))
          FROM lessons s JOIN learners l ON l.id = s.learner_id GROUP BY 1 ORDER BY 1" > "$work/source.hashes"
hash_quoted=${hash_row//\'/\'\'} # inside format()'s literal
for d in $(seq "$DBS"); do
	cluster_psql scale-target -d "t$d" -Atq <<SQL
CREATE FUNCTION pg_temp.owner_hashes() RETURNS TABLE (owner int, n bigint, h text) LANGUAGE plpgsql AS \$\$
DECLARE s name;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace WHERE nspname ~ '^o[0-9]+\$' LOOP
    RETURN QUERY EXECUTE format('SELECT %s, count(*), md5(string_agg($hash_quoted, '','' ORDER BY s.id)) FROM %I.lessons s',
                                substr(s, 2)::int, s);
  END LOOP;
END \$\$;
SELECT * FROM pg_temp.owner_hashes();
SQL
done | sort -t'|' -k1,1n > "$work/target.hashes"
if diff -q "$work/source.hashes" "$work/target.hashes" >/dev/null; then
	echo "exact: all $(wc -l < "$work/source.hashes") owners' lessons match (count and md5)"
else
	echo "DIFFERENT: $(diff "$work/source.hashes" "$work/target.hashes" | grep -c '^[<>]') lines differ"
	diff "$work/source.hashes" "$work/target.hashes" | head
	exit 1
fi
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(postgres --version)"
echo "settings: $(src -Atc "SELECT string_agg(name || ' = ' || setting, ', ' ORDER BY name) FROM pg_settings WHERE name LIKE 'sunsync.%'")"
