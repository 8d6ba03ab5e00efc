# A new user, on a schema of a well-known public sample database (Chinook's
# shape: customers, their invoices and invoice lines, a shared catalog of
# artists, albums and tracks, and employees as support reps): an
# application role that is not a superuser creates and owns the tables,
# registers the scope and its configurations, while pgbench writers add
# invoices and lines, change them, delete lines, and move invoices (with
# their lines) between customers.  Each customer's copy is exact at the end;
# invoice lines refer to tracks that are not replicated, and invoices to
# other customers' support reps, without error.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use IPC::Run;
use Test::More;

my $source = new_source('chinook_source');
my $target = new_target('chinook_target');
target_login($target, 'cust', 'Tgt-S3cret', 'c1', 'c2', 'c3');
app_role($source, 'app', 'shop');
$source->safe_psql('app', q{
	GRANT EXECUTE ON FUNCTION sunsync_create_config(anyelement, text, boolean, text),
	                          sunsync_push(bigint, boolean, boolean), sunsync_verify(bigint) TO shop;
	GRANT SELECT ON sunsync_configs, sunsync_history TO shop;
});

$source->safe_psql('app', q{
SET ROLE shop;
CREATE TABLE artist (artist_id int PRIMARY KEY, name varchar(120));
CREATE TABLE album (album_id int PRIMARY KEY, title varchar(160) NOT NULL, artist_id int NOT NULL REFERENCES artist);
CREATE TABLE track (track_id int PRIMARY KEY, name varchar(200) NOT NULL, album_id int REFERENCES album,
    composer varchar(220), milliseconds int NOT NULL, bytes int, unit_price numeric(10,2) NOT NULL);
CREATE TABLE employee (employee_id int PRIMARY KEY, last_name varchar(20) NOT NULL, first_name varchar(20) NOT NULL,
    title varchar(30), reports_to int REFERENCES employee, hire_date timestamp, email varchar(60));
CREATE TABLE customer (customer_id int PRIMARY KEY, first_name varchar(40) NOT NULL, last_name varchar(20) NOT NULL,
    company varchar(80), city varchar(40), country varchar(40), email varchar(60) NOT NULL,
    support_rep_id int REFERENCES employee);
CREATE TABLE invoice (invoice_id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customer,
    invoice_date timestamp NOT NULL, billing_city varchar(40), billing_country varchar(40), total numeric(10,2) NOT NULL);
CREATE TABLE invoice_line (invoice_line_id serial PRIMARY KEY, invoice_id int NOT NULL REFERENCES invoice ON DELETE CASCADE,
    track_id int NOT NULL REFERENCES track, unit_price numeric(10,2) NOT NULL, quantity int NOT NULL);
CREATE INDEX ON invoice (customer_id);
CREATE INDEX ON invoice_line (invoice_id);

INSERT INTO artist SELECT a, 'Artist ' || a FROM generate_series(1, 20) a;
INSERT INTO album SELECT a, 'Album ' || a, 1 + a % 20 FROM generate_series(1, 50) a;
INSERT INTO track SELECT t, 'Track ' || t || E' \u00e9', 1 + t % 50, CASE WHEN t % 3 = 0 THEN NULL ELSE 'Composer' END,
    180000 + t, 5000000 + t, 0.99 FROM generate_series(1, 500) t;
INSERT INTO employee VALUES (1, 'Adams', 'Andrew', 'General Manager', NULL, '2002-08-14', 'andrew@chinookcorp.com'),
    (2, 'Edwards', 'Nancy', 'Sales Manager', 1, '2002-05-01', 'nancy@chinookcorp.com'),
    (3, 'Peacock', 'Jane', 'Sales Support Agent', 2, '2002-04-01', 'jane@chinookcorp.com');
INSERT INTO customer SELECT c, 'First ' || c, 'Last ' || c, CASE WHEN c % 4 = 0 THEN 'Company ' || c END,
    'City ' || c, (ARRAY['Brazil', 'Canada', 'France', 'USA'])[1 + c % 4], 'c' || c || '@example.com', 1 + c % 3
  FROM generate_series(1, 20) c;
INSERT INTO invoice (customer_id, invoice_date, billing_city, billing_country, total)
  SELECT 1 + i % 20, '2021-01-01'::timestamp + i * interval '1 day', 'City', 'Country', 0 FROM generate_series(1, 200) i;
INSERT INTO invoice_line (invoice_id, track_id, unit_price, quantity)
  SELECT 1 + l % 200, 1 + (l * 7) % 500, 0.99, 1 + l % 3 FROM generate_series(1, 1000) l;
UPDATE invoice i SET total = (SELECT coalesce(sum(unit_price * quantity), 0) FROM invoice_line WHERE invoice_id = i.invoice_id);

SELECT sunsync_set_root('customer', 'customer_id');
SELECT sunsync_add_table('customer');
SELECT sunsync_add_table('invoice');
SELECT sunsync_add_table('invoice_line');
});

