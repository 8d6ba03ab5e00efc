#include "pg/guard.hpp"

#include <cstring>
#include <exception>
#include <new>

namespace sunsync::pg {

namespace {

// The error waiting to be reported lives in static storage: copying it must
// not allocate, because the exception is still alive while we copy.
struct PendingError {
	char sqlstate[6];
	char message[8192];
	char detail[8192];
	char hint[2048];
	char context[8192];
};
PendingError pending;

void copy_text(char *dst, size_t size, const std::string &src)
{
	size_t n = std::min(size - 1, src.size());
	std::memcpy(dst, src.data(), n);
	dst[n] = '\0';
}

void keep(const Error &e)
{
	const std::string &code = e.sqlstate();
	copy_text(pending.sqlstate, sizeof pending.sqlstate,
			  code.size() == 5 ? code : std::string(sqlstate::internal_error));
	copy_text(pending.message, sizeof pending.message, e.message());
	copy_text(pending.detail, sizeof pending.detail, e.detail());
	copy_text(pending.hint, sizeof pending.hint, e.hint());
	copy_text(pending.context, sizeof pending.context, e.context());
}

void keep(const char *sqlstate, const char *message)
{
	copy_text(pending.sqlstate, sizeof pending.sqlstate, sqlstate);
	copy_text(pending.message, sizeof pending.message, message);
	pending.detail[0] = pending.hint[0] = pending.context[0] = '\0';
}

std::string or_empty(const char *s) { return s ? std::string(s) : std::string(); }

} // namespace

void rethrow_pg_error(MemoryContext caller_context)
{
	MemoryContextSwitchTo(caller_context);
	ErrorData *edata = CopyErrorData();
	FlushErrorState();
	Error error(unpack_sql_state(edata->sqlerrcode), or_empty(edata->message),
				or_empty(edata->detail), or_empty(edata->hint),
				or_empty(edata->context));
	FreeErrorData(edata);
	throw error;
}

void raise(const char *sqlstate, std::string message, std::string detail,
		   std::string hint)
{
	throw Error(sqlstate, std::move(message), std::move(detail), std::move(hint));
}

void keep_current_exception()
{
	try {
		throw;
	} catch (const Error &e) {
		keep(e);
	} catch (const std::bad_alloc &) {
		keep("53200", "out of memory");
	} catch (const std::exception &e) {
		keep(sqlstate::internal_error, e.what());
	} catch (...) {
		keep(sqlstate::internal_error, "unexpected C++ exception");
	}
}

void report_kept_error()
{
	// The statement is kept out of the server log: its text may hold a
	// target URL with a password.
	const char *s = pending.sqlstate;
	ereport(ERROR,
			(errcode(MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4])), errhidestmt(true),
			 errmsg_internal("%s", pending.message),
			 pending.detail[0] ? errdetail_internal("%s", pending.detail) : 0,
			 pending.hint[0] ? errhint("%s", pending.hint) : 0,
			 pending.context[0] ? errcontext("%s", pending.context) : 0));
	pg_unreachable();
}

Datum call_sql_function(Datum (*body)(FunctionCallInfo), FunctionCallInfo fcinfo)
{
	try {
		return body(fcinfo);
	} catch (...) {
		keep_current_exception();
	}
	// Every C++ object of the body is destroyed here; only now may we longjmp.
	report_kept_error();
}

} // namespace sunsync::pg
