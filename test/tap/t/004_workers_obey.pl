# Workers obey the server: pg_terminate_backend or SIGTERM of any sunsync
# process ends it promptly wherever it is (source query, target wait, COPY
# stream), the source server never restarts, the launcher comes back after
# any exit and knows the workers still running, and a target that reads
# slowly or not at all neither grows the worker's memory nor hangs the run.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Time::HiRes qw(usleep time);
use Test::More;

my $source = new_source('w_source', 'sunsync.max_workers = 2');
my $target = new_target('w_target');
target_login($target, 'tenant', 'Tgt-S3cret', 'tenant');

# A schema owned by an application role, not a superuser.
app_role($source, 'app', 'app_owner');
$source->safe_psql('app', q{
SET ROLE app_owner;
CREATE TABLE fam (id int PRIMARY KEY);
CREATE TABLE blob (id int PRIMARY KEY, fam_id int NOT NULL REFERENCES fam, payload text);
CREATE INDEX ON blob (fam_id);
INSERT INTO fam VALUES (1), (2);
-- 60,000 rows of 1 kB for family 1: 60 MB on the wire
INSERT INTO blob SELECT i, 1, repeat(md5(i::text), 32) FROM generate_series(1, 60000) i;
INSERT INTO blob VALUES (0, 2, 'family 2');
SELECT sunsync_set_root('fam', 'id');
SELECT sunsync_add_table('blob');
});
my $url = target_url($target, 'tenant', 'Tgt-S3cret', 'tenant');
my $id = $source->safe_psql('app', "SELECT sunsync_create_config(1, '$url')");
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'first push');
my $started = $source->safe_psql('app', 'SELECT pg_postmaster_start_time()');

sub sunsync_pids
{
	my ($type) = @_;
	return $source->safe_psql('app',
		"SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM pg_stat_activity WHERE backend_type = '$type'");
}

# Polls a query (at most $seconds) until it returns 't'; returns the time it took.
sub within
{
	my ($seconds, $db, $query) = @_;
	my $t0 = time;
	while (time - $t0 < $seconds)
	{
		return time - $t0 if $source->safe_psql($db, $query) eq 't';
		usleep(50_000);
	}
	return undef;
}

sub hold_target
{
	my $h = $target->background_psql('tenant');
	$h->query_safe('BEGIN; LOCK TABLE public.blob IN ACCESS EXCLUSIVE MODE;');
	return $h;
}

sub app_workers
{
	return $source->safe_psql('app', q{SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'sunsync worker' AND datname = 'app' AND query NOT LIKE '%COPY%' AND query NOT LIKE 'sunsync: %'
		  AND pid NOT IN (SELECT pid FROM sunsync_progress WHERE pid IS NOT NULL)});
}

# The launcher comes back after pg_terminate_backend and after kill -TERM,
# while a run it started is held up on the target; the run goes on, and the
# new launcher starts no second worker for the database.
my $hold = hold_target();
$source->safe_psql('app', "SELECT sunsync_push($id, full => true)");
ok(within(30, 'app', "SELECT phase = 'preparing target' FROM sunsync_progress WHERE config_id = $id"),
	'a run is held up on the target');
my $run_pid = $source->safe_psql('app', "SELECT pid FROM sunsync_progress WHERE config_id = $id");
my $launcher = sunsync_pids('sunsync launcher');
$source->safe_psql('app', "SELECT pg_terminate_backend($launcher)");
ok(within(30, 'app', "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'sunsync launcher' AND pid <> $launcher"),
	'pg_terminate_backend: the postmaster starts the launcher again');
$launcher = sunsync_pids('sunsync launcher');
kill 'TERM', $launcher;
ok(within(30, 'app', "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'sunsync launcher' AND pid <> $launcher"),
	'kill -TERM: the postmaster starts the launcher again');
sleep 2;  # a launcher that did not know the running workers would start more now
is(app_workers(), '1', 'the restarted launcher started no second worker for the database');
is($source->safe_psql('app', "SELECT pid FROM sunsync_progress WHERE config_id = $id"), $run_pid,
	'the run started by the first launcher is still in flight');
$hold->query_safe('COMMIT');
ok(poll_status($source, 'app', $id, 'COMPLETED'), 'and it completes');
for my $n (1 .. 3)
{
	is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED',
		"push $n after the launcher restarts: no slot was leaked");
}

# Every sunsync process terminated at once, during a run.
$hold = hold_target();
$source->safe_psql('app', "SELECT sunsync_push($id, full => true)");
ok(within(30, 'app', "SELECT phase = 'preparing target' FROM sunsync_progress WHERE config_id = $id"),
	'a run waits on the target');
$source->safe_psql('app', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type LIKE 'sunsync%'});
ok(defined within(5, 'app', q{SELECT count(*) = 0 FROM pg_stat_activity
	WHERE backend_type = 'sunsync worker' AND datname = 'app' AND backend_start < now() - interval '1 second'}),
	'every terminated sunsync process is gone within seconds');
ok(poll_status($source, 'app', $id, 'FAILED'), 'the run is FAILED');
like($source->safe_psql('app', "SELECT last_error FROM sunsync_configs WHERE id = $id"),
	qr/interrupted|stopped/, 'and says it was stopped');
is($source->safe_psql('app', "SELECT count(*) FROM sunsync_history WHERE status = 'IN_PROGRESS'"), '0',
	'nothing stays IN_PROGRESS');
