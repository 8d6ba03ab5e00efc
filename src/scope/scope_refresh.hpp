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

// The stored paths hold OIDs, which pg_restore does not keep: when the scope
// was restored from a dump of another database (sunsync.root.source_id is
// not this database's sunsync.source.id), derive every path again from what
// the dump did keep (the registered tables, their via, the root).  Returns
// whether it did.  Called before anything reads the stored paths.
bool adopt_restored_scope(pg::Spi &spi);
bool is_restored_scope(pg::Spi &spi);

} // namespace sunsync::scope
