#include "capture/configured_owners.hpp"

#include "capture/owner_cache.hpp"

#include "pg/guard.hpp"
#include "pg/spi.hpp"
#include "worker/shared_state.hpp"

extern "C" {
#include "access/hash.h"
#include "access/xact.h"
#include "storage/procarray.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"
}

#include <algorithm>
#include <set>
#include <vector>

namespace sunsync::capture {

namespace {

// This backend's copy of its database's hashes, sorted; valid while
// shared memory's generation is `copied_generation`.
struct LocalOwner {
	uint32 hash;
	int entry; // index in shm::Shared::owners
	bool operator<(const LocalOwner &o) const { return hash < o.hash; }
};
LocalOwner *local_hashes = nullptr;
int local_count = 0;
int local_capacity = 0;
uint64 copied_generation = 0;
Oid copied_database = InvalidOid;

// Before taking the lock (allocation may raise): room for every entry.
void reserve_local_copy()
{
	if (local_hashes != nullptr)
		return;
	pg::guard([] {
		local_hashes = static_cast<LocalOwner *>(MemoryContextAlloc(TopMemoryContext, sizeof(LocalOwner) * shm::max_owners));
		local_capacity = shm::max_owners;
	});
}

// Under the lock: copies this database's hashes (nothing here can fail).
void copy_locked(uint64 generation)
{
	int n = 0;
	const shm::OwnerEntry *owners = shm::shared()->owners;
	for (int i = 0; i < shm::max_owners; i++)
		if (owners[i].dbid == MyDatabaseId)
			local_hashes[n++] = LocalOwner{owners[i].hash, i};
	std::sort(local_hashes, local_hashes + n);
	local_count = n;
	copied_generation = generation;
	copied_database = MyDatabaseId;
}

// Under the exclusive lock: adds (dbid, hash) unless present; false when
// full.  *added says whether the set changed.
bool insert_locked(uint32 hash, TransactionId adder, bool *added, bool continuous = false)
{
	shm::OwnerEntry *free_entry = nullptr;
	for (auto &e : shm::shared()->owners) {
		if (e.dbid == MyDatabaseId && e.hash == hash) {
			// the newest adder: pruning must wait for it, even when the
			// entry came from the catalog (a configuration deleted, then
			// created again for the same owner)
			if (TransactionIdIsValid(adder))
				e.adder = adder;
			if (continuous && !e.continuous) {
				e.continuous = true;
				*added = true;
			}
			return true;
		}
		if (e.dbid == InvalidOid && free_entry == nullptr)
			free_entry = &e;
	}
	if (free_entry == nullptr)
		return false;
	free_entry->dbid = MyDatabaseId;
	free_entry->hash = hash;
	free_entry->adder = adder;
	free_entry->continuous = continuous;
	pg_atomic_write_u32(&free_entry->dirty, 0);
	*added = true;
	return true;
}

struct CatalogOwner {
	uint32 hash;
	bool continuous;
};

std::vector<CatalogOwner> catalog_owners()
{
	// the latest state: a REPEATABLE READ writer's snapshot may predate
	// configurations it must record for
	pg::Spi spi(pg::Spi::latest);
	pg::CatalogOwnerScope as_owner;
	std::vector<CatalogOwner> out;
	for (const auto &r : spi.run("SELECT owner_hash, pg_catalog.bool_or(continuous) FROM sunsync.configs "
								 "WHERE owner_hash IS NOT NULL GROUP BY owner_hash")
							 .rows)
		out.push_back({static_cast<uint32>(std::stoll(*r[0])), *r[1] == "t"});
	return out;
}

std::vector<uint32> catalog_hashes()
{
	std::vector<uint32> out;
	for (const CatalogOwner &o : catalog_owners())
		out.push_back(o.hash);
	return out;
}

[[noreturn]] void too_many_owners()
{
	pg::raise("53400", "too many configured owners for sunsync's shared memory",
			  "sunsync keeps up to " + std::to_string(shm::max_owners) + " owners with a configuration.");
}

} // namespace

namespace {

const LocalOwner *find_local(uint32 hash)
{
	int lo = 0, hi = local_count;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (local_hashes[mid].hash < hash)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < local_count && local_hashes[lo].hash == hash ? &local_hashes[lo] : nullptr;
}

} // namespace

bool owner_configured(uint32 hash)
{
	return hash == all_owners || find_local(hash) != nullptr;
}

int owner_entry(uint32 hash)
{
	const LocalOwner *o = find_local(hash);
	return o ? o->entry : -1;
}

void mark_owner_continuous(uint32 hash)
{
	ensure_owners_loaded();
	bool changed = false;
	{
		shm::Locked lock(LW_EXCLUSIVE);
		for (auto &e : shm::shared()->owners)
			if (e.dbid == MyDatabaseId && e.hash == hash && !e.continuous) {
				e.continuous = true;
				changed = true;
			}
		if (changed)
			pg_atomic_fetch_add_u64(&shm::shared()->owners_generation, 1);
	}
}

void set_continuous_owners(const std::vector<uint32> &continuous)
{
	ensure_owners_loaded();
	std::set<uint32> keep(continuous.begin(), continuous.end());
	// configurations being created (not committed yet) keep their marks:
	// their adders are looked at without the lock
	std::vector<std::pair<uint32, TransactionId>> marked;
	{
		shm::Locked lock(LW_SHARED);
		for (const auto &e : shm::shared()->owners)
			if (e.dbid == MyDatabaseId && e.continuous && !keep.count(e.hash) && TransactionIdIsValid(e.adder))
				marked.emplace_back(e.hash, e.adder);
	}
	std::set<uint32> creating;
	pg::guard([&] {
		for (const auto &[hash, adder] : marked)
			if (TransactionIdIsInProgress(adder))
				creating.insert(hash);
	});
	shm::Locked lock(LW_EXCLUSIVE);
	bool changed = false;
	for (auto &e : shm::shared()->owners) {
		if (e.dbid != MyDatabaseId)
			continue;
		bool want = keep.count(e.hash) > 0 || (e.continuous && creating.count(e.hash) > 0);
		if (want != e.continuous) {
			e.continuous = want;
			changed = true;
		}
	}
	if (changed)
		pg_atomic_fetch_add_u64(&shm::shared()->owners_generation, 1);
}

bool any_owner_configured() { return local_count > 0; }

bool owners_ready()
{
	shm::Shared *sh = shm::shared();
	return sh && copied_database == MyDatabaseId && pg_atomic_read_u64(&sh->owners_generation) == copied_generation;
}

void ensure_owners_loaded()
{
	shm::Shared *sh = shm::shared();
	if (sh == nullptr)
		pg::raise(sqlstate::object_not_in_prerequisite_state, "sunsync must be loaded via shared_preload_libraries");
	uint64 generation = pg_atomic_read_u64(&sh->owners_generation);
	// what was added before the generation moved is seen after this read
	pg_memory_barrier();
	if (generation == copied_generation && copied_database == MyDatabaseId)
		return;
	reserve_local_copy();
	// cached owners were trusted only while moves were noted, which they
	// are not while no configuration exists: after a change, start afresh
	cache_clear();
	{
		shm::Locked lock(LW_SHARED);
		shm::Database *d = shm::database_entry(MyDatabaseId);
		if (d && d->owners_loaded) {
			copy_locked(pg_atomic_read_u64(&sh->owners_generation));
			return;
		}
	}
	// after a start: the catalog's owners, then whatever was added meanwhile
	std::vector<CatalogOwner> owners = catalog_owners();
	bool full = false;
	{
		shm::Locked lock(LW_EXCLUSIVE);
		bool added = false;
		for (const CatalogOwner &o : owners)
			full = full || !insert_locked(o.hash, InvalidTransactionId, &added, o.continuous);
		shm::Database *d = shm::database_entry(MyDatabaseId);
		if (d && !full)
			d->owners_loaded = true;
		// other backends copy again only when the set changed (a database
		// without an entry in shared memory loads from the catalog each time
		// the generation moves)
		uint64 next = added ? pg_atomic_add_fetch_u64(&sh->owners_generation, 1)
							: pg_atomic_read_u64(&sh->owners_generation);
		copy_locked(next);
		if (full)
			copied_generation = 0;
	}
	if (full)
		too_many_owners();
}

void add_configured_owner(uint32 hash)
{
	ensure_owners_loaded();
	TransactionId xid = pg::guard([] { return GetTopTransactionId(); });
	bool ok;
	{
		shm::Locked lock(LW_EXCLUSIVE);
		bool added = false;
		ok = insert_locked(hash, xid, &added);
		if (added)
			pg_atomic_fetch_add_u64(&shm::shared()->owners_generation, 1);
	}
	if (!ok)
		too_many_owners();
}

void prune_configured_owners()
{
	// 1. entries whose adding transaction has ended
	std::vector<std::pair<uint32, TransactionId>> ended;
	{
		shm::Locked lock(LW_SHARED);
		for (const auto &e : shm::shared()->owners)
			if (e.dbid == MyDatabaseId &&
				(!TransactionIdIsValid(e.adder) || !TransactionIdIsInProgress(e.adder)))
				ended.emplace_back(e.hash, e.adder);
	}
	if (ended.empty())
		return;
	// 2. read afterwards, so a configuration whose adder committed is seen
	std::vector<uint32> committed = catalog_hashes();
	std::set<uint32> keep(committed.begin(), committed.end());
	// 3. forget the others
	bool changed = false;
	shm::Locked lock(LW_EXCLUSIVE);
	for (auto &e : shm::shared()->owners) {
		if (e.dbid != MyDatabaseId || keep.count(e.hash))
			continue;
		bool was_ended = std::any_of(ended.begin(), ended.end(), [&](const auto &p) {
			return p.first == e.hash && p.second == e.adder;
		});
		if (was_ended) {
			e.dbid = InvalidOid;
			changed = true;
		}
	}
	if (changed)
		pg_atomic_fetch_add_u64(&shm::shared()->owners_generation, 1);
}

void owner_hash_functions(Oid type, FmgrInfo *hash_fn, FmgrInfo *out_fn, MemoryContext cxt)
{
	TypeCacheEntry *tc = lookup_type_cache(type, TYPECACHE_HASH_PROC);
	hash_fn->fn_oid = InvalidOid;
	if (OidIsValid(tc->hash_proc))
		fmgr_info_cxt(tc->hash_proc, hash_fn, cxt);
	Oid out;
	bool varlena;
	getTypeOutputInfo(type, &out, &varlena);
	fmgr_info_cxt(out, out_fn, cxt);
}

uint32 owner_hash_of_datum(Datum value, FmgrInfo *hash_fn, Oid collation, FmgrInfo *out_fn)
{
	uint32 h;
	if (OidIsValid(hash_fn->fn_oid))
		h = DatumGetUInt32(FunctionCall1Coll(hash_fn, collation, value));
	else {
		char *text = OutputFunctionCall(out_fn, value);
		h = DatumGetUInt32(hash_any(reinterpret_cast<unsigned char *>(text), static_cast<int>(strlen(text))));
		pfree(text);
	}
	return h == all_owners ? 1 : h;
}

uint32 owner_hash_of_text(const std::string &owner, Oid type, Oid collation)
{
	return pg::guard([&] {
		FmgrInfo hash_fn, out_fn;
		owner_hash_functions(type, &hash_fn, &out_fn, CurrentMemoryContext);
		Oid in, ioparam;
		getTypeInputInfo(type, &in, &ioparam);
		Datum value = OidInputFunctionCall(in, const_cast<char *>(owner.c_str()), ioparam, -1);
		return owner_hash_of_datum(value, &hash_fn, collation, &out_fn);
	});
}

} // namespace sunsync::capture
