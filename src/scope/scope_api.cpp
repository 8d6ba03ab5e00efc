// SQL functions that define what is replicated: sunsync_set_root,
// sunsync_add_table, sunsync_remove_table.
#include "catalog/catalog_version.hpp"
#include "pg/args.hpp"
#include "pg/as_role.hpp"
#include "pg/guard.hpp"
#include "pg/spi.hpp"
#include "scope/capture_triggers.hpp"
#include "scope/declared_link.hpp"
#include "scope/index_advice.hpp"
#include "scope/owner_expr.hpp"
#include "scope/path.hpp"
#include "scope/scope_catalog.hpp"
#include "scope/scope_refresh.hpp"

#include <algorithm>
#include <functional>
#include <set>

using namespace sunsync;
using namespace sunsync::scope;

namespace {

// Stores a table's derived path: one jsonb object per hop, built by
// PostgreSQL (jsonb_build_object), appended in order.
void store_path(pg::Spi &spi, Oid table, const Path &path, const std::string &text, size_t position)
{
	std::string id = std::to_string(table);
	spi.run("UPDATE sunsync.tables SET path = '[]', path_text = $2, position = $3::int "
			"WHERE table_name = $1::oid::regclass",
			{id, text, std::to_string(position)});
	for (const Link &l : path)
		spi.run("UPDATE sunsync.tables SET path = path || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object("
				"'constraint', $2, 'child', $3, 'child_columns', $4::text[], 'child_oid', $5::oid, "
				"'parent', $6, 'parent_oid', $7::oid, 'parent_columns', $8::text[], "
				"'declared', $9::boolean, 'text_compare', $10::boolean)) "
				"WHERE table_name = $1::oid::regclass",
				{id, l.declared ? pg::Param(std::nullopt) : pg::Param(l.name), l.child, l.child_columns,
				 std::to_string(l.child_oid), l.parent, std::to_string(l.parent_oid), l.parent_columns,
				 l.declared ? "true" : "false", l.text_compare ? "true" : "false"});
}

std::string caller_role() { return std::to_string(GetUserId()); }

Root require_root(pg::Spi &spi)
{
	auto root = load_root(spi);
	if (!root)
		pg::raise(sqlstate::object_not_in_prerequisite_state, "no root table is set",
				  {}, "Call sunsync_set_root(root, owner_expr) first.");
	return *root;
}

std::vector<std::string> checked_exclusions(const TableInfo &t, const std::vector<std::string> &cols)
{
	std::vector<std::string> out;
	for (const auto &c : cols) {
		if (!t.column_types.count(c))
			pg::raise(sqlstate::undefined_column,
					  "column \"" + c + "\" of relation " + t.name + " does not exist",
					  {}, "exclude_columns takes column names of the table itself.");
		if (std::find(t.primary_key.begin(), t.primary_key.end(), c) != t.primary_key.end())
			pg::raise(sqlstate::invalid_parameter_value,
					  "cannot exclude primary key column \"" + c + "\" of table " + t.name,
					  "sunsync identifies rows on the target by their primary key.");
		if (std::find(out.begin(), out.end(), c) == out.end())
			out.push_back(c);
	}
	return out;
}

} // namespace

// Re-derives the path and position of every registered table from its via
// and the current foreign keys, and stores them.  Registered tables are
// derived before the tables that reach the root through them.
bool sunsync::scope::is_restored_scope(pg::Spi &spi)
{
	pg::CatalogOwnerScope as_owner;
	return !spi.run("SELECT 1 FROM sunsync.root WHERE source_id IS DISTINCT FROM (SELECT id FROM sunsync.source)")
				.empty();
}

bool sunsync::scope::adopt_restored_scope(pg::Spi &spi)
{
	if (!is_restored_scope(spi))
		return false;
	if (auto root = load_root(spi))
		refresh_scope(spi, *root, "restoring the scope from a dump");
	return true;
}

