#include "engine/source_scope.hpp"

#include "pg/as_role.hpp"
#include "pg/relation_names.hpp"
#include "scope/owner_expr.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/pg_type_d.h"
#include "utils/builtins.h"
#include "catalog/pg_class_d.h"
#include "catalog/pg_type.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

#include <algorithm>
#include <set>

namespace sunsync::engine {

namespace {

Oid to_oid(const pg::Value &v) { return pg::oid_of(v); }

std::string pg_quote_ident(const std::string &s)
{
	return pg::guard([&] { return std::string(quote_identifier(s.c_str())); });
}

struct Hop {
	Oid child = InvalidOid, parent = InvalidOid;
	bool text_compare = false;
	std::optional<std::string> constraint; // none for a declared link
	std::vector<std::pair<std::string, std::string>> columns; // child, parent
};

// The table's columns (excluded ones left out) in the target's types, its
// primary key and the names of its foreign keys.
void load_columns_and_keys(pg::Spi &spi, TableSpec &t, const std::set<std::string> &skip, TypeMap &types)
{
	std::string oid_text = std::to_string(t.oid);
	for (const auto &c : spi.run_generic("SELECT attname, atttypid, atttypmod, attnotnull FROM pg_attribute "
								 "WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped "
								 "ORDER BY attnum",
								 {oid_text})
							 .rows) {
		if (skip.count(*c[0]))
			continue;
		TargetType type = types.map(to_oid(c[1]), std::stoi(*c[2]));
		t.columns.push_back({*c[0], type.sql, *c[3] == "t", type.binary_ok, to_oid(c[1]), std::stoi(*c[2])});
		t.binary = t.binary && type.binary_ok;
	}
	for (const auto &c : spi.run("SELECT a.attname FROM pg_constraint c, "
								 "unnest(c.conkey) WITH ORDINALITY k(n, i), pg_attribute a "
								 "WHERE c.conrelid = $1::oid AND c.contype = 'p' "
								 "AND a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i",
								 {oid_text})
							 .rows)
		t.primary_key.push_back(*c[0]);
	if (t.primary_key.empty())
		pg::raise(sqlstate::invalid_object_definition, "table " + t.display + " has no primary key",
				  "It was dropped after the table was registered.");
	for (const auto &c : spi.run("SELECT conname FROM pg_constraint WHERE conrelid = $1::oid "
								 "AND contype = 'f' ORDER BY conname",
								 {oid_text})
							 .rows)
		t.source_foreign_keys.push_back(*c[0]);
}

// The stored path of a table, hop by hop.
std::vector<Hop> load_hops(pg::Spi &spi, Oid table)
{
	std::vector<Hop> hops;
	for (const auto &h : spi.run(
			 "SELECT e.n, (e.h->>'child_oid')::oid, (e.h->>'parent_oid')::oid, "
			 "       (e.h->>'text_compare')::boolean, c.col, p.col, e.h->>'constraint' "
			 "FROM sunsync.tables t, jsonb_array_elements(t.path) WITH ORDINALITY e(h, n), "
			 "     jsonb_array_elements_text(e.h->'child_columns') WITH ORDINALITY c(col, i), "
			 "     jsonb_array_elements_text(e.h->'parent_columns') WITH ORDINALITY p(col, j) "
			 "WHERE t.table_name = $1::oid::regclass AND c.i = p.j ORDER BY e.n, c.i",
			 {std::to_string(table)})
							 .rows) {
		size_t n = std::stoul(*h[0]);
		if (hops.size() < n) {
			hops.emplace_back();
			hops.back().child = to_oid(h[1]);
			hops.back().parent = to_oid(h[2]);
			hops.back().text_compare = *h[3] == "t";
			hops.back().constraint = h[6];
		}
		hops.back().columns.emplace_back(*h[4], *h[5]);
	}
	return hops;
}

// "ONLY schema.table alias": ONLY keeps inheritance children out; a
// partitioned table has its rows in its partitions.
std::string from_item(Oid rel, const std::string &alias)
{
	bool partitioned = false;
	const char *name = nullptr;
	pg::guard([&] {
		partitioned = get_rel_relkind(rel) == RELKIND_PARTITIONED_TABLE;
		pg::QualifiedName n = pg::relation_name_or_error(rel);
		name = quote_qualified_identifier(n.schema, n.name);
	});
	return std::string(partitioned ? "" : "ONLY ") + name + " " + alias;
}

// " JOIN t1 ON ... JOIN tn ON ...": the table (t0) joined hop by hop up to
// the root, which is tn.
std::string joins_to_root(const std::vector<Hop> &hops)
{
	std::string sql;
	for (size_t k = 0; k < hops.size(); k++) {
		std::string child = "t" + std::to_string(k), parent = "t" + std::to_string(k + 1);
		sql += " JOIN " + from_item(hops[k].parent, parent) + " ON ";
		for (size_t i = 0; i < hops[k].columns.size(); i++) {
			std::string l = parent + "." + pg_quote_ident(hops[k].columns[i].second);
			std::string rgt = child + "." + pg_quote_ident(hops[k].columns[i].first);
			if (hops[k].text_compare) {
				l += "::pg_catalog.text";
				rgt += "::pg_catalog.text";
			}
			sql += (i ? " AND " : "") + l + " OPERATOR(pg_catalog.=) " + rgt;
		}
	}
	return sql;
}

std::optional<ForeignKeySpec> first_hop_key(const std::vector<Hop> &hops)
{
	if (hops.empty() || !hops[0].constraint)
		return std::nullopt;
	ForeignKeySpec fk;
	fk.name = *hops[0].constraint;
	fk.parent = hops[0].parent;
	for (const auto &[child_col, parent_col] : hops[0].columns) {
		fk.columns.push_back(child_col);
		fk.parent_columns.push_back(parent_col);
	}
	return fk;
}

// The path's first hop becomes a target foreign key only when the parent is
// replicated and the target has the key it references, with the columns
// that are sent.
void keep_valid_path_keys(Scope &scope)
{
	std::map<Oid, const TableSpec *> by_oid;
	for (const auto &t : scope.tables)
		by_oid[t.oid] = &t;
	for (auto &t : scope.tables) {
		if (!t.path_key)
			continue;
		const ForeignKeySpec &fk = *t.path_key;
		auto parent = by_oid.find(fk.parent);
		bool keep = parent != by_oid.end();
		if (keep) {
			std::set<std::string> pk(parent->second->primary_key.begin(), parent->second->primary_key.end());
			std::set<std::string> ref(fk.parent_columns.begin(), fk.parent_columns.end());
			keep = pk == ref && fk.columns.size() == pk.size() &&
				   std::all_of(fk.columns.begin(), fk.columns.end(), [&](const std::string &c) {
					   return std::any_of(t.columns.begin(), t.columns.end(),
										  [&](const ColumnSpec &col) { return col.name == c; });
				   });
		}
		if (!keep)
			t.path_key.reset();
	}
}

// The registered tables on each table's path, and whether the target's
// copy can be joined up to them (for deleting what hangs from a row there).
void find_ancestors(Scope &scope)
{
	std::map<Oid, const TableSpec *> by_oid;
	for (const auto &t : scope.tables)
		by_oid[t.oid] = &t;
	auto sent = [&](Oid table, const std::string &col) {
		auto it = by_oid.find(table);
		return it != by_oid.end() && it->second->column(col) != nullptr;
	};
	for (auto &t : scope.tables) {
		bool reachable = true;
		for (size_t k = 0; k < t.hops.size(); k++) {
			const PathHop &h = t.hops[k];
			Oid child = k == 0 ? t.oid : t.hops[k - 1].parent;
			for (const auto &[c, p] : h.columns)
				reachable = reachable && sent(child, c) && sent(h.parent, p);
			if (by_oid.count(h.parent))
				t.ancestors[h.parent] = {k, reachable};
			else
				reachable = false;
		}
	}
}

} // namespace

Scope load_scope_for_any_owner(pg::Spi &spi, const std::string &target_schema)
{
	auto root_row = spi.run("SELECT root_table::oid, owner_expr, set_by::oid, "
							"EXISTS (SELECT FROM pg_catalog.pg_roles WHERE oid = set_by) FROM sunsync.root");
	if (root_row.empty())
		pg::raise(sqlstate::object_not_in_prerequisite_state, "no root table is set", {},
				  "Call sunsync_set_root(root, owner_expr) first.");
	// owner_expr runs with the rights of the role that set the root, and no
	// other: a role that is gone leaves no one to run it as
	if (*root_row.rows[0][3] != "t")
		pg::raise(sqlstate::object_not_in_prerequisite_state,
				  "the role that set the root (OID " + *root_row.rows[0][2] + ") no longer exists", {},
				  "Set the root again with sunsync_set_root, as the role whose rights owner_expr should run with.");
	Oid root = to_oid(root_row.rows[0][0]);
	std::string owner_expr = *root_row.rows[0][1];
	Oid author = to_oid(root_row.rows[0][2]);

	std::map<Oid, std::set<std::string>> excluded;
	for (const auto &r : spi.run("SELECT t.table_name::oid, x FROM sunsync.tables t, "
								 "pg_catalog.unnest(t.exclude_columns) x").rows)
		excluded[to_oid(r[0])].insert(*r[1]);

	Scope scope;
	scope.root = root;
	scope.target_schema = target_schema;
	TypeMap types(target_schema);
	for (const auto &r : spi.run("SELECT table_name::oid, table_name::text FROM sunsync.tables ORDER BY position").rows) {
		TableSpec t;
		t.oid = to_oid(r[0]);
		t.display = *r[1];
		const char *schema = nullptr, *name = nullptr;
		pg::guard([&] {
			pg::QualifiedName source = pg::relation_name_or_error(t.oid);
			schema = source.schema;
			name = source.name;
		});
		t.target_name = name;
		t.target_schema = target_schema.empty() ? schema : target_schema;
		load_columns_and_keys(spi, t, excluded[t.oid], types);
		t.excluded.assign(excluded[t.oid].begin(), excluded[t.oid].end());

		std::vector<Hop> hops = load_hops(spi, t.oid);
		for (const Hop &h : hops)
			t.hops.push_back({h.parent, h.text_compare, h.columns});
		if (t.oid != root && (hops.empty() || hops.back().parent != root))
			pg::raise(sqlstate::invalid_object_definition,
					  "the path of table " + t.display + " no longer reaches the root",
					  {}, "Register it again with sunsync_add_table.");
		t.path_key = first_hop_key(hops);

		// the scoped rows: joined hop by hop up to the root, filtered on the owner
		{
			// planning folds immutable functions: only with the author's rights
			pg::AsRole as_author(author);
			t.owner_of_row = scope::check_owner_expr(root, owner_expr, "t" + std::to_string(hops.size()));
		}
		t.source = from_item(t.oid, "t0");
		t.joins = joins_to_root(hops);
		scope.tables.push_back(std::move(t));
	}
	for (auto &[oid, e] : types.enums)
		for (const auto &l : spi.run("SELECT enumlabel FROM pg_enum WHERE enumtypid = $1::oid "
									 "ORDER BY enumsortorder",
									 {std::to_string(oid)})
								 .rows)
			e.labels.push_back(*l[0]);
	scope.enums = std::move(types.enums);
	scope.types = std::move(types.types);
	scope.user_types = std::move(types.user_types);
	scope.type_relations = std::move(types.type_relations);
	keep_valid_path_keys(scope);
	find_ancestors(scope);
	return scope;
}

void filter_by_owner(Scope &scope, const std::string &owner)
{
	for (auto &t : scope.tables) {
		t.owner_filter = scope::owner_filter(t.owner_of_row, owner);
		t.from_sql = " FROM " + t.source + t.joins + " WHERE " + t.owner_filter;
	}
}

Scope for_target_schema(const Scope &scope, const std::string &target_schema)
{
	Scope out = scope;
	out.target_schema = target_schema;
	TypeMap types(target_schema);
	for (auto &t : out.tables) {
		if (!target_schema.empty())
			t.target_schema = target_schema;
		t.binary = true;
		for (auto &c : t.columns) {
			TargetType type = types.map(c.type, c.typmod);
			c.type_sql = type.sql;
			c.binary_ok = type.binary_ok;
			t.binary = t.binary && type.binary_ok;
		}
	}
	out.enums = std::move(types.enums);
	for (auto &[oid, e] : out.enums)
		if (auto it = scope.enums.find(oid); it != scope.enums.end())
			e.labels = it->second.labels;
	out.types = std::move(types.types);
	out.user_types = std::move(types.user_types);
	out.type_relations = std::move(types.type_relations);
	return out;
}

Scope load_scope(pg::Spi &spi, const std::string &owner, const std::string &target_schema)
{
	Scope scope = load_scope_for_any_owner(spi, target_schema);
	filter_by_owner(scope, owner);
	return scope;
}

const TableSpec *find_table(const Scope &scope, Oid oid)
{
	for (const auto &t : scope.tables)
		if (t.oid == oid)
			return &t;
	return nullptr;
}

const ColumnSpec *TableSpec::column(const std::string &name) const
{
	for (const auto &c : columns)
		if (c.name == name)
			return &c;
	return nullptr;
}

namespace {

std::string select_list(const TableSpec &t)
{
	std::string sql = "SELECT ";
	for (size_t i = 0; i < t.columns.size(); i++)
		sql += (i ? ", t0." : "t0.") + pg_quote_ident(t.columns[i].name);
	return sql;
}

} // namespace

std::string select_sql(const TableSpec &t) { return select_list(t) + t.from_sql; }

std::string select_by_keys_sql(const TableSpec &t, const std::string &condition)
{
	// the root: its owner filter and its keys are on the same table
	if (t.hops.empty())
		return select_sql(t) + " AND " + condition;
	// OFFSET 0 keeps the subquery apart: the rows are found by their keys,
	// then joined up (a planner that misjudges an owner's share of the
	// table would otherwise scan all of its rows and filter by the keys).
	// It reads only what is replicated and the path's columns, as a full
	// sync does: an excluded column may be one the author cannot read.
	std::vector<std::string> names;
	auto add = [&names](const std::string &n) {
		if (std::find(names.begin(), names.end(), n) == names.end())
			names.push_back(n);
	};
	for (const auto &c : t.columns)
		add(c.name);
	for (const auto &k : t.primary_key)
		add(k);
	for (const auto &[child, parent] : t.hops.front().columns)
		add(child);
	std::string inner;
	for (const auto &n : names)
		inner += (inner.empty() ? "t0." : ", t0.") + pg_quote_ident(n);
	return select_list(t) + " FROM (SELECT " + inner + " FROM " + t.source + " WHERE " + condition + " OFFSET 0) t0" +
		   t.joins + " WHERE " + t.owner_filter;
}

} // namespace sunsync::engine
