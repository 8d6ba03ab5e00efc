# Type and encoding fidelity: generated columns, arrays of domains, composite
# and range types of the source, a type without a binary send function,
# enum labels added in the source's order, and a LATIN1 source database;
# each pushed and compared with an exact, ordered checksum.
use strict;
use warnings;
use lib "$ENV{SUNSYNC_ROOT}/test/tap/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use SunsyncTest;
use Test::More;

my $source = new_source('ty_source');
my $target = new_target('ty_target');
target_login($target, 'tenant', 'Tgt-S3cret', 'tenant', 'tenant_latin1');

$source->safe_psql('app', q{
	CREATE SCHEMA shop;
	CREATE TYPE shop.mood AS ENUM ('sad', 'happy');
	CREATE DOMAIN shop.qty AS integer CHECK (VALUE >= 0);
	CREATE DOMAIN shop.code AS varchar(8);
	CREATE TYPE shop.money2 AS (amount numeric(10,2), currency char(3));
	CREATE TYPE shop.address AS (street text, city text, mood shop.mood, price shop.money2);
	CREATE TYPE shop.floatrange AS RANGE (subtype = float8);
	CREATE TABLE shop.stores (id int PRIMARY KEY, name text);
	CREATE TABLE shop.items (
	    id int PRIMARY KEY, store_id int NOT NULL REFERENCES shop.stores,
	    price numeric(10,2), qty int,
	    total numeric GENERATED ALWAYS AS (price * qty) STORED,
	    counts shop.qty[], codes shop.code[], ship_to shop.address, addrs shop.address[],
	    band shop.floatrange, span int4range, acl aclitem, mood shop.mood);
	INSERT INTO shop.stores VALUES (1, 'one'), (2, 'two');
	INSERT INTO shop.items (id, store_id, price, qty, counts, codes, ship_to, addrs, band, span, acl, mood) VALUES
	  (1, 1, 2.50, 4, '{1,2,3}', '{a,"b c",NULL}', ROW('Main St 1', 'Ville', 'happy', ROW(9.99, 'EUR')),
	   ARRAY[ROW('x', 'y', 'sad', NULL)::shop.address, NULL], '[1.5,2.5)', '[1,10)', '=r/postgres', 'sad'),
	  (2, 1, NULL, 1, '{}', NULL, NULL, NULL, 'empty', NULL, NULL, 'happy'),
	  (3, 2, 1, 1, '{9}', '{z}', ROW('Other', 'Town', 'sad', NULL), NULL, '(,)', '[5,6)', NULL, NULL);
	SELECT sunsync_set_root('shop.stores', 'id');
	SELECT sunsync_add_table('shop.items');
});
my $url = target_url($target, 'tenant', 'Tgt-S3cret', 'tenant');
my $id = $source->safe_psql('app', "SELECT sunsync_create_config(1, '$url')");
# the tenant made the schema and the enum beforehand: sunsync uses them
$target->safe_psql('tenant', q{
	SET ROLE tenant;
	CREATE SCHEMA shop;
	CREATE TYPE shop.mood AS ENUM ('sad', 'happy');
});
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'the first push creates the types');
my $items = 'SELECT id, store_id, price, qty, total, counts::text, codes::text, ship_to::text, addrs::text,
	band::text, span::text, acl::text, mood::text FROM shop.items';
compare_tables($source, 'app', $target, 'tenant',
	{ items => ["$items WHERE store_id = 1", $items] }, 'types');
is($target->safe_psql('tenant', q{SELECT string_agg(format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
	FROM pg_attribute WHERE attrelid = 'shop.items'::regclass AND attnum > 0}),
	'integer, integer, numeric(10,2), integer, numeric, integer[], character varying(8)[], shop.address, shop.address[], '
	  . 'shop.floatrange, int4range, aclitem, shop.mood',
	'domains arrive as their base types; composite and range types are created on the target');

# The target's own generated column is computed there, never COPYed into.
$target->safe_psql('tenant', q{
	ALTER TABLE shop.items DROP COLUMN total;
	ALTER TABLE shop.items ADD COLUMN total numeric GENERATED ALWAYS AS (price * qty) STORED;
});
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED',
	'a target table with a generated column syncs');
