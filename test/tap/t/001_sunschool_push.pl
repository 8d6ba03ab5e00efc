# sunsync_push between two clusters, on the Sunschool example: an exact copy
# of one family, nothing of the others, excluded columns absent, repeated
# pushes exact, status transitions, and each error a user can act on.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use IO::Socket::INET;
use Test::More;

my ($rc, $out, $err);
my $source = new_source('source');
my $target = new_target('target');
target_login($target, 'family1', 'Tgt-S3cret', 'family1', 'family_mm');
target_login($target, 'limited', 'Tgt-S3cret');
load_sunschool($source, 'app', 'families => 4', 'learners_per_family => 3',
	'lessons_per_learner => 30', 'big_family_lessons => 3000');

my $url = target_url($target, 'family1', 'Tgt-S3cret', 'family1');
my $id = $source->safe_psql('app', "SELECT sunsync_create_config(1, '$url')");

is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED',
	'push with wait returns COMPLETED');

# Family 1, as the application sees it, without sunsync's help.
my $family = '(SELECT id FROM users WHERE coalesce(parent_id, id) = 1)';
sub family_tables { return sunschool_tables($source, 'app', 1); }
compare_tables($source, 'app', $target, 'family1', family_tables(), 'first push');

is($target->safe_psql('family1', 'SELECT count(*) FROM public.users WHERE coalesce(parent_id, id) <> 1'),
	'0', 'no user of another family reached the target');
is($target->safe_psql('family1', 'SELECT count(*) FROM public.lessons'),
	$source->safe_psql('app', "SELECT count(*) FROM lessons WHERE learner_id IN $family"),
	'all of the big family\'s lessons arrived, not a capped number');
is($target->safe_psql('family1',
	"SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'password'"),
	'0', 'the excluded column users.password was not created');
is($target->safe_psql('family1', 'SELECT count(*) FROM public.lessons WHERE score = 0'),
	$source->safe_psql('app', "SELECT count(*) FROM lessons WHERE score = 0 AND learner_id IN $family"),
	'a score of 0 stays 0');
is($target->safe_psql('family1', q{
	SELECT string_agg(confrelid::regclass::text || ':' || condeferrable, ',' ORDER BY conname)
	  FROM pg_constraint WHERE conrelid = 'public.lessons'::regclass AND contype = 'f'}),
	'users:true', 'lessons has its deferrable foreign key to users, none to lesson_templates');
is($target->safe_psql('family1', q{SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder)
	FROM pg_enum WHERE enumtypid = 'public.lesson_status'::regtype}),
	'QUEUED,ACTIVE,DONE', 'the enum type was created on the target');
my $total = $target->safe_psql('family1', q{
	SELECT sum(n) FROM (
	  SELECT count(*) n FROM users UNION ALL SELECT count(*) FROM learner_profiles
	  UNION ALL SELECT count(*) FROM lessons UNION ALL SELECT count(*) FROM achievements
	  UNION ALL SELECT count(*) FROM points_ledger UNION ALL SELECT count(*) FROM learner_points
	  UNION ALL SELECT count(*) FROM rewards UNION ALL SELECT count(*) FROM reward_redemptions
	  UNION ALL SELECT count(*) FROM learning_goals UNION ALL SELECT count(*) FROM reward_goal_savings
	  UNION ALL SELECT count(*) FROM quiz_answers UNION ALL SELECT count(*) FROM concept_mastery) s});
is($source->safe_psql('app', "SELECT status || ' ' || rows_upserted || ' ' || kind FROM sunsync_history WHERE config_id = $id"),
	"COMPLETED $total full", 'one history row with the rows copied');
is($source->safe_psql('app', "SELECT status, last_sync_at IS NOT NULL, last_error IS NULL FROM sunsync_configs WHERE id = $id"),
	'COMPLETED|t|t', 'the configuration is COMPLETED with last_sync_at');

