#include "capture/commit_wake.hpp"

#include "capture/configured_owners.hpp"
#include "worker/shared_state.hpp"

extern "C" {
#include "access/xact.h"
#include "miscadmin.h"
}

#include <cstring>

namespace sunsync::capture {

namespace {

// What this transaction passes on at COMMIT: owner entries by index (in
// shm::Shared::owners), a short list first and a bitmap beyond it, and
// whether it queued changes for owners nobody can tell.
constexpr int bits_per_word = 64;
constexpr int max_listed = 16;
int listed[max_listed];
int listed_count = 0;
bool overflowed = false; // the bitmap has them all
uint64 bitmap[shm::max_owners / bits_per_word];
bool noted_all = false;
bool configs_changed = false;

bool noted_any() { return listed_count > 0 || overflowed; }

void forget()
{
	if (overflowed)
		std::memset(bitmap, 0, sizeof bitmap);
	overflowed = false;
	listed_count = 0;
	noted_all = false;
	configs_changed = false;
}

void set_bit(int entry) { bitmap[entry / bits_per_word] |= uint64(1) << (entry % bits_per_word); }

// Marks one owner entry dirty when a continuous configuration has it:
// *dirtied when it did, *news when it was not dirty yet.
void mark_dirty(shm::Shared *sh, int entry, bool *dirtied, bool *news)
{
	shm::OwnerEntry &e = sh->owners[entry];
	if (e.dbid != MyDatabaseId || !e.continuous)
		return;
	*dirtied = true;
	if (pg_atomic_exchange_u32(&e.dirty, 1) == 0)
		*news = true;
}

void on_commit()
{
	shm::Shared *sh = shm::shared();
	if (sh == nullptr)
		return;
	shm::Database *d = nullptr;
	for (auto &e : sh->databases)
		if (e.dbid == MyDatabaseId)
			d = &e;
	// read now, not when the change was queued: a configuration made
	// continuous meanwhile marked its owner before it committed.  The
	// worker is woken only for an owner it has not been told of yet.
	bool dirtied = false, wake = false;
	if (!overflowed)
		for (int i = 0; i < listed_count; i++)
			mark_dirty(sh, listed[i], &dirtied, &wake);
	else
		for (int w = 0; w < shm::max_owners / bits_per_word; w++)
			for (uint64 bits = bitmap[w]; bits != 0; bits &= bits - 1)
				mark_dirty(sh, w * bits_per_word + __builtin_ctzll(bits), &dirtied, &wake);
	// an entry left dirty with the flag down (the database's entry made
	// anew) is told again here
	if (d && dirtied && pg_atomic_exchange_u32(&d->any_dirty, 1) == 0)
		wake = true;
	if (d && noted_all) {
		pg_atomic_write_u32(&d->all_dirty, 1);
		wake = true;
	}
	if (d && configs_changed) {
		pg_atomic_write_u32(&d->configs_changed, 1);
		wake = true;
	}
	if (!wake)
		return;
	// the flags are seen by the worker once its latch is set
	pg_memory_barrier();
	shm::wake_database_worker_unlocked(MyDatabaseId);
}

void transaction_callback(XactEvent event, void *)
{
	if (!noted_any() && !noted_all && !configs_changed)
		return;
	switch (event) {
	case XACT_EVENT_COMMIT:
		on_commit();
		forget();
		break;
	case XACT_EVENT_ABORT:
	case XACT_EVENT_PREPARE:
	case XACT_EVENT_PARALLEL_ABORT:
		forget();
		break;
	default:
		break;
	}
}

} // namespace

void note_queued_for(uint32 hash)
{
	if (noted_all)
		return;
	if (hash == all_owners) {
		// whoever is in scope: every continuous configuration looks
		noted_all = true;
		return;
	}
	int entry = owner_entry(hash);
	if (entry < 0)
		return;
	if (overflowed) {
		set_bit(entry);
		return;
	}
	for (int i = 0; i < listed_count; i++)
		if (listed[i] == entry)
			return;
	if (listed_count < max_listed) {
		listed[listed_count++] = entry;
		return;
	}
	for (int i = 0; i < listed_count; i++)
		set_bit(listed[i]);
	set_bit(entry);
	overflowed = true;
}

void note_configs_changed() { configs_changed = true; }

void note_scope_changed()
{
	noted_all = true;
	configs_changed = true;
}

void register_commit_wake() { RegisterXactCallback(transaction_callback, nullptr); }

} // namespace sunsync::capture
