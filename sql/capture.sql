-- Change capture: which tables carry the capture triggers, and what the
-- statements of a writer that is not a superuser (and has no right on
-- schema sunsync) record in the queue: nothing for owners without a
-- configuration, one row per statement and owner otherwise, the old and the
-- new owner of a row that moves, orphans, TRUNCATE; DDL that changes what
-- capture saw; DROP EXTENSION takes the triggers with it.
-- a fresh catalog: no root, no configuration left by the suites before
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS sunsync CASCADE;
CREATE EXTENSION sunsync;
\set VERBOSITY default

CREATE SCHEMA cap;
CREATE TABLE cap.parents (id int PRIMARY KEY, name text);
CREATE TABLE cap.kids (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES cap.parents, name text,
                       secret text);
CREATE TABLE cap.toys (id int PRIMARY KEY, kid_id int NOT NULL REFERENCES cap.kids, label text);
CREATE TABLE cap.notes (id int PRIMARY KEY, kid_ref text, body text);
CREATE TABLE cap.shelves (id int PRIMARY KEY, parent_id int REFERENCES cap.parents);
CREATE TABLE cap.books (id int PRIMARY KEY, shelf_id int REFERENCES cap.shelves, title text);
CREATE TABLE cap.events (id int, at date, kid_id int REFERENCES cap.kids, PRIMARY KEY (id, at))
    PARTITION BY RANGE (at);
CREATE TABLE cap.events_2026 PARTITION OF cap.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO cap.parents SELECT p, 'parent ' || p FROM generate_series(1, 4) p;
INSERT INTO cap.kids SELECT k, 1 + k % 4, 'kid ' || k, 's' FROM generate_series(1, 8) k;
INSERT INTO cap.toys SELECT t, 1 + t % 8, 'toy' FROM generate_series(1, 16) t;
INSERT INTO cap.shelves VALUES (1, 1), (2, 2);
INSERT INTO cap.books VALUES (1, 1, 'a'), (2, 2, 'b');

SELECT sunsync_set_root('cap.parents', 'id');
SELECT sunsync_add_table('cap.kids', exclude_columns => '{secret}');
SELECT sunsync_add_table('cap.toys');
SELECT sunsync_add_table('cap.notes', via => 'kid_ref -> cap.kids(id)');
SELECT sunsync_add_table('cap.books');  -- its path crosses shelves, not registered
SELECT sunsync_add_table('cap.events');
RESET client_min_messages;

-- Registered tables, the table the path crosses, and the partition carry
-- the four triggers; nothing else does.
SELECT tgrelid::regclass AS "table", string_agg(tgname, ', ' ORDER BY tgname) AS triggers
  FROM pg_trigger WHERE tgname LIKE 'sunsync_capture%' GROUP BY 1 ORDER BY 1::text;
-- they fire always: under session_replication_role = replica too
SELECT DISTINCT tgenabled FROM pg_trigger WHERE tgname LIKE 'sunsync_capture%';
-- they go with the extension's function (DROP EXTENSION), not the other way
SELECT DISTINCT d.deptype FROM pg_depend d JOIN pg_trigger t ON t.oid = d.objid
 WHERE d.classid = 'pg_trigger'::regclass AND d.refobjid = 'sunsync.capture()'::regprocedure
   AND t.tgname LIKE 'sunsync_capture%';

CREATE ROLE cap_writer;
GRANT USAGE ON SCHEMA cap TO cap_writer;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA cap TO cap_writer;
CREATE VIEW queue AS
    SELECT rel::regclass AS "table", kind, nkeys,
           CASE owner_hash WHEN 0 THEN 'every owner'
                ELSE (SELECT 'owner ' || string_agg(owner, ',') FROM sunsync.configs c WHERE c.owner_hash = q.owner_hash)
           END AS "for"
      FROM (SELECT * FROM sunsync.queue_0 UNION ALL SELECT * FROM sunsync.queue_1
            UNION ALL SELECT * FROM sunsync.queue_2) q;

-- No configuration: nothing is recorded.
SET ROLE cap_writer;
UPDATE cap.toys SET label = 'new' WHERE id < 5;
RESET ROLE;
SELECT count(*) AS entries FROM queue;

-- Owners 1 and 2 have configurations; 3 and 4 do not.
SELECT sunsync_create_config(1, 'postgresql://u:pw@203.0.113.5/one') AS one,
       sunsync_create_config(2, 'postgresql://u:pw@203.0.113.5/two') AS two;