# Changes, a new learner and a new column: the next push is exact again.
$source->safe_psql('app', q{
	UPDATE lessons SET score = 0, spec = '{ "changed" :  true }' WHERE id = 'lesson-2-7';
	DELETE FROM quiz_answers WHERE lesson_id = 'lesson-2-14';
	INSERT INTO users (id, username, name, role, parent_id) VALUES (1000, 'newkid', E'New\tkid \\ ✓', 'LEARNER', 1);
	INSERT INTO lessons (id, learner_id, status, score) VALUES ('lesson-1000-1', 1000, 'DONE', 0);
	ALTER TABLE lessons ADD COLUMN note text;
	UPDATE lessons SET note = E'line\nbreak' WHERE id = 'lesson-1000-1';
	UPDATE users SET parent_id = 5 WHERE id = 4;  -- a learner moves to family 5
});
is($source->safe_psql('app', "SELECT sunsync_push($id, true)"), 'COMPLETED', 'second push');
compare_tables($source, 'app', $target, 'family1', family_tables(), 'second push');
is($target->safe_psql('family1', "SELECT note FROM public.lessons WHERE id = 'lesson-1000-1'"),
	"line\nbreak", 'a column added on the source was added on the target');
is($target->safe_psql('family1', 'SELECT count(*) FROM public.users WHERE id = 4'), '0',
	'a learner who left the family left the target');

# Asynchronous push: IN_PROGRESS at once, for every session, even before the
# caller commits; a second push joins the run in flight.
my $blocker = $target->background_psql('family1');
$blocker->query_safe('BEGIN; LOCK TABLE public.lessons IN ACCESS EXCLUSIVE MODE;');
my $runs_before = $source->safe_psql('app', "SELECT count(*) FROM sunsync_history WHERE config_id = $id");
my $caller = $source->background_psql('app');
$caller->query_safe('BEGIN');
# (a full sync: an incremental one would have nothing to wait for)
is($caller->query_safe("SELECT sunsync_push($id, full => true)"), 'IN_PROGRESS', 'push without wait returns IN_PROGRESS');
is($source->safe_psql('app', "SELECT status FROM sunsync_configs WHERE id = $id"), 'IN_PROGRESS',
	'another session sees IN_PROGRESS before the caller commits');
is($source->safe_psql('app', "SELECT sunsync_push($id)"), 'IN_PROGRESS', 'a second push while running');
$caller->query_safe('COMMIT');
$caller->quit;
# (a full sync settles first: its first attempt passes 'preparing target'
# too, so wait until the run is really held by the target's lock)
ok($target->poll_query_until('family1', "SELECT count(*) > 0 FROM pg_locks WHERE NOT granted"),
	'the run waits for the lock on the target');
ok($source->poll_query_until('app', "SELECT phase = 'preparing target' FROM sunsync_progress WHERE config_id = $id"),
	'sunsync_progress shows the run waiting on the target');
like($source->safe_psql('app', "SELECT pid > 0, tables_total FROM sunsync_progress WHERE config_id = $id"),
	qr/^t\|12$/, 'sunsync_progress has the worker pid and 12 tables');
like($source->safe_psql('app', q{SELECT string_agg(DISTINCT backend_type, ',' ORDER BY backend_type)
	FROM pg_stat_activity WHERE backend_type LIKE 'sunsync%'}),
	qr/^sunsync launcher,sunsync worker$/, 'pg_stat_activity shows sunsync launcher and sunsync worker');
# while that run waits, another configuration's run goes ahead
my $other_url = target_url($target, 'family1', 'Tgt-S3cret', 'family_other');
$target->safe_psql('postgres', 'CREATE DATABASE family_other OWNER family1');
my $other = $source->safe_psql('app', "SELECT sunsync_create_config(1, '$other_url')");
is($source->safe_psql('app', "SELECT sunsync_push($other, true)"), 'COMPLETED',
	'a second configuration syncs while the first run is held up');
$blocker->query_safe('COMMIT');
ok(poll_status($source, 'app', $id, 'COMPLETED'), 'the run completes once the target lets it');
is($source->safe_psql('app', "SELECT count(*) FROM sunsync_history WHERE config_id = $id") - $runs_before, 1,
	'the second push did not start a second run');
