-- The public contract of DESIGN.md: names, signatures, view columns, and
-- what PUBLIC may (not) touch.
BEGIN;
CREATE EXTENSION IF NOT EXISTS sunsync;
SELECT plan(45);

SELECT has_schema('sunsync', 'internal schema sunsync exists');
SELECT has_function('public', 'sunsync_set_root', ARRAY['regclass', 'text']);
SELECT has_function('public', 'sunsync_add_table', ARRAY['regclass', 'text', 'text[]']);
SELECT has_function('public', 'sunsync_remove_table', ARRAY['regclass']);
SELECT has_function('public', 'sunsync_create_config', ARRAY['anyelement', 'text', 'boolean', 'text']);
SELECT has_function('public', 'sunsync_create_config', ARRAY['text', 'text', 'boolean', 'text']);
SELECT has_function('public', 'sunsync_update_config', ARRAY['bigint', 'text', 'boolean']);
SELECT has_function('public', 'sunsync_delete_config', ARRAY['bigint']);
SELECT function_returns('public', 'sunsync_create_config', ARRAY['anyelement', 'text', 'boolean', 'text'], 'bigint');
SELECT has_function('public', 'sunsync_push', ARRAY['bigint', 'boolean', 'boolean']);
SELECT function_returns('public', 'sunsync_push', ARRAY['bigint', 'boolean', 'boolean'], 'text');
SELECT is(pg_get_function_arguments('sunsync_push(bigint, boolean, boolean)'::regprocedure),
          'config_id bigint, wait boolean DEFAULT false, "full" boolean DEFAULT false',
          'sunsync_push takes config_id, wait and full, as DESIGN.md names them (full is a keyword, quoted when shown)');
SELECT has_function('public', 'sunsync_verify', ARRAY['bigint']);
SELECT is(pg_get_function_result('sunsync_verify(bigint)'::regprocedure),
          'TABLE(table_name text, source_rows bigint, target_rows bigint, missing bigint, extra bigint, differing bigint, ok boolean, pending bigint)',
          'sunsync_verify returns the columns of DESIGN.md, then pending');

SELECT columns_are('public', 'sunsync_tables', ARRAY['table_name', 'path', 'position'],
                   'sunsync_tables has the columns of DESIGN.md');
SELECT columns_are('public', 'sunsync_configs',
                   ARRAY['id', 'owner', 'target_url', 'continuous', 'status', 'last_sync_at',
                         'last_error', 'created_at', 'updated_at', 'pending_changes', 'lag',
                         'next_attempt_at'],
                   'sunsync_configs has the columns of DESIGN.md');
SELECT columns_are('public', 'sunsync_history',
                   ARRAY['run_id', 'config_id', 'kind', 'started_at', 'finished_at', 'status',
                         'rows_upserted', 'rows_deleted', 'error'],
                   'sunsync_history has the columns of DESIGN.md');
SELECT columns_are('public', 'sunsync_progress',
                   ARRAY['config_id', 'pid', 'phase', 'table_name', 'tables_done', 'tables_total',
                         'rows_done'],
                   'sunsync_progress has the columns of DESIGN.md');

-- PUBLIC may use nothing; a DBA grants what an application role needs.
SELECT schema_privs_are('sunsync', 'public', ARRAY[]::text[], 'PUBLIC has no access to schema sunsync');
SELECT table_privs_are('sunsync', 'root', 'public', ARRAY[]::text[]);
SELECT table_privs_are('sunsync', 'tables', 'public', ARRAY[]::text[]);
SELECT table_privs_are('sunsync', 'configs', 'public', ARRAY[]::text[]);
SELECT table_privs_are('public', 'sunsync_tables', 'public', ARRAY[]::text[]);
SELECT table_privs_are('public', 'sunsync_configs', 'public', ARRAY[]::text[]);
SELECT function_privs_are('public', 'sunsync_set_root', ARRAY['regclass', 'text'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('public', 'sunsync_add_table', ARRAY['regclass', 'text', 'text[]'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('public', 'sunsync_remove_table', ARRAY['regclass'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('public', 'sunsync_create_config', ARRAY['anyelement', 'text', 'boolean', 'text'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('public', 'sunsync_create_config', ARRAY['text', 'text', 'boolean', 'text'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('public', 'sunsync_update_config', ARRAY['bigint', 'text', 'boolean'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('public', 'sunsync_delete_config', ARRAY['bigint'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('public', 'sunsync_push', ARRAY['bigint', 'boolean', 'boolean'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('public', 'sunsync_verify', ARRAY['bigint'], 'public', ARRAY[]::text[]);
SELECT function_privs_are('sunsync', 'capture', ARRAY[]::text[], 'public', ARRAY[]::text[]);
SELECT table_privs_are('sunsync', 'queue_0', 'public', ARRAY[]::text[]);
SELECT table_privs_are('sunsync', 'queue_tables', 'public', ARRAY[]::text[]);
SELECT table_privs_are('public', 'sunsync_history', 'public', ARRAY[]::text[]);

-- Status values are the seed's four.
SELECT col_default_is('sunsync', 'configs', 'status', 'IDLE'::text, 'a new configuration is IDLE');
SELECT throws_ok($$INSERT INTO sunsync.configs (owner, target_url_masked, target_url_sealed, status,
                                               created_by, created_by_superuser)
                   VALUES ('1', 'x', '\x00', 'DONE', 'postgres', true)$$,
                 '23514', NULL, 'status outside IDLE/IN_PROGRESS/COMPLETED/FAILED is refused');

-- Configured state is kept by pg_dump.
SELECT set_eq($$SELECT c.relname::text FROM pg_extension e, unnest(e.extconfig) o
                  JOIN pg_class c ON c.oid = o WHERE e.extname = 'sunsync'$$,
              ARRAY['root', 'tables', 'configs', 'configs_id_seq', 'history', 'history_run_id_seq'],
              'root, tables, configs and history are dumped by pg_dump');

SELECT ok(EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'sunsync_sql_drop'),
          'an event trigger keeps the scope true when objects are dropped');
SELECT ok((SELECT bool_and(p.prosecdef AND p.proconfig = '{"search_path=pg_catalog, pg_temp"}')
             FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid
            WHERE e.evtname LIKE 'sunsync%'),
          'event trigger functions are SECURITY DEFINER with a fixed search_path');
-- The capture trigger parses no SQL and writes the queue at the table-AM
-- level: it needs neither SECURITY DEFINER nor a SET clause, and runs
-- owner_expr as the role that set the root (see extension/sunsync--0.2.sql).
SELECT ok((SELECT NOT p.prosecdef AND p.proconfig IS NULL AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
             FROM pg_proc p WHERE p.oid = 'sunsync.capture()'::regprocedure),
          'sunsync.capture() is a C function without SECURITY DEFINER or SET clauses');
SELECT set_eq($$SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'sunsync'::regnamespace
                  AND c.relname LIKE 'queue\__' AND c.relkind = 'r'$$,
              ARRAY['queue_0', 'queue_1', 'queue_2'], 'the change queue has three tables that take turns');
SELECT is((SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'), 'sunsync',
          'the library is preloaded');

SELECT * FROM finish();
ROLLBACK;
