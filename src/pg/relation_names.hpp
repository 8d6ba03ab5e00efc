// Names of relations and types that may have been dropped since their OID
// was read: get_rel_name() and friends return NULL then, which must never
// reach a std::string.  Call inside a guard (they can ereport).
#pragma once

#include "pg/postgres.hpp"

namespace sunsync::pg {

struct QualifiedName {
	const char *schema; // palloc'd in the current memory context
	const char *name;
};

// ERROR 42P01 "relation with OID n does not exist" when it is gone.
QualifiedName relation_name_or_error(Oid relid);
// ERROR 3F000 "schema with OID n does not exist" when it is gone.
const char *namespace_name_or_error(Oid nspid);

} // namespace sunsync::pg
