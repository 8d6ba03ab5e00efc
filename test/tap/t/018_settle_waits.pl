# What a run that ships a move (or a full copy) waits for before it takes
# its snapshot: every transaction writing to the replicated tables, prepared
# transactions included (they commit later, from any session), and nothing
# else: a session holding VACUUM's lock (SHARE UPDATE EXCLUSIVE) looks up no
# owner and must not hold runs up.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Test::More;

my $source = new_source('settle_source', 'max_prepared_transactions = 2', 'sunsync.lock_timeout = 20s');
my $target = new_target('settle_target');
target_login($target, 'fam', 'Tgt-S3cret', 'fam1', 'fam5');
load_sunschool($source, 'app', 'families => 2', 'learners_per_family => 3',
	'lessons_per_learner => 5', 'big_family_lessons => 0');
my %config;
for my $family (1, 5)
{
	$config{$family} = $source->safe_psql('app', "SELECT sunsync_create_config($family, '"
		  . target_url($target, 'fam', 'Tgt-S3cret', "fam$family") . "')");
	push_ok($source, 'app', $config{$family}, 'full', "family $family, first push");
}

# VACUUM's lock on a replicated table does not hold a full sync up
my $vacuum = $source->background_psql('app');
$vacuum->query_safe('BEGIN; LOCK TABLE lessons IN SHARE UPDATE EXCLUSIVE MODE;');
my $t0 = time;
push_ok($source, 'app', $config{1}, 'full', 'a full sync while a session holds VACUUM\'s lock', ', full => true');
ok(time - $t0 < 15, 'the run did not wait for that session');
$vacuum->query_safe('COMMIT');
$vacuum->quit;

# A prepared writer adds a lesson under learner 4 (family 1), which then
# moves to family 5: the move's run waits for the prepared transaction, and
# family 5 gets the lesson.
$source->safe_psql('app', q{BEGIN;
	INSERT INTO lessons (id, learner_id, status, score) VALUES ('lesson-4-prepared', 4, 'DONE', 1);
	PREPARE TRANSACTION 'writer'});
$source->safe_psql('app', 'UPDATE users SET parent_id = 5 WHERE id = 4');
is($source->safe_psql('app', "SELECT sunsync_push($config{5})"), 'IN_PROGRESS', 'the move is pushed to family 5');
ok($source->poll_query_until('app', "SELECT phase = 'waiting for writers' FROM sunsync_progress WHERE config_id = $config{5}"),
	'the run waits for the prepared transaction');
sleep 1;
is($source->safe_psql('app', "SELECT status FROM sunsync_configs WHERE id = $config{5}"), 'IN_PROGRESS',
	'and goes on waiting while it is prepared');
$source->safe_psql('app', "COMMIT PREPARED 'writer'");
ok(poll_status($source, 'app', $config{5}, 'COMPLETED'), 'the run completes once it committed');
is($target->safe_psql('fam5', "SELECT count(*) FROM public.lessons WHERE id = 'lesson-4-prepared'"), '1',
	'the prepared lesson arrived with the learner who moved');
for my $family (1, 5)
{
	push_ok($source, 'app', $config{$family}, 'incremental', "family $family after the move");
	compare_tables($source, 'app', $target, "fam$family", sunschool_tables($source, 'app', $family),
		"family $family after the move");
}
is($target->safe_psql('fam1', "SELECT count(*) FROM public.lessons WHERE learner_id = 4"), '0',
	'family 1 lost the learner and every lesson of it');
done_testing();
