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
void ensure_tables(remote::Connection &conn, const Scope &scope);

// Inside the data transaction, once the tables are empty: the foreign keys
// among replicated tables, deferrable, where they are missing.
void ensure_foreign_keys(remote::Connection &conn, const Scope &scope);

std::string target_table(const TableSpec &t);

} // namespace sunsync::engine
