#include "pg/operators.hpp"

#include "pg/guard.hpp"
#include "pg/relation_names.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_operator.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
}

namespace sunsync::pg {

std::optional<std::string> qualified_equality(Oid type)
{
	const char *nsp = nullptr, *name = nullptr;
	guard([&] {
		TypeCacheEntry *tc = lookup_type_cache(type, TYPECACHE_EQ_OPR);
		if (!OidIsValid(tc->eq_opr))
			return;
		HeapTuple tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(tc->eq_opr));
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for operator %u", tc->eq_opr);
		auto *form = reinterpret_cast<Form_pg_operator>(GETSTRUCT(tup));
		nsp = quote_identifier(namespace_name_or_error(form->oprnamespace));
		name = pstrdup(NameStr(form->oprname));
		ReleaseSysCache(tup);
	});
	if (nsp == nullptr)
		return std::nullopt;
	return std::string("OPERATOR(") + nsp + "." + name + ")";
}

} // namespace sunsync::pg
