# sunsync_verify on a schema of its own (text keys with non-ASCII letters,
# a composite key, NULLs, NaN, -0, Infinity, numeric scale, json
# whitespace, jsonb, arrays, bytea, money, intervals, a generated column),
# called by a role that is not a superuser, against a UTF8 and a LATIN1
# target: an exact copy verifies ok; damage done by hand on the target is
# counted exactly; full => true repairs it; changes not yet shipped (rows
# changed, a row moved to another owner and one moved in) are pending, not
# differences; verify writes nothing on either side; an unreachable target
# fails as a run fails; a hanging one can be cancelled; one older than
# PostgreSQL 12 is refused.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use IO::Socket::INET;
use Test::More;

my $source = new_source('vf_source', { allows_streaming => 1 });
my $target = new_target('vf_target');
target_login($target, 'tenant', 'Tgt-S3cret', 'tenant');
$target->safe_psql('postgres', q{CREATE DATABASE tenant_latin1 OWNER tenant ENCODING 'LATIN1'
	LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0});
$source->safe_psql('postgres', q{CREATE DATABASE lab ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0});
$source->safe_psql('lab', 'CREATE EXTENSION sunsync');
app_role($source, 'lab', 'chemist');
$source->safe_psql('lab', q{
	GRANT EXECUTE ON FUNCTION sunsync_create_config(anyelement, text, boolean, text), sunsync_create_config(text, text, boolean, text),
	                          sunsync_push(bigint, boolean, boolean), sunsync_verify(bigint) TO chemist;
	GRANT SELECT ON sunsync_configs TO chemist;
	SET ROLE chemist;
	CREATE TABLE sites (code text PRIMARY KEY, name text, opened date);
	CREATE TABLE samples (
	    id int PRIMARY KEY, site text NOT NULL REFERENCES sites, taken timestamptz,
	    weight numeric(10,3), amount numeric, notes json, meta jsonb, tags text[], blob bytea,
	    cost money, ratio real, twice float8 GENERATED ALWAYS AS (ratio * 2) STORED);
	CREATE TABLE labels (sample_id int REFERENCES samples, lang text, label text, PRIMARY KEY (sample_id, lang));
	CREATE TABLE readings (id bigint PRIMARY KEY, sample_id int NOT NULL REFERENCES samples,
	    v float8, vs float8[], took interval, flag boolean);
	INSERT INTO sites VALUES ('Zürich', 'Zürich Süd', '2020-02-29'), ('Genève', 'Genève', NULL);
	INSERT INTO samples (id, site, taken, weight, amount, notes, meta, tags, blob, cost, ratio) VALUES
	  (1, 'Zürich', '2024-03-31 23:30:00+02', 1.5, 1.50, '{"a" :  1,  "b":[1, 2]}', '{"b": [1, 2], "a": 1}',
	   '{x,"y z",NULL,"q\"uote"}', '\x00ff10', 12.34, 0.1),
	  (2, 'Zürich', NULL, NULL, 1.5, NULL, NULL, NULL, NULL, NULL, NULL),
	  (3, 'Zürich', 'infinity', 0, -0.000, '[]', '{}', '{}', '', 0, 'NaN'),
	  (4, 'Genève', now(), 2, 2, '{}', '{}', '{}', '\x01', 1, 1),
	  (5, 'Genève', now(), 3, 3, '{}', '{}', '{}', '\x02', 1, 1);
	INSERT INTO labels VALUES (1, 'de', 'Säure'), (1, 'fr', 'acide'), (2, 'de', NULL), (4, 'fr', 'eau');
	INSERT INTO readings VALUES
	  (1, 1, '-0', '{-0,0,NaN,Infinity,-Infinity}', '1 day 02:03:04.5', true),
	  (2, 1, 'NaN', NULL, '-1 mon', false),
	  (3, 1, 1e-300, '{1.5,NULL}', NULL, NULL),
	  (4, 2, 'Infinity', '{}', '0', true),
	  (5, 3, 0.1, '{0.30000000000000004}', '100 years', false),
	  (6, 2, 2, NULL, NULL, NULL),
	  (7, 4, 7, NULL, NULL, NULL),
	  (8, 5, 8, NULL, NULL, NULL);
	SELECT sunsync_set_root('sites', 'code');
	SELECT sunsync_add_table('samples');
	SELECT sunsync_add_table('labels');
	SELECT sunsync_add_table('readings');
});

