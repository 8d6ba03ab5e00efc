# Incremental runs on the Sunschool example, two families, two clusters:
# after the first (full) copy, each push ships only what changed, and each
# copy is exact after it: inserts (one row and bulk), updates, key updates,
# deletes, a change to an excluded column, several changes to one row, a
# learner who moves to another family and back, rows that refer to another
# family's rows, a transaction that commits after a later one was shipped,
# and a TRUNCATE (which makes the next run full).
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Test::More;

my $source = new_source('inc_source');
my $target = new_target('inc_target');
target_login($target, 'fam', 'Tgt-S3cret', 'fam1', 'fam5');
load_sunschool($source, 'app', 'families => 4', 'learners_per_family => 3',
	'lessons_per_learner => 20', 'big_family_lessons => 300');

# family 1: parent 1, learners 2, 3, 4; family 5: parent 5, learners 6, 7, 8
my $f1 = $source->safe_psql('app', "SELECT sunsync_create_config(1, '" . target_url($target, 'fam', 'Tgt-S3cret', 'fam1') . "')");
my $f5 = $source->safe_psql('app', "SELECT sunsync_create_config(5, '" . target_url($target, 'fam', 'Tgt-S3cret', 'fam5') . "')");

sub exact
{
	my ($label) = @_;
	compare_tables($source, 'app', $target, 'fam1', sunschool_tables($source, 'app', 1), "$label, family 1");
	compare_tables($source, 'app', $target, 'fam5', sunschool_tables($source, 'app', 5), "$label, family 5");
}

sub push_both
{
	my ($kind, $label) = @_;
	push_ok($source, 'app', $f1, $kind, "$label, family 1");
	push_ok($source, 'app', $f5, $kind, "$label, family 5");
}

push_both('full', 'first push');
exact('first push');
is($source->safe_psql('app', "SELECT pending_changes, lag IS NULL FROM sunsync_configs WHERE id = $f1"), '0|t',
	'nothing pending after the first copy');
is($target->safe_psql('fam1', 'SELECT count(*) FROM public.sunsync_state'), '1', 'the target keeps its own record');

# Every table changes, in both families and in one without a configuration.
$source->safe_psql('app', q{
	UPDATE users SET name = name || E' (edited\t✓)' WHERE id IN (2, 6, 10);
	UPDATE users SET password = 'changed' WHERE id = 3;
	INSERT INTO users (id, username, name, role, parent_id) VALUES
	  (100, 'new1', 'New one', 'LEARNER', 1), (101, 'new5', 'New five', 'LEARNER', 5);
	INSERT INTO learner_profiles (id, user_id, grade_level) VALUES ('p-100', 100, 3);
	UPDATE learner_profiles SET grade_level = grade_level + 1, graph = '{ "spaced" :  1 }' WHERE user_id IN (2, 7);
	INSERT INTO lessons (id, learner_id, status, score)
	  SELECT 'new-' || g, 100, 'QUEUED', g - 1 FROM generate_series(1, 500) g;
	UPDATE lessons SET score = 0, spec = '{ "changed" :  true }' WHERE learner_id = 3 AND id LIKE 'lesson-3-1_';
	DELETE FROM quiz_answers WHERE learner_id = 4;
	DELETE FROM lessons WHERE learner_id = 4 AND id LIKE 'lesson-4-1_';
	UPDATE achievements SET id = gen_random_uuid() WHERE learner_id = '2';
	INSERT INTO achievements (learner_id, type) VALUES ('100', 'WELCOME'), ('6', 'WELCOME'), ('99999', 'ORPHAN');
	UPDATE points_ledger SET id = md5(id::text)::uuid, amount = -amount WHERE learner_id IN (2, 6);
	UPDATE learner_points SET current_balance = 0 WHERE learner_id = 3;
	DELETE FROM learner_points WHERE learner_id = 7;
	INSERT INTO rewards (id, parent_id, title, token_cost) VALUES (gen_random_uuid(), 1, E'New\ttreat', 5);
	UPDATE reward_redemptions SET status = 'DONE', parent_notes = NULL WHERE learner_id = 2;
	UPDATE learning_goals SET current_value = 9 WHERE learner_id IN (3, 8);
	DELETE FROM reward_goal_savings WHERE learner_id = 2;
	UPDATE concept_mastery SET mastery_level = 99 WHERE learner_id IN (4, 6);
	UPDATE lessons SET score = 1 WHERE learner_id = 10;
});
ok($source->safe_psql('app', "SELECT pending_changes > 500 AND lag > '0' FROM sunsync_configs WHERE id = $f1"),
	'pending_changes and lag show what waits');
push_both('incremental', 'every table changed');
exact('every table changed');
my $run = last_run($source, 'app', $f1);
ok($run->{upserted} > 500 && $run->{deleted} > 0, "the incremental run counts its rows ($run->{upserted} upserted, $run->{deleted} deleted)");
is($source->safe_psql('app', "SELECT pending_changes, lag IS NULL FROM sunsync_configs WHERE id = $f1"), '0|t',
	'nothing pending afterwards');
