// The launcher: starts a worker for every database that has sunsync (found
// at start-up, or named by a push), restarts those that die, and gives
// queued runs to run workers: an idle one of the run's database, or a new
// one while fewer than sunsync.max_workers exist.
#include "pg/guard.hpp"
#include "settings.hpp"
#include "worker/shared_state.hpp"
#include "worker/workers.hpp"

extern "C" {
#include "utils/syscache.h"
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
#include "tcop/tcopprot.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

#include <algorithm>
#include <csignal>
#include <cstring>

namespace {

using namespace sunsync;

// Handles are valid only in the launcher that registered the worker.  A
// launcher that restarts has none for the workers still running: it learns
// of them from shared memory, where each worker claims its entry or slot.
BackgroundWorkerHandle *database_handles[shm::max_databases];
BackgroundWorkerHandle *run_handles[shm::max_slots];
uint64 run_handle_ticket[shm::max_slots]; // the run each handle was started for
bool warned_no_worker_slot = false;

// A worker registered by an earlier launcher that has not claimed its entry
// or slot after this long never started.
constexpr int unclaimed_grace_ms = 30000;
constexpr int restart_pause_ms = 5000;

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
// exits at once where sunsync is not installed.  The catalog is read first,
// then the lock is taken: no LWLock is held across a scan.
void want_all_databases()
{
	Oid found[shm::max_databases];
	int n = 0;
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	Relation rel = table_open(DatabaseRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
	HeapTuple tup;
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
		auto *db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tup));
		if (db->datallowconn && !db->datistemplate && n < shm::max_databases)
			found[n++] = db->oid;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();

	shm::Locked lock(LW_EXCLUSIVE);
	for (int i = 0; i < n; i++)
		shm::want_database(found[i]);
}

// Whether a database still exists and accepts connections: a worker for a
// database dropped (WITH (FORCE)) or closed to connections would fail at
// start, again and again.
bool database_accepts_connections(Oid dbid)
{
	return pg::guard([dbid] {
		StartTransactionCommand();
		HeapTuple tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dbid));
		bool ok = HeapTupleIsValid(tup) && reinterpret_cast<Form_pg_database>(GETSTRUCT(tup))->datallowconn;
		if (HeapTupleIsValid(tup))
			ReleaseSysCache(tup);
		CommitTransactionCommand();
		return ok;
	});
}

// How long a push may wait for a background worker slot before it fails.
constexpr int unstartable_request_ms = 60000;

bool older_than(TimestampTz since, TimestampTz now, int ms)
{
	return since != 0 && TimestampDifferenceExceeds(since, now, ms);
}

void manage_databases()
{
	shm::Shared *sh = shm::shared();
	TimestampTz now = GetCurrentTimestamp();
	for (int i = 0; i < shm::max_databases; i++) {
		shm::Database d;
		{
			shm::Locked lock(LW_SHARED);
			d = sh->databases[i];
		}
		if (!OidIsValid(d.dbid) || !d.wanted || d.worker_pid != 0)
			continue;
		if (d.starting_since != 0) {
			// registered, not yet claimed: by us (we hold a handle) or by an
			// earlier launcher (we wait a while for it)
			bool stopped;
			if (database_handles[i]) {
				pid_t pid;
				stopped = GetBackgroundWorkerPid(database_handles[i], &pid) == BGWH_STOPPED;
			} else
				stopped = older_than(d.starting_since, now, unclaimed_grace_ms);
			if (!stopped)
				continue;
			shm::Locked lock(LW_EXCLUSIVE);
			shm::Database &e = sh->databases[i];
			if (e.dbid == d.dbid && e.worker_pid == 0) {
				e.starting_since = 0;
				e.restart_after = TimestampTzPlusMilliseconds(now, restart_pause_ms);
			}
			continue;
		}
		if (now < d.restart_after)
			continue;
		if (!database_accepts_connections(d.dbid)) {
			shm::Locked lock(LW_EXCLUSIVE);
			shm::Database &e = sh->databases[i];
			if (e.dbid == d.dbid && e.worker_pid == 0)
				e.wanted = false;
			continue;
		}
		if (database_handles[i]) {
			pfree(database_handles[i]);
			database_handles[i] = nullptr;
		}
		{
			shm::Locked lock(LW_EXCLUSIVE);
			shm::Database &e = sh->databases[i];
			if (e.dbid != d.dbid || e.worker_pid != 0 || e.starting_since != 0)
				continue;
			e.starting_since = now;
		}
		if (!worker::start_database_worker(d.dbid, &database_handles[i])) {
			shm::Locked lock(LW_EXCLUSIVE);
			shm::Database &e = sh->databases[i];
			e.starting_since = 0;
			e.restart_after = TimestampTzPlusMilliseconds(now, restart_pause_ms);
		}
	}
}

