// sunsync_verify(config_id) RETURNS TABLE(table_name, source_rows,
// target_rows, missing, extra, differing, ok, pending): engine/verify.hpp.
#include "engine/verify.hpp"
#include "pg/args.hpp"
#include "pg/guard.hpp"

extern "C" {
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"
}

using namespace sunsync;

SUNSYNC_SQL_FUNCTION(sunsync_verify)
{
	auto id = pg::int64_arg(fcinfo, 0);
	if (!id)
		pg::raise(sqlstate::invalid_parameter_value, "config_id must not be NULL");
	std::vector<engine::TableVerdict> verdicts = engine::verify_config(*id);
	pg::guard([&] {
		InitMaterializedSRF(fcinfo, 0);
		auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
		for (const auto &v : verdicts) {
			const engine::VerifyCounts &c = v.counts;
			Datum values[8] = {CStringGetTextDatum(v.table.c_str()),
							   Int64GetDatum(c.source_rows),
							   Int64GetDatum(c.target_rows),
							   Int64GetDatum(c.missing),
							   Int64GetDatum(c.extra),
							   Int64GetDatum(c.differing),
							   BoolGetDatum(c.ok()),
							   Int64GetDatum(c.pending)};
			bool nulls[8] = {};
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	});
	return (Datum) 0;
}
