#include "engine/key_params.hpp"

#include "pg/guard.hpp"
#include "pg/operators.hpp"

extern "C" {
#include "lib/stringinfo.h"
#include "port/pg_bswap.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

#include <cstring>

namespace sunsync::engine {

namespace {

std::string ident(const std::string &name)
{
	return pg::guard([&] { return std::string(quote_identifier(name.c_str())); });
}

std::string equality(Oid type)
{
	auto op = pg::qualified_equality(type);
	if (!op)
		throw Error(sqlstate::feature_not_supported, "the primary key has a type without an equality operator");
	return *op;
}

} // namespace

std::vector<KeyColumn> key_columns(const TableSpec &t)
{
	std::vector<KeyColumn> out;
	for (const auto &k : t.primary_key) {
		const ColumnSpec *c = t.column(k);
		if (c == nullptr)
			throw Error(sqlstate::invalid_object_definition, "primary key column " + k + " of " + t.display +
																 " is not replicated");
		out.push_back({k, c->type});
	}
	return out;
}

ParamListInfo key_params(const std::vector<KeyColumn> &cols, const std::vector<std::string> &keys)
{
	const int ncols = static_cast<int>(cols.size());
	const int n = static_cast<int>(keys.size());
	ParamListInfo params = nullptr;
	pg::guard([&] {
		params = makeParamList(ncols);
		for (int c = 0; c < ncols; c++) {
			Oid recv, ioparam;
			getTypeBinaryInputInfo(cols[c].type, &recv, &ioparam);
			FmgrInfo fn;
			fmgr_info(recv, &fn);
			int16 typlen;
			bool byval;
			char align;
			get_typlenbyvalalign(cols[c].type, &typlen, &byval, &align);
			Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * std::max(n, 1)));
			StringInfoData field;
			initStringInfo(&field);
			for (int k = 0; k < n; k++) {
				const char *p = keys[k].data();
				size_t left = keys[k].size();
				// skip to field c of this key
				uint32 len = 0;
				for (int f = 0; f <= c; f++) {
					if (left < 4)
						ereport(ERROR, (errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
										errmsg("sunsync: a queued key is too short")));
					memcpy(&len, p, 4);
					len = pg_ntoh32(len);
					p += 4;
					left -= 4;
					if (len == static_cast<uint32>(-1) || len > left)
						ereport(ERROR, (errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
										errmsg("sunsync: a queued key is malformed")));
					if (f < c) {
						p += len;
						left -= len;
					}
				}
				resetStringInfo(&field);
				appendBinaryStringInfo(&field, p, static_cast<int>(len)); // NUL-terminated, as recv wants
				elems[k] = ReceiveFunctionCall(&fn, &field, ioparam, -1);
				if (field.cursor != field.len)
					ereport(ERROR, (errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
									errmsg("sunsync: a queued key does not decode as type %s",
										   format_type_be(cols[c].type))));
			}
			Oid array_type = get_array_type(cols[c].type);
			if (!OidIsValid(array_type))
				ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
								errmsg("sunsync: type %s has no array type", format_type_be(cols[c].type))));
			ArrayType *arr = construct_array(elems, n, cols[c].type, typlen, byval, align);
			params->params[c].value = PointerGetDatum(arr);
			params->params[c].isnull = false;
			params->params[c].pflags = PARAM_FLAG_CONST;
			params->params[c].ptype = array_type;
		}
	});
	return params;
}

std::string key_condition(const std::string &alias, const std::vector<KeyColumn> &cols, int first_param)
{
	if (cols.size() == 1)
		return alias + "." + ident(cols[0].name) + " " + equality(cols[0].type) + " ANY ($" +
			   std::to_string(first_param) + ")";
	std::string arrays, names, conds;
	for (size_t i = 0; i < cols.size(); i++) {
		std::string k = "k" + std::to_string(i + 1);
		arrays += (i ? ", pg_catalog.unnest($" : "pg_catalog.unnest($") + std::to_string(first_param + static_cast<int>(i)) + ")";
		names += (i ? ", " : "") + k;
		conds += (i ? " AND " : "") + alias + "." + ident(cols[i].name) + " " + equality(cols[i].type) + " k." + k;
	}
	// ROWS FROM: unnest(a, b) is that only when its name is not qualified
	return "EXISTS (SELECT FROM ROWS FROM (" + arrays + ") k(" + names + ") WHERE " + conds + ")";
}

std::string keys_select(const std::vector<KeyColumn> &cols)
{
	std::string arrays, names;
	for (size_t i = 0; i < cols.size(); i++) {
		arrays += (i ? ", pg_catalog.unnest($" : "pg_catalog.unnest($") + std::to_string(i + 1) + ")";
		names += (i ? ", k" : "k") + std::to_string(i + 1);
	}
	return "SELECT " + names + " FROM ROWS FROM (" + arrays + ") k(" + names + ")";
}

} // namespace sunsync::engine
