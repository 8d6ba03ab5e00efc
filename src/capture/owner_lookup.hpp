// Finding the owner of a changed row, for the capture trigger: hop by hop
// from the row to the root through the parents' unique indexes, then
// owner_expr on the root row (run as the role that set the root).
//
// Lookups read the current committed state plus the writer's own changes
// (SnapshotSelf): a writer that looks while another transaction moves a
// parent row sees the old owner, and the move's run waits for it
// (engine/settle.hpp).  SnapshotSelf is not an MVCC snapshot, so these
// reads take no SSI predicate locks: a SERIALIZABLE writer gets no
// serialization failure from sunsync.  The privileges of the writer do not
// matter (as for PostgreSQL's own foreign-key checks).  A parent is locked
// (ACCESS SHARE, until the writer's transaction ends, as a foreign-key
// check locks it) only when the cache of owners (owner_cache.hpp) does not
// answer.
//
// Hot path: plain C data, PostgreSQL called directly, no C++ object alive.
#pragma once

#include "capture/capture_scope.hpp"

extern "C" {
#include "access/genam.h"
}

namespace sunsync::capture {

struct HopState {
	Relation parent;
	Relation index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
};

// Per trigger call: what the lookups opened, closed by walker_end.
struct Walker {
	CaptureScope *scope;
	TableCapture *table;
	MemoryContext call_cxt; // lives for the call (rows use a context of their own)
	HopState *states;       // [path][hop], allocated on first use
	int max_hops;
	TupleTableSlot *root_slot; // the root's row type, for a partition of the root
	bool restart;              // the compiled scope went stale under us
	bool gucs_pinned;          // owner_expr calls functions of users: settings nest level
	int guc_level;
};

enum class OwnerStatus : uint8 {
	Found,
	NullLink,  // a link column of the row is NULL: it hangs from nothing
	NoParent,  // a parent row is missing (a declared link, a deferred key)
	NullOwner, // owner_expr gave NULL: the row belongs to no owner
	Restart,   // the scope changed while we looked: start the call again
};

struct Owner {
	OwnerStatus status;
	uint32 hash;
	bool has_value; // false when the cache answered (hash only)
	Datum value;    // in the row's memory context
};

void walker_begin(Walker *w, CaptureScope *scope, TableCapture *table, MemoryContext call_cxt);
void walker_end(Walker *w);

// The owner of a row of w->table (a slot of the trigger relation's type)
// by path p (ignored for the root).  Without need_value, only the status
// and hash are set, and the cache of parents' owners may answer.
Owner find_owner(Walker *w, TupleTableSlot *row, int path, bool need_value = false);

// Whether two found owners are the same: by value when both have one
// (binary images), else by hash.
bool same_owner(const Walker *w, const Owner &a, const Owner &b);

} // namespace sunsync::capture