void sunsync::scope::refresh_scope(pg::Spi &spi, const Root &root, const std::string &changed)
{
	auto fks = load_foreign_keys(spi);
	std::map<std::string, Registration> registered;
	for (auto &r : load_registrations(spi))
		registered[r.name] = r;

	Graph graph;
	graph.root = root.name;
	graph.links = fks;
	std::map<std::string, Path> derived{{root.name, {}}};
	std::map<std::string, Link> first_hops;
	std::set<std::string> in_progress;

	std::function<void(const std::string &)> derive = [&](const std::string &name) {
		if (derived.count(name) || in_progress.count(name))
			return;
		in_progress.insert(name);
		const Registration &reg = registered.at(name);
		std::optional<Link> via;
		if (reg.via) {
			TableInfo t = load_table(spi, reg.oid);
			via = resolve_via(spi, t, *reg.via, fks);
			if (registered.count(via->parent))
				derive(via->parent);
		}
		// registered tables reachable from here settle their own paths first
		std::set<std::string> seen{name};
		std::vector<std::string> stack{name};
		while (!stack.empty()) {
			std::string t = stack.back();
			stack.pop_back();
			auto it = fks.find(t);
			if (it == fks.end())
				continue;
			for (const Link &l : it->second) {
				if (!seen.insert(l.parent).second)
					continue;
				if (registered.count(l.parent))
					derive(l.parent);
				else
					stack.push_back(l.parent);
			}
		}
		graph.registered = derived;
		try {
			Path p = derive_path(graph, name, via);
			derived[name] = p;
			if (!p.empty())
				first_hops[name] = p.front();
		} catch (const Error &e) {
			if (name == changed)
				throw;
			throw Error(e.sqlstate(), e.message(), e.detail(),
						"Table " + name + " is registered; remove it with sunsync_remove_table, "
						"or register it again with via.",
						"re-deriving the path of registered table " + name + " after changing " + changed);
		}
		in_progress.erase(name);
	};
	for (const auto &[name, reg] : registered)
		derive(name);

	std::set<std::string> names;
	std::multimap<std::string, std::string> parent_of;
	for (const auto &[name, reg] : registered) {
		names.insert(name);
		if (auto it = fks.find(name); it != fks.end())
			for (const Link &l : it->second)
				parent_of.emplace(name, l.parent);
		if (auto hop = first_hops.find(name); hop != first_hops.end())
			parent_of.emplace(name, hop->second.parent);
	}
	auto order = order_parents_first(root.name, names, parent_of);

	pg::CatalogOwnerScope as_owner;
	for (size_t i = 0; i < order.size(); i++) {
		const std::string &name = order[i];
		const Path &p = derived.at(name);
		std::string text = name == root.name ? "root, owner: " + root.owner_expr : describe_path(p);
		store_path(spi, registered.at(name).oid, p, text, i + 1);
	}
	// the OIDs in the paths are this database's
	spi.run("UPDATE sunsync.root SET source_id = (SELECT id FROM sunsync.source)");
	scope_changed(spi);
}


SUNSYNC_SQL_FUNCTION(sunsync_set_root)
{
	Oid relid = pg::oid_arg(fcinfo, 0);
	std::string expr = *pg::text_arg(fcinfo, 1);
	pg::Spi spi;
	require_catalog_version(spi);
	TableInfo t = load_table(spi, relid);
	check_replicable(t);
	check_owner_expr(relid, expr, "r");
	std::string stored_expr = canonical_owner_expr(relid, expr);

	auto current = load_root(spi);
	if (current && current->oid != relid) {
		std::string others;
		for (const auto &r : load_registrations(spi))
			if (r.oid != current->oid)
				others += (others.empty() ? "" : ", ") + r.name;
		if (!others.empty())
			pg::raise(sqlstate::object_not_in_prerequisite_state,
					  "cannot change the root table while other tables are registered",
					  "The root is " + current->name + "; registered: " + others + ".",
					  "Remove them with sunsync_remove_table first.");
	}
	std::string role = caller_role();
	{
		pg::CatalogOwnerScope as_owner;
		if (current && current->oid != relid)
			spi.run("DELETE FROM sunsync.tables WHERE table_name = $1::oid::regclass",
					{std::to_string(current->oid)});
		spi.run("INSERT INTO sunsync.root (singleton, root_table, owner_expr, set_by) "
				"VALUES (true, $1::oid::regclass, $2, $3::oid::regrole) "
				"ON CONFLICT (singleton) DO UPDATE SET root_table = EXCLUDED.root_table, "
				"owner_expr = EXCLUDED.owner_expr, set_by = EXCLUDED.set_by, set_at = now()",
				{std::to_string(relid), stored_expr, role});
		spi.run("INSERT INTO sunsync.tables (table_name, path, path_text, position, registered_by) "
				"VALUES ($1::oid::regclass, '[]', '', 0, $2::oid::regrole) "
				"ON CONFLICT (table_name) DO NOTHING",
				{std::to_string(relid), role});
	}
	refresh_scope(spi, require_root(spi), t.name);
	// owners are hashed in owner_expr's type, which may have changed
	rehash_owners(spi);
	advise_owner_index(spi, relid, stored_expr);
	PG_RETURN_VOID();
}

