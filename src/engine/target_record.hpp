// The target's own record of how far its copy has got: a small table
// sunsync owns on the target, <schema>.sunsync_state (in the configuration's
// target_schema, or the root table's schema), one row per (source database,
// configuration), written in the same target transaction as the data it
// describes.  A crash at any point leaves data and record consistent, so
// the next run starts from what the target really has.
#pragma once

#include "engine/source_scope.hpp"
#include "engine/target_schema.hpp"
#include "remote/connection.hpp"

#include <optional>
#include <string>

namespace sunsync::engine {

struct TargetRecord {
	std::string applied, settled; // pg_snapshot text, see change_queue.hpp
	int64 scope_version = 0;
	std::string source_position; // pg/wal_position.hpp; empty when unknown
};

// The qualified name of the record table for this scope and configuration.
std::string record_table(const Scope &scope);

// Inside the target transaction: this configuration's record, locked unless
// `lock` is false (a read-only reader); none when the table or the row is
// missing.
std::optional<TargetRecord> read_record(remote::Connection &conn, const Scope &scope, const TargetCatalog &catalog,
										const std::string &source_id, int64 config_id, bool lock = true);

// Inside the target transaction, queued: creates the table when missing
// and stores the record.
void write_record(remote::Connection &conn, const Scope &scope, const TargetCatalog &catalog,
				  const std::string &source_id, int64 config_id, const std::string &owner, const TargetRecord &record);

} // namespace sunsync::engine
