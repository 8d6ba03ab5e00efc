// What the scope functions read from PostgreSQL's catalogs and from
// sunsync's own: tables, their keys and columns, foreign keys, registrations.
#pragma once

#include "pg/spi.hpp"
#include "scope/path.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sunsync::scope {

struct TableInfo {
	Oid oid = InvalidOid;
	std::string name; // regclass text
	char relkind = 0;
	std::vector<std::string> primary_key;
	std::map<std::string, Oid> column_types; // live columns
	bool owned_by_caller = false;            // or the caller is superuser
};

struct Registration {
	Oid oid = InvalidOid;
	std::string name;
	std::optional<std::string> via;
};

struct Root {
	Oid oid = InvalidOid;
	std::string name;
	std::string owner_expr;
};

// Names are regclass text under the caller's search_path: every name used
// as a key in one call must be rendered the same way.
std::string relation_name(pg::Spi &spi, Oid relid);
TableInfo load_table(pg::Spi &spi, Oid relid);
// Every foreign key of the database, by child table (regclass text).
std::map<std::string, std::vector<Link>> load_foreign_keys(pg::Spi &spi);
std::optional<Root> load_root(pg::Spi &spi);
std::vector<Registration> load_registrations(pg::Spi &spi);
// Whether cols of relid are exactly the key columns of some unique index.
bool has_unique_key(pg::Spi &spi, Oid relid, const std::vector<std::string> &cols);

// Refuses, with an error saying why, a table sunsync cannot replicate:
// not a table, no primary key, not owned by the caller.
void check_replicable(const TableInfo &t);

} // namespace sunsync::scope
