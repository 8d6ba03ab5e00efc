// sunsync_verify: a configuration's target compared with the owner's rows
// of every replicated table, in the caller's session.  Each side computes,
// in SQL, a digest of each row's key and of its replicated values (their
// text forms under pinned output settings, hashed), sorted
// by key digest; only the digests cross the network, streamed (COPY TO
// STDOUT from the target, a cursor on the source) and merged as they come
// (engine/digest_merge.hpp).
//
// Changes not yet on the target are not differences: the target is read
// first, in one REPEATABLE READ snapshot with its record of how far it
// has got; the source afterwards, in one snapshot, so every change the
// target has is in it.  The changes queued since the record (the next
// run's batch) mark their rows, and the rows below a row that arrived or
// left, as pending: counted apart, not judged.  When the next run is a
// full sync (no record, the scope changed, changes pruned...), pending
// rows cannot be told apart: a NOTICE says so and differences are
// counted as found.
#pragma once

#include "engine/digest_merge.hpp"
#include "pg/postgres.hpp"

#include <string>
#include <vector>

namespace sunsync::engine {

struct TableVerdict {
	std::string table; // the source table, as regclass text
	VerifyCounts counts;
};

// Read-only on both sides (on the source in a read-only subtransaction,
// rolled back at the end with its locks); throws sunsync::Error.
std::vector<TableVerdict> verify_config(int64 config_id);

} // namespace sunsync::engine
