// The change-capture triggers the scope needs, kept in step with it: every
// registered table, every table a path crosses, and every partition of
// those carries sunsync_capture_insert, _update, _delete and _truncate; no
// other table carries them.  They depend on sunsync.capture() automatically,
// so DROP EXTENSION removes them.  Created and dropped as the owner of
// schema sunsync (a table a path crosses need not be the caller's).
#pragma once

#include "pg/spi.hpp"

#include <optional>
#include <string>
#include <vector>

namespace sunsync::scope {

// Creates the missing triggers and drops those no longer needed.
void sync_capture_triggers(pg::Spi &spi);

// Whether sync_capture_triggers is at work (its own DROP TRIGGER fires
// sunsync's sql_drop trigger, which must leave it alone).
bool syncing_capture_triggers();

// A table of the scope whose four capture triggers are not all there and
// enabled ALWAYS (ALTER TABLE ... DISABLE TRIGGER): changes to it may be missing
// from the queue, and only a full sync is exact.  checked: where to add
// every relation looked at (partitions included).
std::optional<std::string> table_without_capture(pg::Spi &spi, std::vector<Oid> *checked = nullptr);

// Every change of scope: a new version (a target recorded under another
// gets a full sync), and every backend rebuilds its capture scope.
void scope_changed(pg::Spi &spi);

// After owner_expr changed: each configuration's owner hashed again in the
// expression's type, and made known to the capture triggers.
void rehash_owners(pg::Spi &spi);

} // namespace sunsync::scope
