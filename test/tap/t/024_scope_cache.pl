# A run worker keeps what it read of the scope from one run to the next
# (engine/scope_cache.hpp), and lets go of it whenever it may have changed:
# runs back to back do not read the scope's catalog again, and each push
# after a change made between runs by a plain role ships what the change
# asks for: a column added, a column renamed (a stale scope would select
# the old name and fail), a privilege revoked and granted again, a capture
# trigger disabled (a full sync) and enabled again, by a replica's session
# (no event trigger: only the relcache invalidation tells) and by the
# table's owner, an enum label added and used (by two owners, one of them
# in a target schema), a column excluded (only sunsync's rows change), a
# schema and a type renamed by a replica's session (only the syscache
# tells).
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Test::More;

# pg_stat_statements counts the catalog queries a run makes (nested ones
# too); no autovacuum, whose VACUUM and ANALYZE of a table let go of the
# scope at moments the test does not choose
my $source = new_source('cache_source', "shared_preload_libraries = 'sunsync, pg_stat_statements'",
	'pg_stat_statements.track = all', 'autovacuum = off');
my $target = new_target('cache_target');
target_login($target, 'fam', 'Tgt-S3cret', 'fam1');
app_role($source, 'app', 'owner_role');
$source->safe_psql('app', q{
	CREATE EXTENSION pg_stat_statements;
	CREATE SCHEMA extra AUTHORIZATION owner_role;
	SET ROLE owner_role;
	CREATE TYPE mood AS ENUM ('calm', 'busy');
	CREATE TABLE parents (id int PRIMARY KEY, name text);
	CREATE TABLE kids (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parents, score int, m mood);
	CREATE INDEX ON kids (parent_id);
	CREATE TABLE extra.notes (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parents, body text);
	CREATE INDEX ON extra.notes (parent_id);
	INSERT INTO parents VALUES (1, 'one'), (2, 'two');
	INSERT INTO kids SELECT k, 1 + k % 2, k, 'calm' FROM generate_series(1, 40) k;
	INSERT INTO extra.notes SELECT k, 1 + k % 2, 'note ' || k FROM generate_series(1, 10) k;
	SELECT sunsync_set_root('parents', 'id');
	SELECT sunsync_add_table('kids');
	SELECT sunsync_add_table('extra.notes');
});
my $id = $source->safe_psql('app',
	"SELECT sunsync_create_config(1, '" . target_url($target, 'fam', 'Tgt-S3cret', 'fam1') . "')");

# the columns of kids the copy has (those not excluded)
my $excluded = "''";
sub exact
{
	my ($label) = @_;
	my $cols = $source->safe_psql('app', qq{SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum)
		FROM pg_attribute WHERE attrelid = 'kids'::regclass AND attnum > 0 AND NOT attisdropped
		AND attname NOT IN ($excluded)});
	is(rows_digest($target, 'fam1', "SELECT $cols FROM public.kids"),
		rows_digest($source, 'app', "SELECT $cols FROM public.kids WHERE parent_id = 1"),
		"$label: the copy of kids is exact");
}

sub as_owner { $source->safe_psql('app', "SET ROLE owner_role; $_[0]"); }

# how often runs read the scope so far: the columns of a table, the
# capture triggers (queries only runs make)
sub scope_reads
{
	return $source->safe_psql('app', q{SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
		WHERE query LIKE 'SELECT attname, atttypid, atttypmod, attnotnull FROM pg_attribute WHERE attrelid = $1::oid%'
		   OR query LIKE '%(SELECT pg_catalog.count(*) FROM pg_catalog.pg_trigger t WHERE t.tgrelid = s.oid%'});
}

# the second owner's copy in a target schema of its own (types too)
my $id2 = $source->safe_psql('app', "SELECT sunsync_create_config(2, '"
	  . target_url($target, 'fam', 'Tgt-S3cret', 'fam1') . "', target_schema => 'second')");
push_ok($source, 'app', $id, 'full', 'first push');
exact('first push');
push_ok($source, 'app', $id2, 'full', 'first push into a target schema');

# runs back to back: the scope is kept
as_owner('UPDATE kids SET score = score + 1 WHERE id = 2');
push_ok($source, 'app', $id, 'incremental', 'second push');
my $reads = scope_reads();
ok($reads >= 3, "(the first run read the scope: $reads queries)");
# (pushes only: a backend that writes to kids reads its triggers)
push_ok($source, 'app', $id, 'incremental', "unchanged scope, push $_") for 1 .. 3;
is(scope_reads(), $reads, 'three runs with nothing changed do not read the scope again');
exact('after runs that kept the scope');

as_owner(q{ALTER TABLE kids ADD COLUMN note text DEFAULT 'n'; UPDATE kids SET note = 'added' WHERE id = 4});
push_ok($source, 'app', $id, 'full', 'a column added');
exact('a column added');

as_owner('ALTER TABLE kids RENAME COLUMN score TO points; UPDATE kids SET points = 0 WHERE id = 6');
push_ok($source, 'app', $id, 'full', 'a column renamed');
exact('a column renamed');

as_owner('UPDATE kids SET points = 1 WHERE id = 8; REVOKE SELECT ON kids FROM owner_role');
my ($rc, $out, $err) = $source->psql('app', "SELECT sunsync_push($id, wait => true)");
like($err, qr/permission denied for table kids/,
	'with SELECT on kids revoked from the role that set the root (its owner), the push fails');
is($source->safe_psql('app', "SELECT status FROM sunsync_configs WHERE id = $id"), 'FAILED', '(FAILED)');
as_owner('GRANT SELECT ON kids TO owner_role');
push_ok($source, 'app', $id, 'incremental', 'the privilege granted again');
exact('the privilege granted again');

