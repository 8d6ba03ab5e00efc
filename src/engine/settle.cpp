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
#include <utility>
#include <vector>

namespace sunsync::engine {

namespace {

// The modes a writer takes (INSERT, UPDATE, DELETE, TRUNCATE, and the
// DDL that rewrites rows); not VACUUM's, ANALYZE's or CREATE INDEX
// CONCURRENTLY's, which look up no owner and may run for hours.
constexpr LOCKMASK write_modes = LOCKBIT_ON(RowExclusiveLock) | LOCKBIT_ON(ShareRowExclusiveLock) |
								 LOCKBIT_ON(ExclusiveLock) | LOCKBIT_ON(AccessExclusiveLock);

struct Writer {
	VirtualTransactionId vxid;
	int pid; // 0: a prepared transaction
};

} // namespace

void wait_for_writers(const ReadSet &relations, uint64 ticket, int64 config_id)
{
	// sessions waiting for this run, or for the next run of its
	// configuration (which waits for this one): waiting for them would
	// wait for ourselves
	int waiting[shm::max_waiters];
	int nwaiting = 0;
	{
		shm::Locked lock(LW_SHARED);
		for (const auto &w : shm::shared()->waiters)
			if (w.pid != 0 && ((w.ticket == ticket && ticket != 0) ||
							   (w.dbid == MyDatabaseId && w.config_id == config_id && w.ticket != 0)))
				waiting[nwaiting++] = w.pid;
	}
	std::set<int> waiting_for_us(waiting, waiting + nwaiting);
	std::set<Oid> oids;
	pg::guard([&] {
		for (const auto &[oid, name] : relations) {
			List *rels = find_all_inheritors(oid, NoLock, nullptr);
			ListCell *lc;
			foreach (lc, rels)
				oids.insert(lfirst_oid(lc));
			list_free(rels);
		}
	});
	// Every transaction holding a write lock on them now, prepared ones
	// included (they commit later, from any session), by virtual
	// transaction id: what CREATE INDEX CONCURRENTLY waits for.
	std::vector<Writer> writers;
	std::set<std::pair<BackendId, LocalTransactionId>> seen;
	pg::guard([&] {
		LockData *locks = GetLockStatusData();
		for (int i = 0; i < locks->nelements; i++) {
			const LockInstanceData &l = locks->locks[i];
			if (l.locktag.locktag_type != LOCKTAG_RELATION || l.locktag.locktag_field1 != MyDatabaseId ||
				(l.holdMask & write_modes) == 0 || oids.count(l.locktag.locktag_field2) == 0 ||
				!LocalTransactionIdIsValid(l.lxid) || l.pid == MyProcPid)
				continue;
			if (!seen.insert({l.backend, l.lxid}).second)
				continue;
			VirtualTransactionId vxid;
			vxid.backendId = l.backend;
			vxid.localTransactionId = l.lxid;
			writers.push_back({vxid, l.pid});
		}
	});
	for (const Writer &w : writers)
		if (w.pid != 0 && waiting_for_us.count(w.pid))
			throw Error(sqlstate::object_not_in_prerequisite_state,
						"the run must wait for the transaction of the session waiting for it (pid " +
							std::to_string(w.pid) + "), which writes to a replicated table",
						"The run ships rows that moved to another owner (or a first copy): it first waits for every "
						"transaction writing to the replicated tables.",
						"Commit that transaction first, then push; or push without wait.");
	try {
		for (const Writer &w : writers)
			pg::guard([&] {
				CHECK_FOR_INTERRUPTS();
				VirtualXactLock(w.vxid, true);
			});
	} catch (const Error &e) {
		if (e.sqlstate() != "55P03")
			throw;
		std::string who;
		int prepared = 0;
		for (const Writer &w : writers)
			if (w.pid == 0)
				prepared++;
			else
				who += (who.empty() ? "" : ", ") + std::to_string(w.pid);
		if (prepared > 0)
			who += (who.empty() ? "" : ", and ") + std::to_string(prepared) + " prepared transaction" +
				   (prepared > 1 ? "s" : "");
		throw Error("55P03", "transactions writing to the replicated tables did not end within sunsync.lock_timeout",
					"A run that ships rows that moved to another owner, or a full copy, waits for the transactions "
					"that write to the replicated tables when it starts, as CREATE INDEX CONCURRENTLY does "
					"(sessions: " + who + ").",
					"See pg_stat_activity and pg_prepared_xacts for those transactions; the next run tries again.");
	}
}

} // namespace sunsync::engine
