// Runs the enclosed code as another role, in a security-restricted operation
// (as PostgreSQL runs index expressions and maintenance as a table's owner):
// user-written SQL (owner_expr) is parsed, planned and run with its author's
// rights only, never with those of the worker or an event trigger.
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "miscadmin.h"
}

namespace sunsync::pg {

class AsRole {
public:
	explicit AsRole(Oid role)
	{
		GetUserIdAndSecContext(&saved_user_, &saved_context_);
		SetUserIdAndSecContext(role, saved_context_ | SECURITY_LOCAL_USERID_CHANGE |
										 SECURITY_RESTRICTED_OPERATION);
	}
	~AsRole() { SetUserIdAndSecContext(saved_user_, saved_context_); }
	AsRole(const AsRole &) = delete;
	AsRole &operator=(const AsRole &) = delete;

private:
	Oid saved_user_;
	int saved_context_;
};

} // namespace sunsync::pg
