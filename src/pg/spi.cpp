#include "pg/spi.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "access/xact.h"
#include "utils/syscache.h"
}

#include <cctype>
#include <cstring>
#include <exception>
#include <list>
#include <map>
#include <string>

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

Spi::Spi(Snapshot snapshot)
	: uncaught_at_start_(std::uncaught_exceptions()), latest_(snapshot == latest), read_only_(snapshot != transaction)
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

namespace {

// Plans of the statements this process runs again and again (every run
// reads its configuration, its queue, its scope the same way), parsed and
// planned once and kept (SPI_keepplan), one per statement text, parameter
// types and current role (parse analysis checks the role's privileges).
// PostgreSQL's plan cache replans one after DDL on the relations and
// functions it uses, or when search_path or row security differs; it does
// not follow a type dropped and made again under the same name, so a
// statement naming a type in its text runs through Spi::run_once.  Only
// plain DML and queries are kept; beyond max_kept_plans the least recently
// used go, but never while a statement is executing (a kept plan may be
// running further up this stack: sunsync.pending inside a query).
constexpr size_t max_kept_plans = 256;

struct KeptPlan {
	SPIPlanPtr plan;
	std::list<std::string>::iterator use;
};
std::map<std::string, KeptPlan> kept_plans;
std::list<std::string> plan_use; // most recent first
int executing = 0;               // Spi::run calls in progress on this stack

struct Executing {
	Executing() { ++executing; }
	~Executing() { --executing; }
};

bool worth_keeping(const char *sql)
{
	while (std::isspace(static_cast<unsigned char>(*sql)))
		sql++;
	for (const char *verb : {"SELECT ", "WITH ", "INSERT ", "UPDATE ", "DELETE "})
		if (std::strncmp(sql, verb, std::strlen(verb)) == 0)
			return true;
	return false;
}

// The kept plan for sql with these parameter types, prepared now if need
// be.  (The map's work is plain C++, outside any guard; only the SPI calls
// are guarded.)
SPIPlanPtr kept_plan(const char *sql, std::vector<Oid> &types, bool generic)
{
	std::string key(sql);
	if (generic)
		key += "\x03";
	for (Oid t : types)
		key += "\x01" + std::to_string(t);
	key += "\x02" + std::to_string(GetUserId());
	auto it = kept_plans.find(key);
	if (it != kept_plans.end()) {
		plan_use.splice(plan_use.begin(), plan_use, it->second.use);
		return it->second.plan;
	}
	// room first (plain C++ that may throw before a plan exists to leak)
	auto inserted = kept_plans.emplace(key, KeptPlan{nullptr, plan_use.end()}).first;
	plan_use.push_front(key);
	inserted->second.use = plan_use.begin();
	try {
		inserted->second.plan = guard([&] {
			SPIPlanPtr p = SPI_prepare_cursor(sql, static_cast<int>(types.size()), types.data(),
											  CURSOR_OPT_PARALLEL_OK | (generic ? CURSOR_OPT_GENERIC_PLAN : 0));
			if (p == nullptr)
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
			if (SPI_keepplan(p) != 0)
				elog(ERROR, "SPI_keepplan failed");
			return p;
		});
	} catch (...) {
		plan_use.erase(inserted->second.use);
		kept_plans.erase(inserted);
		throw;
	}
	SPIPlanPtr plan = inserted->second.plan;
	while (executing == 0 && kept_plans.size() > max_kept_plans) {
		auto oldest = kept_plans.find(plan_use.back());
		SPIPlanPtr old = oldest->second.plan;
		kept_plans.erase(oldest);
		plan_use.pop_back();
		guard([old] { SPI_freeplan(old); });
	}
	return plan;
}

} // namespace

Result Spi::run(const char *sql, const std::vector<Param> &params) { return execute(sql, params, true); }

Result Spi::run_once(const char *sql, const std::vector<Param> &params) { return execute(sql, params, false); }

Result Spi::run_generic(const char *sql, const std::vector<Param> &params) { return execute(sql, params, true, true); }

Result Spi::execute(const char *sql, const std::vector<Param> &params, bool keep, bool generic)
{
	Result result;
	const int nargs = static_cast<int>(params.size());
	std::vector<Oid> param_types;
	for (const auto &p : params)
		param_types.push_back(p.array() ? TEXTARRAYOID : p.bytea() ? BYTEAOID : TEXTOID);
	SPIPlanPtr plan = keep && worth_keeping(sql) ? kept_plan(sql, param_types, generic) : nullptr;
	Executing executing_now;
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
		// A generic plan is kept for the life of the process and remade
		// only on invalidation; the queue tables are never analyzed, so a
		// plan made while they were small would scan them whole as they
		// grow.  It is planned (and remade) without sequential scans, and
		// without JIT (a table with no index to use is scanned all the
		// same, at a cost beyond jit_above_cost).
		int nest = -1;
		if (generic) {
			nest = NewGUCNestLevel();
			for (const char *name : {"enable_seqscan", "jit"})
				(void) set_config_option(name, "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		}
		// (read-only statements run in the active snapshot, which is the
		// latest one when asked)
		int rc = plan ? SPI_execute_plan(plan, values, nulls, read_only_, 0)
					  : SPI_execute_with_args(sql, nargs, types, values, nulls, read_only_, 0);
		if (generic)
			AtEOXact_GUC(true, nest);
		if (rc < 0)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
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
