#!/usr/bin/env bash
# Over a slow link (issue "Continuous mode at scale"): bench/delay_proxy.py
# between source and target adds DELAY ms each way (default 25: a 50 ms
# round trip).  1. A full sync of 1,000,000 lessons, through the proxy and
# straight, alternating, REPS rounds: throughput through the proxy against
# the local one.  2. Continuous latency through the proxy: a single-row
# commit to its visibility on the target (watched straight, from inside),
# SAMPLES samples more than a naptime apart.
#   bench/network.sh [reps] [samples] [delay_ms]
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
SAMPLES=${2:-50}
DELAY=${3:-25}
scripts/setup.sh >/dev/null
export PATH=/usr/lib/postgresql/15/bin:$PATH
source test/lib/cluster.sh
source bench/lib/latency.sh

cluster_start net-source 55500 trust "shared_preload_libraries = 'sunsync'" "sunsync.allow_private_targets = on" \
	"shared_buffers = 1GB" "max_wal_size = 4GB"
cluster_start net-target 55501 trust "shared_buffers = 1GB" "max_wal_size = 4GB" "synchronous_commit = off"
python3 bench/delay_proxy.py 55502 55501 "$DELAY" &
proxy=$!
cleanup() { kill $proxy 2>/dev/null || true; [ -n "${KEEP:-}" ] || { cluster_stop net-source; cluster_stop net-target; }; }
trap cleanup EXIT
cluster_psql net-source -qc "CREATE DATABASE app"
cluster_psql net-target -qc "CREATE DATABASE direct" -c "CREATE DATABASE proxied"
src() { cluster_psql net-source -d app "$@"; }
src -q <<'SQL'
CREATE EXTENSION sunsync;
CREATE TABLE parents (id int PRIMARY KEY, name text);
CREATE TABLE learners (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parents, name text);
CREATE TABLE lessons (id bigint PRIMARY KEY, learner_id int NOT NULL REFERENCES learners,
                      score int, status text, updated_at timestamptz);
INSERT INTO parents SELECT p, 'parent ' || p FROM generate_series(1, 10) p;
INSERT INTO learners SELECT l, (l - 1) / 3 + 1, 'learner ' || l FROM generate_series(1, 30) l;
-- owner 1 (learners 1-3): 1,000,000 lessons
INSERT INTO lessons SELECT i, 1 + i % 3, i % 101, 'DONE', now() FROM generate_series(1, 1000000) i;
CREATE INDEX ON learners (parent_id);
CREATE INDEX ON lessons (learner_id);
SELECT sunsync_set_root('parents', 'id');
SELECT sunsync_add_table('learners');
SELECT sunsync_add_table('lessons');
VACUUM ANALYZE;
SQL
direct=$(src -Atqc "SELECT sunsync_create_config(1, 'postgresql://postgres@127.0.0.1:55501/direct')")
proxied=$(src -Atqc "SELECT sunsync_create_config(1, 'postgresql://postgres@127.0.0.1:55502/proxied')")
push() { # config -> seconds (the run's own duration)
	src -Atqc "SELECT sunsync_push($1, wait => true, full => true)" >/dev/null
	src -Atqc "SELECT extract(epoch FROM finished_at - started_at) FROM sunsync_history WHERE config_id = $1 ORDER BY run_id DESC LIMIT 1"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "== 1. full sync of 1,000,000 lessons (and 4 learners, 1 parent): ${DELAY} ms each way, against straight"
push "$direct" >/dev/null
push "$proxied" >/dev/null
printf '%-4s %10s %10s\n' rep direct_s proxied_s
dir=$(mktemp -d)
chmod 755 "$dir"
: > "$dir/r1"
for rep in $(seq "$REPS"); do
	if [ $((rep % 2)) = 1 ]; then a=$(push "$direct"); b=$(push "$proxied"); else b=$(push "$proxied"); a=$(push "$direct"); fi
	printf '%-4s %10.3f %10.3f\n' "$rep" "$a" "$b" | tee -a "$dir/r1"
done
awk '{print $2 / $3}' "$dir/r1" | median | xargs printf 'median throughput through the proxy / straight: %.3f\n'

echo "== 2. continuous latency through the proxy (${DELAY} ms each way), $SAMPLES samples"
watch_function net-target proxied 3
src -qAtc "SELECT sunsync_update_config($proxied, continuous => true)" >/dev/null
sleep 3
: > "$dir/latency"
sample_latency net-source app net-target proxied 3 "$SAMPLES" "$dir/latency"
latency_summary "$dir/latency" "$(awk -v d="$DELAY" 'BEGIN { printf "  (aim: median <= 0.5 s + 2 RTT = %.3f s)", 0.5 + 4 * d / 1000 }')"
src -Atc "SELECT 'incremental runs: ' || count(*) || ', median ' ||
	round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at)) * 1000)::numeric, 1) || ' ms'
	FROM sunsync_history WHERE kind = 'incremental' AND config_id = $proxied"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(postgres --version)"
rm -rf "$dir"
