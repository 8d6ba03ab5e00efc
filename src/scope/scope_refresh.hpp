// Re-deriving the scope after a change (sunsync_add_table, sunsync_remove_table,
// sunsync_set_root, and DDL that renames what the scope names).
#pragma once

#include "pg/spi.hpp"
#include "scope/scope_catalog.hpp"

namespace sunsync::scope {

// Re-derives the path and position of every registered table from its via
// and the current foreign keys, and stores them.  `changed` names the table
// whose change caused it, for messages (empty after DDL).
void refresh_scope(pg::Spi &spi, const Root &root, const std::string &changed);

} // namespace sunsync::scope
