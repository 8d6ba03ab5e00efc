# DDL racing with pushes, as a new user's migrations would: while pushes run
# back to back, a plain migration role adds, renames and drops columns,
# rewrites a table, drops and re-adds a foreign key, and registers and drops
# a table.  Every push ends COMPLETED (with an exact copy) or FAILED with its
# cause; nothing hangs, nothing stays IN_PROGRESS, the server never restarts.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Time::HiRes qw(time);
use Test::More;

my $source = new_source('r_source', 'sunsync.lock_timeout = 5s');
my $target = new_target('r_target');
target_login($target, 'tenant', 'Tgt-S3cret', 'tenant');
my $started = $source->safe_psql('app', 'SELECT pg_postmaster_start_time()');

app_role($source, 'app', 'migrator');
$source->safe_psql('app', q{
	SET ROLE migrator;
	CREATE TABLE fam (id int PRIMARY KEY, name text);
	CREATE TABLE kid (id int PRIMARY KEY, fam_id int NOT NULL REFERENCES fam, name text);
	CREATE TABLE toy (id int PRIMARY KEY, kid_id int NOT NULL REFERENCES kid, name text, secret text);
	INSERT INTO fam SELECT i, 'fam ' || i FROM generate_series(1, 20) i;
	INSERT INTO kid SELECT i, 1 + i % 20, 'kid ' || i FROM generate_series(1, 2000) i;
	INSERT INTO toy SELECT i, 1 + i % 2000, 'toy ' || i, 'hush' FROM generate_series(1, 50000) i;
	SELECT sunsync_set_root('fam', 'id');
	SELECT sunsync_add_table('kid');
	SELECT sunsync_add_table('toy', exclude_columns => '{secret}');
});
my $url = target_url($target, 'tenant', 'Tgt-S3cret', 'tenant');
my $id = $source->safe_psql('app', "SELECT sunsync_create_config(1, '$url')");
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'first push');

my @migrations = (
	'ALTER TABLE toy ADD COLUMN colour text',
	'ALTER TABLE toy RENAME COLUMN colour TO color',
	q{UPDATE toy SET color = 'red' WHERE id % 7 = 0},
	'ALTER TABLE toy RENAME COLUMN secret TO secret2',
	'ALTER TABLE toy DROP COLUMN color',
	'ALTER TABLE toy DROP CONSTRAINT toy_kid_id_fkey',
	'ALTER TABLE toy ADD CONSTRAINT toy_kid_id_fkey FOREIGN KEY (kid_id) REFERENCES kid',
	q{SELECT sunsync_add_table('toy', exclude_columns => '{secret2}')},
	'CREATE TABLE pet (id int PRIMARY KEY, fam_id int REFERENCES fam)',
	q{INSERT INTO pet SELECT i, 1 + i % 20 FROM generate_series(1, 100) i},
	q{SELECT sunsync_add_table('pet')},
	'VACUUM FULL kid',
	'DROP TABLE pet',
	'TRUNCATE toy CASCADE',
	q{INSERT INTO toy SELECT i, 1 + i % 2000, 'toy ' || i, 'hush' FROM generate_series(1, 50000) i},
	'ALTER TABLE kid RENAME TO child',
	'ALTER TABLE child RENAME TO kid',
);

my (%outcome, @slow);
my $m = 0;
for my $round (1 .. 3)
{
	for my $ddl (@migrations)
	{
		# a push starts, then the migration runs while it is in flight
		$source->safe_psql('app', "SELECT sunsync_push($id)");
		my ($rc, $out, $err) = $source->psql('app', "SET ROLE migrator; SET lock_timeout = '10s'; $ddl");
		$m++ if $rc == 0;
		my $t0 = time;
		$source->poll_query_until('app',
			"SELECT count(*) = 0 FROM sunsync_progress WHERE config_id = $id") or push @slow, $ddl;
		push @slow, $ddl if time - $t0 > 30;
		my $status = $source->safe_psql('app', "SELECT status FROM sunsync_configs WHERE id = $id");
		$outcome{$status}++;
		if ($status eq 'FAILED')
		{
			my $e = $source->safe_psql('app', "SELECT last_error FROM sunsync_configs WHERE id = $id");
			$outcome{"FAILED: $e"}++;
		}
	}
}
note explain \%outcome;
cmp_ok($outcome{COMPLETED} // 0, '>=', scalar(@migrations), 'most pushes completed despite the migrations');
cmp_ok($m, '>=', 3 * (scalar(@migrations) - 1), "the migrations ran ($m)");
is_deeply(\@slow, [], 'no push waited long on a migration');
is(($outcome{COMPLETED} // 0) + ($outcome{FAILED} // 0), 3 * scalar(@migrations),
	'every push ended COMPLETED or FAILED');
my @unexplained = grep { /^FAILED: / && !/lock|changed|dropped|no longer|does not exist|could not|schema mismatch/ } keys %outcome;
is_deeply(\@unexplained, [], 'every failure says why');
is($source->safe_psql('app', "SELECT count(*) FROM sunsync_history WHERE status = 'IN_PROGRESS'"), '0',
	'nothing stays IN_PROGRESS');

# a column type change on the source is a schema mismatch until the target
# follows, as the error's hint says
$source->safe_psql('app', 'SET ROLE migrator; ALTER TABLE toy ALTER COLUMN name TYPE varchar(100)');
my ($rc, $out, $err) = $source->psql('app', "SELECT sunsync_push($id, wait => true)");
like($err, qr/schema mismatch: table public\.toy column name is text on the target but character varying\(100\) on the source/,
	'a changed column type fails the run, naming both types');
$target->safe_psql('tenant', 'ALTER TABLE public.toy ALTER COLUMN name TYPE varchar(100)');

# after the migrations settle, a push is exact
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'a push after the migrations');
compare_tables($source, 'app', $target, 'tenant', {
	fam => ['SELECT id, name FROM fam WHERE id = 1', 'SELECT id, name FROM public.fam'],
	kid => ['SELECT id, fam_id, name FROM kid WHERE fam_id = 1', 'SELECT id, fam_id, name FROM public.kid'],
	toy => ['SELECT t.id, t.kid_id, t.name FROM toy t JOIN kid k ON k.id = t.kid_id WHERE k.fam_id = 1',
		'SELECT id, kid_id, name FROM public.toy'],
}, 'after the races');
is($target->safe_psql('tenant', q{SELECT count(*) FROM information_schema.columns
	WHERE table_name = 'toy' AND column_name LIKE 'secret%'}), '0', 'the renamed excluded column never arrived');
is($source->safe_psql('app', 'SELECT pg_postmaster_start_time()'), $started, 'the server never restarted');
unlike(slurp_file($source->logfile), qr/terminate called|was terminated by signal|S3cret/,
	'no crash and no password in the log');
done_testing();
