// What a run worker's runs read of the scope, kept from one run to the
// next: the relations to lock, the queue's tables, whether every table's
// capture triggers see its writes, and the scope itself (one for every
// target schema and owner: each run makes the type names of its target
// schema again from the syscache, and adds its owner's filter).  Read
// afresh, they cost a run more than shipping its rows: a dozen catalog
// queries, some growing with the catalog (pg_class, pg_trigger).  They change only with DDL or
// with sunsync's own scope calls, so a worker keeps them until
//  - a relcache invalidation names a relation they were read from (a
//    column, key, trigger, privilege, rename, partition, ANALYZE or VACUUM
//    of it), or all relations (a cache reset);
//  - a syscache invalidation names a user type they use, or any schema,
//    role, function, enum label or subscription table;
//  - the rows of sunsync.root and sunsync.tables are not the ones they were
//    read from (their ctid and xmin, read in each run's own snapshot: a
//    restore or any write there, whether it sent invalidations or not);
//  - a run fails.
// A run takes in invalidations when it locks the tables it reads and once
// more just after its snapshot, and keeps what it read in that snapshot
// only if no invalidation at all came after it: DDL that conflicts with
// none of the run's locks (a trigger enabled or disabled, a foreign key
// added, a partition attached, a table added to a subscription, a type or
// enum changed) may commit at any moment, and its invalidation either lets
// go of what is kept or keeps the run from keeping what it read.
// Elsewhere (sunsync_verify, in a backend) these read afresh every time.
#pragma once

#include "engine/read_locks.hpp"
#include "engine/source_scope.hpp"
#include "pg/spi.hpp"

#include <optional>
#include <string>

namespace sunsync::engine::scope_cache {

// In the run worker, once: registers the invalidation callbacks.
void enable();

// After a failed run: nothing kept is trusted.
void forget();

// Right after a run's snapshot is taken.
void snapshot_taken();

// What the run's snapshot says of sunsync.root.
struct Root {
	int64 scope_version = 0;
	Oid set_by = InvalidOid;
};
Root root(pg::Spi &spi);

ReadSet relations_to_read(pg::Spi &spi);
ReadSet queue_relations(pg::Spi &spi);
std::optional<std::string> table_without_capture(pg::Spi &spi);
Scope load_scope(pg::Spi &spi, const std::string &owner, const std::string &target_schema);

} // namespace sunsync::engine::scope_cache