is($source->safe_psql('app', "SELECT count(*) FROM sunsync_progress"), '0', 'no run in flight afterwards');

# The launcher restarts a database worker that stops (run workers, idle
# or not, show what they do in pg_stat_activity.query).
ok($source->poll_query_until('app', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'sunsync worker' AND datname = 'app' AND query NOT LIKE 'sunsync: %'}), 'the database has its sunsync worker');
my $worker_pid = $source->safe_psql('app', q{SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'sunsync worker' AND datname = 'app' AND query NOT LIKE 'sunsync: %'});
$source->safe_psql('app', "SELECT pg_terminate_backend($worker_pid)");
ok($source->poll_query_until('app', qq{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'sunsync worker' AND datname = 'app' AND query NOT LIKE 'sunsync: %' AND pid <> $worker_pid}),
	'a new worker replaces it');

# A database that gets the extension later works without a restart.
$source->safe_psql('postgres', 'CREATE DATABASE later');
$source->safe_psql('later', q{
	CREATE EXTENSION sunsync;
	CREATE TABLE owners (id int PRIMARY KEY);
	CREATE TABLE notes (id int PRIMARY KEY, owner_id int REFERENCES owners, body text);
	INSERT INTO owners VALUES (1), (2);
	INSERT INTO notes VALUES (1, 1, 'mine'), (2, 2, 'not mine');
	SELECT sunsync_set_root('owners', 'id');
	SELECT sunsync_add_table('notes');
});
ok($source->poll_query_until('later', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'sunsync worker' AND datname = 'later' AND query NOT LIKE 'sunsync: %'}),
	'CREATE EXTENSION alone gets the new database its worker');
$target->safe_psql('postgres', 'CREATE DATABASE later_target OWNER family1');
my $later = $source->safe_psql('later', "SELECT sunsync_create_config(1, '"
	  . target_url($target, 'family1', 'Tgt-S3cret', 'later_target') . "')");
is($source->safe_psql('later', "SELECT sunsync_push($later, true)"), 'COMPLETED',
	'a push in a database where sunsync was created later');
is($target->safe_psql('later_target', 'SELECT string_agg(body, \',\') FROM public.notes'), 'mine',
	'and it copied that owner\'s rows');

# Rows are read as the role that set the root, never with more rights.
$source->safe_psql('later', q{
	CREATE ROLE root_owner;
	ALTER TABLE owners OWNER TO root_owner;
	GRANT EXECUTE ON FUNCTION sunsync_set_root(regclass, text) TO root_owner;
	SET ROLE root_owner;
	SELECT sunsync_set_root('owners', 'id');
	RESET ROLE;
});
($rc, $out, $err) = $source->psql('later', "SELECT sunsync_push($later, true)");
like($err, qr/permission denied for table notes/,
	'a root set by a role without SELECT on a table cannot read it through sunsync');
$source->safe_psql('later', 'GRANT SELECT ON notes TO root_owner');
is($source->safe_psql('later', "SELECT sunsync_push($later, true)"), 'COMPLETED',
	'granted SELECT, the run reads as that role');

# Each failure leaves FAILED with a message naming its cause.
sub failing_push
{
	my ($name, $config_url, $pattern, $schema) = @_;
	my $args = "2, '$config_url'" . ($schema ? ", false, '$schema'" : '');
	my $cid = $source->safe_psql('app', "SELECT sunsync_create_config($args)");
	my ($rc, $out, $err) = $source->psql('app', "SELECT sunsync_push($cid, wait => true)");
	like($err, $pattern, "$name: push with wait raises the cause");
	like($source->safe_psql('app', "SELECT status || ': ' || last_error FROM sunsync_configs WHERE id = $cid"),
		qr/^FAILED: .*$pattern/, "$name: the config is FAILED with the cause");
	like($source->safe_psql('app', "SELECT status || ': ' || error FROM sunsync_history WHERE config_id = $cid"),
		qr/^FAILED: .*$pattern/, "$name: the history row says why");
	unlike($err, qr/S3cret|Wr0ng/, "$name: no password in the error");
	return $cid;
}

