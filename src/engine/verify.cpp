#include "engine/verify.hpp"

#include "catalog/catalog_version.hpp"
#include "common/quote.hpp"
#include "engine/change_queue.hpp"
#include "engine/full_sync_reason.hpp"
#include "engine/key_params.hpp"
#include "engine/read_locks.hpp"
#include "engine/source_scope.hpp"
#include "engine/target_login.hpp"
#include "engine/target_record.hpp"
#include "engine/target_schema.hpp"
#include "pg/as_role.hpp"
#include "pg/canonical_output.hpp"
#include "pg/guard.hpp"
#include "pg/spi.hpp"
#include "pg/subtransaction.hpp"
#include "remote/connection.hpp"
#include "settings.hpp"

extern "C" {
#include "access/xact.h"
#include "access/xlog.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"
}

#include <cstring>
#include <set>

namespace sunsync::engine {

namespace {

// More queued keys than this: the pending rows are not told apart (their
// digests are held in memory while the tables are compared).
constexpr uint64 max_pending_keys = 100000;
constexpr long fetch_rows = 10000;

struct VerifyConfig {
	std::string owner, sealed, target_schema, source_id;
	std::optional<int32> owner_hash;
	pg::Value settled;
	bool lost_changes = false;
	bool trusted = false;
};

VerifyConfig read_config(pg::Spi &spi, const std::string &id)
{
	auto row = spi.run("SELECT owner, target_url_sealed, coalesce(target_schema, ''), created_by_superuser, "
					   "owner_hash, (SELECT id FROM sunsync.source)::text, settled_snapshot::text, "
					   "lost_horizon IS NOT NULL, source_id IS NOT DISTINCT FROM (SELECT id FROM sunsync.source) "
					   "FROM sunsync.configs WHERE id = $1::bigint",
					   {id});
	if (row.empty())
		throw Error(sqlstate::undefined_object, "configuration " + id + " does not exist", {},
					"See the view sunsync_configs.");
	const pg::Row &r = row.rows[0];
	VerifyConfig cfg;
	cfg.owner = *r[0];
	cfg.sealed = *r[1];
	cfg.target_schema = *r[2];
	cfg.trusted = *r[3] == "t";
	if (r[4])
		cfg.owner_hash = std::stoi(*r[4]);
	cfg.source_id = *r[5];
	cfg.settled = r[6];
	cfg.lost_changes = *r[7] == "t";
	if (*r[8] != "t")
		throw Error(sqlstate::object_not_in_prerequisite_state,
					"configuration " + id + " was made in another database: this one was restored from a dump of it",
					"Its target is the copy of the database it was copied from.",
					"To use it from this database, confirm the target: sunsync_update_config(" + id +
						", target_url => '...').");
	return cfg;
}

// How a row's text becomes a digest, the same on both sides.  fast:
// hashtextextended (a key: two seeds, 128 bits; a row's values: 64
// bits), several times cheaper than md5 but over the text's bytes in the
// server's encoding, on a hash that could differ between platforms: used
// when a probe hashes alike on both servers.  Otherwise md5 of the text
// converted to UTF8.  Either way a uuid, ordered by memcmp.
bool fast_digests = false;

std::string digest_sql(const std::vector<std::string> &exprs, bool key)
{
	std::string list;
	for (const auto &e : exprs)
		list += (list.empty() ? "" : ", ") + e;
	std::string text = "ROW(" + list + ")::pg_catalog.text";
	if (!fast_digests)
		return "pg_catalog.md5(pg_catalog.convert_to(" + text + ", 'UTF8'))::pg_catalog.uuid";
	auto hex = [&text](const char *seed, int width) {
		return "pg_catalog.lpad(pg_catalog.to_hex(pg_catalog.hashtextextended(" + text + ", " + seed + ")), " +
			   std::to_string(width) + ", '0')";
	};
	return key ? "(" + hex("0", 16) + " || " + hex("1", 16) + ")::pg_catalog.uuid" : hex("0", 32) + "::pg_catalog.uuid";
}

// The same hash of this text and the same encoding on both servers: the
// fast digests are alike there.
const char *const probe_sql = "SELECT pg_catalog.hashtextextended('sunsync probe 1.5 -0', 0)::pg_catalog.text, "
							  "pg_catalog.current_setting('server_encoding')";

std::string value_sql(const std::string &alias, const std::string &column)
{
	return alias + "." + quote_ident(column);
}

std::vector<std::string> key_exprs(const std::string &alias, const TableSpec &t)
{
	std::vector<std::string> out;
	for (const auto &k : t.primary_key)
		out.push_back(value_sql(alias, k));
	return out;
}

// The digests of what a query returns in its first column (a uuid), run
// read-only in the active snapshot with the given parameters.
std::set<Digest> digests_of(const std::string &sql, ParamListInfo params)
{
	SPITupleTable *table = pg::guard([&] {
		SPIExecuteOptions options = {};
		options.read_only = true;
		options.params = params;
		int rc = SPI_execute_extended(sql.c_str(), &options);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "source query failed: %s", SPI_result_code_string(rc));
		return SPI_tuptable;
	});
	std::set<Digest> out;
	for (uint64 i = 0; i < table->numvals; i++) {
		bool isnull = false;
		Datum d = heap_getattr(table->vals[i], 1, table->tupdesc, &isnull);
		if (isnull)
			continue;
		Digest dg;
		std::memcpy(dg.data(), DatumGetUUIDP(d)->data, dg.size());
		out.insert(dg);
	}
	pg::guard([table] { SPI_freetuptable(table); });
	return out;
}

std::set<Digest> key_digests(const TableSpec &t, const std::unordered_set<std::string> &keys)
{
	if (keys.empty())
		return {};
	std::vector<KeyColumn> cols = key_columns(t);
	std::vector<std::string> exprs;
	for (size_t i = 0; i < cols.size(); i++)
		exprs.push_back(value_sql("k", "k" + std::to_string(i + 1)));
	ParamListInfo params = key_params(cols, {keys.begin(), keys.end()});
	return digests_of("SELECT " + digest_sql(exprs, true) + " FROM (" + keys_select(cols) + ") k", params);
}

// Of these keys of t, those in the owner's scope now.
std::set<Digest> present_digests(const TableSpec &t, const std::unordered_set<std::string> &keys)
{
	if (keys.empty())
		return {};
	std::vector<KeyColumn> cols = key_columns(t);
	std::vector<std::string> exprs;
	for (const auto &k : t.primary_key)
		exprs.push_back(value_sql("s", k));
	ParamListInfo params = key_params(cols, {keys.begin(), keys.end()});
	return digests_of("SELECT " + digest_sql(exprs, true) + " FROM (" + select_by_keys_sql(t, key_condition("t0", cols)) +
						  ") s",
					  params);
}

// What the next run will change, by table: rows pending on either side.
struct Pending {
	std::vector<std::set<Digest>> own;      // the row's own key was queued
	std::vector<std::set<Digest>> arrived;  // rows below these (source side)
	std::vector<std::set<Digest>> affected; // rows below these (target side: arrived or left)
};

Pending pending_rows(const Scope &scope, const ChangeBatch &batch)
{
	size_t n = scope.tables.size();
	Pending p{std::vector<std::set<Digest>>(n), std::vector<std::set<Digest>>(n), std::vector<std::set<Digest>>(n)};
	for (size_t i = 0; i < n; i++) {
		const TableSpec &t = scope.tables[i];
		auto it = batch.tables.find(t.oid);
		if (it == batch.tables.end())
			continue;
		const TableChanges &ch = it->second;
		std::unordered_set<std::string> all = ch.changed;
		all.insert(ch.orphans.begin(), ch.orphans.end());
		all.insert(ch.gained.begin(), ch.gained.end());
		p.own[i] = key_digests(t, all);
		p.arrived[i] = key_digests(t, ch.gained);
		// a changed row no longer in the scope left: what hangs from it on
		// the target leaves with it at the next run
		std::set<Digest> changed = key_digests(t, ch.changed), present = present_digests(t, ch.changed);
		p.affected[i] = p.arrived[i];
		for (const auto &d : changed)
			if (!present.count(d))
				p.affected[i].insert(d);
	}
	return p;
}

// An ancestor whose digest a row carries, and the digests that make the
// row pending.
struct AncestorCheck {
	const std::set<Digest> *pending;
};

struct TablePlan {
	std::string source_sql, target_sql; // target_sql empty: no such table there
	std::vector<AncestorCheck> source_checks, target_checks;
	std::string lacking; // what the target lacks of the table, which only a full sync adds
	std::vector<std::string> mismatches; // columns of another type there (every run fails on them)
};

TablePlan plan_table(const Scope &scope, const TargetCatalog &catalog, size_t index, const Pending &pending)
{
	const TableSpec &t = scope.tables[index];
	TablePlan plan;
	auto found = catalog.tables.find({t.target_schema, t.target_name});
	const TargetCatalog::Table *there = found == catalog.tables.end() ? nullptr : &found->second;
	if (!there)
		plan.lacking = "table " + t.display + " is not on the target";
	for (const auto &k : t.primary_key)
		if (there && !there->columns.count(k)) {
			// rows without their key cannot be matched: all count as missing
			plan.lacking = "table " + t.display + " lacks its key column " + quote_ident(k) + " on the target";
			there = nullptr;
		}
	std::vector<std::string> source_values, target_values;
	for (const auto &c : t.columns) {
		const TargetCatalog::Column *tc = nullptr;
		if (there)
			if (auto it = there->columns.find(c.name); it != there->columns.end())
				tc = &it->second;
		if (tc && tc->type != c.type_sql)
			plan.mismatches.push_back("table " + t.display + " column " + quote_ident(c.name) + " is " + tc->type +
									  " on the target but " + c.type_sql + " on the source");
		// a column the target generates is not sent (ensure_tables)
		if (tc && tc->generated)
			continue;
		if (there && !tc && plan.lacking.empty())
			plan.lacking = "table " + t.display + " lacks column " + quote_ident(c.name) + " on the target";
		source_values.push_back(value_sql("t0", c.name));
		target_values.push_back(tc ? value_sql("x0", c.name) : "NULL");
	}
	std::string source_cols = digest_sql(key_exprs("t0", t), true) + ", " + digest_sql(source_values, false);
	std::string target_cols = digest_sql(key_exprs("x0", t), true) + ", " + digest_sql(target_values, false);
	for (const auto &[ancestor, where] : t.ancestors) {
		const TableSpec *a = find_table(scope, ancestor);
		if (a == nullptr)
			continue;
		size_t ai = static_cast<size_t>(a - scope.tables.data());
		if (!pending.arrived[ai].empty()) {
			source_cols += ", " + digest_sql(key_exprs("t" + std::to_string(where.hop + 1), *a), true);
			plan.source_checks.push_back({&pending.arrived[ai]});
		}
		if (!pending.affected[ai].empty() && where.reachable_on_target && there) {
			target_cols += ", (SELECT " + digest_sql(key_exprs("x" + std::to_string(where.hop + 1), *a), true) +
						   target_chain(scope, t, where.hop) + " ORDER BY 1 LIMIT 1)"; // (a damaged copy may hold a parent twice)
			plan.target_checks.push_back({&pending.affected[ai]});
		}
	}
	plan.source_sql = "SELECT " + source_cols + t.from_sql + " ORDER BY 1";
	if (there)
		plan.target_sql = "COPY (SELECT " + target_cols + " FROM " + target_table(t) + " x0 ORDER BY 1) TO STDOUT";
	return plan;
}

bool pending_by(const std::vector<AncestorCheck> &checks, const std::vector<std::optional<Digest>> &ancestors)
{
	for (size_t i = 0; i < checks.size() && i < ancestors.size(); i++)
		if (ancestors[i] && checks[i].pending->count(*ancestors[i]))
			return true;
	return false;
}

// The source side of one table: a read-only cursor in the active snapshot,
// fetched a batch at a time.
class SourceRows {
public:
	SourceRows(const std::string &sql, const std::set<Digest> &own, const std::vector<AncestorCheck> &checks)
		: own_(own), checks_(checks), uncaught_at_start_(std::uncaught_exceptions())
	{
		portal_ = pg::guard([&] {
			SPIParseOpenOptions options = {};
			options.cursorOptions = CURSOR_OPT_NO_SCROLL;
			options.read_only = true;
			Portal p = SPI_cursor_parse_open(nullptr, sql.c_str(), &options);
			return p;
		});
	}
	~SourceRows()
	{
		// while an error unwinds, the abort that follows closes the portal
		if (std::uncaught_exceptions() > uncaught_at_start_)
			return;
		try {
			Portal p = portal_;
			pg::guard([p] { SPI_cursor_close(p); });
		} catch (...) {
		}
	}
	SourceRows(const SourceRows &) = delete;
	SourceRows &operator=(const SourceRows &) = delete;

