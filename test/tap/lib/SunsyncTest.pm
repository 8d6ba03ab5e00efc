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
use POSIX ();

our @EXPORT = qw(new_source new_target target_login load_sunschool rows_digest
  compare_tables target_url poll_status repo_file app_role sunschool_tables push_ok last_run
  hanging_target old_server_target);

my $root = $ENV{SUNSYNC_ROOT} or die "SUNSYNC_ROOT is not set";

# the listeners' processes, ended with the test however it ends (one left
# would keep prove waiting on its output); not those reaped already, and
# $? kept: it is the test's exit status
my @servers;
END { local $?; waitpid($_, POSIX::WNOHANG()) == 0 and kill 'KILL', $_ for @servers; }

sub repo_file { return slurp_file("$root/$_[0]"); }

sub new_source
{
	my ($name, @conf) = @_;
	# a hash first: options for init (allows_streaming => 1, say)
	my %init = ref $conf[0] eq 'HASH' ? %{ shift @conf } : ();
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%init);
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

# A target that hangs: a process on 127.0.0.1 that accepts connections
# and never answers.  Returns its port and pid (kill 'TERM' and waitpid it).
sub hanging_target
{
	return loopback_server(sub {
		my ($listener) = @_;
		my @held;
		while (my $c = $listener->accept) { push @held, $c; }
	});
}

# Runs $serve->($listener) in a child process, on a new listener on
# 127.0.0.1; returns the port and the child's pid.
sub loopback_server
{
	my ($serve) = @_;
	require IO::Socket::INET;
	my $listener = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 64, ReuseAddr => 1)
	  or die "listen: $!";
	my $port = $listener->sockport;
	my $pid = fork // die "fork: $!";
	if ($pid == 0)
	{
		# _exit: no END block of the test's copy runs here (Cluster's
		# would stop the test's servers), and a die goes no further
		eval { $serve->($listener); };
		POSIX::_exit(0);
	}
	push @servers, $pid;
	close $listener;
	return ($port, $pid);
}

# A target that claims an old server version: a process on 127.0.0.1
# that speaks just enough of the protocol to log a client in (a cleartext
# password, taken unchecked) and reports server_version $version, then
# waits for the client to go.  Returns its port and pid.
sub old_server_target
{
	my ($version) = @_;
	return loopback_server(sub {
		my ($listener) = @_;
		my $message = sub { my ($type, $body) = @_; return $type . pack('N', 4 + length $body) . $body; };
		my $read = sub {
			my ($c, $n) = @_;
			my $buf = '';
			while (length $buf < $n) { my $got = sysread($c, $buf, $n - length $buf, length $buf) or return; }
			return $buf;
		};
		while (my $c = $listener->accept)
		{
			for (;;)    # the startup packet, after any SSL or GSS request (refused)
			{
				my $len = unpack('N', $read->($c, 4) // last);
				my $body = $read->($c, $len - 4) // last;
				my $code = unpack('N', $body);
				if ($code == 80877103 || $code == 80877104) { syswrite $c, 'N'; next; }
				syswrite $c, $message->('R', pack('N', 3));    # a cleartext password, please
				$read->($c, 1);
				$read->($c, unpack('N', $read->($c, 4) // last) - 4);
				my $status = join '', map { $message->('S', "$_->[0]\0$_->[1]\0") }
				  ['server_version', $version], ['server_encoding', 'UTF8'], ['client_encoding', 'UTF8'],
				  ['standard_conforming_strings', 'on'], ['integer_datetimes', 'on'], ['DateStyle', 'ISO, MDY'];
				syswrite $c, $message->('R', pack('N', 0)) . $status . $message->('K', pack('NN', 4242, 1))
				  . $message->('Z', 'I');
				1 while sysread($c, my $ignored, 8192);    # until the client closes
				last;
			}
			close $c;
		}
	});
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

# The Sunschool tables of one family (its parent's id), as the source has
# them (without sunsync's help) and as a target copy has them.
sub sunschool_tables
{
	my ($source, $db, $family) = @_;
	my $members = "(SELECT id FROM public.users WHERE coalesce(parent_id, id) = $family)";
	my %filter = (
		users => "coalesce(parent_id, id) = $family",
		learner_profiles => "user_id IN $members",
		achievements => "learner_id IN (SELECT id::text FROM public.users WHERE coalesce(parent_id, id) = $family)",
		rewards => "parent_id IN $members",
		map { $_ => "learner_id IN $members" }
		  qw(lessons points_ledger learner_points concept_mastery reward_redemptions
		  learning_goals reward_goal_savings quiz_answers));
	my %tables;
	for my $t (keys %filter)
	{
		my $cols = $source->safe_psql($db, qq{
			SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)
			  FROM information_schema.columns
			 WHERE table_schema = 'public' AND table_name = '$t' AND column_name <> 'password'});
		$tables{$t} = ["SELECT $cols FROM public.$t WHERE $filter{$t}", "SELECT $cols FROM public.$t"];
	}
	return \%tables;
}

# sunsync_push(id, wait => true) returns COMPLETED, and the run was of the
# kind expected ('full' or 'incremental').
sub push_ok
{
	my ($source, $db, $id, $kind, $label, $args) = @_;
	$args //= '';
	my ($rc, $out, $err) = $source->psql($db, "SELECT sunsync_push($id, wait => true$args)");
	is($out, 'COMPLETED', "$label: push completed") or diag $err;
	is(last_run($source, $db, $id)->{kind}, $kind, "$label: the run was $kind");
}

# The newest run of a configuration: kind, status, rows_upserted, rows_deleted.
sub last_run
{
	my ($source, $db, $id) = @_;
	my @f = split /\|/, $source->safe_psql($db, qq{SELECT kind, status, rows_upserted, rows_deleted
		FROM sunsync_history WHERE config_id = $id ORDER BY run_id DESC LIMIT 1});
	return { kind => $f[0], status => $f[1], upserted => $f[2], deleted => $f[3] };
}

sub poll_status
{
	my ($node, $db, $id, $status) = @_;
	return $node->poll_query_until($db,
		"SELECT status = '$status' FROM sunsync_configs WHERE id = $id");
}

1;
