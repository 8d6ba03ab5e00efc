#include "engine/run.hpp"

#include "catalog/catalog_version.hpp"
#include "common/quote.hpp"
#include "crypto/seal.hpp"
#include "engine/change_queue.hpp"
#include "engine/copy_sink.hpp"
#include "engine/full_copy.hpp"
#include "engine/full_sync_reason.hpp"
#include "engine/incremental.hpp"
#include "engine/read_locks.hpp"
#include "engine/scope_cache.hpp"
#include "engine/settle.hpp"
#include "engine/source_scope.hpp"
#include "engine/target_record.hpp"
#include "engine/target_login.hpp"
#include "engine/target_schema.hpp"
#include "pg/as_role.hpp"
#include "pg/canonical_output.hpp"
#include "pg/guard.hpp"
#include "pg/spi.hpp"
#include "pg/wal_position.hpp"
#include "remote/connection.hpp"
#include "remote/connection_cache.hpp"
#include "scope/capture_triggers.hpp"
#include "scope/scope_refresh.hpp"
#include "settings.hpp"
#include "target/url.hpp"
#include "worker/shared_state.hpp"

extern "C" {
#include "access/xact.h"
#include "commands/extension.h"
#include "mb/pg_wchar.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
}

#include <cstring>
#include <functional>
#include <memory>

