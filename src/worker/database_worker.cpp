// The worker of one database.  Where sunsync is not installed it exits (and
// the launcher forgets the database until CREATE EXTENSION or a push names
// it), after waiting up to 30 s when one of those just asked for it.
// Otherwise it marks runs that a crash, a restart or a killed worker left
// IN_PROGRESS as FAILED, at start, whenever a run worker exits without
// recording how its run ended, and every second; maintains the change
// queue every second; and schedules the runs of continuous configurations
// (worker/continuous_scheduler.hpp), woken by the commits that need them.
#include "pg/guard.hpp"
#include "pg/spi.hpp"
#include "pg/transaction.hpp"
#include "settings.hpp"
#include "worker/continuous_scheduler.hpp"
#include "worker/queue_maintenance.hpp"
#include "worker/shared_state.hpp"
#include "worker/workers.hpp"

extern "C" {
#include "access/xact.h"
#include "commands/extension.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"
}

#include <algorithm>
#include <string>

namespace {

using namespace sunsync;

const char *interrupted =
	"the run was interrupted before it finished: the server restarted or its worker was stopped";

// Returns false when sunsync is not installed in this database.
//
// The runs in flight are read inside each UPDATE, after its snapshot is
// taken: a run whose IN_PROGRESS the snapshot sees had its slot before, and
// still has it unless it finished, in which case the UPDATE's recheck of the
// newest row version no longer matches.  So no live run is ever failed here.
bool recover_stale_runs()
{
	std::string timeout = std::to_string(sunsync_lock_timeout_ms) + "ms";
	bool installed = false;
	// a session holding a config row (an open sunsync_update_config) delays
	// this at most lock_timeout; the next pass tries again
	pg::in_worker_transaction(
		[&] {
			installed = pg::guard([] { return OidIsValid(get_extension_oid("sunsync", true)); });
			if (!installed)
				return;
			pg::Spi spi;
			spi.run("UPDATE sunsync.configs SET status = 'FAILED', last_error = $1 "
					"WHERE status = 'IN_PROGRESS' "
					"  AND id NOT IN (SELECT config_id FROM sunsync.active_runs())",
					{std::string(interrupted)});
			spi.run("UPDATE sunsync.history SET status = 'FAILED', finished_at = now(), error = $1 "
					"WHERE status = 'IN_PROGRESS' "
					"  AND config_id NOT IN (SELECT config_id FROM sunsync.active_runs())",
					{std::string(interrupted)});
		},
		timeout.c_str());
	return installed;
}

// Whether CREATE EXTENSION or a push asked for this worker in the last 30 s.
bool recently_requested()
{
	TimestampTz requested = 0;
	{
		shm::Locked lock(LW_SHARED);
		for (const auto &d : shm::shared()->databases)
			if (d.dbid == MyDatabaseId)
				requested = d.requested_at;
	}
	if (requested == 0 || pg::guard([requested] {
			return TimestampDifferenceExceeds(requested, GetCurrentTimestamp(), 30000);
		}))
		return false;
	pg::guard([] {
		int rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000,
						   PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	});
	return true;
}

// Frees this database's entry, so that only databases with sunsync hold
// one, and sends its idle run workers away (DROP DATABASE may follow).
void forget_this_database()
{
	shm::Locked lock(LW_EXCLUSIVE);
	for (auto &d : shm::shared()->databases)
		if (d.dbid == MyDatabaseId) {
			d.dbid = InvalidOid;
			d.wanted = false;
			d.worker_pid = 0;
			d.worker_latch = nullptr;
		}
	for (auto &slot : shm::shared()->slots)
		if (shm::slot_idle(slot) && slot.dbid == MyDatabaseId) {
			slot.retire = true;
			if (slot.latch)
				SetLatch(slot.latch);
		}
}

// Takes this database's entry; false when another worker already has it
// (two launchers may each have started one).
bool claim_entry(Oid dbid)
{
	shm::Locked lock(LW_EXCLUSIVE);
	for (auto &d : shm::shared()->databases)
		if (d.dbid == dbid) {
			if (d.worker_pid != 0 && d.worker_pid != MyProcPid)
				return false;
			d.worker_pid = MyProcPid;
			d.worker_latch = MyLatch;
			d.starting_since = 0;
			return true;
		}
	return false;
}

// Runs after the transaction cleanup (registered before the connection).
void database_worker_exit(int, Datum arg)
{
	Oid dbid = DatumGetObjectId(arg);
	shm::Locked lock(LW_EXCLUSIVE);
	for (auto &d : shm::shared()->databases)
		if (d.dbid == dbid && d.worker_pid == MyProcPid) {
			d.worker_pid = 0;
			d.worker_latch = nullptr;
			if (d.wanted) // stopped while still wanted: restart after a pause
				d.restart_after = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 5000);
		}
	shm::wake_launcher();
}

