// sunsync.capture(): the change-capture trigger, AFTER ... FOR EACH
// STATEMENT with transition tables, on every registered table and every
// table a path crosses (and their partitions).  For each changed row it
// finds the owner (old and new for an UPDATE that moves the row) and, when
// that owner has a configuration, records the row's key in the queue (see
// queue_writer.hpp for what each kind of entry asks of a run).  Owners
// without a configuration, and statements in a database with none at all,
// record nothing.
//
// Written against PostgreSQL's C API directly: the per-row path allocates
// in a memory context of the call and keeps no C++ object alive, so an
// ERROR (a failed lookup, out of memory) unwinds through it safely.  The
// cold paths (building the scope, loading the owners) run C++ behind
// pg::from_callback.
#include "capture/capture_scope.hpp"
#include "capture/configured_owners.hpp"
#include "capture/owner_cache.hpp"
#include "capture/owner_lookup.hpp"
#include "capture/queue_writer.hpp"
#include "pg/guard.hpp"
#include "pg/subtransaction.hpp"

extern "C" {
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "utils/datum.h"
#include "utils/timestamp.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"
}

#include <string>

namespace {

using namespace sunsync::capture;

struct Call {
	TableCapture *tc;
	Walker walker;
	Recorder recorder;
};

// Reads a transition table with a read pointer of our own (other triggers
// of the statement read the same tuplestore).
struct Reader {
	Tuplestorestate *store;
	int ptr;
	TupleTableSlot *slot;
};

void reader_begin(Reader *r, Tuplestorestate *store, TupleTableSlot *slot)
{
	r->store = store;
	r->ptr = tuplestore_alloc_read_pointer(store, 0);
	tuplestore_select_read_pointer(store, r->ptr);
	tuplestore_rescan(store);
	r->slot = slot;
}

bool reader_next(Reader *r)
{
	tuplestore_select_read_pointer(r->store, r->ptr);
	return tuplestore_gettupleslot(r->store, true, false, r->slot);
}

void reader_end(Reader *r)
{
	tuplestore_select_read_pointer(r->store, 0);
	ExecClearTuple(r->slot);
}

bool column_differs(TupleTableSlot *a, TupleTableSlot *b, AttrNumber att)
{
	bool anull, bnull;
	Datum av = slot_getattr(a, att, &anull);
	Datum bv = slot_getattr(b, att, &bnull);
	if (anull || bnull)
		return anull != bnull;
	Form_pg_attribute attr = TupleDescAttr(a->tts_tupleDescriptor, att - 1);
	return !datumIsEqual(av, bv, attr->attbyval, attr->attlen);
}

bool watched_changed(TableCapture *tc, TupleTableSlot *o, TupleTableSlot *n)
{
	for (int i = 0; i < tc->nwatch; i++)
		if (column_differs(o, n, tc->watch_att[i]))
			return true;
	return false;
}

// The row's owner by each of its paths (a registered table has one; a
// table that several paths cross may have more).
void record_row(Call *c, TupleTableSlot *row, char k, bool orphan_if_lost)
{
	TableCapture *tc = c->tc;
	int npaths = tc->is_root ? 1 : tc->npaths;
	for (int p = 0; p < npaths; p++) {
		bool null_link;
		Owner o = find_owner(&c->walker, row, p, &null_link);
		if (o.found) {
			if (owner_configured(o.hash)) {
				if (k == kind::full)
					record_full(&c->recorder, o.hash);
				else
					record_key(&c->recorder, tc, row, o.hash, k);
			}
		} else if (orphan_if_lost && !null_link && tc->registered)
			record_key(&c->recorder, tc, row, all_owners, kind::orphan);
	}
}

void on_insert(Call *c, Tuplestorestate *rows)
{
	TableCapture *tc = c->tc;
	if (!tc->registered && !tc->adopts_orphans)
		return; // nothing below can exist before this row
	char k = !tc->registered ? kind::full : tc->adopts_orphans ? kind::gained : kind::changed;
	Reader r;
	reader_begin(&r, rows, tc->new_slot);
	while (reader_next(&r))
		record_row(c, r.slot, k, true);
	reader_end(&r);
}

void on_delete(Call *c, Tuplestorestate *rows)
{
	TableCapture *tc = c->tc;
	if (tc->has_descendants)
		note_move(); // a parent gone: owners cached for it go stale
	char k = (!tc->registered || tc->unreachable_below) ? kind::full : kind::changed;
	Reader r;
	reader_begin(&r, rows, tc->old_slot);
	while (reader_next(&r))
		record_row(c, r.slot, k, false);
	reader_end(&r);
}

bool refs_changed(TableCapture *tc, TupleTableSlot *o, TupleTableSlot *n)
{
	for (int i = 0; i < tc->nref; i++)
		if (column_differs(o, n, tc->ref_att[i]))
			return true;
	return false;
}

void record_owner(Call *c, TupleTableSlot *row, const Owner &o, char k)
{
	if (!o.found || !owner_configured(o.hash))
		return;
	if (k == kind::full)
		record_full(&c->recorder, o.hash);
	else
		record_key(&c->recorder, c->tc, row, o.hash, k);
}

// One updated row, by path p.  A row that keeps its owner and its key is
// shipped as it is; one that moves (another owner, another key, or the
// columns rows below reference) leaves its old owner's target with what
// hangs from it and arrives at the new owner's with all of it.
void on_updated_row(Call *c, TupleTableSlot *o, TupleTableSlot *n, int p, bool relevant)
{
	TableCapture *tc = c->tc;
	bool null_old = false, null_new = false;
	// comparing owners needs their values, not only what the cache knows
	bool compare = relevant || tc->is_root;
	Owner on = find_owner(&c->walker, n, p, &null_new, compare);
	Owner oo = compare ? find_owner(&c->walker, o, p, &null_old, true) : on;
	bool same = !compare || same_owner(&c->walker, oo, on);
	bool moves_below = relevant && (refs_changed(tc, o, n) || (tc->registered && key_differs(&c->recorder, tc, o, n)));
	if (tc->has_descendants && (!same || moves_below))
		note_move(); // rows below follow it: owners cached for it go stale
	if (!tc->registered) {
		// a table a path crosses: only what hangs from the row matters
		if (!same || moves_below) {
			record_owner(c, o, oo, kind::full);
			record_owner(c, n, on, kind::full);
		}
		return;
	}
	if (same && !moves_below) {
		if (on.found)
			record_owner(c, n, on, kind::changed);
		else if (!null_new)
			record_key(&c->recorder, tc, n, all_owners, kind::orphan);
		return;
	}
	char leaves = tc->has_descendants && tc->unreachable_below ? kind::full : kind::changed;
	char arrives = !tc->has_descendants ? kind::changed : tc->unreachable_below ? kind::full : kind::moved;
	record_owner(c, o, oo, leaves);
	if (on.found)
		record_owner(c, n, on, arrives);
	else if (!null_new)
		record_key(&c->recorder, tc, n, all_owners, kind::orphan);
}

void on_update(Call *c, Tuplestorestate *olds, Tuplestorestate *news)
{
	TableCapture *tc = c->tc;
	Reader ro, rn;
	reader_begin(&ro, olds, tc->old_slot);
	reader_begin(&rn, news, tc->new_slot);
	int npaths = tc->is_root ? 1 : tc->npaths;
	while (reader_next(&ro) && reader_next(&rn)) {
		bool relevant = watched_changed(tc, ro.slot, rn.slot);
		if (!tc->registered && !relevant)
			continue;
		for (int p = 0; p < npaths; p++)
			on_updated_row(c, ro.slot, rn.slot, p, relevant);
	}
	reader_end(&ro);
	reader_end(&rn);
}

MemoryContext shared_cxt = nullptr;
int depth = 0; // calls in progress (an ERROR leaves it up until the transaction ends)

void end_of_transaction(XactEvent, void *) { depth = 0; }

// The trigger could not work out owners: say so (once a minute at most),
// and have every configuration do a full sync next, rather than fail the
// writer's statement.
void degrade(Oid relid, const char *why)
{
	static TimestampTz warned = 0;
	TimestampTz now = GetCurrentTimestamp();
	if (warned == 0 || TimestampDifferenceExceeds(warned, now, 60000)) {
		warned = now;
		ereport(WARNING, (errmsg("sunsync cannot capture the changes of %s: %s", get_rel_name(relid) ? get_rel_name(relid) : "a table",
								 why),
						  errdetail("Every configuration of this database gets a full sync next."),
						  errhint("See sunsync_configs for the error its runs report.")));
	}
	record_full_for_everyone(relid);
}

// Cold: the scope and the configured owners, or nullptr when nothing is to
// be recorded.  When there is something to build, it is built in a
// subtransaction: a failure (the role that set the root dropped, say) then
// leaves the writer's transaction as it was, and the trigger degrades.
TableCapture *prepare(Oid relid, CaptureScope **scope)
{
	TableCapture *tc = nullptr;
	auto build = [&] {
		ensure_owners_loaded();
		if (!any_owner_configured())
			return;
		*scope = current_scope();
		if (*scope)
			tc = table_capture(*scope, relid);
	};
	if (owners_ready() && scope_ready(relid)) {
		sunsync::pg::from_callback(build);
		return tc;
	}
	// (no C++ object may be alive below: degrade() can raise)
	char why[512] = "";
	bool built = false;
	sunsync::pg::from_callback([&] {
		std::string error;
		built = sunsync::pg::in_subtransaction(build, &error);
		strlcpy(why, error.c_str(), sizeof why);
	});
	if (built)
		return tc;
	degrade(relid, why);
	return nullptr;
}

} // namespace

