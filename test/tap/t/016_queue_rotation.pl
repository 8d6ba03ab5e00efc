# The change queue reclaims its space without VACUUM: its three tables take
# turns every sunsync.queue_rotation, and a retired one is emptied with
# TRUNCATE once every configuration has shipped what it holds.  A
# configuration that falls behind by more than sunsync.queue_retention does
# not hold the queue: its changes are dropped, and its next run is a full
# sync (exact all the same), while the configuration that kept up stays
# incremental.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Test::More;
use Time::HiRes qw(usleep);

my $source = new_source('queue_source', 'sunsync.queue_rotation = 1s', 'sunsync.queue_retention = 6s');
my $target = new_target('queue_target');
target_login($target, 'fam', 'Tgt-S3cret', 'fam1', 'fam5');
load_sunschool($source, 'app', 'families => 2', 'learners_per_family => 3',
	'lessons_per_learner => 20', 'big_family_lessons => 0');
my $f1 = $source->safe_psql('app', "SELECT sunsync_create_config(1, '" . target_url($target, 'fam', 'Tgt-S3cret', 'fam1') . "')");
my $f5 = $source->safe_psql('app', "SELECT sunsync_create_config(5, '" . target_url($target, 'fam', 'Tgt-S3cret', 'fam5') . "')");
push_ok($source, 'app', $f1, 'full', 'family 1, first push');
push_ok($source, 'app', $f5, 'full', 'family 5, first push');

my $queue_rows = q{SELECT (SELECT count(*) FROM sunsync.queue_0) + (SELECT count(*) FROM sunsync.queue_1)
	+ (SELECT count(*) FROM sunsync.queue_2)};

# Family 5 keeps up; family 1 is left behind.
my %current;
my $kinds = '';
for my $round (1 .. 12)
{
	$source->safe_psql('app', "UPDATE lessons SET score = $round WHERE learner_id IN (2, 6)");
	my ($rc, $out) = $source->psql('app', "SELECT sunsync_push($f5, wait => true)");
	$kinds .= last_run($source, 'app', $f5)->{kind} . ' ';
	$current{ $source->safe_psql('app', 'SELECT n FROM sunsync.queue_tables WHERE is_current') } = 1;
	usleep(700_000);
}
unlike($kinds, qr/full/, "the configuration that kept up stayed incremental ($kinds)");
ok(keys %current >= 2, 'the queue tables took turns (' . join(',', sort keys %current) . ')');
compare_tables($source, 'app', $target, 'fam5', sunschool_tables($source, 'app', 5), 'family 5, kept up');

# Family 1's changes were older than the retention: dropped, with TRUNCATE.
ok($source->poll_query_until('app', q{SELECT floor > '0' FROM sunsync.queue_floor}), 'the floor moved: entries were dropped');
is($source->safe_psql('app', q{SELECT sum(n_tup_del) FROM pg_stat_user_tables
	WHERE schemaname = 'sunsync' AND relname LIKE 'queue\_%'}), '0', 'no queue row was ever deleted (TRUNCATE only)');
push_ok($source, 'app', $f1, 'full', 'family 1, behind by more than the retention');
like(slurp_file($source->logfile), qr/configuration $f1 gets a full sync: changes it had not received were pruned/,
	'the server log says why');
compare_tables($source, 'app', $target, 'fam1', sunschool_tables($source, 'app', 1), 'family 1 after its full sync');
$source->safe_psql('app', 'UPDATE lessons SET score = 99 WHERE learner_id = 3');
push_ok($source, 'app', $f1, 'incremental', 'family 1 afterwards');
compare_tables($source, 'app', $target, 'fam1', sunschool_tables($source, 'app', 1), 'family 1, incremental again');

# Once both have shipped everything, the queue empties by itself.
push_ok($source, 'app', $f5, 'incremental', 'family 5 once more');
ok($source->poll_query_until('app', "SELECT ($queue_rows) = 0"), 'the queue emptied itself');
done_testing();
