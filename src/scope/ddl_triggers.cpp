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
//  * a column of the root that owner_expr uses dropped: the DDL fails;
//  * a capture trigger dropped (with a partition of a table in scope, or
//    by DROP TRIGGER): a new scope version, and the trigger made again
//    where it is still needed.
//
// ddl_command_end of CREATE TABLE ... PARTITION OF a table in scope: the
// partition gets the capture triggers; of ALTER TABLE ... ATTACH / DETACH
// PARTITION, ENABLE / DISABLE TRIGGER, ALTER COLUMN ... TYPE on a table in
// scope: a new scope version (the next runs are full ones).
//
// ddl_command_end of ALTER TABLE / ALTER SCHEMA ... RENAME and ALTER TABLE
// ... SET SCHEMA: what the DBA
// stated by name follows the rename (excluded columns, owner_expr, via),
// and the paths are derived again, so that an excluded column never starts
// flowing because it was renamed, and no path silently breaks.
#include "pg/as_role.hpp"
#include "pg/guard.hpp"
#include "pg/spi.hpp"
#include "scope/scope_catalog.hpp"
#include "scope/capture_triggers.hpp"
#include "scope/declared_link.hpp"
#include "scope/owner_expr.hpp"
#include "scope/scope_refresh.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "commands/event_trigger.h"
#include "nodes/parsenodes.h"
#include "utils/lsyscache.h"
}

#include <cstring>
#include <map>

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
	scope::scope_changed(spi);
	return true;
}