void finish_dead_run(int i, uint64 ticket, const char *why)
{
	shm::Shared *sh = shm::shared();
	{
		shm::Locked lock(LW_EXCLUSIVE);
		shm::RunSlot &slot = sh->slots[i];
		if (!slot.in_use || slot.ticket != ticket || slot.pid != 0)
			return;
		shm::record_outcome(slot.ticket, slot.dbid, slot.config_id, false, "XX000", why);
		slot.in_use = false;
		// the database's worker marks the run FAILED in its tables
		shm::wake_database_worker(slot.dbid, true);
	}
	ConditionVariableBroadcast(&sh->outcome_cv);
}

// Runs whose worker never claimed its slot; a worker that claimed it frees
// it itself when it exits.
void reap_unstarted_runs()
{
	shm::Shared *sh = shm::shared();
	TimestampTz now = GetCurrentTimestamp();
	for (int i = 0; i < shm::max_slots; i++) {
		shm::RunSlot s;
		{
			shm::Locked lock(LW_SHARED);
			s = sh->slots[i];
		}
		if (!s.in_use || s.pid != 0)
			continue;
		bool stopped;
		if (run_handles[i] && run_handle_ticket[i] == s.ticket) {
			pid_t pid;
			stopped = GetBackgroundWorkerPid(run_handles[i], &pid) == BGWH_STOPPED;
		} else
			stopped = older_than(s.started_at, now, unclaimed_grace_ms);
		if (stopped)
			finish_dead_run(i, s.ticket, "the sunsync worker for the run could not start");
	}
}

// Under the lock: an idle worker of dbid, one that kept config_id's target
// connection first; -1 when there is none.
int idle_worker_for(Oid dbid, int64 config_id)
{
	shm::Shared *sh = shm::shared();
	int found = -1;
	for (int i = 0; i < shm::max_slots; i++) {
		const shm::RunSlot &s = sh->slots[i];
		if (!shm::slot_idle(s) || s.dbid != dbid)
			continue;
		for (int k = 0; k < s.ncached; k++)
			if (s.cached[k] == config_id)
				return i;
		if (found < 0)
			found = i;
	}
	return found;
}

// Under the lock: asks an idle worker whose database has no waiting
// request to leave, unless one is leaving already.
void retire_idle_worker_without_work(shm::Request *const *waiting, int nwaiting)
{
	shm::Shared *sh = shm::shared();
	for (const auto &s : sh->slots)
		if (s.in_use && s.retire)
			return;
	for (auto &s : sh->slots) {
		if (!shm::slot_idle(s))
			continue;
		bool wanted = false;
		for (int i = 0; i < nwaiting; i++)
			wanted = wanted || (waiting[i]->used && waiting[i]->dbid == s.dbid);
		if (wanted)
			continue;
		s.retire = true;
		if (s.latch)
			SetLatch(s.latch);
		return;
	}
}

