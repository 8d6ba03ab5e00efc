-- The sunsync.* settings exist with their documented defaults.
SELECT name, boot_val AS setting, unit, context
  FROM pg_settings WHERE name LIKE 'sunsync.%' ORDER BY name;

-- Only a superuser may allow private targets or change require_ssl.
CREATE ROLE settings_user;
SET ROLE settings_user;
SET sunsync.allow_private_targets = on;
SET sunsync.require_ssl = off;
-- The key file's location is for superusers only.
SHOW sunsync.key_file;
-- Names under sunsync. are reserved.
SET sunsync.no_such_setting = 1;
RESET ROLE;
DROP ROLE settings_user;
