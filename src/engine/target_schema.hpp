// What a run creates and checks on the target (DESIGN.md behaviour 3).
#pragma once

#include "engine/source_scope.hpp"
#include "remote/connection.hpp"

namespace sunsync::engine {

// Outside the data transaction: labels missing from existing enum types (a
// label added in a transaction cannot be used before it commits).
void add_missing_enum_labels(remote::Connection &conn, const Scope &scope);

// Inside the data transaction: schemas, enum types, tables with their
// columns and primary keys; added source columns; schema mismatch errors.
// A column that the target table has as a generated column is left out of
// the scope (it is never COPYed into; the target computes it).  Returns
// whether it created a table or added a column to one: the rows there are
// then not what the source has, and only a full sync makes them so.
bool ensure_tables(remote::Connection &conn, Scope &scope);

// An index on each table's first-hop columns to a replicated parent (for
// deleting what hangs from a row that left), unless one exists.
void ensure_path_indexes(remote::Connection &conn, const Scope &scope);

// Inside the data transaction, around the load (as pg_restore does): the
// foreign keys sunsync made are dropped before the tables are emptied, and
// the path's first hop of each table is added again, deferrable, once they
// are full, so that each is validated by one query instead of one check per
// row.  Foreign keys that 0.1 created off the path are not added back.
// Readers never see the tables without them: it is all one transaction.
void drop_foreign_keys(remote::Connection &conn, const Scope &scope);
void add_foreign_keys(remote::Connection &conn, const Scope &scope);

// For an incremental run, which keeps the path keys: drops the other keys
// sunsync owns (0.1's keys off the path, its keys on tables no longer
// replicated), in one catalog query.
void drop_stale_foreign_keys(remote::Connection &conn, const Scope &scope);

std::string target_table(const TableSpec &t);

} // namespace sunsync::engine
