// Where this database's history is: its WAL timeline, insert position and
// where that timeline began, as "timeline:lsn:begin".  A target's record carries the position of the run
// that wrote it; a source restored to an earlier point, or a standby
// promoted before it had replayed that far, is on another history, where
// the xids the record counts as shipped were given out again (then only a
// full sync is exact).
#pragma once

#include <string>

namespace sunsync::pg {

// Now (call after taking the snapshot a record describes).
std::string current_wal_position();

// Flushes the WAL written so far (XLogFlush up to the insert position).
void flush_wal_to_here();

// Whether the history of the current timeline contains `position`: the
// same timeline, or an ancestor left after that point.  false for text
// that is not a position.
bool on_current_history(const std::string &position);

} // namespace sunsync::pg
