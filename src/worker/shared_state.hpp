// What sunsync keeps in shared memory: run requests, the runs in progress
// (one slot each, at most sunsync.max_workers), their outcomes for callers
// that wait, and the databases whose workers the launcher keeps alive.
//
// A push reaches the workers here, not through a table: a row the caller has
// not committed is invisible to them, and sunsync_push(wait => true) waits
// inside the caller's open transaction.
#pragma once

#include "pg/postgres.hpp"

#include <string>

extern "C" {
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
}

namespace sunsync::shm {

constexpr int max_slots = 64;
constexpr int max_requests = 256;
constexpr int max_outcomes = 256;
constexpr int max_databases = 128;
constexpr int error_len = 2048;
constexpr int max_owners = 16384;
constexpr int max_waiters = 64;

// A run worker, and the run it is doing.  The launcher fills a free slot
// with a run and starts a worker for it; the worker claims it (pid) and,
// once the run is done, stays in it idle (ticket 0), connected to its
// database, with the target connections of its last runs open
// (remote/connection_cache.hpp), until the launcher gives it another run
// of that database, asks it to leave (retire) or it has been idle for a
// minute.  It frees the slot when it exits, however it exits (a
// before_shmem_exit callback), so a slot never outlives its worker.
constexpr int max_cached_configs = 16;

struct RunSlot {
	bool in_use;
	Oid dbid;
	int64 config_id; // 0 while idle
	uint64 ticket;   // the request this run serves; 0 while idle
	int pid;         // 0 until the worker has claimed the slot
	Latch *latch;    // the worker's, once claimed
	bool retire;     // idle: leave (the launcher needs the slot elsewhere)
	bool stop;       // the config was deleted: stop cleanly
	bool full;       // asked for a full sync (sunsync_push(full => true))
	// the run is about to take (or took) the snapshot it reads the source
	// in: a commit after this point may not be in it
	bool reading;
	TimestampTz started_at;
	TimestampTz idle_since;
	char phase[32];
	char table_name[2 * NAMEDATALEN + 8];
	int tables_done;
	int tables_total;
	pg_atomic_uint64 rows_done; // written by the run, read by any session
	// the configurations whose target connections this worker keeps
	int ncached;
	int64 cached[max_cached_configs];
};

// Under the lock: whether the slot's worker is idle and may take a run.
inline bool slot_idle(const RunSlot &s) { return s.in_use && s.pid != 0 && s.ticket == 0 && !s.retire; }
// Under the lock: gives a run to a slot (a new one or an idle one).
void assign_run_locked(RunSlot &slot, Oid dbid, int64 config_id, uint64 ticket, bool full);

struct Request {
	bool used;
	Oid dbid;
	int64 config_id;
	uint64 ticket;
	bool full;
	TimestampTz queued_at; // first queued: a request no worker can take fails after a while
};

// A session inside sunsync_push(wait => true): a run must not wait for its
// transaction (see engine/settle.hpp), which waits for the run.
struct Waiter {
	uint64 ticket; // 0: free
	int pid;
	Oid dbid;
	int64 config_id;
	// how the run ended, kept here for this session alone (the outcome
	// ring may have moved on by the time it looks)
	bool done;
	bool ok;
	char sqlstate[6];
	char error[error_len];
	char hint[512];
};

// An owner (by hash, see capture/configured_owners.hpp) that has a
// configuration in database dbid, or may have one: create_config adds it
// before it commits; the database's worker removes hashes that no
// committed configuration has once the transaction that added them ended.
struct OwnerEntry {
	Oid dbid; // InvalidOid: free
	uint32 hash;
	TransactionId adder; // InvalidTransactionId: loaded from the catalog
	// a continuous configuration has this owner (or may: set before the
	// configuration commits, cleared by the database's worker)
	bool continuous;
	// a transaction that queued changes for this owner committed since the
	// database's worker last looked (set by the committing backend)
	pg_atomic_uint32 dirty;
};

struct Outcome {
	uint64 ticket; // 0: empty
	uint64 seq;    // the how-manieth outcome recorded (from 1)
	Oid dbid;
	int64 config_id;
	bool ok;
	char sqlstate[6];
	char error[error_len];
	char hint[512];
};

// A database whose worker the launcher keeps alive.  The worker claims the
// entry (worker_pid) when it starts and clears it when it exits, so a
// launcher that restarts knows which workers still run without handles.
struct Database {
	Oid dbid;      // InvalidOid: free entry
	bool wanted;   // keep a worker running for it
	int worker_pid;
	Latch *worker_latch;
	// when the launcher registered a worker that has not claimed the entry yet
	TimestampTz starting_since;
	// a worker that exited while still wanted is started again after this
	TimestampTz restart_after;
	// when CREATE EXTENSION or a push asked for it: the worker may start
	// before that transaction commits, so it waits a little for the extension
	TimestampTz requested_at;
	// change capture: the owners of the catalog are in `owners` (loaded
	// once after a start), and which queue table is written (-1: read the
	// catalog)
	bool owners_loaded;
	int queue_current;
	// set by committing backends, cleared by the database's worker:
	// configurations were created, changed or deleted; changes were
	// queued for owners that cannot be told apart (every continuous
	// configuration looks); a run ended without recording how
	pg_atomic_uint32 configs_changed;
	pg_atomic_uint32 all_dirty;
	pg_atomic_uint32 check_runs;
	pg_atomic_uint32 any_dirty; // some owner entry of it is dirty
};

struct Shared {
	LWLock *lock;
	int launcher_pid;
	Latch *launcher_latch;
	uint64 next_ticket;
	ConditionVariable outcome_cv;
	RunSlot slots[max_slots];
	Request requests[max_requests];
	Outcome outcomes[max_outcomes];
	int next_outcome;
	uint64 outcome_seq; // of the newest outcome
	Database databases[max_databases];
	Waiter waiters[max_waiters];
	OwnerEntry owners[max_owners];
	// bumped whenever `owners` changes: backends keep a copy of their
	// database's hashes and refresh it when this moves
	pg_atomic_uint64 owners_generation;
	// Capture caches (capture/owner_cache.hpp) trust an owner found for a
	// parent row only while no row that others hang from moved: movers
	// count themselves in moves_in_flight until they end, then bump
	// move_epoch.  prepared_moves counts prepared transactions that moved
	// rows (cleared by a database worker once none is prepared).
	pg_atomic_uint64 move_epoch;
	pg_atomic_uint32 moves_in_flight;
	pg_atomic_uint32 prepared_moves;
};

// Called from _PG_init: asks for the memory and the lock, installs hooks.
void request_shared_memory();
Shared *shared();

// Lock helpers (the lock is never held across anything that can fail).
class Locked {
public:
	explicit Locked(LWLockMode mode) { LWLockAcquire(shared()->lock, mode); }
	~Locked() { LWLockRelease(shared()->lock); }
	Locked(const Locked &) = delete;
	Locked &operator=(const Locked &) = delete;
};

// Under the lock: the slot running (dbid, config), or nullptr.
RunSlot *running_slot(Oid dbid, int64 config_id);
Request *queued_request(Oid dbid, int64 config_id);
// Under the lock: marks dbid as wanted, adding it when unknown.  A request
// (CREATE EXTENSION, a push) also stamps requested_at.
void want_database(Oid dbid, bool requested = false);
void wake_launcher();
// Under the lock: wakes the worker of dbid (it then marks runs that ended
// without recording how as FAILED when check_runs, and looks at the
// outcomes of runs of continuous configurations).
void wake_database_worker(Oid dbid, bool check_runs = false);
// Without the lock (from a commit callback, which must not fail): sets the
// latch of dbid's worker, if it has one.  A stale latch (the worker just
// exited) wakes another process once, which is harmless.
void wake_database_worker_unlocked(Oid dbid);
// Under the lock: this database's entry, or nullptr.
Database *database_entry(Oid dbid);
// Takes the lock: what sunsync_progress shows of a run (slot may be null).
void set_progress(RunSlot *slot, const char *phase, const std::string &table, int done, int total);
// Under the lock: records how a run ended, for waiters and for the
// database's worker; frees nothing.
void record_outcome(uint64 ticket, Oid dbid, int64 config_id, bool ok, const char *sqlstate, const char *error,
					const char *hint = nullptr);

// Under the exclusive lock: queues a run of (dbid, config_id), or joins the
// request already queued for it.  A run in flight is joined:
//   always        by a push without wait (a push while one runs does not
//                 start a second run);
//   before_read   by a push with wait, while that run has not begun to
//                 read the source (so that it ships what the caller
//                 committed); otherwise the next run is queued;
//   never         by the scheduler of continuous configurations, which
//                 waits for it to end.
// Returns the ticket, 0 when the request queue is full or (never) a run is
// in flight.
enum class JoinRunning { always, before_read, never };
uint64 queue_run_locked(Oid dbid, int64 config_id, bool full, JoinRunning join);
// Takes the lock: the run of this slot begins to read the source.
void note_reading(RunSlot *slot);

} // namespace sunsync::shm
