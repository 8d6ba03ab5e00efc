// An internal subtransaction as RAII, for the few places that go on after
// a PostgreSQL ERROR (as PL/pgSQL's EXCEPTION blocks do): everything since
// the start is rolled back unless commit() was called.  The ERROR itself
// reaches the caller as a sunsync::Error through pg::guard.
#pragma once

#include "pg/postgres.hpp"

#include <string>

extern "C" {
#include "utils/resowner.h"
}

namespace sunsync::pg {

class Subtransaction {
public:
	Subtransaction();
	~Subtransaction();
	void commit();
	Subtransaction(const Subtransaction &) = delete;
	Subtransaction &operator=(const Subtransaction &) = delete;

private:
	MemoryContext context_;
	ResourceOwner owner_;
	bool open_ = false;
};

// Runs f in a subtransaction; false (and nothing of f kept) when it raised
// a sunsync::Error, which goes to *error when given.  What ends the
// statement whoever catches it (a cancel, a timeout, a deadlock, a lock
// not available, out of memory, a failed transaction) is raised again.
template <typename F>
bool in_subtransaction(F &&f, std::string *error = nullptr);

// Whether an error of this SQLSTATE must reach the caller's statement.
bool ends_the_statement(const std::string &sqlstate);

} // namespace sunsync::pg

#include "common/error.hpp"

template <typename F>
bool sunsync::pg::in_subtransaction(F &&f, std::string *error)
{
	try {
		Subtransaction sub;
		f();
		sub.commit();
		return true;
	} catch (const Error &e) {
		if (ends_the_statement(e.sqlstate()))
			throw;
		if (error)
			*error = e.message();
		return false;
	}
}
