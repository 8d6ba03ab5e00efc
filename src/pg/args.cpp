#include "pg/args.hpp"

extern "C" {
#include "catalog/pg_type_d.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

namespace sunsync::pg {

std::optional<std::string> text_arg(FunctionCallInfo fcinfo, int n)
{
	if (PG_ARGISNULL(n))
		return std::nullopt;
	std::string out;
	guard([&] {
		char *s = text_to_cstring(PG_GETARG_TEXT_PP(n));
		out = s;
		pfree(s);
	});
	return out;
}

std::optional<bool> bool_arg(FunctionCallInfo fcinfo, int n)
{
	if (PG_ARGISNULL(n))
		return std::nullopt;
	return PG_GETARG_BOOL(n);
}

std::optional<int64> int64_arg(FunctionCallInfo fcinfo, int n)
{
	if (PG_ARGISNULL(n))
		return std::nullopt;
	return PG_GETARG_INT64(n);
}

Oid oid_arg(FunctionCallInfo fcinfo, int n) { return PG_GETARG_OID(n); }

std::optional<std::vector<std::string>> text_array_arg(FunctionCallInfo fcinfo, int n,
													   const char *name)
{
	if (PG_ARGISNULL(n))
		return std::nullopt;
	std::vector<std::string> out;
	bool has_null = false;
	guard([&] {
		ArrayType *array = PG_GETARG_ARRAYTYPE_P(n);
		Datum *elems;
		bool *nulls;
		int count;
		deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &count);
		for (int i = 0; i < count; i++) {
			if (nulls[i]) {
				has_null = true;
				continue;
			}
			char *s = TextDatumGetCString(elems[i]);
			out.emplace_back(s);
			pfree(s);
		}
	});
	if (has_null)
		raise(sqlstate::invalid_parameter_value, std::string(name) + " must not contain NULL");
	return out;
}

std::optional<std::string> any_arg_as_text(FunctionCallInfo fcinfo, int n)
{
	if (PG_ARGISNULL(n))
		return std::nullopt;
	std::string out;
	guard([&] {
		Oid type = get_fn_expr_argtype(fcinfo->flinfo, n);
		if (!OidIsValid(type))
			elog(ERROR, "could not determine the type of argument %d", n + 1);
		Oid output;
		bool varlena;
		getTypeOutputInfo(type, &output, &varlena);
		char *s = OidOutputFunctionCall(output, PG_GETARG_DATUM(n));
		out = s;
		pfree(s);
	});
	return out;
}

Datum text_datum(const std::string &s)
{
	return guard([&] { return PointerGetDatum(cstring_to_text_with_len(s.data(), s.size())); });
}

} // namespace sunsync::pg
