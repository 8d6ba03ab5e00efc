// A full sync's work inside the run's snapshot and target transaction
// (DESIGN.md behaviour 4): the foreign keys sunsync maintains dropped, the
// tables emptied, every table streamed with COPY FREEZE, the path keys
// added back (each validated by one query), and the path indexes the
// incremental runs need created.  Readers of the target see the old copy
// or the new one.
#pragma once

#include "engine/source_scope.hpp"
#include "engine/target_schema.hpp"
#include "remote/connection.hpp"

#include <functional>

namespace sunsync::shm {
struct RunSlot;
}

namespace sunsync::engine {

// Queues the work on conn (remote::Connection): the caller's sync, in the
// run's snapshot with its SPI connection, streams the rows and adds their
// number to *rows.  reader: the role rows are read as.
void copy_everything(remote::Connection &conn, const Scope &scope, const TargetCatalog &catalog, Oid reader,
					 shm::RunSlot *slot, const std::function<void()> &check_stop, uint64 *rows);

} // namespace sunsync::engine
