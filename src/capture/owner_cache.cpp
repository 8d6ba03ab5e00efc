#include "capture/owner_cache.hpp"

#include "worker/shared_state.hpp"

extern "C" {
#include "access/xact.h"
#include "common/hashfn.h"
}

#include <cstring>

namespace sunsync::capture {

namespace {

constexpr uint32 capacity = 16384; // a power of two
constexpr uint32 fill_limit = capacity / 4 * 3;

struct Entry {
	uint64 epoch; // 0: empty
	CacheKey key;
	uint32 hash;
};

Entry *entries = nullptr;
uint32 filled = 0;
bool moving = false; // this transaction counts in moves_in_flight
bool callback_registered = false;

void end_move(XactEvent event, void *)
{
	if (!moving)
		return;
	shm::Shared *sh = shm::shared();
	switch (event) {
	case XACT_EVENT_PREPARE:
		// its rows move when COMMIT PREPARED runs, anywhere: no cache until
		// a database worker sees no prepared transaction left
		pg_atomic_fetch_add_u32(&sh->prepared_moves, 1);
		[[fallthrough]];
	case XACT_EVENT_COMMIT:
	case XACT_EVENT_ABORT:
	case XACT_EVENT_PARALLEL_COMMIT:
	case XACT_EVENT_PARALLEL_ABORT:
		// the move is visible (or gone) before the epoch moves on
		pg_atomic_fetch_add_u64(&sh->move_epoch, 1);
		pg_atomic_fetch_sub_u32(&sh->moves_in_flight, 1);
		moving = false;
		break;
	default:
		break;
	}
}

uint32 slot_of(const CacheKey &key)
{
	uint32 h = hash_bytes(reinterpret_cast<const unsigned char *>(key.bytes), key.len);
	return (h ^ key.parent ^ static_cast<uint32>(key.above) ^ static_cast<uint32>(key.above >> 32)) & (capacity - 1);
}

bool same_key(const CacheKey &a, const CacheKey &b)
{
	return a.parent == b.parent && a.above == b.above && a.len == b.len && memcmp(a.bytes, b.bytes, a.len) == 0;
}

} // namespace

bool cache_key(CacheKey *key, const Hop *h, uint64 above, const Datum *values)
{
	key->parent = h->parent;
	key->above = above;
	key->len = 0;
	for (int i = 0; i < h->ncols; i++) {
		const char *data;
		size_t len;
		int16 typlen = h->child_len[i];
		if (h->child_byval[i]) {
			data = reinterpret_cast<const char *>(&values[i]);
			len = sizeof(Datum);
		} else if (typlen > 0) {
			data = DatumGetPointer(values[i]);
			len = static_cast<size_t>(typlen);
		} else if (typlen == -1) {
			struct varlena *v = reinterpret_cast<struct varlena *>(DatumGetPointer(values[i]));
			if (VARATT_IS_EXTERNAL(v) || VARATT_IS_COMPRESSED(v))
				return false;
			data = VARDATA_ANY(v);
			len = VARSIZE_ANY_EXHDR(v);
		} else
			return false;
		if (key->len + 2 + len > sizeof key->bytes)
			return false;
		uint16 l = static_cast<uint16>(len);
		memcpy(key->bytes + key->len, &l, 2);
		memcpy(key->bytes + key->len + 2, data, len);
		key->len = static_cast<uint16>(key->len + 2 + len);
	}
	return true;
}

bool cache_usable(uint64 *stamp)
{
	shm::Shared *sh = shm::shared();
	uint32 in_flight = pg_atomic_read_u32(&sh->moves_in_flight);
	uint32 prepared = pg_atomic_read_u32(&sh->prepared_moves);
	pg_read_barrier();
	*stamp = pg_atomic_read_u64(&sh->move_epoch);
	return in_flight == 0 && prepared == 0 && !moving;
}

bool cache_get(const CacheKey &key, uint32 *hash)
{
	if (entries == nullptr)
		return false;
	uint64 epoch = pg_atomic_read_u64(&shm::shared()->move_epoch);
	for (uint32 i = slot_of(key), n = 0; n < capacity; i = (i + 1) & (capacity - 1), n++) {
		const Entry &e = entries[i];
		if (e.epoch == 0)
			return false;
		if (e.epoch == epoch && same_key(e.key, key)) {
			*hash = e.hash;
			return true;
		}
	}
	return false;
}

void cache_put(const CacheKey &key, uint32 hash, uint64 stamp)
{
	uint64 now;
	if (!cache_usable(&now) || now != stamp)
		return; // a move began or ended while we looked
	if (entries == nullptr)
		entries = static_cast<Entry *>(MemoryContextAllocZero(TopMemoryContext, sizeof(Entry) * capacity));
	if (filled >= fill_limit)
		cache_clear();
	for (uint32 i = slot_of(key), n = 0; n < capacity; i = (i + 1) & (capacity - 1), n++) {
		Entry &e = entries[i];
		if (e.epoch == 0 || e.epoch != stamp || same_key(e.key, key)) {
			if (e.epoch == 0)
				filled++;
			e.epoch = stamp;
			e.key = key;
			e.hash = hash;
			return;
		}
	}
}

void cache_clear()
{
	if (entries)
		memset(entries, 0, sizeof(Entry) * capacity);
	filled = 0;
}

void note_move()
{
	if (moving)
		return;
	if (!callback_registered) {
		RegisterXactCallback(end_move, nullptr);
		callback_registered = true;
	}
	pg_atomic_fetch_add_u32(&shm::shared()->moves_in_flight, 1);
	moving = true;
}

void forget_prepared_moves_if_none(bool none_prepared, uint32 seen)
{
	shm::Shared *sh = shm::shared();
	if (!none_prepared || seen == 0)
		return;
	if (pg_atomic_compare_exchange_u32(&sh->prepared_moves, &seen, 0))
		pg_atomic_fetch_add_u64(&sh->move_epoch, 1);
}

uint32 prepared_moves() { return pg_atomic_read_u32(&shm::shared()->prepared_moves); }

} // namespace sunsync::capture