// How often stale runs are looked for and the queue maintained.
constexpr long maintenance_interval_ms = 1000;

void database_loop()
{
	worker::ContinuousScheduler scheduler;
	TimestampTz next_maintenance = 0;
	for (;;) {
		pg::guard([] { CHECK_FOR_INTERRUPTS(); });
		if (ConfigReloadPending) {
			ConfigReloadPending = false;
			pg::guard([] { ProcessConfigFile(PGC_SIGHUP); });
		}
		TimestampTz now = pg::guard([] { return GetCurrentTimestamp(); });
		bool check_runs = false;
		{
			shm::Locked lock(LW_SHARED);
			if (shm::Database *d = shm::database_entry(MyDatabaseId))
				check_runs = pg_atomic_exchange_u32(&d->check_runs, 0) != 0;
		}
		if (check_runs || now >= next_maintenance) {
			bool installed = true;
			try {
				installed = recover_stale_runs();
			} catch (const Error &e) {
				std::string msg = e.message();
				pg::guard([&] {
					ereport(WARNING, (errmsg("sunsync: marking interrupted runs failed: %s", msg.c_str())));
				});
			}
			if (!installed) {
				if (recently_requested())
					continue; // CREATE EXTENSION may not have committed yet
				forget_this_database();
				return;
			}
			if (now >= next_maintenance) {
				next_maintenance = TimestampTzPlusMilliseconds(now, maintenance_interval_ms);
				try {
					worker::maintain_queue();
				} catch (const Error &e) {
					// the queue waits for the next round; runs go on meanwhile
					std::string msg = e.message();
					pg::guard([&] {
						ereport(WARNING, (errmsg("sunsync: queue maintenance failed: %s", msg.c_str())));
					});
				}
			}
		}
		long sleep = maintenance_interval_ms;
		try {
			sleep = scheduler.step(maintenance_interval_ms);
		} catch (const Error &e) {
			// continuous runs wait for the next round (a lock timeout)
			std::string msg = e.message();
			pg::guard([&] {
				ereport(WARNING, (errmsg("sunsync: scheduling continuous configurations failed: %s", msg.c_str())));
			});
		}
		now = pg::guard([] { return GetCurrentTimestamp(); });
		if (next_maintenance > now)
			sleep = std::min(sleep, static_cast<long>((next_maintenance - now + 999) / 1000));
		else
			sleep = 0;
		if (sleep <= 0)
			continue;
		pg::guard([sleep] {
			pgstat_report_stat(false);
			int rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, sleep, PG_WAIT_EXTENSION);
			if (rc & WL_LATCH_SET)
				ResetLatch(MyLatch);
		});
	}
}

} // namespace

// SIGTERM goes to PostgreSQL's die(): the worker exits at the next
// CHECK_FOR_INTERRUPTS, and the launcher starts another one after a pause.
void sunsync_database_worker_main(Datum arg)
{
	Oid dbid = DatumGetObjectId(arg);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	if (!claim_entry(dbid))
		proc_exit(0); // a duplicate: the database already has its worker
	before_shmem_exit(database_worker_exit, ObjectIdGetDatum(dbid));
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
	pgstat_report_appname("sunsync worker");

	bool failed = false;
	try {
		database_loop();
	} catch (...) {
		pg::keep_current_exception();
		failed = true;
	}
	if (failed)
		pg::report_kept_error(); // FATAL in a worker: logged; restarted after a pause
	proc_exit(0);
}