	bool next(RowDigest &out)
	{
		if (next_ == rows_.size()) {
			if (done_ || !fetch())
				return false;
		}
		out = rows_[next_++];
		return true;
	}
	// Runs the query up to its first rows (the sort, mostly), while the
	// target sorts its side.
	void prime()
	{
		if (rows_.empty() && !done_)
			fetch();
	}

private:
	bool fetch()
	{
		rows_.clear();
		next_ = 0;
		Portal p = portal_;
		SPITupleTable *table = pg::guard([p] {
			CHECK_FOR_INTERRUPTS();
			SPI_cursor_fetch(p, true, fetch_rows);
			return SPI_tuptable;
		});
		uint64 n = table ? table->numvals : 0;
		if (n < static_cast<uint64>(fetch_rows))
			done_ = true;
		std::vector<std::optional<Digest>> ancestors(checks_.size());
		for (uint64 i = 0; i < n; i++) {
			RowDigest r;
			HeapTuple tuple = table->vals[i];
			TupleDesc desc = table->tupdesc;
			bool isnull = false;
			Datum d = heap_getattr(tuple, 1, desc, &isnull);
			std::memcpy(r.key.data(), DatumGetUUIDP(d)->data, r.key.size());
			d = heap_getattr(tuple, 2, desc, &isnull);
			std::memcpy(r.row.data(), DatumGetUUIDP(d)->data, r.row.size());
			for (size_t a = 0; a < checks_.size(); a++) {
				d = heap_getattr(tuple, static_cast<int>(a) + 3, desc, &isnull);
				ancestors[a].reset();
				if (!isnull) {
					Digest dg;
					std::memcpy(dg.data(), DatumGetUUIDP(d)->data, dg.size());
					ancestors[a] = dg;
				}
			}
			r.pending = own_.count(r.key) || pending_by(checks_, ancestors);
			rows_.push_back(r);
		}
		if (table)
			pg::guard([table] { SPI_freetuptable(table); });
		return !rows_.empty();
	}

