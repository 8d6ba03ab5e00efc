# ALTER EXTENSION sunsync UPDATE from 0.1: the scope 0.1 stored (owner_expr
# and via as written, paths as 0.1 built them) is canonicalized and derived
# again; the extension's objects and catalog columns equal a fresh 0.2
# install; the library refuses a 0.1 catalog with a clear error until then;
# configurations made under 0.1 (one that had pushed, one that had not)
# keep working, with capture triggers now on their tables: a full sync
# first, incremental runs afterwards; a role granted the 0.1 sunsync_push
# may call the 0.2 one; pushes and renames work afterwards.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Test::More;

my $source = new_source('u_source');
my $target = new_target('u_target');
target_login($target, 'tenant', 'Tgt-S3cret', 'tenant');
$source->safe_psql('postgres', 'CREATE DATABASE old');
$source->safe_psql('old', q{
	CREATE EXTENSION sunsync VERSION '0.1';
	CREATE TABLE fam (id int PRIMARY KEY, parent int);
	CREATE TABLE kid (id int PRIMARY KEY, fam_id int NOT NULL REFERENCES fam, name text, secret text);
	CREATE TABLE note (id int PRIMARY KEY, kid_ref text, body text);
	INSERT INTO fam VALUES (1, NULL), (2, 1), (3, NULL);
	INSERT INTO kid VALUES (10, 1, 'a', 's'), (20, 2, 'b', 's'), (30, 3, 'c', 's');
	INSERT INTO note VALUES (1, '10', 'x'), (2, '20', 'y'), (3, '30', 'z');
	-- the scope as sunsync 0.1 stored it
	INSERT INTO sunsync.root (root_table, owner_expr, set_by) VALUES ('fam', 'coalesce(parent, id)', 'postgres');
	INSERT INTO sunsync.tables (table_name, via, exclude_columns, path, path_text, position, registered_by) VALUES
	  ('fam', NULL, '{}', '[]', 'root, owner: coalesce(parent, id)', 1, 'postgres'),
	  ('kid', NULL, '{secret}', jsonb_build_array(jsonb_build_object('constraint', 'kid_fam_id_fkey',
	      'child', 'kid', 'child_columns', '["fam_id"]'::jsonb, 'child_oid', 'kid'::regclass::oid::int,
	      'parent', 'fam', 'parent_oid', 'fam'::regclass::oid::int, 'parent_columns', '["id"]'::jsonb,
	      'declared', false, 'text_compare', false)), 'kid.fam_id -> fam.id', 2, 'postgres'),
	  ('note', 'kid_ref -> kid(id)', '{}', '[]', 'note.kid_ref -> kid.id (as text)', 3, 'postgres');
});
# Configurations as 0.1 stored them: their URLs sealed with this cluster's
# key (a fresh 0.2 database seals the same way, bound to the same ids).
$source->safe_psql('postgres', 'CREATE DATABASE fresh');
$source->safe_psql('fresh', 'CREATE EXTENSION sunsync');
$source->safe_psql('fresh', q{CREATE TABLE fam (id int PRIMARY KEY, parent int); SELECT sunsync_set_root('fam', 'id')});
my %sealed;
for my $db ('tenant', 'tenant2')
{
	my $cid = $source->safe_psql('fresh', "SELECT sunsync_create_config(1, '" . target_url($target, 'tenant', 'Tgt-S3cret', $db) . "')");
	$sealed{$db} = [$cid, $source->safe_psql('fresh', "SELECT encode(target_url_sealed, 'hex') FROM sunsync.configs WHERE id = $cid")];
}
$source->safe_psql('fresh', 'DROP EXTENSION sunsync CASCADE; DROP TABLE fam; CREATE EXTENSION sunsync');
$target->safe_psql('postgres', 'CREATE DATABASE tenant2 OWNER tenant');
$source->safe_psql('old', qq{
	INSERT INTO sunsync.configs (id, owner, target_url_masked, target_url_sealed, status, last_sync_at, created_by, created_by_superuser)
	VALUES ($sealed{tenant}[0], '1', 'postgresql://tenant:***\@127.0.0.1/tenant', '\\x$sealed{tenant}[1]', 'COMPLETED', now(), 'postgres', true),
	       ($sealed{tenant2}[0], '1', 'postgresql://tenant:***\@127.0.0.1/tenant2', '\\x$sealed{tenant2}[1]', 'IDLE', NULL, 'postgres', true);
	SELECT setval('sunsync.configs_id_seq', 10);
	INSERT INTO sunsync.history (config_id, kind, status, rows_upserted) VALUES ($sealed{tenant}[0], 'full', 'COMPLETED', 4);
	CREATE ROLE pusher;
	GRANT EXECUTE ON FUNCTION sunsync_push(bigint, boolean) TO pusher;
});

