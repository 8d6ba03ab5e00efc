// Runs the enclosed code as another role, in a security-restricted operation
// and a settings level of its own that is rolled back afterwards (as
// PostgreSQL runs index expressions and maintenance as a table's owner: a
// set_config() in the role's code must not outlive it):
// user-written SQL (owner_expr) is parsed, planned and run with its author's
// rights only, never with those of the worker or an event trigger.
#pragma once

#include "pg/postgres.hpp"


namespace sunsync::pg {

// The mechanism: another user id and security context, and a settings
// level of its own (with search_path pinned when asked), all undone when
// the scope ends.  On an error the transaction abort undoes the settings.
class RoleScope {
public:
	RoleScope(Oid role, int add_context, const char *search_path);
	~RoleScope();
	RoleScope(const RoleScope &) = delete;
	RoleScope &operator=(const RoleScope &) = delete;

private:
	Oid saved_user_;
	int saved_context_;
	int guc_nest_level_;
	int uncaught_at_start_;
};

class AsRole : public RoleScope {
public:
	explicit AsRole(Oid role);
};

} // namespace sunsync::pg
