#include "engine/settle.hpp"

#include "pg/guard.hpp"
#include "worker/shared_state.hpp"

extern "C" {
#include "catalog/pg_inherits.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/sinvaladt.h"
}

#include <set>
#include <string>

namespace sunsync::engine {

void wait_for_writers(const ReadSet &relations, uint64 ticket)
{
	std::set<int> waiting_for_us;
	{
		shm::Locked lock(LW_SHARED);
		for (const auto &w : shm::shared()->waiters)
			if (w.ticket == ticket && ticket != 0)
				waiting_for_us.insert(w.pid);
	}
	std::set<int> writers;
	List *tags = NIL;
	pg::guard([&] {
		for (const auto &[oid, name] : relations) {
			List *rels = find_all_inheritors(oid, NoLock, nullptr);
			ListCell *lc;
			foreach (lc, rels) {
				auto *tag = static_cast<LOCKTAG *>(palloc(sizeof(LOCKTAG)));
				SET_LOCKTAG_RELATION(*tag, MyDatabaseId, lfirst_oid(lc));
				tags = lappend(tags, tag);
				int count = 0;
				VirtualTransactionId *holders = GetLockConflicts(tag, ShareLock, &count);
				for (int i = 0; i < count; i++) {
					PGPROC *proc = BackendIdGetProc(holders[i].backendId);
					if (proc)
						writers.insert(proc->pid);
				}
			}
		}
	});
	for (int pid : writers)
		if (waiting_for_us.count(pid))
			throw Error(sqlstate::object_not_in_prerequisite_state,
						"the run must wait for the transaction of the session waiting for it (pid " + std::to_string(pid) +
							"), which writes to a replicated table",
						"The run ships rows that moved to another owner (or a first copy): it first waits for every "
						"transaction writing to the replicated tables.",
						"Commit that transaction first, then push; or push without wait.");
	if (writers.empty())
		return;
	try {
		pg::guard([&] { WaitForLockersMultiple(tags, ShareLock, false); });
	} catch (const Error &e) {
		if (e.sqlstate() != "55P03")
			throw;
		std::string pids;
		for (int pid : writers)
			pids += (pids.empty() ? "" : ", ") + std::to_string(pid);
		throw Error("55P03", "transactions writing to the replicated tables did not end within sunsync.lock_timeout",
					"A run that ships rows that moved to another owner, or a full copy, waits for the transactions "
					"that write to the replicated tables when it starts, as CREATE INDEX CONCURRENTLY does "
					"(sessions: " + pids + ").",
					"See pg_stat_activity for those sessions; the next run tries again.");
	}
}

} // namespace sunsync::engine
