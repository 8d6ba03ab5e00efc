# SIGKILL of the run worker during incremental runs, at three points: while
# it waits for the target's record (before anything is applied), while it
# applies (temporary tables loaded, rows half deleted), and after the
# target committed but before the source recorded it.  The source server
# restarts each time (a killed backend); the next run's copy is exact, and
# a target trigger that counts every row the target receives shows that no
# change was applied twice.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Test::More;
use Time::HiRes qw(usleep);

my $source = new_source('kill_source', 'restart_after_crash = on');
my $target = new_target('kill_target');
target_login($target, 'fam', 'Tgt-S3cret', 'fam1');
load_sunschool($source, 'app', 'families => 2', 'learners_per_family => 3',
	'lessons_per_learner => 20', 'big_family_lessons => 600');
my $id = $source->safe_psql('app', "SELECT sunsync_create_config(1, '" . target_url($target, 'fam', 'Tgt-S3cret', 'fam1') . "')");
push_ok($source, 'app', $id, 'full', 'first push');

# every row the target's lessons receive, by key
$target->safe_psql('fam1', q{
	CREATE TABLE public.received (id text, at timestamptz DEFAULT clock_timestamp());
	GRANT INSERT, SELECT ON public.received TO fam;
	CREATE FUNCTION public.count_received() RETURNS trigger LANGUAGE plpgsql AS
	  $$BEGIN INSERT INTO public.received (id) VALUES (NEW.id); RETURN NULL; END$$;
	CREATE TRIGGER count_received AFTER INSERT OR UPDATE ON public.lessons
	  FOR EACH ROW EXECUTE FUNCTION public.count_received();
});

sub wait_for_source
{
	for (1 .. 600)
	{
		my ($rc) = $source->psql('app', 'SELECT 1');
		return 1 if $rc == 0;
		usleep(100_000);
	}
	return 0;
}

my $round = 0;
sub kill_at
{
	my ($label, $block, $ready) = @_;
	$round++;
	$target->safe_psql('fam1', 'TRUNCATE public.received');
	$source->safe_psql('app', qq{
		UPDATE lessons SET score = $round WHERE learner_id = 2 AND id LIKE 'lesson-2-1_';
		INSERT INTO lessons (id, learner_id, status) SELECT 'k$round-' || g, 3, 'QUEUED' FROM generate_series(1, 5) g;
		DELETE FROM lessons WHERE id IN (SELECT id FROM lessons WHERE learner_id = 4 AND id NOT IN
		  (SELECT lesson_id FROM quiz_answers WHERE lesson_id IS NOT NULL) ORDER BY id LIMIT 2);
	});
	my $changed = 15; # 10 updated, 5 inserted (and 2 deleted)
	my $hold = $block->();
	$source->safe_psql('app', "SELECT sunsync_push($id)");
	ok($ready->(), "$label: the run got there");
	my $pid = $source->safe_psql('app', "SELECT pid FROM sunsync_progress WHERE config_id = $id");
	ok($pid =~ /^\d+$/ && kill('KILL', $pid), "$label: SIGKILL the run worker");
	ok(wait_for_source(), "$label: the source is back after its restart");
	$hold->{release}->() if $hold->{release};
	push_ok($source, 'app', $id, 'incremental', "$label, the next run");
	compare_tables($source, 'app', $target, 'fam1', sunschool_tables($source, 'app', 1), "$label, then the next run");
	is($target->safe_psql('fam1', 'SELECT count(*) FROM (SELECT id FROM public.received GROUP BY id HAVING count(*) > 1) d'),
		'0', "$label: no row was applied twice");
	is($target->safe_psql('fam1', 'SELECT count(DISTINCT id) FROM public.received'), $changed,
		"$label: each changed row that remains was applied once");
}

# 1. waiting for the target's record: nothing applied yet
kill_at('before applying', sub {
	my $h = $target->background_psql('fam1');
	$h->query_safe('BEGIN; SELECT 1 FROM public.sunsync_state FOR UPDATE;');
	return { release => sub { $h->query_safe('ROLLBACK'); $h->quit } };
}, sub {
	$source->poll_query_until('app', "SELECT phase = 'preparing target' FROM sunsync_progress WHERE config_id = $id");
});

# 2. applying: the rows that left are being deleted, lessons is locked
kill_at('while applying', sub {
	my $h = $target->background_psql('fam1');
	$h->query_safe('BEGIN; LOCK TABLE public.lessons IN ACCESS EXCLUSIVE MODE;');
	return { release => sub { $h->query_safe('ROLLBACK'); $h->quit } };
}, sub {
	$source->poll_query_until('app', "SELECT phase = 'applying changes' FROM sunsync_progress WHERE config_id = $id");
});

# 3. the target committed; the source had not recorded it yet (a trigger
# of this test holds the run when it records its success)
my $before;
$source->safe_psql('app', q{
	CREATE FUNCTION public.hold_success() RETURNS trigger LANGUAGE plpgsql AS
	  $$BEGIN PERFORM pg_sleep(60); RETURN NEW; END$$;
});
kill_at('after the target committed', sub {
	$before = $target->safe_psql('fam1', 'SELECT applied_snapshot FROM public.sunsync_state');
	$source->safe_psql('app', q{CREATE TRIGGER hold_success BEFORE UPDATE ON sunsync.configs FOR EACH ROW
		WHEN (NEW.status = 'COMPLETED') EXECUTE FUNCTION public.hold_success()});
	return { release => sub { $source->safe_psql('app', 'DROP TRIGGER hold_success ON sunsync.configs') } };
}, sub {
	$target->poll_query_until('fam1', "SELECT applied_snapshot <> '$before' FROM public.sunsync_state");
});
# the killed run had applied everything: the next one found nothing to do
is(last_run($source, 'app', $id)->{upserted}, '0', 'after the target committed: the next run shipped nothing again');

is($source->safe_psql('app', "SELECT count(*) FROM sunsync_history WHERE status = 'IN_PROGRESS'"), '0',
	'no run stays IN_PROGRESS');
done_testing();
