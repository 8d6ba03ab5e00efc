# Shared by bench/continuous_latency.sh and bench/network.sh: how long a
# single-row commit on the source takes to show on the target.  Source with
# test/lib/cluster.sh loaded.

# watch_function CLUSTER DB LESSON_ID: a function bench.seen(score) on the
# target that polls every 2 ms until that lesson has that score, and
# returns the time (epoch seconds).
watch_function() {
	cluster_psql "$1" -d "$2" -q <<SQL
CREATE SCHEMA bench;
CREATE FUNCTION bench.seen(want int) RETURNS float8 LANGUAGE plpgsql AS \$\$
BEGIN
  LOOP
    IF EXISTS (SELECT 1 FROM public.lessons WHERE id = $3 AND score = want) THEN
      RETURN extract(epoch FROM clock_timestamp());
    END IF;
    PERFORM pg_sleep(0.002);
  END LOOP;
END \$\$;
SQL
}

# sample_latency SOURCE SOURCE_DB TARGET TARGET_DB LESSON_ID SAMPLES OUT:
# SAMPLES single-row commits 1.1 s apart (more than a naptime: each after a
# quiet spell), their latencies in seconds appended to OUT.  The watcher
# starts before the commit; the commit's time is taken just before COMMIT.
sample_latency() {
	local source=$1 sdb=$2 target=$3 tdb=$4 lesson=$5 samples=$6 out=$7 i waiter t0 seen
	seen=$(mktemp)
	chmod 666 "$seen"
	for i in $(seq 1000 $((999 + samples))); do
		as_postgres timeout 30 "$PGBIN/psql" -X -h "$(cluster_dir "$target")" -p "$(cluster_port "$target")" \
			-U postgres -d "$tdb" -Atc "SELECT bench.seen($i)" > "$seen" &
		waiter=$!
		sleep 0.05
		t0=$(cluster_psql "$source" -d "$sdb" -Atq -c "BEGIN" -c "UPDATE lessons SET score = $i WHERE id = $lesson" \
			-c "SELECT extract(epoch FROM clock_timestamp())" -c "COMMIT")
		wait $waiter
		awk -v seen="$(cat "$seen")" -v t0="$t0" 'BEGIN { printf "%.6f\n", seen - t0 }' >> "$out"
		sleep 1.1
	done
	rm -f "$seen"
}

# latency_summary FILE [AIM_TEXT]: min, median, p90, p99, max.
latency_summary() {
	sort -g "$1" | awk -v aim="${2:-}" '
		{ a[NR] = $1 }
		END {
			printf "min %.3f  median %.3f  p90 %.3f  p99 %.3f  max %.3f%s\n",
				a[1], a[int(NR * 0.5 + 0.5)], a[int(NR * 0.9 + 0.5)], a[int(NR * 0.99 + 0.5)], a[NR], aim
		}'
}
