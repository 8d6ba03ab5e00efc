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
