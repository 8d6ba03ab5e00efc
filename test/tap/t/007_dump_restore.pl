# Backups restore into working syncs: after pg_dump + pg_restore into a new
# database, the scope works (its paths are derived again: the dump keeps
# names, not OIDs), and the restored copy does not push into the original's
# targets until the DBA confirms a target for it.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Test::More;

my $source = new_source('d_source');
my $target = new_target('d_target');
target_login($target, 'tenant', 'Tgt-S3cret', 'tenant', 'tenant_copy');

$source->safe_psql('app', q{
	CREATE TABLE fam (id int PRIMARY KEY, name text);
	CREATE TABLE kid (id int PRIMARY KEY, fam_id int NOT NULL REFERENCES fam, secret text);
	CREATE TABLE toy (id int PRIMARY KEY, kid_id int NOT NULL REFERENCES kid, name text);
	CREATE TABLE diary (id int PRIMARY KEY, kid_ref text, body text);
	-- OIDs the restored tables will not get again
	CREATE TABLE spacer AS SELECT 1 AS x; DROP TABLE spacer;
	INSERT INTO fam VALUES (1, 'one'), (2, 'two');
	INSERT INTO kid VALUES (10, 1, 's10'), (20, 2, 's20');
	INSERT INTO toy SELECT i, CASE WHEN i % 2 = 0 THEN 10 ELSE 20 END, 'toy ' || i FROM generate_series(1, 100) i;
	INSERT INTO diary SELECT i, CASE WHEN i % 2 = 0 THEN '10' ELSE '20' END, 'day ' || i FROM generate_series(1, 10) i;
	SELECT sunsync_set_root('fam', 'id');
	SELECT sunsync_add_table('kid', exclude_columns => '{secret}');
	SELECT sunsync_add_table('toy');
	SELECT sunsync_add_table('diary', via => 'kid_ref -> kid(id)');
});
my $url = target_url($target, 'tenant', 'Tgt-S3cret', 'tenant');
my $id = $source->safe_psql('app', "SELECT sunsync_create_config(1, '$url')");
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'the original pushes');

# the DBA's ordinary copy of a database
my $dump = $source->basedir . '/app.dump';
$source->command_ok(['pg_dump', '-Fc', '-f', $dump, '-d', $source->connstr('app')], 'pg_dump');
$source->safe_psql('postgres', 'CREATE DATABASE app_copy');
$source->command_ok(['pg_restore', '-d', $source->connstr('app_copy'), $dump], 'pg_restore into a new database');
isnt($source->safe_psql('app_copy', q{SELECT (path->0->>'child_oid') FROM sunsync.tables WHERE table_name = 'toy'::regclass}),
	$source->safe_psql('app_copy', q{SELECT 'toy'::regclass::oid}), 'the restored paths hold the original\'s OIDs');

$target->safe_psql('tenant', 'UPDATE public.toy SET name = \'original\' WHERE id = 2');
my ($rc, $out, $err) = $source->psql('app_copy', "SELECT sunsync_push($id, wait => true)");
like($err, qr/configuration $id was made in another database: this one was restored from a dump of it/,
	'the restored copy does not push into the original\'s target by itself');
is($target->safe_psql('tenant', 'SELECT name FROM public.toy WHERE id = 2'), 'original', 'and did not touch it');

my $copy_url = target_url($target, 'tenant', 'Tgt-S3cret', 'tenant_copy');
$source->safe_psql('app_copy', "SELECT sunsync_update_config($id, target_url => '$copy_url')");
is($source->safe_psql('app_copy', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED',
	'once confirmed with a target, the restored copy pushes');
is($source->safe_psql('app_copy', q{SELECT (path->0->>'child_oid') FROM sunsync.tables WHERE table_name = 'toy'::regclass}),
	$source->safe_psql('app_copy', q{SELECT 'toy'::regclass::oid}), 'its paths were derived again');
compare_tables($source, 'app_copy', $target, 'tenant_copy', {
	fam => ['SELECT * FROM fam WHERE id = 1', 'SELECT * FROM public.fam'],
	kid => ['SELECT id, fam_id FROM kid WHERE fam_id = 1', 'SELECT * FROM public.kid'],
	toy => ['SELECT * FROM toy WHERE kid_id = 10', 'SELECT * FROM public.toy'],
	diary => ['SELECT * FROM diary WHERE kid_ref = \'10\'', 'SELECT * FROM public.diary'],
}, 'restored copy');

# the restored scope follows DDL like the original's
($rc, $out, $err) = $source->psql('app_copy', 'DROP TABLE kid CASCADE');
like($err, qr/sunsync: table public\.(toy|diary) is no longer replicated/, 'a drop in the copy unregisters what lost its path');
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'the original still pushes');
done_testing();
