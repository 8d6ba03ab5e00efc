# Do no harm to the source database: DDL by a plain migration role works
# with sunsync installed; dropping what a path crosses unregisters what can
# no longer reach the root (and a run whose path is broken fails cleanly
# instead of crashing the server); a run locks what it reads like pg_dump,
# so a TRUNCATE cannot make a table look empty; owner_expr is planned as
# its author, never as the worker.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Test::More;

my $source = new_source('s_source', 'sunsync.lock_timeout = 2s');
my $target = new_target('s_target');
target_login($target, 'tenant', 'Tgt-S3cret', 'tenant');
my $started = $source->safe_psql('app', 'SELECT pg_postmaster_start_time()');

# The issue's repro: a migration role that is not a superuser.
app_role($source, 'app', 'migrator');
my ($rc, $out, $err) = $source->psql('app', q{
	SET ROLE migrator;
	CREATE TABLE m1 (id int PRIMARY KEY, y int);
	ALTER TABLE m1 DROP COLUMN y;
	DROP TABLE m1;
}, on_error_stop => 1);
is($rc, 0, 'a plain role drops columns and tables where sunsync is installed') or diag $err;

# owner_expr calls an immutable function that refuses to run as a superuser:
# planning folds it, so a worker that planned it with its own rights fails.
$source->safe_psql('app', q{
	SET ROLE migrator;
	CREATE FUNCTION public.probe(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
	BEGIN
	    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
	        RAISE EXCEPTION 'owner_expr ran as superuser %', current_user;
	    END IF;
	    RETURN $1;
	END $$;
	CREATE TABLE fam (id int PRIMARY KEY);
	CREATE TABLE kid (id int PRIMARY KEY, fam_id int NOT NULL REFERENCES fam);
	CREATE TABLE toy (id int PRIMARY KEY, kid_id int NOT NULL REFERENCES kid, name text);
	CREATE TABLE pet (id int PRIMARY KEY, fam_id int NOT NULL REFERENCES fam, name text);
	INSERT INTO fam VALUES (1), (2);
	INSERT INTO kid VALUES (10, 1), (20, 2);
	INSERT INTO toy SELECT i, CASE WHEN i % 2 = 0 THEN 10 ELSE 20 END, 'toy ' || i FROM generate_series(1, 1000) i;
	INSERT INTO pet SELECT i, 1 + i % 2, 'pet ' || i FROM generate_series(1, 20000) i;
	SELECT sunsync_set_root('fam', 'id + public.probe(0)');
	SELECT sunsync_add_table('toy');
	SELECT sunsync_add_table('pet');
});
my $url = target_url($target, 'tenant', 'Tgt-S3cret', 'tenant');
my $id = $source->safe_psql('app', "SELECT sunsync_create_config(1, '$url')");
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED',
	'owner_expr is planned with its author\'s rights, not the worker\'s');
is($target->safe_psql('tenant', 'SELECT count(*) FROM public.toy'), '500', 'toys crossed kid');

# A run's path crosses a table that is gone while the drop trigger is off
# (as after a restore without event triggers): the run fails cleanly.
$source->safe_psql('app', 'ALTER EVENT TRIGGER sunsync_sql_drop DISABLE');
$source->safe_psql('app', 'SET ROLE migrator; DROP TABLE kid CASCADE');
($rc, $out, $err) = $source->psql('app', "SELECT sunsync_push($id, wait => true)");
like($err, qr/the path of table public\.toy crosses a table that was dropped/,
	'a path through a dropped table fails the run with a clear error');
is($source->safe_psql('app', 'SELECT pg_postmaster_start_time()'), $started, 'and the server did not restart');

# With the trigger on, the drop unregisters what can no longer reach the root.
$source->safe_psql('app', q{
	ALTER EVENT TRIGGER sunsync_sql_drop ENABLE;
	SET ROLE migrator;
	CREATE TABLE kid (id int PRIMARY KEY, fam_id int NOT NULL REFERENCES fam);
	INSERT INTO kid VALUES (10, 1), (20, 2);
	ALTER TABLE toy ADD CONSTRAINT toy_kid_id_fkey FOREIGN KEY (kid_id) REFERENCES kid;
	SELECT sunsync_add_table('toy');
});
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'registered again, it syncs');
($rc, $out, $err) = $source->psql('app', 'SET ROLE migrator; DROP TABLE kid CASCADE');
is($rc, 0, 'the migration role drops the middle of a path');
like($err, qr/NOTICE:  sunsync: table public\.toy is no longer replicated: its path to the root crossed .*table kid, which was dropped/,
	'with a NOTICE naming the table that is no longer replicated');