	Portal portal_ = nullptr;
	const std::set<Digest> &own_;
	const std::vector<AncestorCheck> &checks_;
	std::vector<RowDigest> rows_;
	size_t next_ = 0;
	bool done_ = false;
	int uncaught_at_start_;
};

VerifyCounts compare_table(remote::Connection &conn, const TablePlan &plan, const std::set<Digest> &own, Oid reader)
{
	pg::AsRole as_reader(reader);
	SourceRows source(plan.source_sql, own, plan.source_checks);
	DigestMerge merge([&source](RowDigest &out) { return source.next(out); });
	if (!plan.target_sql.empty()) {
		const std::vector<AncestorCheck> &checks = plan.target_checks;
		conn.copy_out(plan.target_sql, [&merge, &own, &checks](const char *line, size_t len) {
			std::vector<CopyField> f = split_copy_line(line, len);
			RowDigest r;
			if (f.size() != 2 + checks.size() || f[0].null || f[1].null || !parse_digest(f[0].data, f[0].len, r.key) ||
				!parse_digest(f[1].data, f[1].len, r.row))
				throw Error(sqlstate::internal_error, "the target sent a row digest sunsync cannot read");
			std::vector<std::optional<Digest>> ancestors(checks.size());
			for (size_t a = 0; a < checks.size(); a++) {
				Digest dg;
				if (!f[a + 2].null && parse_digest(f[a + 2].data, f[a + 2].len, dg))
					ancestors[a] = dg;
			}
			r.pending = own.count(r.key) || pending_by(checks, ancestors);
			merge.target(r);
		});
		conn.send();
		source.prime();
		conn.sync();
	}
	return merge.finish();
}

// Pushed for the comparison's source reads; popped when it ends well (an
// error's abort pops it otherwise).
class LatestSnapshot {
public:
	LatestSnapshot() : uncaught_at_start_(std::uncaught_exceptions())
	{
		pg::guard([] { PushActiveSnapshot(GetLatestSnapshot()); });
	}
	~LatestSnapshot()
	{
		if (std::uncaught_exceptions() > uncaught_at_start_)
			return;
		try {
			pg::guard([] { PopActiveSnapshot(); });
		} catch (...) {
		}
	}
	LatestSnapshot(const LatestSnapshot &) = delete;
	LatestSnapshot &operator=(const LatestSnapshot &) = delete;

private:
	int uncaught_at_start_;
};

void notice(const std::string &message, const std::string &hint)
{
	pg::guard([&] { ereport(NOTICE, (errmsg("%s", message.c_str()), errhint("%s", hint.c_str()))); });
}

} // namespace

