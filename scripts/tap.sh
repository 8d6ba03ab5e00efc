#!/usr/bin/env bash
# Runs the multi-cluster integration tests (test/tap/t/*.pl) with prove, as
# the postgres account when run as root.  Usage: scripts/tap.sh [test file...]
set -uo pipefail
cd "$(dirname "$0")/.."
source test/lib/cluster.sh
work=/tmp/sunsync-tap
rm -rf "$work" && mkdir -p "$work"
cp -r test examples "$work/"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"
cd "$work/test/tap" || exit 1
[ $# -eq 0 ] && set -- t/*.pl
as_postgres env PATH="/usr/lib/postgresql/15/bin:$PATH" SUNSYNC_ROOT="$work" \
	PG_REGRESS=/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress TESTDIR="$work/test/tap" \
	prove -v -I /usr/lib/postgresql/15/lib/pgxs/src/test/perl "$@"
