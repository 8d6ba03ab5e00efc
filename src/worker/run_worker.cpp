// A run worker: the run the launcher started it for, then, connected to its
// database, whatever runs of that database the launcher gives it next,
// keeping the target connections of its last runs open between them
// (remote/connection_cache.hpp).  It leaves when it has been idle for a
// minute, or when the launcher needs its slot for another database.
//
// SIGTERM (pg_terminate_backend, fast shutdown) goes to PostgreSQL's die():
// the next CHECK_FOR_INTERRUPTS ends the process wherever it is, source query,
// lock wait, COPY stream, target wait or idle wait.  However the worker ends,
// its exit callback tells waiters how its run ended (if it had one), frees
// the slot and wakes the database's worker, which marks the run FAILED in
// sunsync's tables.
#include "engine/run.hpp"
#include "engine/scope_cache.hpp"
#include "pg/guard.hpp"
#include "remote/connection_cache.hpp"
#include "worker/shared_state.hpp"
#include "worker/workers.hpp"

extern "C" {
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "access/xact.h"
#include "utils/backend_status.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

#include <algorithm>
#include <cstring>

namespace {

using namespace sunsync;

// How long a worker waits for another run, and keeps an unused target
// connection.
constexpr long idle_exit_ms = 60000;
constexpr long connection_idle_ms = 60000;

int my_slot = -1;
bool claimed = false;          // the slot is this process's
uint64 running_ticket = 0;     // the run in progress, 0 while idle
remote::ConnectionCache *connections = nullptr; // closed at exit

// Claims the slot the launcher prepared; false when it is no longer ours to
// run (an earlier launcher gave up on this worker before it started).
bool claim_slot(int index, uint64 ticket)
{
	shm::Locked lock(LW_EXCLUSIVE);
	shm::RunSlot &slot = shm::shared()->slots[index];
	if (!slot.in_use || slot.ticket != ticket || slot.pid != 0)
		return false;
	slot.pid = MyProcPid;
	slot.latch = MyLatch;
	return true;
}

// Records how the run ended (for sunsync_push(wait => true) and the
// database's worker); the slot stays this worker's, idle.
void finish_run(bool ok, const char *sqlstate, const char *error, const char *hint)
{
	if (!claimed || running_ticket == 0)
		return;
	uint64 ticket = running_ticket;
	running_ticket = 0;
	shm::Shared *sh = shm::shared();
	{
		shm::Locked lock(LW_EXCLUSIVE);
		shm::RunSlot &slot = sh->slots[my_slot];
		if (!slot.in_use || slot.ticket != ticket || slot.pid != MyProcPid)
			return;
		shm::record_outcome(ticket, slot.dbid, slot.config_id, ok, sqlstate, error, hint);
		// the database's worker: a continuous configuration's next run, or
		// its retry; a run that failed may not have recorded how
		shm::wake_database_worker(slot.dbid, !ok);
		slot.ticket = 0;
		slot.config_id = 0;
		slot.stop = false;
		slot.full = false;
		slot.phase[0] = '\0';
		slot.table_name[0] = '\0';
		slot.idle_since = GetCurrentTimestamp();
	}
	ConditionVariableBroadcast(&sh->outcome_cv);
	shm::wake_launcher();
}

// Tells the launcher which configurations' connections are kept here.
void publish_cached(const remote::ConnectionCache &cache)
{
	std::vector<int64> ids = cache.configs(shm::max_cached_configs); // most recently used first
	shm::Locked lock(LW_EXCLUSIVE);
	shm::RunSlot &slot = shm::shared()->slots[my_slot];
	slot.ncached = std::min<int>(static_cast<int>(ids.size()), shm::max_cached_configs);
	for (int i = 0; i < slot.ncached; i++)
		slot.cached[i] = ids[i];
}

// Runs after the transaction cleanup (registered before the connection), so
// no LWLock is held here.  In one critical section: no run can be given to
// the slot any more, the run it holds (in progress, or given to it while
// it was idle and not yet begun) ends FAILED for its waiters, and the slot
// is freed.
void run_worker_exit(int, Datum)
{
	if (connections)
		connections->clear(); // a polite goodbye to each target
	if (!claimed)
		return;
	claimed = false;
	const char *why = running_ticket == 0 ? "the sunsync worker given the run stopped before it began"
				   : ProcDiePending		  ? "the run was stopped: its worker was terminated"
										  : "the sunsync worker stopped before the run finished";
	shm::Shared *sh = shm::shared();
	bool ended_run = false;
	{
		shm::Locked lock(LW_EXCLUSIVE);
		shm::RunSlot &slot = sh->slots[my_slot];
		if (slot.in_use && slot.pid == MyProcPid) {
			slot.retire = true;
			if (slot.ticket != 0) {
				shm::record_outcome(slot.ticket, slot.dbid, slot.config_id, false, "57P01", why,
									"See the server log; push again to retry.");
				shm::wake_database_worker(slot.dbid, true);
				ended_run = true;
			}
			slot.ticket = 0;
			slot.config_id = 0;
			slot.in_use = false;
			slot.pid = 0;
			slot.latch = nullptr;
			slot.ncached = 0;
		}
	}
	running_ticket = 0;
	if (ended_run)
		ConditionVariableBroadcast(&sh->outcome_cv);
	shm::wake_launcher();
}

// Waits, idle, for the next run: returns its config id, or 0 when the
// worker should leave (idle for long, or its slot is wanted elsewhere).
int64 next_run(remote::ConnectionCache &cache)
{
	pgstat_report_activity(STATE_IDLE, "sunsync: waiting for the next run");
	for (;;) {
		pg::guard([] { CHECK_FOR_INTERRUPTS(); });
		if (ConfigReloadPending) {
			ConfigReloadPending = false;
			pg::guard([] { ProcessConfigFile(PGC_SIGHUP); });
		}
		TimestampTz idle_since;
		{
			shm::Locked lock(LW_EXCLUSIVE);
			shm::RunSlot &slot = shm::shared()->slots[my_slot];
			if (slot.ticket != 0) {
				running_ticket = slot.ticket;
				return slot.config_id;
			}
			idle_since = slot.idle_since;
			bool idle_long = TimestampDifferenceExceeds(idle_since, GetCurrentTimestamp(), idle_exit_ms);
			// sunsync left the database (DROP EXTENSION; DROP DATABASE may follow)
			bool database_gone = shm::database_entry(slot.dbid) == nullptr;
			if (slot.retire || idle_long || database_gone) {
				// no run can be given to it from now on
				slot.retire = true;
				return 0;
			}
		}
		std::vector<int64> before = cache.configs(shm::max_cached_configs);
		long next_close = cache.close_idle(connection_idle_ms);
		if (cache.configs(shm::max_cached_configs) != before)
			publish_cached(cache);
		long wait = idle_exit_ms - static_cast<long>((GetCurrentTimestamp() - idle_since) / 1000);
		if (next_close >= 0)
			wait = std::min(wait, next_close);
		wait = std::max(wait, 10L);
		pg::guard([wait] {
			int rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait, PG_WAIT_EXTENSION);
			if (rc & WL_LATCH_SET)
				ResetLatch(MyLatch);
		});
	}
}

void serve_runs(int64 first_config)
{
	engine::scope_cache::enable();
	remote::ConnectionCache cache;
	// the exit callback closes them when a FATAL ends the process here
	struct Published {
		explicit Published(remote::ConnectionCache *c) { connections = c; }
		~Published() { connections = nullptr; }
	} published(&cache);
	shm::RunSlot *slot = &shm::shared()->slots[my_slot];
	for (int64 config_id = first_config; config_id != 0; config_id = next_run(cache)) {
		std::string activity = "sunsync: sync of configuration " + std::to_string(config_id);
		pg::guard([&] {
			SetCurrentStatementStartTimestamp(); // query_start in pg_stat_activity
			pgstat_report_activity(STATE_RUNNING, activity.c_str());
		});
		engine::RunOutcome outcome = engine::run_config(slot, config_id, cache);
		// a run whose last transaction could not end (recording its
		// failure failed too) leaves nothing open for the next one
		pg::guard([] {
			if (IsTransactionState() || IsTransactionOrTransactionBlock())
				AbortCurrentTransaction();
			// a worker that never exits still reports its tables' activity
			// (autovacuum counts on it)
			pgstat_report_stat(false);
		});
		if (!outcome.ok)
			pg::guard([&] {
				ereport(LOG, (errmsg("sunsync: sync of configuration %lld failed: %s",
									 static_cast<long long>(config_id), outcome.error.c_str())));
			});
		publish_cached(cache);
		finish_run(outcome.ok, outcome.sqlstate.c_str(), outcome.error.c_str(), outcome.hint.c_str());
	}
}

} // namespace

void sunsync_run_worker_main(Datum arg)
{
	my_slot = DatumGetInt32(arg);
	uint64 ticket;
	std::memcpy(&ticket, MyBgworkerEntry->bgw_extra, sizeof ticket);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	before_shmem_exit(run_worker_exit, 0);
	if (!claim_slot(my_slot, ticket))
		proc_exit(0);
	claimed = true;
	running_ticket = ticket;
	Oid dbid;
	int64 config_id;
	{
		shm::Locked lock(LW_SHARED);
		dbid = shm::shared()->slots[my_slot].dbid;
		config_id = shm::shared()->slots[my_slot].config_id;
	}
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
	pgstat_report_appname("sunsync worker");

	// run_config catches what it can record; anything else is logged here,
	// never std::terminate
	bool failed = false;
	try {
		serve_runs(config_id);
	} catch (...) {
		pg::keep_current_exception();
		failed = true;
	}
	// (serve_runs' objects are gone: the ERROR below jumps over no C++
	// object) an ERROR in a background worker ends it; the exit callback
	// records the run and frees the slot
	if (failed)
		pg::report_kept_error();
	proc_exit(0);
}
