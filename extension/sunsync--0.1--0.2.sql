-- sunsync 0.1 -> 0.2
\echo Use "ALTER EXTENSION sunsync UPDATE TO '0.2'" to load this file. \quit

-- The 0.1 drop trigger ran as the caller (a migration role got "permission
-- denied for schema sunsync" on every DROP) and forgot only dropped tables.
DROP EVENT TRIGGER sunsync_forget_dropped_tables;
DROP FUNCTION sunsync.forget_dropped_tables();
-- Keeps the scope true to the schema: a dropped root forgets everything, a
-- dropped registered table is forgotten (as with a publication), a table
-- whose path crossed a dropped table, column or foreign key is unregistered
-- with a NOTICE, and dropping a root column that owner_expr uses fails.
-- Event triggers run as whoever issued the DDL: SECURITY DEFINER, so a
-- migration role that may not read schema sunsync can still drop its own
-- tables and columns.
CREATE FUNCTION sunsync.on_sql_drop() RETURNS event_trigger
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sunsync_on_sql_drop';
REVOKE ALL ON FUNCTION sunsync.on_sql_drop() FROM PUBLIC;
CREATE EVENT TRIGGER sunsync_sql_drop ON sql_drop
    EXECUTE FUNCTION sunsync.on_sql_drop();

-- Renames: excluded columns, owner_expr and via follow a renamed column,
-- constraint, table or schema, and the paths are derived again (an excluded
-- column must never start flowing because someone renamed it).  A new
-- partition of a table in scope gets the capture triggers; ATTACH / DETACH
-- PARTITION, ENABLE / DISABLE TRIGGER and ALTER COLUMN ... TYPE on one make
-- the next runs full ones.
CREATE FUNCTION sunsync.on_ddl_command_end() RETURNS event_trigger
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sunsync_on_ddl_command_end';
REVOKE ALL ON FUNCTION sunsync.on_ddl_command_end() FROM PUBLIC;
CREATE EVENT TRIGGER sunsync_ddl_command_end ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER SCHEMA', 'CREATE TABLE')
    EXECUTE FUNCTION sunsync.on_ddl_command_end();

-- This database's identity (see sunsync--0.2.sql); existing configurations
-- and scope belong to it.
CREATE TABLE sunsync.source (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    id         uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid()
);
INSERT INTO sunsync.source DEFAULT VALUES;
REVOKE ALL ON sunsync.source FROM PUBLIC;
ALTER TABLE sunsync.root ADD COLUMN source_id uuid;
ALTER TABLE sunsync.configs ADD COLUMN source_id uuid;
UPDATE sunsync.root SET source_id = (SELECT id FROM sunsync.source);
UPDATE sunsync.configs SET source_id = (SELECT id FROM sunsync.source);

-- Change capture (see sunsync--0.2.sql for what each object is for).
ALTER TABLE sunsync.root ADD COLUMN scope_version bigint NOT NULL DEFAULT 1;
ALTER TABLE sunsync.configs ADD COLUMN owner_hash integer,
    ADD COLUMN applied_snapshot pg_catalog.pg_snapshot,
    ADD COLUMN settled_snapshot pg_catalog.pg_snapshot,
    ADD COLUMN next_attempt_at timestamptz,
    ADD COLUMN lost_horizon xid8;
CREATE INDEX ON sunsync.configs (owner_hash);
CREATE TABLE sunsync.queue_0 (
    txid         xid8 NOT NULL,
    owner_hash   integer NOT NULL,
    rel          oid NOT NULL,
    kind         "char" NOT NULL,
    nkeys        integer NOT NULL,
    keys         bytea NOT NULL,
    recorded_at  timestamptz NOT NULL
) WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off);
CREATE INDEX ON sunsync.queue_0 (owner_hash, txid);
CREATE TABLE sunsync.queue_1 (LIKE sunsync.queue_0 INCLUDING ALL)
    WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off);
CREATE TABLE sunsync.queue_2 (LIKE sunsync.queue_0 INCLUDING ALL)
    WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off);
CREATE TABLE sunsync.queue_tables (
    n           integer PRIMARY KEY CHECK (n BETWEEN 0 AND 2),
    is_current  boolean NOT NULL,
    since       timestamptz,
    horizon     xid8
);
INSERT INTO sunsync.queue_tables VALUES (0, true, now(), NULL), (1, false, NULL, NULL), (2, false, NULL, NULL);
CREATE TABLE sunsync.queue_floor (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    floor      xid8 NOT NULL DEFAULT '0'
);
INSERT INTO sunsync.queue_floor DEFAULT VALUES;
REVOKE ALL ON sunsync.queue_0, sunsync.queue_1, sunsync.queue_2, sunsync.queue_tables, sunsync.queue_floor
    FROM PUBLIC;

