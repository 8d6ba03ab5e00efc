-- Scope: the root, registered tables, their paths to the root, and every
-- error of sunsync_set_root / sunsync_add_table / sunsync_remove_table, on a
-- schema that is not Sunschool's: uuid keys, a composite-key grandchild, a
-- declared link, an ambiguous path, a table without a primary key and an
-- excluded column.
CREATE EXTENSION IF NOT EXISTS sunsync;
\set VERBOSITY default

CREATE SCHEMA crm;
CREATE TABLE crm.accounts (
    id            uuid PRIMARY KEY,
    parent        uuid REFERENCES crm.accounts(id),
    name          text NOT NULL,
    secret_token  text
);
CREATE TABLE crm.projects (
    id          uuid PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES crm.accounts(id),
    budget      numeric
);
CREATE TABLE crm.tasks (
    project_id  uuid REFERENCES crm.projects(id),
    task_no     int,
    title       text,
    PRIMARY KEY (project_id, task_no)
);
CREATE TABLE crm.task_notes (
    project_id  uuid,
    task_no     int,
    note_no     int,
    body        text,
    PRIMARY KEY (project_id, task_no, note_no),
    CONSTRAINT task_notes_task_fkey FOREIGN KEY (project_id, task_no)
        REFERENCES crm.tasks(project_id, task_no)
);
CREATE TABLE crm.audit_events (id bigint PRIMARY KEY, account_ref text, what text);
CREATE TABLE crm.transfers (
    id            bigint PRIMARY KEY,
    from_account  uuid REFERENCES crm.accounts(id),
    project_id    uuid REFERENCES crm.projects(id)
);
CREATE TABLE crm.transfer_items (id bigint PRIMARY KEY,
                                 transfer_id bigint REFERENCES crm.transfers(id));
CREATE TABLE crm.scratch (account_id uuid REFERENCES crm.accounts(id), x int);
CREATE TABLE crm.tags (id int PRIMARY KEY, label text);
CREATE VIEW crm.account_names AS SELECT id, name FROM crm.accounts;

-- Nothing works before the root is set.
SELECT sunsync_add_table('crm.projects');
SELECT sunsync_create_config(1, 'postgresql://u:pw@203.0.113.5/db');

-- The root must be a table with a primary key, and owner_expr one plain,
-- immutable expression over its columns.
SELECT sunsync_set_root('crm.account_names', 'id');
SELECT sunsync_set_root('crm.scratch', 'account_id');
SELECT sunsync_set_root('crm.accounts', 'no_such_column');
SELECT sunsync_set_root('crm.accounts', 'random()');
SELECT sunsync_set_root('crm.accounts', 'id::text || now()');
SELECT sunsync_set_root('crm.accounts', 'count(*)');
SELECT sunsync_set_root('crm.accounts', '(SELECT max(id::text) FROM crm.accounts)');
SELECT sunsync_set_root('crm.accounts', 'generate_series(1, 2)');
SELECT sunsync_set_root('crm.accounts', 'id) FROM crm.accounts UNION SELECT (secret_token');
SELECT sunsync_set_root('crm.accounts', 'id)::text, (name');
SELECT sunsync_set_root('crm.accounts', '   ');
SELECT sunsync_set_root('crm.accounts', 'coalesce(parent, id)');
SELECT * FROM sunsync_tables;

-- Re-adding the root updates its options; the root has no via.
SELECT sunsync_add_table('crm.accounts', exclude_columns => '{secret_token}');
SELECT sunsync_add_table('crm.accounts', via => 'accounts_parent_fkey');
SELECT table_name, via, exclude_columns FROM sunsync.tables;

-- Paths over several hops, through tables that are not registered.
SELECT sunsync_add_table('crm.task_notes');
SELECT sunsync_add_table('crm.tasks');
SELECT * FROM sunsync_tables;
SELECT sunsync_add_table('crm.projects', exclude_columns => '{budget}');
SELECT * FROM sunsync_tables;
-- re-adding updates the options
SELECT sunsync_add_table('crm.projects');
SELECT table_name, exclude_columns FROM sunsync.tables WHERE table_name = 'crm.projects'::regclass;

