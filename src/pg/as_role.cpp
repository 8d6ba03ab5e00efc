#include "pg/as_role.hpp"

#include "pg/guard.hpp"

extern "C" {
#include "miscadmin.h"
#include "utils/guc.h"
}

#include <exception>

namespace sunsync::pg {

AsRole::AsRole(Oid role) : uncaught_at_start_(std::uncaught_exceptions())
{
	GetUserIdAndSecContext(&saved_user_, &saved_context_);
	guc_nest_level_ = guard([&] {
		int level = NewGUCNestLevel();
		SetUserIdAndSecContext(role, saved_context_ | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
		return level;
	});
}

AsRole::~AsRole()
{
	SetUserIdAndSecContext(saved_user_, saved_context_);
	// On error the transaction abort pops the settings level itself.
	if (std::uncaught_exceptions() > uncaught_at_start_)
		return;
	try {
		int level = guc_nest_level_;
		guard([level] { AtEOXact_GUC(false, level); });
	} catch (...) {
	}
}

} // namespace sunsync::pg
