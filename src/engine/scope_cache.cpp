#include "engine/scope_cache.hpp"

#include "pg/guard.hpp"
#include "scope/capture_triggers.hpp"

extern "C" {
#include "storage/proc.h"
#include "utils/inval.h"
#include "utils/syscache.h"
}

#include <map>
#include <set>
#include <vector>

namespace sunsync::engine::scope_cache {

namespace {

// sunsync.root, and the row versions of it and of sunsync.tables
const char *const root_sql =
	"SELECT r.scope_version, r.set_by::pg_catalog.oid, r.ctid::pg_catalog.text || ':' || r.xmin::pg_catalog.text "
	"|| ';' || coalesce((SELECT pg_catalog.string_agg(t.ctid::pg_catalog.text || ':' || t.xmin::pg_catalog.text, "
	"',' ORDER BY t.ctid) FROM sunsync.tables t), '') FROM sunsync.root r";

struct Kept {
	std::string fingerprint; // of the rows they were read from
	std::optional<ReadSet> reads, queue;
	std::optional<std::optional<std::string>> uncaptured;
	std::optional<Scope> base; // for no target schema, without owner filters
	// what they were read from
	std::set<Oid> relations;
	std::set<uint32> type_hashes;
};

// sunsync.root as the current transaction sees it (read once in each)
struct Seen {
	LocalTransactionId transaction = InvalidLocalTransactionId;
	std::string fingerprint;
	std::optional<Root> root;
};

bool enabled = false;
// The callbacks only count and set flags: they run inside catalog access,
// perhaps while a caller holds a reference into what is kept.
// An invalidation came that may concern what is kept.
bool stale = false;
// Something is being read: whatever it depends on is not known yet, so
// every invalidation counts.
bool building = false;
// Every invalidation taken in, of anything.  What a run reads in its
// snapshot is kept only if none came after the snapshot was taken: one
// may announce a commit that the snapshot does not see (a trigger
// disabled, a subscription's table added: changes that take no lock the
// run's locks would wait for), and what was read would then be kept as if
// it were the latest.
uint64 invalidations = 0;
LocalTransactionId snapshot_transaction = InvalidLocalTransactionId;
uint64 invalidations_at_snapshot = 0;
Kept kept;
Seen seen;

void on_relcache(Datum, Oid relid)
{
	invalidations++;
	if (building || relid == InvalidOid || kept.relations.count(relid))
		stale = true;
}

void on_type(Datum, int, uint32 hash)
{
	invalidations++;
	if (building || hash == 0 || kept.type_hashes.count(hash))
		stale = true;
}

void on_any(Datum, int, uint32)
{
	invalidations++;
	stale = true;
}

LocalTransactionId current_transaction()
{
	return pg::guard([] { return MyProc->lxid; });
}

// Whether what was just read may be kept for later runs.
bool may_keep()
{
	if (stale)
		return false;
	return current_transaction() != snapshot_transaction || invalidations == invalidations_at_snapshot;
}

Seen read_root(pg::Spi &spi)
{
	Seen s;
	auto r = spi.run(root_sql);
	if (r.empty()) {
		s.fingerprint = "no root";
		return s;
	}
	s.root = Root{std::stoll(*r.rows[0][0]), pg::oid_of(r.rows[0][1])};
	s.fingerprint = *r.rows[0][2];
	return s;
}

// Lets go of what is kept when an invalidation may concern it, or when
// sunsync.root and sunsync.tables are not as they were.
void refresh(pg::Spi &spi)
{
	LocalTransactionId now = current_transaction();
	if (seen.transaction != now) {
		seen = read_root(spi);
		seen.transaction = now;
	}
	if (stale || kept.fingerprint != seen.fingerprint) {
		kept = Kept{};
		kept.fingerprint = seen.fingerprint;
		stale = false;
	}
}

// f(), with every invalidation meanwhile counted; whether to keep what it
// read is then may_keep().
template <typename F>
auto build(F &&f)
{
	struct Building {
		Building() { building = true; }
		~Building() { building = false; }
	} b;
	return f();
}

std::set<uint32> type_hashes(const std::set<Oid> &types)
{
	std::vector<Oid> oids(types.begin(), types.end());
	std::vector<uint32> out(oids.size());
	pg::guard([&] {
		for (size_t i = 0; i < oids.size(); i++)
			out[i] = GetSysCacheHashValue1(TYPEOID, ObjectIdGetDatum(oids[i]));
	});
	return {out.begin(), out.end()};
}

} // namespace

void enable()
{
	if (enabled)
		return;
	pg::guard([] {
		CacheRegisterRelcacheCallback(on_relcache, (Datum) 0);
		CacheRegisterSyscacheCallback(TYPEOID, on_type, (Datum) 0);
		for (int cache : {NAMESPACEOID, AUTHOID, PROCOID, ENUMOID, SUBSCRIPTIONRELMAP})
			CacheRegisterSyscacheCallback(cache, on_any, (Datum) 0);
	});
	enabled = true;
}

void forget() { stale = true; }

void snapshot_taken()
{
	if (!enabled)
		return;
	snapshot_transaction = current_transaction();
	invalidations_at_snapshot = invalidations;
	// what committed before the snapshot has (nearly always) sent its
	// invalidations: taken in now, what they concern is read afresh
	pg::guard([] { AcceptInvalidationMessages(); });
}

Root root(pg::Spi &spi)
{
	std::optional<Root> r;
	if (enabled) {
		refresh(spi);
		r = seen.root;
	} else
		r = read_root(spi).root;
	if (!r)
		pg::raise(sqlstate::object_not_in_prerequisite_state, "no root table is set", {},
				  "Call sunsync_set_root(root, owner_expr) first.");
	return *r;
}

namespace {

// A set of relations kept in `slot`, read by `read` when not kept.
ReadSet kept_relations(pg::Spi &spi, std::optional<ReadSet> Kept::*slot, ReadSet (*read)(pg::Spi &))
{
	if (!enabled)
		return read(spi);
	refresh(spi);
	if (kept.*slot)
		return *(kept.*slot);
	ReadSet set = build([&] { return read(spi); });
	if (may_keep()) {
		for (const auto &[oid, name] : set)
			kept.relations.insert(oid);
		kept.*slot = set;
	}
	return set;
}

} // namespace

ReadSet relations_to_read(pg::Spi &spi) { return kept_relations(spi, &Kept::reads, engine::relations_to_read); }

ReadSet queue_relations(pg::Spi &spi) { return kept_relations(spi, &Kept::queue, engine::queue_relations); }

std::optional<std::string> table_without_capture(pg::Spi &spi)
{
	if (!enabled)
		return scope::table_without_capture(spi);
	refresh(spi);
	if (kept.uncaptured)
		return *kept.uncaptured;
	std::vector<Oid> checked;
	std::optional<std::string> table = build([&] { return scope::table_without_capture(spi, &checked); });
	if (may_keep()) {
		kept.relations.insert(checked.begin(), checked.end());
		kept.uncaptured = table;
	}
	return table;
}

Scope load_scope(pg::Spi &spi, const std::string &owner, const std::string &target_schema)
{
	if (!enabled)
		return engine::load_scope(spi, owner, target_schema);
	refresh(spi);
	std::optional<Scope> read;
	const Scope *base = kept.base ? &*kept.base : nullptr;
	if (!base) {
		std::set<uint32> hashes;
		read = build([&] {
			Scope s = load_scope_for_any_owner(spi, "");
			hashes = type_hashes(s.user_types);
			return s;
		});
		base = &*read;
		if (may_keep()) {
			for (const auto &t : read->tables) {
				kept.relations.insert(t.oid);
				for (const auto &h : t.hops)
					kept.relations.insert(h.parent);
			}
			kept.relations.insert(read->type_relations.begin(), read->type_relations.end());
			kept.type_hashes.insert(hashes.begin(), hashes.end());
			kept.base = std::move(read);
			base = &*kept.base;
		}
	}
	// (per target schema only the type names differ, made again from the
	// syscache: nothing is kept per target schema, however many there are)
	Scope scope = target_schema.empty() ? *base : for_target_schema(*base, target_schema);
	filter_by_owner(scope, owner);
	return scope;
}

} // namespace sunsync::engine::scope_cache
