# Helpers for sunsync's integration tests: a source cluster with sunsync
# preloaded, a target cluster behind password authentication, the Sunschool
# example, and exact per-table comparisons.
package SunsyncTest;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(new_source new_target target_login load_sunschool rows_digest
  compare_tables target_url poll_status repo_file app_role);

my $root = $ENV{SUNSYNC_ROOT} or die "SUNSYNC_ROOT is not set";

sub repo_file { return slurp_file("$root/$_[0]"); }

sub new_source
{
	my ($name, @conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', join("\n",
		"shared_preload_libraries = 'sunsync'",
		"sunsync.allow_private_targets = on",
		"sunsync.connect_timeout = 3s",
		"sunsync.naptime = 1s",
		"max_worker_processes = 24",
		# the tests' own statements carry URLs; the check is on what sunsync logs
		"log_statement = none",
		@conf) . "\n");
	$node->start;
	$node->safe_psql('postgres', 'CREATE DATABASE app');
	$node->safe_psql('app', 'CREATE EXTENSION sunsync');
	return $node;
}

# An application role that is not a superuser: it creates tables in public
# and registers its own tables with sunsync, as a migration role would.
sub app_role
{
	my ($node, $db, $role) = @_;
	$node->safe_psql($db, qq{
		CREATE ROLE $role LOGIN;
		GRANT CREATE ON SCHEMA public TO $role;
		GRANT EXECUTE ON FUNCTION sunsync_set_root(regclass, text), sunsync_add_table(regclass, text, text[]),
		                          sunsync_remove_table(regclass) TO $role;
	});
}

# Listens on 127.0.0.1 with scram-sha-256 for TCP; the test itself uses the socket.
sub new_target
{
	my ($name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'\npassword_encryption = 'scram-sha-256'\n");
	open my $hba, '>', $node->data_dir . '/pg_hba.conf' or die $!;
	print $hba "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
	close $hba;
	$node->start;
	return $node;
}

# A login on the target with a password, and the databases it owns.
sub target_login
{
	my ($target, $role, $password, @databases) = @_;
	$target->safe_psql('postgres', "CREATE ROLE $role LOGIN PASSWORD '$password'");
	$target->safe_psql('postgres', "CREATE DATABASE $_ OWNER $role") for @databases;
}

sub target_url
{
	my ($target, $user, $password, $db) = @_;
	return "postgresql://$user:$password\@127.0.0.1:" . $target->port . "/$db";
}

sub load_sunschool
{
	my ($node, $db, @sizes) = @_;
	$node->safe_psql($db, repo_file('examples/sunschool/schema.sql'));
	$node->safe_psql($db, repo_file('examples/sunschool/generate.sql'));
	$node->safe_psql($db, 'SELECT * FROM sunschool_generate(' . join(', ', @sizes) . ')');
	$node->safe_psql($db, repo_file('examples/sunschool/scope.sql'));
}

# md5 over the rows of a query, each in its text form, in a fixed order:
# equal digests mean equal rows, NULLs, whitespace and all.
sub rows_digest
{
	my ($node, $db, $query) = @_;
	return $node->safe_psql($db,
		"SELECT count(*) || ':' || coalesce(md5(string_agg(r::text, E'\\n' ORDER BY r::text)), '')"
		  . " FROM ($query) r");
}

# Compares, table by table, the owner's rows on the source with the target.
# $tables: name => [source query, target query].
sub compare_tables
{
	my ($source, $sdb, $target, $tdb, $tables, $label) = @_;
	for my $t (sort keys %$tables)
	{
		my ($sq, $tq) = @{ $tables->{$t} };
		my $s = rows_digest($source, $sdb, $sq);
		my $d = rows_digest($target, $tdb, $tq);
		is($d, $s, "$label: $t is an exact copy ($s)");
	}
}

sub poll_status
{
	my ($node, $db, $id, $status) = @_;
	return $node->poll_query_until($db,
		"SELECT status = '$status' FROM sunsync_configs WHERE id = $id");
}

1;
