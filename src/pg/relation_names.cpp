#include "pg/relation_names.hpp"

extern "C" {
#include "utils/lsyscache.h"
}

namespace sunsync::pg {

const char *namespace_name_or_error(Oid nspid)
{
	const char *name = get_namespace_name(nspid);
	if (name == nullptr)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_SCHEMA), errmsg("schema with OID %u does not exist", nspid)));
	return name;
}

QualifiedName relation_name_or_error(Oid relid)
{
	const char *name = get_rel_name(relid);
	Oid nspid = get_rel_namespace(relid);
	if (name == nullptr || !OidIsValid(nspid))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("relation with OID %u does not exist", relid),
						errhint("It was dropped after sunsync read its OID.")));
	return {namespace_name_or_error(nspid), name};
}

} // namespace sunsync::pg