my %config;
for my $c (1, 2, 3)
{
	$config{$c} = $source->safe_psql('app', "SET ROLE shop; SELECT sunsync_create_config($c, '"
		  . target_url($target, 'cust', 'Tgt-S3cret', "c$c") . "')");
}
push_ok($source, 'app', $config{$_}, 'full', "customer $_, first push") for 1, 2, 3;

my $dir = PostgreSQL::Test::Utils::tempdir;
open my $w, '>', "$dir/sale.sql" or die $!;
print $w <<'SQL';
\set c random(1, 20)
\set t random(1, 500)
BEGIN;
INSERT INTO invoice (customer_id, invoice_date, billing_city, billing_country, total) VALUES (:c, now(), 'City', 'Country', 0);
INSERT INTO invoice_line (invoice_id, track_id, unit_price, quantity) VALUES (currval('invoice_invoice_id_seq'), :t, 0.99, 2);
UPDATE invoice SET total = total + 1.98 WHERE invoice_id = currval('invoice_invoice_id_seq');
END;
SQL
close $w;
open my $m, '>', "$dir/change.sql" or die $!;
print $m <<'SQL';
\set i random(1, 200)
\set c random(1, 20)
\set q random(1, 9)
UPDATE invoice_line SET quantity = :q WHERE invoice_line_id = (SELECT min(invoice_line_id) FROM invoice_line WHERE invoice_id = :i);
UPDATE invoice SET customer_id = :c WHERE invoice_id = :i;
DELETE FROM invoice_line WHERE invoice_line_id = (SELECT max(invoice_line_id) FROM invoice_line WHERE invoice_id = :i AND invoice_line_id > 1000);
UPDATE customer SET city = 'Moved ' || :q WHERE customer_id = :c;
SQL
close $m;
my ($out, $err) = ('', '');
my $bench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '3', '-j', '1', '-T', '15', '-h', $source->host, '-p', $source->port, '-U', 'shop',
	  '-f', "$dir/sale.sql\@5", '-f', "$dir/change.sql\@2", 'app' ],
	'>', \$out, '2>', \$err);
my ($failed, $verifies, $false_alarms, $pending_seen) = (0, 0, 0, 0);
my $t0 = time;
while (time - $t0 < 14)
{
	for my $c (1, 2, 3)
	{
		my ($rc, $o, $e) = $source->psql('app', "SET ROLE shop; SELECT sunsync_push($config{$c}, wait => true)");
		$failed++, diag $e if $o ne 'COMPLETED';
	}
	# while writers commit and runs ship (customer 3's push goes on in
	# the background): changes not shipped yet are pending, never differences
	$source->psql('app', "SET ROLE shop; SELECT sunsync_push($config{3})");
	my ($rc, $o, $e) = $source->psql('app', "SET ROLE shop; SELECT sum(missing + extra + differing) || ' ' ||
		sum(pending) FROM sunsync_verify($config{3})");
	$verifies++;
	my ($bad, $pending) = split / /, $o // '';
	$false_alarms++, diag "verify: $o $e" if !defined $pending || $bad != 0;
	$pending_seen += $pending // 0;
}
$bench->finish;
like($out, qr/number of transactions actually processed: [1-9]/, 'the writers ran') or diag $err;
is($failed, 0, 'every push during the writes completed');
is($false_alarms, 0, "$verifies verifies during the writes and runs: no row missing, extra or differing");
note "pending rows seen by those verifies: $pending_seen";

for my $c (1, 2, 3)
{
	push_ok($source, 'app', $config{$c}, 'incremental', "customer $c after the writers stopped");
	compare_tables($source, 'app', $target, "c$c", {
		customer => ["SELECT * FROM customer WHERE customer_id = $c", 'SELECT * FROM public.customer'],
		invoice => ["SELECT * FROM invoice WHERE customer_id = $c", 'SELECT * FROM public.invoice'],
		invoice_line => ["SELECT l.* FROM invoice_line l JOIN invoice i USING (invoice_id) WHERE i.customer_id = $c",
			'SELECT * FROM public.invoice_line'],
	}, "customer $c");
	is($source->safe_psql('app', "SET ROLE shop; SELECT bool_and(ok AND pending = 0) FROM sunsync_verify($config{$c})"),
		't', "customer $c: verify agrees, every table ok, nothing pending");
}
is($target->safe_psql('c1', q{SELECT count(*) FROM information_schema.tables WHERE table_name IN ('track', 'employee')}),
	'0', 'the shared catalog and the employees stay on the source');
my $incremental = $source->safe_psql('app', q{SELECT count(*) FILTER (WHERE kind = 'incremental') || ' of ' || count(*)
	FROM sunsync_history WHERE status = 'COMPLETED'});
note "runs: $incremental incremental";
done_testing();