sub as_chemist
{
	my ($sql) = @_;
	return $source->safe_psql('lab', "SET ROLE chemist; $sql");
}

# table:source/target missing extra differing pending ok, for every table
sub verdict
{
	my ($id) = @_;
	return as_chemist(qq{SELECT string_agg(format('%s:%s/%s m%s e%s d%s p%s %s', table_name, source_rows,
		target_rows, missing, extra, differing, pending, CASE WHEN ok THEN 'ok' ELSE 'BAD' END), ' '
		ORDER BY table_name) FROM sunsync_verify($id)});
}

my $utf8 = as_chemist("SELECT sunsync_create_config('Zürich'::text, '"
	  . target_url($target, 'tenant', 'Tgt-S3cret', 'tenant') . "')");
my $latin1 = as_chemist("SELECT sunsync_create_config('Zürich'::text, '"
	  . target_url($target, 'tenant', 'Tgt-S3cret', 'tenant_latin1') . "')");
for my $id ($utf8, $latin1)
{
	is(as_chemist("SELECT sunsync_push($id, wait => true)"), 'COMPLETED', "config $id: first push");
}
my $exact = 'public.labels:3/3 m0 e0 d0 p0 ok public.readings:6/6 m0 e0 d0 p0 ok public.samples:3/3 m0 e0 d0 p0 ok public.sites:1/1 m0 e0 d0 p0 ok';
is(verdict($utf8), $exact, 'an exact copy verifies ok, every table (UTF8 target)');
is(verdict($latin1), $exact, 'and on a LATIN1 target, whose text is converted');

# Writes nothing: on the source it runs in a read-only transaction; on the
# target nothing changes (the record is not touched, no row is locked).
my $record = q{SELECT string_agg(config_id || ':' || updated_at, ',' ORDER BY config_id) FROM public.sunsync_state};
my $before = $target->safe_psql('tenant', $record);
is(as_chemist("BEGIN TRANSACTION READ ONLY; SELECT count(*) FROM sunsync_verify($utf8) WHERE ok; COMMIT;"), '4',
	'verify runs in a read-only transaction of the source');
is($target->safe_psql('tenant', $record), $before, 'and leaves the target record alone');

# The caller's session is as it was: its settings, after a verify that
# worked and after one that failed inside an EXCEPTION block; no lock left
# on the tables verify read; SERIALIZABLE refused.
is(as_chemist(qq{SET DateStyle = 'German'; SET extra_float_digits = 0; SET search_path = public;
	BEGIN; SELECT count(*) FROM sunsync_verify($utf8);
	SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 'readings'::regclass;
	COMMIT; SHOW DateStyle; SHOW extra_float_digits; SHOW search_path;}),
	"4\n0\nGerman, DMY\n0\npublic", 'verify leaves the settings of the session and no lock behind');
is(as_chemist(qq{SET search_path = public; DO \$\$ BEGIN PERFORM * FROM sunsync_verify(-1);
	EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'caught'; END \$\$; SHOW search_path; SHOW TimeZone;}),
	"public\n" . $source->safe_psql('lab', 'SHOW TimeZone'), 'and after an error caught by the caller');
