# Continuous mode, two clusters, no push anywhere: a continuous config gets
# its first copy by itself and then every change within naptime plus one
# run; a burst is coalesced into one run per naptime; a config switched to
# continuous copies by itself; a stopped target makes the runs fail with
# the error and a growing next_attempt_at (capped by retry_max_delay), and
# once the target is back the copy catches up by itself, exact; a push
# during the backoff runs at once; SIGHUP changes of naptime and
# retry_max_delay take effect without a restart; the database's worker,
# terminated, comes back and goes on.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Time::HiRes qw(time usleep);
use Test::More;

my $source = new_source('cont_source');
my $target = new_target('cont_target');
target_login($target, 'fam', 'Tgt-S3cret', 'fam1', 'fam4');
load_sunschool($source, 'app', 'families => 3', 'learners_per_family => 2',
	'lessons_per_learner => 10', 'big_family_lessons => 50');

sub exact
{
	my ($db, $family, $label) = @_;
	compare_tables($source, 'app', $target, $db, sunschool_tables($source, 'app', $family), $label);
}

sub runs
{
	my ($id) = @_;
	return $source->safe_psql('app', "SELECT count(*) FROM sunsync_history WHERE config_id = $id");
}

# Polls the target until the query returns the value; returns the seconds
# it took, or undef after $limit seconds.
sub arrives_within
{
	my ($db, $query, $want, $limit) = @_;
	my $t0 = time;
	while (time - $t0 < $limit)
	{
		my $got = $target->safe_psql($db, $query);
		return time - $t0 if $got eq $want;
		usleep(20_000);
	}
	return undef;
}

# 1. created continuous: the first copy, by itself
my $f1 = $source->safe_psql('app',
	"SELECT sunsync_create_config(1, '" . target_url($target, 'fam', 'Tgt-S3cret', 'fam1') . "', continuous => true)");
ok($source->poll_query_until('app',
		"SELECT count(*) > 0 FROM sunsync_history WHERE config_id = $f1 AND status = 'COMPLETED'"),
	'a config created continuous gets its first copy without a push');
is(last_run($source, 'app', $f1)->{kind}, 'full', 'the first copy is a full one');
exact('fam1', 1, 'after the first copy');