SET ROLE cap_writer;
BEGIN ISOLATION LEVEL SERIALIZABLE;
-- one statement, rows of four owners: one entry per configured owner
UPDATE cap.toys SET label = 'again';
COMMIT;
-- kids inserted: 'g', since notes name kids by a declared link, and a note
-- may be there before its kid (owner 3 has no configuration: nothing)
INSERT INTO cap.kids VALUES (9, 1, 'nine', 'x'), (10, 3, 'ten', 'x');
-- a kid moves from owner 1 to owner 2 with its toys ('c' for the old, 'm' for the new)
UPDATE cap.kids SET parent_id = 2 WHERE id = 4;
-- an excluded column changes: the row ships without it
UPDATE cap.kids SET secret = 'y' WHERE id = 9;
-- a note whose kid does not exist: an orphan, for every owner; one whose kid does
INSERT INTO cap.notes VALUES (1, '999', 'orphan'), (2, '5', 'of owner 2');
-- the orphan's kid arrives ('g': it adopts the note)
INSERT INTO cap.kids VALUES (999, 1, 'late', 'x');
-- a row of the crossed table moves: a full sync for both owners
UPDATE cap.shelves SET parent_id = 2 WHERE id = 1;
-- through the partition directly
INSERT INTO cap.events_2026 VALUES (1, '2026-05-01', 1);
DELETE FROM cap.toys WHERE id = 16;
TRUNCATE cap.events;
RESET ROLE;
SELECT * FROM queue ORDER BY "table"::text, kind, "for";
SELECT id, pending_changes, lag IS NOT NULL AS has_lag FROM sunsync_configs ORDER BY id;

-- DDL that changes what capture saw makes the next runs full ones.
SELECT scope_version AS before FROM sunsync.root \gset
ALTER TABLE cap.toys DISABLE TRIGGER sunsync_capture_update;
ALTER TABLE cap.toys ENABLE TRIGGER sunsync_capture_update;
SELECT scope_version - :before AS versions_later FROM sunsync.root;
-- (enabled again, it fires always again)
SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'cap.toys'::regclass AND tgname = 'sunsync_capture_update';
-- a primary key redefined: queued keys are read by the key they were written with
SELECT scope_version AS before FROM sunsync.root \gset
ALTER TABLE cap.notes DROP CONSTRAINT notes_pkey;
ALTER TABLE cap.notes ADD PRIMARY KEY (id);
SELECT scope_version - :before AS versions_later FROM sunsync.root;
-- other triggers of the table are none of sunsync's business
CREATE TRIGGER skip_same BEFORE UPDATE ON cap.toys FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
SELECT scope_version AS before FROM sunsync.root \gset
ALTER TABLE cap.toys DISABLE TRIGGER skip_same;
SELECT scope_version - :before AS versions_later FROM sunsync.root;
DROP TRIGGER skip_same ON cap.toys;
-- a write under session_replication_role = replica is captured
SELECT count(*) AS before FROM queue \gset
SET session_replication_role = replica;
UPDATE cap.toys SET label = 'replica' WHERE id = 7;  -- owner 1's
RESET session_replication_role;
SELECT count(*) - :before AS new_entries FROM queue;
-- a new partition gets the triggers
CREATE TABLE cap.events_2027 PARTITION OF cap.events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
SELECT count(*) AS triggers_on_new_partition FROM pg_trigger
 WHERE tgrelid = 'cap.events_2027'::regclass AND tgname LIKE 'sunsync_capture%';

-- a partition dropped (its rows leave without DML), a capture trigger
-- dropped: full syncs next, and the trigger is back
SELECT scope_version AS before FROM sunsync.root \gset
DROP TABLE cap.events_2027;
SELECT scope_version - :before AS versions_later FROM sunsync.root;
-- by its owner, a role that is not a superuser (sunsync's event trigger
-- runs as sunsync's owner)
CREATE TABLE cap.events_2028 PARTITION OF cap.events FOR VALUES FROM ('2028-01-01') TO ('2029-01-01');
ALTER TABLE cap.events_2028 OWNER TO cap_writer;
SELECT scope_version AS before FROM sunsync.root \gset
SET ROLE cap_writer;
DROP TABLE cap.events_2028;
RESET ROLE;
SELECT scope_version - :before AS versions_later FROM sunsync.root;
SELECT scope_version AS before FROM sunsync.root \gset
DROP TRIGGER sunsync_capture_insert ON cap.toys;
SELECT scope_version - :before AS versions_later FROM sunsync.root;
SELECT count(*) AS toys_triggers FROM pg_trigger WHERE tgrelid = 'cap.toys'::regclass AND tgname LIKE 'sunsync_capture%';
CREATE TABLE cap.events_2027 PARTITION OF cap.events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');

-- The trigger function cannot be called directly.
SELECT sunsync.capture();

-- Removing a table detaches its triggers; the root's go with the root.
SELECT sunsync_remove_table('cap.events');
SELECT count(*) AS left_on_events FROM pg_trigger
 WHERE tgrelid IN ('cap.events'::regclass, 'cap.events_2026'::regclass, 'cap.events_2027'::regclass)
   AND tgname LIKE 'sunsync_capture%';
SELECT sunsync_remove_table('cap.books');
SELECT count(*) AS left_on_shelves FROM pg_trigger WHERE tgrelid = 'cap.shelves'::regclass AND tgname LIKE 'sunsync_capture%';

-- DROP EXTENSION takes every trigger with it, without CASCADE.
DROP VIEW queue;
DROP EXTENSION sunsync;
SELECT count(*) AS capture_triggers_left FROM pg_trigger WHERE tgname LIKE 'sunsync_capture%';
CREATE EXTENSION sunsync;
DROP SCHEMA cap CASCADE;
DROP ROLE cap_writer;