my $free_port = PostgreSQL::Test::Cluster::get_free_port();
failing_push('refused', "postgresql://family1:Tgt-S3cret\@127.0.0.1:$free_port/family1",
	qr/connection refused/);

my $silent_port = PostgreSQL::Test::Cluster::get_free_port();
my $silent = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1', LocalPort => $silent_port,
	Proto => 'tcp', ReuseAddr => 1) or die "listen: $!";
failing_push('timeout', "postgresql://family1:Tgt-S3cret\@127.0.0.1:$silent_port/family1",
	qr/timed out after 3000 ms/);
close $silent;

failing_push('authentication', target_url($target, 'family1', 'Wr0ng-pass', 'family1'),
	qr/authentication failed on target .* for user "family1"/);
failing_push('permission', target_url($target, 'limited', 'Tgt-S3cret', 'family1'),
	qr/permission denied on target/, 'limited_schema');

$target->safe_psql('family_mm', 'CREATE TABLE public.lessons (id text PRIMARY KEY, score text)');
failing_push('schema mismatch', target_url($target, 'family1', 'Tgt-S3cret', 'family_mm'),
	qr/schema mismatch: table public\.lessons column score is text on the target but integer on the source/);

($rc, $out, $err) = $source->psql('app', 'SELECT sunsync_push(999)');
like($err, qr/configuration 999 does not exist/, 'an unknown id is an error naming it');

# A run that a crash interrupts does not stay IN_PROGRESS.
$blocker = $target->background_psql('family1');
$blocker->query_safe('BEGIN; LOCK TABLE public.lessons IN ACCESS EXCLUSIVE MODE;');
$source->safe_psql('app', "SELECT sunsync_push($id, full => true)");
ok($source->poll_query_until('app', "SELECT phase = 'preparing target' FROM sunsync_progress WHERE config_id = $id"),
	'a run is waiting on the target');
$source->stop('immediate');
$source->start;
ok(poll_status($source, 'app', $id, 'FAILED'), 'after a crash the run is FAILED');
like($source->safe_psql('app', "SELECT last_error FROM sunsync_configs WHERE id = $id"),
	qr/interrupted/, 'its message says it was interrupted');
is($source->safe_psql('app', "SELECT count(*) FROM sunsync_history WHERE status = 'IN_PROGRESS'"), '0',
	'no history row stays IN_PROGRESS');

# SIGTERM to a run worker stops the run cleanly.
$source->safe_psql('app', "SELECT sunsync_push($id, full => true)");
ok($source->poll_query_until('app', "SELECT phase = 'preparing target' FROM sunsync_progress WHERE config_id = $id"),
	'a run is waiting on the target again');
$source->safe_psql('app', "SELECT pg_terminate_backend(pid) FROM sunsync_progress WHERE config_id = $id");
ok(poll_status($source, 'app', $id, 'FAILED'), 'a terminated run is FAILED');
like($source->safe_psql('app', "SELECT last_error FROM sunsync_configs WHERE id = $id"),
	qr/stopped/, 'its message says it was stopped');

# Deleting a configuration stops its run.
$source->safe_psql('app', "SELECT sunsync_push($id, full => true)");
ok($source->poll_query_until('app', "SELECT phase = 'preparing target' FROM sunsync_progress WHERE config_id = $id"),
	'a run is waiting on the target once more');
$source->safe_psql('app', "SELECT sunsync_delete_config($id)");
ok($source->poll_query_until('app', "SELECT count(*) = 0 FROM sunsync_progress"), 'deleting the config stops its run');
$blocker->query_safe('COMMIT');
$blocker->quit;
is($target->safe_psql('family1', 'SELECT count(*) > 0 FROM public.lessons'), 't', 'target data is left alone');

unlike(slurp_file($source->logfile), qr/S3cret|Wr0ng/, 'no password in the source server log');

done_testing();