is($target->safe_psql('fam1', "SELECT count(*) FROM public.achievements WHERE learner_id = '99999'"), '0',
	'an achievement of no learner is sent nowhere');

# Several changes to one row ship it once; a change to an excluded column
# ships the row without it.
$source->safe_psql('app', "UPDATE lessons SET score = $_ WHERE id = 'lesson-2-1'") for 1 .. 3;
push_ok($source, 'app', $f1, 'incremental', 'one row changed three times');
is(last_run($source, 'app', $f1)->{upserted}, '1', 'it shipped once');
exact('one row changed three times');

# A learner moves to another family with all its rows, and comes back.
$source->safe_psql('app', 'UPDATE users SET parent_id = 5 WHERE id = 4');
push_both('incremental', 'learner 4 moved to family 5');
exact('learner 4 moved to family 5');
is($target->safe_psql('fam1', q{SELECT (SELECT count(*) FROM public.users WHERE id = 4)
	+ (SELECT count(*) FROM public.lessons WHERE learner_id = 4)
	+ (SELECT count(*) FROM public.achievements WHERE learner_id = '4')}), '0',
	'family 1 lost the learner, its lessons and achievements');
ok($target->safe_psql('fam5', 'SELECT count(*) FROM public.lessons WHERE learner_id = 4') > 0,
	'family 5 got its lessons');
# it still refers to family 1's reward; and a new redemption of another family's reward
is($target->safe_psql('fam5', q{SELECT count(*) FROM public.reward_redemptions r
	WHERE r.learner_id = 4 AND NOT EXISTS (SELECT FROM public.rewards w WHERE w.id = r.reward_id)}), '1',
	'a row that refers to another family\'s row arrived');
$source->safe_psql('app', q{INSERT INTO reward_redemptions (id, learner_id, reward_id, tokens_spent)
	VALUES (gen_random_uuid(), 2, md5('reward2-1')::uuid, 1)});
$source->safe_psql('app', "UPDATE lessons SET score = 42 WHERE learner_id = 4 AND id LIKE 'lesson-4-2_'");
$source->safe_psql('app', 'UPDATE users SET parent_id = 1 WHERE id = 4');
push_both('incremental', 'learner 4 came back');
exact('learner 4 came back');

# Out of order: a transaction that started first commits after a later
# one's change was shipped; its change arrives with the next run.
my $slow = $source->background_psql('app');
$slow->query_safe("BEGIN; UPDATE lessons SET score = 77 WHERE id = 'lesson-2-2';");
$source->safe_psql('app', "UPDATE lessons SET score = 88 WHERE id = 'lesson-3-2'");
push_ok($source, 'app', $f1, 'incremental', 'a later commit first');
is($target->safe_psql('fam1', "SELECT score FROM public.lessons WHERE id = 'lesson-3-2'"), '88', 'the later commit arrived');
isnt($target->safe_psql('fam1', "SELECT score FROM public.lessons WHERE id = 'lesson-2-2'"), '77',
	'the open transaction did not');
$slow->query_safe('COMMIT');
$slow->quit;
push_ok($source, 'app', $f1, 'incremental', 'the earlier transaction committed');
is($target->safe_psql('fam1', "SELECT score FROM public.lessons WHERE id = 'lesson-2-2'"), '77',
	'its change arrived with the next run');
exact('out of order commits');

# A TRUNCATE makes the next run full; the one after is incremental again.
$source->safe_psql('app', 'TRUNCATE concept_mastery');
push_both('full', 'after a TRUNCATE');
exact('after a TRUNCATE');
$source->safe_psql('app', "INSERT INTO concept_mastery (id, learner_id, concept_name) VALUES (gen_random_uuid(), 2, 'new')");
push_ok($source, 'app', $f1, 'incremental', 'after the full sync');
exact('incremental after the full sync');

# A full sync on demand repairs a copy damaged by hand.
$target->safe_psql('fam1', "DELETE FROM public.lessons WHERE learner_id = 3; UPDATE public.users SET name = 'x'");
push_ok($source, 'app', $f1, 'full', 'sunsync_push(full => true)', ', full => true');
exact('repaired by full => true');

# The target's record gone (the tenant dropped it): a full sync, exact.
$target->safe_psql('fam1', 'DROP TABLE public.sunsync_state');
$source->safe_psql('app', "UPDATE lessons SET score = 5 WHERE id = 'lesson-2-3'");
push_ok($source, 'app', $f1, 'full', 'without the target\'s record');
exact('without the target\'s record');

# A kept connection keeps its scratch tables: made once, emptied at each
# commit, reused by the next run; none of them depends on a type of the
# tenant's schema (users.role, lessons.status are enums, held as text).
# (by name: only sunsync's sessions make temporary tables in fam1)
my $temp_tables = q{SELECT string_agg(c.oid::text, ',' ORDER BY c.oid) FROM pg_catalog.pg_class c
	WHERE c.relpersistence = 't' AND c.relkind = 'r' AND c.relname LIKE 'sunsync\_%'};
