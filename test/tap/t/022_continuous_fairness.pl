# 50 continuous configurations share sunsync.max_workers (4): one of them
# points at a target that accepts connections and never answers (a
# listener of this test); while writers change every family's rows, the
# other 49 stay current (their lag stays small) and end exact, and the
# hanging one is FAILED with its error and a retry time, never IN_PROGRESS
# for longer than its connect timeout.  The 49 share one target URL (each
# in a target_schema of its own): each worker keeps one connection for it,
# so runs do not log in again.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Time::HiRes qw(time usleep);
use Test::More;

my $families = 50;
my $source = new_source('fair_source', 'sunsync.max_workers = 4');
my $target = new_target('fair_target');
target_login($target, 'tenant', 'Tgt-S3cret', 'tenants');

# a target that hangs: accepts, never answers
my ($hang_port, $hanger) = hanging_target();

$source->safe_psql('app', qq{
	CREATE TABLE fam (id int PRIMARY KEY, name text);
	CREATE TABLE kid (id int PRIMARY KEY, fam_id int NOT NULL REFERENCES fam, score int, note text);
	INSERT INTO fam SELECT f, 'family ' || f FROM generate_series(1, $families) f;
	INSERT INTO kid SELECT k, 1 + k % $families, 0, 'kid ' || k FROM generate_series(1, $families * 20) k;
	CREATE INDEX ON kid (fam_id);
	SELECT sunsync_set_root('fam', 'id');
	SELECT sunsync_add_table('kid');
});
my $url = target_url($target, 'tenant', 'Tgt-S3cret', 'tenants');
my %config;
for my $f (1 .. $families)
{
	my $u = $f == $families ? "postgresql://tenant:Tgt-S3cret\@127.0.0.1:$hang_port/tenants" : $url;
	$config{$f} = $source->safe_psql('app',
		"SELECT sunsync_create_config($f, '$u', continuous => true, target_schema => 'f$f')");
}
my $hanging = $config{$families};
my $healthy = join(',', map { $config{$_} } 1 .. $families - 1);

ok($source->poll_query_until('app',
		"SELECT count(*) = " . ($families - 1) . " FROM sunsync_configs WHERE id IN ($healthy) AND status = 'COMPLETED'"),
	'the 49 get their first copies by themselves, beside a target that hangs');

# writers touch every family for 20 s; lag of the healthy ones is sampled,
# and sunsync's connections to the target
my $logins = "SELECT sessions FROM pg_stat_database WHERE datname = 'tenants'";
my $runs = "SELECT count(*) FROM sunsync_history WHERE config_id IN ($healthy)";
my ($logins0, $runs0) = ($target->safe_psql('postgres', $logins), $source->safe_psql('app', $runs));
my $t0 = time;
my $max_lag = 0;
my $max_conns = 0;
my $round = 0;
while (time - $t0 < 20)
{
	$round++;
	$source->safe_psql('app', "UPDATE kid SET score = $round WHERE id % 7 = $round % 7");
	my $lag = $source->safe_psql('app',
		"SELECT coalesce(max(extract(epoch FROM lag)), 0) FROM sunsync_configs WHERE id IN ($healthy)");
	$max_lag = $lag if $lag > $max_lag;
	my $conns = $target->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sunsync' AND datname = 'tenants'");
	$max_conns = $conns if $conns > $max_conns;
	usleep(250_000);
}
my $logins_made = $target->safe_psql('postgres', $logins) - $logins0;
my $runs_made = $source->safe_psql('app', $runs) - $runs0;
cmp_ok($max_lag, '<', 8, sprintf('the lag of the 49 stays small while the 50th hangs (max %.1f s)', $max_lag));
cmp_ok($max_conns, '<=', 4, "the 49 share a connection per worker ($max_conns at most)");
ok($runs_made > 100 && $logins_made < $runs_made / 10,
	"runs reuse it: $runs_made runs, $logins_made logins");
ok($source->poll_query_until('app',
		"SELECT bool_and(pending_changes = 0) FROM sunsync_configs WHERE id IN ($healthy)"),
	'the 49 catch up');
my $exact = 0;
for my $f (1 .. $families - 1)
{
	my $s = rows_digest($source, 'app', "SELECT id, fam_id, score, note FROM kid WHERE fam_id = $f");
	my $d = rows_digest($target, 'tenants', "SELECT id, fam_id, score, note FROM f$f.kid");
	$exact++ if $s eq $d;
	diag "family $f differs: $s / $d" if $s ne $d;
}
is($exact, $families - 1, 'every healthy copy is exact');

ok($source->poll_query_until('app', "SELECT status = 'FAILED' FROM sunsync_configs WHERE id = $hanging"),
	'the hanging one is FAILED');
like($source->safe_psql('app', "SELECT last_error FROM sunsync_configs WHERE id = $hanging"),
	qr/timed out|did not answer/, 'with the timeout as its error');
is($source->safe_psql('app', "SELECT next_attempt_at IS NOT NULL FROM sunsync_configs WHERE id = $hanging"),
	't', 'and a time for its next attempt');
my $longest = $source->safe_psql('app', "SELECT max(extract(epoch FROM finished_at - started_at)) "
	  . "FROM sunsync_history WHERE config_id = $hanging");
cmp_ok($longest, '<', 10, "its runs end at the connect timeout ($longest s)");
cmp_ok($source->safe_psql('app', "SELECT count(*) FROM sunsync_history WHERE config_id = $hanging"),
	'<', 12, 'and back off (not retried in a loop)');
unlike(slurp_file($source->logfile), qr/Tgt-S3cret/, 'no password in the server log');

kill 'TERM', $hanger;
waitpid $hanger, 0;
done_testing();
