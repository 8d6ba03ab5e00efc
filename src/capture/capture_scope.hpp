// The scope as the capture triggers use it: for the relation a trigger
// fires on, the table its changes are recorded under, that table's key, and
// the path(s) from it to the root compiled into index lookups; plus
// owner_expr compiled into an ExprState.  Built per backend from sunsync's
// catalog (cold path, C++), kept until a relcache or syscache invalidation
// touches any relation it names (then rebuilt at the next trigger call).
//
// Everything reached from a trigger call is plain data in a memory context:
// the hot path (capture_trigger.cpp, owner_lookup.cpp) calls PostgreSQL
// directly and holds no C++ object that a longjmp could skip.
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "access/attnum.h"
#include "access/tupconvert.h"
#include "executor/spi.h"
#include "nodes/execnodes.h"
}

namespace sunsync::capture {

constexpr int max_cols = 32; // INDEX_MAX_KEYS

enum class Lookup : uint8 {
	Index,         // the parent's unique index, with the child's values
	IndexFromText, // a declared link compared as text, parent key integer/text/uuid
	Query,         // anything else (a partitioned parent, other casts): SPI
};

// One hop from a child row to its parent row.
struct Hop {
	Oid parent;
	int ncols;
	AttrNumber child_att[max_cols]; // in the child relation of this hop
	Oid child_type[max_cols];
	bool child_byval[max_cols];
	int16 child_len[max_cols];
	Lookup lookup;
	AttrNumber parent_att[max_cols]; // in the parent: with the path above, what a cached owner means
	// Index, IndexFromText
	Oid index;
	AttrNumber index_col[max_cols]; // hop column i is index column index_col[i]
	FmgrInfo eq_fn[max_cols];       // index column type = value type
	Oid eq_subtype[max_cols];
	Oid eq_collation[max_cols];
	RegProcedure eq_proc[max_cols];
	// IndexFromText, Query with text comparison
	bool text_compare;
	FmgrInfo child_out[max_cols];
	Oid parent_type[max_cols];
	// Query: SELECT p FROM parent p WHERE ... (whole-row result)
	SPIPlanPtr plan;
};

struct Path {
	int nhops;
	Hop *hops; // hops[0] starts at the trigger's relation
	// which parent row hops[0] reaches and how its owner is found from
	// there: the identity of a cached owner (owner_cache.hpp)
	uint64 above_id;
};

// What a trigger on one relation records.
struct TableCapture {
	Oid relid;     // the relation the trigger fires on (may be a partition)
	Oid scope_rel; // the registered or crossed table entries name
	bool registered;
	bool is_root;
	// registered: the primary key, in relid's attnums, with send functions
	int nkeys;
	AttrNumber key_att[max_cols];
	FmgrInfo key_send[max_cols];
	// columns that rows below reference, and the path columns of hop 0:
	// an UPDATE that changes none of them (nor the key) keeps its owner
	int nwatch;
	AttrNumber watch_att[3 * max_cols];
	// the columns rows below reference: changing them moves those rows
	int nref;
	AttrNumber ref_att[2 * max_cols];
	int npaths; // 0 for the root
	Path *paths;
	// the root's rows in another row type (a partition of the root)
	TupleConversionMap *to_root;
	// the relation's row type (what to_root converts from)
	TupleDesc desc;
	// a text-compared link prints values whose text depends on settings
	// (dates, floats, bytea): the call pins them (pg/canonical_output.hpp)
	bool pins_output;
	// a registered table is crossed by the paths of other registered tables
	bool has_descendants;
	// some table below joins it by a declared link or a deferrable foreign
	// key: its rows may appear before their parent, which then adopts them
	bool adopts_orphans;
	// some table below reaches it through a table that is not registered:
	// its target rows cannot be found from this one's key
	bool unreachable_below;
};

struct CaptureScope {
	MemoryContext cxt;
	Oid root;
	Oid author; // the role that set the root: owner_expr runs as this role
	Oid catalog_owner;
	int64 scope_version;
	ExprState *owner_state;
	ExprContext *owner_econtext;
	TupleDesc root_desc;
	Oid owner_type;
	Oid owner_collation;
	FmgrInfo owner_hash_fn;
	FmgrInfo owner_out_fn;
	// owner_expr calls functions that are not built in: their code may
	// change settings, which must not outlive the call (a GUC nest level)
	bool owner_calls_user_code;
	int nfuncs;
	uint32 *func_hashes; // PROCOID hash values of those functions
	Oid queue_rel[3];
};

// The scope of this database for a trigger call (building it if needed),
// or nullptr when sunsync has no root.  Cold path; may raise.
CaptureScope *current_scope();

// Whether current_scope() and table_capture(relid) would only read what is
// built already.
bool scope_ready(Oid relid);

// Whether an invalidation processed since the scope was built touched it
// (then what it names, an index OID say, may be gone).
bool capture_invalidated();

// The capture description of a relation, or nullptr when the relation is
// not in the scope (a trigger left behind).  Cold on first use per relid.
TableCapture *table_capture(CaptureScope *scope, Oid relid);

} // namespace sunsync::capture
