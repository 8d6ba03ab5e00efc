// Reading the change queue for one configuration, in the caller's snapshot:
// the entries of the transactions that the snapshot sees and the target's
// record does not (PgQ's batches: never a sequence number or a time, since
// transactions commit out of order), coalesced by table and key.
#pragma once

#include "pg/spi.hpp"

#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace sunsync::engine {

// One table's changes: keys as COPY BINARY fields (see capture/queue_writer.hpp).
struct TableChanges {
	int ncols = 0;
	std::unordered_set<std::string> changed; // ship as it is now, or delete if it left
	std::unordered_set<std::string> orphans; // ship if it is in the owner's scope now
	std::unordered_set<std::string> gained;  // also ship (and replace) what hangs from it
};

struct ChangeBatch {
	std::map<Oid, TableChanges> tables; // by registered (or crossed) table
	bool full = false;                  // an entry asks for a full sync
	bool moves = false;                 // entries of moves, which need settling
	uint64 entries = 0;
	uint64 keys_seen = 0; // before coalescing
	bool too_many = false; // more keys than the caller's limit: tables left empty
	std::optional<TimestampTz> oldest; // recorded_at of the oldest entry
	uint64 rows() const;
};

// What the configuration's target has: changes of transactions visible in
// `applied` are there; moves visible in `settled` were applied after their
// writers settled.  Without a record, every entry counts.
struct Position {
	std::optional<std::string> applied, settled; // pg_snapshot text
};

// Entries for owner_hash (and those for every owner), not yet applied.
// with_orphans: include the entries whose owner was not found.  Past
// max_keys keys the tables are dropped and too_many set (a full sync is
// cheaper than shipping that many rows one by one).
constexpr uint64 max_batch_keys = 1000000;
// sunsync.pending counts rows exactly up to this many keys, then gives the
// number of keys (an upper bound) without reading them
constexpr uint64 exact_pending_keys = 10000;
ChangeBatch read_changes(pg::Spi &spi, int32 owner_hash, const Position &from, bool with_orphans,
						 uint64 max_keys = max_batch_keys);

// Splits a queue row's keys into single keys (each `ncols` fields), and
// tells ncols from the number of fields.
std::vector<std::string> split_keys(const std::string &blob, int nkeys, int *ncols);

} // namespace sunsync::engine
