#include "pg/as_role.hpp"

#include "pg/guard.hpp"

extern "C" {
#include "miscadmin.h"
#include "utils/guc.h"
}

#include <exception>

namespace sunsync::pg {

RoleScope::RoleScope(Oid role, int add_context, const char *search_path)
	: uncaught_at_start_(std::uncaught_exceptions())
{
	GetUserIdAndSecContext(&saved_user_, &saved_context_);
	guc_nest_level_ = guard([&] {
		int level = NewGUCNestLevel();
		SetUserIdAndSecContext(role, saved_context_ | add_context);
		if (search_path)
			set_config_option("search_path", search_path, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0,
							  false);
		return level;
	});
}

RoleScope::~RoleScope()
{
	SetUserIdAndSecContext(saved_user_, saved_context_);
	if (std::uncaught_exceptions() > uncaught_at_start_)
		return;
	try {
		int level = guc_nest_level_;
		guard([level] { AtEOXact_GUC(false, level); });
	} catch (...) {
	}
}

AsRole::AsRole(Oid role) : RoleScope(role, SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION, nullptr)
{
}

} // namespace sunsync::pg
