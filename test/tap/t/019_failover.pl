# A source that fails over to a standby: the target's record names the WAL
# history it was made on.  A standby that had replayed past the record goes
# on incrementally once promoted; one promoted before it had (a lagging
# standby, or a point-in-time restore) gives out again the xids the record
# counts as shipped, and its first run is a full sync, even when its new
# timeline has the same number as one the target saw.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Test::More;

my $primary = new_source('fo_primary', { allows_streaming => 1 });
my $target = new_target('fo_target');
target_login($target, 'fam', 'Tgt-S3cret', 'fam1');
load_sunschool($primary, 'app', 'families => 2', 'learners_per_family => 2',
	'lessons_per_learner => 5', 'big_family_lessons => 0');
my $id = $primary->safe_psql('app', "SELECT sunsync_create_config(1, '"
	  . target_url($target, 'fam', 'Tgt-S3cret', 'fam1') . "')");
push_ok($primary, 'app', $id, 'full', 'first push');

$primary->backup('base');
my ($caught_up, $lagging) = map {
	my $n = PostgreSQL::Test::Cluster->new($_);
	$n->init_from_backup($primary, 'base', has_streaming => 1);
	# (the test's copy of the backup loosens the key file's mode)
	chmod 0600, $n->data_dir . '/sunsync.key';
	$n->start;
	$n
} ('fo_standby_a', 'fo_standby_b');
$primary->wait_for_catchup($lagging);
$lagging->stop;

# shipped from the primary: on no history the lagging standby has
$primary->safe_psql('app', "UPDATE lessons SET score = 77 WHERE learner_id = 2");
push_ok($primary, 'app', $id, 'incremental', 'a push the lagging standby never sees');
$primary->wait_for_catchup($caught_up);
$primary->stop;

$caught_up->promote;
$caught_up->poll_query_until('app', 'SELECT NOT pg_is_in_recovery()');
$caught_up->safe_psql('app', "UPDATE lessons SET score = 78 WHERE learner_id = 3");
push_ok($caught_up, 'app', $id, 'incremental', 'the standby that had everything, promoted');
compare_tables($caught_up, 'app', $target, 'fam1', sunschool_tables($caught_up, 'app', 1),
	'after the promotion of the standby that had everything');
$caught_up->stop;

$lagging->start;
$lagging->promote;
$lagging->poll_query_until('app', 'SELECT NOT pg_is_in_recovery()');
is($lagging->safe_psql('app', "SELECT timeline_id FROM pg_control_checkpoint()"), '2',
	'the lagging standby, promoted, is on a timeline 2 of its own');
$lagging->safe_psql('app', "UPDATE lessons SET score = 79 WHERE learner_id = 2");
push_ok($lagging, 'app', $id, 'full', 'the standby that had not replayed the last push, promoted');
compare_tables($lagging, 'app', $target, 'fam1', sunschool_tables($lagging, 'app', 1),
	'after the promotion of the lagging standby');
like(slurp_file($lagging->logfile), qr/full sync: the target's record was made on another history/,
	'the log says why');
push_ok($lagging, 'app', $id, 'incremental', 'and incremental again after that');
done_testing();
