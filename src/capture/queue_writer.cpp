#include "capture/queue_writer.hpp"

#include "capture/commit_wake.hpp"

#include "pg/guard.hpp"
#include "pg/spi.hpp"
#include "worker/shared_state.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"
}

namespace sunsync::capture {

struct Batch {
	uint32 hash;
	char kind;
	int nkeys;
	StringInfoData keys;
	Batch *next;
};

namespace {

constexpr int row_bytes = 64 * 1024;

int cached_entry = -1; // this database's index in shm::Shared::databases

// The queue table writers use now.  Read without the lock: an aligned int,
// and the entry of a database changes hands only once sunsync is gone
// from it (and its triggers with it).
int current_queue()
{
	shm::Shared *sh = shm::shared();
	if (cached_entry < 0 || sh->databases[cached_entry].dbid != MyDatabaseId) {
		cached_entry = -1;
		for (int i = 0; i < shm::max_databases; i++)
			if (sh->databases[i].dbid == MyDatabaseId)
				cached_entry = i;
	}
	if (cached_entry >= 0) {
		int cur = sh->databases[cached_entry].queue_current;
		pg_read_barrier();
		if (cur >= 0 && cur <= 2 && sh->databases[cached_entry].dbid == MyDatabaseId)
			return cur;
	}
	// after a start: the catalog says, and shared memory keeps it
	int cur = 0;
	pg::from_callback([&cur] {
		pg::Spi spi(pg::Spi::latest);
		pg::CatalogOwnerScope as_owner;
		cur = std::stoi(*spi.run("SELECT n FROM sunsync.queue_tables WHERE is_current").scalar());
	});
	shm::Locked lock(LW_EXCLUSIVE);
	if (shm::Database *d = shm::database_entry(MyDatabaseId)) {
		if (d->queue_current < 0)
			d->queue_current = cur;
		cur = d->queue_current;
	}
	return cur;
}

Oid queue_table(Recorder *r, int n)
{
	if (r->scope)
		return r->scope->queue_rel[n];
	char name[NAMEDATALEN];
	snprintf(name, sizeof name, "queue_%d", n);
	Oid rel = get_relname_relid(name, get_namespace_oid("sunsync", false));
	if (!OidIsValid(rel))
		elog(ERROR, "sunsync: queue table %s is missing", name);
	return rel;
}

void write_row(Recorder *r, Batch *b)
{
	if (b->nkeys == 0 && b->kind != kind::full)
		return;
	// the xid first: every writer of a table the worker retires has an xid
	// below the horizon it reads after retiring it
	FullTransactionId xid = GetTopFullTransactionId();
	Relation queue = table_open(queue_table(r, current_queue()), RowExclusiveLock);
	bytea *keys = static_cast<bytea *>(palloc(VARHDRSZ + b->keys.len));
	SET_VARSIZE(keys, VARHDRSZ + b->keys.len);
	memcpy(VARDATA(keys), b->keys.data, b->keys.len);
	Datum values[7];
	bool nulls[7] = {false, false, false, false, false, false, false};
	values[0] = FullTransactionIdGetDatum(xid);
	values[1] = Int32GetDatum(static_cast<int32>(b->hash));
	values[2] = ObjectIdGetDatum(r->rel);
	values[3] = CharGetDatum(b->kind);
	values[4] = Int32GetDatum(b->nkeys);
	values[5] = PointerGetDatum(keys);
	values[6] = TimestampTzGetDatum(GetCurrentTimestamp());
	HeapTuple tup = heap_form_tuple(RelationGetDescr(queue), values, nulls);
	// no trigger, no privilege check: the queue is sunsync's own
	CatalogTupleInsert(queue, tup);
	note_queued_for(b->hash);
	heap_freetuple(tup);
	pfree(keys);
	table_close(queue, NoLock);
	resetStringInfo(&b->keys);
	b->nkeys = 0;
}

Batch *batch_for(Recorder *r, uint32 hash, char k)
{
	for (Batch *b = r->head; b; b = b->next)
		if (b->hash == hash && b->kind == k)
			return b;
	MemoryContext old = MemoryContextSwitchTo(r->cxt);
	auto *b = static_cast<Batch *>(palloc0(sizeof(Batch)));
	b->hash = hash;
	b->kind = k;
	initStringInfo(&b->keys);
	MemoryContextSwitchTo(old);
	b->next = r->head;
	r->head = b;
	return b;
}

void build_key(Recorder *r, TableCapture *tc, TupleTableSlot *row)
{
	resetStringInfo(&r->key);
	for (int i = 0; i < tc->nkeys; i++) {
		bool isnull;
		Datum v = slot_getattr(row, tc->key_att[i], &isnull);
		if (isnull) { // not for a primary key; kept as COPY's NULL all the same
			uint32 len = pg_hton32(static_cast<uint32>(-1));
			appendBinaryStringInfo(&r->key, reinterpret_cast<char *>(&len), 4);
			continue;
		}
		bytea *out = SendFunctionCall(&tc->key_send[i], v);
		uint32 len = pg_hton32(VARSIZE(out) - VARHDRSZ);
		appendBinaryStringInfo(&r->key, reinterpret_cast<char *>(&len), 4);
		appendBinaryStringInfo(&r->key, VARDATA(out), VARSIZE(out) - VARHDRSZ);
		pfree(out);
	}
}

} // namespace

void recorder_begin(Recorder *r, CaptureScope *scope, Oid rel, MemoryContext cxt)
{
	r->scope = scope;
	r->rel = rel;
	r->cxt = cxt;
	r->head = nullptr;
	MemoryContext old = MemoryContextSwitchTo(cxt);
	initStringInfo(&r->key);
	MemoryContextSwitchTo(old);
}

void record_key(Recorder *r, TableCapture *tc, TupleTableSlot *row, uint32 hash, char k)
{
	Batch *b = batch_for(r, hash, k);
	build_key(r, tc, row);
	appendBinaryStringInfo(&b->keys, r->key.data, r->key.len);
	b->nkeys++;
	if (b->keys.len >= row_bytes)
		write_row(r, b);
}

bool key_differs(Recorder *r, TableCapture *tc, TupleTableSlot *a, TupleTableSlot *b)
{
	build_key(r, tc, a);
	StringInfoData first;
	initStringInfo(&first);
	appendBinaryStringInfo(&first, r->key.data, r->key.len);
	build_key(r, tc, b);
	bool differs = first.len != r->key.len || memcmp(first.data, r->key.data, first.len) != 0;
	pfree(first.data);
	return differs;
}

void record_full(Recorder *r, uint32 hash)
{
	batch_for(r, hash, kind::full);
}

void record_full_for_everyone(Oid rel)
{
	Recorder r;
	recorder_begin(&r, nullptr, rel, CurrentMemoryContext);
	record_full(&r, 0);
	recorder_flush(&r);
}

void recorder_flush(Recorder *r)
{
	for (Batch *b = r->head; b; b = b->next)
		if (b->nkeys > 0 || b->kind == kind::full)
			write_row(r, b);
	r->head = nullptr;
}

} // namespace sunsync::capture
