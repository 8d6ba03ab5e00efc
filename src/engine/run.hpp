// One sync run of one configuration, executed by a run worker.
#pragma once

#include "pg/postgres.hpp"

#include <string>

namespace sunsync::shm {
struct RunSlot;
}
namespace sunsync::remote {
class ConnectionCache;
}

namespace sunsync::engine {

struct RunOutcome {
	bool ok = false;
	std::string sqlstate;
	std::string error;
	std::string hint;
	std::string kind; // full or incremental, once decided
};

// Never throws: every failure is recorded (config FAILED, history row) and
// returned.  Runs its own transactions; call with none open.  The target
// connection comes from `connections` and goes back there when the run
// succeeds.
RunOutcome run_config(shm::RunSlot *slot, int64 config_id, remote::ConnectionCache &connections);

} // namespace sunsync::engine
