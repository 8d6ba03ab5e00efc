// sunsync_add_table's via: a foreign-key constraint name, or a declared link
// written "col -> table(col)" / "(a, b) -> schema.table(x, y)".
#pragma once

#include "pg/spi.hpp"
#include "scope/path.hpp"
#include "scope/scope_catalog.hpp"
#include "scope/via_syntax.hpp"

#include <map>
#include <string>
#include <vector>

namespace sunsync::scope {

// The first hop that via names for table t.  fks are the foreign keys of
// the database by child table.
Link resolve_via(pg::Spi &spi, const TableInfo &t, const std::string &via,
				 const std::map<std::string, std::vector<Link>> &fks);

// How sunsync stores a via: a constraint name as it is; a declared link as
// "a, b -> schema.table(x, y)" with every name quoted where needed and the
// table schema-qualified, so that no search_path changes what it means.
std::string canonical_via(const Link &link);

} // namespace sunsync::scope
