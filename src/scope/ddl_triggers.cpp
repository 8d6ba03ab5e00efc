// Event triggers that keep sunsync's scope true to the schema (issue: a path
// that crossed a dropped table crashed the next run).  PostgreSQL runs them
// as whoever issued the DDL; they are declared SECURITY DEFINER with a fixed
// search_path, so a migration role that cannot read schema sunsync can still
// drop and alter its own tables.
//
// sql_drop:
//  * the root table dropped: nothing is replicated any more (NOTICE);
//  * a registered table dropped: forgotten, as a publication forgets it;
//  * a table, column or foreign key that a registered table's path crosses
//    dropped: that table is unregistered, with a NOTICE naming it and what
//    its path lost;
//  * a column of the root that owner_expr uses dropped: the DDL fails.
#include "pg/as_role.hpp"
#include "pg/guard.hpp"
#include "pg/spi.hpp"
#include "scope/owner_expr.hpp"

extern "C" {
#include "commands/event_trigger.h"
}

using namespace sunsync;

namespace {

void notice(const std::string &message, const std::string &hint)
{
	pg::guard([&] {
		ereport(NOTICE, (errmsg_internal("%s", message.c_str()), errhint("%s", hint.c_str())));
	});
}

bool extension_catalog_exists(pg::Spi &spi)
{
	// DROP EXTENSION fires this trigger while it drops sunsync's own tables
	return *spi.run("SELECT pg_catalog.to_regclass('sunsync.tables') IS NOT NULL "
					"AND pg_catalog.to_regclass('sunsync.root') IS NOT NULL")
				.scalar() == "t";
}

// Forgets everything when the root is gone; returns whether it was.
bool forget_dropped_root(pg::Spi &spi)
{
	auto gone = spi.run("SELECT coalesce(d.object_identity, r.root_table::pg_catalog.text) "
						"FROM sunsync.root r "
						"LEFT JOIN pg_catalog.pg_event_trigger_dropped_objects() d "
						"  ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
						" AND d.objid = r.root_table::pg_catalog.oid AND d.objsubid = 0 "
						"WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = r.root_table)");
	if (gone.empty())
		return false;
	auto others = spi.run("DELETE FROM sunsync.tables t WHERE EXISTS "
						  "(SELECT FROM pg_catalog.pg_class c WHERE c.oid = t.table_name) "
						  "RETURNING t.table_name::pg_catalog.text");
	spi.run("DELETE FROM sunsync.tables");
	spi.run("DELETE FROM sunsync.root");
	std::string names;
	for (const auto &r : others.rows)
		names += (names.empty() ? "" : ", ") + *r[0];
	notice("sunsync: the root table " + *gone.rows[0][0] + " was dropped; no table is replicated any more" +
			   (names.empty() ? "" : " (unregistered: " + names + ")"),
		   "Set a root with sunsync_set_root and register tables again.");
	return true;
}

// Unregisters the tables whose stored path crosses something that is gone.
void unregister_broken_paths(pg::Spi &spi)
{
	spi.run("DELETE FROM sunsync.tables t WHERE NOT EXISTS "
			"(SELECT FROM pg_catalog.pg_class c WHERE c.oid = t.table_name)");
	auto broken = spi.run(
		"WITH hop AS ("
		"  SELECT t.table_name, h, "
		"         EXISTS (SELECT FROM pg_catalog.pg_class WHERE oid = (h->>'child_oid')::pg_catalog.oid) AS child_ok, "
		"         EXISTS (SELECT FROM pg_catalog.pg_class WHERE oid = (h->>'parent_oid')::pg_catalog.oid) AS parent_ok "
		"  FROM sunsync.tables t, pg_catalog.jsonb_array_elements(t.path) h) "
		"SELECT table_name::pg_catalog.text, pg_catalog.string_agg(DISTINCT what, ', ') FROM hop, LATERAL ("
		"  SELECT 'table ' || (h->>'child') WHERE NOT child_ok "
		"  UNION ALL SELECT 'table ' || (h->>'parent') WHERE NOT parent_ok "
		"  UNION ALL SELECT 'column ' || (h->>'child') || '.' || c "
		"    FROM pg_catalog.jsonb_array_elements_text(h->'child_columns') c "
		"    WHERE child_ok AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute "
		"      WHERE attrelid = (h->>'child_oid')::pg_catalog.oid AND attname = c AND NOT attisdropped) "
		"  UNION ALL SELECT 'column ' || (h->>'parent') || '.' || c "
		"    FROM pg_catalog.jsonb_array_elements_text(h->'parent_columns') c "
		"    WHERE parent_ok AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute "
		"      WHERE attrelid = (h->>'parent_oid')::pg_catalog.oid AND attname = c AND NOT attisdropped) "
		"  UNION ALL SELECT 'foreign key ' || (h->>'constraint') || ' of ' || (h->>'child') "
		"    WHERE child_ok AND h->>'constraint' IS NOT NULL AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint "
		"      WHERE conrelid = (h->>'child_oid')::pg_catalog.oid AND conname = h->>'constraint' AND contype = 'f')"
		") p(what) GROUP BY table_name ORDER BY 1");
	for (const auto &r : broken.rows) {
		spi.run("DELETE FROM sunsync.tables WHERE table_name::pg_catalog.text = $1", {r[0]});
		notice("sunsync: table " + *r[0] + " is no longer replicated: its path to the root crossed " + *r[1] +
				   ", which was dropped",
			   "Register it again with sunsync_add_table once it has a path to the root.");
	}
}

// A column of the root that owner_expr needs may not go.
void check_owner_expr_survives(pg::Spi &spi)
{
	auto root = spi.run("SELECT r.root_table::pg_catalog.oid, r.owner_expr, r.set_by::pg_catalog.oid, "
						"       r.root_table::pg_catalog.text, d.object_identity "
						"FROM sunsync.root r JOIN pg_catalog.pg_event_trigger_dropped_objects() d "
						"  ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
						" AND d.objid = r.root_table::pg_catalog.oid AND d.objsubid > 0 LIMIT 1");
	if (root.empty())
		return;
	Oid relid = static_cast<Oid>(std::stoul(*root.rows[0][0]));
	Oid author = static_cast<Oid>(std::stoul(*root.rows[0][2]));
	const std::string &expr = *root.rows[0][1];
	try {
		pg::AsRole as_author(author);
		scope::check_owner_expr(relid, expr, "r");
	} catch (const Error &e) {
		throw Error(sqlstate::object_not_in_prerequisite_state,
					"cannot drop column " + *root.rows[0][4] + ": sunsync's owner_expr of root table " +
						*root.rows[0][3] + " uses it",
					"owner_expr is: " + expr + " (" + e.message() + ")",
					"Set another owner_expr with sunsync_set_root first.");
	}
}

} // namespace

SUNSYNC_SQL_FUNCTION(sunsync_on_sql_drop)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		pg::raise("39P01", "sunsync_on_sql_drop is an event trigger function");
	pg::Spi spi;
	if (!extension_catalog_exists(spi))
		PG_RETURN_VOID();
	if (forget_dropped_root(spi))
		PG_RETURN_VOID();
	check_owner_expr_survives(spi);
	unregister_broken_paths(spi);
	PG_RETURN_VOID();
}
