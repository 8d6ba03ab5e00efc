# pg_cron schedules pushes: SELECT cron.schedule(..., 'SELECT sunsync_push(N)')
# runs a sync by itself (pg_cron 1.4 schedules by the minute).
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Test::More;

my $source = new_source('cron_source',
	"shared_preload_libraries = 'sunsync,pg_cron'",
	"cron.database_name = 'app'",
	"cron.use_background_workers = on");
$source->restart; # cron.* settings need the library loaded at start
my $target = new_target('cron_target');
target_login($target, 'family1', 'Tgt-S3cret', 'family1');
load_sunschool($source, 'app', 'families => 2', 'learners_per_family => 2',
	'lessons_per_learner => 5', 'big_family_lessons => 0');
my $url = target_url($target, 'family1', 'Tgt-S3cret', 'family1');
my $id = $source->safe_psql('app', "SELECT sunsync_create_config(1, '$url')");

$source->safe_psql('app', 'CREATE EXTENSION pg_cron');
$source->safe_psql('app', "SELECT cron.schedule('sunsync family 1', '* * * * *', 'SELECT sunsync_push($id)')");

# within the next minute boundary (and a little)
my $done = $source->poll_query_until('app',
	"SELECT count(*) > 0 FROM sunsync_history WHERE config_id = $id AND status = 'COMPLETED'");
ok($done, 'the scheduled push ran and completed');
like($source->safe_psql('app', "SELECT status || ' ' || return_message FROM cron.job_run_details ORDER BY runid LIMIT 1"),
	qr/^succeeded/, 'pg_cron recorded the job as succeeded');
is($target->safe_psql('family1', 'SELECT count(*) FROM public.lessons'), '10',
	'the family\'s lessons are on the target');

done_testing();
