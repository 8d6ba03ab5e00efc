#!/usr/bin/env bash
# What change capture costs writers, against the same writes without it, in
# one run, alternating, REPS rounds, medians (issue "Change capture and
# incremental push"):
#   1. pgbench, 4 clients, single-row UPDATEs of a 3-hop table (lessons under
#      learners under parents): triggers disabled / capture for an owner with
#      a configuration / for an owner without one / a PL/pgSQL trigger that
#      inserts into a log table (the reference the issue quotes);
#   2. INSERT ... SELECT of 200,000 lessons of a synced owner: without
#      capture / with it / with a PL/pgSQL row trigger;
#   3. an incremental run after 1,000 changed lessons among 1,000,000 of one
#      owner, against a full sync of that owner.
#   bench/capture.sh [reps] [seconds per pgbench round]
#   PARTS="1 3" bench/capture.sh ...   runs only those parts
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-5}
SECS=${2:-15}
PARTS=${PARTS:-1 2 3}
part() { [[ " $PARTS " == *" $1 "* ]]; }
scripts/setup.sh >/dev/null
export PATH=/usr/lib/postgresql/15/bin:$PATH
source test/lib/cluster.sh

# the queue is consumed after each round and rotates every 10 s, as it
# would with pushes going on: it stays small
conf=("shared_preload_libraries = 'sunsync'" "sunsync.allow_private_targets = on" "sunsync.queue_rotation = 10s"
	"sunsync.naptime = 1s" "shared_buffers = 1GB" ${BENCH_CONF:+"$BENCH_CONF"}
	"synchronous_commit = off" "max_wal_size = 4GB" "checkpoint_timeout = 30min" "autovacuum = off")
cluster_start bench-source 55480 trust "${conf[@]}"
cluster_start bench-target 55481 trust "shared_buffers = 1GB" "synchronous_commit = off" "max_wal_size = 4GB"
[ -n "${KEEP:-}" ] || trap 'cluster_stop bench-source; cluster_stop bench-target' EXIT
cluster_psql bench-source -qc "CREATE DATABASE app"
cluster_psql bench-target -qc "CREATE DATABASE owner1" -c "CREATE DATABASE owner2"
src() { cluster_psql bench-source -d app "$@"; }
src -q <<'SQL'
CREATE EXTENSION sunsync;
CREATE TABLE parents (id int PRIMARY KEY, name text);
CREATE TABLE learners (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parents, name text);
CREATE TABLE lessons (id bigint PRIMARY KEY, learner_id int NOT NULL REFERENCES learners,
                      score int, status text, updated_at timestamptz);
-- 1,000 parents of 3 learners: parent 1's learners hold 1,000,000 lessons
-- (ids 1..1000000), parent 2's 100,000 (1000001..1100000), the other 2,994
-- learners 100 each (1100001..1399400)
INSERT INTO parents SELECT p, 'parent ' || p FROM generate_series(1, 1000) p;
INSERT INTO learners SELECT l, (l - 1) / 3 + 1, 'learner ' || l FROM generate_series(1, 3000) l;
INSERT INTO lessons SELECT i, 1 + i % 3, i % 101, 'DONE', now() FROM generate_series(1, 1000000) i;
INSERT INTO lessons SELECT 1000000 + i, 4 + i % 3, i % 101, 'DONE', now() FROM generate_series(1, 100000) i;
INSERT INTO lessons SELECT 1100000 + i, 7 + i % 2994, i % 101, 'DONE', now() FROM generate_series(1, 299400) i;
CREATE INDEX ON learners (parent_id);
CREATE INDEX ON lessons (learner_id);
-- the reference: a plain PL/pgSQL change-log trigger
CREATE TABLE change_log (id bigserial PRIMARY KEY, tbl text, key bigint, op text, at timestamptz DEFAULT now());
CREATE FUNCTION log_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO change_log (tbl, key, op) VALUES (TG_TABLE_NAME, coalesce(NEW.id, OLD.id), TG_OP);
  RETURN NULL;
END $$;
CREATE TRIGGER plpgsql_log AFTER INSERT OR UPDATE OR DELETE ON lessons FOR EACH ROW EXECUTE FUNCTION log_change();
ALTER TABLE lessons DISABLE TRIGGER plpgsql_log;
SELECT sunsync_set_root('parents', 'id');
SELECT sunsync_add_table('learners');
SELECT sunsync_add_table('lessons');
-- owner 1 and owner 2 have configurations; owners 3..1000 do not
SELECT sunsync_create_config(1, 'postgresql://postgres@127.0.0.1:55481/owner1');
SELECT sunsync_create_config(2, 'postgresql://postgres@127.0.0.1:55481/owner2');
VACUUM ANALYZE;
SQL
mode() { # off | capture | plpgsql
	case $1 in
	off) src -qc "ALTER TABLE lessons DISABLE TRIGGER USER" ;;
	capture) src -qc "ALTER TABLE lessons DISABLE TRIGGER USER" -c "ALTER TABLE lessons ENABLE TRIGGER sunsync_capture_insert, ENABLE TRIGGER sunsync_capture_update, ENABLE TRIGGER sunsync_capture_delete, ENABLE TRIGGER sunsync_capture_truncate" ;;
	plpgsql) src -qc "ALTER TABLE lessons DISABLE TRIGGER USER" -c "ALTER TABLE lessons ENABLE TRIGGER plpgsql_log" ;;
	esac
}
dir=$(mktemp -d)
chmod 755 "$dir"
# owner 2 (configured): lessons 1000001..1100000
cat > "$dir/configured.sql" <<'SQL'
\set i random(1000001, 1100000)
UPDATE lessons SET score = score + 1, updated_at = now() WHERE id = :i;
SQL
# owners 3..1000 (no configuration): lessons 1100001..1399400
cat > "$dir/unconfigured.sql" <<'SQL'
\set i random(1100001, 1399400)
UPDATE lessons SET score = score + 1, updated_at = now() WHERE id = :i;
SQL
tps() { # script -> tps (every transaction updated its row, or the run is void)
	local out
	out=$(as_postgres pgbench -n -M prepared -c 4 -j 2 -T "$SECS" -h "$(cluster_dir bench-source)" -p 55480 -f "$1" app 2>&1)
	echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
# the modes compared run back to back, each round in another order
round_order() {
	case $(($1 % 3)) in
	0) echo "off capture plpgsql" ;;
	1) echo "capture plpgsql off" ;;
	*) echo "plpgsql off capture" ;;
	esac
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

