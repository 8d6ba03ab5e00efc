-- The C++/PostgreSQL bridge: PostgreSQL errors raised inside a guarded call
-- and C++ exceptions thrown by an SQL function both end as ordinary SQL
-- errors that keep SQLSTATE, detail and hint; C++ destructors run; the
-- session stays usable.
CREATE EXTENSION sunsync;

CREATE FUNCTION selftest_pg_error() RETURNS void
    LANGUAGE C AS 'sunsync', 'sunsync_selftest_pg_error';
CREATE FUNCTION selftest_bad_int(text) RETURNS int
    LANGUAGE C AS 'sunsync', 'sunsync_selftest_bad_int';
CREATE FUNCTION selftest_cpp_exception() RETURNS void
    LANGUAGE C AS 'sunsync', 'sunsync_selftest_cpp_exception';
CREATE FUNCTION selftest_spi_error() RETURNS void
    LANGUAGE C AS 'sunsync', 'sunsync_selftest_spi_error';
CREATE FUNCTION selftest_live_objects() RETURNS int
    LANGUAGE C AS 'sunsync', 'sunsync_selftest_live_objects';

-- Shows every field of the error a statement raises.
CREATE FUNCTION show_error(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; det text; hnt text;
BEGIN
    EXECUTE stmt;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                            det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    RETURN format('%s | %s | %s | %s', st, msg, det, hnt);
END $$;

SELECT show_error('SELECT selftest_pg_error()');
SELECT show_error('SELECT selftest_bad_int(''forty-two'')');
SELECT selftest_bad_int('42');
SELECT show_error('SELECT selftest_cpp_exception()');
SELECT show_error('SELECT selftest_spi_error()');

-- The same errors reach the client directly.
SELECT selftest_pg_error();
SELECT selftest_cpp_exception();
SELECT selftest_spi_error();

-- Every C++ object created above was destroyed.
SELECT selftest_live_objects();

-- The session is still usable, and a transaction can go on after a
-- savepoint rollback.
BEGIN;
SAVEPOINT s;
SELECT selftest_spi_error();
ROLLBACK TO SAVEPOINT s;
SELECT 1 + 1 AS still_working;
COMMIT;

-- Many failures leak neither C++ objects nor server memory.
CREATE TEMP TABLE mem AS
    SELECT sum(total_bytes) AS before FROM pg_backend_memory_contexts;
DO $$
BEGIN
    FOR i IN 1..2000 LOOP
        BEGIN
            PERFORM selftest_pg_error();
        EXCEPTION WHEN check_violation THEN NULL;
        END;
        BEGIN
            PERFORM selftest_spi_error();
        EXCEPTION WHEN division_by_zero THEN NULL;
        END;
        BEGIN
            PERFORM selftest_cpp_exception();
        EXCEPTION WHEN internal_error THEN NULL;
        END;
    END LOOP;
END $$;
SELECT selftest_live_objects();
SELECT (SELECT sum(total_bytes) FROM pg_backend_memory_contexts) - before < 1024 * 1024
       AS no_memory_growth
  FROM mem;