namespace sunsync::engine {

namespace {

void set_lock_timeout()
{
	std::string timeout = std::to_string(sunsync_lock_timeout_ms) + "ms";
	pg::guard([&] {
		set_config_option("lock_timeout", timeout.c_str(), PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0,
						  false);
	});
}

// Runs f in a transaction of its own (read-only repeatable read when asked:
// one snapshot for every table of a run).  before_snapshot runs first, in
// the transaction, before its snapshot is taken (to take locks).
template <typename F, typename B = void (*)()>
void in_transaction(bool snapshot_read, F &&f, B &&before_snapshot = [] {})
{
	pg::guard([snapshot_read] {
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		if (snapshot_read) {
			XactIsoLevel = XACT_REPEATABLE_READ;
			XactReadOnly = true;
		}
		// qualified names in format_type() and no search_path surprises
		set_config_option("search_path", "pg_catalog", PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
						  true, 0, false);
	});
	// no lock wait of a run is unbounded (a session that holds sunsync's
	// rows and waits for this run would otherwise wait forever)
	set_lock_timeout();
	before_snapshot();
	pg::guard([] { PushActiveSnapshot(GetTransactionSnapshot()); });
	if (snapshot_read)
		scope_cache::snapshot_taken();
	f();
	pg::guard([] {
		PopActiveSnapshot();
		CommitTransactionCommand();
	});
}

// For the rest of a transaction that reads and writes only sunsync's own
// rows (its configuration, the history, the registered tables), found by
// their keys: their plans are kept for the life of the worker, and one made
// while the statistics still said the history was empty scanned all of it
// at every run (1.8 ms a run after a minute).  No JIT either: a table with
// no index to use is scanned all the same, at a cost beyond jit_above_cost.
// Not for a transaction where tenant code may run (the rows' reads, a
// restored scope adopted, the settle wait).
void plan_for_bookkeeping()
{
	pg::guard([] {
		for (const char *name : {"enable_seqscan", "jit"})
			set_config_option(name, "off", PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	});
}

using shm::set_progress;

struct Config {
	std::string owner, sealed, target_schema, source_id;
	std::optional<int32> owner_hash;
	pg::Value settled;        // this database's copy of the target's record
	bool lost_changes = false; // changes it had not shipped were dropped (lost_horizon)
	bool trusted = false;
	bool restored_copy = false; // made in the database this one was restored from
};

// Transaction 1: the configuration, locked; the run marked IN_PROGRESS with
// its history row.  Returns the run id.
std::string start_run(const std::string &id, Config &cfg)
{
	std::string run_id;
	in_transaction(false, [&] {
		plan_for_bookkeeping();
		pg::Spi spi;
		require_catalog_version(spi);
		auto row = spi.run("SELECT owner, target_url_sealed, coalesce(target_schema, ''), "
						   "created_by_superuser, source_id IS NOT DISTINCT FROM (SELECT id FROM sunsync.source), "
						   "owner_hash, (SELECT id FROM sunsync.source)::text, settled_snapshot::text, lost_horizon IS NOT NULL "
						   "FROM sunsync.configs WHERE id = $1::bigint FOR UPDATE",
						   {id});
		if (row.empty())
			throw Error("42704", "configuration " + id + " does not exist");
		cfg.owner = *row.rows[0][0];
		cfg.sealed = *row.rows[0][1];
		cfg.target_schema = *row.rows[0][2];
		cfg.trusted = *row.rows[0][3] == "t";
		cfg.restored_copy = *row.rows[0][4] != "t";
		if (row.rows[0][5])
			cfg.owner_hash = std::stoi(*row.rows[0][5]);
		cfg.source_id = *row.rows[0][6];
		cfg.settled = row.rows[0][7];
		cfg.lost_changes = *row.rows[0][8] == "t";
		spi.run("UPDATE sunsync.configs SET status = 'IN_PROGRESS' WHERE id = $1::bigint", {id});
		run_id = *spi.run("INSERT INTO sunsync.history (config_id, kind, status) "
						  "VALUES ($1::bigint, 'full', 'IN_PROGRESS') RETURNING run_id",
						  {id})
					  .scalar();
	});
	return run_id;
}

std::unique_ptr<remote::Connection> connect_target(remote::ConnectionCache &cache, const std::string &id, const Config &cfg,
												   std::function<void()> check_stop)
{
	return cache.take(unseal_target_url(cfg.sealed, id), target_options(cfg.trusted, std::move(check_stop)));
}

// Runs f(spi) in a read-only repeatable-read transaction whose snapshot is
// taken only after ACCESS SHARE locks on every table the scope reads (as
// pg_dump locks) and on the queue; when the scope changed between the lock
// list and the snapshot, the new list is locked and a new snapshot taken.
// reads: the scope's tables, as locked.
template <typename F>
void in_locked_snapshot(ReadSet &reads, F &&f)
{
	ReadSet queue;
	in_transaction(false, [&] {
		plan_for_bookkeeping();
		pg::Spi spi;
		reads = scope_cache::relations_to_read(spi);
		queue = scope_cache::queue_relations(spi);
	});
	for (int attempt = 1;; attempt++) {
		bool scope_changed = false;
		in_transaction(
			true,
			[&] {
				// values printed as text (links compared by text, as the
				// capture trigger prints them; COPY in text form) read the
				// same whatever the database's or role's settings
				pg::guard([] { pg::pin_output_settings(false); });
				pg::Spi spi;
				if (ReadSet now = scope_cache::relations_to_read(spi); now != reads) {
					reads = std::move(now);
					scope_changed = true;
					return;
				}
				f(spi);
			},
			[&] {
				lock_for_reading(reads);
				lock_for_reading(queue);
			});
		if (!scope_changed)
			return;
		if (attempt == 3)
			throw Error("40001", "the registered tables kept changing while the run started", {},
						"Push again once sunsync_add_table and sunsync_remove_table calls are done.");
	}
}

// What one attempt, in one snapshot, found and did.
struct Attempt {
	std::string snapshot;     // its snapshot, as pg_snapshot text
	bool need_settle = false; // wait for the writers, then try again
	bool full = false;
	std::string why_full;
	uint64 upserted = 0, deleted = 0;
	TargetRecord record;
};

Attempt run_in_snapshot(pg::Spi &spi, remote::Connection &conn, shm::RunSlot *slot, const Config &cfg,
						int64 config_id, const std::function<void()> &check_stop, bool settled,
						const std::string &settle_snapshot, bool force_full)
{
	Attempt a;
	a.snapshot = *spi.run("SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text").scalar();
	// after the snapshot: every commit it sees is before this position
	a.record.source_position = pg::current_wal_position();
	set_progress(slot, "reading scope", "", 0, 0);
	Scope scope = scope_cache::load_scope(spi, cfg.owner, cfg.target_schema);
	scope_cache::Root root = scope_cache::root(spi);
	int64 version = root.scope_version;
	// Rows are read as the role that set the root: owner_expr is its code
	// and must not run with more rights than it has.
	Oid reader = root.set_by;
	int total = static_cast<int>(scope.tables.size());
	set_progress(slot, "preparing target", "", 0, total);
	// the target in a few round trips: its catalog in one query, the
	// record in another, then everything else in one message with COMMIT
	TargetCatalog catalog = inspect_target(conn, scope, record_table(scope));
	add_missing_enum_labels(conn, scope, catalog);
	conn.exec("BEGIN ISOLATION LEVEL READ COMMITTED");
	std::optional<TargetRecord> record = read_record(conn, scope, catalog, cfg.source_id, config_id);
	a.why_full = force_full ? "a full sync was asked for"
						  : why_full_sync(spi, cfg.settled, cfg.lost_changes, config_id, record, version, a.snapshot);
	if (a.why_full.empty() && !cfg.owner_hash)
		a.why_full = "the owner has no hash";
	ChangeBatch batch;
	if (a.why_full.empty()) {
		batch = read_changes(spi, *cfg.owner_hash, Position{record->applied, record->settled}, true);
		if (batch.full)
			a.why_full = "a change only a full sync repairs (a TRUNCATE, or a move through a table that is not "
						 "registered)";
		else if (batch.too_many)
			a.why_full = "more than " + std::to_string(max_batch_keys) + " rows changed since the last run";
	}
	a.full = !a.why_full.empty();
	if ((a.full || batch.moves) && !settled) {
		// the record's lock is not held while this database's writers are waited for
		conn.exec("ROLLBACK");
		conn.sync();
		a.need_settle = true;
		return a;
	}
	if (ensure_tables(conn, scope, catalog) && !a.full) {
		a.full = true;
		a.why_full = "a table or column was added on the target";
	}
	if (a.full && !force_full) {
		std::string why = a.why_full;
		pg::guard([&] {
			ereport(LOG, (errmsg("sunsync: configuration %lld gets a full sync: %s", static_cast<long long>(config_id),
								 why.c_str())));
		});
	}
	a.record.applied = a.snapshot;
	a.record.settled = settled ? settle_snapshot : a.snapshot;
	a.record.scope_version = version;
	ApplyResult shipped;
	if (a.full)
		copy_everything(conn, scope, catalog, reader, slot, check_stop, &shipped.upserted);
	else
		apply_changes(conn, scope, catalog, batch, reader, slot, check_stop, shipped);
	write_record(conn, scope, catalog, cfg.source_id, config_id, cfg.owner, a.record);
	check_stop();
	// the commits the target will have are durable here first (with
	// synchronous_commit = off they may not be yet): a crash of this
	// database cannot lose what its targets' records count as shipped.
	// Every commit the run's snapshot sees is before this WAL position.
	pg::flush_wal_to_here();
	conn.exec("COMMIT");
	// until its first COPY the target is still being prepared (schema,
	// TRUNCATE: where a lock there holds the run); the COPYs say what they do
	conn.sync();
	a.upserted = shipped.upserted;
	a.deleted = shipped.deleted;
	return a;
}

void record_success(const std::string &id, const std::string &run_id, const Attempt &a)
{
	in_transaction(false, [&] {
		plan_for_bookkeeping();
		pg::Spi spi;
		// a full sync covers what the queue dropped before it only if its
		// snapshot saw every transaction that wrote there (the queue may
		// have dropped them while this run was under way)
		spi.run("UPDATE sunsync.configs SET status = 'COMPLETED', last_sync_at = now(), last_error = NULL, "
				"next_attempt_at = NULL, "
				"applied_snapshot = $2::pg_catalog.pg_snapshot, settled_snapshot = $3::pg_catalog.pg_snapshot, "
				"lost_horizon = CASE WHEN $4::boolean AND pg_catalog.pg_snapshot_xmin($3::pg_catalog.pg_snapshot) "
				"OPERATOR(pg_catalog.>=) lost_horizon THEN NULL ELSE lost_horizon END WHERE id = $1::bigint",
				{id, a.record.applied, a.record.settled, a.full ? "true" : "false"});
		spi.run("UPDATE sunsync.history SET status = 'COMPLETED', finished_at = clock_timestamp(), "
				"kind = $2, rows_upserted = $3::bigint, rows_deleted = $4::bigint WHERE run_id = $1::bigint",
				{run_id, a.full ? "full" : "incremental", std::to_string(a.upserted), std::to_string(a.deleted)});
	});
}

// Leaves the failure where users look: the config and its history row.
void record_failure(const std::string &id, const std::string &run_id, RunOutcome &out)
{
	try {
		pg::guard([] {
			if (IsTransactionState() || IsAbortedTransactionBlockState() || GetCurrentTransactionNestLevel() > 0)
				AbortCurrentTransaction();
		});
		in_transaction(false, [&] {
			plan_for_bookkeeping();
			pg::Spi spi;
			if (!run_id.empty())
				spi.run("UPDATE sunsync.history SET status = 'FAILED', finished_at = clock_timestamp(), "
						"error = $2, rows_upserted = 0, rows_deleted = 0, kind = $3 WHERE run_id = $1::bigint",
						{run_id, out.error, out.kind.empty() ? "full" : out.kind});
			// a continuous configuration is retried after 1 s, 2 s, 4 s...
			// (the failures in a row since its last success) up to
			// sunsync.retry_max_delay, each delay drawn from its upper half
			// so that configurations that failed together spread out
			spi.run("UPDATE sunsync.configs c SET status = 'FAILED', last_error = $2, next_attempt_at = CASE "
					"WHEN c.continuous THEN pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => "
					"LEAST($3::float8, 2 ^ LEAST(30, GREATEST(f.n, 1) - 1)) * (0.5 + pg_catalog.random() / 2)) END "
					"FROM (SELECT count(*) AS n FROM sunsync.history h WHERE h.config_id = $1::bigint "
					"      AND h.status = 'FAILED' AND h.run_id > coalesce((SELECT max(run_id) FROM sunsync.history "
					"      WHERE config_id = $1::bigint AND status = 'COMPLETED'), 0)) f "
					"WHERE c.id = $1::bigint",
					{id, out.error, std::to_string(sunsync_retry_max_delay_ms / 1000.0)});
		});
	} catch (const Error &e) {
		out.error += " (and the failure could not be recorded: " + e.message() + ")";
	}
}

} // namespace

RunOutcome run_config(shm::RunSlot *slot, int64 config_id, remote::ConnectionCache &connections)
{
	RunOutcome out;
	std::string id = std::to_string(config_id);
	std::string run_id;
	std::function<void()> check_stop = [slot, id] {
		if (slot->stop)
			throw Error("57P01", "the run was stopped: configuration " + id + " was deleted");
	};
	try {
		// from here on, what this run ships is read from now on: a push that
		// waits for what its caller committed waits for the next run
		shm::note_reading(slot);
		Config cfg;
		run_id = start_run(id, cfg);
		if (cfg.restored_copy)
			throw Error(sqlstate::object_not_in_prerequisite_state,
						"configuration " + id + " was made in another database: this one was restored from a dump of it",
						"A restored copy does not push into the targets of the database it was copied from.",
						"To push from this database, confirm the target: sunsync_update_config(" + id +
							", target_url => '...').");
		in_transaction(false, [&] {
			pg::Spi spi;
			scope::adopt_restored_scope(spi);
		});

		set_progress(slot, "connecting", "", 0, 0);
		auto conn = connect_target(connections, id, cfg, check_stop);

		// A move, or a full copy, is shipped only after the writers that may
		// have seen the old owner ended (engine/settle.hpp): the first
		// attempt finds out, waits, and the second ships it.
		bool settled = false;
		std::string settle_snapshot;
		Attempt a;
		for (int attempt = 1;; attempt++) {
			set_progress(slot, "locking", "", 0, 0);
			ReadSet reads;
			in_locked_snapshot(reads, [&](pg::Spi &spi) {
				a = run_in_snapshot(spi, *conn, slot, cfg, config_id, check_stop, settled, settle_snapshot,
									slot->full);
			});
			out.kind = a.full ? "full" : "incremental";
			if (!a.need_settle)
				break;
			if (attempt == 3)
				throw Error(sqlstate::internal_error, "the run could not settle its changes");
			set_progress(slot, "waiting for writers", "", 0, 0);
			settle_snapshot = a.snapshot;
			in_transaction(false, [&] { wait_for_writers(reads, slot->ticket, config_id); });
			settled = true;
		}

		set_progress(slot, "recording", "", 0, 0);
		record_success(id, run_id, a);
		// idle now: the next run of this configuration may use it
		if (conn->idle())
			connections.keep(config_id, std::move(conn));
		set_progress(slot, "done", "", 0, 0);
		out.ok = true;
		return out;
	} catch (const Error &e) {
		out.sqlstate = e.sqlstate();
		out.error = e.message() + (e.detail().empty() ? "" : " (" + e.detail() + ")");
		out.hint = e.hint();
	} catch (const std::exception &e) {
		out.sqlstate = sqlstate::internal_error;
		out.error = e.what();
	}
	// what the failure came from may be something the worker kept
	scope_cache::forget();
	record_failure(id, run_id, out);
	return out;
}

} // namespace sunsync::engine
