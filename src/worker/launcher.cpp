// The launcher: starts a worker for every database that has sunsync (found
// at start-up, or named by a push), restarts those that die, and starts one
// run worker per queued push while fewer than sunsync.max_workers run.
#include "settings.hpp"
#include "worker/shared_state.hpp"
#include "worker/workers.hpp"

extern "C" {
#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

#include <csignal>
#include <cstring>

namespace {

using namespace sunsync;

// The launcher's own memory: worker handles are valid only in this process.
BackgroundWorkerHandle *database_handles[shm::max_databases];
Oid database_handle_db[shm::max_databases]; // the database each handle serves
TimestampTz database_next_start[shm::max_databases];
BackgroundWorkerHandle *run_handles[shm::max_slots];
bool warned_no_worker_slot = false;

void fill_worker(BackgroundWorker &w, const char *function)
{
	std::memset(&w, 0, sizeof w);
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(w.bgw_library_name, "sunsync", BGW_MAXLEN);
	strlcpy(w.bgw_function_name, function, BGW_MAXLEN);
	strlcpy(w.bgw_type, "sunsync worker", BGW_MAXLEN);
	w.bgw_notify_pid = MyProcPid;
}

// Every database that accepts connections; each gets a worker once, which
// exits at once where sunsync is not installed.
void want_all_databases()
{
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	Relation rel = table_open(DatabaseRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
	HeapTuple tup;
	LWLockAcquire(shm::shared()->lock, LW_EXCLUSIVE);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
		auto *db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tup));
		if (db->datallowconn && !db->datistemplate)
			shm::want_database(db->oid);
	}
	LWLockRelease(shm::shared()->lock);
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
}

void manage_databases()
{
	shm::Shared *sh = shm::shared();
	TimestampTz now = GetCurrentTimestamp();
	for (int i = 0; i < shm::max_databases; i++) {
		LWLockAcquire(sh->lock, LW_SHARED);
		Oid dbid = sh->databases[i].dbid;
		bool wanted = sh->databases[i].wanted;
		LWLockRelease(sh->lock);
		if (database_handles[i]) {
			pid_t pid;
			if (GetBackgroundWorkerPid(database_handles[i], &pid) != BGWH_STOPPED)
				continue;
			pfree(database_handles[i]);
			database_handles[i] = nullptr;
			// a worker that stopped while still wanted failed: its restart
			// waits a little, so that it does not spin
			if (wanted && dbid == database_handle_db[i])
				database_next_start[i] = TimestampTzPlusMilliseconds(now, 5000);
		}
		if (!OidIsValid(dbid) || !wanted || now < database_next_start[i])
			continue;
		database_handle_db[i] = dbid;
		if (!worker::start_database_worker(dbid, &database_handles[i]))
			database_next_start[i] = TimestampTzPlusMilliseconds(now, 5000);
	}
}

void finish_dead_run(int i, const char *why)
{
	shm::Shared *sh = shm::shared();
	LWLockAcquire(sh->lock, LW_EXCLUSIVE);
	shm::RunSlot &slot = sh->slots[i];
	if (slot.in_use) {
		shm::record_outcome(slot.ticket, false, "XX000", why);
		slot.in_use = false;
		// the database's worker marks the run FAILED in its tables
		shm::want_database(slot.dbid);
	}
	LWLockRelease(sh->lock);
	ConditionVariableBroadcast(&sh->outcome_cv);
}

