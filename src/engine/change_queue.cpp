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

ChangeBatch read_changes(pg::Spi &spi, int32 owner_hash, const Position &from, bool with_orphans, uint64 max_keys)
{
	ChangeBatch batch;
	// the settled snapshot is the older of the two: its xmin bounds the index scan
	std::string sql;
	for (int n = 0; n < 3; n++) {
		if (n)
			sql += " UNION ALL ";
		sql += "SELECT rel, kind, nkeys, keys, "
			   "((pg_catalog.date_part('epoch', recorded_at) - 946684800) * 1000000)::pg_catalog.int8 "
			   "FROM sunsync.queue_" + std::to_string(n) +
			   " WHERE owner_hash IN ($1::integer, 0)"
			   "   AND ($2::pg_catalog.pg_snapshot IS NULL"
			   "        OR (txid OPERATOR(pg_catalog.>=) pg_catalog.pg_snapshot_xmin($3::pg_catalog.pg_snapshot)"
			   "            AND (NOT pg_catalog.pg_visible_in_snapshot(txid, $2::pg_catalog.pg_snapshot)"
			   "                 OR (kind = 'm' AND NOT pg_catalog.pg_visible_in_snapshot(txid, $3::pg_catalog.pg_snapshot)))))";
	}
	pg::Value settled = from.settled ? from.settled : from.applied;
	auto res = spi.run(sql.c_str(), {std::to_string(owner_hash), from.applied, settled});
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
			engine::ChangeBatch b = engine::read_changes(spi, std::stoi(*cfg.rows[0][0]), from, false);
			// beyond the limit, an upper bound (rows are not coalesced)
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
