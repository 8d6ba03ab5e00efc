#include "pg/spi.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "access/xact.h"
#include "utils/syscache.h"
}

#include <exception>

namespace sunsync::pg {

Oid oid_of(const Value &v)
{
	if (!v)
		raise(sqlstate::internal_error, "internal query returned a NULL OID");
	return guard([&] { return DatumGetObjectId(DirectFunctionCall1(oidin, CStringGetDatum(v->c_str()))); });
}

const Value &Result::scalar() const
{
	if (rows.empty() || rows[0].empty())
		raise(sqlstate::internal_error, "internal query returned no row");
	return rows[0][0];
}

Spi::Spi(Snapshot snapshot) : uncaught_at_start_(std::uncaught_exceptions()), latest_(snapshot == latest)
{
	bool latest = latest_;
	guard([latest] {
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (latest) {
			CommandCounterIncrement();
			PushActiveSnapshot(GetLatestSnapshot());
		}
	});
}

Spi::~Spi()
{
	// While an error unwinds, the transaction abort that follows cleans SPI up;
	// calling into SPI then could raise a second error.
	if (std::uncaught_exceptions() > uncaught_at_start_)
		return;
	try {
		bool latest = latest_;
		guard([latest] {
			if (latest)
				PopActiveSnapshot();
			SPI_finish();
		});
	} catch (...) {
	}
}

Result Spi::run(const char *sql, const std::vector<Param> &params)
{
	Result result;
	const int nargs = static_cast<int>(params.size());
	guard([&] {
		Oid *types = nargs ? static_cast<Oid *>(palloc(sizeof(Oid) * nargs)) : nullptr;
		Datum *values = nargs ? static_cast<Datum *>(palloc(sizeof(Datum) * nargs)) : nullptr;
		char *nulls = static_cast<char *>(palloc(nargs + 1));
		for (int i = 0; i < nargs; i++) {
			const Value &v = params[i].value();
			if (params[i].array()) {
				const auto &items = params[i].items();
				int n = static_cast<int>(items.size());
				Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * (n + 1)));
				for (int k = 0; k < n; k++)
					elems[k] = PointerGetDatum(
						cstring_to_text_with_len(items[k].data(), static_cast<int>(items[k].size())));
				types[i] = TEXTARRAYOID;
				nulls[i] = ' ';
				values[i] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
				continue;
			}
			types[i] = params[i].bytea() ? BYTEAOID : TEXTOID;
			nulls[i] = v ? ' ' : 'n';
			// text and bytea are both varlena: the same bytes with a header
			values[i] = v ? PointerGetDatum(cstring_to_text_with_len(v->data(), static_cast<int>(v->size())))
						  : (Datum) 0;
		}
		nulls[nargs] = '\0';
		// read-only statements run in the active snapshot, which is the
		// latest one when asked
		int rc = SPI_execute_with_args(sql, nargs, types, values, nulls, latest_, 0);
		if (rc < 0)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
		result.processed = SPI_processed;
		if (SPI_tuptable == nullptr)
			return;
		TupleDesc desc = SPI_tuptable->tupdesc;
		for (uint64 r = 0; r < SPI_processed; r++) {
			result.rows.emplace_back();
			for (int c = 1; c <= desc->natts; c++) {
				if (SPI_gettypeid(desc, c) == BYTEAOID) {
					bool isnull = false;
					Datum d = SPI_getbinval(SPI_tuptable->vals[r], desc, c, &isnull);
					if (isnull) {
						result.rows.back().emplace_back(std::nullopt);
						continue;
					}
					bytea *b = DatumGetByteaPP(d);
					result.rows.back().emplace_back(std::string(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b)));
					continue;
				}
				char *text = SPI_getvalue(SPI_tuptable->vals[r], desc, c);
				if (text)
					result.rows.back().emplace_back(std::string(text));
				else
					result.rows.back().emplace_back(std::nullopt);
			}
		}
		SPI_freetuptable(SPI_tuptable);
	});
	return result;
}

namespace {

Oid sunsync_schema_owner()
{
	return guard([] {
		Oid nsp = get_namespace_oid("sunsync", false);
		HeapTuple tuple = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for namespace %u", nsp);
		Oid nspowner = ((Form_pg_namespace) GETSTRUCT(tuple))->nspowner;
		ReleaseSysCache(tuple);
		return nspowner;
	});
}

} // namespace

CatalogOwnerScope::CatalogOwnerScope()
	: RoleScope(sunsync_schema_owner(), SECURITY_LOCAL_USERID_CHANGE, "pg_catalog, pg_temp")
{
}

} // namespace sunsync::pg
