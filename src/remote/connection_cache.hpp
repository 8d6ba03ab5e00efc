// The target connections a long-lived run worker keeps between runs, one
// per target URL (the configurations that share a target database and its
// credentials, each in a target_schema of its own, share one: a thousand
// tenants in a few databases need a few connections, not a login per run),
// at most sunsync.max_idle_connections, each closed after a minute unused.
// A run leaves nothing behind on it that the next needs undone: its
// temporary tables stay for the session, emptied at commit (ON COMMIT
// DELETE ROWS), and a reused connection's role and
// settings are reset before the next run's first statement.  Connections
// are sessions: a pooler in front of a target must pool by session (the
// settings and the prepared catalog query live in the session).  A connection is reused only when it is idle and
// alive, younger than ten minutes, and its URL, checked again against the
// URL rules (the host resolved again), leads to the same addresses with
// the same options; the first statement on it must be answered within
// sunsync.connect_timeout (a link gone silent); a run that fails drops its
// connection, so the next run connects afresh.
#pragma once

#include "remote/connection.hpp"

#include <map>
#include <memory>
#include <vector>

namespace sunsync::remote {

class ConnectionCache {
public:
	// A connection for a run of config_id: the kept one when it may serve,
	// otherwise a new one.  The caller gives it back with keep() after a
	// successful run; a connection not given back is closed.
	std::unique_ptr<Connection> take(const std::string &url, const ConnectOptions &options);
	void keep(int64 config_id, std::unique_ptr<Connection> conn);
	// Closes connections unused for idle_ms; returns the ms until the next
	// one is due (or -1 when none is kept).
	long close_idle(long idle_ms);
	void clear()
	{
		kept_.clear();
		served_.clear();
		recent_.clear();
	}
	// The configurations whose last run here left its connection kept, most
	// recently used first, at most limit (for the launcher, which gives
	// their runs to this worker when it can).
	std::vector<int64> configs(size_t limit) const;

private:
	void forget_unkept();

	struct Kept {
		std::unique_ptr<Connection> conn;
		TimestampTz last_used;
	};
	// by cache_key (a digest of the URL)
	std::map<std::string, Kept> kept_;
	// config id -> (cache_key of its last kept connection, when)
	std::map<int64, std::pair<std::string, TimestampTz>> served_;
	// the configurations last served, newest first: configs() reads these
	// (not every configuration served: it runs after every run)
	static constexpr size_t max_recent = 64;
	std::vector<int64> recent_;
};

} // namespace sunsync::remote
