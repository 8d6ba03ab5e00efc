// Background workers.  In pg_stat_activity their backend_type is
// "sunsync launcher" or "sunsync worker".
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "postmaster/bgworker.h"
}

namespace sunsync::worker {

// From _PG_init: the launcher, started by the postmaster, restarted if it dies.
void register_launcher();

// From the launcher: a worker for a database (stale-run recovery), and a
// worker for one run.  Each claims its entry or slot in shared memory when it
// starts and releases it when it exits, whatever the cause.
bool start_database_worker(Oid dbid, BackgroundWorkerHandle **handle);
bool start_run_worker(int slot_index, uint64 ticket, Oid dbid, int64 config_id,
					  BackgroundWorkerHandle **handle);

} // namespace sunsync::worker

extern "C" {
PGDLLEXPORT void sunsync_launcher_main(Datum arg);
PGDLLEXPORT void sunsync_database_worker_main(Datum arg);
PGDLLEXPORT void sunsync_run_worker_main(Datum arg);
}
