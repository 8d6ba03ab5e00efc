// The C++ <-> PostgreSQL bridge.
//
//  * guard(f): call PostgreSQL code that may ereport(ERROR) from C++.  The
//    longjmp lands here, the whole ErrorData (SQLSTATE, message, detail, hint,
//    context) is copied into a sunsync::Error and thrown, so C++ destructors
//    above run as usual.  The callable itself must not own objects with
//    destructors while it calls PostgreSQL: a longjmp would skip them.  Keep
//    its C++ work to assignments into variables of the caller, made after
//    the PostgreSQL call that can fail.
//
//  * SUNSYNC_SQL_FUNCTION(name): defines an SQL-callable function whose body
//    is C++.  Every exception is caught; the error is reported with ereport
//    only after the body's destructors have run.
#pragma once

#include "common/error.hpp"
#include "pg/postgres.hpp"

#include <csetjmp>
#include <type_traits>

namespace sunsync::pg {

// Restores the error-handling globals that a sigsetjmp block replaces.
class ErrorStackSaver {
public:
	ErrorStackSaver()
		: exception_stack_(PG_exception_stack), context_stack_(error_context_stack)
	{
	}
	~ErrorStackSaver() { restore(); }
	void restore()
	{
		PG_exception_stack = exception_stack_;
		error_context_stack = context_stack_;
	}
	ErrorStackSaver(const ErrorStackSaver &) = delete;
	ErrorStackSaver &operator=(const ErrorStackSaver &) = delete;

private:
	sigjmp_buf *exception_stack_;
	ErrorContextCallback *context_stack_;
};

// Turns the error PostgreSQL is handling into a sunsync::Error and throws it.
[[noreturn]] void rethrow_pg_error(MemoryContext caller_context);

template <typename F>
auto guard(F &&f) -> decltype(f())
{
	MemoryContext caller_context = CurrentMemoryContext;
	ErrorStackSaver saver;
	sigjmp_buf local_sigjmp_buf;

	if (sigsetjmp(local_sigjmp_buf, 0) == 0) {
		PG_exception_stack = &local_sigjmp_buf;
		return f();
	}
	// The handlers of the caller come back before anything else runs: an
	// error while copying the error must not jump into this finished frame.
	saver.restore();
	rethrow_pg_error(caller_context);
}

// Reports an exception as an ERROR; used by SUNSYNC_SQL_FUNCTION only.
Datum call_sql_function(Datum (*body)(FunctionCallInfo), FunctionCallInfo fcinfo);

// Keeps the exception being handled (call from a catch block only) and
// reports it with ereport(ERROR) once the catch block is left.
void keep_current_exception();
[[noreturn]] void report_kept_error();

// Runs C++ code from a callback that PostgreSQL calls (a DestReceiver, a
// hook): an exception becomes ereport(ERROR) after its frames are gone.
template <typename F>
void from_callback(F &&f)
{
	bool failed = false;
	try {
		f();
	} catch (...) {
		keep_current_exception();
		failed = true;
	}
	if (failed)
		report_kept_error();
}

// Raises a sunsync::Error with a PostgreSQL-style message built by the caller.
[[noreturn]] void raise(const char *sqlstate, std::string message,
						std::string detail = {}, std::string hint = {});

} // namespace sunsync::pg

#define SUNSYNC_SQL_FUNCTION(name)                                            \
	static Datum name##_body([[maybe_unused]] FunctionCallInfo fcinfo);                        \
	extern "C" {                                                              \
	PG_FUNCTION_INFO_V1(name);                                                \
	Datum name(PG_FUNCTION_ARGS)                                              \
	{                                                                         \
		return sunsync::pg::call_sql_function(name##_body, fcinfo);           \
	}                                                                         \
	}                                                                         \
	static Datum name##_body([[maybe_unused]] FunctionCallInfo fcinfo)
