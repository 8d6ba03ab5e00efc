// A per-backend cache of the owner found for a parent row (by the parent
// table and the key its child rows name), so that a statement changing a
// lessons row need not walk learners and parents again to find the owner.
//
// An entry is only as good as the rows it was computed from.  Rows that
// others hang from change owner rarely, and each such change ("a move":
// the row's owner, key, path or referenced columns change, or the row is
// deleted) is seen by a capture trigger in the mover's transaction, which
// then counts itself in shared memory's moves_in_flight until it ends and
// bumps move_epoch when it does.  The cache is used, and filled, only while
// no move is in flight and the epoch is the one its entries were made in:
// a lookup that hits behaves exactly as one made before the move began,
// which the move's run settles like any other (engine/settle.hpp).
#pragma once

#include "capture/capture_scope.hpp"

namespace sunsync::capture {

// A parent row as a child names it: the parent, the path from it to the
// root (which columns the child matches, how the owner is found above),
// and the child's values, each as its length and bytes.
struct CacheKey {
	Oid parent;
	uint64 above;
	uint16 len;
	char bytes[48];
};

// false when a value cannot be imaged (it is then not cached)
bool cache_key(CacheKey *key, const Hop *h, uint64 above, const Datum *values);

// Whether the cache may be used now; stamp for cache_put.
bool cache_usable(uint64 *stamp);
bool cache_get(const CacheKey &key, uint32 *hash);
// Stores a result computed after cache_usable returned `stamp`, unless a
// move began or ended since.
void cache_put(const CacheKey &key, uint32 hash, uint64 stamp);
void cache_clear();

// The trigger saw a move in this transaction: counted in moves_in_flight
// until the transaction ends (then the epoch moves on).
void note_move();

// For the database worker: prepared transactions that moved rows (their
// rows move at COMMIT PREPARED, from any session), and clearing that count
// once none is left: seen is what prepared_moves() said before the caller
// counted pg_prepared_xacts.
uint32 prepared_moves();
void forget_prepared_moves_if_none(bool none_prepared, uint32 seen);

} // namespace sunsync::capture
