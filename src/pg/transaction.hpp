// A transaction of a background worker's own, with a snapshot, around f:
// committed when f returns, aborted when it throws (and the exception
// passed on).  lock_timeout bounds every lock wait inside it; search_path
// is pg_catalog (the worker is a superuser: no name it uses may resolve to
// a database owner's objects, nor an operator to one of theirs).
#pragma once

#include "pg/guard.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
}

namespace sunsync::pg {

template <typename F>
void in_worker_transaction(F &&f, const char *lock_timeout)
{
	guard([lock_timeout] {
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		set_config_option("lock_timeout", lock_timeout, PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
		set_config_option("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true,
						  0, false);
		PushActiveSnapshot(GetTransactionSnapshot());
	});
	try {
		f();
	} catch (...) {
		guard([] { AbortCurrentTransaction(); });
		throw;
	}
	guard([] {
		PopActiveSnapshot();
		CommitTransactionCommand();
	});
}

} // namespace sunsync::pg