my ($rc, $out, $err) = $source->psql('old', "SELECT sunsync_add_table('note')");
like($err, qr/sunsync in this database is at version 0\.1, its library at 0\.2.*\n.*ALTER EXTENSION sunsync UPDATE/,
	'the new library refuses the 0.1 catalog, saying what to do');

$source->safe_psql('old', 'ALTER EXTENSION sunsync UPDATE');
is($source->safe_psql('old', "SELECT extversion FROM pg_extension WHERE extname = 'sunsync'"), '0.2', 'updated to 0.2');
is($source->safe_psql('old', 'SELECT owner_expr FROM sunsync.root'), 'COALESCE(parent, id)', 'owner_expr canonicalized');
is($source->safe_psql('old', q{SELECT via FROM sunsync.tables WHERE table_name = 'note'::regclass}),
	'kid_ref -> public.kid(id)', 'the declared via is schema-qualified');
like($source->safe_psql('old', q{SELECT path_text FROM sunsync.tables WHERE table_name = 'note'::regclass}),
	qr/^(public\.)?note\.kid_ref -> (public\.)?kid\.id \(as text\), (public\.)?kid\.fam_id -> (public\.)?fam\.id$/,
	'and the path derived again');

# every object of the extension, and the columns of its tables, as a fresh install has them
my $objects = q{SELECT string_agg(pg_describe_object(classid, objid, objsubid), E'\n'
	ORDER BY pg_describe_object(classid, objid, objsubid))
	FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'sunsync') AND deptype = 'e'};
my $columns = q{SELECT string_agg(format('%s.%s %s %s %s %s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
	a.attnotnull, a.attnum, pg_get_expr(d.adbin, d.adrelid)), E'\n' ORDER BY c.relname, a.attnum)
	FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
	WHERE c.relnamespace = 'sunsync'::regnamespace AND c.relkind IN ('r', 'v')};
my $extra = q{SELECT string_agg(x, E'\n' ORDER BY x) FROM (
	SELECT format('%s acl %s', c.relname, c.relacl) FROM pg_class c WHERE c.relnamespace = 'sunsync'::regnamespace
	UNION ALL SELECT format('%s acl %s secdef %s config %s', p.proname, p.proacl, p.prosecdef, p.proconfig)
	  FROM pg_proc p WHERE p.pronamespace IN ('sunsync'::regnamespace, 'public'::regnamespace) AND p.proname LIKE '%sunsync%' OR p.pronamespace = 'sunsync'::regnamespace
	UNION ALL SELECT format('%s %s %s', evtname, evtevent, evttags) FROM pg_event_trigger
	UNION ALL SELECT format('config dump %s', unnest(extconfig)::regclass) FROM pg_extension WHERE extname = 'sunsync') s(x)};
is($source->safe_psql('old', q{SELECT has_function_privilege('pusher', 'sunsync_push(bigint, boolean, boolean)', 'EXECUTE')}),
	't', 'a role granted the 0.1 sunsync_push may call the 0.2 one');