std::vector<TableVerdict> verify_config(int64 config_id)
{
	std::string id = std::to_string(config_id);
	// a standby's copy of the source may be behind what the target has
	// (and its WAL position is not the primary's)
	if (pg::guard([] { return RecoveryInProgress(); }))
		throw Error("25006", "sunsync_verify cannot run during recovery", {},
					"Verify on the primary: a standby may not have replayed what the target already has.");
	// One snapshot of the source taken after the target's is a read that a
	// SERIALIZABLE transaction could not vouch for
	if (IsolationIsSerializable())
		throw Error("25001", "sunsync_verify cannot run in a SERIALIZABLE transaction", {},
					"Call it in a READ COMMITTED or REPEATABLE READ transaction.");
	// Everything in a read-only subtransaction, always rolled back: nothing
	// the reader's code might try is written, and the locks, settings,
	// snapshot, SPI and portals of the call end with it, however it ends.
	pg::Subtransaction read_only;
	XactReadOnly = true;
	// settings of this call only: qualified type names (format_type), the
	// text forms the digests are made of, the bound on lock waits
	pg::RoleScope settings(GetUserId(), 0, "pg_catalog, pg_temp");
	std::string lock_timeout = std::to_string(sunsync_lock_timeout_ms) + "ms";
	pg::guard([&] {
		pg::pin_output_settings(true);
		// money prints by lc_monetary, which the two servers need not share
		set_config_option("lc_monetary", "C", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		set_config_option("lock_timeout", lock_timeout.c_str(), PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0,
						  false);
	});

	VerifyConfig cfg;
	ReadSet reads, queue;
	{
		pg::Spi spi(pg::Spi::latest);
		require_catalog_version(spi);
		pg::CatalogOwnerScope as_owner;
		cfg = read_config(spi, id);
		reads = relations_to_read(spi);
		queue = queue_relations(spi);
	}
	// as pg_dump: no TRUNCATE or rewrite of what is read while it is read
	lock_for_reading(reads);
	lock_for_reading(queue);

	// the target first: its copy and its record in one snapshot
	Scope scope;
	std::string version;
	{
		pg::Spi spi(pg::Spi::latest);
		pg::CatalogOwnerScope as_owner;
		if (relations_to_read(spi) != reads)
			throw Error("40001", "the registered tables changed while the verification started", {},
						"Verify again once sunsync_add_table and sunsync_remove_table calls are done.");
		scope = load_scope(spi, cfg.owner, cfg.target_schema);
		version = *spi.run("SELECT scope_version FROM sunsync.root").scalar();
	}
	remote::Connection conn(unseal_target_url(cfg.sealed, id), target_options(cfg.trusted, {}));
	conn.exec("SET DateStyle = 'ISO, YMD'");
	conn.exec("SET IntervalStyle = postgres");
	conn.exec("SET TimeZone = 'UTC'");
	conn.exec("SET extra_float_digits = 1");
	conn.exec("SET bytea_output = hex");
	conn.exec("SET lc_monetary = 'C'");
	// The target's tables are locked together before its snapshot (LOCK
	// takes none), as pg_dump locks, so that no TRUNCATE or DDL of a run
	// changes them while they are read: what exists is looked up first,
	// locked, and looked up again in the snapshot (a run that was adding a
	// table or column has committed by then), which must find the same
	// tables.  (A full sync locks in another order: a deadlock between the
	// two is broken by the target after deadlock_timeout, failing one.)
	auto present_tables = [&scope](const TargetCatalog &c) {
		std::string list;
		for (const auto &t : scope.tables)
			if (c.tables.count({t.target_schema, t.target_name}))
				list += (list.empty() ? "" : ", ") + target_table(t);
		return list;
	};
	std::string present = present_tables(inspect_target(conn, scope, record_table(scope)));
	conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (!present.empty())
		conn.exec("LOCK TABLE " + present + " IN ACCESS SHARE MODE");
	TargetCatalog catalog = inspect_target(conn, scope, record_table(scope), true);
	if (present_tables(catalog) != present)
		throw Error("40001", "the target's tables changed while the verification started", {}, "Verify again.");
	std::optional<TargetRecord> record = read_record(conn, scope, catalog, cfg.source_id, config_id, false);
	remote::Connection::Rows target_probe = conn.query(probe_sql);

	// then the source, in one snapshot taken after the target's
	LatestSnapshot snapshot;
	pg::Spi spi(pg::Spi::active);
	std::string why_full, why_unsorted;
	ChangeBatch batch;
	Oid reader = InvalidOid;
	{
		pg::CatalogOwnerScope as_owner;
		// the scope the target was inspected for is the one read now
		if (*spi.run("SELECT scope_version FROM sunsync.root").scalar() != version)
			throw Error("40001", "the scope changed while the verification started", {}, "Verify again.");
		reader = pg::oid_of(spi.run("SELECT set_by::oid FROM sunsync.root").scalar());
		std::string snapshot_text = *spi.run("SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text").scalar();
		pg::Result here = spi.run(probe_sql);
		fast_digests = !target_probe.empty() && target_probe[0] == here.rows[0];
		why_full = why_full_sync(spi, cfg.settled, cfg.lost_changes, config_id, record, std::stoll(version),
								 snapshot_text);
		if (why_full.empty() && !cfg.owner_hash)
			why_full = "the owner has no hash";
		if (why_full.empty()) {
			batch = read_changes(spi, *cfg.owner_hash, Position{record->applied, record->settled}, true,
								 max_pending_keys);
			if (batch.full) {
				why_full = "a change only a full sync repairs is queued (a TRUNCATE, or a move through a table "
						   "that is not registered)";
				batch = ChangeBatch{};
			} else if (batch.too_many)
				why_unsorted = "more than " + std::to_string(max_pending_keys) +
							   " rows changed since the target's last run";
		}
	}

	Pending pending;
	{
		pg::AsRole as_reader(reader);
		pending = pending_rows(scope, batch);
	}
	std::vector<TablePlan> plans;
	std::string lacking; // (the changes not shipped are still told apart)
	for (size_t i = 0; i < scope.tables.size(); i++) {
		plans.push_back(plan_table(scope, catalog, i, pending));
		if (why_full.empty() && lacking.empty() && !plans.back().lacking.empty())
			lacking = plans.back().lacking;
	}
	// runs refuse such a target (engine/target_schema.cpp); verify compares
	// the values by their text forms, and says why the copy is not kept
	for (const auto &plan : plans)
		for (const auto &m : plan.mismatches)
			notice("schema mismatch: " + m + "; runs of configuration " + id + " fail until it is changed",
				   "Change the column on the target to the source's type, or drop the target table and push.");
	if (!why_full.empty())
		notice("the next run of configuration " + id + " is a full sync: " + why_full +
				   "; differences are counted as found, changes not yet shipped among them",
			   "Push it (sunsync_push(" + id + ", wait => true)) and verify again.");
	else if (!lacking.empty())
		notice("the next run of configuration " + id + " is a full sync: " + lacking +
				   "; until then its rows count as missing or differing",
			   "Push it (sunsync_push(" + id + ", wait => true)) and verify again.");
	if (why_full.empty() && !why_unsorted.empty())
		notice(why_unsorted + " of configuration " + id +
				   ": they are not told apart; differences are counted as found, changes not yet shipped among them",
			   "Push it (sunsync_push(" + id + ", wait => true)) and verify again.");

	std::vector<TableVerdict> out;
	for (size_t i = 0; i < scope.tables.size(); i++)
		out.push_back({scope.tables[i].display, compare_table(conn, plans[i], pending.own[i], reader)});
	conn.exec("COMMIT");
	conn.sync();
	return out;
}

} // namespace sunsync::engine
