// What a capture trigger call records, gathered per (owner, kind) and
// written at the end of the call as few queue rows: one per 64 kB of keys,
// however many rows the statement changed.
//
// Kinds of entries (sunsync.queue_N.kind):
//   'c'  these rows changed: ship each as it is now in the owner's scope,
//        or delete it (and what hangs from it on the target) if it left
//   'g'  these rows are new to the owner and others may hang from them
//        already (a declared link, a deferred foreign key): also ship what
//        hangs from them
//   'm'  these rows moved to the owner with what hangs from them: as 'g',
//        and applied again until every writer that saw the old owner ended
//   'o'  the owner of these rows could not be found (a parent not there):
//        every configuration ships them if they are in its scope
//   'f'  something changed that only a full sync repairs (a TRUNCATE, a row
//        of a table a path crosses without registering it moved or went)
// The keys are the table's primary key values, each as COPY BINARY fields
// (int32 length, then the type's send form).
#pragma once

#include "capture/capture_scope.hpp"

namespace sunsync::capture {

namespace kind {
constexpr char changed = 'c';
constexpr char gained = 'g';
constexpr char moved = 'm';
constexpr char orphan = 'o';
constexpr char full = 'f';
} // namespace kind

struct Batch;

struct Recorder {
	CaptureScope *scope;
	Oid rel;     // what the entries name
	MemoryContext cxt; // of the call: batches outlive each row's context
	Batch *head; // one per (owner hash, kind)
	StringInfoData key;
};

void recorder_begin(Recorder *r, CaptureScope *scope, Oid rel, MemoryContext cxt);
// Appends the key of `row` (the trigger relation's type) to (hash, kind).
void record_key(Recorder *r, TableCapture *tc, TupleTableSlot *row, uint32 hash, char kind);
// Whether the keys of two rows differ.
bool key_differs(Recorder *r, TableCapture *tc, TupleTableSlot *a, TupleTableSlot *b);
// An entry without keys ('f').
void record_full(Recorder *r, uint32 hash);
// Writes what was gathered into the current queue table.
void recorder_flush(Recorder *r);

// When the trigger cannot work out owners (its scope does not build): an
// entry that makes every configuration's next run a full one, written
// without the scope.
void record_full_for_everyone(Oid rel);

} // namespace sunsync::capture
