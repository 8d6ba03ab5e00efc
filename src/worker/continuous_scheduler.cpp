#include "worker/continuous_scheduler.hpp"

#include "capture/configured_owners.hpp"
#include "catalog/catalog_version.hpp"
#include "pg/spi.hpp"
#include "pg/transaction.hpp"
#include "settings.hpp"
#include "worker/shared_state.hpp"

extern "C" {
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "utils/timestamp.h"
}

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

namespace sunsync::worker {

namespace {

constexpr int sweep_interval_ms = 60000;
// requests this scheduler leaves queued at once: pushes keep room
constexpr int max_queued = shm::max_requests / 2;

// now + ms; 0 (due now) when that is not in the future
TimestampTz in_ms(TimestampTz now, long long ms) { return ms > 0 ? TimestampTzPlusMilliseconds(now, ms) : 0; }

long ms_until(TimestampTz now, TimestampTz t)
{
	if (t <= now)
		return 0;
	return static_cast<long>((t - now + 999) / 1000);
}

// Milliseconds from now to a configuration's next_attempt_at (NULL when it
// has none), as SQL on `col`.
std::string retry_in_ms_sql(const char *col)
{
	return std::string("(extract(epoch FROM ") + col +
		   " OPERATOR(pg_catalog.-) clock_timestamp()) OPERATOR(pg_catalog.*) 1000::numeric)::int8";
}

// Which of these configurations have captured changes their targets lack.
std::set<int64> with_changes_waiting(pg::Spi &spi, const std::vector<std::string> &ids)
{
	std::set<int64> out;
	for (const auto &r : spi.run("SELECT id FROM pg_catalog.unnest($1::pg_catalog.int8[]) id, "
								 "LATERAL sunsync.pending(id) p WHERE p.changes OPERATOR(pg_catalog.>) 0",
								 {ids})
							 .rows)
		out.insert(std::stoll(*r[0]));
	return out;
}

std::string lock_timeout_text() { return std::to_string(sunsync_lock_timeout_ms) + "ms"; }

} // namespace

void ContinuousScheduler::mark(Config &c, TimestampTz now)
{
	if (!c.dirty)
		c.dirty_since = now;
	c.dirty = true;
}

// When a configuration that failed is tried again: when its run said
// (next_attempt_at), or, for failures no run recorded (a worker killed,
// the server crashed), after the same backoff counted here: 1 s, 2 s,
// 4 s... up to sunsync.retry_max_delay, drawn from the upper half.
void ContinuousScheduler::backoff(Config &c, TimestampTz now, std::optional<long long> catalog_retry_in_ms)
{
	// a time still ahead is the run's own word; one gone by belongs to an
	// earlier failure (the latest one was not recorded by its run)
	if (catalog_retry_in_ms && *catalog_retry_in_ms > 0) {
		c.next_attempt = in_ms(now, *catalog_retry_in_ms);
		return;
	}
	if (c.failures == 0) {
		c.next_attempt = 0;
		return;
	}
	double delay = std::min(static_cast<double>(sunsync_retry_max_delay_ms),
							1000.0 * std::pow(2.0, std::min(c.failures - 1, 30)));
	delay *= 0.5 + pg_prng_double(&pg_global_prng_state) / 2;
	c.next_attempt = in_ms(now, static_cast<long long>(delay));
}

// The continuous configurations of this database (not those of a restored
// copy: they push only once confirmed, see sunsync_update_config).  One
// that is new here gets a run when it has never synced, failed last, or
// has changes waiting: its first copy, its retry, or what was committed
// while this worker was not there to be woken.
void ContinuousScheduler::reload()
{
	struct Row {
		int64 id;
		uint32 hash;
		std::optional<long long> retry_in_ms; // NULL next_attempt_at: none
		int failures;
		std::string updated_at;
		bool wants_run;
	};
	std::vector<Row> rows;
	bool current = true;
	std::string timeout = lock_timeout_text();
	pg::in_worker_transaction(
		[&] {
			pg::Spi spi;
			// a catalog not yet updated (ALTER EXTENSION UPDATE) has no queue
			auto v = spi.run("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'sunsync'");
			if (v.empty() || *v.scalar() != catalog_version) {
				current = false;
				return;
			}
			const std::string sql =
				"SELECT c.id, c.owner_hash, " + retry_in_ms_sql("c.next_attempt_at") +
				", "
					 "CASE WHEN c.status = 'FAILED' THEN (SELECT count(*) FROM sunsync.history h "
					 "  WHERE h.config_id = c.id AND h.status = 'FAILED' AND h.run_id OPERATOR(pg_catalog.>) "
					 "  coalesce((SELECT max(run_id) FROM sunsync.history WHERE config_id = c.id "
					 "            AND status = 'COMPLETED'), 0)) ELSE 0 END, "
					 "c.applied_snapshot IS NULL OR c.status = 'FAILED', c.updated_at::pg_catalog.text "
					 "FROM sunsync.configs c WHERE c.continuous AND c.owner_hash IS NOT NULL "
					 "AND c.source_id IS NOT DISTINCT FROM (SELECT id FROM sunsync.source)";
			for (const auto &r : spi.run(sql.c_str()).rows)
				rows.push_back({std::stoll(*r[0]), static_cast<uint32>(std::stoll(*r[1])),
								r[2] ? std::optional<long long>(std::stoll(*r[2])) : std::nullopt, std::stoi(*r[3]),
								*r[5], *r[4] == "t"});
			// writers wake us for these owners from now on
			std::vector<uint32> hashes;
			for (const Row &row : rows)
				hashes.push_back(row.hash);
			capture::set_continuous_owners(hashes);
			std::vector<std::string> fresh;
			for (Row &row : rows)
				if (!row.wants_run && !configs_.count(row.id))
					fresh.push_back(std::to_string(row.id));
			if (fresh.empty())
				return;
			std::set<int64> waiting = with_changes_waiting(spi, fresh);
			for (Row &row : rows)
				if (waiting.count(row.id))
					row.wants_run = true;
		},
		timeout.c_str());

	TimestampTz now = pg::guard([] { return GetCurrentTimestamp(); });
	std::map<int64, Config> next;
	by_hash_.clear();
	for (const Row &row : rows) {
		auto old = configs_.find(row.id);
		bool fresh = old == configs_.end();
		Config c = fresh ? Config{} : old->second;
		c.hash = row.hash;
		if (!fresh && c.updated_at != row.updated_at) {
			// changed (a new target URL): its backoff starts afresh
			c.failures = 0;
			mark(c, now);
		}
		c.updated_at = row.updated_at;
		if (fresh) {
			c.failures = row.failures;
			if (row.wants_run)
				mark(c, now);
		}
		// what the catalog says about the retry, unless this worker knows
		// of failures since (a run that could not record its own)
		if (fresh || row.retry_in_ms || c.failures == 0)
			backoff(c, now, row.retry_in_ms);
		next[row.id] = c;
		by_hash_.emplace(row.hash, row.id);
	}
	configs_ = std::move(next);
	if (!current) {
		configs_.clear();
		by_hash_.clear();
	}
	loaded_ = true;
}

// Owners whose changes committed since the last look.
void ContinuousScheduler::collect_marks(TimestampTz now)
{
	shm::Shared *sh = shm::shared();
	shm::Database *d;
	{
		shm::Locked lock(LW_SHARED);
		d = shm::database_entry(MyDatabaseId);
	}
	if (d == nullptr)
		return;
	if (pg_atomic_exchange_u32(&d->all_dirty, 0) != 0)
		for (auto &entry : configs_)
			mark(entry.second, now);
	// the first look scans every entry (marks left before this worker)
	if (pg_atomic_exchange_u32(&d->any_dirty, 0) == 0 && scanned_once_)
		return;
	scanned_once_ = true;
	for (auto &e : sh->owners) {
		if (e.dbid != MyDatabaseId || pg_atomic_read_u32(&e.dirty) == 0)
			continue;
		pg_atomic_write_u32(&e.dirty, 0);
		pg_memory_barrier();
		if (e.dbid != MyDatabaseId)
			continue;
		auto range = by_hash_.equal_range(e.hash);
		for (auto it = range.first; it != range.second; ++it)
			mark(configs_[it->second], now);
	}
}

// How the runs of these configurations ended (those queued here, and
// pushes): a success ends the backoff, a failure is retried when the run
// said.  A run whose outcome went by unseen is simply run again.
void ContinuousScheduler::collect_outcomes(TimestampTz now)
{
	struct Seen {
		uint64 seq;
		int64 id;
		uint64 ticket;
		bool ok;
	};
	// no allocation under the lock
	std::vector<Seen> seen;
	seen.reserve(shm::max_outcomes);
	std::vector<int64> ended_unseen;
	ended_unseen.reserve(configs_.size());
	{
		shm::Locked lock(LW_SHARED);
		shm::Shared *sh = shm::shared();
		bool lost = sh->outcome_seq - outcome_seq_ > static_cast<uint64>(shm::max_outcomes);
		for (const auto &o : sh->outcomes)
			if (o.ticket != 0 && o.seq > outcome_seq_ && o.dbid == MyDatabaseId && configs_.count(o.config_id))
				seen.push_back({o.seq, o.config_id, o.ticket, o.ok});
		outcome_seq_ = sh->outcome_seq;
		for (auto &entry : configs_) {
			Config &c = entry.second;
			if (c.ticket == 0)
				continue;
			bool pending = false;
			for (const auto &s : sh->slots)
				if (s.in_use && s.ticket == c.ticket) {
					pending = true;
					c.last_started = s.started_at; // naptime counts from here
				}
			for (const auto &r : sh->requests)
				pending = pending || (r.used && r.ticket == c.ticket);
			uint64 ticket = c.ticket;
			if (!pending && (lost || std::none_of(seen.begin(), seen.end(),
												  [ticket](const Seen &s) { return s.ticket == ticket; })))
				ended_unseen.push_back(entry.first);
		}
	}
	std::sort(seen.begin(), seen.end(), [](const Seen &a, const Seen &b) { return a.seq < b.seq; });
	std::vector<std::string> failed;
	for (const Seen &s : seen) {
		Config &c = configs_[s.id];
		if (c.ticket == s.ticket)
			c.ticket = 0;
		if (s.ok) {
			c.failures = 0;
			c.next_attempt = 0;
		} else {
			c.failures++;
			failed.push_back(std::to_string(s.id));
			mark(c, now);
		}
	}
	for (int64 id : ended_unseen) {
		Config &c = configs_[id];
		c.ticket = 0;
		mark(c, now);
	}
	if (failed.empty())
		return;
	// when the failed runs asked to be retried (a run that could not
	// record its failure asked nothing: the count here says)
	std::map<int64, std::optional<long long>> retry;
	std::string timeout = lock_timeout_text();
	pg::in_worker_transaction(
		[&] {
			pg::Spi spi;
			const std::string sql = "SELECT id, " + retry_in_ms_sql("next_attempt_at") +
									" FROM sunsync.configs WHERE id OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.int8[])";
			for (const auto &r : spi.run(sql.c_str(), {failed}).rows)
				retry[std::stoll(*r[0])] = r[1] ? std::optional<long long>(std::stoll(*r[1])) : std::nullopt;
		},
		timeout.c_str());
	for (const std::string &id : failed) {
		auto it = configs_.find(std::stoll(id));
		if (it != configs_.end())
			backoff(it->second, now, retry.count(it->first) ? retry[it->first] : std::nullopt);
	}
}

// What no commit announced: transactions committed with COMMIT PREPARED.
void ContinuousScheduler::sweep(TimestampTz now)
{
	// and configurations whose commit announced nothing (PREPARE TRANSACTION)
	reload();
	std::vector<std::string> ids;
	for (const auto &[id, c] : configs_)
		if (!c.dirty && c.ticket == 0)
			ids.push_back(std::to_string(id));
	if (ids.empty())
		return;
	std::set<int64> waiting;
	std::string timeout = lock_timeout_text();
	pg::in_worker_transaction(
		[&] {
			pg::Spi spi;
			waiting = with_changes_waiting(spi, ids);
		},
		timeout.c_str());
	for (int64 id : waiting)
		mark(configs_[id], now);
}

// Queues the runs that are due, those waiting longest first; returns when
// the next one is due.
long ContinuousScheduler::queue_due(TimestampTz now, long max_sleep_ms)
{
	long sleep = max_sleep_ms;
	if (!sunsync_launch_continuous)
		return sleep; // they wait, marked, until it is turned on again
	std::vector<std::pair<TimestampTz, int64>> due;
	for (auto &[id, c] : configs_) {
		if (!c.dirty || c.ticket != 0)
			continue;
		TimestampTz at = std::max(c.last_started ? TimestampTzPlusMilliseconds(c.last_started, sunsync_naptime_ms) : 0,
								  c.next_attempt);
		if (at <= now)
			due.emplace_back(c.dirty_since, id);
		else
			sleep = std::min(sleep, ms_until(now, at));
	}
	if (due.empty())
		return sleep;
	std::sort(due.begin(), due.end());
	std::vector<std::pair<int64, uint64>> given; // no allocation under the lock
	given.reserve(due.size());
	bool queued_any = false;
	{
		shm::Locked lock(LW_EXCLUSIVE);
		int queued = 0;
		for (const auto &r : shm::shared()->requests)
			if (r.used)
				queued++;
		for (const auto &[since, id] : due) {
			if (queued >= max_queued)
				break;
			// a run in flight (a push) ends first: it wakes us
			uint64 ticket = shm::queue_run_locked(MyDatabaseId, id, false, shm::JoinRunning::never);
			if (ticket == 0)
				continue;
			given.emplace_back(id, ticket);
			queued++;
			queued_any = true;
		}
		if (queued_any)
			shm::want_database(MyDatabaseId);
	}
	for (const auto &[id, ticket] : given) {
		Config &c = configs_[id];
		c.ticket = ticket;
		c.dirty = false;
		c.last_started = now;
	}
	if (queued_any)
		shm::wake_launcher();
	return sleep;
}

long ContinuousScheduler::step(long max_sleep_ms)
{
	shm::Database *d;
	{
		shm::Locked lock(LW_SHARED);
		d = shm::database_entry(MyDatabaseId);
	}
	if (!started_) {
		// what the ring holds happened before: reload() reads the catalog
		shm::Locked lock(LW_SHARED);
		outcome_seq_ = shm::shared()->outcome_seq;
		started_ = true;
	}
	bool changed = d && pg_atomic_exchange_u32(&d->configs_changed, 0) != 0;
	if (changed || !loaded_) {
		loaded_ = false; // until a reload succeeds
		reload();
	}
	TimestampTz now = pg::guard([] { return GetCurrentTimestamp(); });
	collect_marks(now);
	collect_outcomes(now);
	if (last_sweep_ == 0)
		last_sweep_ = now; // reload() looked at what was waiting
	else if (TimestampDifferenceExceeds(last_sweep_, now, sweep_interval_ms)) {
		last_sweep_ = now;
		sweep(now);
	}
	long sleep = queue_due(now, max_sleep_ms);
	return std::min(sleep, ms_until(now, TimestampTzPlusMilliseconds(last_sweep_, sweep_interval_ms)));
}

} // namespace sunsync::worker
