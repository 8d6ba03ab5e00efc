-- What the capture trigger does row by row, when the rows are many or the
-- owner is odd: a row whose owner_expr is NULL belongs to nobody and is not
-- an orphan; a statement cancelled while its transition tables are on disk
-- leaves the next statement working; a write made from inside owner_expr
-- (a function that lies about being IMMUTABLE) makes full syncs, not a
-- crash.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS sunsync CASCADE;
CREATE EXTENSION sunsync;
\set VERBOSITY terse

CREATE SCHEMA cr;
CREATE TABLE cr.accounts (id int PRIMARY KEY, owner text);
CREATE TABLE cr.items (id int PRIMARY KEY, account_id int NOT NULL REFERENCES cr.accounts, v text);
-- slow when asked (to be cancelled), writing when asked (a nested trigger call)
CREATE FUNCTION cr.add_item() RETURNS void LANGUAGE sql AS
    'INSERT INTO cr.items SELECT max(id) + 1, 1, ''nested'' FROM cr.items';
CREATE FUNCTION cr.owner_of(owner text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF current_setting('cr.mode', true) = 'slow' THEN
        PERFORM pg_sleep(0.01);
    ELSIF current_setting('cr.mode', true) = 'write' THEN
        PERFORM cr.add_item();
    END IF;
    RETURN owner;
END $$;
SELECT sunsync_set_root('cr.accounts', 'cr.owner_of(owner)');
SELECT sunsync_add_table('cr.items');
INSERT INTO cr.accounts VALUES (1, 'a'), (2, NULL), (3, 'b');
SELECT sunsync_create_config('a', 'postgresql://u:pw@203.0.113.5/a') AS a;
RESET client_min_messages;
CREATE VIEW queue AS
    SELECT rel::regclass AS "table", kind, nkeys, CASE owner_hash WHEN 0 THEN 'every owner' ELSE 'owner a' END AS "for"
      FROM (SELECT * FROM sunsync.queue_0 UNION ALL SELECT * FROM sunsync.queue_1
            UNION ALL SELECT * FROM sunsync.queue_2) q;

-- items of owner a, of nobody (NULL owner) and of b (no configuration):
-- one entry, for a
INSERT INTO cr.items VALUES (1, 1, 'x'), (2, 2, 'y'), (3, 3, 'z');
SELECT * FROM queue ORDER BY 1, 2, 4;
TRUNCATE sunsync.queue_0, sunsync.queue_1, sunsync.queue_2;

-- 3000 accounts: transition tables larger than work_mem go to disk; the
-- update is cancelled while the trigger works through them
INSERT INTO cr.accounts SELECT g, 'a' FROM generate_series(4, 3000) g;
TRUNCATE sunsync.queue_0, sunsync.queue_1, sunsync.queue_2;
SET work_mem = '64kB';
SET cr.mode = 'slow';
SET statement_timeout = '300ms';
UPDATE cr.accounts SET owner = owner;
RESET statement_timeout;
RESET cr.mode;
-- and the next statements of this session go on as before (2998 + 7 keys
-- of owner a)
UPDATE cr.accounts SET owner = owner;
UPDATE cr.accounts SET owner = owner WHERE id < 10;
SELECT kind, sum(nkeys) AS keys, "for" FROM queue GROUP BY 1, 3 ORDER BY 1, 3;
TRUNCATE sunsync.queue_0, sunsync.queue_1, sunsync.queue_2;
RESET work_mem;

-- owner_expr writes to a table in scope while the trigger evaluates it:
-- the inner call cannot use what the outer one holds, and asks for a full
-- sync of everyone instead
SET cr.mode = 'write';
UPDATE cr.accounts SET owner = owner WHERE id = 1;
RESET cr.mode;
SELECT "table", kind, "for" FROM queue WHERE kind = 'f' ORDER BY 1;
SELECT count(*) AS nested_rows FROM cr.items WHERE v = 'nested';

SET client_min_messages = warning;
DROP VIEW queue;
DROP EXTENSION sunsync;
DROP SCHEMA cr CASCADE;
