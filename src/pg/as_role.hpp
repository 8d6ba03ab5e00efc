// Runs the enclosed code as another role, in a security-restricted operation
// and a settings level of its own that is rolled back afterwards (as
// PostgreSQL runs index expressions and maintenance as a table's owner: a
// set_config() in the role's code must not outlive it):
// user-written SQL (owner_expr) is parsed, planned and run with its author's
// rights only, never with those of the worker or an event trigger.
#pragma once

#include "pg/postgres.hpp"


namespace sunsync::pg {

class AsRole {
public:
	explicit AsRole(Oid role);
	~AsRole();
	AsRole(const AsRole &) = delete;
	AsRole &operator=(const AsRole &) = delete;

private:
	Oid saved_user_;
	int saved_context_;
	int guc_nest_level_;
	int uncaught_at_start_;
};

} // namespace sunsync::pg
