#include "engine/run.hpp"

#include "catalog/catalog_version.hpp"
#include "common/quote.hpp"
#include "crypto/seal.hpp"
#include "engine/copy_sink.hpp"
#include "engine/read_locks.hpp"
#include "engine/source_scope.hpp"
#include "engine/target_schema.hpp"
#include "pg/as_role.hpp"
#include "pg/guard.hpp"
#include "pg/spi.hpp"
#include "remote/connection.hpp"
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
	f();
	pg::guard([] {
		PopActiveSnapshot();
		CommitTransactionCommand();
	});
}

void set_progress(shm::RunSlot *slot, const char *phase, const std::string &table, int done, int total)
{
	shm::Locked lock(LW_EXCLUSIVE);
	strlcpy(slot->phase, phase, sizeof slot->phase);
	strlcpy(slot->table_name, table.c_str(), sizeof slot->table_name);
	slot->tables_done = done;
	slot->tables_total = total;
}

struct Config {
	std::string owner, sealed, target_schema;
	bool trusted = false;
	bool restored_copy = false; // made in the database this one was restored from
};

// Transaction 1: the configuration, locked; the run marked IN_PROGRESS with
// its history row.  Returns the run id.
std::string start_run(const std::string &id, Config &cfg)
{
	std::string run_id;
	in_transaction(false, [&] {
		pg::Spi spi;
		require_catalog_version(spi);
		auto row = spi.run("SELECT owner, target_url_sealed, coalesce(target_schema, ''), "
						   "created_by_superuser, source_id IS NOT DISTINCT FROM (SELECT id FROM sunsync.source) "
						   "FROM sunsync.configs WHERE id = $1::bigint FOR UPDATE",
						   {id});
		if (row.empty())
			throw Error("42704", "configuration " + id + " does not exist");
		cfg.owner = *row.rows[0][0];
		cfg.sealed = *row.rows[0][1];
		cfg.target_schema = *row.rows[0][2];
		cfg.trusted = *row.rows[0][3] == "t";
		cfg.restored_copy = *row.rows[0][4] != "t";
		spi.run("UPDATE sunsync.configs SET status = 'IN_PROGRESS' WHERE id = $1::bigint", {id});
		run_id = *spi.run("INSERT INTO sunsync.history (config_id, kind, status) "
						  "VALUES ($1::bigint, 'full', 'IN_PROGRESS') RETURNING run_id",
						  {id})
					  .scalar();
	});
	return run_id;
}

std::unique_ptr<remote::Connection> connect_target(const std::string &id, const Config &cfg,
												   std::function<void()> check_stop)
{
	SealKey key = load_key(sunsync_key_file ? sunsync_key_file : "");
	std::string url = unseal(key, cfg.sealed, "sunsync config " + id);
	remote::ConnectOptions options;
	options.allow_private_targets = sunsync_allow_private_targets;
	options.trusted = cfg.trusted;
	options.connect_timeout_ms = sunsync_connect_timeout_ms;
	options.statement_timeout_ms = sunsync_statement_timeout_ms;
	options.lock_timeout_ms = sunsync_lock_timeout_ms;
	options.check_stop = std::move(check_stop);
	// the worker's text is in the database's encoding (its own client
	// encoding is SQL_ASCII: no conversion); the target converts it
	options.client_encoding = GetDatabaseEncodingName();
	return std::make_unique<remote::Connection>(url, options);
}

// Runs f(spi) in a read-only repeatable-read transaction whose snapshot is
// taken only after ACCESS SHARE locks on every table the scope reads (as
// pg_dump locks); when the scope changed between the lock list and the
// snapshot, the new list is locked and a new snapshot taken.
template <typename F>
void in_locked_snapshot(F &&f)
{
	ReadSet reads;
	in_transaction(false, [&] {
		pg::Spi spi;
		reads = relations_to_read(spi);
	});
	for (int attempt = 1;; attempt++) {
		bool scope_changed = false;
		in_transaction(
			true,
			[&] {
				pg::Spi spi;
				if (ReadSet now = relations_to_read(spi); now != reads) {
					reads = std::move(now);
					scope_changed = true;
					return;
				}
				f(spi);
			},
			[&] { lock_for_reading(reads); });
		if (!scope_changed)
			return;
		if (attempt == 3)
			throw Error("40001", "the registered tables kept changing while the run started", {},
						"Push again once sunsync_add_table and sunsync_remove_table calls are done.");
	}
}

