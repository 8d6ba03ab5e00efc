#include "remote/connection_cache.hpp"

#include "pg/guard.hpp"
#include "settings.hpp"

extern "C" {
#include "utils/timestamp.h"
}

#include <algorithm>

namespace sunsync::remote {

namespace {
constexpr int max_connection_age_ms = 10 * 60 * 1000;
}

std::unique_ptr<Connection> ConnectionCache::take(const std::string &url, const ConnectOptions &options)
{
	auto it = kept_.find(cache_key(url, options));
	if (it != kept_.end()) {
		std::unique_ptr<Connection> conn = std::move(it->second.conn);
		kept_.erase(it);
		// the rules are checked again (an error here is the run's error);
		// a login is renewed now and then (a password changed on the
		// target, a pg_hba.conf that no longer lets it in)
		TimestampTz now = pg::guard([] { return GetCurrentTimestamp(); });
		bool young = !TimestampDifferenceExceeds(conn->opened_at(), now, max_connection_age_ms);
		if (young && conn->reusable_for(url, options)) {
			conn->set_check_stop(options.check_stop);
			return conn;
		}
	}
	return std::make_unique<Connection>(url, options);
}

void ConnectionCache::keep(int64 config_id, std::unique_ptr<Connection> conn)
{
	if (sunsync_max_idle_connections <= 0)
		return;
	conn->set_check_stop(nullptr);
	TimestampTz now = pg::guard([] { return GetCurrentTimestamp(); });
	std::string key = conn->cache_key();
	// a configuration whose URL changed (a new password) lets its old
	// connection go, unless another configuration here still uses it
	auto prev = served_.find(config_id);
	bool let_go = false;
	if (prev != served_.end() && prev->second.first != key) {
		std::string old = prev->second.first;
		served_.erase(prev);
		bool shared = std::any_of(served_.begin(), served_.end(),
								  [&](const auto &s) { return s.second.first == old; });
		if (!shared)
			let_go = kept_.erase(old) > 0;
	}
	kept_[key] = Kept{std::move(conn), now};
	served_[config_id] = {key, now};
	recent_.erase(std::remove(recent_.begin(), recent_.end(), config_id), recent_.end());
	recent_.insert(recent_.begin(), config_id);
	if (recent_.size() > max_recent)
		recent_.pop_back();
	// the least recently used go first
	while (static_cast<int>(kept_.size()) > sunsync_max_idle_connections) {
		auto oldest = kept_.begin();
		for (auto it = kept_.begin(); it != kept_.end(); ++it)
			if (it->second.last_used < oldest->second.last_used)
				oldest = it;
		kept_.erase(oldest);
		let_go = true;
	}
	// (a walk over every configuration served: only when one may be gone)
	if (let_go)
		forget_unkept();
}

long ConnectionCache::close_idle(long idle_ms)
{
	TimestampTz now = pg::guard([] { return GetCurrentTimestamp(); });
	long next = -1;
	for (auto it = kept_.begin(); it != kept_.end();) {
		long left = idle_ms - static_cast<long>((now - it->second.last_used) / 1000);
		if (left <= 0) {
			it = kept_.erase(it);
			continue;
		}
		next = next < 0 ? left : std::min(next, left);
		++it;
	}
	forget_unkept();
	return next;
}

// The configurations whose connection is no longer kept are forgotten (the
// map stays as small as the configurations this worker serves).
void ConnectionCache::forget_unkept()
{
	for (auto it = served_.begin(); it != served_.end();) {
		if (kept_.count(it->second.first) == 0)
			it = served_.erase(it);
		else
			++it;
	}
}

std::vector<int64> ConnectionCache::configs(size_t limit) const
{
	std::vector<int64> out;
	for (int64 id : recent_) {
		if (out.size() >= limit)
			break;
		auto served = served_.find(id);
		if (served != served_.end() && kept_.count(served->second.first))
			out.push_back(id);
	}
	return out;
}

} // namespace sunsync::remote
