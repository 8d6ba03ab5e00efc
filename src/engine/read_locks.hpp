// The tables a run reads, locked like pg_dump locks them: ACCESS SHARE on
// every registered table and every table its path crosses (partitions
// included), taken before the run's snapshot, so that a TRUNCATE or a table
// rewrite (which MVCC cannot hide from an older snapshot) either finished
// before the snapshot or waits for the run to end.
#pragma once

#include "pg/spi.hpp"

#include <map>
#include <string>

namespace sunsync::engine {

// Every relation the scope reads, by OID, with its name for messages.
// Throws when a path crosses a table that no longer exists.
using ReadSet = std::map<Oid, std::string>;
ReadSet relations_to_read(pg::Spi &spi);

// The change queue's tables: read by every run, so locked with the scope's
// (a TRUNCATE that empties one either committed before the snapshot, and
// moved the floor the run then sees, or waits for the run).
ReadSet queue_relations(pg::Spi &spi);

// Inside the run's transaction, before its snapshot: ACCESS SHARE on each,
// waiting at most sunsync.lock_timeout; fails cleanly when one was dropped.
void lock_for_reading(const ReadSet &relations);

} // namespace sunsync::engine