is($source->safe_psql('app', 'SELECT pg_postmaster_start_time()'), $started, 'the source server did not restart');
$hold->query_safe('COMMIT');
$hold->quit;
ok(within(30, 'app', "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'sunsync launcher'"),
	'the launcher is back');
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'push after all that');

# A run terminated in the middle of its source query (each row costs 50 ms
# under a row-level security policy of the reading role) ends at once.
$source->safe_psql('app', q{
	SET ROLE app_owner;
	CREATE TABLE slow (id int PRIMARY KEY, fam_id int REFERENCES fam);
	INSERT INTO slow SELECT i, 1 FROM generate_series(1, 200) i;
	ALTER TABLE slow ENABLE ROW LEVEL SECURITY;
	ALTER TABLE slow FORCE ROW LEVEL SECURITY;
	CREATE POLICY crawl ON slow USING (pg_sleep(0.05 + id * 0) IS NOT NULL);
	SELECT sunsync_add_table('slow');
});
$source->safe_psql('app', "SELECT sunsync_push($id, full => true)");
ok(within(30, 'app', "SELECT table_name = 'public.slow' FROM sunsync_progress WHERE config_id = $id"),
	'a run is reading the slow table');
$run_pid = $source->safe_psql('app', "SELECT pid FROM sunsync_progress WHERE config_id = $id");
$source->safe_psql('app', "SELECT pg_terminate_backend($run_pid)");
my $took = within(10, 'app', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $run_pid");
ok(defined $took && $took < 2, 'terminated during its source query, the run worker is gone within a second ('
	  . (defined $took ? sprintf('%.2f s', $took) : 'never') . ')');
ok(poll_status($source, 'app', $id, 'FAILED'), 'and the run is FAILED');
$source->safe_psql('app', q{SET ROLE app_owner; SELECT sunsync_remove_table('slow'); DROP TABLE slow;});

# A target that reads slowly: the worker does not buffer what the target has
# not taken, and the target's statement_timeout (4 s here) ends the run.
$source->safe_psql('app', "ALTER SYSTEM SET sunsync.statement_timeout = '4s'; SELECT pg_reload_conf()");
$target->safe_psql('tenant', q{
	CREATE FUNCTION public.crawl() RETURNS trigger LANGUAGE plpgsql AS
	  $$BEGIN PERFORM pg_sleep(0.001); RETURN NEW; END$$;
	CREATE TRIGGER crawl BEFORE INSERT ON public.blob FOR EACH ROW EXECUTE FUNCTION public.crawl();
});

# The largest anonymous (heap) memory of a process while a query holds.
sub peak_anon_kb_while
{
	my ($pid, $query) = @_;
	my $peak = 0;
	my $t0 = time;
	while (time - $t0 < 30 && $source->safe_psql('app', $query) eq 't')
	{
		if (open my $st, '<', "/proc/$pid/status")
		{
			while (<$st>) { $peak = $1 if /^RssAnon:\s+(\d+)/ && $1 > $peak; }
			close $st;
		}
		usleep(100_000);
	}
	return $peak;
}

$source->safe_psql('app', "SELECT sunsync_push($id, full => true)");
ok(within(30, 'app', "SELECT phase = 'copying' FROM sunsync_progress WHERE config_id = $id"),
	'a run is copying into a slow target');
$run_pid = $source->safe_psql('app', "SELECT pid FROM sunsync_progress WHERE config_id = $id");
my $peak = peak_anon_kb_while($run_pid, "SELECT count(*) = 1 FROM sunsync_progress WHERE config_id = $id");
cmp_ok($peak, '<', 32 * 1024, "the worker held at most a few MB while the target read slowly (peak $peak kB of 60 MB sent)");
ok(poll_status($source, 'app', $id, 'FAILED'), 'the slow target made the run fail');
like($source->safe_psql('app', "SELECT last_error FROM sunsync_configs WHERE id = $id"),
	qr/statement timed out on target/, 'at the target\'s statement_timeout');

# A target that stops reading altogether (its backend is stopped): the run
# fails at sunsync.statement_timeout rather than wait forever.
$source->safe_psql('app', "SELECT sunsync_push($id, full => true)");
ok(within(30, 'app', "SELECT phase = 'copying' FROM sunsync_progress WHERE config_id = $id"),
	'a run is copying again');
my $target_pid = $target->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE application_name = 'sunsync'");
kill 'STOP', $target_pid;
my $t0 = time;
ok(poll_status($source, 'app', $id, 'FAILED'), 'a target that stopped reading fails the run');
my $elapsed = time - $t0;
kill 'CONT', $target_pid;
like($source->safe_psql('app', "SELECT last_error FROM sunsync_configs WHERE id = $id"),
	qr/did not answer in time while sending COPY data/, 'the error says the target stopped answering');
cmp_ok($elapsed, '<', 15, sprintf('it failed about statement_timeout after the COPY began (%.1f s)', $elapsed));

$target->safe_psql('tenant', 'DROP TRIGGER crawl ON public.blob');
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'and with a normal target it syncs');
is($target->safe_psql('tenant', 'SELECT count(*) FROM public.blob'), '60000', 'every row arrived');
is($source->safe_psql('app', 'SELECT pg_postmaster_start_time()'), $started, 'the source server never restarted');
unlike(slurp_file($source->logfile), qr/terminate called|std::|S3cret/, 'no C++ abort and no password in the log');

done_testing();