CREATE FUNCTION sunsync.capture() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'sunsync_capture';
REVOKE ALL ON FUNCTION sunsync.capture() FROM PUBLIC;

CREATE FUNCTION sunsync.pending(config_id bigint, OUT changes bigint, OUT oldest timestamptz)
RETURNS record LANGUAGE C STRICT STABLE AS 'MODULE_PATHNAME', 'sunsync_pending';

CREATE OR REPLACE VIEW sunsync_configs AS
    SELECT c.id, c.owner, c.target_url_masked AS target_url, c.continuous,
           CASE WHEN a.config_id IS NOT NULL THEN 'IN_PROGRESS' ELSE c.status END AS status,
           c.last_sync_at, c.last_error, c.created_at, c.updated_at,
           p.changes AS pending_changes,
           pg_catalog.clock_timestamp() - p.oldest AS lag,
           c.next_attempt_at
      FROM sunsync.configs c
      LEFT JOIN sunsync.active_runs() a ON a.config_id = c.id
      LEFT JOIN LATERAL sunsync.pending(c.id) p ON true
     ORDER BY c.id;

-- sunsync_verify is new: granted explicitly, as every API function.
CREATE FUNCTION sunsync_verify(config_id bigint)
RETURNS TABLE(table_name text, source_rows bigint, target_rows bigint, missing bigint, extra bigint,
              differing bigint, ok boolean, pending bigint)
LANGUAGE C AS 'MODULE_PATHNAME', 'sunsync_verify';
COMMENT ON FUNCTION sunsync_verify(bigint) IS
    'Compare the target''s copy with the owner''s rows of every replicated table, by key and row digest; changes nothing';
REVOKE ALL ON FUNCTION sunsync_verify(bigint) FROM PUBLIC;

-- sunsync_push gains full => ...: a new signature, with the old one's grants.
CREATE FUNCTION sunsync_push(config_id bigint, wait boolean DEFAULT false, full boolean DEFAULT false)
RETURNS text LANGUAGE C AS 'MODULE_PATHNAME', 'sunsync_push';
COMMENT ON FUNCTION sunsync_push(bigint, boolean, boolean) IS
    'Sync a configuration now; with wait, return COMPLETED or raise the run''s error; with full, copy everything';
REVOKE ALL ON FUNCTION sunsync_push(bigint, boolean, boolean) FROM PUBLIC;
DO $grants$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END AS grantee
               FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
               LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
              WHERE p.oid = 'sunsync_push(bigint, boolean)'::pg_catalog.regprocedure
                AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION sunsync_push(bigint, boolean, boolean) TO %s', g.grantee);
    END LOOP;
END
$grants$;
DROP FUNCTION sunsync_push(bigint, boolean);

-- 0.2 stores owner_expr and declared vias schema-qualified (no later
-- search_path changes what they mean) and builds the paths itself; the
-- scope's tables get their capture triggers, existing configurations
-- their owners' hashes.
CREATE FUNCTION sunsync.canonicalize_scope() RETURNS void
LANGUAGE C AS 'MODULE_PATHNAME', 'sunsync_canonicalize_scope';
SELECT sunsync.canonicalize_scope();
DROP FUNCTION sunsync.canonicalize_scope();

-- An untyped literal cannot be anyelement: sunsync_create_config('5f0c…', …)
-- works as written through this overload (the owner is converted to the
-- type of owner_expr either way).
CREATE FUNCTION sunsync_create_config(owner text, target_url text,
                                      continuous boolean DEFAULT false,
                                      target_schema text DEFAULT NULL)
RETURNS bigint LANGUAGE C AS 'MODULE_PATHNAME', 'sunsync_create_config';
COMMENT ON FUNCTION sunsync_create_config(text, text, boolean, text) IS
    'Create a configuration that sends one owner''s rows to a target database';
REVOKE ALL ON FUNCTION sunsync_create_config(text, text, boolean, text) FROM PUBLIC;

-- The runs a restart or a killed worker left IN_PROGRESS are found through
-- this, not by reading every run there ever was (a continuous config adds
-- one row per run).
CREATE INDEX history_in_progress ON sunsync.history (config_id) WHERE status = 'IN_PROGRESS';
