#include "engine/full_sync_reason.hpp"

#include "pg/wal_position.hpp"
#include "engine/scope_cache.hpp"

namespace sunsync::engine {

// Read as of now, not in the run's snapshot: a TRUNCATE of the queue that
// committed after the snapshot was taken (and before the run's locks) is
// not MVCC-safe, and only its mark tells.
bool lost_changes_now(int64 config_id)
{
	pg::Spi latest(pg::Spi::latest);
	auto r = latest.run("SELECT lost_horizon IS NOT NULL FROM sunsync.configs WHERE id = $1::bigint",
						{std::to_string(config_id)});
	return !r.empty() && *r.rows[0][0] == "t";
}

std::string why_full_sync(pg::Spi &spi, const pg::Value &settled, bool lost_changes, int64 config_id,
						  const std::optional<TargetRecord> &record, int64 scope_version, const std::string &snapshot)
{
	if (!record)
		return "the target has no record of this configuration";
	if (!pg::on_current_history(record->source_position))
		return "the target's record was made on another history of this database (before a point-in-time "
			   "restore or a failover)";
	if (record->scope_version != scope_version)
		return "the scope changed";
	if (lost_changes || lost_changes_now(config_id))
		return "changes it had not received were pruned (sunsync.queue_retention)";
	// a record this database does not know (a target restored from a
	// backup): only the floor says whether the queue still has its changes
	bool known = settled && *settled == record->settled;
	auto r = spi.run("SELECT f.floor OPERATOR(pg_catalog.>) pg_catalog.pg_snapshot_xmin($1::pg_catalog.pg_snapshot), "
					 "pg_catalog.pg_snapshot_xmax($2::pg_catalog.pg_snapshot) OPERATOR(pg_catalog.>) "
					 "pg_catalog.pg_snapshot_xmax($3::pg_catalog.pg_snapshot) FROM sunsync.queue_floor f",
					 {record->settled, record->applied, snapshot});
	if (!known && !r.empty() && *r.rows[0][0] == "t")
		return "changes it had not received may have been pruned (its record is not the one this database last saw)";
	if (!r.empty() && *r.rows[0][1] == "t")
		return "the target's record is ahead of this database";
	if (auto table = scope_cache::table_without_capture(spi))
		return "the capture triggers of table " + *table +
			   " do not see all its writes (missing, disabled, not ENABLE ALWAYS, or a subscription writes to it)";
	return {};
}

} // namespace sunsync::engine
