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

// A run in flight.  The launcher fills a free slot and starts a worker for
// it; the worker claims it (pid) and frees it when it exits, however it
// exits (a before_shmem_exit callback), so a slot never outlives its run.
struct RunSlot {
	bool in_use;
	Oid dbid;
	int64 config_id;
	uint64 ticket;   // the request this run serves
	int pid;         // 0 until the worker has claimed the slot
	bool stop;       // the config was deleted: stop cleanly
	bool full;       // asked for a full sync (sunsync_push(full => true))
	TimestampTz started_at;
	char phase[32];
	char table_name[2 * NAMEDATALEN + 8];
	int tables_done;
	int tables_total;
	pg_atomic_uint64 rows_done; // written by the run, read by any session
};

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
};

// An owner (by hash, see capture/configured_owners.hpp) that has a
// configuration in database dbid, or may have one: create_config adds it
// before it commits; the database's worker removes hashes that no
// committed configuration has once the transaction that added them ended.
struct OwnerEntry {
	Oid dbid; // InvalidOid: free
	uint32 hash;
	TransactionId adder; // InvalidTransactionId: loaded from the catalog
};

struct Outcome {
	uint64 ticket; // 0: empty
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
// without recording how as FAILED).
void wake_database_worker(Oid dbid);
// Under the lock: this database's entry, or nullptr.
Database *database_entry(Oid dbid);
// Takes the lock: what sunsync_progress shows of a run (slot may be null).
void set_progress(RunSlot *slot, const char *phase, const std::string &table, int done, int total);
// Under the lock: records how a run ended, for waiters; frees nothing.
void record_outcome(uint64 ticket, bool ok, const char *sqlstate, const char *error,
					const char *hint = nullptr);

} // namespace sunsync::shm
