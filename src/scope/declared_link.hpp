// sunsync_add_table's via: a foreign-key constraint name, or a declared link
// written "col -> table(col)" / "(a, b) -> schema.table(x, y)".
#pragma once

#include "pg/spi.hpp"
#include "scope/path.hpp"
#include "scope/scope_catalog.hpp"

#include <map>
#include <string>
#include <vector>

namespace sunsync::scope {

bool is_declared_link(const std::string &via);

// The first hop that via names for table t.  fks are the foreign keys of
// the database by child table.
Link resolve_via(pg::Spi &spi, const TableInfo &t, const std::string &via,
				 const std::map<std::string, std::vector<Link>> &fks);

} // namespace sunsync::scope