// Gives queued requests, oldest first, to idle workers of their database,
// or to new workers while fewer than sunsync.max_workers exist; when every
// worker is taken and some idle one belongs to another database, that one
// is asked to leave and the request waits for its slot.
void start_queued_runs()
{
	shm::Shared *sh = shm::shared();
	for (;;) {
		int free_slot = -1;
		shm::Request request;
		{
			shm::Locked lock(LW_EXCLUSIVE);
			int workers = 0;
			for (int i = 0; i < shm::max_slots; i++) {
				if (sh->slots[i].in_use)
					workers++;
				else if (free_slot < 0)
					free_slot = i;
			}
			// no allocation under the lock
			shm::Request *waiting[shm::max_requests];
			int nwaiting = 0;
			for (auto &r : sh->requests)
				// a configuration with a run in flight waits for it (a full
				// sync asked for during a run is the next run)
				if (r.used && !shm::running_slot(r.dbid, r.config_id))
					waiting[nwaiting++] = &r;
			std::sort(waiting, waiting + nwaiting,
					  [](const shm::Request *a, const shm::Request *b) { return a->ticket < b->ticket; });
			// 1. to idle workers of their databases
			for (int i = 0; i < nwaiting; i++) {
				shm::Request *r = waiting[i];
				if (shm::running_slot(r->dbid, r->config_id))
					continue; // given out above in this pass
				int idle = idle_worker_for(r->dbid, r->config_id);
				if (idle < 0)
					continue;
				shm::RunSlot &slot = sh->slots[idle];
				shm::assign_run_locked(slot, r->dbid, r->config_id, r->ticket, r->full);
				r->used = false;
				SetLatch(slot.latch);
			}
			// 2. the oldest left to a new worker, if there is room; if not,
			// an idle worker whose database has nothing waiting makes room
			shm::Request *next = nullptr;
			for (int i = 0; i < nwaiting && !next; i++) {
				shm::Request *r = waiting[i];
				if (!r->used || shm::running_slot(r->dbid, r->config_id))
					continue;
				if (workers < sunsync_max_workers && free_slot >= 0)
					next = r;
				else
					retire_idle_worker_without_work(waiting, nwaiting);
			}
			if (!next)
				return;
			request = *next;
			shm::RunSlot &slot = sh->slots[free_slot];
			slot.in_use = true;
			slot.pid = 0;
			slot.latch = nullptr;
			slot.retire = false;
			slot.ncached = 0;
			slot.idle_since = 0;
			shm::assign_run_locked(slot, request.dbid, request.config_id, request.ticket, request.full);
			next->used = false;
		}

		if (run_handles[free_slot]) {
			pfree(run_handles[free_slot]);
			run_handles[free_slot] = nullptr;
		}
		run_handle_ticket[free_slot] = request.ticket;
		if (worker::start_run_worker(free_slot, request.ticket, request.dbid, request.config_id,
									 &run_handles[free_slot])) {
			warned_no_worker_slot = false;
			continue;
		}
		// no background worker slot: put the request back and retry later;
		// one that waited too long (or finds the queue full) fails, so that
		// a push waiting for it gets an answer
		bool requeued = false;
		bool expired = TimestampDifferenceExceeds(request.queued_at, GetCurrentTimestamp(), unstartable_request_ms);
		{
			shm::Locked lock(LW_EXCLUSIVE);
			sh->slots[free_slot].in_use = false;
			if (!expired)
				for (auto &r : sh->requests)
					if (!r.used) {
						r = request;
						r.used = true;
						requeued = true;
						break;
					}
			if (!requeued)
				shm::record_outcome(request.ticket, request.dbid, request.config_id, false, "53000",
									"no background worker could be started for the run (max_worker_processes is "
									"exhausted)");
		}
		if (!requeued)
			ConditionVariableBroadcast(&sh->outcome_cv);
		if (!warned_no_worker_slot)
			ereport(WARNING,
					(errmsg("sunsync could not start a worker for configuration %lld",
							static_cast<long long>(request.config_id)),
					 errhint("Raise max_worker_processes; sunsync needs sunsync.max_workers + 1 + one per database.")));
		warned_no_worker_slot = true;
		return;
	}
}

void launcher_exit(int, Datum)
{
	shm::Shared *sh = shm::shared();
	if (!sh)
		return;
	shm::Locked lock(LW_EXCLUSIVE);
	if (sh->launcher_pid == MyProcPid) {
		sh->launcher_pid = 0;
		sh->launcher_latch = nullptr;
	}
}

void launcher_loop()
{
	shm::Shared *sh = shm::shared();
	{
		shm::Locked lock(LW_EXCLUSIVE);
		sh->launcher_pid = MyProcPid;
		sh->launcher_latch = MyLatch;
	}
	want_all_databases();
	for (;;) {
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending) {
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		manage_databases();
		reap_unstarted_runs();
		start_queued_runs();
		int rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000,
						   PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
	}
}

} // namespace

// SIGTERM ends the launcher through PostgreSQL's die(): CHECK_FOR_INTERRUPTS
// exits with status 1, so the postmaster starts it again (after
// bgw_restart_time) unless the server is shutting down.  Any C++ exception
// is logged the same way, never std::terminate.
void sunsync_launcher_main(Datum)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	// registered before the connection: it runs after the transaction
	// cleanup, with every LWLock released
	before_shmem_exit(launcher_exit, 0);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);
	bool failed = false;
	try {
		launcher_loop();
	} catch (...) {
		pg::keep_current_exception();
		failed = true;
	}
	if (failed)
		pg::report_kept_error(); // FATAL in a worker: logged, exit status 1
	proc_exit(1);
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

bool start_run_worker(int slot_index, uint64 ticket, Oid dbid, int64 config_id,
					  BackgroundWorkerHandle **handle)
{
	BackgroundWorker w;
	fill_worker(w, "sunsync_run_worker_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "sunsync worker for configuration %lld in database %u",
			 static_cast<long long>(config_id), dbid);
	w.bgw_main_arg = Int32GetDatum(slot_index);
	static_assert(sizeof ticket <= BGW_EXTRALEN, "the ticket travels in bgw_extra");
	std::memcpy(w.bgw_extra, &ticket, sizeof ticket);
	return RegisterDynamicBackgroundWorker(&w, handle);
}

} // namespace sunsync::worker
