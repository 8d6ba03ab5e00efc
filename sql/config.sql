-- Configurations: target URL rules (behaviour 1), sealed and masked
-- credentials (behaviour 2), updates, deletes and privileges.
-- The root is crm.accounts, set by the scope suite.  No target is ever
-- contacted here: 203.0.113.0/24 is a documentation range.
\set VERBOSITY default

-- The owner is converted to the type of owner_expr (uuid here), and refused,
-- naming both types, when it does not convert.
SELECT sunsync_create_config('not-a-uuid'::text, 'postgresql://u:Sup3rS3cret@203.0.113.5/db');
SELECT sunsync_create_config(42, 'postgresql://u:Sup3rS3cret@203.0.113.5/db');

-- The URL must be a postgres:// URL that libpq can parse, with a host and a database.
SELECT sunsync_create_config(1, 'host=203.0.113.5 dbname=x password=y');
SELECT sunsync_create_config(1, 'mysql://u:Sup3rS3cret@203.0.113.5/db');
SELECT sunsync_create_config(1, 'postgresql://u:Sup3rS3cret@203.0.113.5/db?bogus=1');
SELECT sunsync_create_config(1, 'postgresql://u:Sup%zzS3cret@203.0.113.5/db');
SELECT sunsync_create_config(1, 'postgresql://u:Sup3rS3cret@203.0.113.5:70000/db');
SELECT sunsync_create_config(1, 'postgresql://u:Sup3rS3cret@203.0.113.5/db?sslmode=sometimes');
SELECT sunsync_create_config(1, 'postgresql://u:Sup3rS3cret@/db');
SELECT sunsync_create_config(1, 'postgresql://u:Sup3rS3cret@203.0.113.5');
SELECT sunsync_create_config(1, 'postgresql://u:Sup3rS3cret@%2Ftmp/db');
SELECT sunsync_create_config(1, 'postgresql://u:Sup3rS3cret@203.0.113.5/db?host=/var/run/postgresql');

-- Loopback, private and link-local addresses are refused, whether named,
-- written as addresses, given as hostaddr or hidden in a host list.
SELECT sunsync_create_config(1, 'postgresql://u:Sup3rS3cret@localhost/db');
SELECT sunsync_create_config(1, 'postgresql://u:Sup3rS3cret@127.0.0.1:5432/db');
SELECT sunsync_create_config(1, 'postgresql://u:Sup3rS3cret@[::1]/db');
SELECT sunsync_create_config(1, 'postgresql://u:Sup3rS3cret@10.0.0.8/db');
SELECT sunsync_create_config(1, 'postgresql://u:Sup3rS3cret@192.168.1.20/db');
SELECT sunsync_create_config(1, 'postgresql://u:Sup3rS3cret@169.254.169.254/db');
SELECT sunsync_create_config(1, 'postgresql://u:Sup3rS3cret@203.0.113.5/db?hostaddr=127.0.0.1');
SELECT sunsync_create_config(1, 'postgresql://u:Sup3rS3cret@203.0.113.5,localhost/db');
SELECT sunsync_create_config(1, 'postgresql://u:Sup3rS3cret@no-such-host.invalid/db');

-- Required arguments.
SELECT sunsync_create_config(NULL::int, 'postgresql://u:Sup3rS3cret@203.0.113.5/db');
SELECT sunsync_create_config(1, NULL);
SELECT sunsync_create_config(1, 'postgresql://u:Sup3rS3cret@203.0.113.5/db', false, '');

-- Accepted: the view masks the password, the table holds it only sealed.
SELECT sunsync_create_config('5f0c6c1e-6f3e-4a53-9d7b-0a1f2d3c4b5a'::uuid,
                             'postgresql://alice:Sup3rS3cret@203.0.113.5:5433/family');
SELECT sunsync_create_config('00000000-0000-0000-0000-000000000042'::uuid, 'postgres://bob@203.0.113.6/db?password=Sup3rS3cret&sslmode=require',
                             continuous => true, target_schema => 'family_42');
SELECT id, owner, target_url, continuous, status, last_sync_at, last_error, pending_changes,
       created_at = updated_at AS unchanged
  FROM sunsync_configs ORDER BY id;
SELECT id, target_schema, created_by, created_by_superuser,
       position('S3cret' in target_url_masked) AS in_masked,
       position(convert_to('S3cret', 'UTF8') in target_url_sealed) AS in_sealed,
       length(target_url_sealed) > 29 AS sealed
  FROM sunsync.configs ORDER BY id;
-- the key file was created by the first configuration
SELECT size FROM pg_stat_file('sunsync.key');

-- Updates: NULL keeps a field; a new URL is checked, sealed and masked.
SELECT sunsync_update_config(1, continuous => true);
SELECT id, target_url, continuous, updated_at > created_at AS updated FROM sunsync_configs WHERE id = 1;
SELECT sunsync_update_config(1, 'postgresql://alice:N3wS3cret@203.0.113.7/family');
SELECT sunsync_update_config(1, 'postgresql://alice:N3wS3cret@localhost/family');
SELECT id, target_url, continuous FROM sunsync_configs WHERE id = 1;
SELECT sunsync_update_config(NULL);
SELECT sunsync_update_config(999, continuous => false);

-- Deletes.
SELECT sunsync_delete_config(2);
SELECT sunsync_delete_config(2);
SELECT id FROM sunsync_configs;

