#include "engine/change_queue.hpp"

#include "capture/queue_writer.hpp"
#include "pg/args.hpp"
#include "pg/guard.hpp"

extern "C" {
#include "funcapi.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

#include <cstring>

namespace sunsync::engine {

uint64 ChangeBatch::rows() const
{
	uint64 n = 0;
	for (const auto &[rel, t] : tables) {
		n += t.changed.size();
		for (const auto &k : t.orphans)
			n += t.changed.count(k) ? 0 : 1;
	}
	return n;
}

std::vector<std::string> split_keys(const std::string &blob, int nkeys, int *ncols)
{
	// count the fields first: every key has as many
	size_t pos = 0;
	int fields = 0;
	while (pos + 4 <= blob.size()) {
		uint32 len;
		memcpy(&len, blob.data() + pos, 4);
		len = pg_ntoh32(len);
		pos += 4 + (len == static_cast<uint32>(-1) ? 0 : len);
		fields++;
	}
	if (pos != blob.size() || nkeys <= 0 || fields % nkeys != 0)
		throw Error(sqlstate::internal_error, "sunsync: a queue entry holds malformed keys");
	*ncols = fields / nkeys;
	std::vector<std::string> keys;
	keys.reserve(nkeys);
	pos = 0;
	for (int k = 0; k < nkeys; k++) {
		size_t start = pos;
		for (int f = 0; f < *ncols; f++) {
			uint32 len;
			memcpy(&len, blob.data() + pos, 4);
			len = pg_ntoh32(len);
			pos += 4 + (len == static_cast<uint32>(-1) ? 0 : len);
		}
		keys.emplace_back(blob, start, pos - start);
	}
	return keys;
}

namespace {

// The entries of an owner (and of every owner) not in the target yet, over
// the three queue tables: `columns` of each.  The settled snapshot is the
// older of the two: its xmin bounds the index scan (a condition of its own,
// so that the generic plan scans from there; with no snapshot, from 0).
std::string queue_sql(const std::string &columns, const std::string &extra = {})
{
	std::string sql;
	for (int n = 0; n < 3; n++) {
		if (n)
			sql += " UNION ALL ";
		sql += "SELECT " + columns + " FROM sunsync.queue_" + std::to_string(n) +
			   " WHERE owner_hash IN ($1::integer, 0)" + extra +
			   "   AND txid OPERATOR(pg_catalog.>=) CASE WHEN $2::pg_catalog.pg_snapshot IS NULL THEN '0'::pg_catalog.xid8"
			   "       ELSE pg_catalog.pg_snapshot_xmin($3::pg_catalog.pg_snapshot) END"
			   "   AND ($2::pg_catalog.pg_snapshot IS NULL"
			   "        OR NOT pg_catalog.pg_visible_in_snapshot(txid, $2::pg_catalog.pg_snapshot)"
			   "        OR (kind = 'm' AND NOT pg_catalog.pg_visible_in_snapshot(txid, $3::pg_catalog.pg_snapshot)))";
	}
	return sql;
}

struct Backlog {
	uint64 keys = 0; // before coalescing: an upper bound of the rows
	uint64 entries = 0;
	std::optional<TimestampTz> oldest;
	bool full = false;
};

// Counted without reading a key (nor detoasting one).
Backlog count_backlog(pg::Spi &spi, int32 owner_hash, const Position &from, bool with_orphans)
{
	std::string sql = "SELECT pg_catalog.sum(nkeys)::pg_catalog.int8, pg_catalog.count(*), "
					  "((pg_catalog.date_part('epoch', pg_catalog.min(recorded_at)) - 946684800) * 1000000)::pg_catalog.int8, "
					  "pg_catalog.bool_or(kind = 'f') FROM (" +
					  queue_sql("nkeys, recorded_at, kind", with_orphans ? "" : " AND kind <> 'o'") + ") q";
	pg::Value settled = from.settled ? from.settled : from.applied;
	auto r = spi.run_generic(sql.c_str(), {std::to_string(owner_hash), from.applied, settled});
	Backlog b;
	if (r.empty() || !r.rows[0][1] || *r.rows[0][1] == "0")
		return b;
	b.keys = r.rows[0][0] ? std::stoull(*r.rows[0][0]) : 0;
	b.entries = std::stoull(*r.rows[0][1]);
	if (r.rows[0][2])
		b.oldest = std::stoll(*r.rows[0][2]);
	b.full = r.rows[0][3] && *r.rows[0][3] == "t";
	return b;
}

} // namespace

ChangeBatch read_changes(pg::Spi &spi, int32 owner_hash, const Position &from, bool with_orphans, uint64 max_keys)
{
	ChangeBatch batch;
	// a backlog too large to ship incrementally, or a large one that only
	// a full sync repairs, is not read into memory
	Backlog b = count_backlog(spi, owner_hash, from, with_orphans);
	if (b.keys > max_keys || (b.full && b.keys > exact_pending_keys)) {
		batch.entries = b.entries;
		batch.oldest = b.oldest;
		batch.keys_seen = b.keys;
		batch.full = b.full;
		batch.too_many = b.keys > max_keys;
		// (moves matter only to an incremental run, which this is not)
		return batch;
	}
	std::string sql = queue_sql("rel, kind, nkeys, keys, "
								"((pg_catalog.date_part('epoch', recorded_at) - 946684800) * 1000000)::pg_catalog.int8");
	pg::Value settled = from.settled ? from.settled : from.applied;
	auto res = spi.run_generic(sql.c_str(), {std::to_string(owner_hash), from.applied, settled});
	for (const auto &r : res.rows) {
		char k = (*r[1])[0];
		if (k == capture::kind::orphan && !with_orphans)
			continue;
		batch.entries++;
		// microseconds since 2000-01-01, as TimestampTz counts
		TimestampTz at = std::stoll(*r[4]);
		if (!batch.oldest || at < *batch.oldest)
			batch.oldest = at;
		if (k == capture::kind::full) {
			batch.full = true;
			continue;
		}
		if (k == capture::kind::moved)
			batch.moves = true;
		batch.keys_seen += std::stoull(*r[2]);
		if (batch.too_many || batch.keys_seen > max_keys) {
			if (!batch.too_many)
				batch.tables.clear();
			batch.too_many = true;
			continue;
		}
		Oid rel = pg::oid_of(r[0]);
		TableChanges &t = batch.tables[rel];
		int ncols = 0;
		for (auto &key : split_keys(*r[3], std::stoi(*r[2]), &ncols)) {
			t.ncols = ncols;
			if (k == capture::kind::orphan) {
				t.orphans.insert(std::move(key));
				continue;
			}
			if (k == capture::kind::gained || k == capture::kind::moved)
				t.gained.insert(key);
			t.changed.insert(std::move(key));
		}
	}
	return batch;
}

} // namespace sunsync::engine

// sunsync.pending(config_id): changes captured for the configuration that
// its target does not have yet, each row once, and when the oldest was
// written (orphans, whose owner nobody knows, are not counted).
SUNSYNC_SQL_FUNCTION(sunsync_pending)
{
	using namespace sunsync;
	auto id = pg::int64_arg(fcinfo, 0);
	std::optional<uint64> rows;
	std::optional<TimestampTz> oldest;
	{
		pg::Spi spi;
		pg::CatalogOwnerScope as_owner;
		auto cfg = spi.run("SELECT owner_hash, applied_snapshot::pg_catalog.text, settled_snapshot::pg_catalog.text "
						   "FROM sunsync.configs WHERE id = $1::bigint",
						   {std::to_string(*id)});
		if (!cfg.empty() && cfg.rows[0][0]) {
			engine::Position from{cfg.rows[0][1], cfg.rows[0][2]};
			// beyond a small backlog, an upper bound (rows changed several
			// times are not coalesced), counted without reading the keys
			engine::ChangeBatch b =
				engine::read_changes(spi, std::stoi(*cfg.rows[0][0]), from, false, engine::exact_pending_keys);
			rows = b.too_many ? b.keys_seen : b.rows();
			if (b.entries)
				oldest = b.oldest;
		}
	}
	Datum result = pg::guard([&] {
		TupleDesc desc;
		if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "sunsync.pending must return a record");
		desc = BlessTupleDesc(desc);
		Datum values[2];
		bool nulls[2] = {!rows.has_value(), !oldest.has_value()};
		values[0] = rows ? Int64GetDatum(static_cast<int64>(*rows)) : (Datum) 0;
		values[1] = oldest ? TimestampTzGetDatum(*oldest) : (Datum) 0;
		return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
	});
	return result;
}
