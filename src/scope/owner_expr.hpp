// The owner expression of the root table (sunsync_set_root's owner_expr).
#pragma once

#include "pg/postgres.hpp"

#include <string>

namespace sunsync::scope {

// Checks that expr is one non-volatile scalar expression over the columns of
// the root, by parsing, analysing and planning
//   SELECT (expr)::text FROM ONLY root
// Returns the expression deparsed with every column qualified by `alias`
// (PostgreSQL's ruleutils), ready to be used in a query over root AS alias.
std::string check_owner_expr(Oid root, const std::string &expr, const std::string &alias);

} // namespace sunsync::scope