-- A superuser may allow private targets; require_ssl asks for SSL.
SET sunsync.allow_private_targets = on;
SELECT sunsync_create_config('00000000-0000-0000-0000-000000000003'::uuid, 'postgresql://u:Sup3rS3cret@localhost:5999/db') > 0 AS created;
RESET sunsync.allow_private_targets;
SET sunsync.require_ssl = on;
SELECT sunsync_create_config('00000000-0000-0000-0000-000000000004'::uuid, 'postgresql://u:Sup3rS3cret@203.0.113.5/db');
SELECT sunsync_create_config('00000000-0000-0000-0000-000000000004'::uuid, 'postgresql://u:Sup3rS3cret@203.0.113.5/db?sslmode=prefer');
SELECT sunsync_create_config('00000000-0000-0000-0000-000000000004'::uuid, 'postgresql://u:Sup3rS3cret@203.0.113.5/db?sslmode=verify-full') > 0 AS created;
RESET sunsync.require_ssl;
-- a superuser may rely on the server's own credentials and files
SELECT sunsync_create_config('00000000-0000-0000-0000-000000000005'::uuid, 'postgresql://u@203.0.113.5/db?passfile=/tmp/pgpass') > 0 AS created;

-- An application role: nothing until the DBA grants it (README shows how).
CREATE ROLE config_app;
SET ROLE config_app;
-- (PostgreSQL itself refuses this call, before sunsync runs, and logs the
-- statement with it: README says how to keep such statements out of the log.)
SELECT sunsync_create_config('00000000-0000-0000-0000-000000000007'::uuid, 'postgresql://u@203.0.113.5/db');
SELECT count(*) FROM sunsync_configs;
SELECT count(*) FROM sunsync.configs;
RESET ROLE;
GRANT EXECUTE ON FUNCTION sunsync_create_config(anyelement, text, boolean, text),
                          sunsync_update_config(bigint, text, boolean),
                          sunsync_delete_config(bigint) TO config_app;
GRANT SELECT ON sunsync_configs TO config_app;
SET ROLE config_app;
-- a non-superuser must give a password and may not make the server read its files
SELECT sunsync_create_config('00000000-0000-0000-0000-000000000007'::uuid, 'postgresql://u@203.0.113.5/db');
SELECT sunsync_create_config('00000000-0000-0000-0000-000000000007'::uuid, 'postgresql://u:Sup3rS3cret@203.0.113.5/db?passfile=/var/lib/postgresql/.pgpass');
SELECT sunsync_create_config('00000000-0000-0000-0000-000000000007'::uuid, 'postgresql://u:Sup3rS3cret@203.0.113.5/db?sslkey=/etc/ssl/private/server.key');
SELECT sunsync_create_config('00000000-0000-0000-0000-000000000007'::uuid, 'postgresql://u:Sup3rS3cret@203.0.113.5/db?service=prod');
SET sunsync.allow_private_targets = on;
SELECT sunsync_create_config('00000000-0000-0000-0000-000000000007'::uuid, 'postgresql://u:Sup3rS3cret@203.0.113.5/db') > 0 AS created;
SELECT owner, target_url FROM sunsync_configs WHERE owner = '7';
RESET ROLE;
SELECT created_by, created_by_superuser FROM sunsync.configs WHERE owner = '7';
SET ROLE config_app;
-- the internal tables stay closed, and the config can be changed and removed
SELECT target_url_sealed FROM sunsync.configs;
SELECT sunsync_update_config(max(id), continuous => true) FROM sunsync_configs WHERE owner = '7';
SELECT sunsync_delete_config(max(id)) FROM sunsync_configs WHERE owner = '7';
RESET ROLE;

-- sunsync_push: errors that need no target (the targets above are never
-- contacted), and the views of runs, empty so far.
SELECT sunsync_push(NULL);
SELECT sunsync_push(12345);
SELECT sunsync_push(12345, wait => true);
SELECT * FROM sunsync_verify(NULL);
SELECT * FROM sunsync_verify(12345);
SELECT * FROM sunsync_history;
SELECT * FROM sunsync_progress;
SET ROLE config_app;
SELECT sunsync_push(1);
SELECT * FROM sunsync_verify(1);
SELECT * FROM sunsync_history;
RESET ROLE;

-- No password anywhere a role could read it back.
SELECT count(*) AS passwords_shown FROM sunsync_configs
 WHERE target_url LIKE '%S3cret%' OR coalesce(last_error, '') LIKE '%S3cret%';
SELECT count(*) AS passwords_stored FROM sunsync.configs
 WHERE target_url_masked LIKE '%S3cret%'
    OR position(convert_to('S3cret', 'UTF8') in target_url_sealed) > 0;

-- An untyped literal works as written (the text overload), converted to
-- the type of owner_expr like any other owner.
SELECT sunsync_create_config('AAAAAAAA-0000-0000-0000-000000000009',
                             'postgresql://u:Sup3rS3cret@203.0.113.5/db') AS untyped_id \gset
SELECT owner FROM sunsync_configs WHERE id = :untyped_id;
SELECT sunsync_create_config('not a uuid', 'postgresql://u:Sup3rS3cret@203.0.113.5/db');
SELECT sunsync_delete_config(:untyped_id);
