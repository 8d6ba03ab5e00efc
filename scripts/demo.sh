#!/usr/bin/env bash
# The main job on a throwaway local cluster: install and build sunsync, start
# a server with it preloaded, load the Sunschool example, register its scope,
# create a configuration for one family, and show what sunsync knows.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH=/usr/lib/postgresql/15/bin:$PATH
source test/lib/cluster.sh

SOURCE_PORT=${SOURCE_PORT:-55440}
echo "== starting a throwaway source cluster on 127.0.0.1:$SOURCE_PORT"
cluster_start demo-source "$SOURCE_PORT" scram-sha-256 "shared_preload_libraries = 'sunsync'"
psql_src() { cluster_psql demo-source -d sunschool "$@"; }
cluster_psql demo-source -q -c "CREATE DATABASE sunschool"

echo "== loading the Sunschool example (20 families; family 1 has 100,000 lessons)"
psql_src -q -c "CREATE EXTENSION sunsync"
psql_src -q -f examples/sunschool/schema.sql -f examples/sunschool/generate.sql
psql_src -c "SELECT * FROM sunschool_generate(families => 20, learners_per_family => 3,
                                              lessons_per_learner => 50, big_family_lessons => 100000)"

echo "== registering what a family owns"
psql_src -q -o /dev/null -f examples/sunschool/scope.sql
psql_src -c "SELECT * FROM sunsync_tables"

echo "== a configuration for family 1 (the target is never contacted in this step)"
psql_src -q -c "SET sunsync.allow_private_targets = on" \
	-c "SELECT sunsync_create_config(1, 'postgresql://family1:demo-Passw0rd@127.0.0.1:55441/family1') AS config_id"
psql_src -c "SELECT id, owner, target_url, continuous, status, pending_changes FROM sunsync_configs"

cat <<TXT
== done
Connect:   $([ "$(id -u)" = 0 ] && echo "runuser -u postgres -- ")psql -h $(cluster_dir demo-source) -p $SOURCE_PORT -U postgres sunschool
Clean up:  bash -c 'source test/lib/cluster.sh; cluster_stop demo-source'
TXT
