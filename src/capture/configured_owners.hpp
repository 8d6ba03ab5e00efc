// Which owners have a configuration, as the capture triggers ask it: by a
// 32-bit hash of the owner value (its type's own hash function), kept per
// database in shared memory.  A collision only makes a trigger record
// changes nobody needed; 0 is reserved ("every configuration looks").
//
// A configuration is made known here before its transaction commits (an
// aborted one leaves a hash that the database's worker prunes later), so a
// writer that checks after that point records its changes; writers that
// checked before are waited for by the configuration's first full copy
// (engine/settle.hpp), as CREATE INDEX CONCURRENTLY waits for older
// transactions.
#pragma once

#include "pg/postgres.hpp"

#include <string>
#include <vector>

namespace sunsync::capture {

constexpr uint32 all_owners = 0;

// Hot path (no allocation, no error): whether `hash` may have a
// configuration in this database, and whether any configuration exists.
// Call ensure_owners_loaded() first in each trigger call.
bool owner_configured(uint32 hash);
bool any_owner_configured();

// Hot path: the index of `hash` in shm::Shared::owners, or -1.
int owner_entry(uint32 hash);

// Cold path, may raise: after a server start, loads this database's
// configured owners from sunsync.configs into shared memory (once), and
// refreshes this backend's copy when shared memory changed.
void ensure_owners_loaded();

// Whether ensure_owners_loaded() would have nothing to do.
bool owners_ready();

// Makes an owner known before the configuration's transaction commits.
void add_configured_owner(uint32 hash);

// Marks an owner added with add_configured_owner as one with a continuous
// configuration (before the configuration commits).
void mark_owner_continuous(uint32 hash);
// For the database worker: exactly these owners (of committed
// configurations) are continuous, and those of configurations not yet
// committed stay so.
void set_continuous_owners(const std::vector<uint32> &continuous);

// For the database worker: forgets hashes that no committed configuration
// has and whose adding transaction has ended.
void prune_configured_owners();

// The hash of an owner given as text in the type of owner_expr (as
// sunsync.configs stores it), as the trigger hashes the value it computes.
uint32 owner_hash_of_text(const std::string &owner, Oid type, Oid collation);
// The hash of an owner value (hot path; no error for hashable types).
uint32 owner_hash_of_datum(Datum value, FmgrInfo *hash_fn, Oid collation, FmgrInfo *out_fn);

// The hash and output functions for owner values of `type` (out_fn is used
// only when the type has no hash function).
void owner_hash_functions(Oid type, FmgrInfo *hash_fn, FmgrInfo *out_fn, MemoryContext cxt);

} // namespace sunsync::capture
