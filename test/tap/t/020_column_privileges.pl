# The rows of a run are read as the role that set the root, and a column it
# excluded may be one it cannot read (column privileges on a table of its
# own, a secret kept from the application): full and incremental runs read
# only what they replicate and the path's columns.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Test::More;

my $source = new_source('colpriv_source');
my $target = new_target('colpriv_target');
target_login($target, 'acct', 'Tgt-S3cret', 'a1');
app_role($source, 'app', 'shop');
$source->safe_psql('app', q{
	GRANT EXECUTE ON FUNCTION sunsync_create_config(anyelement, text, boolean, text),
	                          sunsync_push(bigint, boolean, boolean) TO shop;
	GRANT SELECT ON sunsync_history TO shop;
	SET ROLE shop;
	CREATE TABLE account (id int PRIMARY KEY, name text, api_key text);
	CREATE TABLE project (id int PRIMARY KEY, account_id int NOT NULL REFERENCES account, title text, token text);
	INSERT INTO account VALUES (1, 'one', 'k1'), (2, 'two', 'k2');
	INSERT INTO project SELECT p, 1 + p % 2, 'project ' || p, 'secret ' || p FROM generate_series(1, 10) p;
	SELECT sunsync_set_root('account', 'id');
	SELECT sunsync_add_table('account', exclude_columns => '{api_key}');
	SELECT sunsync_add_table('project', exclude_columns => '{token}');
	-- the secrets: not even their tables' owner reads them
	REVOKE SELECT ON account, project FROM shop;
	GRANT SELECT (id, name) ON account TO shop;
	GRANT SELECT (id, account_id, title) ON project TO shop;
});
my $id = $source->safe_psql('app', "SET ROLE shop; SELECT sunsync_create_config(1, '"
	  . target_url($target, 'acct', 'Tgt-S3cret', 'a1') . "')");
push_ok($source, 'app', $id, 'full', 'first push');
$source->safe_psql('app', q{
	UPDATE project SET title = 'renamed', token = 'new secret' WHERE id = 4;
	INSERT INTO project VALUES (11, 1, 'new', 'secret 11');
	DELETE FROM project WHERE id = 6;
	UPDATE account SET name = 'ONE', api_key = 'k1b' WHERE id = 1;
});
push_ok($source, 'app', $id, 'incremental', 'changes, read without the excluded columns');
is($target->safe_psql('a1', 'SELECT string_agg(id || ' . "':'" . ' || title, \',\' ORDER BY id) FROM public.project'),
	'2:project 2,4:renamed,8:project 8,10:project 10,11:new', 'the target has the projects of account 1');
is($target->safe_psql('a1', 'SELECT name FROM public.account'), 'ONE', 'and the account as it is now');
is($target->safe_psql('a1', q{SELECT count(*) FROM information_schema.columns
	WHERE column_name IN ('token', 'api_key')}), '0', 'and no excluded column');
done_testing();