SUNSYNC_SQL_FUNCTION(sunsync_add_table)
{
	if (PG_ARGISNULL(0))
		pg::raise(sqlstate::invalid_parameter_value, "tbl must not be NULL");
	Oid relid = pg::oid_arg(fcinfo, 0);
	std::optional<std::string> via = pg::text_arg(fcinfo, 1);
	auto excluded = pg::text_array_arg(fcinfo, 2, "exclude_columns").value_or(std::vector<std::string>{});

	pg::Spi spi;
	require_catalog_version(spi);
	Root root = require_root(spi);
	TableInfo t = load_table(spi, relid);
	check_replicable(t);
	excluded = checked_exclusions(t, excluded);
	if (via && via->find_first_not_of(" \t\r\n") == std::string::npos)
		via.reset();
	if (via && relid == root.oid)
		pg::raise(sqlstate::invalid_parameter_value,
				  "via does not apply to the root table " + t.name,
				  "The root's rows are scoped by owner_expr.",
				  "Leave via NULL; set owner_expr with sunsync_set_root.");
	if (via) // refuse a bad via before writing; store it so no search_path changes it
		via = canonical_via(resolve_via(spi, t, *via, load_foreign_keys(spi)));

	{
		pg::CatalogOwnerScope as_owner;
		spi.run("INSERT INTO sunsync.tables (table_name, via, exclude_columns, path, path_text, "
				"                            position, registered_by) "
				"VALUES ($1::oid::regclass, $2, $3::text[], '[]', '', 0, $4::oid::regrole) "
				"ON CONFLICT (table_name) DO UPDATE SET via = EXCLUDED.via, "
				"exclude_columns = EXCLUDED.exclude_columns, registered_by = EXCLUDED.registered_by, "
				"registered_at = now()",
				{std::to_string(relid), via, excluded, caller_role()});
	}
	refresh_scope(spi, root, t.name);
	advise_path_indexes(spi, relid);
	PG_RETURN_VOID();
}

SUNSYNC_SQL_FUNCTION(sunsync_remove_table)
{
	Oid relid = pg::oid_arg(fcinfo, 0);
	pg::Spi spi;
	require_catalog_version(spi);
	TableInfo t = load_table(spi, relid);
	if (!t.owned_by_caller)
		pg::raise(sqlstate::insufficient_privilege, "must be owner of table " + t.name);
	auto root = load_root(spi);
	bool is_root = root && root->oid == relid;
	if (is_root && load_registrations(spi).size() > 1)
		pg::raise(sqlstate::object_not_in_prerequisite_state,
				  "cannot remove the root table " + t.name + " while other tables are registered",
				  {}, "Remove the other tables first.");
	pg::Result removed;
	{
		pg::CatalogOwnerScope as_owner;
		removed = spi.run("DELETE FROM sunsync.tables WHERE table_name = $1::oid::regclass",
						  {std::to_string(relid)});
		if (is_root)
			spi.run("DELETE FROM sunsync.root");
	}
	if (removed.processed == 0)
		pg::raise(sqlstate::undefined_object, "table " + t.name + " is not registered with sunsync",
				  {}, "See the view sunsync_tables.");
	if (!is_root && root)
		refresh_scope(spi, *root, t.name);
	else
		scope_changed(spi); // the root's triggers go with it
	PG_RETURN_VOID();
}

// For the upgrade from 0.1 only (sunsync--0.1--0.2.sql): 0.1 stored
// owner_expr and declared vias as written, resolved under the caller's
// search_path; 0.2 stores them schema-qualified, and re-derives the paths.
SUNSYNC_SQL_FUNCTION(sunsync_canonicalize_scope)
{
	pg::Spi spi;
	auto root = load_root(spi);
	if (!root)
		PG_RETURN_VOID();
	// names resolve under the search_path of the update, as under 0.1's callers
	Oid author = pg::oid_of(spi.run("SELECT set_by::oid FROM sunsync.root").scalar());
	std::string expr;
	{
		pg::AsRole as_author(author);
		// 0.1 accepted a STABLE owner_expr; 0.2's capture triggers need one
		// that gives the same owner in every session: the update stops here
		// (owner_expr must be immutable) until the root is set again
		check_owner_expr(root->oid, root->owner_expr, "t0");
		expr = canonical_owner_expr(root->oid, root->owner_expr);
	}
	std::vector<std::pair<Oid, std::string>> vias;
	auto fks = load_foreign_keys(spi);
	for (const auto &reg : load_registrations(spi))
		if (reg.via)
			vias.emplace_back(reg.oid, canonical_via(resolve_via(spi, load_table(spi, reg.oid), *reg.via, fks)));
	{
		pg::CatalogOwnerScope as_owner;
		spi.run("UPDATE sunsync.root SET owner_expr = $1", {expr});
		for (const auto &[oid, via] : vias)
			spi.run("UPDATE sunsync.tables SET via = $2 WHERE table_name = $1::oid::regclass",
					{std::to_string(oid), via});
	}
	refresh_scope(spi, *load_root(spi), "the upgrade to sunsync 0.2");
	rehash_owners(spi);
	PG_RETURN_VOID();
}
