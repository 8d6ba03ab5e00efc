#!/usr/bin/env bash
# The main job on throwaway local clusters: install and build sunsync, start a
# source cluster with it preloaded and a separate target cluster behind
# password authentication, load the Sunschool example (family 1 has 100,000
# lessons), register its scope, create a configuration for family 1, push (a
# full sync), change some of the family's rows, push again (an incremental
# run that ships only those), and show status, history and every table's
# rows on both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH=/usr/lib/postgresql/15/bin:$PATH
source test/lib/cluster.sh

SOURCE_PORT=${SOURCE_PORT:-55440}
TARGET_PORT=${TARGET_PORT:-55441}
TARGET_PASSWORD=${TARGET_PASSWORD:-family1-$(date +%s%N | sha256sum | cut -c1-12)}

echo "== source cluster on 127.0.0.1:$SOURCE_PORT (sunsync preloaded)"
# the demo's target is on this machine, hence allow_private_targets
cluster_start demo-source "$SOURCE_PORT" scram-sha-256 "shared_preload_libraries = 'sunsync'" \
	"sunsync.allow_private_targets = on"
echo "== target cluster on 127.0.0.1:$TARGET_PORT (password authentication)"
cluster_start demo-target "$TARGET_PORT" scram-sha-256
cluster_psql demo-target -q -c "CREATE ROLE family1 LOGIN PASSWORD '$TARGET_PASSWORD'" \
	-c "CREATE DATABASE family1 OWNER family1"
password_file="$(cluster_dir demo-target)/family1.password"
(umask 077; echo "$TARGET_PASSWORD" > "$password_file")

src() { cluster_psql demo-source -d sunschool "$@"; }
cluster_psql demo-source -q -c "CREATE DATABASE sunschool"
src -q -c "CREATE EXTENSION sunsync"

echo "== loading the Sunschool example: 20 families, family 1 with 100,000 lessons"
src -q -f examples/sunschool/schema.sql -f examples/sunschool/generate.sql
src -q -o /dev/null -c "SELECT * FROM sunschool_generate(families => 20, learners_per_family => 3,
                                                   lessons_per_learner => 50, big_family_lessons => 100000)"
echo "== registering what a family owns"
src -q -o /dev/null -f examples/sunschool/scope.sql
src -c "SELECT * FROM sunsync_tables"

echo "== a configuration for family 1, and a push"
url="postgresql://family1:$TARGET_PASSWORD@127.0.0.1:$TARGET_PORT/family1"
id=$(src -Atq -c "SELECT sunsync_create_config(1, '$url')")
src -c "SELECT sunsync_push($id, wait => true)"

echo "== the family's rows change: 500 lessons scored, 200 new ones, a quiz answer deleted,"
echo "   and learner 22 (of family 6) joins family 1 with everything it has"
src -q <<'SQL'
UPDATE lessons SET score = 100, completed_at = now() WHERE learner_id = 2 AND id LIKE 'lesson-2-1__';
INSERT INTO lessons (id, learner_id, status, subject) SELECT 'lesson-new-' || g, 3, 'QUEUED', 'Math' FROM generate_series(1, 200) g;
DELETE FROM quiz_answers WHERE id = (SELECT id FROM quiz_answers WHERE learner_id = 4 ORDER BY id LIMIT 1);
UPDATE users SET parent_id = 1 WHERE id = 22;
SQL
src -c "SELECT id, status, pending_changes, lag FROM sunsync_configs"
src -c "SELECT sunsync_push($id, wait => true)"
src -c "SELECT id, owner, target_url, status, last_sync_at, last_error, pending_changes FROM sunsync_configs"
src -c "SELECT run_id, kind, status, rows_upserted, rows_deleted, finished_at - started_at AS took, error FROM sunsync_history"

echo "== continuous mode: no more pushes; a change arrives by itself"
src -q -o /dev/null -c "SELECT sunsync_update_config($id, continuous => true)"
sleep 1.5 # past a naptime since the last run: the next change ships at once
t0=$(date +%s.%N)
src -q -c "UPDATE users SET name = 'Renamed by the demo' WHERE id = 2"
arrived=""
for _ in $(seq 200); do
	if [ "$(cluster_psql demo-target -d family1 -Atq -c "SELECT name FROM public.users WHERE id = 2")" = "Renamed by the demo" ]; then
		arrived=$(awk -v now="$(date +%s.%N)" -v t0="$t0" 'BEGIN { printf "%.2f", now - t0 }')
		break
	fi
	sleep 0.02
done
if [ -n "$arrived" ]; then
	echo "the new name of user 2 is on the target $arrived s after its commit, without a push"
else
	echo "the change did not arrive within 4 s" >&2
	exit 1
fi
src -c "SELECT run_id, kind, status, rows_upserted, rows_deleted, finished_at - started_at AS took FROM sunsync_history ORDER BY run_id DESC LIMIT 1"

echo "== rows of family 1: source (owner's rows) and target"
family="(SELECT id FROM users WHERE coalesce(parent_id, id) = 1)"
printf '%-22s %10s %10s\n' table source target
for t in $(src -Atq -c "SELECT table_name FROM sunsync_tables ORDER BY position"); do
	case $t in
	users) where="coalesce(parent_id, id) = 1" ;;
	learner_profiles) where="user_id IN $family" ;;
	rewards) where="parent_id IN $family" ;;
	achievements) where="learner_id IN (SELECT id::text FROM users WHERE coalesce(parent_id, id) = 1)" ;;
	*) where="learner_id IN $family" ;;
	esac
	s=$(src -Atq -c "SELECT count(*) FROM $t WHERE $where")
	d=$(cluster_psql demo-target -d family1 -Atq -c "SELECT count(*) FROM public.$t")
	printf '%-22s %10s %10s %s\n' "$t" "$s" "$d" "$([ "$s" = "$d" ] && echo same || echo DIFFERENT)"
done

sudo_prefix=$([ "$(id -u)" = 0 ] && echo "runuser -u postgres -- " || true)
cat <<TXT

== done
Source:  ${sudo_prefix}psql -h $(cluster_dir demo-source) -p $SOURCE_PORT -U postgres sunschool
Target:  PGPASSWORD=\$(cat $password_file) psql -h 127.0.0.1 -p $TARGET_PORT -U family1 family1
Push again:  SELECT sunsync_push($id, wait => true);   (in the source database)
Clean up:    bash -c 'source test/lib/cluster.sh; cluster_stop demo-source; cluster_stop demo-target'
TXT
