// Runs of continuous configurations, scheduled by the database's worker.
//
// No polling: committing backends mark the owners they queued changes for
// and set the worker's latch (capture/commit_wake.hpp); the scheduler turns
// marked owners into runs.  sunsync.naptime is the least time between two
// runs of one configuration: a change after a quiet spell ships at once, a
// burst is coalesced.  A run that fails is retried after the time the run
// recorded (sunsync.configs.next_attempt_at: exponential backoff with
// jitter up to sunsync.retry_max_delay), or, when the run could not record
// it (a killed worker, a crash), after the same backoff counted here; a
// success, or a changed configuration, resets it.  Runs
// are queued like pushes (oldest first, shared by sunsync.max_workers), a
// configuration at most once, so a slow or failing one holds back nobody
// else.  A sweep every minute finds what no commit announced (COMMIT
// PREPARED runs in another session, without the trigger's notes).
#pragma once

#include "pg/postgres.hpp"

#include <map>
#include <string>
#include <optional>
#include <unordered_map>
#include <vector>

namespace sunsync::worker {

class ContinuousScheduler {
public:
	// Does what is due; returns how long the worker may sleep (ms) before
	// something else is due (at most max_sleep_ms).  May throw.
	long step(long max_sleep_ms);

private:
	struct Config {
		uint32 hash = 0;
		bool dirty = false;        // a run is wanted
		TimestampTz dirty_since = 0;
		TimestampTz last_started = 0; // of its last run (queued, then begun)
		TimestampTz next_attempt = 0; // 0: no backoff
		int failures = 0;             // in a row, since its last success
		std::string updated_at;       // a new URL (or mode) starts afresh
		uint64 ticket = 0;            // the run queued or in flight
	};
	void reload();
	void backoff(Config &c, TimestampTz now, std::optional<long long> catalog_retry_in_ms);
	void collect_marks(TimestampTz now);
	void collect_outcomes(TimestampTz now);
	void sweep(TimestampTz now);
	long queue_due(TimestampTz now, long max_sleep_ms);
	void mark(Config &c, TimestampTz now);

	std::map<int64, Config> configs_;
	std::unordered_multimap<uint32, int64> by_hash_;
	bool loaded_ = false;
	bool started_ = false; // outcomes before this worker began are not its
	bool scanned_once_ = false;
	uint64 outcome_seq_ = 0;
	TimestampTz last_sweep_ = 0;
};

} // namespace sunsync::worker
