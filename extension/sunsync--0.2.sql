-- sunsync 0.2: scope, change capture, configurations, push, run history and progress.
\echo Use "CREATE EXTENSION sunsync" to load this file. \quit

-- Internal state lives in schema sunsync, readable by no one but its owner.
CREATE SCHEMA sunsync;
REVOKE ALL ON SCHEMA sunsync FROM PUBLIC;

-- The root table and the expression that yields a row's owner (one row).
CREATE TABLE sunsync.root (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    root_table  regclass NOT NULL,
    owner_expr  text NOT NULL,
    set_by      regrole NOT NULL,
    set_at      timestamptz NOT NULL DEFAULT now(),
    source_id   uuid,    -- sunsync.source.id where the OIDs of the paths hold
    -- bumped by every change of scope (a table added, removed or re-added,
    -- a new owner_expr, a rename, capture triggers toggled): a target whose
    -- record names another version gets a full sync
    scope_version  bigint NOT NULL DEFAULT 1
);

-- Registered tables.  table_name, via and exclude_columns are what the DBA
-- said; path and position are derived from them and the foreign keys.
CREATE TABLE sunsync.tables (
    table_name       regclass PRIMARY KEY,
    via              text,
    exclude_columns  text[] NOT NULL DEFAULT '{}',
    path             jsonb NOT NULL,
    path_text        text NOT NULL,
    position         integer NOT NULL,
    registered_by    regrole NOT NULL,
    registered_at    timestamptz NOT NULL DEFAULT now()
);

-- Configurations.  The target URL is kept sealed (AES-256-GCM, key in
-- sunsync.key_file) and, for display, with its password masked.
CREATE TABLE sunsync.configs (
    id                    bigserial PRIMARY KEY,
    owner                 text NOT NULL,
    target_url_masked     text NOT NULL,
    target_url_sealed     bytea NOT NULL,
    continuous            boolean NOT NULL DEFAULT false,
    target_schema         text,
    status                text NOT NULL DEFAULT 'IDLE'
                          CHECK (status IN ('IDLE', 'IN_PROGRESS', 'COMPLETED', 'FAILED')),
    last_sync_at          timestamptz,
    last_error            text,
    created_by            regrole NOT NULL,
    created_by_superuser  boolean NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    source_id             uuid,     -- sunsync.source.id of the database that may push it
    -- the owner's hash as the capture triggers compute it (see sunsync.capture)
    owner_hash            integer,
    -- this database's copy of the target's own record of how far it got
    -- (the target's is the one that counts): changes of transactions
    -- visible in applied_snapshot are on the target; moves visible in
    -- settled_snapshot were applied after every writer that could have
    -- seen the old owner had finished
    applied_snapshot      pg_catalog.pg_snapshot,
    settled_snapshot      pg_catalog.pg_snapshot,
    next_attempt_at       timestamptz,
    -- changes it had not shipped were dropped (sunsync.queue_retention),
    -- all written by transactions below this one: its runs are full ones
    -- until one whose snapshot sees every transaction below it
    lost_horizon          xid8
);
CREATE INDEX ON sunsync.configs (owner_hash);

-- One row per run.
CREATE TABLE sunsync.history (
    run_id         bigserial PRIMARY KEY,
    config_id      bigint NOT NULL REFERENCES sunsync.configs(id) ON DELETE CASCADE,
    kind           text NOT NULL CHECK (kind IN ('full', 'incremental')),
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    status         text NOT NULL CHECK (status IN ('IN_PROGRESS', 'COMPLETED', 'FAILED')),
    rows_upserted  bigint NOT NULL DEFAULT 0,
    rows_deleted   bigint NOT NULL DEFAULT 0,
    error          text
);
CREATE INDEX ON sunsync.history (config_id, run_id);
-- The runs a restart or a killed worker left IN_PROGRESS are found through
-- this, not by reading every run there ever was (a continuous config adds
-- one row per run).
CREATE INDEX history_in_progress ON sunsync.history (config_id) WHERE status = 'IN_PROGRESS';

-- This database's identity.  Not dumped: pg_restore gives the restored copy
-- a new one, while pg_upgrade and physical copies (a promoted standby) keep
-- it.  A configuration pushes only from the database it was made in (or
-- last confirmed in with sunsync_update_config(id, target_url => ...)), so
-- that a restored copy never pushes into the original's targets by itself.
CREATE TABLE sunsync.source (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    id         uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid()
);
INSERT INTO sunsync.source DEFAULT VALUES;

-- The change queue (PgQ's design): capture triggers append one row per
-- statement and owner, naming the changed rows by key, never their values;
-- a run takes the changes of the transactions that its snapshot sees and
-- the target's recorded snapshot does not.  Three tables take turns: the
-- current one is written, a retired one is emptied with TRUNCATE once every
-- configuration has shipped what it holds (or it is older than
-- sunsync.queue_retention), so the queue never needs VACUUM.
CREATE TABLE sunsync.queue_0 (
    txid         xid8 NOT NULL,          -- the writing (top-level) transaction
    owner_hash   integer NOT NULL,       -- 0: every configuration looks
    rel          oid NOT NULL,           -- the registered (or crossed) table
    kind         "char" NOT NULL,        -- see src/capture/queue_writer.hpp
    nkeys        integer NOT NULL,
    keys         bytea NOT NULL,         -- each key as COPY BINARY fields
    recorded_at  timestamptz NOT NULL
) WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off);
CREATE INDEX ON sunsync.queue_0 (owner_hash, txid);
CREATE TABLE sunsync.queue_1 (LIKE sunsync.queue_0 INCLUDING ALL)
    WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off);
