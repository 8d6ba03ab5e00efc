// The equality operator of a type, spelled so that no search_path changes
// it: OPERATOR(schema.=), from the type's default btree (or hash) opclass.
#pragma once

#include "pg/postgres.hpp"

#include <optional>
#include <string>

namespace sunsync::pg {

// nullopt when the type has no default equality.
std::optional<std::string> qualified_equality(Oid type);

} // namespace sunsync::pg
