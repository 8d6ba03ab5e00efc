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

constexpr int max_restarts = 3;

struct Call {
	TableCapture *tc;
	Walker walker;
	Recorder recorder;
	MemoryContext cxt;     // lives for the call
	MemoryContext row_cxt; // emptied after each row: lookups allocate there
	TupleTableSlot *old_slot;
	TupleTableSlot *new_slot;
};

// Reads a transition table with a read pointer of our own (other triggers
// of the statement read the same tuplestore).  Tuples are fetched in the
// call's context: one that spilled to disk is palloc'd there and owned by
// the slot, which frees it at the next fetch (the row context is reset
// more often than that).
struct Reader {
	Tuplestorestate *store;
	int ptr;
};

// (a new pointer starts where the active one is: rewound before use)
void reader_begin(Reader *r, Tuplestorestate *store)
{
	r->store = store;
	r->ptr = tuplestore_alloc_read_pointer(store, EXEC_FLAG_REWIND);
	tuplestore_select_read_pointer(store, r->ptr);
	tuplestore_rescan(store);
	tuplestore_select_read_pointer(store, 0);
}

bool reader_next(Call *c, Reader *r, TupleTableSlot *slot)
{
	MemoryContext old = MemoryContextSwitchTo(c->cxt);
	tuplestore_select_read_pointer(r->store, r->ptr);
	bool more = tuplestore_gettupleslot(r->store, true, false, slot);
	tuplestore_select_read_pointer(r->store, 0);
	MemoryContextSwitchTo(old);
	return more;
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

bool refs_changed(TableCapture *tc, TupleTableSlot *o, TupleTableSlot *n)
{
	for (int i = 0; i < tc->nref; i++)
		if (column_differs(o, n, tc->ref_att[i]))
			return true;
	return false;
}

// What the lookups said of a row's owner: record it under that owner when
// it has a configuration.  A missing parent (a declared link, a deferred
// key) makes it an orphan every configuration looks at; a NULL link or a
// NULL owner puts the row in nobody's scope.
void record_owner(Call *c, TupleTableSlot *row, const Owner &o, char k, bool orphan_if_lost)
{
	if (o.status == OwnerStatus::Found) {
		if (!owner_configured(o.hash))
			return;
		if (k == kind::full)
			record_full(&c->recorder, o.hash);
		else
			record_key(&c->recorder, c->tc, row, o.hash, k);
	} else if (o.status == OwnerStatus::NoParent && orphan_if_lost && c->tc->registered)
		record_key(&c->recorder, c->tc, row, all_owners, kind::orphan);
}

// The row's owner by each of its paths (a registered table has one; a
// table that several paths cross may have more).  false: start again.
bool record_row(Call *c, TupleTableSlot *row, char k, bool orphan_if_lost)
{
	TableCapture *tc = c->tc;
	int npaths = tc->is_root ? 1 : tc->npaths;
	for (int p = 0; p < npaths; p++) {
		MemoryContext old = MemoryContextSwitchTo(c->row_cxt);
		Owner o = find_owner(&c->walker, row, p);
		bool restart = o.status == OwnerStatus::Restart;
		if (!restart)
			record_owner(c, row, o, k, orphan_if_lost);
		MemoryContextSwitchTo(old);
		MemoryContextReset(c->row_cxt);
		if (restart)
			return false;
	}
	return true;
}

bool on_insert(Call *c, Tuplestorestate *rows)
{
	TableCapture *tc = c->tc;
	if (!tc->registered && !tc->adopts_orphans)
		return true; // nothing below can exist before this row
	char k = !tc->registered ? kind::full : tc->adopts_orphans ? kind::gained : kind::changed;
	Reader r;
	reader_begin(&r, rows);
	while (reader_next(c, &r, c->new_slot)) {
		CHECK_FOR_INTERRUPTS();
		if (!record_row(c, c->new_slot, k, true))
			return false;
	}
	return true;
}

bool on_delete(Call *c, Tuplestorestate *rows)
{
	TableCapture *tc = c->tc;
	char k = (!tc->registered || tc->unreachable_below) ? kind::full : kind::changed;
	Reader r;
	reader_begin(&r, rows);
	bool any = false;
	while (reader_next(c, &r, c->old_slot)) {
		CHECK_FOR_INTERRUPTS();
		if (!any && tc->has_descendants)
			note_move(); // a parent gone: owners cached for it go stale
		any = true;
		if (!record_row(c, c->old_slot, k, false))
			return false;
	}
	return true;
}

// One updated row, by path p.  A row that keeps its owner and its key is
// shipped as it is; one that moves (another owner, another key, or the
// columns rows below reference) leaves its old owner's target with what
// hangs from it and arrives at the new owner's with all of it.
bool on_updated_row(Call *c, TupleTableSlot *o, TupleTableSlot *n, int p, bool relevant)
{
	TableCapture *tc = c->tc;
	// comparing owners needs their values, not only what the cache knows
	bool compare = relevant || tc->is_root;
	Owner on = find_owner(&c->walker, n, p, compare);
	if (on.status == OwnerStatus::Restart)
		return false;
	Owner oo = on;
	if (compare) {
		oo = find_owner(&c->walker, o, p, true);
		if (oo.status == OwnerStatus::Restart)
			return false;
	}
	bool same = !compare || same_owner(&c->walker, oo, on);
	bool moves_below = relevant && (refs_changed(tc, o, n) || (tc->registered && key_differs(&c->recorder, tc, o, n)));
	if (tc->has_descendants && (!same || moves_below))
		note_move(); // rows below follow it: owners cached for it go stale
	if (!tc->registered) {
		// a table a path crosses: only what hangs from the row matters
		if (!same || moves_below) {
			record_owner(c, o, oo, kind::full, false);
			record_owner(c, n, on, kind::full, false);
		}
		return true;
	}
	if (same && !moves_below) {
		record_owner(c, n, on, kind::changed, true);
		return true;
	}
	char leaves = tc->has_descendants && tc->unreachable_below ? kind::full : kind::changed;
	char arrives = !tc->has_descendants ? kind::changed : tc->unreachable_below ? kind::full : kind::moved;
	record_owner(c, o, oo, leaves, false);
	record_owner(c, n, on, arrives, true);
	return true;
}

bool on_update(Call *c, Tuplestorestate *olds, Tuplestorestate *news)
{
	TableCapture *tc = c->tc;
	Reader ro, rn;
	reader_begin(&ro, olds);
	reader_begin(&rn, news);
	int npaths = tc->is_root ? 1 : tc->npaths;
	while (reader_next(c, &ro, c->old_slot) && reader_next(c, &rn, c->new_slot)) {
		CHECK_FOR_INTERRUPTS();
		bool relevant = watched_changed(tc, c->old_slot, c->new_slot);
		if (!tc->registered && !relevant)
			continue;
		for (int p = 0; p < npaths; p++) {
			MemoryContext old = MemoryContextSwitchTo(c->row_cxt);
			bool done = on_updated_row(c, c->old_slot, c->new_slot, p, relevant);
			MemoryContextSwitchTo(old);
			MemoryContextReset(c->row_cxt);
			if (!done)
				return false;
		}
	}
	return true;
}

// Without any configured owner nothing is recorded, but moves are still
// noted: a configuration created while this transaction runs must not
// trust owners cached from before it (owner_cache.hpp).
void note_moves_only(TableCapture *tc, TriggerData *td, Relation rel)
{
	if (tc == nullptr || !tc->has_descendants)
		return;
	TriggerEvent ev = td->tg_event;
	if (TRIGGER_FIRED_BY_TRUNCATE(ev)) {
		note_move();
		return;
	}
	if (TRIGGER_FIRED_BY_DELETE(ev)) {
		if (td->tg_oldtable && tuplestore_tuple_count(td->tg_oldtable) > 0)
			note_move();
		return;
	}
	if (!TRIGGER_FIRED_BY_UPDATE(ev) || !td->tg_oldtable || !td->tg_newtable ||
		tuplestore_tuple_count(td->tg_oldtable) == 0)
		return;
	if (tc->is_root) {
		note_move(); // whether owner_expr changes is not worth working out here
		return;
	}
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "sunsync capture", ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Call c{};
	c.cxt = cxt;
	c.old_slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	c.new_slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	Reader ro, rn;
	reader_begin(&ro, td->tg_oldtable);
	reader_begin(&rn, td->tg_newtable);
	while (reader_next(&c, &ro, c.old_slot) && reader_next(&c, &rn, c.new_slot)) {
		CHECK_FOR_INTERRUPTS();
		if (watched_changed(tc, c.old_slot, c.new_slot)) {
			note_move();
			break;
		}
	}
	ExecDropSingleTupleTableSlot(c.old_slot);
	ExecDropSingleTupleTableSlot(c.new_slot);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

MemoryContext shared_cxt = nullptr;
// the transaction nest level of the call in progress, 0 when none: a call
// made from inside another (a function owner_expr calls writes to a table
// in scope) must not touch what the outer call uses
int active_level = 0;

void end_of_transaction(XactEvent, void *) { active_level = 0; }

void end_of_subtransaction(SubXactEvent event, SubTransactionId, SubTransactionId, void *)
{
	// an ERROR left the call at this level: it is not in progress any more
	if (event == SUBXACT_EVENT_ABORT_SUB && active_level >= GetCurrentTransactionNestLevel())
		active_level = 0;
}

// The trigger could not work out owners: say so (once a minute at most),
// and have every configuration do a full sync next, rather than fail the
// writer's statement.
void degrade(Oid relid, const char *why)
{
	static TimestampTz warned = 0;
	TimestampTz now = GetCurrentTimestamp();
	if (warned == 0 || TimestampDifferenceExceeds(warned, now, 60000)) {
		warned = now;
		const char *name = get_rel_name(relid);
		ereport(WARNING, (errmsg("sunsync cannot capture the changes of %s: %s", name ? name : "a table", why),
						  errdetail("Every configuration of this database gets a full sync next."),
						  errhint("See sunsync_configs for the error its runs report.")));
	}
	record_full_for_everyone(relid);
}

struct Prepared {
	CaptureScope *scope;
	TableCapture *tc; // nullptr: the relation is not in the scope
	bool record;      // some owner has a configuration
	bool failed;      // the scope did not build (a WARNING was given)
};

// Cold: the configured owners and the scope.  When there is something to
// build, it is built in a subtransaction: a failure (the role that set the
// root dropped, say) then leaves the writer's transaction as it was, and
// the trigger degrades.  A cancel, a timeout or a deadlock is not such a
// failure: it ends the writer's statement as it would without sunsync.
Prepared prepare(Oid relid)
{
	Prepared out{};
	auto build = [&] {
		ensure_owners_loaded();
		out.record = any_owner_configured();
		out.scope = current_scope();
		out.tc = out.scope ? table_capture(out.scope, relid) : nullptr;
	};
	if (owners_ready() && scope_ready(relid)) {
		sunsync::pg::from_callback(build);
		return out;
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
		return out;
	out = Prepared{};
	out.failed = true;
	bool configured = false;
	sunsync::pg::from_callback([&] {
		std::string ignored;
		sunsync::pg::in_subtransaction(
			[&] {
				ensure_owners_loaded();
				configured = any_owner_configured();
			},
			&ignored);
	});
	if (configured)
		degrade(relid, why);
	else
		note_move(); // what moves is unknown: nothing cached is trusted
	return out;
}

// Works through the statement's rows.  false: the scope went stale while
// the lookups took their locks, and the call must start again.
bool capture_rows(Call *c, TriggerData *td)
{
	TriggerEvent ev = td->tg_event;
	TableCapture *tc = c->tc;
	if (TRIGGER_FIRED_BY_TRUNCATE(ev)) {
		if (tc->has_descendants)
			note_move();
		record_full(&c->recorder, all_owners);
		return true;
	}
	if (TRIGGER_FIRED_BY_INSERT(ev) && td->tg_newtable)
		return on_insert(c, td->tg_newtable);
	if (TRIGGER_FIRED_BY_DELETE(ev) && td->tg_oldtable)
		return on_delete(c, td->tg_oldtable);
	if (TRIGGER_FIRED_BY_UPDATE(ev) && td->tg_oldtable && td->tg_newtable)
		return on_update(c, td->tg_oldtable, td->tg_newtable);
	return true;
}

void begin_call(Call *c, Prepared &p, Relation rel, MemoryContext cxt)
{
	c->tc = p.tc;
	c->cxt = cxt;
	c->row_cxt = AllocSetContextCreate(cxt, "sunsync capture row", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	c->old_slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	c->new_slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	MemoryContextSwitchTo(old);
	walker_begin(&c->walker, p.scope, p.tc, cxt);
	recorder_begin(&c->recorder, p.scope, p.tc->scope_rel, cxt);
}

void end_call(Call *c)
{
	recorder_flush(&c->recorder);
	walker_end(&c->walker);
	ExecDropSingleTupleTableSlot(c->old_slot);
	ExecDropSingleTupleTableSlot(c->new_slot);
	MemoryContextDelete(c->row_cxt);
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
	Oid relid = RelationGetRelid(rel);
	if (shared_cxt == nullptr) {
		shared_cxt = AllocSetContextCreate(TopMemoryContext, "sunsync capture", ALLOCSET_DEFAULT_SIZES);
		RegisterXactCallback(end_of_transaction, nullptr);
		RegisterSubXactCallback(end_of_subtransaction, nullptr);
	}
	if (active_level != 0) {
		// called from inside another call: the outer call's scope, slots
		// and expression state are in use, so no lookup is made here
		bool configured = false;
		sunsync::pg::from_callback([&] { configured = owners_ready() && any_owner_configured(); });
		if (configured || !owners_ready())
			record_full_for_everyone(relid);
		note_move();
		return PointerGetDatum(nullptr);
	}

	for (int attempt = 0;; attempt++) {
		Prepared p = prepare(relid);
		if (p.failed || p.tc == nullptr)
			return PointerGetDatum(nullptr);
		if (!p.record) {
			note_moves_only(p.tc, td, rel);
			return PointerGetDatum(nullptr);
		}
		if (attempt == max_restarts) {
			// the scope keeps changing under this statement
			degrade(relid, "its scope changed while the statement ran");
			return PointerGetDatum(nullptr);
		}
		// a call that failed left its allocations in shared_cxt: freed here
		MemoryContextReset(shared_cxt);
		MemoryContext old = MemoryContextSwitchTo(shared_cxt);
		active_level = GetCurrentTransactionNestLevel();
		Call c;
		begin_call(&c, p, rel, shared_cxt);
		bool done = capture_rows(&c, td);
		// what a restarted call recorded so far stays: a key recorded twice
		// is shipped once
		end_call(&c);
		active_level = 0;
		MemoryContextSwitchTo(old);
		MemoryContextReset(shared_cxt);
		if (done)
			return PointerGetDatum(nullptr);
	}
}