my (undef, undef, $ser_err) = $source->psql('lab', "SET ROLE chemist; BEGIN ISOLATION LEVEL SERIALIZABLE;
	SELECT * FROM sunsync_verify($utf8); COMMIT;");
like($ser_err, qr/ERROR:  sunsync_verify cannot run in a SERIALIZABLE transaction/, 'SERIALIZABLE is refused');

# Damage by hand on the target: two readings deleted, one added, one value
# changed from -0 to 0, a numeric's scale changed, json whitespace changed,
# a label changed, a composite-key row deleted.
$target->safe_psql('tenant', q{
	DELETE FROM public.readings WHERE id IN (2, 3);
	INSERT INTO public.readings VALUES (99, 1, 9, NULL, NULL, NULL);
	UPDATE public.readings SET v = 0 WHERE id = 1;
	UPDATE public.samples SET amount = 1.5 WHERE id = 1;
	UPDATE public.samples SET notes = '[ ]' WHERE id = 3;
	UPDATE public.labels SET label = 'Saeure' WHERE sample_id = 1 AND lang = 'de';
	DELETE FROM public.labels WHERE sample_id = 2;
});
is(verdict($utf8),
	'public.labels:3/2 m1 e0 d1 p0 BAD public.readings:6/5 m2 e1 d1 p0 BAD public.samples:3/3 m0 e0 d2 p0 BAD public.sites:1/1 m0 e0 d0 p0 ok',
	'verify counts exactly the rows damaged by hand, table by table');
is(verdict($latin1), $exact, 'the other copy is still exact');
is(as_chemist("SELECT sunsync_push($utf8, wait => true, full => true)"), 'COMPLETED', 'full => true repairs it');
is(verdict($utf8), $exact, 'and verify is ok again');

# Changes not yet shipped: a reading changed, one added, one deleted, a
# sample (with its readings, which do not change) moved to the other site,
# and one moved in from it.  They are pending, not differences; damage done
# meanwhile is still counted.
as_chemist(q{
	UPDATE readings SET v = v + 1 WHERE id = 5;
	INSERT INTO readings VALUES (9, 1, 9, NULL, NULL, NULL);
	DELETE FROM readings WHERE id = 3;
	UPDATE samples SET site = 'Genève' WHERE id = 2;
	UPDATE samples SET site = 'Zürich' WHERE id = 4;
});
$target->safe_psql('tenant', q{UPDATE public.sites SET name = 'damaged'});
# source now: samples 1, 3, 4; readings 1, 2, 5, 7, 9; labels (1,de), (1,fr), (4,fr)
# target: samples 1, 2, 3; readings 1-6; labels (1,de), (1,fr), (2,de)
is(verdict($utf8),
	'public.labels:3/3 m0 e0 d0 p2 ok public.readings:5/6 m0 e0 d0 p6 ok public.samples:3/3 m0 e0 d0 p2 ok public.sites:1/1 m0 e0 d1 p0 BAD',
	'changes not yet shipped are pending: neither missing, extra nor differing; the damage is still found');
is(as_chemist("SELECT sunsync_push($utf8, wait => true, full => true)"), 'COMPLETED', 'pushed');
is(verdict($utf8), 'public.labels:3/3 m0 e0 d0 p0 ok public.readings:5/5 m0 e0 d0 p0 ok public.samples:3/3 m0 e0 d0 p0 ok public.sites:1/1 m0 e0 d0 p0 ok',
	'nothing pending once they are shipped');
is(as_chemist("SELECT sunsync_push($utf8, wait => true)"), 'COMPLETED', 'an incremental push');

# A target with no record yet (never pushed): a NOTICE says the next run is
# a full sync, and everything is missing.
my $never = as_chemist("SELECT sunsync_create_config('Zürich'::text, '"
	  . target_url($target, 'tenant', 'Tgt-S3cret', 'tenant') . "', target_schema => 'never')");
my ($ret, $out, $err) = $source->psql('lab', "SET ROLE chemist; SELECT sum(missing) FROM sunsync_verify($never)");
is($out, '12', 'a target never pushed to: every row is missing');
like($err, qr/NOTICE:  the next run of configuration $never is a full sync: the target has no record/,
	'and a NOTICE says why');

# An unreachable target: the error of a run, with no password in it.
my $closed = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die $!;
my $closed_port = $closed->sockport;
close $closed;
my $gone = as_chemist("SELECT sunsync_create_config('Zürich'::text, "
	  . "'postgresql://tenant:Tgt-S3cret\@127.0.0.1:$closed_port/tenant')");
($ret, $out, my $verify_err) = $source->psql('lab', "SET ROLE chemist; SELECT * FROM sunsync_verify($gone)");
(undef, undef, my $push_err) = $source->psql('lab', "SET ROLE chemist; SELECT sunsync_push($gone, wait => true)");
my ($run_error) = $push_err =~ /failed: ([^\n]+)/;
ok($run_error, "the run fails: $run_error");
my ($message, $detail) = $verify_err =~ /ERROR:  ([^\n]+)\nDETAIL:  ([^\n]+)/;
is("$message ($detail)", $run_error, 'verify fails with the error of the run');
like($verify_err, qr/HINT:  Check that the target server is running/, 'and its hint');
unlike($verify_err . $push_err, qr/Tgt-S3cret/, 'neither shows the password');

# A target older than PostgreSQL 12 (a listener that logs the client in
# and says server_version 11.22): refused right after login (without the
# check the run would wait for the listener's answer to its statements),
# by a push and by verify alike.
my ($old_port, $old_server) = old_server_target('11.22');
my $old = as_chemist("SELECT sunsync_create_config('Zürich'::text, "
	  . "'postgresql://tenant:Tgt-S3cret\@127.0.0.1:$old_port/tenant')");
(undef, undef, $push_err) = $source->psql('lab', "SET ROLE chemist; SELECT sunsync_push($old, wait => true)");
like($push_err, qr/failed: target 127\.0\.0\.1:\d+ runs PostgreSQL 11\.22, which sunsync does not support/,
	'a push to a PostgreSQL 11 target fails, naming its version');
is($source->safe_psql('lab', "SELECT status || ' ' || (last_error LIKE '%PostgreSQL 11.22%') FROM sunsync_configs WHERE id = $old"),
	'FAILED true', 'the configuration shows the error');
(undef, undef, $verify_err) = $source->psql('lab', "SET ROLE chemist; SELECT * FROM sunsync_verify($old)");
like($verify_err, qr/ERROR:  target [^\n]+ runs PostgreSQL 11\.22, which sunsync does not support\n/,
	'verify refuses it too');
like($verify_err, qr/DETAIL:  sunsync needs PostgreSQL 12 or later on the target\./, 'and says what it needs');
unlike($verify_err . $push_err, qr/Tgt-S3cret/, 'neither shows the password the listener was sent');
$source->safe_psql('lab', "SELECT sunsync_delete_config($old)");
kill 'TERM', $old_server;
waitpid $old_server, 0;

# On the target, verify locks the copy's tables all at once before its
# snapshot, as pg_dump does: behind a session (a full sync's TRUNCATE, say)
# that holds one of them, it waits there, not table by table while holding
# the others, and then compares what that session left.
my $holder = $target->background_psql('tenant', on_error_stop => 1);
$holder->query_safe('BEGIN; LOCK TABLE public.readings IN ACCESS EXCLUSIVE MODE');
my $waiting = $source->background_psql('lab', on_error_stop => 0);
$waiting->query_until(qr/started/, "\\echo started\nSET ROLE chemist;\n"
	  . "SELECT string_agg(table_name || ':' || ok, ' ' ORDER BY table_name) FROM sunsync_verify($utf8);\n");
ok($target->poll_query_until('tenant', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE application_name = 'sunsync' AND wait_event_type = 'Lock' AND query LIKE '%LOCK TABLE%'}),
	'verify waits for a locked target table in its LOCK TABLE, before its snapshot');
