-- sunsync 0.1 -> 0.2
\echo Use "ALTER EXTENSION sunsync UPDATE TO '0.2'" to load this file. \quit

-- Event triggers run as whoever issued the DDL (issue: a migration role got
-- "permission denied for schema sunsync" on every DROP).
ALTER FUNCTION sunsync.forget_dropped_tables() SECURITY DEFINER;
REVOKE ALL ON FUNCTION sunsync.forget_dropped_tables() FROM PUBLIC;