if part 1; then
echo "== 1. pgbench: single-row UPDATEs of lessons (3 hops), 4 clients, ${SECS}s rounds"
# warm up: every page of lessons in shared buffers, every backend's caches
src -qc "SELECT count(*) FROM lessons" -c "SELECT count(*) FROM learners" >/dev/null
for m in off capture plpgsql; do mode $m; tps "$dir/configured.sql" >/dev/null; tps "$dir/unconfigured.sql" >/dev/null; done
printf '%-4s %12s %12s %12s %12s %12s\n' rep off_cfg capture_cfg off_uncfg capture_uncfg plpgsql_cfg
: > "$dir/r1"
for rep in $(seq "$REPS"); do
	# the runs compared run back to back (this machine drifts by more than
	# the difference over a minute), each round in another order
	declare -A r=()
	order=$(round_order "$rep")
	for script in cfg uncfg; do
		for m in $order; do
			[ $m = plpgsql ] && [ $script = uncfg ] && continue
			mode $m
			r[$m.$script]=$(tps "$dir/$( [ $script = cfg ] && echo configured || echo unconfigured ).sql")
		done
		src -qc "TRUNCATE change_log" -c "VACUUM lessons"
		src -qAtc "SELECT sunsync_push(2, wait => true)" >/dev/null
	done
	printf '%-4s %12s %12s %12s %12s %12s\n' "$rep" "${r[off.cfg]}" "${r[capture.cfg]}" "${r[off.uncfg]}" \
		"${r[capture.uncfg]}" "${r[plpgsql.cfg]}" | tee -a "$dir/r1"
done
mode capture
awk '{print $3 / $2}' "$dir/r1" | median | xargs printf 'median TPS with capture / without, owner with a configuration:    %.3f\n'
awk '{print $5 / $4}' "$dir/r1" | median | xargs printf 'median TPS with capture / without, owner without a configuration: %.3f\n'
awk '{print $6 / $2}' "$dir/r1" | median | xargs printf 'median TPS with the PL/pgSQL log trigger / without:              %.3f\n'
fi

if part 2; then
echo "== 2. INSERT ... SELECT of 200,000 lessons of owner 2 (synced)"
ins() { # -> seconds
	local t0 t1
	src -qc "DELETE FROM lessons WHERE id > 5000000" -c "VACUUM lessons" >/dev/null
	t0=$(date +%s.%N)
	src -qc "INSERT INTO lessons SELECT 5000000 + i, 4 + i % 3, i % 101, 'NEW', now() FROM generate_series(1, 200000) i"
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc
}
for m in off capture plpgsql; do mode $m; ins >/dev/null; done # warm up
printf '%-4s %10s %10s %10s\n' rep off_s capture_s plpgsql_s
: > "$dir/r2"
for rep in $(seq "$REPS"); do
	declare -A t=()
	order=$(round_order "$rep")
	for m in $order; do mode $m; t[$m]=$(ins); src -qc "TRUNCATE change_log"; done
	printf '%-4s %10.3f %10.3f %10.3f\n' "$rep" "${t[off]}" "${t[capture]}" "${t[plpgsql]}" | tee -a "$dir/r2"
done
mode capture
src -qc "DELETE FROM lessons WHERE id > 5000000"
awk '{print $3 / $2}' "$dir/r2" | median | xargs printf 'median time with capture / without:         %.3f\n'
awk '{print $4 / $2}' "$dir/r2" | median | xargs printf 'median time with the PL/pgSQL trigger / without: %.3f\n'
fi

if part 3; then
echo "== 3. owner 1 (1,000,000 lessons): incremental run after 1,000 changed lessons, against a full sync"
push() { # config, full -> seconds (the run's own duration)
	src -Atqc "SELECT sunsync_push($1, wait => true, full => $2)" >/dev/null
	src -Atqc "SELECT extract(epoch FROM finished_at - started_at) FROM sunsync_history WHERE config_id = $1 ORDER BY run_id DESC LIMIT 1"
}
push 1 true >/dev/null
printf '%-4s %10s %14s %8s\n' rep full_s incremental_s rows
: > "$dir/r3"
for rep in $(seq "$REPS"); do
	a=$(push 1 true)
	src -qc "UPDATE lessons SET score = score + 1 WHERE id IN (SELECT (i * 997) % 1000000 + 1 FROM generate_series(1, 1000) i)"
	b=$(push 1 false)
	n=$(src -Atqc "SELECT kind || ':' || rows_upserted FROM sunsync_history WHERE config_id = 1 ORDER BY run_id DESC LIMIT 1")
	printf '%-4s %10.3f %14.3f %8s\n' "$rep" "$a" "$b" "$n" | tee -a "$dir/r3"
done
awk '{print $3 / $2}' "$dir/r3" | median | xargs printf 'median incremental / full: %.4f\n'
fi
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(postgres --version)"
rm -rf "$dir"
