// Settling: a writer looks up a changed row's owner when its statement
// ends, but commits later.  A writer that looked before a move committed
// (a learner's parent_id changed, a configuration created) recorded the
// old owner, and commits perhaps after the run that ships the move: the new
// owner's target would never get its change.  So, as CREATE INDEX
// CONCURRENTLY waits for the transactions older than its index, a run that
// ships a move (or a full copy) first waits for every transaction that
// writes to the replicated tables at that moment, then takes its snapshot.
#pragma once

#include "engine/read_locks.hpp"

namespace sunsync::engine {

// Inside a transaction with lock_timeout set: returns once every
// transaction that holds a write lock (ROW EXCLUSIVE or stronger; not
// VACUUM's) on one of the relations (or their partitions) has ended,
// prepared transactions included.  Fails at once when one of
// them is a session waiting for this very run (ticket) or for the next run
// of its configuration (which waits for this one), and after lock_timeout
// otherwise, naming the sessions.
void wait_for_writers(const ReadSet &relations, uint64 ticket, int64 config_id);

} // namespace sunsync::engine