compare_tables($source, 'app', $target, 'tenant',
	{ items => ["$items WHERE store_id = 1", $items] }, 'generated on the target');

# Enum labels added on the source land in the source's order.
$source->safe_psql('app', q{
	ALTER TYPE shop.mood ADD VALUE 'calm' BEFORE 'happy';
	ALTER TYPE shop.mood ADD VALUE 'angry' BEFORE 'sad';
});
$source->safe_psql('app', q{UPDATE shop.items SET mood = 'calm' WHERE id = 2; UPDATE shop.items SET mood = 'angry' WHERE id = 1});
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'a push after new labels');
is($target->safe_psql('tenant', q{SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum
	WHERE enumtypid = 'shop.mood'::regtype}), 'angry,sad,calm,happy', 'the target\'s labels are in the source\'s order');
is($target->safe_psql('tenant', 'SELECT string_agg(id::text, \',\' ORDER BY mood, id) FROM shop.items'), '1,2',
	'so rows sort by the enum the same way');

# An incremental run ships every type (columns of the tenant's types travel
# as text in its scratch tables and are cast on the way in).
$source->safe_psql('app', q{UPDATE shop.items SET ship_to = ROW('New St 2', 'Burg', 'calm', ROW(1.25, 'USD')),
	addrs = ARRAY[NULL, ROW('a', 'b', 'angry', ROW(0, 'CHF'))::shop.address], band = '[0,1]', counts = '{4}',
	codes = '{"x y"}', mood = NULL WHERE id = 1;
	INSERT INTO shop.items (id, store_id, price, qty, ship_to, band, mood) VALUES
	  (4, 1, 3, 2, ROW(NULL, 'Q', 'happy', NULL), '[2,3)', 'happy')});
is($source->safe_psql('app', "SELECT sunsync_push($id, wait => true)"), 'COMPLETED', 'an incremental push of every type');
is($source->safe_psql('app', "SELECT kind FROM sunsync_history WHERE config_id = $id ORDER BY run_id DESC LIMIT 1"),
	'incremental', '(it was incremental)');
compare_tables($source, 'app', $target, 'tenant',
	{ items => ["$items WHERE store_id = 1", $items] }, 'incremental, every type');

# A LATIN1 source database: text reaches a UTF8 target unchanged.
$source->safe_psql('postgres', q{CREATE DATABASE app_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0});
$source->safe_psql('app_latin1', q{
	CREATE EXTENSION sunsync;
	CREATE TABLE fam (id int PRIMARY KEY, name text, tags text[]);
	SET client_encoding = 'UTF8';  -- this script's text is UTF-8; the database converts it
	INSERT INTO fam VALUES (1, 'Zoë Müller, café', '{"à la carte", "naïve"}'), (2, 'other', NULL);
	SELECT sunsync_set_root('fam', 'id');
});
my $lid = $source->safe_psql('app_latin1', "SELECT sunsync_create_config(1, '"
	  . target_url($target, 'tenant', 'Tgt-S3cret', 'tenant_latin1') . "')");
is($source->safe_psql('app_latin1', "SELECT sunsync_push($lid, wait => true)"), 'COMPLETED', 'a LATIN1 source pushes');
is($target->safe_psql('tenant_latin1', 'SELECT name || \' \' || tags::text FROM public.fam'),
	'Zoë Müller, café {"à la carte",naïve}', 'its text arrives unchanged in a UTF8 target');
is($source->safe_psql('app_latin1', q{SELECT octet_length(name) FROM fam WHERE id = 1}), '16',
	'(the source holds it in LATIN1: one byte a letter)');
done_testing();
