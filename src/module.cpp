// Library entry point: log masking, settings, shared memory, the launcher,
// and the check that we were preloaded.
#include "capture/commit_wake.hpp"
#include "pg/log_masking.hpp"
#include "pg/postgres.hpp"
#include "settings.hpp"
#include "worker/shared_state.hpp"
#include "worker/workers.hpp"

extern "C" {
PG_MODULE_MAGIC;
void _PG_init(void);
}

void _PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sunsync must be loaded via shared_preload_libraries"),
				 errhint("Add sunsync to shared_preload_libraries in postgresql.conf and restart the server.")));
	sunsync::pg::install_log_masking();
	sunsync::define_settings();
	sunsync::shm::request_shared_memory();
	sunsync::worker::register_launcher();
	sunsync::capture::register_commit_wake();
}