$holder->query_safe('COMMIT');
$holder->quit;
$waiting->quit;
like($waiting->{stdout}, qr/public.labels:true public.readings:true public.samples:true public.sites:true/,
	'then compares, every table ok');

# A column of another type on the target (runs fail on it): verify says so.
$target->safe_psql('tenant_latin1', 'ALTER TABLE public.readings ALTER COLUMN flag TYPE text');
my (undef, undef, $mismatch) = $source->psql('lab', "SET ROLE chemist; SELECT count(*) FROM sunsync_verify($latin1)");
like($mismatch, qr/NOTICE:  schema mismatch: table public.readings column "flag" is text on the target but boolean on the source; runs of configuration $latin1 fail/,
	'verify names a column whose type differs on the target');
$target->safe_psql('tenant_latin1', 'ALTER TABLE public.readings ALTER COLUMN flag TYPE boolean USING flag::boolean');
my (undef, undef, $matched) = $source->psql('lab', "SET ROLE chemist; SELECT count(*) FROM sunsync_verify($latin1)");
unlike($matched, qr/schema mismatch/, 'and says nothing once it matches again');

# A column dropped on the target: the next run is a full one, which verify
# says; the column's values count as differing where they are not NULL.
is(as_chemist("SELECT sunsync_push($latin1, wait => true)"), 'COMPLETED', '(the copy is current)');
$target->safe_psql('tenant_latin1', 'ALTER TABLE public.readings DROP COLUMN took');
my (undef, $lacking_out, $lacking) = $source->psql('lab',
	"SET ROLE chemist; SELECT table_name, differing FROM sunsync_verify($latin1) WHERE NOT ok");
