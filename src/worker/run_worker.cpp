// A run worker: one run of one configuration, then exit.  SIGTERM stops the
// run cleanly (FAILED, with a message), like a deleted configuration does.
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
}

extern "C" {
volatile sig_atomic_t sunsync_stop_requested = false;
}

namespace {

void on_sigterm(SIGNAL_ARGS)
{
	int save_errno = errno;
	sunsync_stop_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

} // namespace

void sunsync_run_worker_main(Datum arg)
{
	using namespace sunsync;
	int index = DatumGetInt32(arg);
	shm::Shared *sh = shm::shared();
	shm::RunSlot *slot = &sh->slots[index];
	Oid dbid;
	int64 config_id;
	uint64 ticket;
	{
		shm::Locked lock(LW_EXCLUSIVE);
		slot->pid = MyProcPid;
		dbid = slot->dbid;
		config_id = slot->config_id;
		ticket = slot->ticket;
	}
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, on_sigterm);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
	pgstat_report_appname("sunsync worker");

	engine::RunOutcome outcome = engine::run_config(slot, config_id);
	if (!outcome.ok)
		ereport(LOG, (errmsg("sunsync: sync of configuration %lld failed: %s",
							 static_cast<long long>(config_id), outcome.error.c_str())));
	{
		shm::Locked lock(LW_EXCLUSIVE);
		shm::record_outcome(ticket, outcome.ok, outcome.sqlstate.c_str(), outcome.error.c_str(),
							outcome.hint.c_str());
		slot->in_use = false;
		slot->pid = 0;
	}
	ConditionVariableBroadcast(&sh->outcome_cv);
	shm::wake_launcher();
	proc_exit(0);
}
