// NOTICEs that tell the DBA which index makes a push read only its owner's
// rows: the expression index for owner_expr on the root, and an index on
// each hop's columns on the way to it.  Advice only; nothing is created.
#pragma once

#include "pg/spi.hpp"

namespace sunsync::scope {

// After sunsync_set_root: stored_expr is owner_expr as sunsync stores it.
void advise_owner_index(pg::Spi &spi, Oid root, const std::string &stored_expr);

// After sunsync_add_table: every hop of the table's stored path.
void advise_path_indexes(pg::Spi &spi, Oid table);

} // namespace sunsync::scope
