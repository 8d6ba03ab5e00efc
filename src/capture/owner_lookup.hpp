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
// matter (as for PostgreSQL's own foreign-key checks).
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
	HopState *states; // [path][hop], allocated on first use
	int max_hops;
	TupleTableSlot *root_slot; // the root's row type, for a partition of the root
	Snapshot latest;           // for Query lookups
	bool connected;            // SPI, for Query lookups
};

struct Owner {
	bool found;
	uint32 hash;
	bool has_value; // false when the cache answered (hash only)
	Datum value;    // in the trigger call's memory context
	bool isnull;
};

void walker_begin(Walker *w, CaptureScope *scope, TableCapture *table);
void walker_end(Walker *w);

// The owner of a row of w->table (a slot of the trigger relation's type)
// by path p (ignored for the root).  found is false when a link is NULL
// (null_link) or a parent row is missing.  Without need_value, only found
// and hash are set, and the cache of parents' owners may answer.
Owner find_owner(Walker *w, TupleTableSlot *row, int path, bool *null_link, bool need_value = false);

// Whether two owners are the same: by value when both have one (binary
// images), else by hash.
bool same_owner(const Walker *w, const Owner &a, const Owner &b);

} // namespace sunsync::capture
