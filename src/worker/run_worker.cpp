// A run worker: one run of one configuration, then exit.
//
// SIGTERM (pg_terminate_backend, fast shutdown) goes to PostgreSQL's die():
// the next CHECK_FOR_INTERRUPTS ends the process wherever it is, source query,
// lock wait, COPY stream or target wait.  However the worker ends, its exit
// callback tells waiters how, frees the slot and wakes the database's worker,
// which marks the run FAILED in sunsync's tables.
#include "engine/run.hpp"
#include "pg/guard.hpp"
#include "worker/shared_state.hpp"
#include "worker/workers.hpp"

extern "C" {
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
}

#include <cstring>

namespace {

using namespace sunsync;

int my_slot = -1;
uint64 my_ticket = 0;
bool claimed = false;

// Claims the slot the launcher prepared; false when it is no longer ours to
// run (an earlier launcher gave up on this worker before it started).
bool claim_slot(int index, uint64 ticket)
{
	shm::Locked lock(LW_EXCLUSIVE);
	shm::RunSlot &slot = shm::shared()->slots[index];
	if (!slot.in_use || slot.ticket != ticket || slot.pid != 0)
		return false;
	slot.pid = MyProcPid;
	return true;
}

// Records how the run ended (for sunsync_push(wait => true)) and frees the
// slot; called once, from the end of the run or from the exit callback.
void release_slot(bool ok, const char *sqlstate, const char *error, const char *hint)
{
	if (!claimed)
		return;
	claimed = false;
	shm::Shared *sh = shm::shared();
	{
		shm::Locked lock(LW_EXCLUSIVE);
		shm::RunSlot &slot = sh->slots[my_slot];
		if (!slot.in_use || slot.ticket != my_ticket || slot.pid != MyProcPid)
			return;
		shm::record_outcome(my_ticket, ok, sqlstate, error, hint);
		slot.in_use = false;
		slot.pid = 0;
		if (!ok)
			shm::wake_database_worker(slot.dbid);
	}
	ConditionVariableBroadcast(&sh->outcome_cv);
	shm::wake_launcher();
}

// Runs after the transaction cleanup (registered before the connection), so
// no LWLock is held here.
void run_worker_exit(int, Datum)
{
	if (!claimed)
		return;
	release_slot(false, "57P01",
				 ProcDiePending ? "the run was stopped: its worker was terminated"
								: "the sunsync worker stopped before the run finished",
				 "See the server log; push again to retry.");
}

} // namespace

void sunsync_run_worker_main(Datum arg)
{
	my_slot = DatumGetInt32(arg);
	std::memcpy(&my_ticket, MyBgworkerEntry->bgw_extra, sizeof my_ticket);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	before_shmem_exit(run_worker_exit, 0);
	if (!claim_slot(my_slot, my_ticket))
		proc_exit(0);
	claimed = true;
	Oid dbid;
	int64 config_id;
	shm::RunSlot *slot = &shm::shared()->slots[my_slot];
	{
		shm::Locked lock(LW_SHARED);
		dbid = slot->dbid;
		config_id = slot->config_id;
	}
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
	pgstat_report_appname("sunsync worker");

	// run_config catches what it can record; anything else is logged here,
	// never std::terminate
	bool failed = false;
	{
		engine::RunOutcome outcome;
		try {
			outcome = engine::run_config(slot, config_id);
		} catch (...) {
			pg::keep_current_exception();
			failed = true;
		}
		if (!failed) {
			if (!outcome.ok)
				ereport(LOG, (errmsg("sunsync: sync of configuration %lld failed: %s",
									 static_cast<long long>(config_id), outcome.error.c_str())));
			release_slot(outcome.ok, outcome.sqlstate.c_str(), outcome.error.c_str(), outcome.hint.c_str());
		}
	}
	// (outcome is gone: the ERROR below jumps over no C++ object) an ERROR
	// in a background worker ends it; the exit callback records the run and
	// frees the slot
	if (failed)
		pg::report_kept_error();
	proc_exit(0);
}