my $sessions = q{SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity
	WHERE application_name = 'sunsync' AND datname = 'fam1'};
sub change_and_push
{
	my ($n) = @_;
	$source->safe_psql('app', qq{UPDATE lessons SET score = $n WHERE id = 'lesson-2-3';
		UPDATE learner_profiles SET grade_level = $n WHERE user_id = 2;
		UPDATE users SET name = 'Round $n' WHERE id = 3});
	push_ok($source, 'app', $f1, 'incremental', "scratch tables, round $n");
}
change_and_push(1);
my $first = $target->safe_psql('fam1', $temp_tables);
my $first_sessions = $target->safe_psql('fam1', $sessions);
change_and_push(2);
change_and_push(3);
ok($first ne '', 'the kept connection has its scratch tables');
is($target->safe_psql('fam1', $temp_tables), $first, 'the next runs on it used the same tables, and no new one');
is($target->safe_psql('fam1', $sessions), $first_sessions, '(on the same target session)');
is($target->safe_psql('fam1', q{SELECT count(*) FROM pg_catalog.pg_depend d
	JOIN pg_catalog.pg_class c ON d.classid = 'pg_catalog.pg_class'::regclass AND c.oid = d.objid
	JOIN pg_catalog.pg_type t ON d.refclassid = 'pg_catalog.pg_type'::regclass AND t.oid = d.refobjid
	WHERE c.relpersistence = 't' AND c.relname LIKE 'sunsync\_%' AND t.typnamespace = 'public'::regnamespace}), '0',
	'no scratch table depends on a type of the tenant\'s schema');
exact('runs on a kept connection');

# The queue reads of a run and of sunsync_configs keep their plans for the
# life of the process, and the queue tables are never analyzed but by a
# database-wide VACUUM ANALYZE, which may find them empty: however small a
# queue table was when they were planned, they read it by index, never
# whole (a plan that scanned it would cost more with every change).  A new
# database, so that its run worker plans them afresh.
$source->safe_psql('postgres', 'CREATE DATABASE fresh');
$source->safe_psql('fresh', q{CREATE EXTENSION sunsync;
	CREATE TABLE parents (id int PRIMARY KEY, name text);
	CREATE TABLE kids (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parents, score int);
	CREATE INDEX ON kids (parent_id);
	INSERT INTO parents VALUES (1, 'one'), (2, 'two');
	INSERT INTO kids SELECT k, 1 + k % 2, 0 FROM generate_series(1, 4000) k;
	SELECT sunsync_set_root('parents', 'id');
	SELECT sunsync_add_table('kids');});
my @fresh = map {
	$source->safe_psql('fresh', "SELECT sunsync_create_config($_, '"
		  . target_url($target, 'fam', 'Tgt-S3cret', 'fam5') . "', target_schema => 'fresh$_')")
} 1, 2;
$source->safe_psql('fresh', 'VACUUM ANALYZE');
my $queue_scans = q{SELECT sum(seq_scan) || ',' || sum(idx_scan) FROM pg_catalog.pg_stat_all_tables
	WHERE schemaname = 'sunsync' AND relname ~ '^queue_[0-2]$'};
my ($seq0) = split /,/, $source->safe_psql('fresh', $queue_scans);
push_ok($source, 'fresh', $fresh[0], 'full', 'a new database, first push');
$source->safe_psql('fresh', 'UPDATE kids SET score = 1 WHERE id = 1');
push_ok($source, 'fresh', $fresh[0], 'incremental', 'a new database, with a queue of one entry');
# the queue grows (another owner's changes, each its own transaction)
$source->safe_psql('fresh', q{DO $$ BEGIN
	FOR i IN 1 .. 2000 LOOP UPDATE kids SET score = score + 1 WHERE id = 2 * i - 1; COMMIT; END LOOP; END $$});
for my $n (1 .. 2) {
	sleep 1.1; # (a worker sends its statistics at most once a second)
	$source->safe_psql('fresh', "UPDATE kids SET score = score + 1 WHERE id = 3");
	push_ok($source, 'fresh', $fresh[0], 'incremental', "a new database, a grown queue, run $n");
	$source->safe_psql('fresh', 'SELECT count(*) FROM sunsync_configs WHERE pending_changes >= 0');
}
my ($seq1, $idx1);
for (1 .. 50) {
	($seq1, $idx1) = split /,/, $source->safe_psql('fresh', $queue_scans);
	last if $idx1 > 0;
	sleep 0.2;
}
ok($idx1 > 0, "the queue was read by index ($idx1 index scans)");
is($seq1, $seq0, 'and never scanned whole, by runs or by sunsync_configs');
ok($source->safe_psql('fresh', 'SELECT pg_catalog.pg_relation_size(\'sunsync.queue_0\') / 8192') > 10,
	'(the queue had grown to more than 10 pages)');
done_testing();