// A full sync, in one target transaction: the target's copy is replaced by
// the owner's rows read in the caller's snapshot.  Returns the rows copied.
uint64 full_sync(pg::Spi &spi, remote::Connection &conn, shm::RunSlot *slot, const Config &cfg,
				 const std::function<void()> &check_stop)
{
	set_progress(slot, "reading scope", "", 0, 0);
	Scope scope = load_scope(spi, cfg.owner, cfg.target_schema);
	// Rows are read as the role that set the root: owner_expr is its code
	// and must not run with more rights than it has.
	Oid reader = pg::oid_of(spi.run("SELECT set_by::oid FROM sunsync.root").scalar());
	int total = static_cast<int>(scope.tables.size());
	set_progress(slot, "preparing target", "", 0, total);
	add_missing_enum_labels(conn, scope);
	conn.exec("BEGIN ISOLATION LEVEL READ COMMITTED");
	ensure_tables(conn, scope);
	std::string all;
	for (const auto &t : scope.tables)
		all += (all.empty() ? "" : ", ") + target_table(t);
	// readers of the target keep seeing the old copy until COMMIT
	drop_foreign_keys(conn, scope);
	conn.exec("TRUNCATE " + all);
	uint64 rows = 0;
	int done = 0;
	for (const auto &t : scope.tables) {
		check_stop();
		set_progress(slot, "copying", t.display, done, total);
		std::vector<std::string> cols;
		for (const auto &c : t.columns)
			cols.push_back(c.name);
		conn.copy_begin("COPY " + target_table(t) + " (" + quote_ident_list(cols) + ") FROM STDIN (FORMAT " +
						(t.binary ? "binary" : "text") + ", FREEZE)");
		CopyProgress progress{&slot->rows_done, &slot->stop};
		{
			pg::AsRole as_reader(reader);
			stream_query(select_sql(t), t.binary, conn, progress);
		}
		rows += conn.copy_end();
		done++;
	}
	set_progress(slot, "checking foreign keys", "", done, total);
	add_foreign_keys(conn, scope);
	set_progress(slot, "committing", "", done, total);
	check_stop();
	conn.exec("COMMIT");
	return rows;
}

void record_success(const std::string &id, const std::string &run_id, uint64 rows)
{
	in_transaction(false, [&] {
		pg::Spi spi;
		spi.run("UPDATE sunsync.configs SET status = 'COMPLETED', last_sync_at = now(), "
				"last_error = NULL WHERE id = $1::bigint",
				{id});
		spi.run("UPDATE sunsync.history SET status = 'COMPLETED', finished_at = clock_timestamp(), "
				"rows_upserted = $2::bigint WHERE run_id = $1::bigint",
				{run_id, std::to_string(rows)});
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
			pg::Spi spi;
			spi.run("UPDATE sunsync.configs SET status = 'FAILED', last_error = $2 WHERE id = $1::bigint",
					{id, out.error});
			if (!run_id.empty())
				spi.run("UPDATE sunsync.history SET status = 'FAILED', finished_at = clock_timestamp(), "
						"error = $2, rows_upserted = 0 WHERE run_id = $1::bigint",
						{run_id, out.error});
		});
	} catch (const Error &e) {
		out.error += " (and the failure could not be recorded: " + e.message() + ")";
	}
}

} // namespace

RunOutcome run_config(shm::RunSlot *slot, int64 config_id)
{
	RunOutcome out;
	std::string id = std::to_string(config_id);
	std::string run_id;
	std::function<void()> check_stop = [slot, id] {
		if (slot->stop)
			throw Error("57P01", "the run was stopped: configuration " + id + " was deleted");
	};
	try {
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
		auto conn = connect_target(id, cfg, check_stop);

		set_progress(slot, "locking", "", 0, 0);
		uint64 rows = 0;
		in_locked_snapshot([&](pg::Spi &spi) { rows = full_sync(spi, *conn, slot, cfg, check_stop); });

		record_success(id, run_id, rows);
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
	record_failure(id, run_id, out);
	return out;
}

} // namespace sunsync::engine