extern "C" {
PG_FUNCTION_INFO_V1(sunsync_capture);
Datum sunsync_capture(PG_FUNCTION_ARGS);
}

Datum sunsync_capture(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("sunsync.capture() must be called as a trigger")));
	auto *td = reinterpret_cast<TriggerData *>(fcinfo->context);
	TriggerEvent ev = td->tg_event;
	if (!TRIGGER_FIRED_AFTER(ev) || !TRIGGER_FIRED_FOR_STATEMENT(ev))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("sunsync.capture() must be an AFTER ... FOR EACH STATEMENT trigger")));
	Relation rel = td->tg_relation;
	CaptureScope *scope = nullptr;
	TableCapture *tc = prepare(RelationGetRelid(rel), &scope);
	if (tc == nullptr)
		return PointerGetDatum(nullptr);

	// one context for every call, emptied at the start of the next (a call
	// that failed left its allocations there); a nested call, which nothing
	// here makes but a future change might, gets one of its own
	if (shared_cxt == nullptr) {
		shared_cxt = AllocSetContextCreate(TopMemoryContext, "sunsync capture", ALLOCSET_DEFAULT_SIZES);
		RegisterXactCallback(end_of_transaction, nullptr);
	}
	MemoryContext cxt = depth > 0 ? AllocSetContextCreate(CurrentMemoryContext, "sunsync capture (nested)",
														  ALLOCSET_DEFAULT_SIZES)
								  : shared_cxt;
	if (cxt == shared_cxt)
		MemoryContextReset(cxt);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	depth++;
	Call c;
	c.tc = tc;
	walker_begin(&c.walker, scope, tc);
	recorder_begin(&c.recorder, scope, tc->scope_rel);

	if (TRIGGER_FIRED_BY_TRUNCATE(ev))
		record_full(&c.recorder, all_owners);
	else if (TRIGGER_FIRED_BY_INSERT(ev) && td->tg_newtable)
		on_insert(&c, td->tg_newtable);
	else if (TRIGGER_FIRED_BY_DELETE(ev) && td->tg_oldtable)
		on_delete(&c, td->tg_oldtable);
	else if (TRIGGER_FIRED_BY_UPDATE(ev) && td->tg_oldtable && td->tg_newtable)
		on_update(&c, td->tg_oldtable, td->tg_newtable);

	recorder_flush(&c.recorder);
	walker_end(&c.walker);
	depth--;
	MemoryContextSwitchTo(old);
	if (cxt == shared_cxt)
		MemoryContextReset(cxt);
	else
		MemoryContextDelete(cxt);
	return PointerGetDatum(nullptr);
}
