#include "worker/shared_state.hpp"

extern "C" {
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"
}

#include <cstring>

namespace sunsync::shm {

namespace {

Shared *state = nullptr;
shmem_request_hook_type prev_request_hook = nullptr;
shmem_startup_hook_type prev_startup_hook = nullptr;
constexpr const char *tranche = "sunsync";

void on_shmem_request()
{
	if (prev_request_hook)
		prev_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(Shared)));
	RequestNamedLWLockTranche(tranche, 1);
}

void on_shmem_startup()
{
	if (prev_startup_hook)
		prev_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	bool found = false;
	state = static_cast<Shared *>(ShmemInitStruct("sunsync", sizeof(Shared), &found));
	if (!found) {
		std::memset(state, 0, sizeof(Shared));
		state->lock = &(GetNamedLWLockTranche(tranche))->lock;
		state->next_ticket = 1;
		ConditionVariableInit(&state->outcome_cv);
		for (auto &slot : state->slots)
			pg_atomic_init_u64(&slot.rows_done, 0);
		for (auto &o : state->owners)
			pg_atomic_init_u32(&o.dirty, 0);
		for (auto &d : state->databases) {
			pg_atomic_init_u32(&d.configs_changed, 0);
			pg_atomic_init_u32(&d.all_dirty, 0);
			pg_atomic_init_u32(&d.check_runs, 0);
			pg_atomic_init_u32(&d.any_dirty, 0);
		}
		pg_atomic_init_u64(&state->owners_generation, 1);
		pg_atomic_init_u64(&state->move_epoch, 1);
		pg_atomic_init_u32(&state->moves_in_flight, 0);
		pg_atomic_init_u32(&state->prepared_moves, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

} // namespace

void request_shared_memory()
{
	prev_request_hook = shmem_request_hook;
	shmem_request_hook = on_shmem_request;
	prev_startup_hook = shmem_startup_hook;
	shmem_startup_hook = on_shmem_startup;
}

Shared *shared() { return state; }

RunSlot *running_slot(Oid dbid, int64 config_id)
{
	for (auto &s : state->slots)
		if (s.in_use && s.ticket != 0 && s.dbid == dbid && s.config_id == config_id)
			return &s;
	return nullptr;
}

void assign_run_locked(RunSlot &slot, Oid dbid, int64 config_id, uint64 ticket, bool full)
{
	slot.dbid = dbid;
	slot.config_id = config_id;
	slot.ticket = ticket;
	slot.stop = false;
	slot.full = full;
	slot.reading = false;
	slot.started_at = GetCurrentTimestamp();
	strlcpy(slot.phase, "starting", sizeof slot.phase);
	slot.table_name[0] = '\0';
	slot.tables_done = slot.tables_total = 0;
	pg_atomic_write_u64(&slot.rows_done, 0);
}

Request *queued_request(Oid dbid, int64 config_id)
{
	for (auto &r : state->requests)
		if (r.used && r.dbid == dbid && r.config_id == config_id)
			return &r;
	return nullptr;
}

void want_database(Oid dbid, bool requested)
{
	Database *entry = nullptr;
	for (auto &d : state->databases) {
		if (d.dbid == dbid) {
			entry = &d;
			break;
		}
		if (d.dbid == InvalidOid && !entry)
			entry = &d;
	}
	if (!entry)
		return; // more databases with sunsync than entries: runs still work
	if (entry->dbid != dbid) {
		entry->dbid = dbid;
		entry->worker_pid = 0;
		entry->worker_latch = nullptr;
		entry->starting_since = 0;
		entry->requested_at = 0;
		entry->owners_loaded = false;
		entry->queue_current = -1;
		pg_atomic_write_u32(&entry->configs_changed, 1);
		pg_atomic_write_u32(&entry->all_dirty, 0);
		pg_atomic_write_u32(&entry->check_runs, 0);
		pg_atomic_write_u32(&entry->any_dirty, 0);
	}
	entry->wanted = true;
	if (requested)
		entry->requested_at = GetCurrentTimestamp();
}

Database *database_entry(Oid dbid)
{
	for (auto &d : state->databases)
		if (d.dbid == dbid)
			return &d;
	return nullptr;
}

void set_progress(RunSlot *slot, const char *phase, const std::string &table, int done, int total)
{
	if (slot == nullptr)
		return;
	// with log_min_messages = debug1: where a run's time goes
	static TimestampTz previous = 0;
	static char previous_phase[32];
	TimestampTz now = GetCurrentTimestamp();
	if (message_level_is_interesting(DEBUG1) && previous != 0)
		elog(DEBUG1, "sunsync: configuration %lld: %s took %.1f ms", static_cast<long long>(slot->config_id),
			 previous_phase, static_cast<double>(now - previous) / 1000.0);
	previous = now;
	strlcpy(previous_phase, phase, sizeof previous_phase);
	Locked lock(LW_EXCLUSIVE);
	strlcpy(slot->phase, phase, sizeof slot->phase);
	strlcpy(slot->table_name, table.c_str(), sizeof slot->table_name);
	slot->tables_done = done;
	slot->tables_total = total;
}

void note_reading(RunSlot *slot)
{
	if (slot == nullptr)
		return;
	Locked lock(LW_EXCLUSIVE);
	slot->reading = true;
}

void wake_launcher()
{
	if (state->launcher_latch)
		SetLatch(state->launcher_latch);
}

void wake_database_worker(Oid dbid, bool check_runs)
{
	for (auto &d : state->databases)
		if (d.dbid == dbid) {
			if (check_runs)
				pg_atomic_write_u32(&d.check_runs, 1);
			if (d.worker_latch)
				SetLatch(d.worker_latch);
		}
}

void wake_database_worker_unlocked(Oid dbid)
{
	if (state == nullptr)
		return;
	for (auto &d : state->databases)
		if (d.dbid == dbid) {
			Latch *latch = d.worker_latch;
			if (latch)
				SetLatch(latch);
			return;
		}
}

uint64 queue_run_locked(Oid dbid, int64 config_id, bool full, JoinRunning join)
{
	if (RunSlot *running = running_slot(dbid, config_id)) {
		if (join == JoinRunning::never)
			return 0;
		// a full sync asked for during a run that is not one queues the next
		bool joinable = join == JoinRunning::always || !running->reading;
		if (joinable && (!full || running->full))
			return running->ticket;
	}
	if (Request *req = queued_request(dbid, config_id)) {
		req->full = req->full || full;
		return req->ticket;
	}
	for (auto &r : state->requests)
		if (!r.used) {
			r.used = true;
			r.dbid = dbid;
			r.config_id = config_id;
			r.ticket = state->next_ticket++;
			r.full = full;
			r.queued_at = GetCurrentTimestamp();
			return r.ticket;
		}
	return 0;
}

void record_outcome(uint64 ticket, Oid dbid, int64 config_id, bool ok, const char *sqlstate, const char *error,
					const char *hint)
{
	Outcome &o = state->outcomes[state->next_outcome];
	state->next_outcome = (state->next_outcome + 1) % max_outcomes;
	for (auto &w : state->waiters)
		if (w.ticket == ticket && w.pid != 0 && !w.done) {
			w.done = true;
			w.ok = ok;
			strlcpy(w.sqlstate, sqlstate ? sqlstate : "", sizeof w.sqlstate);
			strlcpy(w.error, error ? error : "", sizeof w.error);
			strlcpy(w.hint, hint ? hint : "", sizeof w.hint);
		}
	o.ticket = ticket;
	o.seq = ++state->outcome_seq;
	o.dbid = dbid;
	o.config_id = config_id;
	o.ok = ok;
	strlcpy(o.sqlstate, sqlstate ? sqlstate : "", sizeof o.sqlstate);
	strlcpy(o.error, error ? error : "", sizeof o.error);
	strlcpy(o.hint, hint ? hint : "", sizeof o.hint);
}

} // namespace sunsync::shm