-- Two paths: the error lists the candidates by constraint name.
SELECT sunsync_add_table('crm.transfers');
SELECT sunsync_add_table('crm.transfers', via => 'no_such_fkey');
SELECT sunsync_add_table('crm.transfers', via => 'transfers_project_id_fkey');
SELECT path FROM sunsync_tables WHERE table_name = 'crm.transfers'::regclass;
SELECT sunsync_add_table('crm.transfers', via => 'transfers_from_account_fkey');
SELECT path FROM sunsync_tables WHERE table_name = 'crm.transfers'::regclass;
SELECT sunsync_add_table('crm.transfer_items');

-- A link without a constraint, declared; types differ, so compared as text.
SELECT sunsync_add_table('crm.audit_events');
SELECT sunsync_add_table('crm.audit_events', via => 'account_ref -> crm.accounts(id)');
SELECT path FROM sunsync_tables WHERE table_name = 'crm.audit_events'::regclass;
-- declared links that cannot work
SELECT sunsync_add_table('crm.audit_events', via => 'account_ref -> crm.accounts(name)');
SELECT sunsync_add_table('crm.audit_events', via => 'nope -> crm.accounts(id)');
SELECT sunsync_add_table('crm.audit_events', via => 'account_ref -> crm.accounts(nope)');
SELECT sunsync_add_table('crm.audit_events', via => 'account_ref -> crm.nowhere(id)');
SELECT sunsync_add_table('crm.audit_events', via => 'account_ref, what -> crm.accounts(id)');
SELECT sunsync_add_table('crm.audit_events', via => 'account_ref -> crm.accounts');
SELECT sunsync_add_table('crm.audit_events', via => 'what -> crm.tags(id)');

-- No primary key; no path; not a table.
SELECT sunsync_add_table('crm.scratch');
SELECT sunsync_add_table('crm.tags');
SELECT sunsync_add_table('crm.account_names');

-- Excluded columns must exist and must not be key columns.
SELECT sunsync_add_table('crm.tasks', exclude_columns => '{nope}');
SELECT sunsync_add_table('crm.tasks', exclude_columns => '{task_no}');
SELECT sunsync_add_table('crm.tasks', exclude_columns => '{title, NULL}');
SELECT sunsync_add_table(NULL);

-- Parents come before children.
SELECT * FROM sunsync_tables;

-- Removing a table re-derives the paths that went through it, and refuses
-- when that would leave one without a single path.
SELECT sunsync_remove_table('crm.tags');
SELECT sunsync_remove_table('crm.transfers');
SELECT sunsync_remove_table('crm.transfer_items');
SELECT sunsync_remove_table('crm.transfers');
SELECT sunsync_remove_table('crm.projects');
SELECT * FROM sunsync_tables;
SELECT sunsync_remove_table('crm.accounts');

-- The root cannot change while other tables are registered.
CREATE TABLE crm.orgs (id int PRIMARY KEY);
SELECT sunsync_set_root('crm.orgs', 'id');
-- owner_expr of the same root can change
SELECT sunsync_set_root('crm.accounts', 'id');
SELECT path FROM sunsync_tables WHERE position = 1;

-- A dropped table is forgotten, as it would be by a publication.
DROP TABLE crm.task_notes;
SELECT * FROM sunsync_tables;

-- Privileges: the API is not open to PUBLIC; granted, it lets a role
-- register only tables that it owns.
CREATE ROLE scope_app;
GRANT USAGE, CREATE ON SCHEMA crm TO scope_app;
GRANT REFERENCES ON crm.accounts TO scope_app;
SET ROLE scope_app;
SELECT sunsync_add_table('crm.tasks');
SELECT * FROM sunsync_tables;
SELECT * FROM sunsync.tables;
RESET ROLE;
GRANT EXECUTE ON FUNCTION sunsync_add_table(regclass, text, text[]),
                          sunsync_remove_table(regclass) TO scope_app;
GRANT SELECT ON sunsync_tables TO scope_app;
SET ROLE scope_app;
SELECT sunsync_add_table('crm.tasks');
CREATE TABLE crm.app_notes (id int PRIMARY KEY, account_id uuid REFERENCES crm.accounts(id));
SELECT sunsync_add_table('crm.app_notes');
SELECT table_name, path FROM sunsync_tables WHERE table_name = 'crm.app_notes'::regclass;
SELECT sunsync_remove_table('crm.tasks');
SELECT sunsync_remove_table('crm.app_notes');
RESET ROLE;
SELECT registered_by FROM sunsync.tables;

