// What a run creates and checks on the target (DESIGN.md behaviour 3).
#pragma once

#include "engine/source_scope.hpp"
#include "remote/connection.hpp"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sunsync::engine {

// What the target has of a scope's objects, read in one catalog query
// before the data transaction: every later decision of the run about the
// target's schema is taken from it, and its statements are queued (see
// remote::Connection), so that checking the target costs one round trip.
struct TargetCatalog {
	using Name = std::pair<std::string, std::string>; // schema, name
	struct Column {
		std::string type; // format_type
		bool generated = false;
		bool required = false; // NOT NULL without a default
	};
	struct Table {
		std::map<std::string, Column> columns;
		std::vector<std::vector<std::string>> indexes; // each index's columns, in order ("" for an expression)
	};
	struct ForeignKey {
		std::string table; // conrelid, as regclass text
		std::string name;
		std::optional<Name> scope_table; // when it is on a table of the scope
		bool managed = false;    // marked as sunsync's
		bool deferrable = false;
	};
	std::map<Name, char> types;                             // typtype
	std::map<Name, std::vector<std::string>> enum_labels;   // in order
	std::map<Name, Table> tables;
	std::vector<ForeignKey> foreign_keys; // on the scope's tables, or to them
	bool record_exists = false;
};

// record_table: the qualified name of the target's record (target_record.hpp).
// in_transaction: the connection is inside a transaction block, whose
// statements after this one must not be planned as this one is.
TargetCatalog inspect_target(remote::Connection &conn, const Scope &scope, const std::string &record_table,
							 bool in_transaction = false);

// Outside the data transaction: labels missing from existing enum types (a
// label added in a transaction cannot be used before it commits).  Sent at
// once, one statement a message.
void add_missing_enum_labels(remote::Connection &conn, const Scope &scope, const TargetCatalog &catalog);

// Inside the data transaction: schemas, enum types, tables with their
// columns and primary keys; added source columns; schema mismatch errors.
// A column that the target table has as a generated column is left out of
// the scope (it is never COPYed into; the target computes it).  Returns
// whether it created a table or added a column to one: the rows there are
// then not what the source has, and only a full sync makes them so.
bool ensure_tables(remote::Connection &conn, Scope &scope, const TargetCatalog &catalog);

// An index on each table's first-hop columns to a replicated parent (for
// deleting what hangs from a row that left), unless one exists.
void ensure_path_indexes(remote::Connection &conn, const Scope &scope, const TargetCatalog &catalog);

// Inside the data transaction, around the load (as pg_restore does): the
// foreign keys sunsync made are dropped before the tables are emptied, and
// the path's first hop of each table is added again, deferrable, once they
// are full, so that each is validated by one query instead of one check per
// row.  Foreign keys that 0.1 created off the path are not added back.
// Readers never see the tables without them: it is all one transaction.
void drop_foreign_keys(remote::Connection &conn, const Scope &scope, const TargetCatalog &catalog);
void add_foreign_keys(remote::Connection &conn, const Scope &scope);

// For an incremental run, which keeps the path keys: drops the other keys
// sunsync owns (0.1's keys off the path, its keys on tables no longer
// replicated).
void drop_stale_foreign_keys(remote::Connection &conn, const Scope &scope, const TargetCatalog &catalog);

std::string target_table(const TableSpec &t);

// FROM/WHERE joining the target's copy of d (alias x0) up to its ancestor
// reached after hop `last` (alias x<last+1>).
std::string target_chain(const Scope &scope, const TableSpec &d, size_t last);

} // namespace sunsync::engine
