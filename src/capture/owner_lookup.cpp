#include "capture/owner_lookup.hpp"

#include "capture/configured_owners.hpp"
#include "capture/owner_cache.hpp"
#include "pg/canonical_output.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"
}

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace sunsync::capture {

namespace {

HopState *state_of(Walker *w, int path, int hop)
{
	if (w->states == nullptr) {
		int maxh = 1;
		for (int p = 0; p < w->table->npaths; p++)
			maxh = std::max(maxh, w->table->paths[p].nhops);
		w->max_hops = maxh;
		w->states = static_cast<HopState *>(
			MemoryContextAllocZero(w->call_cxt, sizeof(HopState) * maxh * std::max(w->table->npaths, 1)));
	}
	return &w->states[path * w->max_hops + hop];
}

// Opens what a hop looks into, for the rest of the call.  Taking the lock
// processes pending invalidations: when they touched the compiled scope
// (an index rebuilt, a column changed), the call starts again on a fresh
// one rather than use an index OID that may be gone.
bool open_hop(Walker *w, Hop *h, HopState *st, bool with_index)
{
	MemoryContext old = MemoryContextSwitchTo(w->call_cxt);
	st->parent = table_open(h->parent, AccessShareLock);
	if (capture_invalidated()) {
		MemoryContextSwitchTo(old);
		w->restart = true;
		return false;
	}
	if (with_index) {
		st->index = index_open(h->index, AccessShareLock);
		st->slot = table_slot_create(st->parent, nullptr);
		st->scan = index_beginscan(st->parent, st->index, SnapshotSelf, h->ncols, 0);
	} else
		st->slot = MakeSingleTupleTableSlot(RelationGetDescr(st->parent), &TTSOpsHeapTuple);
	MemoryContextSwitchTo(old);
	return true;
}

// "-123" exactly as int8out would print it, within the type's range.
bool canonical_integer(const char *s, Oid type, Datum *out)
{
	const char *p = s;
	if (*p == '-')
		p++;
	if (*p == '\0' || (*p == '0' && p[1] != '\0') || (*p == '0' && s[0] == '-'))
		return false;
	for (const char *q = p; *q; q++)
		if (*q < '0' || *q > '9')
			return false;
	if (strlen(p) > 19)
		return false;
	errno = 0;
	long long v = strtoll(s, nullptr, 10);
	if (errno != 0)
		return false;
	if (type == INT2OID) {
		if (v < SHRT_MIN || v > SHRT_MAX)
			return false;
		*out = Int16GetDatum(static_cast<int16>(v));
	} else if (type == INT4OID) {
		if (v < INT_MIN || v > INT_MAX)
			return false;
		*out = Int32GetDatum(static_cast<int32>(v));
	} else
		*out = Int64GetDatum(static_cast<int64>(v));
	return true;
}

// lower-case 8-4-4-4-12 hex, as uuid_out prints
bool canonical_uuid(const char *s, Datum *out)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		char c = s[i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	*out = DirectFunctionCall1(uuid_in, CStringGetDatum(s));
	return true;
}

// The value a declared link compares as text, in the parent key's type;
// false when no parent key prints as that text.
bool from_text(Hop *h, int i, Datum child, Datum *out)
{
	char *text = OutputFunctionCall(&h->child_out[i], child);
	switch (h->parent_type[i]) {
	case INT2OID:
	case INT4OID:
	case INT8OID:
		return canonical_integer(text, h->parent_type[i], out);
	case UUIDOID:
		return canonical_uuid(text, out);
	default: // text
		*out = CStringGetTextDatum(text);
		return true;
	}
}

TupleTableSlot *index_lookup(Walker *w, Hop *h, HopState *st, const Datum *values)
{
	if (st->parent == nullptr && !open_hop(w, h, st, true))
		return nullptr;
	ScanKeyData keys[max_cols];
	// btree wants its keys in index column order
	int n = 0;
	for (AttrNumber col = 1; n < h->ncols && col <= max_cols; col++)
		for (int i = 0; i < h->ncols; i++) {
			if (h->index_col[i] != col)
				continue;
			Datum v = values[i];
			if (h->lookup == Lookup::IndexFromText && !from_text(h, i, values[i], &v))
				return nullptr;
			ScanKeyEntryInitializeWithInfo(&keys[n++], 0, col, BTEqualStrategyNumber, h->eq_subtype[i],
										   h->eq_collation[i], &h->eq_fn[i], v);
		}
	// in the call's context: the index AM allocates for the scan's life
	// as it goes (btree's killed items, say), and frees it at endscan
	MemoryContext old = MemoryContextSwitchTo(w->call_cxt);
	index_rescan(st->scan, keys, n, nullptr, 0);
	bool found = index_getnext_slot(st->scan, ForwardScanDirection, st->slot);
	MemoryContextSwitchTo(old);
	return found ? st->slot : nullptr;
}

// SELECT p FROM parent p WHERE ...: for a partitioned parent, or a link
// that needs a cast.  Run as the catalog owner (the query is ours), with
// SnapshotSelf as the index lookups (the latest committed state and the
// writer's own changes; no SSI predicate lock).
TupleTableSlot *query_lookup(Walker *w, Hop *h, HopState *st, const Datum *values)
{
	if (st->parent == nullptr && !open_hop(w, h, st, false))
		return nullptr;
	Datum args[max_cols];
	char nulls[max_cols + 1];
	for (int i = 0; i < h->ncols; i++) {
		args[i] = h->text_compare ? CStringGetTextDatum(OutputFunctionCall(&h->child_out[i], values[i])) : values[i];
		nulls[i] = ' ';
	}
	nulls[h->ncols] = '\0';
	MemoryContext caller = CurrentMemoryContext;
	Oid saved_user;
	int saved_context;
	GetUserIdAndSecContext(&saved_user, &saved_context);
	SetUserIdAndSecContext(w->scope->catalog_owner, saved_context | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	int rc = SPI_execute_snapshot(h->plan, args, nulls, SnapshotSelf, InvalidSnapshot, true, false, 2);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "sunsync: parent lookup failed: %s", SPI_result_code_string(rc));
	HeapTuple copy = nullptr;
	if (SPI_processed == 1) {
		bool isnull;
		Datum row = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull) {
			HeapTupleHeader hdr = DatumGetHeapTupleHeader(row);
			HeapTupleData tmp;
			tmp.t_len = HeapTupleHeaderGetDatumLength(hdr);
			ItemPointerSetInvalid(&tmp.t_self);
			tmp.t_tableOid = h->parent;
			tmp.t_data = hdr;
			MemoryContext spi = MemoryContextSwitchTo(caller);
			copy = heap_copytuple(&tmp);
			MemoryContextSwitchTo(spi);
		}
	}
	SPI_finish();
	SetUserIdAndSecContext(saved_user, saved_context);
	if (copy == nullptr)
		return nullptr;
	// the row's context frees the copy: the slot must not
	ExecStoreHeapTuple(copy, st->slot, false);
	return st->slot;
}

Owner owner_of_root_row(Walker *w, TupleTableSlot *root_row)
{
	CaptureScope *s = w->scope;
	Owner o{};
	if (!w->gucs_pinned) {
		// a set_config() in the author's code (a function, a domain's
		// check) must not outlive the call: once per call, when owner_expr
		// runs at all
		w->guc_level = NewGUCNestLevel();
		w->gucs_pinned = true;
	}
	ExprContext *econtext = s->owner_econtext;
	econtext->ecxt_scantuple = root_row;
	Oid saved_user;
	int saved_context;
	GetUserIdAndSecContext(&saved_user, &saved_context);
	SetUserIdAndSecContext(s->author, saved_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	MemoryContext caller = CurrentMemoryContext;
	bool isnull = false;
	Datum v = ExecEvalExprSwitchContext(s->owner_state, econtext, &isnull);
	SetUserIdAndSecContext(saved_user, saved_context);
	if (isnull) {
		ResetExprContext(econtext);
		o.status = OwnerStatus::NullOwner; // a row without an owner belongs to no configuration
		return o;
	}
	int16 typlen;
	bool byval;
	get_typlenbyval(s->owner_type, &typlen, &byval);
	MemoryContext old = MemoryContextSwitchTo(caller);
	o.value = datumCopy(v, byval, typlen);
	MemoryContextSwitchTo(old);
	ResetExprContext(econtext);
	o.hash = owner_hash_of_datum(o.value, &s->owner_hash_fn, s->owner_collation, &s->owner_out_fn);
	o.status = OwnerStatus::Found;
	o.has_value = true;
	return o;
}

} // namespace

void walker_begin(Walker *w, CaptureScope *scope, TableCapture *table, MemoryContext call_cxt)
{
	memset(w, 0, sizeof *w);
	w->scope = scope;
	w->table = table;
	w->call_cxt = call_cxt;
	if (table->pins_output) {
		// text-compared links print the child's values: in one canonical
		// form, whatever the writer's settings (runs use the same)
		w->guc_level = NewGUCNestLevel();
		w->gucs_pinned = true;
		sunsync::pg::pin_output_settings(true);
	}
}

void walker_end(Walker *w)
{
	if (w->states) {
		for (int i = 0; i < w->max_hops * std::max(w->table->npaths, 1); i++) {
			HopState *st = &w->states[i];
			if (st->scan)
				index_endscan(st->scan);
			if (st->slot)
				ExecDropSingleTupleTableSlot(st->slot);
			if (st->index)
				index_close(st->index, NoLock);
			if (st->parent)
				table_close(st->parent, NoLock);
		}
	}
	if (w->root_slot)
		ExecDropSingleTupleTableSlot(w->root_slot);
	if (w->gucs_pinned)
		AtEOXact_GUC(false, w->guc_level);
	memset(w, 0, sizeof *w);
}

Owner find_owner(Walker *w, TupleTableSlot *row, int path, bool need_value)
{
	TableCapture *tc = w->table;
	if (tc->is_root) {
		if (tc->to_root == nullptr)
			return owner_of_root_row(w, row);
		if (w->root_slot == nullptr) {
			MemoryContext old = MemoryContextSwitchTo(w->call_cxt);
			w->root_slot = MakeSingleTupleTableSlot(w->scope->root_desc, &TTSOpsVirtual);
			MemoryContextSwitchTo(old);
		}
		return owner_of_root_row(w, execute_attr_map_slot(tc->to_root->attrMap, row, w->root_slot));
	}
	Path *p = &tc->paths[path];
	TupleTableSlot *cur = row;
	CacheKey key;
	uint64 stamp = 0;
	bool cacheable = false;
	Owner none{};
	for (int k = 0; k < p->nhops; k++) {
		Hop *h = &p->hops[k];
		Datum values[max_cols];
		for (int i = 0; i < h->ncols; i++) {
			bool isnull;
			values[i] = slot_getattr(cur, h->child_att[i], &isnull);
			if (isnull) {
				none.status = k == 0 ? OwnerStatus::NullLink : OwnerStatus::NoParent;
				return none;
			}
		}
		// the owner of the first parent, found before (see owner_cache.hpp)
		if (k == 0 && !need_value && cache_usable(&stamp) &&
			cache_key(&key, h, p->above_id, values)) {
			cacheable = true;
			Owner o{};
			if (cache_get(key, &o.hash)) {
				o.status = OwnerStatus::Found;
				return o;
			}
		}
		HopState *st = state_of(w, path, k);
		cur = h->lookup == Lookup::Query ? query_lookup(w, h, st, values) : index_lookup(w, h, st, values);
		if (w->restart) {
			none.status = OwnerStatus::Restart;
			return none;
		}
		if (cur == nullptr) {
			none.status = OwnerStatus::NoParent;
			return none;
		}
	}
	Owner o = owner_of_root_row(w, cur);
	if (cacheable && o.status == OwnerStatus::Found)
		cache_put(key, o.hash, stamp);
	return o;
}

bool same_owner(const Walker *w, const Owner &a, const Owner &b)
{
	if (a.status != OwnerStatus::Found || b.status != OwnerStatus::Found)
		return a.status == b.status;
	if (a.hash != b.hash)
		return false;
	if (!a.has_value || !b.has_value)
		return true;
	int16 typlen;
	bool byval;
	get_typlenbyval(w->scope->owner_type, &typlen, &byval);
	return datumIsEqual(a.value, b.value, byval, typlen);
}

} // namespace sunsync::capture
