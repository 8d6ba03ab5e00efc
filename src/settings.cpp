#include "settings.hpp"

#include <climits>

#include "pg/postgres.hpp"

extern "C" {
#include "utils/guc.h"
}

int sunsync_max_workers = 4;
int sunsync_naptime_ms = 1000;
int sunsync_retry_max_delay_ms = 300000;
int sunsync_max_idle_connections = 16;
int sunsync_connect_timeout_ms = 10000;
int sunsync_statement_timeout_ms = 600000;
int sunsync_lock_timeout_ms = 60000;
int sunsync_queue_retention_s = 7 * 24 * 3600;
int sunsync_queue_rotation_s = 300;
bool sunsync_launch_continuous = true;
bool sunsync_allow_private_targets = false;
bool sunsync_require_ssl = false;
char *sunsync_key_file = nullptr;

namespace sunsync {

void define_settings()
{
	DefineCustomIntVariable(
		"sunsync.max_workers", "Maximum number of sync runs in progress at once.",
		"Each run uses one background worker; max_worker_processes must leave "
		"room for them.",
		&sunsync_max_workers, 4, 1, 64, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
	DefineCustomIntVariable(
		"sunsync.naptime", "Least time between two runs of one continuous configuration.",
		"A change after a quiet spell ships at once; a burst is coalesced into one run per naptime.",
		&sunsync_naptime_ms, 1000, 10, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
	DefineCustomIntVariable(
		"sunsync.max_idle_connections", "Target connections each run worker keeps open between runs.",
		"A worker keeps the connections of the configurations it ran last, each for a minute unused; "
		"zero closes every connection when its run ends.",
		&sunsync_max_idle_connections, 16, 0, 1000, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
	DefineCustomIntVariable(
		"sunsync.retry_max_delay", "Longest wait before a failed continuous configuration is retried.",
		"Retries back off exponentially, with jitter, from one second up to this.",
		&sunsync_retry_max_delay_ms, 300000, 1000, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
	DefineCustomIntVariable(
		"sunsync.connect_timeout", "Time allowed to connect to a target.", nullptr,
		&sunsync_connect_timeout_ms, 10000, 100, 3600 * 1000, PGC_SIGHUP,
		GUC_UNIT_MS, nullptr, nullptr, nullptr);
	DefineCustomIntVariable(
		"sunsync.statement_timeout", "Time allowed to each statement on a target.",
		"Zero disables the limit.", &sunsync_statement_timeout_ms, 600000, 0,
		INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
	DefineCustomIntVariable(
		"sunsync.lock_timeout",
		"Time a run waits for its ACCESS SHARE locks on the tables it reads.",
		"A run locks every table it reads right before its snapshot, as pg_dump "
		"does; a TRUNCATE or table rewrite in progress makes it wait this long, then fail.",
		&sunsync_lock_timeout_ms, 60000, 1, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, nullptr,
		nullptr, nullptr);
	DefineCustomIntVariable(
		"sunsync.queue_retention", "How long captured changes are kept for a configuration that has not shipped them.",
		"Older changes are dropped; a configuration that had not shipped them gets a full sync next.",
		&sunsync_queue_retention_s, 7 * 24 * 3600, 1, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
	DefineCustomIntVariable(
		"sunsync.queue_rotation", "How long one queue table is written before the next takes over.",
		"A retired queue table is emptied with TRUNCATE once every configuration has shipped what it holds.",
		&sunsync_queue_rotation_s, 300, 1, 24 * 3600, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
	DefineCustomBoolVariable(
		"sunsync.launch_continuous", "Runs continuous configurations by themselves.",
		"Off: continuous configurations wait (pushes still run), as after a restore, or during maintenance "
		"of their targets.",
		&sunsync_launch_continuous, true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
	DefineCustomBoolVariable(
		"sunsync.allow_private_targets",
		"Allows target URLs whose hosts are loopback, private or link-local addresses.",
		nullptr, &sunsync_allow_private_targets, false, PGC_SUSET, 0, nullptr,
		nullptr, nullptr);
	DefineCustomBoolVariable(
		"sunsync.require_ssl", "Requires sslmode=require or stronger in target URLs.",
		nullptr, &sunsync_require_ssl, false, PGC_SUSET, 0, nullptr, nullptr, nullptr);
	DefineCustomStringVariable(
		"sunsync.key_file", "File holding the key that seals target credentials.",
		"A relative path is taken from the data directory. The file is created "
		"with mode 0600 on first use.",
		&sunsync_key_file, "sunsync.key", PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr,
		nullptr, nullptr);
	MarkGUCPrefixReserved("sunsync");
}

} // namespace sunsync
