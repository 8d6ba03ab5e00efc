// What a run copies, read from the source catalogs inside the run's snapshot:
// each registered table with its columns, key, scoped SELECT and the one
// foreign key the target gets (the first hop of its path to the root).
#pragma once

#include "engine/type_map.hpp"
#include "pg/spi.hpp"
#include "scope/owner_expr.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace sunsync::engine {

struct ColumnSpec {
	std::string name;
	std::string type_sql; // type as written on the target (DDL, comparison)
	bool not_null = false;
	bool binary_ok = true;
	Oid type = InvalidOid; // on the source
	int32 typmod = -1;
};

// One hop of a table's path: child columns (of the table, or of the parent
// before) to the parent's columns.
struct PathHop {
	Oid parent = InvalidOid;
	bool text_compare = false;
	std::vector<std::pair<std::string, std::string>> columns; // child, parent
};

struct ForeignKeySpec {
	std::string name;
	std::vector<std::string> columns;
	Oid parent = InvalidOid;
	std::vector<std::string> parent_columns;
};

struct TableSpec {
	Oid oid = InvalidOid;
	std::string display;       // regclass text, for messages and progress
	std::string target_schema; // where it lands
	std::string target_name;
	std::vector<ColumnSpec> columns;
	std::vector<std::string> primary_key;
	// The first hop of the table's path when it is a foreign key to a
	// registered parent's primary key: such a parent row always belongs to
	// the same owner, so the constraint always holds on the target.  Other
	// foreign keys are not created (a row may refer to another owner's row).
	std::optional<ForeignKeySpec> path_key;
	// Every foreign key of the source table, by name: on the target, those
	// names that sunsync created (deferrable) are its own to drop.
	std::vector<std::string> source_foreign_keys;
	std::string from_sql; // " FROM ... JOIN ... WHERE <owner filter>", over alias t0
	std::string source;       // "ONLY schema.table t0"
	std::string joins;        // " JOIN ... ON ..." up to the root
	scope::OwnerExpr owner_of_row; // owner_expr over the root's alias
	std::string owner_filter; // over the root's alias
	bool binary = true;
	// the path: hops[k] joins alias t<k> to t<k+1>; the root is t<hops.size()>
	std::vector<PathHop> hops;
	// for each registered table on the path above (by OID): the hop after
	// which it is reached (alias t<n+1>), and whether the target can join
	// up to it too (every table between is replicated, every hop column sent)
	struct Ancestor {
		size_t hop;
		bool reachable_on_target;
	};
	std::map<Oid, Ancestor> ancestors;
	std::vector<std::string> excluded;

	const ColumnSpec *column(const std::string &name) const;
};

struct Scope {
	Oid root = InvalidOid;
	std::string target_schema; // the configuration's, or empty
	std::vector<TableSpec> tables; // parents first
	std::map<Oid, EnumSpec> enums;
	std::vector<TypeSpec> types; // composite and range types, dependencies first
	// what it was read from besides the tables and their paths: the
	// user-defined types its columns use, and the relations of those that
	// are composite (for the run worker's cache, engine/scope_cache.hpp)
	std::set<Oid> user_types, type_relations;
};

// target_schema: the config's, or empty to keep each source schema.
Scope load_scope(pg::Spi &spi, const std::string &owner, const std::string &target_schema);

// The same in steps: everything but the owner's filter, then the filter (a
// scope read once serves the runs of every owner); and a scope read for
// no target schema (each table in its source schema) made that of a
// target schema (from the syscache alone, no query: a scope read once
// serves every target schema).
Scope load_scope_for_any_owner(pg::Spi &spi, const std::string &target_schema);
void filter_by_owner(Scope &scope, const std::string &owner);
Scope for_target_schema(const Scope &scope, const std::string &target_schema);

// The owner's rows of the table, its columns in order (those the target
// takes: ensure_tables leaves out columns generated on the target).
std::string select_sql(const TableSpec &t);

// The owner's rows of the table among those `condition` (over t0) picks,
// found by the condition first.
std::string select_by_keys_sql(const TableSpec &t, const std::string &condition);

// The table spec of a registered table, or nullptr.
const TableSpec *find_table(const Scope &scope, Oid oid);

} // namespace sunsync::engine