void manage_runs()
{
	shm::Shared *sh = shm::shared();
	// runs whose worker is gone without saying how it ended
	for (int i = 0; i < shm::max_slots; i++) {
		if (!run_handles[i])
			continue;
		pid_t pid;
		if (GetBackgroundWorkerPid(run_handles[i], &pid) != BGWH_STOPPED)
			continue;
		pfree(run_handles[i]);
		run_handles[i] = nullptr;
		finish_dead_run(i, "the sunsync worker stopped before the run finished");
	}

	for (;;) {
		int running = 0, free_slot = -1;
		shm::Request *next = nullptr;
		LWLockAcquire(sh->lock, LW_EXCLUSIVE);
		for (int i = 0; i < shm::max_slots; i++) {
			if (sh->slots[i].in_use)
				running++;
			else if (free_slot < 0)
				free_slot = i;
		}
		for (auto &r : sh->requests)
			if (r.used && (!next || r.ticket < next->ticket))
				next = &r;
		if (!next || running >= sunsync_max_workers || free_slot < 0) {
			LWLockRelease(sh->lock);
			return;
		}
		shm::Request request = *next;
		shm::RunSlot &slot = sh->slots[free_slot];
		std::memset(&slot, 0, sizeof slot);
		slot.in_use = true;
		slot.dbid = request.dbid;
		slot.config_id = request.config_id;
		slot.ticket = request.ticket;
		slot.started_at = GetCurrentTimestamp();
		strlcpy(slot.phase, "starting", sizeof slot.phase);
		next->used = false;
		LWLockRelease(sh->lock);

		if (!worker::start_run_worker(free_slot, request.dbid, request.config_id, &run_handles[free_slot])) {
			// no background worker slot: put the request back and retry later
			LWLockAcquire(sh->lock, LW_EXCLUSIVE);
			slot.in_use = false;
			for (auto &r : sh->requests)
				if (!r.used) {
					r = request;
					r.used = true;
					break;
				}
			LWLockRelease(sh->lock);
			if (!warned_no_worker_slot)
				ereport(WARNING,
						(errmsg("sunsync could not start a worker for configuration %lld",
								static_cast<long long>(request.config_id)),
						 errhint("Raise max_worker_processes; sunsync needs sunsync.max_workers + 1 + one per database.")));
			warned_no_worker_slot = true;
			return;
		}
		warned_no_worker_slot = false;
	}
}

} // namespace

void sunsync_launcher_main(Datum)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);

	shm::Shared *sh = shm::shared();
	LWLockAcquire(sh->lock, LW_EXCLUSIVE);
	sh->launcher_pid = MyProcPid;
	sh->launcher_latch = MyLatch;
	// runs of a previous launcher have no handle here: their workers, if
	// alive, finish by themselves
	LWLockRelease(sh->lock);

	want_all_databases();
	while (!ShutdownRequestPending) {
		if (ConfigReloadPending) {
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		manage_databases();
		manage_runs();
		int rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000,
						   PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	LWLockAcquire(sh->lock, LW_EXCLUSIVE);
	sh->launcher_pid = 0;
	sh->launcher_latch = nullptr;
	LWLockRelease(sh->lock);
	proc_exit(0);
}

namespace sunsync::worker {

void register_launcher()
{
	BackgroundWorker w;
	std::memset(&w, 0, sizeof w);
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = 5;
	strlcpy(w.bgw_library_name, "sunsync", BGW_MAXLEN);
	strlcpy(w.bgw_function_name, "sunsync_launcher_main", BGW_MAXLEN);
	strlcpy(w.bgw_name, "sunsync launcher", BGW_MAXLEN);
	strlcpy(w.bgw_type, "sunsync launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&w);
}

bool start_database_worker(Oid dbid, BackgroundWorkerHandle **handle)
{
	BackgroundWorker w;
	fill_worker(w, "sunsync_database_worker_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "sunsync worker for database %u", dbid);
	w.bgw_main_arg = ObjectIdGetDatum(dbid);
	return RegisterDynamicBackgroundWorker(&w, handle);
}

bool start_run_worker(int slot_index, Oid dbid, int64 config_id, BackgroundWorkerHandle **handle)
{
	BackgroundWorker w;
	fill_worker(w, "sunsync_run_worker_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "sunsync worker for configuration %lld in database %u",
			 static_cast<long long>(config_id), dbid);
	w.bgw_main_arg = Int32GetDatum(slot_index);
	return RegisterDynamicBackgroundWorker(&w, handle);
}

} // namespace sunsync::worker