CREATE TABLE sunsync.queue_2 (LIKE sunsync.queue_0 INCLUDING ALL)
    WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off);

-- Which queue table is written, and what the retired ones still hold.
CREATE TABLE sunsync.queue_tables (
    n           integer PRIMARY KEY CHECK (n BETWEEN 0 AND 2),
    is_current  boolean NOT NULL,
    since       timestamptz,    -- current since, or retired at; NULL: empty
    horizon     xid8            -- retired: every writer of it has a lower xid
);
INSERT INTO sunsync.queue_tables VALUES (0, true, now(), NULL), (1, false, NULL, NULL), (2, false, NULL, NULL);
-- Changes of transactions below the floor may have been emptied away: a
-- target whose record is older, and is not the one this database knows,
-- gets a full sync.
CREATE TABLE sunsync.queue_floor (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    floor      xid8 NOT NULL DEFAULT '0'
);
INSERT INTO sunsync.queue_floor DEFAULT VALUES;

REVOKE ALL ON ALL TABLES IN SCHEMA sunsync FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA sunsync FROM PUBLIC;

-- pg_dump keeps what the DBA configured.
SELECT pg_catalog.pg_extension_config_dump('sunsync.root', '');
SELECT pg_catalog.pg_extension_config_dump('sunsync.tables', '');
SELECT pg_catalog.pg_extension_config_dump('sunsync.configs', '');
SELECT pg_catalog.pg_extension_config_dump('sunsync.configs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('sunsync.history', '');
SELECT pg_catalog.pg_extension_config_dump('sunsync.history_run_id_seq', '');

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

-- Change capture: statement-level AFTER triggers (with transition tables)
-- named sunsync_capture_*, attached by the scope functions to every
-- registered table and every table a path crosses, and removed with them
-- (or with the extension: they depend on this function automatically).
-- Not SECURITY DEFINER: it parses no SQL and needs no privilege of the
-- writer; it runs owner_expr as the role that set the root and writes the
-- queue at the table-AM level, and pins search_path around the catalog
-- reads of its cold path (a SET clause would cost every statement a GUC
-- nest level).
CREATE FUNCTION sunsync.capture() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'sunsync_capture';
REVOKE ALL ON FUNCTION sunsync.capture() FROM PUBLIC;

-- Scope
CREATE FUNCTION sunsync_set_root(root regclass, owner_expr text)
RETURNS void LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'sunsync_set_root';
COMMENT ON FUNCTION sunsync_set_root(regclass, text) IS
    'Set the root table and the expression over its columns that yields a row''s owner';

CREATE FUNCTION sunsync_add_table(tbl regclass, via text DEFAULT NULL,
                                  exclude_columns text[] DEFAULT '{}')
RETURNS void LANGUAGE C AS 'MODULE_PATHNAME', 'sunsync_add_table';
COMMENT ON FUNCTION sunsync_add_table(regclass, text, text[]) IS
    'Replicate a table; via chooses its first hop to the root (constraint name, or ''col -> table(col)'')';

CREATE FUNCTION sunsync_remove_table(tbl regclass)
RETURNS void LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'sunsync_remove_table';
COMMENT ON FUNCTION sunsync_remove_table(regclass) IS
    'Stop replicating a table; copies already on targets stay';

CREATE VIEW sunsync_tables AS
    SELECT table_name, path_text AS path, position
      FROM sunsync.tables
     ORDER BY position, table_name::text;
COMMENT ON VIEW sunsync_tables IS
    'Replicated tables, their path to the root, and an order with parents before children';

-- Configurations
CREATE FUNCTION sunsync_create_config(owner anyelement, target_url text,
                                      continuous boolean DEFAULT false,
                                      target_schema text DEFAULT NULL)
RETURNS bigint LANGUAGE C AS 'MODULE_PATHNAME', 'sunsync_create_config';
COMMENT ON FUNCTION sunsync_create_config(anyelement, text, boolean, text) IS
    'Create a configuration that sends one owner''s rows to a target database';

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

CREATE FUNCTION sunsync_update_config(config_id bigint, target_url text DEFAULT NULL,
                                      continuous boolean DEFAULT NULL)
RETURNS void LANGUAGE C AS 'MODULE_PATHNAME', 'sunsync_update_config';
COMMENT ON FUNCTION sunsync_update_config(bigint, text, boolean) IS
    'Change the target URL and/or the mode of a configuration; NULL keeps a field';

CREATE FUNCTION sunsync_delete_config(config_id bigint)
RETURNS void LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'sunsync_delete_config';
COMMENT ON FUNCTION sunsync_delete_config(bigint) IS
    'Remove a configuration; data on its target is left alone';

-- Runs queued or in flight in this database, from shared memory: a push is
-- visible to every session at once, before anything is committed.
CREATE FUNCTION sunsync.active_runs(OUT config_id bigint, OUT pid integer, OUT phase text,
                                    OUT table_name text, OUT tables_done integer,
                                    OUT tables_total integer, OUT rows_done bigint)
RETURNS SETOF record LANGUAGE C STRICT VOLATILE AS 'MODULE_PATHNAME', 'sunsync_active_runs';

-- Changes captured for a configuration that its target does not have yet
-- (rows, each counted once however often it changed), and when the oldest
-- of them was written.
CREATE FUNCTION sunsync.pending(config_id bigint, OUT changes bigint, OUT oldest timestamptz)
RETURNS record LANGUAGE C STRICT STABLE AS 'MODULE_PATHNAME', 'sunsync_pending';

CREATE VIEW sunsync_configs AS
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
COMMENT ON VIEW sunsync_configs IS
    'Configurations; target_url has its password replaced by ***';

CREATE FUNCTION sunsync_push(config_id bigint, wait boolean DEFAULT false, full boolean DEFAULT false)
RETURNS text LANGUAGE C AS 'MODULE_PATHNAME', 'sunsync_push';
COMMENT ON FUNCTION sunsync_push(bigint, boolean, boolean) IS
    'Sync a configuration now; with wait, return COMPLETED or raise the run''s error; with full, copy everything';

CREATE FUNCTION sunsync_verify(config_id bigint)
RETURNS TABLE(table_name text, source_rows bigint, target_rows bigint, missing bigint, extra bigint,
              differing bigint, ok boolean, pending bigint)
LANGUAGE C AS 'MODULE_PATHNAME', 'sunsync_verify';
COMMENT ON FUNCTION sunsync_verify(bigint) IS
    'Compare the target''s copy with the owner''s rows of every replicated table, by key and row digest; changes nothing';
REVOKE ALL ON FUNCTION sunsync_verify(bigint) FROM PUBLIC;

CREATE VIEW sunsync_history AS
    SELECT run_id, config_id, kind, started_at, finished_at, status,
           rows_upserted, rows_deleted, error
      FROM sunsync.history
     ORDER BY run_id;
COMMENT ON VIEW sunsync_history IS 'One row per run';

CREATE VIEW sunsync_progress AS
    SELECT config_id, pid, phase, table_name, tables_done, tables_total, rows_done
      FROM sunsync.active_runs();
COMMENT ON VIEW sunsync_progress IS 'Runs queued or in flight, live';

-- Nothing is open to PUBLIC: the DBA grants what an application role needs.
REVOKE ALL ON FUNCTION sunsync_set_root(regclass, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION sunsync_add_table(regclass, text, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION sunsync_remove_table(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION sunsync_create_config(anyelement, text, boolean, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION sunsync_update_config(bigint, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION sunsync_delete_config(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION sunsync_push(bigint, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON sunsync_tables, sunsync_configs, sunsync_history, sunsync_progress FROM PUBLIC;

-- Tell the launcher that this database now has sunsync.
CREATE FUNCTION sunsync.wake_launcher() RETURNS void
LANGUAGE C AS 'MODULE_PATHNAME', 'sunsync_wake_launcher';
REVOKE ALL ON FUNCTION sunsync.wake_launcher() FROM PUBLIC;
SELECT sunsync.wake_launcher();
