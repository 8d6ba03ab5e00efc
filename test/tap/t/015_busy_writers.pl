# Writers busy (pgbench, 4 clients) while configurations are created and
# pushed again and again: updates, inserts and deletes in several families,
# and a learner moving between two families now and then.  The configurations
# are created while the writers run (the first copy waits for the writers
# that could not know them yet); once the writers stop, one more push makes
# every copy exact.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use IPC::Run;
use Test::More;

my $source = new_source('busy_source');
my $target = new_target('busy_target');
target_login($target, 'fam', 'Tgt-S3cret', 'fam1', 'fam5', 'fam9');
load_sunschool($source, 'app', 'families => 4', 'learners_per_family => 3',
	'lessons_per_learner => 40', 'big_family_lessons => 0');

my $dir = PostgreSQL::Test::Utils::tempdir;
# learners are 2-4, 6-8, 10-12, 14-16; their lessons lesson-<learner>-1..40
open my $w, '>', "$dir/write.sql" or die $!;
print $w <<'SQL';
\set f random(0, 3)
\set l random(2, 4)
\set learner :f * 4 + :l
\set n random(1, 40)
BEGIN;
UPDATE lessons SET score = random() * 100, completed_at = clock_timestamp() WHERE id = 'lesson-' || :learner || '-' || :n;
INSERT INTO points_ledger (id, learner_id, amount, source_type, description) VALUES (gen_random_uuid(), :learner, :n, 'BENCH', 'busy');
DELETE FROM points_ledger WHERE id = (SELECT id FROM points_ledger WHERE learner_id = :learner AND source_type = 'BENCH' ORDER BY id LIMIT 1);
UPDATE learner_points SET current_balance = current_balance + 1 WHERE learner_id = :learner;
END;
SQL
close $w;
open my $m, '>', "$dir/move.sql" or die $!;
print $m "UPDATE users SET parent_id = CASE parent_id WHEN 1 THEN 5 ELSE 1 END WHERE id = 4;\n";
close $m;

my ($out, $err) = ('', '');
my $bench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', '25', '-h', $source->host, '-p', $source->port,
	  '-f', "$dir/write.sql\@20", '-f', "$dir/move.sql\@1", 'app' ],
	'>', \$out, '2>', \$err);
sleep 2;

my %config;
for my $family (1, 5, 9)
{
	$config{$family} = $source->safe_psql('app', "SELECT sunsync_create_config($family, '"
		  . target_url($target, 'fam', 'Tgt-S3cret', "fam$family") . "')");
}
my ($pushes, $completed) = (0, 0);
my $t0 = time;
while (time - $t0 < 20)
{
	for my $family (1, 5, 9)
	{
		my ($rc, $o, $e) = $source->psql('app', "SELECT sunsync_push($config{$family}, wait => true)");
		$pushes++;
		$completed++ if $o eq 'COMPLETED';
		diag "push of family $family: $e" if $o ne 'COMPLETED';
	}
}
$bench->finish;
like($out, qr/number of transactions actually processed: [1-9]/, 'the writers ran') or diag $err;
is($completed, $pushes, "every push during the writes completed ($pushes)");
my $incremental = $source->safe_psql('app', "SELECT count(*) FROM sunsync_history WHERE kind = 'incremental' AND status = 'COMPLETED'");
ok($incremental > 0, "most runs during the writes were incremental ($incremental)");

for my $family (1, 5, 9)
{
	push_ok($source, 'app', $config{$family}, 'incremental', "family $family after the writers stopped");
	compare_tables($source, 'app', $target, "fam$family", sunschool_tables($source, 'app', $family),
		"family $family after the writers stopped");
}
done_testing();