# a capture trigger disabled as a replica's session would (no event
# trigger fires, so no new scope version: only the invalidation tells)
my $log_at = -s $source->logfile;
$source->safe_psql('app', q{SET session_replication_role = replica;
	ALTER TABLE kids DISABLE TRIGGER sunsync_capture_update});
as_owner('UPDATE kids SET points = 2 WHERE id = 10');
push_ok($source, 'app', $id, 'full', 'a capture trigger disabled: a full sync');
like(substr(slurp_file($source->logfile), $log_at), qr/full sync: the capture triggers of table public.kids do not see/,
	'for the reason that it was disabled');
exact('a capture trigger disabled');
$source->safe_psql('app', q{SET session_replication_role = replica;
	ALTER TABLE kids ENABLE ALWAYS TRIGGER sunsync_capture_update});
as_owner('UPDATE kids SET points = 3 WHERE id = 12');
push_ok($source, 'app', $id, 'incremental', 'enabled again: incremental again');
exact('the trigger enabled again');
# by the table's owner: the event trigger makes a new scope version too
as_owner('ALTER TABLE kids DISABLE TRIGGER sunsync_capture_update; UPDATE kids SET points = 2 WHERE id = 10');
push_ok($source, 'app', $id, 'full', 'disabled by its owner: a full sync');
as_owner('ALTER TABLE kids ENABLE ALWAYS TRIGGER sunsync_capture_update; UPDATE kids SET points = 3 WHERE id = 12');
push_ok($source, 'app', $id, 'full', 'enabled again (a new scope version: a full sync)');
exact('the trigger enabled again by its owner');
push_ok($source, 'app', $id2, 'full', 'the other owner, after the new scope versions');

as_owner(q{ALTER TYPE mood ADD VALUE 'sleepy'});
as_owner(q{UPDATE kids SET m = 'sleepy' WHERE id = 14});
push_ok($source, 'app', $id, 'incremental', 'an enum label added and used');
exact('an enum label added');
is($target->safe_psql('fam1', q{SELECT m FROM public.kids WHERE id = 14}), 'sleepy', 'the new label arrived');
as_owner(q{UPDATE kids SET m = 'sleepy' WHERE id = 15});
push_ok($source, 'app', $id2, 'incremental', 'the label used by the other owner');
is($target->safe_psql('fam1', q{SELECT m, pg_typeof(m)::regtype FROM second.kids WHERE id = 15}), 'sleepy|second.mood',
	'arrived in its target schema, with the type there');

# a column excluded: only sunsync's own rows change (a new version of the
# registration), no relation the scope was read from
as_owner(q{SELECT sunsync_add_table('kids', exclude_columns => '{note}')});
push_ok($source, 'app', $id, 'full', 'a column excluded');
is($target->safe_psql('fam1', q{SELECT count(*) FROM public.kids WHERE note IS NOT NULL}), '0',
	'the excluded column is no longer copied');
$excluded = "'note'";
exact('a column excluded');

# a schema renamed by a replica's session (no event trigger fires, and
# no relation of the scope is invalidated): a kept scope would still read
# extra.notes, and the push would fail
$source->safe_psql('app', q{SET session_replication_role = replica; ALTER SCHEMA extra RENAME TO further});
as_owner(q{UPDATE further.notes SET body = 'renamed' WHERE id = 2});
push_ok($source, 'app', $id, 'full', 'a schema renamed');
is(rows_digest($target, 'fam1', 'SELECT id, parent_id, body FROM further.notes'),
	rows_digest($source, 'app', 'SELECT id, parent_id, body FROM further.notes WHERE parent_id = 1'),
	'the table is copied from its schema under the new name');
# the old copy is no longer replicated: its rows stay, the foreign key
# sunsync made on it (found by its comment) goes, or it would stop the
# TRUNCATE of parents in every full sync
is($target->safe_psql('fam1', q{SELECT count(*) FROM extra.notes}), '5', 'the old copy keeps its rows');
is($target->safe_psql('fam1', q{SELECT count(*) FROM pg_constraint WHERE conrelid = 'extra.notes'::regclass
	AND contype = 'f'}), '0', 'and loses the foreign key sunsync made on it');
exact('a schema renamed');

# a type renamed by a replica's session (only the syscache entry of that
# type tells): the run sees the new name, which the target lacks, and says
# so; a kept scope would ship the column as the old type
$source->safe_psql('app', q{SET session_replication_role = replica; ALTER TYPE mood RENAME TO feeling});
as_owner(q{UPDATE kids SET m = 'busy' WHERE id = 18});
($rc, $out, $err) = $source->psql('app', "SELECT sunsync_push($id, wait => true)");
like($err, qr/schema mismatch: table public.kids column m is public.mood on the target but public.feeling on the source/,
	'a type renamed: the push names the type by its new name');
$target->safe_psql('fam1', 'ALTER TYPE public.mood RENAME TO feeling');
push_ok($source, 'app', $id, 'incremental', 'the type renamed on the target too');
is($target->safe_psql('fam1', q{SELECT m, pg_typeof(m)::regtype FROM public.kids WHERE id = 18}), 'busy|feeling',
	'the change arrived, of the renamed type');
exact('a type renamed');

# and kept again once nothing changes
as_owner('UPDATE kids SET points = 4 WHERE id = 16');
push_ok($source, 'app', $id, 'incremental', 'after the changes');
$reads = scope_reads();
push_ok($source, 'app', $id, 'incremental', 'after the changes, again');
is(scope_reads(), $reads, 'the scope is kept again');
exact('at the end');
done_testing();
