#include "pg/subtransaction.hpp"

#include "pg/guard.hpp"

extern "C" {
#include "access/xact.h"
}

#include <exception>

namespace sunsync::pg {

Subtransaction::Subtransaction() : context_(CurrentMemoryContext), owner_(CurrentResourceOwner)
{
	guard([] { BeginInternalSubTransaction(nullptr); });
	MemoryContextSwitchTo(context_);
	open_ = true;
}

void Subtransaction::commit()
{
	if (!open_)
		return;
	open_ = false;
	guard([] { ReleaseCurrentSubTransaction(); });
	MemoryContextSwitchTo(context_);
	CurrentResourceOwner = owner_;
}

Subtransaction::~Subtransaction()
{
	if (!open_)
		return;
	try {
		guard([] { RollbackAndReleaseCurrentSubTransaction(); });
	} catch (...) {
	}
	MemoryContextSwitchTo(context_);
	CurrentResourceOwner = owner_;
}

} // namespace sunsync::pg

namespace sunsync::pg {

bool ends_the_statement(const std::string &sqlstate)
{
	if (sqlstate.size() != 5)
		return false;
	std::string cls = sqlstate.substr(0, 2);
	// 57: canceled, terminated; 40: deadlock, serialization; 53100, 53200:
	// out of disk or memory (not 53400, a limit of sunsync's own, which
	// degrades); 25: the transaction is failed; 55P03: lock timeout
	return cls == "57" || cls == "40" || sqlstate == "53100" || sqlstate == "53200" || cls == "25" ||
		   sqlstate == "55P03";
}

} // namespace sunsync::pg
