// SQL functions that talk to the workers through shared memory:
// sunsync_push, sunsync.active_runs (behind sunsync_progress and the status
// of sunsync_configs) and sunsync.wake_launcher.
#include "engine/read_locks.hpp"
#include "catalog/catalog_version.hpp"
#include "pg/args.hpp"
#include "pg/guard.hpp"
#include "pg/spi.hpp"
#include "scope/scope_refresh.hpp"
#include "worker/shared_state.hpp"

extern "C" {
#include "access/transam.h"
#include "access/xact.h"
#include "funcapi.h"
#include "storage/lock.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"
#include "utils/wait_event.h"
}

#include <cerrno>
#include <csignal>
#include <cstring>
#include <vector>

using namespace sunsync;

namespace {

shm::Shared *require_shared()
{
	shm::Shared *sh = shm::shared();
	if (!sh)
		pg::raise(sqlstate::object_not_in_prerequisite_state,
				  "sunsync must be loaded via shared_preload_libraries");
	return sh;
}

struct Waited {
	bool found = false;
	bool ok = false;
	std::string sqlstate, error, hint;
};

Waited look_for_outcome(uint64 ticket, bool &still_pending, const shm::Waiter *mine)
{
	Waited w;
	shm::Locked lock(LW_SHARED);
	if (mine && mine->done && mine->ticket == ticket) {
		w.found = true;
		w.ok = mine->ok;
		w.sqlstate = mine->sqlstate;
		w.error = mine->error;
		w.hint = mine->hint;
		still_pending = false;
		return w;
	}
	for (const auto &o : shm::shared()->outcomes)
		if (o.ticket == ticket) {
			w.found = true;
			w.ok = o.ok;
			w.sqlstate = o.sqlstate;
			w.error = o.error;
			w.hint = o.hint;
		}
	still_pending = false;
	for (const auto &s : shm::shared()->slots)
		if (s.in_use && s.ticket != 0 && s.ticket == ticket)
			still_pending = true;
	for (const auto &r : shm::shared()->requests)
		if (r.used && r.ticket == ticket)
			still_pending = true;
	return w;
}

// A push that waits must be able to end: the worker cannot see a
// configuration this transaction created or changed (nor lock its row), and
// cannot read a table on which this transaction holds ACCESS EXCLUSIVE.
void refuse_wait_that_cannot_end(pg::Spi &spi, const std::string &id)
{
	// created or updated here (an update makes a new row version); callers
	// cannot lock the row otherwise, having no right on sunsync.configs
	auto row = spi.run("SELECT xmin::text FROM sunsync.configs WHERE id = $1::bigint", {id});
	TransactionId xmin = static_cast<TransactionId>(std::stoul(*row.rows[0][0]));
	bool mine = pg::guard([xmin] { return TransactionIdIsCurrentTransactionId(xmin); });
	if (mine)
		pg::raise(sqlstate::object_not_in_prerequisite_state,
				  "cannot wait for a push of configuration " + id +
					  " in the transaction that created or changed it",
				  "The run happens in a worker, which sees the configuration only once this transaction commits.",
				  "Commit first, then push; or push without wait.");
	// a restored scope holds another database's OIDs until the run derives
	// it again (not here: the run would wait for this transaction's writes)
	if (scope::is_restored_scope(spi))
		return;
	for (const auto &[oid, name] : engine::relations_to_read(spi)) {
		bool held = pg::guard([oid = oid] {
			LOCKTAG tag;
			SET_LOCKTAG_RELATION(tag, MyDatabaseId, oid);
			return LockHeldByMe(&tag, AccessExclusiveLock);
		});
		if (held)
			pg::raise(sqlstate::object_not_in_prerequisite_state,
					  "cannot wait for a push while this transaction holds an ACCESS EXCLUSIVE lock on table " +
						  name,
					  "The run must read that table, and would wait for this transaction to end.",
					  "Commit first, then push; or push without wait.");
	}
}

// This session waits for a run (ticket): the run must not wait for this
// session's transaction in turn (engine/settle.hpp).
// A session waiting for a run, known to the run (engine/settle.hpp refuses
// to wait for the transaction of a session that waits for it).  Claimed
// under the same lock that queues or joins the run, so that no run can
// start without knowing about it.
class WaiterEntry {
public:
	WaiterEntry() = default;
	// with the shared-state lock held; false when every entry is taken
	bool claim_locked()
	{
		for (auto &w : shm::shared()->waiters) {
			// a session that ended by FATAL (terminated while it waited)
			// never released its entry
			if (w.pid != 0 && kill(w.pid, 0) != 0 && errno == ESRCH)
				w.ticket = 0, w.pid = 0;
			if (w.ticket == 0 && w.pid == 0) {
				w.pid = MyProcPid;
				w.done = false;
				entry_ = &w;
				return true;
			}
		}
		return false;
	}
	void set_ticket_locked(uint64 ticket, int64 config_id)
	{
		entry_->ticket = ticket;
		entry_->dbid = MyDatabaseId;
		entry_->config_id = config_id;
	}
	// Where the outcome is kept for this session (read it under the lock).
	const shm::Waiter *entry() const { return entry_; }
	~WaiterEntry()
	{
		if (!entry_)
			return;
		shm::Locked lock(LW_EXCLUSIVE);
		entry_->ticket = 0;
		entry_->pid = 0;
		entry_->done = false;
	}
	WaiterEntry(const WaiterEntry &) = delete;
	WaiterEntry &operator=(const WaiterEntry &) = delete;

private:
	shm::Waiter *entry_ = nullptr;
};

} // namespace

