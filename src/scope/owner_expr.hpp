// The owner expression of the root table (sunsync_set_root's owner_expr).
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "nodes/primnodes.h"
}

#include <string>

namespace sunsync::scope {

// Checks that expr is one non-volatile scalar expression over the columns of
// the root, by parsing, analysing and planning
//   SELECT (expr) FROM ONLY root
// Returns the expression deparsed with every column qualified by `alias`
// (PostgreSQL's ruleutils), ready to be used in a query over root AS alias,
// and its type.
struct OwnerExpr {
	std::string sql;
	Oid type = InvalidOid;
	Oid collation = InvalidOid;
};
OwnerExpr check_owner_expr(Oid root, const std::string &expr, const std::string &alias);

// For the capture triggers: owner_expr (as stored, already checked)
// analysed and planned against the root, allocated in the current memory
// context, its Vars referring to the root's columns (varno 1).  Call as
// the role that set the root.
struct PlannedOwnerExpr {
	Expr *expr = nullptr;
	// PlanInvalItems of what planning depended on: the user functions it
	// inlined (a SQL function's body) as well as those it calls
	List *dependencies = nullptr;
	Oid type = InvalidOid;
	Oid collation = InvalidOid;
};
PlannedOwnerExpr planned_owner_expr(Oid root, const std::string &expr);

// The owner filter of a run, compared in the expression's own type so that
// an index on the expression serves it:
//   (expr over alias) OPERATOR(schema.=) 'owner'::schema.type
// (by text when the type has no default equality operator).
std::string owner_filter(const OwnerExpr &e, const std::string &owner);

// The form sunsync stores: expr analysed (under the caller's search_path)
// and printed back by ruleutils with every function, operator and type
// outside pg_catalog schema-qualified, so that no later search_path changes
// what it means.  With rename_from, a column of the root renamed by ALTER
// TABLE ... RENAME COLUMN is renamed in the expression first.  Call after
// check_owner_expr has accepted expr (or its unrenamed form).
std::string canonical_owner_expr(Oid root, const std::string &expr, const std::string &rename_from = {},
								 const std::string &rename_to = {});

} // namespace sunsync::scope
