#include "worker/queue_maintenance.hpp"

#include "capture/configured_owners.hpp"
#include "capture/owner_cache.hpp"
#include "catalog/catalog_version.hpp"
#include "pg/guard.hpp"
#include "pg/spi.hpp"
#include "pg/transaction.hpp"
#include "settings.hpp"
#include "worker/shared_state.hpp"

extern "C" {
#include "access/transam.h"
#include "access/xact.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
}

#include <string>
#include <utility>

namespace sunsync::worker {

namespace {

// a TRUNCATE does not wait behind a run that reads the table (unless it
// has failed for long: see truncate_failures)
template <typename F>
void in_transaction(F &&f, const char *lock_timeout = "1ms")
{
	pg::in_worker_transaction(std::forward<F>(f), lock_timeout);
}

// per queue table: maintenance passes (one a second or so) in a row whose
// TRUNCATE found it in use
int truncate_failures[3] = {0, 0, 0};

std::string next_xid()
{
	return std::to_string(pg::guard([] { return U64FromFullTransactionId(ReadNextFullTransactionId()); }));
}

void set_shared_current(int n)
{
	shm::Locked lock(LW_EXCLUSIVE);
	if (shm::Database *d = shm::database_entry(MyDatabaseId))
		d->queue_current = n;
}

struct QueueTable {
	int n;
	bool current;
	bool empty;       // since IS NULL
	bool has_horizon;
};

std::vector<QueueTable> queue_tables(pg::Spi &spi)
{
	std::vector<QueueTable> out;
	for (const auto &r : spi.run("SELECT n, is_current, since IS NULL, horizon IS NOT NULL FROM sunsync.queue_tables "
								 "ORDER BY n")
							 .rows)
		out.push_back({std::stoi(*r[0]), *r[1] == "t", *r[2] == "t", *r[3] == "t"});
	return out;
}

} // namespace

void maintain_queue()
{
	// shared memory names the current table; retired tables get a horizon
	// once it does (writers that read the old name have lower xids)
	int current = -1;
	in_transaction([&] {
		pg::Spi spi;
		// a catalog still at 0.1 (before ALTER EXTENSION UPDATE) has no queue
		if (*spi.run("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'sunsync'").scalar() !=
			catalog_version)
			return;
		for (const auto &t : queue_tables(spi))
			if (t.current)
				current = t.n;
	});
	if (current < 0)
		return;
	set_shared_current(current);
	in_transaction([&] {
		pg::Spi spi;
		spi.run("UPDATE sunsync.queue_tables SET horizon = $1::xid8 "
				"WHERE NOT is_current AND since IS NOT NULL AND horizon IS NULL",
				{next_xid()});
	});

	// empty what every configuration has shipped, or what is too old (then
	// the configurations that had not shipped it are told so)
	struct Retired {
		int n;
		bool expired;
	};
	std::vector<Retired> retired;
	in_transaction([&] {
		pg::Spi spi;
		for (const auto &r : spi.run(
				 "SELECT q.n, q.since < pg_catalog.now() - pg_catalog.make_interval(secs => $1::integer) "
				 "FROM sunsync.queue_tables q WHERE NOT q.is_current AND q.horizon IS NOT NULL "
				 "AND pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()) OPERATOR(pg_catalog.>=) q.horizon",
				 {std::to_string(sunsync_queue_retention_s)})
							 .rows)
			retired.push_back({std::stoi(*r[0]), *r[1] == "t"});
	});
	for (const auto &t : retired) {
		std::string table = "sunsync.queue_" + std::to_string(t.n);
		// configurations whose settled snapshot does not see every entry
		// they (or every owner) have there; one without a settled snapshot
		// yet (its first run under way, or its record not written back)
		// sees none
		std::string behind = "FROM sunsync.configs c WHERE c.owner_hash IS NOT NULL "
							 "AND EXISTS (SELECT FROM " + table + " e WHERE e.owner_hash IN (c.owner_hash, 0) "
							 "AND (c.settled_snapshot IS NULL "
							 "OR NOT pg_catalog.pg_visible_in_snapshot(e.txid, c.settled_snapshot)))";
		// Runs that overlap, one after the other, could keep a 1 ms TRUNCATE
		// out for good: after 60 failed passes it waits up to 5 s (runs
		// that start meanwhile wait behind it; writers never touch a
		// retired table).
		bool insist = truncate_failures[t.n] >= 60;
		try {
			in_transaction([&] {
				pg::Spi spi;
				bool consumed = spi.run(("SELECT 1 " + behind + " LIMIT 1").c_str()).empty();
				if (!consumed && !t.expired)
					return;
				if (!consumed)
					spi.run(("UPDATE sunsync.configs SET lost_horizon = GREATEST(lost_horizon, (SELECT horizon FROM "
							 "sunsync.queue_tables WHERE n = " + std::to_string(t.n) + ")) WHERE id IN (SELECT c.id " + behind + ")")
								.c_str());
				spi.run(("TRUNCATE " + table).c_str());
				spi.run("UPDATE sunsync.queue_floor f SET floor = q.horizon FROM sunsync.queue_tables q "
						"WHERE q.n = $1::integer AND q.horizon OPERATOR(pg_catalog.>) f.floor",
						{std::to_string(t.n)});
				spi.run("UPDATE sunsync.queue_tables SET since = NULL, horizon = NULL WHERE n = $1::integer",
						{std::to_string(t.n)});
			}, insist ? "5s" : "1ms");
			truncate_failures[t.n] = 0;
		} catch (const Error &e) {
			if (e.sqlstate() != "55P03")
				throw;
			truncate_failures[t.n]++;
		}
	}

	// the next table takes over when it is empty and the current one is old
	int next = -1;
	in_transaction([&] {
		pg::Spi spi;
		auto tables = queue_tables(spi);
		int candidate = (current + 1) % 3;
		bool due = !spi.run("SELECT 1 FROM sunsync.queue_tables WHERE n = $1::integer AND since < pg_catalog.now() - "
							"pg_catalog.make_interval(secs => $2::integer)",
							{std::to_string(current), std::to_string(sunsync_queue_rotation_s)})
						.empty();
		if (!due || !tables[candidate].empty)
			return;
		spi.run("UPDATE sunsync.queue_tables SET is_current = (n = $1::integer), "
				"since = CASE WHEN n = $1::integer OR n = $2::integer THEN pg_catalog.now() ELSE since END, "
				"horizon = CASE WHEN n = $2::integer THEN NULL ELSE horizon END",
				{std::to_string(candidate), std::to_string(current)});
		next = candidate;
	});
	if (next >= 0) {
		set_shared_current(next);
		in_transaction([&] {
			pg::Spi spi;
			spi.run("UPDATE sunsync.queue_tables SET horizon = $1::xid8 WHERE n = $2::integer",
					{next_xid(), std::to_string(current)});
		});
	}

	in_transaction([] { capture::prune_configured_owners(); });

	// prepared transactions that moved rows: the capture triggers' owner
	// cache stays off until none is left (their COMMIT PREPARED can come
	// from any session)
	if (uint32 seen = capture::prepared_moves()) {
		bool none = false;
		in_transaction([&] {
			pg::Spi spi;
			none = *spi.run("SELECT count(*) = 0 FROM pg_catalog.pg_prepared_xacts").scalar() == "t";
		});
		capture::forget_prepared_moves_if_none(none, seen);
	}
}

} // namespace sunsync::worker
