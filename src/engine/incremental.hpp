// An incremental run's work on one batch of changes, inside the run's
// source snapshot and its target transaction:
//
//  1. for every table with changes, the changed rows as they are now in the
//     owner's scope (one source query per table, keys as typed arrays) go to
//     a temporary table on the target, with the changed keys; for a row that
//     arrived with what hangs from it (a move, an adopting insert), the rows
//     below it too;
//  2. on the target, deepest tables first: rows that hang from a row that
//     left (or arrived: its old subtree is replaced) are deleted, joined up
//     through the target's own copy; then the changed rows that left;
//  3. parents first: the shipped rows are upserted (INSERT ... ON CONFLICT
//     DO UPDATE), each table in one statement.
#pragma once

#include "engine/change_queue.hpp"
#include "engine/source_scope.hpp"
#include "engine/target_schema.hpp"
#include "remote/connection.hpp"

#include <functional>

namespace sunsync::shm {
struct RunSlot;
}

namespace sunsync::engine {

struct ApplyResult {
	uint64 upserted = 0;
	uint64 deleted = 0;
};

// Queues the work on conn (remote::Connection): the caller's sync, in the
// run's snapshot with its SPI connection, streams the rows and fills
// result.  reader: the role rows are read as (the one that set the root).
void apply_changes(remote::Connection &conn, const Scope &scope, const TargetCatalog &catalog, const ChangeBatch &batch,
				   Oid reader, shm::RunSlot *slot, const std::function<void()> &check_stop, ApplyResult &result);

} // namespace sunsync::engine