# 2. a change arrives within naptime plus one run
my $took = arrives_within('fam1', "SELECT 1", '1', 5); # the target answers
$source->safe_psql('app', "UPDATE users SET name = 'Continuous one' WHERE id = 2");
$took = arrives_within('fam1', "SELECT name FROM public.users WHERE id = 2", 'Continuous one', 10);
ok(defined $took && $took < 3, sprintf('a change arrives without a push (%.2f s)', $took // -1));
is(last_run($source, 'app', $f1)->{kind}, 'incremental', 'by an incremental run');
# a delete, an insert and an update of a key, in one transaction
$source->safe_psql('app', q{
	DELETE FROM quiz_answers WHERE learner_id = 2;
	INSERT INTO lessons (id, learner_id, status, score) VALUES ('cont-1', 2, 'QUEUED', 5);
	UPDATE achievements SET id = gen_random_uuid() WHERE learner_id = '2';
});
ok(defined arrives_within('fam1', "SELECT count(*) FROM public.lessons WHERE id = 'cont-1'", '1', 10),
	'an insert arrives');
$source->poll_query_until('app', "SELECT pending_changes = 0 FROM sunsync_configs WHERE id = $f1");
exact('fam1', 1, 'after changes shipped by themselves');
is($source->safe_psql('app', "SELECT pending_changes, lag IS NULL, next_attempt_at IS NULL FROM sunsync_configs WHERE id = $f1"),
	'0|t|t', 'nothing pending, no lag, no retry');

# a plain role's writes wake the worker too (the capture trigger and the
# commit callback run in its session)
$source->safe_psql('app', q{
	CREATE ROLE app_writer LOGIN;
	GRANT SELECT, UPDATE ON users TO app_writer;
});
$source->safe_psql('app', "SET ROLE app_writer; UPDATE users SET name = 'Written by a plain role' WHERE id = 2");
ok(defined arrives_within('fam1', "SELECT name FROM public.users WHERE id = 2", 'Written by a plain role', 10),
	"a plain role's change arrives without a push");

# runs reuse their target connection; a new URL (here: a new password) is
# never served by the connection kept for the old one
sub sunsync_backend
{
	return $target->safe_psql('fam1',
		"SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE application_name = 'sunsync' AND datname = 'fam1'");
}
my $backend = sunsync_backend();
like($backend, qr/^\d+$/, 'one target connection is kept between runs');
$source->safe_psql('app', "UPDATE users SET name = 'Same connection' WHERE id = 2");
arrives_within('fam1', "SELECT name FROM public.users WHERE id = 2", 'Same connection', 10);
is(sunsync_backend(), $backend, 'the next run used it again');

# what code on the target leaves in the session (here a trigger that sets
# work_mem for the session) is reset before the kept connection's next run
$target->safe_psql('fam1', q{
	CREATE SCHEMA audit;
	CREATE TABLE audit.seen (n serial, work_mem text);
	GRANT USAGE ON SCHEMA audit TO fam;
	GRANT INSERT ON audit.seen TO fam;
	GRANT USAGE ON SEQUENCE audit.seen_n_seq TO fam;
	CREATE FUNCTION audit.leave_setting() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO audit.seen (work_mem) VALUES (current_setting('work_mem'));
		PERFORM set_config('work_mem', '7MB', false);
		RETURN NEW;
	END $$;
	CREATE TRIGGER leave_setting BEFORE UPDATE ON public.users FOR EACH ROW EXECUTE FUNCTION audit.leave_setting();
});
for my $i (1 .. 2)
{
	$source->safe_psql('app', "UPDATE users SET name = 'Setting left $i' WHERE id = 2");
	arrives_within('fam1', "SELECT name FROM public.users WHERE id = 2", "Setting left $i", 10);
}
is($target->safe_psql('fam1', "SELECT string_agg(work_mem, ',' ORDER BY n) FROM audit.seen"),
	'4MB,4MB', "a setting left by target code does not reach the next run on the same connection");
is(sunsync_backend(), $backend, '(which was the same connection)');
$target->safe_psql('fam1', "DROP TRIGGER leave_setting ON public.users");
$target->safe_psql('postgres', "ALTER ROLE fam PASSWORD 'Tgt-S3cret-2'");
$source->safe_psql('app', "SELECT sunsync_update_config($f1, target_url => '"
	  . target_url($target, 'fam', 'Tgt-S3cret-2', 'fam1') . "')");
$source->safe_psql('app', "UPDATE users SET name = 'New URL' WHERE id = 2");
ok(defined arrives_within('fam1', "SELECT name FROM public.users WHERE id = 2", 'New URL', 10),
	'a change after a new URL arrives');
my $after = sunsync_backend();
ok($after ne $backend && $after =~ /^\d+$/, "through a new connection ($backend, then $after)");
$target->safe_psql('postgres', "ALTER ROLE fam PASSWORD 'Tgt-S3cret'");
$source->safe_psql('app', "SELECT sunsync_update_config($f1, target_url => '"
	  . target_url($target, 'fam', 'Tgt-S3cret', 'fam1') . "')");

# 3. a burst is coalesced: one run per naptime (set to 2 s by SIGHUP)
$source->append_conf('postgresql.conf', "sunsync.naptime = 2s\n");
$source->reload;
sleep 1;
my $before = runs($f1);
my $t0 = time;
for my $i (1 .. 25)
{
	$source->safe_psql('app', "UPDATE lessons SET score = $i WHERE id = 'cont-1'");
	usleep(200_000);
}
my $burst = time - $t0;
ok(defined arrives_within('fam1', "SELECT score FROM public.lessons WHERE id = 'cont-1'", '25', 10),
	'the last change of the burst arrives');
my $made = runs($f1) - $before;
ok($made >= 2 && $made <= int($burst / 2) + 2,
	sprintf('a burst of 25 commits over %.1f s took %d runs (naptime 2 s)', $burst, $made));
my $gaps = $source->safe_psql('app', qq{
	SELECT coalesce(min(gap), 99) FROM (
	  SELECT extract(epoch FROM started_at - lag(started_at) OVER (ORDER BY run_id)) AS gap
	    FROM sunsync_history WHERE config_id = $f1 AND started_at >= to_timestamp($t0)) g});
cmp_ok($gaps, '>=', 1.9, "runs are at least naptime apart ($gaps s)");
$source->append_conf('postgresql.conf', "sunsync.naptime = 1s\n");
$source->reload;

# 4. switched to continuous: the first copy, by itself (family 4: parent 4,
# learners 5 and 6)
my $f4 = $source->safe_psql('app',
	"SELECT sunsync_create_config(4, '" . target_url($target, 'fam', 'Tgt-S3cret', 'fam4') . "')");
sleep 2;
is(runs($f4), '0', 'a config that is not continuous does not run by itself');
$source->safe_psql('app', "SELECT sunsync_update_config($f4, continuous => true)");
ok($source->poll_query_until('app',
		"SELECT count(*) > 0 FROM sunsync_history WHERE config_id = $f4 AND status = 'COMPLETED'"),
	'a config switched to continuous gets its first copy without a push');
exact('fam4', 4, 'family 4 after the switch');
cmp_ok($target->safe_psql('fam4', 'SELECT count(*) FROM public.lessons'), '>', 0, 'family 4 has lessons');

# 5. the target goes away: FAILED with the error, retries back off
$target->stop;
$source->safe_psql('app', "UPDATE users SET name = 'While the target was away' WHERE id = 3");
ok($source->poll_query_until('app', "SELECT status = 'FAILED' FROM sunsync_configs WHERE id = $f1"),
	'the run fails while the target is away');
like($source->safe_psql('app', "SELECT last_error FROM sunsync_configs WHERE id = $f1"),
	qr/connect/, 'the status carries the error');
ok($source->poll_query_until('app',
		"SELECT count(*) >= 4 FROM sunsync_history WHERE config_id = $f1 AND status = 'FAILED'"),
	'it is retried by itself');
my @starts = split /\n/, $source->safe_psql('app', qq{
	SELECT extract(epoch FROM started_at) FROM sunsync_history
	 WHERE config_id = $f1 AND status = 'FAILED' ORDER BY run_id});
my @gap = map { $starts[$_] - $starts[ $_ - 1 ] } 1 .. $#starts;
ok($gap[2] > $gap[0] && $gap[0] >= 0.4,
	sprintf('retries back off: %s s apart', join(', ', map { sprintf '%.1f', $_ } @gap)));
my $next = $source->safe_psql('app',
	"SELECT next_attempt_at > now() AND status = 'FAILED' FROM sunsync_configs WHERE id = $f1");
is($next, 't', 'next_attempt_at shows when the next attempt comes');

# retry_max_delay = 2 s by SIGHUP: later retries are at most that apart
$source->append_conf('postgresql.conf', "sunsync.retry_max_delay = 2s\n");
$source->reload;
my $failed_now = $source->safe_psql('app',
	"SELECT count(*) FROM sunsync_history WHERE config_id = $f1 AND status = 'FAILED'");
ok($source->poll_query_until('app', "SELECT count(*) >= $failed_now + 3 FROM sunsync_history "
		  . "WHERE config_id = $f1 AND status = 'FAILED'"), 'retries go on');
my $last_gaps = $source->safe_psql('app', qq{
	SELECT max(gap) FROM (
	  SELECT extract(epoch FROM started_at - lag(started_at) OVER (ORDER BY run_id)) AS gap, run_id
	    FROM sunsync_history WHERE config_id = $f1 AND status = 'FAILED') g
	 WHERE run_id > (SELECT run_id FROM sunsync_history WHERE config_id = $f1 AND status = 'FAILED'
	                  ORDER BY run_id OFFSET $failed_now LIMIT 1)});
cmp_ok($last_gaps, '<', 3.0, "capped by retry_max_delay after the reload ($last_gaps s)");

# 6. the target comes back: the copy catches up by itself
$source->append_conf('postgresql.conf', "sunsync.retry_max_delay = 5min\n");
$source->reload;
$target->start;
ok(defined arrives_within('fam1', "SELECT name FROM public.users WHERE id = 3", 'While the target was away', 30),
	'the copy catches up by itself once the target is back');
ok($source->poll_query_until('app',
		"SELECT status = 'COMPLETED' AND next_attempt_at IS NULL FROM sunsync_configs WHERE id = $f1"),
	'the first success ends the backoff');
exact('fam1', 1, 'after the target came back');

# 7. a push during the backoff runs at once
$target->stop;
$source->safe_psql('app', "UPDATE users SET name = 'Pushed at once' WHERE id = 3");
ok($source->poll_query_until('app',
		"SELECT next_attempt_at > now() + interval '3 s' FROM sunsync_configs WHERE id = $f1"),
	'failing again, with the next attempt seconds away');
$target->start;
$t0 = time;
my ($rc, $out, $err) = $source->psql('app', "SELECT sunsync_push($f1, wait => true)");
is($out, 'COMPLETED', 'a push during the backoff completes') or diag $err;
ok(time - $t0 < 3, sprintf('at once (%.1f s)', time - $t0));
is($target->safe_psql('fam1', "SELECT name FROM public.users WHERE id = 3"), 'Pushed at once', 'and shipped the change');
ok($source->poll_query_until('app', "SELECT next_attempt_at IS NULL FROM sunsync_configs WHERE id = $f1"),
	'the backoff is over');

# 8. a push that waits, while continuous runs come and go, returns only
# once what the caller committed is on the target
my $seen_all = 1;
for my $i (1 .. 8)
{
	$source->safe_psql('app', "UPDATE users SET name = 'Read your writes $i' WHERE id = 2");
	usleep(100_000 * ($i % 3));
	my ($rc, $out, $err) = $source->psql('app', "SELECT sunsync_push($f1, wait => true)");
	$seen_all = 0 unless $out eq 'COMPLETED'
	  && $target->safe_psql('fam1', "SELECT name FROM public.users WHERE id = 2") eq "Read your writes $i";
}
ok($seen_all, 'a push with wait always ships what was committed before it');

# 9. a change of scope: every continuous configuration runs by itself (a
# full sync), and the new table arrives
my $runs_before = runs($f4);
$source->safe_psql('app', q{
	CREATE TABLE notes (id int PRIMARY KEY, learner_id int NOT NULL REFERENCES users, body text);
	INSERT INTO notes SELECT id, id, 'note ' || id FROM users WHERE role = 'LEARNER';
	SELECT sunsync_add_table('notes');
});
ok(defined arrives_within('fam4', "SELECT to_regclass('public.notes') IS NOT NULL", 't', 20)
	  && defined arrives_within('fam4', "SELECT count(*) > 0 FROM public.notes", 't', 20),
	'a table added to the scope arrives by itself');
ok($source->poll_query_until('app', "SELECT count(*) > $runs_before FROM sunsync_history "
		  . "WHERE config_id = $f4 AND kind = 'full' AND status = 'COMPLETED'"), 'by a full sync');

# 10. every sunsync worker of the database, terminated (SIGTERM): the
# database's worker comes back and goes on
my $killed = $source->safe_psql('app',
	"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'sunsync worker' "
	  . "AND datname = 'app'");
cmp_ok($killed, '>=', 1, 'the workers are terminated');
$source->safe_psql('app', "UPDATE users SET name = 'After the worker came back' WHERE id = 2");
ok(defined arrives_within('fam1', "SELECT name FROM public.users WHERE id = 2", 'After the worker came back', 30),
	'a change committed while it was away arrives once it is back');
ok($source->poll_query_until('app', "SELECT count(*) = 0 FROM sunsync_configs WHERE status = 'IN_PROGRESS'")
	  && $source->safe_psql('app', "SELECT count(*) FROM sunsync_history WHERE status = 'IN_PROGRESS'") eq '0',
	'nothing stays IN_PROGRESS');
$source->poll_query_until('app', "SELECT pending_changes = 0 FROM sunsync_configs WHERE id = $f1");
exact('fam1', 1, 'at the end');
$source->safe_psql('app', "UPDATE lessons SET score = 1 WHERE learner_id = 5");
$source->poll_query_until('app', "SELECT pending_changes = 0 FROM sunsync_configs WHERE id = $f4");
exact('fam4', 4, 'family 4 at the end');

# nothing the tests wrote reached the log with a password
unlike(slurp_file($source->logfile), qr/Tgt-S3cret/, 'no password in the server log');
done_testing();
