# A push that waits never waits forever: when no background worker can be
# started for its run (max_worker_processes exhausted), it fails after a
# minute, saying why, and the launcher warns in the log.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Time::HiRes qw(time);
use Test::More;

# room for the launcher and the database's worker, none for a run
my $source = new_source('n_source', 'max_worker_processes = 2', 'max_logical_replication_workers = 0',
	'max_parallel_workers = 0');
$source->safe_psql('app', q{
	CREATE TABLE fam (id int PRIMARY KEY);
	INSERT INTO fam VALUES (1);
	SELECT sunsync_set_root('fam', 'id');
});
my $id = $source->safe_psql('app', "SELECT sunsync_create_config(1, 'postgresql://u:S3cret\@203.0.113.9/db')");
my $t0 = time;
my ($rc, $out, $err) = $source->psql('app', "SELECT sunsync_push($id, wait => true)");
my $took = time - $t0;
like($err, qr/no background worker could be started for the run \(max_worker_processes is exhausted\)/,
	'the push fails and says why');
ok($took > 50 && $took < 120, sprintf('after about a minute (%.0f s)', $took));
like(slurp_file($source->logfile), qr/sunsync could not start a worker for configuration $id/, 'the launcher warned');
is($source->safe_psql('app', "SELECT count(*) FROM sunsync_progress"), '0', 'nothing is left queued');
done_testing();
