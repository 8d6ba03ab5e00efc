# A tenant schema that is not Sunschool's, pushed into one target schema:
# uuid keys, a composite-key grandchild, a declared link compared as text, a
# two-path table, a partitioned table, an excluded column, and values a copy
# must keep exactly (NaN, infinity, bytea, numeric, arrays with NULLs and
# quotes, json whitespace, enum arrays, which travel as COPY text).
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Test::More;

my $source = new_source('source2');
my $target = new_target('target2');
target_login($target, 'tenant', 'Tgt-S3cret', 'tenant_a', 'tenant_b');

my $A = 'aaaaaaaa-0000-0000-0000-000000000001';
my $B = 'bbbbbbbb-0000-0000-0000-000000000001';
$source->safe_psql('app', qq{
CREATE SCHEMA crm;
CREATE TYPE crm.tier AS ENUM ('free', 'pro', 'team');
CREATE TABLE crm.accounts (
    id uuid PRIMARY KEY, parent uuid REFERENCES crm.accounts(id),
    name text NOT NULL, tier crm.tier, api_secret text);
CREATE TABLE crm.projects (
    id uuid PRIMARY KEY, account_id uuid NOT NULL REFERENCES crm.accounts(id),
    budget numeric(12,2), rate numeric, tags text[], meta jsonb, doc json, logo bytea,
    due date, starts timestamptz, span interval, addr inet, score float8, flags crm.tier[]);
CREATE TABLE crm.tasks (
    project_id uuid REFERENCES crm.projects(id), task_no int, title text,
    PRIMARY KEY (project_id, task_no));
CREATE TABLE crm.task_notes (
    project_id uuid, task_no int, note_no int, body text,
    PRIMARY KEY (project_id, task_no, note_no),
    CONSTRAINT task_notes_task_fkey FOREIGN KEY (project_id, task_no) REFERENCES crm.tasks);
CREATE TABLE crm.audit (id bigint PRIMARY KEY, account_ref text, what text);
CREATE TABLE crm.transfers (
    id bigint PRIMARY KEY, from_account uuid REFERENCES crm.accounts(id),
    project_id uuid REFERENCES crm.projects(id), amount numeric);
CREATE TABLE crm.events (
    id bigint, at date, account_id uuid REFERENCES crm.accounts(id), kind text,
    PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE crm.events_2025 PARTITION OF crm.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE crm.events_2026 PARTITION OF crm.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');

INSERT INTO crm.accounts VALUES
  ('$A', NULL, 'Alpha Ltd', 'pro', 'alpha-secret'),
  ('aaaaaaaa-0000-0000-0000-000000000002', '$A', E'Alpha \\u00e9t\\u00e9\\tdept', 'free', 's2'),
  ('$B', NULL, 'Beta Inc', 'team', 'beta-secret'),
  ('bbbbbbbb-0000-0000-0000-000000000002', '$B', 'Beta sub', NULL, NULL);
INSERT INTO crm.projects VALUES
  ('a1000000-0000-0000-0000-000000000001', '$A', 1234.50, 12345678901234567890.123456789,
   ARRAY['a', NULL, 'q"uote', E'back\\\\slash', E'tab\\there', ''], '{"k": [1, 2, {"x": null}]}',
   '{ "spaced" :  [1,   2] }', '\\x00ff10', 'infinity', '-infinity', '1 year 2 mons 3 days',
   '192.168.0.1/24', 'NaN', ARRAY['pro', 'free']::crm.tier[]),
  ('a1000000-0000-0000-0000-000000000002', 'aaaaaaaa-0000-0000-0000-000000000002', NULL, 'NaN',
   '{}', NULL, NULL, '', '2026-02-28', '2026-01-01 12:00:00.123456+00', NULL, NULL, '-0', NULL),
  ('b1000000-0000-0000-0000-000000000001', '$B', 1, 1, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, 1e308, '{team}');
INSERT INTO crm.tasks SELECT p.id, n, E'Task ' || n || E'\\n\\\\ ✓' FROM crm.projects p, generate_series(1, 3) n;
INSERT INTO crm.task_notes SELECT project_id, task_no, 1, 'note' FROM crm.tasks;
INSERT INTO crm.audit VALUES (1, '$A', 'created'), (2, '$B', 'created'),
  (3, 'aaaaaaaa-0000-0000-0000-000000000002', NULL), (4, 'not-an-account', 'orphan');
INSERT INTO crm.transfers VALUES
  (1, '$A', 'a1000000-0000-0000-0000-000000000002', 10.5),
  (2, '$B', 'b1000000-0000-0000-0000-000000000001', -3);
INSERT INTO crm.events VALUES (1, '2025-06-01', '$A', 'login'), (2, '2026-06-01', '$A', 'logout'),
  (3, '2026-06-02', '$B', 'login');
});

$source->safe_psql('app', q{
SELECT sunsync_set_root('crm.accounts', 'coalesce(parent, id)');
SELECT sunsync_add_table('crm.accounts', exclude_columns => '{api_secret}');
SELECT sunsync_add_table('crm.projects');
SELECT sunsync_add_table('crm.tasks');
SELECT sunsync_add_table('crm.task_notes');
SELECT sunsync_add_table('crm.audit', via => 'account_ref -> crm.accounts(id)');
SELECT sunsync_add_table('crm.transfers', via => 'transfers_from_account_fkey');
SELECT sunsync_add_table('crm.events');
});

my $a_id = $source->safe_psql('app',
	"SELECT sunsync_create_config('$A'::uuid, '" . target_url($target, 'tenant', 'Tgt-S3cret', 'tenant_a')
	  . "', target_schema => 'tenant_a')");
my $b_id = $source->safe_psql('app',
	"SELECT sunsync_create_config('$B'::uuid, '" . target_url($target, 'tenant', 'Tgt-S3cret', 'tenant_b') . "')");
is($source->safe_psql('app', "SELECT sunsync_push($a_id, true)"), 'COMPLETED', 'owner A pushed');
is($source->safe_psql('app', "SELECT sunsync_push($b_id, true)"), 'COMPLETED', 'owner B pushed');

sub owned_by
{
	my ($owner) = @_;
	my $accounts = "(SELECT id FROM crm.accounts WHERE coalesce(parent, id) = '$owner')";
	my $projects = "(SELECT id FROM crm.projects WHERE account_id IN $accounts)";
	return {
		accounts => ['id, parent, name, tier', "coalesce(parent, id) = '$owner'"],
		projects => ['*', "account_id IN $accounts"],
		tasks => ['*', "project_id IN $projects"],
		task_notes => ['*', "project_id IN $projects"],
		audit => ['*', "account_ref IN (SELECT id::text FROM $accounts a)"],
		transfers => ['*', "from_account IN $accounts"],
		events => ['*', "account_id IN $accounts"],
	};
}

sub tables_for
{
	my ($owner, $schema) = @_;
	my $o = owned_by($owner);
	return { map {
		my ($cols, $where) = @{ $o->{$_} };
		$_ => ["SELECT $cols FROM crm.$_ WHERE $where", "SELECT $cols FROM $schema.$_"]
	} keys %$o };
}
compare_tables($source, 'app', $target, 'tenant_a', tables_for($A, 'tenant_a'), 'owner A in tenant_a');
compare_tables($source, 'app', $target, 'tenant_b', tables_for($B, 'crm'), 'owner B in its source schema');

is($target->safe_psql('tenant_a', "SELECT count(*) FROM tenant_a.accounts WHERE coalesce(parent, id) <> '$A'"),
	'0', 'no account of B reached A');
is($target->safe_psql('tenant_a', "SELECT count(*) FROM tenant_a.audit WHERE what = 'orphan'"),
	'0', 'a row whose declared link leads nowhere is not sent');
is($target->safe_psql('tenant_a',
	"SELECT count(*) FROM information_schema.columns WHERE column_name = 'api_secret'"),
	'0', 'the excluded column does not exist on the target');
is($target->safe_psql('tenant_a', q{SELECT format_type(atttypid, atttypmod) FROM pg_attribute
	WHERE attrelid = 'tenant_a.projects'::regclass AND attname = 'flags'}),
	'tenant_a.tier[]', 'the enum array lands on the enum created in the target schema');
is($target->safe_psql('tenant_a', q{SELECT condeferrable FROM pg_constraint
	WHERE conname = 'task_notes_task_fkey' AND conrelid = 'tenant_a.task_notes'::regclass}),
	't', 'the composite foreign key is created, deferrable');
is($target->safe_psql('tenant_a', q{SELECT string_agg(conname, ',') FROM pg_constraint
	WHERE contype = 'f' AND conrelid = 'tenant_a.audit'::regclass}),
	'', 'a declared link is not a foreign key on the target');
is($target->safe_psql('tenant_a', "SELECT count(*) FROM tenant_a.events"), '2',
	'the partitioned table arrived with both of its partitions\' rows');
is($target->safe_psql('tenant_a', "SELECT score::text FROM tenant_a.projects ORDER BY id LIMIT 1"),
	'NaN', 'NaN stays NaN');

# The source changes; both pushes stay exact and apart.
$source->safe_psql('app', qq{
	UPDATE crm.projects SET tags = ARRAY[NULL]::text[], rate = -0.000001 WHERE account_id = '$A';
	DELETE FROM crm.task_notes WHERE task_no = 2;
	INSERT INTO crm.audit VALUES (5, 'aaaaaaaa-0000-0000-0000-000000000002', E'quote\\'s');
});
is($source->safe_psql('app', "SELECT sunsync_push($a_id, true)"), 'COMPLETED', 'owner A pushed again');
compare_tables($source, 'app', $target, 'tenant_a', tables_for($A, 'tenant_a'), 'owner A again');

# Foreign keys on the target: only each table's path to the root.  transfers
# reaches the root by from_account, so its project_id foreign key (off the
# path) is not created, and a transfer of A into a project of B, which the
# source allows, syncs.  What 0.1 created off the path (a deferrable key
# named like the source's) is dropped; a key the tenant made is kept.
is($target->safe_psql('tenant_a', q{SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint
	WHERE contype = 'f' AND conrelid = 'tenant_a.transfers'::regclass}),
	'transfers_from_account_fkey', 'transfers has only the foreign key of its path');
$target->safe_psql('tenant_a', q{
	ALTER TABLE tenant_a.transfers ADD CONSTRAINT transfers_project_id_fkey
	    FOREIGN KEY (project_id) REFERENCES tenant_a.projects DEFERRABLE INITIALLY DEFERRED;
	ALTER TABLE tenant_a.tasks ADD CONSTRAINT tenant_own_fkey
	    FOREIGN KEY (project_id) REFERENCES tenant_a.projects;
});
$source->safe_psql('app', "INSERT INTO crm.transfers VALUES (3, '$A', 'b1000000-0000-0000-0000-000000000001', 1)");
is($source->safe_psql('app', "SELECT sunsync_push($a_id, true)"), 'COMPLETED',
	'a row that refers to another owner\'s row does not fail the run');
compare_tables($source, 'app', $target, 'tenant_a', tables_for($A, 'tenant_a'), 'owner A with a cross-owner row');
is($target->safe_psql('tenant_a', q{SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint
	WHERE contype = 'f' AND conrelid IN ('tenant_a.transfers'::regclass, 'tenant_a.tasks'::regclass)}),
	'tasks_project_id_fkey,tenant_own_fkey,transfers_from_account_fkey',
	'the off-path key 0.1 made is dropped; the tenant\'s own key is kept');

done_testing();
