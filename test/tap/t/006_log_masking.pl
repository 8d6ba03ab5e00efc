# No password in the server log, whatever its settings: statements logged by
# log_statement = all, log_min_duration_statement and log_min_error_statement,
# parse errors that happen before sunsync runs, permission errors; and none
# in pg_stat_activity.query while a sunsync call runs.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Test::More;

my $source = new_source('l_source', 'log_statement = all', 'log_min_duration_statement = 0',
	'log_min_error_statement = error', 'log_min_messages = debug1',
	"log_line_prefix = '%m [%p] %q%a '");
$source->safe_psql('app', q{
	CREATE TABLE fam (id int PRIMARY KEY);
	SELECT sunsync_set_root('fam', 'id');
	CREATE ROLE nobody_special LOGIN;
});
my $port = $source->port;

# 1. a parse error: PostgreSQL logs the statement before sunsync runs
my ($rc, $out, $err) = $source->psql('app', "SELECT sunsync_create_config(1, 'postgresql://u:Parse-S3cret\@127.0.0.1:$port/app'");
like($err, qr/syntax error/, 'a statement with a syntax error fails');

# 2. permission denied
($rc, $out, $err) = $source->psql('app', "SET ROLE nobody_special; SELECT sunsync_create_config(1, 'postgresql://u:Denied-S3cret\@127.0.0.1:$port/app')");
like($err, qr/permission denied for function sunsync_create_config/, 'a role without EXECUTE is refused');

# 3. a call that succeeds, logged by log_statement and log_min_duration_statement
my $id = $source->safe_psql('app', "SELECT sunsync_create_config(1, 'postgres://u:Logged-S3cret\@127.0.0.1:$port/app')");
ok($id > 0, 'a configuration is created');

# 4. any statement with a URL in it, and a password= keyword
$source->safe_psql('app', "SELECT 'postgresql://x:Plain-S3cret\@h/db' AS u, 'host=h password=Kw-S3cret' AS k");

# 5. an error whose message carries the URL
($rc, $out, $err) = $source->psql('app', "SELECT 'postgresql://x:Cast-S3cret\@h/db'::int");
like($err, qr/invalid input syntax for type integer: "postgresql:\/\/x:\*\*\*\@h\/db"/,
	'the client sees the error with the password masked too');

# 6. pg_stat_activity while a sunsync call waits (here on a lock of its catalog)
my $hold = $source->background_psql('app');
$hold->query_safe('BEGIN; LOCK TABLE sunsync.configs IN EXCLUSIVE MODE;');
my $waiter = $source->background_psql('app');
$waiter->query_until(qr/start/, "\\echo start\nSELECT sunsync_create_config(2, 'postgresql://u:Activity-S3cret\@127.0.0.1:$port/app');\n");
ok($source->poll_query_until('app', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE query LIKE '%sunsync_create_config(2%' AND wait_event_type = 'Lock'}), 'a create_config waits for a lock');
is($source->safe_psql('app', q{SELECT query FROM pg_stat_activity WHERE query LIKE '%sunsync_create_config(2%'
	AND wait_event_type = 'Lock'}),
	"SELECT sunsync_create_config(2, 'postgresql://u:***\@127.0.0.1:$port/app');",
	'pg_stat_activity shows the call with its password masked');
$hold->query_safe('COMMIT');
$hold->quit;
$waiter->quit;

my $log = slurp_file($source->logfile);
like($log, qr/statement: SELECT sunsync_create_config\(1, 'postgres:\/\/u:\*\*\*\@127/, 'log_statement = all logged the call, masked');
like($log, qr/STATEMENT:  SELECT sunsync_create_config\(1, 'postgresql:\/\/u:\*\*\*\@127/, 'the parse error\'s statement is masked');
like($log, qr/password=\*\*\*/, 'a password= keyword is masked');
for my $secret (qw(Parse Denied Logged Plain Kw Cast Activity))
{
	unlike($log, qr/$secret-S3cret/, "the log does not hold the $secret password");
}
done_testing();