like($lacking, qr/NOTICE:  the next run of configuration $latin1 is a full sync: table public.readings lacks column "took" on the target; until then its rows count as missing or differing/,
	'verify says what the target lacks, and that the next run is a full one');
my $lost = $source->safe_psql('lab', q{SELECT count(*) FROM readings r JOIN samples s ON s.id = r.sample_id
	WHERE s.site = 'Zürich' AND r.took IS NOT NULL});
is($lacking_out, "public.readings|$lost", "the $lost rows whose value is lost differ");
is(as_chemist("SELECT sunsync_push($latin1, wait => true)"), 'COMPLETED', 'a push repairs it');
is(as_chemist("SELECT bool_and(ok) FROM sunsync_verify($latin1)"), 't', 'and the copy verifies ok again');

# A standby may not have replayed what the target already has: verify
# refuses to run there.
$source->backup('vf_base');
my $standby = PostgreSQL::Test::Cluster->new('vf_standby');
$standby->init_from_backup($source, 'vf_base', has_streaming => 1);
chmod 0600, $standby->data_dir . '/sunsync.key';
$standby->start;
$source->wait_for_catchup($standby);
my (undef, undef, $standby_err) = $standby->psql('lab', "SELECT * FROM sunsync_verify($utf8)");
like($standby_err, qr/ERROR:  sunsync_verify cannot run during recovery/, 'verify refuses to run on a standby');
like($standby_err, qr/HINT:  Verify on the primary/, 'and says where to run it');
$standby->stop;

# A target that accepts and never answers: verify waits within its
# timeouts and a cancel ends it at once.
$source->safe_psql('lab', "ALTER SYSTEM SET sunsync.connect_timeout = '60s'; SELECT pg_reload_conf()");
my ($hang_port, $hanger) = hanging_target();
my $hang = as_chemist("SELECT sunsync_create_config('Zürich'::text, "
	  . "'postgresql://tenant:Tgt-S3cret\@127.0.0.1:$hang_port/tenant')");
my $bg = $source->background_psql('lab', on_error_stop => 0);
$bg->query_until(qr/started/, "\\echo started\nSET ROLE chemist;\nSELECT * FROM sunsync_verify($hang);\n");
ok($source->poll_query_until('lab', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE query LIKE 'SELECT * FROM sunsync_verify%' AND state = 'active' AND wait_event_type = 'Extension'}),
	'verify waits for the hanging target');
my $t0 = time;
$source->safe_psql('lab', q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity
	WHERE query LIKE 'SELECT * FROM sunsync_verify%' AND state = 'active'});
ok($source->poll_query_until('lab', q{SELECT count(*) = 0 FROM pg_stat_activity
	WHERE query LIKE 'SELECT * FROM sunsync_verify%' AND state = 'active'}), 'a cancel ends it');
cmp_ok(time - $t0, '<', 10, 'within seconds, not the 60 s connect timeout');
$bg->quit;
like($bg->{stderr}, qr/canceling statement due to user request/, 'as a cancelled statement');
kill 'TERM', $hanger;
waitpid $hanger, 0;
done_testing();