is($source->safe_psql('app', 'SELECT string_agg(table_name::text, \',\' ORDER BY position) FROM sunsync_tables'),
	'fam,pet', 'sunsync_tables no longer shows the stale path');
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'and the next push works');

# Locks like pg_dump: while a run holds its snapshot (here, waiting on the
# target), a TRUNCATE of a table it reads waits for it; a TRUNCATE in
# progress when a run starts makes it wait at most sunsync.lock_timeout.
my $hold = $target->background_psql('tenant');
$hold->query_safe('BEGIN; LOCK TABLE public.pet IN ACCESS EXCLUSIVE MODE;');
$source->safe_psql('app', "SELECT sunsync_push($id, full => true)");
ok($source->poll_query_until('app', "SELECT phase = 'preparing target' FROM sunsync_progress WHERE config_id = $id"),
	'a run has its snapshot and waits on the target');
($rc, $out, $err) = $source->psql('app', "SET lock_timeout = '500ms'; TRUNCATE pet");
like($err, qr/canceling statement due to lock timeout/, 'a TRUNCATE of a table the run reads waits for the run');
$hold->query_safe('COMMIT');
ok(poll_status($source, 'app', $id, 'COMPLETED'), 'the run completes');
is($target->safe_psql('tenant', 'SELECT count(*) FROM public.pet'), '10000', 'with every row of the table');

$hold = $source->background_psql('app');
$hold->query_safe('BEGIN; TRUNCATE pet;');
($rc, $out, $err) = $source->psql('app', "SELECT sunsync_push($id, wait => true)");
like($err, qr/could not lock table public\.pet for reading within sunsync\.lock_timeout \(2000ms\)/,
	'a run that cannot lock a table in time fails and says why');
$hold->query_safe('ROLLBACK');
$hold->quit;
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'and succeeds once the lock is gone');
is($target->safe_psql('tenant', 'SELECT count(*) FROM public.pet'), '10000', 'with every row');

# A root column that owner_expr uses cannot be dropped; others can.
($rc, $out, $err) = $source->psql('app', q{SET ROLE migrator; ALTER TABLE fam ADD COLUMN note text, ADD COLUMN id2 int;
	ALTER TABLE fam DROP COLUMN note});
is($rc, 0, 'another root column can be dropped');
($rc, $out, $err) = $source->psql('app', 'SET ROLE migrator; ALTER TABLE fam DROP COLUMN id CASCADE');
like($err, qr/cannot drop column public\.fam\.id: sunsync's owner_expr of root table public\.fam uses it/,
	'dropping the column owner_expr uses fails the DDL');

# Renames: what the DBA named follows a renamed column, constraint or table,
# so an excluded column never starts flowing and no path silently breaks.
$source->safe_psql('app', q{
	SET ROLE migrator;
	CREATE TABLE note (id int PRIMARY KEY, fam_ref int, body text, secret text);
	INSERT INTO note SELECT i, 1 + i % 2, 'note ' || i, 'hush' FROM generate_series(1, 10) i;
	SELECT sunsync_add_table('note', via => 'fam_ref -> fam(id)', exclude_columns => '{secret}');
	SELECT sunsync_add_table('pet', exclude_columns => '{name}');
});
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'declared link and exclusions sync');
($rc, $out, $err) = $source->psql('app', q{
	SET ROLE migrator;
	ALTER TABLE pet RENAME COLUMN name TO nickname;
	ALTER TABLE note RENAME COLUMN secret TO secret_v2;
	ALTER TABLE note RENAME COLUMN fam_ref TO family_ref;
	ALTER TABLE fam RENAME COLUMN id TO fam_no;
	ALTER TABLE pet RENAME CONSTRAINT pet_fam_id_fkey TO pet_family_fkey;
	ALTER TABLE fam RENAME TO family;
}, on_error_stop => 1);
is($rc, 0, 'a plain role renames columns, a constraint and the root table') or diag $err;
is($source->safe_psql('app', q{SELECT string_agg(table_name::text || ' ' || coalesce(via, '-') || ' ' ||
	exclude_columns::text, '; ' ORDER BY table_name::text) FROM sunsync.tables}),
	'family - {}; note family_ref -> public.family(fam_no) {secret_v2}; pet - {nickname}',
	'excluded columns and the declared link follow the renames');
is($source->safe_psql('app', 'SELECT owner_expr FROM sunsync.root'), '(fam_no + public.probe(0))',
	'owner_expr follows the renamed root column, schema-qualified');