$source->safe_psql('old', 'REVOKE EXECUTE ON FUNCTION sunsync_push(bigint, boolean, boolean) FROM pusher');
is($source->safe_psql('old', $objects), $source->safe_psql('fresh', $objects), 'the same objects as a fresh 0.2 install');
is($source->safe_psql('old', $columns), $source->safe_psql('fresh', $columns), 'the same catalog columns');
is($source->safe_psql('old', $extra), $source->safe_psql('fresh', $extra), 'the same privileges, triggers and dumped tables');

is($source->safe_psql('old', q{SELECT string_agg(DISTINCT tgrelid::regclass::text, ',' ORDER BY tgrelid::regclass::text)
	FROM pg_trigger WHERE tgname LIKE 'sunsync_capture%'}), 'fam,kid,note', 'the upgraded scope has its capture triggers');
is($source->safe_psql('old', 'SELECT count(*) FROM sunsync.configs WHERE owner_hash IS NULL'), '0',
	'the 0.1 configurations got their owners\' hashes');

my $family = {
	kid => ['SELECT id, fam_id, name FROM kid WHERE fam_id IN (1, 2)', 'SELECT * FROM public.kid'],
	note => ['SELECT * FROM note WHERE kid_ref IN (\'10\', \'20\')', 'SELECT * FROM public.note'],
};
my $id = $sealed{tenant}[0];
push_ok($source, 'old', $id, 'full', 'a 0.1 configuration that had pushed');
push_ok($source, 'old', $sealed{tenant2}[0], 'full', 'a 0.1 configuration that had not');
compare_tables($source, 'old', $target, 'tenant', $family, 'upgraded');
compare_tables($source, 'old', $target, 'tenant2', $family, 'upgraded, second');
$source->safe_psql('old', "UPDATE kid SET name = 'changed' WHERE id = 10; INSERT INTO note VALUES (4, '20', 'w')");
push_ok($source, 'old', $id, 'incremental', 'after the upgrade, changes');
compare_tables($source, 'old', $target, 'tenant', $family, 'upgraded, incremental');
($rc, $out, $err) = $source->psql('old', 'ALTER TABLE kid RENAME CONSTRAINT kid_fam_id_fkey TO kid_family_fkey;
	ALTER TABLE kid RENAME COLUMN id TO kid_id', on_error_stop => 1);
is($rc, 0, 'renames on an upgraded scope work') or diag $err;
is($source->safe_psql('old', q{SELECT via FROM sunsync.tables WHERE table_name = 'note'::regclass}),
	'kid_ref -> public.kid(kid_id)', 'and are followed');
# the target still has the old column name: a clear schema mismatch, until the tenant follows
($rc, $out, $err) = $source->psql('old', "SELECT sunsync_push($id, wait => true)");
like($err, qr/schema mismatch: table public\.kid column id is NOT NULL on the target, and the source sends no such column/,
	'a renamed key column is a schema mismatch on the target, named');
$target->safe_psql('tenant', 'ALTER TABLE public.kid RENAME COLUMN id TO kid_id');
is($source->safe_psql('old', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'a push once the target follows');
# 0.1 accepted a STABLE owner_expr; the update refuses it, and says what to do
$source->safe_psql('postgres', 'CREATE DATABASE stable_owner');
$source->safe_psql('stable_owner', q{
	CREATE EXTENSION sunsync VERSION '0.1';
	CREATE TABLE fam (id int PRIMARY KEY, tz text);
	INSERT INTO sunsync.root (root_table, owner_expr, set_by) VALUES ('fam', 'id::text || now()::date', 'postgres');
	INSERT INTO sunsync.tables (table_name, via, exclude_columns, path, path_text, position, registered_by) VALUES
	  ('fam', NULL, '{}', '[]', 'root', 1, 'postgres');
});
my ($rc, $out, $err) = $source->psql('stable_owner', 'ALTER EXTENSION sunsync UPDATE');
like($err, qr/owner_expr must be immutable/, 'an update with a STABLE owner_expr fails with a clear error');
is($source->safe_psql('stable_owner', "SELECT extversion FROM pg_extension WHERE extname = 'sunsync'"), '0.1',
	'and leaves the extension at 0.1');
done_testing();
