// Whether a target can be brought up to date from its record, or only a
// full sync makes it exact: asked by every run, and by sunsync_verify,
// which then cannot tell changes not yet shipped from differences.
#pragma once

#include "engine/target_record.hpp"
#include "pg/spi.hpp"

#include <optional>
#include <string>

namespace sunsync::engine {

// Whether the queue dropped changes this configuration had not shipped,
// read as of now (not in the caller's snapshot).
bool lost_changes_now(int64 config_id);

// Why the target cannot be brought up to date from its record, or empty.
// settled: this database's copy of the target's record (configs row);
// lost_changes: its lost_horizon was set; snapshot: the reader's, as text.
std::string why_full_sync(pg::Spi &spi, const pg::Value &settled, bool lost_changes, int64 config_id,
						  const std::optional<TargetRecord> &record, int64 scope_version, const std::string &snapshot);

} // namespace sunsync::engine