is($source->safe_psql('app', q{SELECT path FROM sunsync_tables WHERE table_name = 'note'::regclass}),
	'public.note.family_ref -> public.family.fam_no', 'the path shows the new names');
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'and the next push works');
is($target->safe_psql('tenant', q{SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
	WHERE attrelid IN ('public.pet'::regclass, 'public.note'::regclass) AND attnum > 0 AND NOT attisdropped
	  AND attname IN ('nickname', 'secret', 'secret_v2')}),
	'', 'no renamed excluded column reached the target');
# (pet.name was on the target before it was excluded; nothing is dropped there)
is($target->safe_psql('tenant', 'SELECT count(name) FROM public.pet'), '0', 'and no value of one');

# ALTER TABLE ... SET SCHEMA: the declared link names the table's new schema.
$source->safe_psql('app', 'CREATE SCHEMA moved AUTHORIZATION migrator');
($rc, $out, $err) = $source->psql('app', 'SET ROLE migrator; ALTER TABLE family SET SCHEMA moved', on_error_stop => 1);
is($rc, 0, 'the root table moves to another schema') or diag $err;
is($source->safe_psql('app', q{SELECT via FROM sunsync.tables WHERE table_name = 'note'::regclass}),
	'family_ref -> moved.family(fam_no)', 'and the declared link follows it');
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'a push after the move');

# A push that waits never hangs on the caller's own transaction: the worker
# cannot see a configuration created or changed in it, nor read a table it
# holds ACCESS EXCLUSIVE on; both fail at once and say why.
my $t0 = time;
($rc, $out, $err) = $source->psql('app', "BEGIN; SELECT sunsync_update_config($id, continuous => false); "
	  . "SELECT sunsync_push($id, wait => true); ROLLBACK");
like($err, qr/cannot wait for a push of configuration $id in the transaction that created or changed it/,
	'a push that waits for a config changed in the same transaction fails at once');
($rc, $out, $err) = $source->psql('app', "BEGIN; SELECT sunsync_create_config(2, '$url') AS new_id \\gset\n"
	  . "SELECT sunsync_push(:new_id, wait => true); ROLLBACK");
like($err, qr/cannot wait for a push of configuration \d+ in the transaction that created or changed it/,
	'so does a push of a config created in the same transaction');
($rc, $out, $err) = $source->psql('app', "BEGIN; LOCK TABLE pet IN ACCESS EXCLUSIVE MODE; "
	  . "SELECT sunsync_push($id, wait => true); ROLLBACK");
like($err, qr/cannot wait for a push while this transaction holds an ACCESS EXCLUSIVE lock on table public\.pet/,
	'and a push that waits while its caller holds a lock the run needs');
cmp_ok(time - $t0, '<', 10, 'none of them waited');
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'a push after COMMIT works');

# owner_expr runs as the role that set the root; once that role is gone, a
# run says so instead of running it as someone else.
$source->safe_psql('app', q{
	CREATE ROLE setter;
	GRANT USAGE, CREATE ON SCHEMA moved TO setter;
	GRANT EXECUTE ON FUNCTION sunsync_set_root(regclass, text) TO setter;
	ALTER TABLE moved.family OWNER TO setter;
	SET ROLE setter;
	SELECT sunsync_set_root('moved.family', 'fam_no + public.probe(0)');
	RESET ROLE;
	REASSIGN OWNED BY setter TO migrator;
	DROP OWNED BY setter;
	DROP ROLE setter;
});
# writers are not stopped by it: the capture trigger cannot run owner_expr
# as its author any more, warns, and makes every configuration's next run a
# full one
($rc, $out, $err) = $source->psql('app', 'UPDATE moved.family SET fam_no = fam_no');
is($rc, 0, 'writes to the replicated tables go on while the root\'s author is gone');
like($err, qr/WARNING:  sunsync cannot capture the changes of family: .*\n.*Every configuration of this database gets a full sync next/,
	'with a warning that says what happens');
($rc, $out, $err) = $source->psql('app', "SELECT sunsync_push($id, wait => true)");
like($err, qr/the role that set the root \(OID \d+\) no longer exists/, 'a root author that was dropped fails the run, saying so');
$source->safe_psql('app', q{SET ROLE migrator; SELECT sunsync_set_root('moved.family', 'fam_no + public.probe(0)')});
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'and a new root author fixes it');
is($source->safe_psql('app', "SELECT kind FROM sunsync_history WHERE config_id = $id ORDER BY run_id DESC LIMIT 1"), 'full',
	'with a full sync');

unlike(slurp_file($source->logfile), qr/terminate called|S3cret|server process .* was terminated by signal/,
	'no crash and no password in the log');
done_testing();