// Unregisters the tables whose stored path crosses something that is gone;
// whether it did.
bool unregister_broken_paths(pg::Spi &spi)
{
	auto gone_registered = spi.run("DELETE FROM sunsync.tables t WHERE NOT EXISTS "
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
	if (broken.empty() && gone_registered.processed == 0)
		return false;
	scope::scope_changed(spi);
	return true;
}

// A capture trigger went: DROP TABLE of a partition of a table in scope
// (its rows left without DML), or DROP TRIGGER.  The next runs are full
// ones, and the trigger is made again where its table is still in scope.
bool capture_trigger_dropped(pg::Spi &spi)
{
	return spi.run("SELECT FROM pg_catalog.pg_event_trigger_dropped_objects() "
				   "WHERE object_type = 'trigger' AND object_identity LIKE 'sunsync\\_capture\\_% on %' LIMIT 1")
			   .processed > 0;
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
	Oid relid = pg::oid_of(root.rows[0][0]);
	Oid author = pg::oid_of(root.rows[0][2]);
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

// The object the rename statement changed, from PostgreSQL's own record of
// the command: the statement's names are the caller's (search_path, and for
// a table its old name), which this function, with its own search_path,
// must not resolve again.  For a constraint, the table it belongs to.
Oid renamed_object(pg::Spi &spi)
{
	auto row = spi.run("SELECT CASE WHEN d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass "
					   "            THEN (SELECT conrelid FROM pg_catalog.pg_constraint WHERE oid = d.objid) "
					   "            ELSE d.objid END "
					   "FROM pg_catalog.pg_event_trigger_ddl_commands() d LIMIT 1");
	return row.empty() || !row.rows[0][0] ? InvalidOid : pg::oid_of(row.rows[0][0]);
}

// Whether a relation is registered or crossed by a stored path.
bool in_scope(pg::Spi &spi, Oid relid)
{
	return *spi.run("SELECT EXISTS (SELECT FROM sunsync.tables t WHERE t.table_name = $1::pg_catalog.oid "
					"  OR EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(t.path) h "
					"             WHERE (h->>'child_oid')::pg_catalog.oid = $1::pg_catalog.oid "
					"                OR (h->>'parent_oid')::pg_catalog.oid = $1::pg_catalog.oid))",
					{std::to_string(relid)})
				.scalar() == "t";
}

bool schema_in_scope(pg::Spi &spi, Oid nspid)
{
	return *spi.run("SELECT EXISTS (SELECT FROM sunsync.tables t, pg_catalog.pg_class c "
					"  WHERE c.relnamespace = $1::pg_catalog.oid AND (c.oid = t.table_name "
					"    OR EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(t.path) h "
					"               WHERE (h->>'parent_oid')::pg_catalog.oid = c.oid)))",
					{std::to_string(nspid)})
				.scalar() == "t";
}

// Declared links are stored with names (canonical_via); after a rename they
// are written again from the first hop of the stored path, with the renamed
// column (of table `renamed`) under its new name.
void rewrite_declared_vias(pg::Spi &spi, Oid renamed, const std::string &from, const std::string &to)
{
	auto rows = spi.run(
		"SELECT t.table_name::pg_catalog.oid, h->>'child_oid', h->>'parent_oid', s.side, s.col "
		"FROM sunsync.tables t, LATERAL (SELECT t.path->0) x(h), LATERAL ("
		"  SELECT 'c', c, n FROM pg_catalog.jsonb_array_elements_text(h->'child_columns') WITH ORDINALITY c(c, n) "
		"  UNION ALL "
		"  SELECT 'p', p, n FROM pg_catalog.jsonb_array_elements_text(h->'parent_columns') WITH ORDINALITY p(p, n)"
		") s(side, col, n) "
		"WHERE t.via IS NOT NULL AND (h->>'declared')::boolean ORDER BY 1, s.side, s.n");
	std::map<std::string, scope::Link> links;
	for (const auto &r : rows.rows) {
		scope::Link &l = links[*r[0]];
		l.declared = true;
		l.child_oid = pg::oid_of(r[1]);
		l.parent_oid = pg::oid_of(r[2]);
		bool child = *r[3] == "c";
		std::string col = *r[4];
		if ((child ? l.child_oid : l.parent_oid) == renamed && col == from)
			col = to;
		(child ? l.child_columns : l.parent_columns).push_back(col);
	}
	for (const auto &[table, link] : links)
		spi.run("UPDATE sunsync.tables SET via = $2 WHERE table_name = $1::pg_catalog.oid",
				{table, scope::canonical_via(link)});
}

void follow_rename(pg::Spi &spi, const scope::Root &root, RenameStmt *stmt)
{
	std::string from = stmt->subname ? stmt->subname : "", to = stmt->newname ? stmt->newname : "";
	Oid relid = renamed_object(spi); // a schema's OID for ALTER SCHEMA
	if (!OidIsValid(relid))
		return;
	switch (stmt->renameType) {
	case OBJECT_COLUMN:
		if (stmt->relationType != OBJECT_TABLE || !in_scope(spi, relid))
			return;
		spi.run("UPDATE sunsync.tables SET exclude_columns = pg_catalog.array_replace(exclude_columns, $2, $3) "
				"WHERE table_name = $1::pg_catalog.oid",
				{std::to_string(relid), from, to});
		if (relid == root.oid) {
			auto author = spi.run("SELECT set_by::pg_catalog.oid FROM sunsync.root").scalar();
			std::string expr;
			{
				pg::AsRole as_author(pg::oid_of(author));
				expr = scope::canonical_owner_expr(root.oid, root.owner_expr, from, to);
			}
			spi.run("UPDATE sunsync.root SET owner_expr = $1", {expr});
		}
		rewrite_declared_vias(spi, relid, from, to);
		break;
	case OBJECT_TABCONSTRAINT:
		if (!in_scope(spi, relid))
			return;
		spi.run("UPDATE sunsync.tables SET via = $3 WHERE table_name = $1::pg_catalog.oid AND via = $2",
				{std::to_string(relid), from, to});
		break;
	case OBJECT_TABLE:
		if (!in_scope(spi, relid))
			return;
		rewrite_declared_vias(spi, InvalidOid, {}, {});
		break;
	case OBJECT_SCHEMA:
		if (!schema_in_scope(spi, relid))
			return;
		rewrite_declared_vias(spi, InvalidOid, {}, {});
		break;
	default:
		return;
	}
	auto current = scope::load_root(spi);
	if (current)
		scope::refresh_scope(spi, *current, "a rename");
}

// ALTER TABLE ... SET SCHEMA: declared vias name tables schema-qualified.
void follow_set_schema(pg::Spi &spi)
{
	Oid relid = renamed_object(spi);
	if (!OidIsValid(relid) || !in_scope(spi, relid))
		return;
	rewrite_declared_vias(spi, InvalidOid, {}, {});
	if (auto current = scope::load_root(spi))
		scope::refresh_scope(spi, *current, "a change of schema");
}

// Whether relid, or a partitioned table it is a partition of, is in scope.
bool in_scope_or_partition_of(pg::Spi &spi, Oid relid)
{
	for (const auto &r : spi.run("SELECT relid::pg_catalog.oid FROM pg_catalog.pg_partition_ancestors($1::pg_catalog.oid)",
								 {std::to_string(relid)})
							 .rows)
		if (in_scope(spi, pg::oid_of(r[0])))
			return true;
	return in_scope(spi, relid);
}

// What an ALTER TABLE means for change capture: rows that appear or go
// without DML (ATTACH, DETACH PARTITION), capture triggers switched off or
// on (by name, or all of them), a column (maybe a key) of another type, a
// primary key redefined (queued keys are read by the key they were
// written with; ADD PRIMARY KEY, also USING INDEX, after the old one was
// dropped): the next run of every configuration is a full one.
bool names_capture_trigger(const AlterTableCmd *cmd)
{
	return cmd->name != nullptr && strncmp(cmd->name, "sunsync_capture_", strlen("sunsync_capture_")) == 0;
}

bool changes_what_capture_saw(AlterTableStmt *stmt)
{
	ListCell *lc;
	foreach (lc, stmt->cmds) {
		auto *cmd = lfirst_node(AlterTableCmd, lc);
		switch (cmd->subtype) {
		case AT_AttachPartition:
		case AT_DetachPartition:
		case AT_DetachPartitionFinalize:
		case AT_EnableTrigAll:
		case AT_DisableTrigAll:
		case AT_EnableTrigUser:
		case AT_DisableTrigUser:
		case AT_AlterColumnType:
			return true;
		case AT_EnableTrig:
		case AT_EnableAlwaysTrig:
		case AT_EnableReplicaTrig:
		case AT_DisableTrig:
			if (names_capture_trigger(cmd))
				return true;
			break;
		case AT_AddConstraint:
			if (cmd->def && IsA(cmd->def, Constraint) && castNode(Constraint, cmd->def)->contype == CONSTR_PRIMARY)
				return true;
			break;
		default:
			break;
		}
	}
	return false;
}

// CREATE TABLE ... PARTITION OF a table in scope: the new partition gets
// the capture triggers (a statement that names it directly fires only its
// own); ALTER TABLE as above.
void follow_partitions_and_triggers(pg::Spi &spi, Node *parsetree)
{
	Oid relid = renamed_object(spi);
	if (!OidIsValid(relid) || !in_scope_or_partition_of(spi, relid))
		return;
	if (IsA(parsetree, CreateStmt))
		scope::sync_capture_triggers(spi);
	else
		scope::scope_changed(spi);
}

} // namespace

SUNSYNC_SQL_FUNCTION(sunsync_on_ddl_command_end)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		pg::raise("39P01", "sunsync_on_ddl_command_end is an event trigger function");
	auto *data = reinterpret_cast<EventTriggerData *>(fcinfo->context);
	Node *tree = data->parsetree;
	bool set_schema = tree != nullptr && IsA(tree, AlterObjectSchemaStmt) &&
					  reinterpret_cast<AlterObjectSchemaStmt *>(tree)->objectType == OBJECT_TABLE;
	bool partition = tree != nullptr && IsA(tree, CreateStmt) && reinterpret_cast<CreateStmt *>(tree)->partbound;
	bool capture = tree != nullptr && IsA(tree, AlterTableStmt) &&
				   changes_what_capture_saw(reinterpret_cast<AlterTableStmt *>(tree));
	if (tree == nullptr || (!IsA(tree, RenameStmt) && !set_schema && !partition && !capture))
		PG_RETURN_VOID();
	pg::Spi spi;
	if (!extension_catalog_exists(spi))
		PG_RETURN_VOID();
	// pg_restore adds keys, constraints and triggers after the data: the
	// restored scope is adopted at its first use, once all of them exist
	// (the adoption makes a new scope version anyway)
	if (capture && scope::is_restored_scope(spi))
		PG_RETURN_VOID();
	scope::adopt_restored_scope(spi);
	auto root = scope::load_root(spi);
	if (!root)
		PG_RETURN_VOID();
	if (partition || capture)
		follow_partitions_and_triggers(spi, tree);
	else if (set_schema)
		follow_set_schema(spi);
	else
		follow_rename(spi, *root, reinterpret_cast<RenameStmt *>(tree));
	PG_RETURN_VOID();
}

SUNSYNC_SQL_FUNCTION(sunsync_on_sql_drop)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		pg::raise("39P01", "sunsync_on_sql_drop is an event trigger function");
	pg::Spi spi;
	if (!extension_catalog_exists(spi))
		PG_RETURN_VOID();
	if (forget_dropped_root(spi))
		PG_RETURN_VOID();
	if (scope::syncing_capture_triggers())
		PG_RETURN_VOID(); // sunsync dropping triggers it no longer needs
	scope::adopt_restored_scope(spi);
	check_owner_expr_survives(spi);
	if (!unregister_broken_paths(spi) && capture_trigger_dropped(spi))
		scope::scope_changed(spi);
	PG_RETURN_VOID();
}
