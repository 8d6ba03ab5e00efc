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
-- column must never start flowing because someone renamed it).
CREATE FUNCTION sunsync.on_ddl_command_end() RETURNS event_trigger
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sunsync_on_ddl_command_end';
REVOKE ALL ON FUNCTION sunsync.on_ddl_command_end() FROM PUBLIC;
CREATE EVENT TRIGGER sunsync_ddl_command_end ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER SCHEMA')
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

-- 0.2 stores owner_expr and declared vias schema-qualified (no later
-- search_path changes what they mean) and builds the paths itself.
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
