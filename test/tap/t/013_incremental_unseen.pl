# Incremental runs on a tenant schema that is not Sunschool's: uuid keys,
# composite keys three levels deep, ON DELETE CASCADE, a declared link
# compared as text (and its parent appearing after the child), a
# partitioned table written through its partitions, a row moving with its
# subtree between accounts (deeper than the root), a key update that
# cascades, a table that a path crosses without being registered, and a
# configuration into a target_schema.  Every copy is exact after every run.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Test::More;

my $source = new_source('unseen_inc_source');
my $target = new_target('unseen_inc_target');
target_login($target, 'tenant', 'Tgt-S3cret', 'tenant_a', 'tenant_b');

my $A = 'aaaaaaaa-0000-0000-0000-000000000001';
my $A2 = 'aaaaaaaa-0000-0000-0000-000000000002';
my $B = 'bbbbbbbb-0000-0000-0000-000000000001';
$source->safe_psql('app', qq{
CREATE SCHEMA crm;
CREATE TYPE crm.tier AS ENUM ('free', 'pro');
CREATE TABLE crm.accounts (id uuid PRIMARY KEY, parent uuid REFERENCES crm.accounts(id),
    name text NOT NULL, tier crm.tier, api_secret text);
CREATE TABLE crm.projects (id uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES crm.accounts(id) ON DELETE CASCADE,
    code text UNIQUE, budget numeric(12,2), rate float8, tags text[], meta jsonb, logo bytea, due date);
CREATE TABLE crm.tasks (project_id uuid REFERENCES crm.projects(id) ON DELETE CASCADE ON UPDATE CASCADE,
    task_no int, title text, PRIMARY KEY (project_id, task_no));
CREATE TABLE crm.task_notes (project_id uuid, task_no int, note_no int, body text,
    PRIMARY KEY (project_id, task_no, note_no),
    FOREIGN KEY (project_id, task_no) REFERENCES crm.tasks ON DELETE CASCADE ON UPDATE CASCADE);
CREATE TABLE crm.audit (id bigint PRIMARY KEY, project_code text, what text);
CREATE TABLE crm.events (id bigint, at date, account_id uuid REFERENCES crm.accounts(id), kind text,
    PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE crm.events_2025 PARTITION OF crm.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE crm.events_2026 PARTITION OF crm.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
-- sites hang from accounts through regions, which is not registered
CREATE TABLE crm.regions (id int PRIMARY KEY, account_id uuid NOT NULL REFERENCES crm.accounts(id), label text);
CREATE TABLE crm.sites (id int PRIMARY KEY, region_id int NOT NULL REFERENCES crm.regions(id), done boolean);

INSERT INTO crm.accounts VALUES ('$A', NULL, 'Alpha', 'pro', 's1'), ('$A2', '$A', 'Alpha sub', 'free', 's2'),
  ('$B', NULL, 'Beta', NULL, 's3');
INSERT INTO crm.projects SELECT ('a100000' || n || '-0000-0000-0000-000000000000')::uuid,
  CASE WHEN n <= 2 THEN '$A'::uuid WHEN n <= 3 THEN '$A2'::uuid ELSE '$B'::uuid END, 'P' || n, n * 10.5,
  CASE n WHEN 1 THEN 'NaN'::float8 WHEN 2 THEN '-0'::float8 ELSE n END,
  ARRAY['x', NULL, 'q"uote'], '{"a": [1, {"b": null}]}', '\\x00ff', '2026-02-28'
  FROM generate_series(1, 5) n;
INSERT INTO crm.tasks SELECT p.id, t, E'Task ' || t || E'\\t✓' FROM crm.projects p, generate_series(1, 3) t;
INSERT INTO crm.task_notes SELECT project_id, task_no, 1, 'note' FROM crm.tasks;
INSERT INTO crm.audit VALUES (1, 'P1', 'created'), (2, 'P4', 'created'), (3, 'P9', 'orphan');
INSERT INTO crm.events VALUES (1, '2025-06-01', '$A', 'login'), (2, '2026-06-01', '$A2', 'x'), (3, '2026-06-02', '$B', 'y');
INSERT INTO crm.regions VALUES (1, '$A', 'north'), (2, '$A2', 'south'), (3, '$B', 'east');
INSERT INTO crm.sites SELECT n, 1 + n % 3, false FROM generate_series(1, 6) n;

SELECT sunsync_set_root('crm.accounts', 'coalesce(parent, id)');
SELECT sunsync_add_table('crm.accounts', exclude_columns => '{api_secret}');
SELECT sunsync_add_table('crm.projects');
SELECT sunsync_add_table('crm.tasks');
SELECT sunsync_add_table('crm.task_notes');
SELECT sunsync_add_table('crm.audit', via => 'project_code -> crm.projects(code)');
SELECT sunsync_add_table('crm.events');
SELECT sunsync_add_table('crm.sites');
});
is($source->safe_psql('app', q{SELECT count(DISTINCT tgrelid) FROM pg_trigger WHERE tgname LIKE 'sunsync_capture%'}), '10',
	'capture triggers on the 7 registered tables, the table the path crosses, and the 2 partitions');

my $a = $source->safe_psql('app', "SELECT sunsync_create_config('$A'::uuid, '"
	  . target_url($target, 'tenant', 'Tgt-S3cret', 'tenant_a') . "', target_schema => 'tenant_a')");
my $b = $source->safe_psql('app', "SELECT sunsync_create_config('$B', '"
	  . target_url($target, 'tenant', 'Tgt-S3cret', 'tenant_b') . "')");

sub tables_for
{
	my ($owner, $schema) = @_;
	my $accounts = "(SELECT id FROM crm.accounts WHERE coalesce(parent, id) = '$owner')";
	my $projects = "(SELECT id FROM crm.projects WHERE account_id IN $accounts)";
	my %o = (
		accounts => ['id, parent, name, tier', "coalesce(parent, id) = '$owner'"],
		projects => ['*', "account_id IN $accounts"],
		tasks => ['*', "project_id IN $projects"],
		task_notes => ['*', "project_id IN $projects"],
		audit => ['*', "project_code IN (SELECT code FROM crm.projects WHERE id IN $projects)"],
		events => ['*', "account_id IN $accounts"],
		sites => ['*', "region_id IN (SELECT id FROM crm.regions WHERE account_id IN $accounts)"],
	);
	return { map { my ($c, $w) = @{ $o{$_} };
		$_ => ["SELECT $c FROM crm.$_ WHERE $w", "SELECT $c FROM $schema.$_"] } keys %o };
}

sub exact
{
	my ($label) = @_;
	compare_tables($source, 'app', $target, 'tenant_a', tables_for($A, 'tenant_a'), "$label, A");
	compare_tables($source, 'app', $target, 'tenant_b', tables_for($B, 'crm'), "$label, B");
}

sub push_both
{
	my ($kind, $label) = @_;
	push_ok($source, 'app', $a, $kind, "$label, A");
	push_ok($source, 'app', $b, $kind, "$label, B");
}

push_both('full', 'first push');
exact('first push');

# Updates, inserts and deletes with cascades three levels deep; a key update
# that cascades to the rows below; rows through the partitions directly.
$source->safe_psql('app', qq{
	UPDATE crm.projects SET rate = 'Infinity', tags = '{}', meta = '{"b" :  2}' WHERE code = 'P2';
	INSERT INTO crm.tasks VALUES ('a1000001-0000-0000-0000-000000000000', 9, E'new\\ntask');
	INSERT INTO crm.task_notes VALUES ('a1000001-0000-0000-0000-000000000000', 9, 1, 'n'), ('a1000001-0000-0000-0000-000000000000', 9, 2, 'n2');
	DELETE FROM crm.projects WHERE code = 'P3';
	UPDATE crm.tasks SET task_no = task_no + 100 WHERE project_id = 'a1000002-0000-0000-0000-000000000000' AND task_no = 1;
	UPDATE crm.task_notes SET body = 'edited' WHERE task_no = 2;
	INSERT INTO crm.events_2026 VALUES (4, '2026-07-01', '$A', 'direct');
	UPDATE crm.events_2025 SET kind = 'login again' WHERE id = 1;
	UPDATE crm.events SET at = '2026-01-02' WHERE id = 1;
	DELETE FROM crm.events WHERE id = 3;
	UPDATE crm.accounts SET api_secret = 'rotated';
	UPDATE crm.sites SET done = true WHERE id IN (1, 4);
});
push_both('incremental', 'cascades and key updates');
exact('cascades and key updates');

# A declared link: a child whose parent comes later is adopted when it
# does; changing the parent's linked column moves the child with it.
$source->safe_psql('app', "INSERT INTO crm.audit VALUES (4, 'P6', 'before its project')");
push_both('incremental', 'an orphan');
$source->safe_psql('app', "INSERT INTO crm.projects (id, account_id, code) VALUES ('a1000006-0000-0000-0000-000000000000', '$A', 'P6')");
push_both('incremental', 'its parent arrives');
exact('a declared child adopted');
is($target->safe_psql('tenant_a', "SELECT what FROM tenant_a.audit WHERE id = 4"), 'before its project',
	'the child that came first arrived with its parent');
$source->safe_psql('app', "UPDATE crm.projects SET code = 'P6b' WHERE code = 'P6'");
push_both('incremental', 'the linked column changed');
exact('the linked column changed');

# A project moves from A to B with its tasks, notes and audit rows (a move
# below the root), and a task moves between projects of A.
$source->safe_psql('app', qq{UPDATE crm.projects SET account_id = '$B' WHERE code = 'P1'});
push_both('incremental', 'a project moved to B');
exact('a project moved to B');
is($target->safe_psql('tenant_a', "SELECT count(*) FROM tenant_a.task_notes WHERE project_id = 'a1000001-0000-0000-0000-000000000000'"),
	'0', 'A lost the project\'s task notes');
$source->safe_psql('app', qq{UPDATE crm.projects SET account_id = '$A2' WHERE code = 'P1'});
push_both('incremental', 'and back to A');
exact('and back to A');

# A row of a table the path crosses, not registered, moves: the rows below
# it move with it (a full sync of the two owners: sunsync cannot find them
# on a target that has no copy of that table).
$source->safe_psql('app', qq{UPDATE crm.regions SET account_id = '$B' WHERE id = 2});
push_both('full', 'a crossed row moved');
exact('a crossed row moved');
$source->safe_psql('app', "UPDATE crm.regions SET label = 'renamed' WHERE id = 2");
push_both('incremental', 'a crossed row changed in place');
is(last_run($source, 'app', $a)->{upserted}, '0', 'and nothing was shipped for it');

# Deleting the sub-account cascades through its projects, tasks and notes
# (the root has rows below a crossed table: a full sync for A).
$source->safe_psql('app', qq{DELETE FROM crm.events WHERE account_id = '$A2'; DELETE FROM crm.accounts WHERE id = '$A2'});
push_ok($source, 'app', $a, 'full', 'the sub-account deleted, A');
push_ok($source, 'app', $b, 'incremental', 'the sub-account of A deleted, B');
exact('after the cascade');

done_testing();