SUNSYNC_SQL_FUNCTION(sunsync_push)
{
	auto id = pg::int64_arg(fcinfo, 0);
	if (!id)
		pg::raise(sqlstate::invalid_parameter_value, "config_id must not be NULL");
	bool wait = pg::bool_arg(fcinfo, 1).value_or(false);
	bool full = PG_NARGS() > 2 && pg::bool_arg(fcinfo, 2).value_or(false);
	std::string id_text = std::to_string(*id);
	{
		pg::Spi spi;
		require_catalog_version(spi);
		pg::CatalogOwnerScope as_owner;
		if (spi.run("SELECT 1 FROM sunsync.configs WHERE id = $1::bigint", {id_text}).empty())
			pg::raise(sqlstate::undefined_object, "configuration " + id_text + " does not exist",
					  {}, "See the view sunsync_configs.");
		if (wait)
			refuse_wait_that_cannot_end(spi, id_text);
	}
	shm::Shared *sh = require_shared();

	uint64 ticket = 0;
	bool queue_full = false, waiters_full = false;
	WaiterEntry waiting;
	{
		shm::Locked lock(LW_EXCLUSIVE);
		if (wait && !waiting.claim_locked())
			waiters_full = true;
	}
	if (waiters_full)
		pg::raise("53400", "too many sessions are waiting for pushes", {},
				  "Push without wait, and watch sunsync_configs.status.");
	{
		shm::Locked lock(LW_EXCLUSIVE);
		// A push while a run is queued or in flight joins that run; one that
		// asks for a full sync while a run is in flight, or waits for a run
		// that has begun to read the source, queues the next run.
		ticket = shm::queue_run_locked(MyDatabaseId, *id, full,
									   wait ? shm::JoinRunning::before_read : shm::JoinRunning::always);
		queue_full = ticket == 0;
		if (wait && !queue_full)
			waiting.set_ticket_locked(ticket, *id);
		shm::want_database(MyDatabaseId, true);
	}
	if (queue_full)
		pg::raise("53400", "too many sync requests are waiting", {},
				  "Wait for runs in progress to finish, or raise sunsync.max_workers.");
	shm::wake_launcher();
	if (!wait)
		return pg::text_datum("IN_PROGRESS");

	// The launcher may be restarting (the postmaster starts it again within
	// seconds); a request it never picks up is not waited for forever.
	Waited outcome;
	int seconds_without_launcher = 0;
	for (;;) {
		bool pending = false;
		outcome = look_for_outcome(ticket, pending, waiting.entry());
		if (outcome.found || !pending)
			break;
		seconds_without_launcher = sh->launcher_pid == 0 ? seconds_without_launcher + 1 : 0;
		if (seconds_without_launcher > 30)
			pg::raise(sqlstate::object_not_in_prerequisite_state,
					  "the sunsync launcher is not running", "The push stays queued.",
					  "See the server log; max_worker_processes must leave room for sunsync.");
		pg::guard([sh] {
			ConditionVariableTimedSleep(&sh->outcome_cv, 1000, PG_WAIT_EXTENSION);
		});
	}
	pg::guard([] { ConditionVariableCancelSleep(); });
	if (!outcome.found)
		pg::raise(sqlstate::internal_error, "the run of configuration " + id_text +
												" ended, but its outcome is no longer known",
				  {}, "See sunsync_history.");
	if (!outcome.ok)
		pg::raise(outcome.sqlstate.size() == 5 ? outcome.sqlstate.c_str() : sqlstate::internal_error,
				  "sync of configuration " + id_text + " failed: " + outcome.error, {},
				  outcome.hint.empty() ? "See sunsync_history for the run." : outcome.hint);
	return pg::text_datum("COMPLETED");
}

SUNSYNC_SQL_FUNCTION(sunsync_active_runs)
{
	struct Row {
		int64 config_id;
		int pid;
		std::string phase, table;
		int done, total;
		int64 rows;
	};
	std::vector<Row> rows;
	shm::Shared *sh = require_shared();
	{
		shm::Locked lock(LW_SHARED);
		for (auto &s : sh->slots)
			if (s.in_use && s.ticket != 0 && s.dbid == MyDatabaseId)
				rows.push_back({s.config_id, s.pid, s.phase[0] ? s.phase : "starting", s.table_name,
								s.tables_done, s.tables_total,
								static_cast<int64>(pg_atomic_read_u64(&s.rows_done))});
		for (const auto &r : sh->requests)
			if (r.used && r.dbid == MyDatabaseId)
				rows.push_back({r.config_id, 0, "queued", "", 0, 0, 0});
	}
	pg::guard([&] {
		InitMaterializedSRF(fcinfo, 0);
		auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
		for (const Row &r : rows) {
			Datum values[7];
			bool nulls[7] = {false, r.pid == 0, false, r.table.empty(), false, false, false};
			values[0] = Int64GetDatum(r.config_id);
			values[1] = Int32GetDatum(r.pid);
			values[2] = CStringGetTextDatum(r.phase.c_str());
			values[3] = r.table.empty() ? (Datum) 0 : CStringGetTextDatum(r.table.c_str());
			values[4] = Int32GetDatum(r.done);
			values[5] = Int32GetDatum(r.total);
			values[6] = Int64GetDatum(r.rows);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	});
	return (Datum) 0;
}

SUNSYNC_SQL_FUNCTION(sunsync_wake_launcher)
{
	require_shared();
	{
		shm::Locked lock(LW_EXCLUSIVE);
		shm::want_database(MyDatabaseId, true);
		// CREATE EXTENSION: a new queue, no configured owners yet
		if (shm::Database *d = shm::database_entry(MyDatabaseId)) {
			d->owners_loaded = false;
			d->queue_current = -1;
		}
	}
	shm::wake_launcher();
	PG_RETURN_VOID();
}
