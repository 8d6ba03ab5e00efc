// Wakes the database's worker when a transaction that matters to a
// continuous configuration commits, as pglogical wakes its workers: the
// capture triggers note the owners they queued changes for, the
// configuration functions note that configurations changed, and a
// transaction callback passes it on at COMMIT, once the changes are
// visible.  Nothing is passed on for a transaction that aborts or is
// prepared (COMMIT PREPARED runs elsewhere: the worker's sweep finds those).
#pragma once

#include "pg/postgres.hpp"

namespace sunsync::capture {

// From the capture trigger (hot path, no error): changes were queued for
// this owner hash (all_owners: for whoever is in scope).
void note_queued_for(uint32 hash);

// From the configuration functions: configurations changed.
void note_configs_changed();
// From the scope functions: what every configuration replicates changed
// (each continuous one runs), and owners may hash anew.
void note_scope_changed();

// From _PG_init: the transaction callback.
void register_commit_wake();

} // namespace sunsync::capture
